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
        empty = page.evaluate(
            "Array.from(document.querySelectorAll('.js-plotly-plot'))"
            ".filter(d => d.querySelectorAll('g.trace').length === 0).length"
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
