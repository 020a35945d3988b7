"""The real sample evaluation report in headless Chromium: offline, no errors, every figure drawn.

The report is rendered through the command line exactly as ``make report`` does; the page is
opened with every non-file request aborted, at desktop and phone widths. Screenshots go to
``test-artifacts/`` (git-ignored).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_browser import ARTIFACTS, CHROMIUM_ARGS, browser, chromium_path  # noqa: F401  (fixtures)

from mentor_eval.cli import main

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample_report")
    assert main(["report", "--out", str(out), "--no-progress"]) == 0
    html = out / "evaluation_report.html"
    assert html.is_file()
    return html


def _load(browser, html: Path, width: int):  # noqa: F811
    context = browser.new_context(viewport={"width": width, "height": 900}, service_workers="block")
    page = context.new_page()
    events: dict[str, list[str]] = {"console": [], "pageerror": [], "blocked": [], "failed": []}

    def on_route(route) -> None:
        if route.request.url.startswith(("file:", "data:")):
            route.continue_()
        else:
            events["blocked"].append(route.request.url)
            route.abort()

    context.route("**/*", on_route)
    page.on("console", lambda m: events["console"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: events["pageerror"].append(str(e)))
    page.on("requestfailed", lambda r: events["failed"].append(r.url))
    page.goto(html.as_uri(), wait_until="load")
    n_divs = page.locator(".plotly-graph-div").count()
    page.wait_for_function(
        "n => document.querySelectorAll('.js-plotly-plot .svg-container > svg.main-svg:first-child').length >= n",
        arg=n_divs, timeout=20_000,
    )
    return page, context, events, n_divs


def test_sample_report_draws_every_figure_offline(browser, sample_report):  # noqa: F811
    page, context, events, n_divs = _load(browser, sample_report, 1200)
    try:
        assert events == {"console": [], "pageerror": [], "blocked": [], "failed": []}
        # flow, means per outcome, forest, change, reliable change, item distributions
        assert n_divs >= 6
        svgs = page.locator(".js-plotly-plot .svg-container > svg.main-svg:first-child").count()
        assert svgs == n_divs
        # every figure with data draws its traces; a diagram without traces (the mechanism path
        # diagrams) draws its boxes and arrows
        empty = page.evaluate(
            "Array.from(document.querySelectorAll('.js-plotly-plot'))"
            ".filter(d => ((d.data || []).length > 0 && d.querySelectorAll('g.trace').length === 0)"
            " || ((d.data || []).length === 0 && d.querySelectorAll('.annotation').length === 0)).length"
        )
        assert empty == 0
        assert page.locator("figcaption").count() >= n_divs
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "sample-report-desktop.png"), full_page=True)
    finally:
        context.close()


def test_sample_report_fits_a_phone(browser, sample_report):  # noqa: F811
    page, context, events, _ = _load(browser, sample_report, 390)
    try:
        assert events["console"] == [] and events["pageerror"] == [] and events["blocked"] == []
        widths = page.evaluate(
            "({doc: document.documentElement.scrollWidth, view: window.innerWidth})"
        )
        assert widths["doc"] <= widths["view"], widths
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "sample-report-phone.png"), full_page=False)
    finally:
        context.close()


# --------------------------------------------------------------------------- issue 13 checks at 1280 px

VERDICT_HEADERS = ("Verdict", "WWC baseline equivalence", "Below .70")
VALUE_HEADERS = ("Difference (g)", "g", "Attrition %", "Differential (points)", "Alpha", "Adjusted p")

LAYOUT_CHECKS = """
(args) => {
  const out = {scroll: [], clipped: [], colours: {}, verdicts: []};
  out.captions = Array.from(document.querySelectorAll('.me-table-wrap caption')).map(c => c.textContent);
  document.querySelectorAll('.me-table-wrap').forEach((w, i) => {
    if (w.scrollWidth > w.clientWidth + 1) out.scroll.push(i + ': ' + (w.querySelector('caption') || {}).textContent);
  });
  document.querySelectorAll('.js-plotly-plot').forEach((div, i) => {
    const box = div.getBoundingClientRect();
    div.querySelectorAll('.gtitle, .xtitle, .ytitle, .g-xtitle text, .g-ytitle text, .annotation-text').forEach(t => {
      const r = t.getBoundingClientRect();
      if (r.width === 0) return;
      if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1)
        out.clipped.push(i + ': ' + t.textContent);
    });
    (div.data || []).forEach(tr => {
      if (!tr.name || !args.arms.includes(tr.name)) return;
      const c = tr.marker && tr.marker.color;
      if (typeof c !== 'string') return;
      (out.colours[tr.name] = out.colours[tr.name] || []).includes(c) || out.colours[tr.name].push(c);
    });
  });
  const head = document.querySelector('figure.me-figure');
  out.headline_top = head ? head.getBoundingClientRect().top + window.scrollY : null;
  out.headline_title = head ? (head.querySelector('.gtitle') || {}).textContent || '' : '';
  document.querySelectorAll('table.me-table').forEach(tbl => {
    const heads = Array.from(tbl.querySelectorAll('thead th')).map(h => h.textContent);
    const vi = heads.findIndex(h => args.verdicts.includes(h));
    if (vi < 0) return;
    const vals = heads.map((h, j) => args.values.includes(h) ? j : -1).filter(j => j >= 0);
    tbl.querySelectorAll('tbody tr').forEach(tr => {
      const cells = Array.from(tr.children);
      const hidden = vals.some(j => cells[j] && cells[j].classList.contains('me-suppressed'));
      const v = cells[vi];
      if (hidden && v && !v.classList.contains('me-suppressed') && v.textContent.trim() !== '')
        out.verdicts.push(heads[vi] + ': ' + tr.textContent.slice(0, 80));
    });
  });
  return out;
}
"""


def _arm_labels(study_path) -> list[str]:
    from mentor_eval.study import load_study

    return [a.label or a.key for a in load_study(study_path).arms]


def _layout_checks(browser, html: Path, arms: list[str], shot: str | None = None):  # noqa: F811
    page, context, events, _ = _load(browser, html, 1280)
    try:
        assert events["pageerror"] == [] and events["blocked"] == []
        res = page.evaluate(LAYOUT_CHECKS, {"arms": arms, "verdicts": list(VERDICT_HEADERS),
                                            "values": list(VALUE_HEADERS)})
        if shot:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"{shot}-first-screen.png"))
            page.locator("figure.me-figure").first.screenshot(path=str(ARTIFACTS / f"{shot}-headline.png"))
        return res
    finally:
        context.close()


#: The headline figure starts within the first screen of a 1280 x 900 window ("did it work" without scrolling).
FOLD = 900


def _assert_layout(res: dict, n_arms: int, *, fold: bool = True) -> None:
    assert res["scroll"] == [], res["scroll"]
    assert res["clipped"] == [], res["clipped"]
    assert len(res["colours"]) >= n_arms and all(len(c) == 1 for c in res["colours"].values()), res["colours"]
    assert len({c[0] for c in res["colours"].values()}) == len(res["colours"])
    assert res["verdicts"] == [], res["verdicts"]
    assert res["headline_top"] is not None
    if fold:
        assert res["headline_top"] < FOLD, res["headline_top"]


def test_sample_report_passes_the_layout_checks(browser, sample_report):  # noqa: F811
    from mentor_eval.resources import sample_study_dir

    res = _layout_checks(browser, sample_report, _arm_labels(sample_study_dir() / "study.yaml"), shot="sample")
    _assert_layout(res, 1)
    assert "effect" in res["headline_title"].lower(), res["headline_title"]


@pytest.fixture(scope="module")
def fifteen_arm_report(tmp_path_factory) -> tuple[Path, list[str]]:
    from test_report_designs import write_design

    from mentor_eval.report import render

    tmp = tmp_path_factory.mktemp("fifteen")
    study = write_design(tmp, "fifteen_arms")
    res = render(Path(__file__).resolve().parent.parent / "notebooks" / "evaluation_report.ipynb",
                 {"study_path": str(study), "output_dir": str(tmp / "out"), "mixed": False,
                  "psychometrics": False}, tmp / "out", progress=False)
    return res.html, _arm_labels(study)


def test_fifteen_arm_report_passes_the_layout_checks(browser, fifteen_arm_report):  # noqa: F811
    html, arms = fifteen_arm_report
    res = _layout_checks(browser, html, arms, shot="fifteen-arms")
    _assert_layout(res, 15)


def _render_design(tmp: Path, design: str, audience: str = "funder", **params) -> tuple[Path, list[str]]:
    from test_report_designs import write_design

    from mentor_eval.report import render

    study = write_design(tmp, design)
    res = render(Path(__file__).resolve().parent.parent / "notebooks" / "evaluation_report.ipynb",
                 {"study_path": str(study), "output_dir": str(tmp / "out"), "audience": audience, **params},
                 tmp / "out", audience=audience, progress=False)
    return res.html, _arm_labels(study)


@pytest.fixture(scope="module")
def single_arm_report(tmp_path_factory) -> tuple[Path, list[str]]:
    # one program, no control: pre/post over three waves, with the mixed model (the most common evaluation)
    return _render_design(tmp_path_factory.mktemp("single"), "single_arm", psychometrics=False)


def test_single_arm_report_passes_the_layout_checks(browser, single_arm_report):  # noqa: F811
    html, arms = single_arm_report
    assert len(arms) == 1
    res = _layout_checks(browser, html, arms, shot="single-arm")
    _assert_layout(res, 1)
    assert set(res["colours"]) == set(arms)
    assert "change" in res["headline_title"].lower(), res["headline_title"]


def _plain(page: str) -> str:
    """The page's text without tags (syntax highlighting splits code into spans)."""
    import html as html_lib
    import re

    return html_lib.unescape(re.sub(r"<[^>]+>", "", page))


@pytest.fixture(scope="module")
def researcher_report(tmp_path_factory) -> tuple[Path, list[str]]:
    # the researcher view of a clustered two-arm study: every table in full, model fit included
    return _render_design(tmp_path_factory.mktemp("researcher"), "two_arms", audience="researcher",
                          psychometrics=False)


def test_researcher_view_tables_fit_and_show_the_model_fit(browser, researcher_report):  # noqa: F811
    html, arms = researcher_report
    text = html.read_text(encoding="utf-8")
    assert "Model fit: ANCOVA at the last wave" in text and "Model fit: mixed model over all waves" in text
    assert "with and without the clustering" in text
    # the code is shown, but not where this machine keeps the study: papermill injects absolute paths
    assert str(html.parent.parent) not in text and 'study_path = "study.yaml"' in _plain(text)
    res = _layout_checks(browser, html, arms, shot="researcher")
    # the researcher-only tables fit the page (the full versions of the funder tables are wider
    # and scroll inside their own box)
    own = ("Model fit", "Standard errors of the effects", "Intraclass correlations", "Every contrast family",
           "Mixed-model contrasts")
    assert sum(any(c.startswith(o) for o in own) for c in res["captions"]) >= 6, res["captions"]
    assert [s for s in res["scroll"] if any(s.split(": ", 1)[1].startswith(o) for o in own)] == [], res["scroll"]
    _assert_layout({**res, "scroll": []}, 2, fold=False)  # the researcher page shows its code first
