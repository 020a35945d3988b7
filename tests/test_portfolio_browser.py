"""The portfolio report in headless Chromium: offline, every figure drawn, tables that fit,
titles not clipped, one colour per model. Rendered through the same path as ``mentor-eval
portfolio`` (the bundled notebook reading the written result tables)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_browser import ARTIFACTS, CHROMIUM_ARGS, browser, chromium_path  # noqa: F401  (fixtures)
from test_portfolio import tiny_portfolio, tiny_result  # noqa: F401  (session fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

XSS = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def portfolio_report(tmp_path_factory, tiny_result, chromium_path) -> Path:  # noqa: F811
    from mentor_eval.cli.report import _notebook_path
    from mentor_eval.report import render

    out = tmp_path_factory.mktemp("portfolio_report")
    tiny_result.write(out / "tables")
    res = render(_notebook_path("portfolio_report"), {"results_dir": str(out / "tables"), "title": XSS}, out,
                 progress=False, html_name="portfolio_report.html")
    return res.html


def _load(browser, html: Path, width: int):  # noqa: F811
    context = browser.new_context(viewport={"width": width, "height": 900}, service_workers="block")
    page = context.new_page()
    events: dict[str, list[str]] = {"console": [], "pageerror": [], "blocked": [], "dialog": []}

    def on_route(route) -> None:
        if route.request.url.startswith(("file:", "data:")):
            route.continue_()
        else:
            events["blocked"].append(route.request.url)
            route.abort()

    context.route("**/*", on_route)
    page.on("console", lambda m: events["console"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: events["pageerror"].append(str(e)))
    page.on("dialog", lambda d: (events["dialog"].append(d.message), d.dismiss()))
    page.goto(html.as_uri(), wait_until="load")
    n = page.locator(".plotly-graph-div").count()
    page.wait_for_function(
        "n => document.querySelectorAll('.js-plotly-plot .svg-container > svg.main-svg:first-child').length >= n",
        arg=n, timeout=20_000)
    return page, context, events, n


def test_portfolio_report_offline_and_complete(browser, portfolio_report):  # noqa: F811
    page, context, events, n = _load(browser, portfolio_report, 1200)
    try:
        assert events == {"console": [], "pageerror": [], "blocked": [], "dialog": []}
        # the models side by side + one forest plot per model x outcome (2 models x 2 outcomes)
        assert n == 5
        assert page.evaluate("Array.from(document.querySelectorAll('.js-plotly-plot'))"
                             ".filter(d => d.querySelectorAll('g.trace').length === 0).length") == 0
        text = page.inner_text("body")
        assert XSS in text  # shown as text, never run
        for phrase in ("Summary", "How consistent", "Programs that stand out", "Design quality",
                       "left out", "Program 05"):
            assert phrase in text, phrase
        # no table scrolls sideways; no figure title is clipped
        tables = page.evaluate("Array.from(document.querySelectorAll('.me-table-wrap'))"
                               ".map(d => [d.scrollWidth, d.clientWidth])")
        assert tables and all(sw <= cw for sw, cw in tables), tables
        clipped = page.evaluate("""Array.from(document.querySelectorAll('.js-plotly-plot')).filter(d => {
            const box = d.getBoundingClientRect();
            return Array.from(d.querySelectorAll('.gtitle, .annotation-text')).some(t => {
                const r = t.getBoundingClientRect();
                return r.width === 0 || r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1;
            });
        }).length""")
        assert clipped == 0
        # one colour per model, the same in every figure, different between models
        colours = page.evaluate("""(() => {
            const out = {};
            for (const d of document.querySelectorAll('.js-plotly-plot')) {
                const title = (d.layout.title && d.layout.title.text) || '';
                for (const t of d.data) {
                    if (!t.marker || typeof t.marker.color !== 'string') continue;
                    const model = title.includes(':') ? title.split(':')[0] : (t.y ? String(t.y[0]) : '');
                    (out[model] = out[model] || new Set()).add(t.marker.color);
                }
            }
            return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Array.from(v)]));
        })()""")
        assert set(colours) == {"Narrative Weaving", "Storytelling Circles"}, colours
        assert all(len(v) == 1 for v in colours.values()), colours
        assert colours["Narrative Weaving"] != colours["Storytelling Circles"]
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "portfolio-report-desktop.png"), full_page=True)
    finally:
        context.close()


def test_portfolio_report_fits_a_phone(browser, portfolio_report):  # noqa: F811
    page, context, events, _ = _load(browser, portfolio_report, 390)
    try:
        assert events["console"] == [] and events["pageerror"] == [] and events["blocked"] == []
        widths = page.evaluate("({doc: document.documentElement.scrollWidth, view: window.innerWidth})")
        assert widths["doc"] <= widths["view"], widths
    finally:
        context.close()
