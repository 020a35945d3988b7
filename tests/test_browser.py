"""Open a rendered report in headless Chromium with the network blocked.

Needs Debian's ``chromium`` on PATH (``scripts/install-browser.sh``) and the Python
``playwright`` package (no playwright browser download). Without chromium the tests
skip, or fail when the ``CI`` environment variable is set.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from mentor_eval.report import render

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "data" / "notebooks" / "figures_report.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
XSS = "<script>alert(1)</script>"
N_FIGURES = 3
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        reason = "chromium is not on PATH; run scripts/install-browser.sh"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory, chromium_path) -> Path:
    out = tmp_path_factory.mktemp("browser")
    return render(FIXTURE, {"arm_label": XSS}, out, progress=False).html


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # playwright gives every launch a fresh temporary profile (user data dir).
        b = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _open(browser, html: Path, width: int) -> tuple:
    """Load the page in a fresh context; return (page, context, events)."""
    context = browser.new_context(viewport={"width": width, "height": 900}, service_workers="block")
    page = context.new_page()
    events: dict[str, list[str]] = {"console": [], "pageerror": [], "blocked": [], "failed": [], "dialog": []}

    def on_route(route) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:")):
            route.continue_()
        else:
            events["blocked"].append(url)
            route.abort()

    context.route("**/*", on_route)
    page.on("console", lambda m: events["console"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: events["pageerror"].append(str(e)))
    page.on("requestfailed", lambda r: events["failed"].append(r.url))
    page.on("dialog", lambda d: (events["dialog"].append(d.message), d.dismiss()))
    page.goto(html.as_uri(), wait_until="load")
    # every figure draws synchronously on load; wait until all have their SVG
    page.wait_for_function(
        f"document.querySelectorAll('.js-plotly-plot .svg-container > svg.main-svg:first-child').length >= {N_FIGURES}",
        timeout=15_000,
    )
    return page, context, events


def test_report_renders_offline_without_errors(browser, report):
    page, context, events = _open(browser, report, 1200)
    try:
        assert events["console"] == []
        assert events["pageerror"] == []
        assert events["blocked"] == [] and events["failed"] == []
        assert events["dialog"] == []  # the injected label never ran as a script
        plots = page.locator(".js-plotly-plot .svg-container > svg.main-svg:first-child")
        assert plots.count() == N_FIGURES
        # every plot drew its data (traces inside the plot area), not an empty frame
        drawn = page.evaluate(
            "Array.from(document.querySelectorAll('.js-plotly-plot'))"
            ".map(d => d.querySelectorAll('g.trace .point').length)"
        )
        assert len(drawn) == N_FIGURES and all(n > 0 for n in drawn), drawn
        labels = page.eval_on_selector_all(".plotly-graph-div", "els => els.map(e => e.getAttribute('aria-label'))")
        assert len(labels) == N_FIGURES and all(label and len(label) > 40 for label in labels)
        assert page.locator("figcaption").count() == N_FIGURES
        # the user-supplied label shows as text, in the table and in the figures
        assert page.get_by_text(XSS, exact=True).count() >= 2
        assert page.evaluate(
            "Array.from(document.scripts).some(s => s.textContent.trim() === 'alert(1)')"
        ) is False
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report-desktop.png"), full_page=True)
    finally:
        context.close()


def test_report_fits_a_phone(browser, report):
    page, context, events = _open(browser, report, 390)
    try:
        assert events["console"] == [] and events["pageerror"] == [] and events["blocked"] == []
        widths = page.evaluate(
            "({doc: document.documentElement.scrollWidth, body: document.body.scrollWidth,"
            " view: window.innerWidth,"
            " figs: Array.from(document.querySelectorAll('.js-plotly-plot'))"
            ".map(d => d.getBoundingClientRect().right)})"
        )
        assert widths["view"] == 390
        assert widths["body"] <= widths["view"] and widths["doc"] <= widths["view"], widths
        assert all(right <= widths["view"] + 0.5 for right in widths["figs"]), widths
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report-phone.png"), full_page=True)
    finally:
        context.close()
