"""Rendering report notebooks to self-contained HTML (mentor_eval.report).

Renders cost seconds each, so the funder and researcher renders are shared by the
tests through module-scoped fixtures.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest

from mentor_eval.cli import main
from mentor_eval.cli.report import parse_parameter
from mentor_eval.errors import ParameterError, ReportError
from mentor_eval.report import (
    NotebookCellError,
    RenderResult,
    ensure_kernel,
    export_html,
    external_references,
    render,
)

NOTEBOOKS = Path(__file__).parent / "data" / "notebooks"
FIXTURE = NOTEBOOKS / "figures_report.ipynb"
FAILING = NOTEBOOKS / "failing.ipynb"
XSS = "<script>alert(1)</script>"
CODE_MARK = "suppress_small_cells(flow"  # a line of code in the fixture notebook


@pytest.fixture(scope="module")
def funder(tmp_path_factory) -> RenderResult:
    out = tmp_path_factory.mktemp("funder")
    return render(FIXTURE, {"arm_label": XSS, "study_name": "Riverside & Co"}, out, progress=False)


@pytest.fixture(scope="module")
def researcher(tmp_path_factory) -> RenderResult:
    out = tmp_path_factory.mktemp("researcher")
    return render(FIXTURE, None, out, audience="researcher", progress=False)


@pytest.fixture(scope="module")
def funder_html(funder) -> str:
    return funder.html.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def researcher_html(researcher) -> str:
    return researcher.html.read_text(encoding="utf-8")


def _tags(page: str) -> list[tuple[str, dict[str, str]]]:
    """Every start tag of a page with its (unescaped) attributes."""
    from html.parser import HTMLParser

    found: list[tuple[str, dict[str, str]]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, {k: v or "" for k, v in attrs}))

    Collect().feed(page)
    return found


# --------------------------------------------------------------------------- the page


@pytest.mark.slow
def test_render_writes_one_html_and_keeps_the_executed_notebook(funder):
    files = sorted(p.name for p in funder.html.parent.iterdir())
    assert files == ["figures_report.executed.ipynb", "figures_report.html"]
    assert funder.notebook.parent == funder.html.parent
    assert funder.seconds >= funder.execute_seconds > 0 and funder.convert_seconds > 0
    assert funder.kernel_name == "mentor-eval" and funder.audience == "funder"
    nb = nbformat.read(funder.notebook, as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "arm_label = " in injected[0].source
    assert all(c.get("execution_count") for c in nb.cells if c.cell_type == "code")


@pytest.mark.slow
def test_plotlyjs_is_embedded_exactly_once(funder_html, researcher_html):
    for page in (funder_html, researcher_html):
        assert page.count('data-mentor-eval="plotlyjs"') == 1
        assert page.count("* plotly.js (basic - minified) v") == 1
        assert page.count("Plotly.newPlot(") == 3
        # the library comes before the first figure that needs it
        assert page.index("* plotly.js (basic - minified) v") < page.index("Plotly.newPlot(")


@pytest.mark.slow
def test_page_requests_nothing_from_the_network(funder_html, researcher_html):
    for page in (funder_html, researcher_html):
        assert external_references(page) == []
        # independent of the parser: no tag fetches anything by URL at all
        assert not re.search(r"<script[^>]*\ssrc\s*=", page, re.I)
        assert not re.search(r"<link[^>]*\shref\s*=\s*[\"']?(https?:)?//", page, re.I)
        assert not re.search(r"<(img|iframe|source|video|audio)[^>]*\ssrc\s*=\s*[\"']?(https?:)?//", page, re.I)
        assert "require.min.js" not in page and "cdnjs" not in page
        assert "fonts.googleapis" not in page and "@font-face" not in page
        assert "MathJax.Hub" not in page.split("* plotly.js (basic - minified) v")[0]


@pytest.mark.slow
def test_page_is_phone_ready_and_printable(funder_html):
    assert funder_html.count('name="viewport"') == 1
    assert "width=device-width" in funder_html
    assert "@media print" in funder_html and "@media (max-width: 40rem)" in funder_html
    assert "system-ui" in funder_html
    assert "<title>mentor-eval fixture report</title>" in funder_html


@pytest.mark.slow
def test_figures_have_aria_labels_and_visible_captions(funder_html):
    assert funder_html.count('<figure class="me-figure">') == 3
    plots = [a for tag, a in _tags(funder_html) if tag == "div" and "plotly-graph-div" in a.get("class", "")]
    assert len(plots) == 3
    assert all(a.get("role") == "img" and len(a.get("aria-label", "")) > 40 for a in plots)
    assert "Assessed at the last wave: Waitlist: 51 of 60, <script>alert(1)</script>: not shown" in plots[0]["aria-label"]
    assert funder_html.count("<figcaption>") == 3
    assert "Not shown to protect privacy, because it describes fewer than 10 people" in funder_html


@pytest.mark.slow
def test_funder_version_hides_code_and_researcher_version_shows_it(funder_html, researcher_html):
    def count(page: str, cls: str) -> int:
        return sum(cls in a.get("class", "").split() for _, a in _tags(page))

    def text(page: str) -> str:  # syntax highlighting splits code into spans
        import html

        return html.unescape(re.sub(r"<[^>]+>", "", page))

    assert CODE_MARK not in text(funder_html)
    assert count(funder_html, "jp-InputArea-editor") == 0 and count(funder_html, "highlight") == 0
    assert count(funder_html, "jp-InputPrompt") == 0
    assert "Fixture report" in funder_html  # markdown stays
    assert "Arms compared: 2" in funder_html  # printed output stays
    assert CODE_MARK in text(researcher_html)
    assert count(researcher_html, "jp-InputArea-editor") == 6  # every code cell (no parameters: none injected)
    assert 'arm_label = "Narrative Weaving"' in text(researcher_html)
    assert "Narrative Weaving" in researcher_html


@pytest.mark.slow
def test_user_strings_show_as_text_never_as_tags(funder_html):
    assert XSS not in funder_html
    assert "<script>alert" not in funder_html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in funder_html  # table caption and row header
    assert "Study: Riverside &amp; Co" in funder_html


@pytest.mark.slow
def test_researcher_default_file_name(researcher):
    assert researcher.html.name == "figures_report-researcher.html"
    assert researcher.notebook.name == "figures_report-researcher.executed.ipynb"


# --------------------------------------------------------------------------- failures


@pytest.mark.slow
def test_failing_cell_is_named_in_a_report_error(tmp_path):
    with pytest.raises(NotebookCellError) as info:
        render(FAILING, {"divisor": 0}, tmp_path, progress=False)
    err = info.value
    assert isinstance(err, ReportError)
    assert err.cell_index == 3  # the source notebook's numbering, not papermill's
    assert err.first_line.startswith("value = 10 / divisor")
    assert (err.ename, err.evalue) == ("ZeroDivisionError", "division by zero")
    msg = str(err)
    assert "cell 3" in msg and "value = 10 / divisor" in msg and "ZeroDivisionError: division by zero" in msg
    assert err.executed_notebook is not None and err.executed_notebook.exists()
    assert not list(tmp_path.glob("*.html"))


@pytest.mark.slow
def test_cli_prints_the_cell_error_and_exits_2(tmp_path, capsys):
    code = main(["report", "--notebook", str(FAILING), "--param", "divisor=0", "--out", str(tmp_path),
                 "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "cell 3" in err and "ZeroDivisionError" in err and "Traceback" not in err


def test_bad_arguments_fail_before_anything_runs(tmp_path):
    with pytest.raises(ReportError, match="does not exist"):
        render(tmp_path / "missing.ipynb", {}, tmp_path)
    with pytest.raises(ParameterError, match="audience"):
        render(FIXTURE, {}, tmp_path, audience="board")
    with pytest.raises(ParameterError, match="identifier"):
        render(FIXTURE, {"not valid": 1}, tmp_path)
    with pytest.raises(ParameterError, match="html_name"):
        render(FIXTURE, {}, tmp_path, html_name="../x.html")
    with pytest.raises(ReportError, match="No Jupyter kernel named 'no-such-kernel'"):
        render(FIXTURE, {}, tmp_path, kernel_name="no-such-kernel")
    assert list(tmp_path.iterdir()) == []


def test_cli_unknown_notebook_lists_the_bundled_ones(capsys):
    assert main(["report", "--notebook", "no_such_report"]) == 2
    err = capsys.readouterr().err
    assert "No report notebook 'no_such_report'" in err and "evaluation_report" in err
    assert "Traceback" not in err


def test_parse_parameter_reads_json_values_else_text():
    assert parse_parameter("n=10") == ("n", 10)
    assert parse_parameter("flag=true") == ("flag", True)
    assert parse_parameter('arms=["a","b"]') == ("arms", ["a", "b"])
    assert parse_parameter("study=data/study.yaml") == ("study", "data/study.yaml")
    with pytest.raises(ParameterError, match="NAME=VALUE"):
        parse_parameter("novalue")


def test_ensure_kernel_runs_this_interpreter():
    from jupyter_client.kernelspec import KernelSpecManager

    assert ensure_kernel() == "mentor-eval"
    spec = KernelSpecManager().get_kernel_spec("mentor-eval")
    assert spec.argv[0] == sys.executable
    assert Path(spec.resource_dir).is_relative_to(Path(sys.prefix))
    assert "curve" in spec.metadata.get("supported_encryption", [])
    with pytest.raises(ParameterError):
        ensure_kernel("bad name")


def test_external_references_finds_what_a_browser_would_fetch():
    page = (
        '<html><head><script src="https://cdn.example/x.js"></script>'
        '<link rel="stylesheet" href="//fonts.example/css">'
        "<style>@import 'https://x.example/a.css'; body{background:url(http://x.example/b.png)}</style>"
        '</head><body><img srcset="a.png 1x, https://x.example/c.png 2x"><a href="https://ok.example">link</a>'
        '<script>var u = "https://not-fetched.example";</script><img src="data:image/png;base64,AA"></body></html>'
    )
    refs = external_references(page)
    assert len(refs) == 5
    assert not any("ok.example" in r or "not-fetched" in r for r in refs)


def test_export_html_without_execution_hides_code_for_funders():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell("secret_code = 1", outputs=[]),
        nbformat.v4.new_code_cell(
            "shown_code()",
            outputs=[
                nbformat.v4.new_output("stream", name="stdout", text="visible output\n"),
                nbformat.v4.new_output("stream", name="stderr", text="a warning\n"),
            ],
        ),
    ]
    nb.cells[2].metadata["tags"] = []
    funder_page = export_html(nb, audience="funder", title="T")
    research_page = export_html(nb, audience="researcher", title="T")
    assert "secret_code" not in funder_page and "shown_code" not in funder_page
    assert "visible output" in funder_page and "a warning" not in funder_page
    assert "secret_code" in research_page and "a warning" in research_page
    assert external_references(funder_page) == [] and "<script src" not in funder_page


@pytest.mark.slow
def test_page_is_light_and_the_kept_notebook_has_no_bundle(funder, funder_html):
    # the partial plotly.js bundle (scatter and bar traces only), embedded once
    assert funder_html.count('data-mentor-eval="plotlyjs"') == 1
    assert 'data-bundle="basic"' in funder_html
    assert funder.html.stat().st_size < 2_000_000
    kept = funder.notebook.read_text(encoding="utf-8")
    assert "plotly.js removed from the kept notebook" in kept
    assert "Plotly, Inc." not in kept and funder.notebook.stat().st_size < 500_000
    assert "Plotly.newPlot" in kept  # the figures themselves are kept


def test_nbformat_is_imported_without_the_iri_grammar_which_stays_importable():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from mentor_eval.report.render import _import_nbformat\n"
        "_import_nbformat()\n"
        "assert 'nbformat' in sys.modules and 'jsonschema' in sys.modules\n"
        "assert 'rfc3987_syntax' not in sys.modules, 'the grammar was built'\n"
        "import importlib.util\n"
        "if importlib.util.find_spec('rfc3987_syntax') is not None:\n"
        "    import rfc3987_syntax\n"
        "    assert rfc3987_syntax.is_valid_syntax('iri', 'https://example.org/a')\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
