"""Render a report notebook into one self-contained, offline HTML file.

:func:`render` executes a parameterised notebook with papermill (Python API, the
project's own kernel named explicitly) and converts the executed notebook with
nbconvert (Python API, same process) through the ``mentor_eval`` template shipped in
``mentor_eval/templates``: no require.js, MathJax, mermaid, CDN or web font; figures
drawn by :func:`mentor_eval.report.display.show` carry plotly.js once, embedded in the page.
The executed notebook is kept beside the HTML file for audit.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path, PurePath
from typing import Any

from mentor_eval._params import check_one_of, check_positive_int
from mentor_eval.errors import ParameterError, ReportError
from mentor_eval.report.kernel import DEFAULT_KERNEL, StartedKernel, ensure_kernel, start_kernel

__all__ = [
    "AUDIENCES",
    "TEMPLATE_DIR",
    "TEMPLATE_NAME",
    "DEFAULT_KERNEL",
    "RenderResult",
    "NotebookCellError",
    "StartedKernel",
    "ensure_kernel",
    "render",
    "start_kernel",
    "export_html",
    "external_references",
]

#: Report variants: ``funder`` hides code, ``researcher`` shows it.
AUDIENCES = ("funder", "researcher")
#: Directory holding the nbconvert template(s) shipped with the package.
TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
#: Name of the report template inside :data:`TEMPLATE_DIR`.
TEMPLATE_NAME = "mentor_eval"

# Tag papermill gives the cell it inserts with the parameter values, and the tags of
# the cells it adds at the top of a notebook that failed.
_INJECTED_TAG = "injected-parameters"
_PM_ERROR_TAG = "papermill-error-cell-tag"


class NotebookCellError(ReportError):
    """A cell of a report notebook raised an exception.

    Attributes
    ----------
    cell_index : int
        0-based position of the cell in the source notebook (``-1``: the parameter
        cell papermill inserted).
    first_line : str
        First non-blank line of the cell's source.
    ename, evalue : str
        Exception type and message raised in the kernel.
    executed_notebook : pathlib.Path or None
        The partly executed notebook, kept for inspection.
    """

    def __init__(self, message: str, *, cell_index: int, first_line: str, ename: str, evalue: str,
                 executed_notebook: Path | None) -> None:
        super().__init__(message)
        self.cell_index = cell_index
        self.first_line = first_line
        self.ename = ename
        self.evalue = evalue
        self.executed_notebook = executed_notebook


@dataclass(frozen=True)
class RenderResult:
    """What :func:`render` produced.

    Attributes
    ----------
    html : pathlib.Path
        The self-contained HTML report.
    notebook : pathlib.Path
        The executed notebook (outputs included), kept beside the HTML.
    seconds : float
        Wall time of the whole render.
    execute_seconds, convert_seconds : float
        Time spent executing the notebook and converting it to HTML.
    audience : str
        ``"funder"`` or ``"researcher"``.
    kernel_name : str
        Kernel that ran the notebook.
    """

    html: Path
    notebook: Path
    seconds: float
    execute_seconds: float
    convert_seconds: float
    audience: str
    kernel_name: str


# --------------------------------------------------------------------------- kernel


def _import_nbformat() -> None:
    """Import nbformat (and with it jsonschema) without the IRI grammar of ``rfc3987_syntax``.

    jsonschema loads that optional package, if installed (jupyterlab's dependencies install it),
    to check the ``iri`` string format, and building its Earley grammar takes about 1.2 s at
    import: over a tenth of rendering the sample report. Notebook validation never uses the
    ``iri`` format, so it is hidden for this one import (jsonschema skips a checker whose package
    fails to import) and visible again afterwards for anything else in the process.
    """
    if "nbformat" in sys.modules or "jsonschema" in sys.modules:
        return
    hide = "rfc3987_syntax" not in sys.modules
    if hide:
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]
    try:
        import nbformat  # noqa: F401
    finally:
        if hide and "rfc3987_syntax" in sys.modules and sys.modules["rfc3987_syntax"] is None:
            del sys.modules["rfc3987_syntax"]


# --------------------------------------------------------------------------- html


class _RefParser(HTMLParser):
    """Collects URLs the browser would fetch on its own: src/href/poster/data of
    resource elements, srcset, and url()/@import inside <style>."""

    _ATTRS = {"src", "href", "poster", "data", "srcset", "action", "background"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.refs: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_style = tag == "style"
        for key, value in attrs:
            if value is None or key not in self._ATTRS:
                continue
            if tag == "a" and key == "href":
                continue  # a link is followed only when clicked
            for part in value.split(",") if key == "srcset" else [value]:
                url = part.strip().split(" ")[0]
                if _is_external(url):
                    self.refs.append(f"<{tag} {key}={url}>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            import re

            for url in re.findall(r"""(?:url\(\s*['"]?|@import\s+['"])([^'")\s]+)""", data):
                if _is_external(url):
                    self.refs.append(f"<style> {url}")


def _is_external(url: str) -> bool:
    low = url.strip().lower()
    return low.startswith(("http://", "https://", "//", "ftp://", "ws://", "wss://"))


def external_references(html: str) -> list[str]:
    """Resources an HTML page would fetch from the network when opened.

    Parameters
    ----------
    html : str
        A complete page.

    Returns
    -------
    list of str
        One entry per reference, e.g. ``"<script src=https://cdn...>"``; empty for a
        self-contained page. Plain links (``<a href>``) are not counted: they are
        only followed on a click. Script text is not inspected (plotly.js mentions
        URLs it never loads for the charts used here).
    """
    parser = _RefParser()
    parser.feed(html)
    parser.close()
    return parser.refs


_ABSOLUTE_PATH = re.compile(r"""(["'])((?:/|[A-Za-z]:[\\/]|~[\\/]?)[^"'\n]*)\1""")


def _shown_path(match: re.Match[str]) -> str:
    """A quoted absolute path as its last component: where the evaluator keeps files is theirs."""
    quote, path = match.group(1), match.group(2)
    name = re.split(r"[\\/]", path.rstrip("/\\"))[-1] or path
    return f"{quote}{name}{quote}"


def _hide_local_paths(source: str) -> str:
    """The injected parameters with each absolute path shortened to its file or folder name."""
    return _ABSOLUTE_PATH.sub(_shown_path, source)


def _local_paths_preprocessor() -> Any:
    from nbconvert.preprocessors import Preprocessor

    class _Hide(Preprocessor):
        """The researcher view shows its code, but not the machine's directory layout: papermill
        injects the absolute study and output paths, which would name a user's home folder."""

        def preprocess(self, nb: Any, resources: Any) -> tuple[Any, Any]:
            for cell in nb.cells:
                if cell.cell_type == "code" and _INJECTED_TAG in cell.get("metadata", {}).get("tags", []):
                    cell.source = _hide_local_paths(cell.source)
            return nb, resources

    return _Hide()


def _preprocessors(audience: str) -> list[Any]:
    from nbconvert.preprocessors import Preprocessor, TagRemovePreprocessor

    tags = TagRemovePreprocessor(
        remove_cell_tags={"remove-cell", "remove_cell", _PM_ERROR_TAG},
        remove_all_outputs_tags={"remove-output", "remove_output"},
        remove_input_tags={"remove-input", "remove_input", "hide-input", "hide_input"},
        enabled=True,
    )
    if audience != "funder":
        return [tags, _local_paths_preprocessor()]

    class _FunderCleanup(Preprocessor):
        """Funders see prose, tables and figures only: drop code cells that show
        nothing (imports, the parameter cells) and stderr streams (warnings)."""

        def preprocess(self, nb: Any, resources: Any) -> tuple[Any, Any]:
            for cell in nb.cells:
                if cell.cell_type == "code":
                    cell.outputs = [
                        o for o in cell.get("outputs", [])
                        if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
                    ]
            nb.cells = [c for c in nb.cells if c.cell_type != "code" or c.get("outputs")]
            return nb, resources

    return [tags, _FunderCleanup()]


def export_html(notebook: Any, *, audience: str = "funder", title: str | None = None) -> str:
    """Convert an executed notebook to the report's self-contained HTML.

    Parameters
    ----------
    notebook : str, pathlib.Path or nbformat.NotebookNode
        An executed notebook (outputs present).
    audience : {"funder", "researcher"}, default "funder"
        ``funder``: code, prompts, empty code cells and stderr output are hidden.
        ``researcher``: everything is shown.
    title : str, optional
        Page title; defaults to ``metadata.title`` of the notebook, else its file name.

    Returns
    -------
    str
        The HTML page.

    Notes
    -----
    Cells tagged ``remove-cell`` are dropped, ``remove-input``/``hide-input``
    lose their code and ``remove-output`` their outputs, in both variants.
    """
    check_one_of("export_html", "audience", audience, AUDIENCES)
    _import_nbformat()
    import nbformat

    if isinstance(notebook, str | PurePath):
        path = Path(notebook)
        nb = nbformat.read(path, as_version=4)
        name = title or path.stem
    else:
        nb = notebook
        name = title or "report"
    return _convert(nb, name, _html_exporter(audience))


def _html_exporter(audience: str) -> Any:
    """The report's nbconvert exporter for one audience (reusable for several notebooks)."""
    from nbconvert import HTMLExporter

    funder = audience == "funder"
    exporter = HTMLExporter(
        template_name=TEMPLATE_NAME,
        extra_template_basedirs=[str(TEMPLATE_DIR)],
        exclude_input=funder,
        exclude_input_prompt=funder,
        exclude_output_prompt=funder,
        embed_images=True,
    )
    for pre in _preprocessors(audience):
        exporter.register_preprocessor(pre, enabled=True)
    return exporter


def _convert(nb: Any, name: str, exporter: Any) -> str:
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": name}})
    return body


class _ExporterWarmup(threading.Thread):
    """Builds the HTML exporter, and converts a small notebook with it, while the kernel runs.

    The render process only waits for the kernel then, and nbconvert's imports, its regular
    expressions and the compiled templates (about 0.5 s on the sample report) would otherwise all
    come after the last cell. Any failure is left to the real conversion to report.
    """

    def __init__(self, audience: str) -> None:
        super().__init__(name="mentor-eval-exporter-warmup", daemon=True)
        self.audience = audience
        self._exporter: Any = None

    def run(self) -> None:
        try:
            from nbformat import v4

            exporter = _html_exporter(self.audience)
            output = v4.new_output("display_data", data={"text/html": "<p>warm-up</p>", "text/plain": "warm-up"})
            nb = v4.new_notebook(cells=[v4.new_markdown_cell("# Warm-up\n\nSome *text*."),
                                        v4.new_code_cell("1", outputs=[output])])
            _convert(nb, "warm-up", exporter)
        except Exception:  # noqa: BLE001 - the real conversion builds its own exporter and raises there
            return
        self._exporter = exporter

    def exporter(self) -> Any:
        self.join()
        return self._exporter if self._exporter is not None else _html_exporter(self.audience)


# --------------------------------------------------------------------------- render


def _first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip():
            return line.strip()[:120]
    return "(empty cell)"


def _cell_error(exc: Any, input_path: Path, executed: Path) -> NotebookCellError:
    """Translate papermill's error into the source notebook's cell numbering."""
    index = int(getattr(exc, "cell_index", -1))
    source = str(getattr(exc, "source", "") or "")
    original = index
    injected = False
    try:
        import nbformat

        nb = nbformat.read(executed, as_version=4)
        cells = [c for c in nb.cells if _PM_ERROR_TAG not in c.metadata.get("tags", [])]
        if 0 <= index < len(cells):
            tags = cells[index].metadata.get("tags", [])
            injected = _INJECTED_TAG in tags
            original = index - sum(
                _INJECTED_TAG in c.metadata.get("tags", []) for c in cells[:index]
            )
    except Exception:  # the executed notebook may be missing or unreadable; keep papermill's index
        pass
    ename, evalue = str(getattr(exc, "ename", "Error")), str(getattr(exc, "evalue", ""))
    first = _first_line(source)
    if injected:
        where = "the parameters cell that mentor-eval inserted (check the parameter values)"
        original = -1
    else:
        where = f"cell {original} (counting from 0) of {input_path.name}, which begins `{first}`"
    msg = (f"The report notebook failed in {where}: {ename}: {evalue}. "
           f"The partly executed notebook is kept at {executed}.")
    return NotebookCellError(msg, cell_index=original, first_line=first, ename=ename, evalue=evalue,
                             executed_notebook=executed if executed.exists() else None)


def _plain_parameters(parameters: Mapping[str, Any] | None) -> dict[str, Any]:
    if parameters is None:
        return {}
    if not isinstance(parameters, Mapping):
        raise ParameterError(
            f"The 'parameters' parameter of render must be a mapping of names to values; "
            f"got {type(parameters).__name__}."
        )
    out: dict[str, Any] = {}
    for key, value in parameters.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise ParameterError(f"Notebook parameter names must be Python identifiers; got {key!r}.")
        out[key] = str(value) if isinstance(value, PurePath) else value
    return out


def _strip_bundle(nb: Any) -> bool:
    """Drop the embedded plotly.js from the kept notebook (it is in the HTML): the audit copy
    keeps every output, figure JSON included, without megabytes of library code. True if any
    output changed."""
    pattern = re.compile(r'(<script type="text/javascript" data-mentor-eval="plotlyjs"[^>]*>).*?(</script>)', re.S)
    changed = False
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            html = out.get("data", {}).get("text/html")
            if isinstance(html, list):
                html = "".join(html)
            if isinstance(html, str) and 'data-mentor-eval="plotlyjs"' in html:
                out["data"]["text/html"] = pattern.sub(
                    r"\1/* plotly.js removed from the kept notebook; the HTML report embeds it */\2", html)
                changed = True
    return changed


def _execute(nb_path: Path, executed: Path, params: dict[str, Any], kernel: StartedKernel, *,
             progress: bool, timeout: int, cwd: str | os.PathLike[str] | None,
             warmup: _ExporterWarmup) -> tuple[Any, float]:
    """Run the notebook in the started kernel with papermill (starting ``warmup`` once papermill is
    imported); return the executed notebook and the seconds it took."""
    _import_nbformat()
    import papermill as pm
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillException, PapermillExecutionError

    warmup.start()
    t_exec = time.perf_counter()
    try:
        nb = pm.execute_notebook(
            str(nb_path),
            str(executed),
            parameters=params,
            kernel_name=kernel.kernel_name,
            progress_bar=progress,
            log_output=False,
            request_save_on_cell_execute=False,
            execution_timeout=timeout,
            cwd=str(cwd) if cwd is not None else None,
            km=kernel._take(),
        )
    except PapermillExecutionError as exc:
        raise _cell_error(exc, nb_path, executed) from None
    except CellTimeoutError as exc:
        raise ReportError(
            f"A cell of {nb_path.name} ran longer than {timeout} s and was stopped ({exc}). "
            f"Raise 'timeout' or make the analysis faster. Partial notebook: {executed}."
        ) from None
    except DeadKernelError as exc:
        raise ReportError(f"The kernel running {nb_path.name} died ({exc}); it may have run out of memory.") from None
    except PapermillException as exc:
        raise ReportError(f"Could not execute {nb_path.name}: {exc}") from None
    return nb, time.perf_counter() - t_exec


def render(
    notebook: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None,
    output_dir: str | os.PathLike[str],
    *,
    audience: str = "funder",
    kernel_name: str | None = None,
    progress: bool = True,
    html_name: str | None = None,
    timeout: int = 600,
    cwd: str | os.PathLike[str] | None = None,
    check_offline: bool = True,
    kernel: StartedKernel | None = None,
) -> RenderResult:
    """Execute a report notebook and write it as one self-contained HTML file.

    Parameters
    ----------
    notebook : path
        The report notebook (``.ipynb``). Parameters are injected after the cell
        tagged ``parameters`` (papermill convention).
    parameters : mapping or None
        Values injected into the notebook (str, numbers, bools, None, lists, dicts;
        paths are passed as strings).
    output_dir : path
        Directory for the HTML and the executed notebook (created if missing).
    audience : {"funder", "researcher"}, default "funder"
        ``funder`` hides code; ``researcher`` shows it.
    kernel_name : str, optional
        Jupyter kernel; default: this environment's ``mentor-eval`` kernel, installed
        on first use by :func:`ensure_kernel`.
    progress : bool, default True
        Show papermill's progress bar while cells run.
    html_name : str, optional
        File name of the HTML (default ``<notebook stem>.html``, or
        ``<stem>-researcher.html`` for the researcher variant).
    timeout : int, default 600
        Seconds a single cell may run.
    cwd : path, optional
        Working directory of the kernel (default: the current directory, so relative
        paths in ``parameters`` mean what they mean to the caller).
    check_offline : bool, default True
        Raise :class:`ReportError` if the page would fetch anything from the network.
    kernel : StartedKernel, optional
        A kernel from :func:`start_kernel`, started earlier so that its start-up overlapped the
        caller's own work; its kernelspec and working directory are used (``kernel_name`` and
        ``cwd``, if given, must agree). Default: one is started here. Either way the kernel runs
        this notebook only and is shut down after its last cell.

    Returns
    -------
    RenderResult
        ``html`` (the page), ``notebook`` (executed notebook, ``<html stem>.executed.ipynb``
        beside the HTML), ``seconds`` (wall time), ``execute_seconds``,
        ``convert_seconds``, ``audience``, ``kernel_name``.

    Raises
    ------
    NotebookCellError
        A cell raised; the message names the cell (index and first line) and the
        exception type and message.
    ReportError
        Missing notebook, unknown kernel, timeout, dead kernel, a page that is not
        self-contained.

    Notes
    -----
    Execution and conversion run in this process through the papermill and nbconvert
    Python APIs (no command-line start-up). The kernel gets CurveZMQ keys when
    jupyter_client supports it, which also silences ipykernel 7's "running over TCP
    without encryption" warning.

    Examples
    --------
    >>> res = render("notebooks/report.ipynb", {"study": "data/sample/study.yaml"},
    ...              "reports")  # doctest: +SKIP
    >>> res.html.name  # doctest: +SKIP
    'report.html'
    """
    start = time.perf_counter()
    check_one_of("render", "audience", audience, AUDIENCES)
    timeout = check_positive_int("render", "timeout", timeout)
    params = _plain_parameters(parameters)
    nb_path = Path(notebook)
    if not nb_path.is_file():
        raise ReportError(f"The report notebook {str(nb_path)!r} does not exist.")
    if nb_path.suffix != ".ipynb":
        raise ReportError(f"The report notebook must be a .ipynb file; got {nb_path.name!r}.")
    out_dir = Path(output_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"Cannot create the output directory {str(out_dir)!r}: {exc}.") from exc
    if html_name is None:
        html_name = f"{nb_path.stem}.html" if audience == "funder" else f"{nb_path.stem}-researcher.html"
    if not html_name.endswith(".html") or Path(html_name).name != html_name:
        raise ParameterError(f"The 'html_name' parameter of render must be a file name ending in .html; "
                             f"got {html_name!r}.")
    html_path = out_dir / html_name
    executed = out_dir / f"{Path(html_name).stem}.executed.ipynb"
    if kernel is None:
        # Started before papermill and nbformat are imported, so the kernel boots meanwhile.
        kernel = start_kernel(kernel_name, cwd=cwd)
    elif not isinstance(kernel, StartedKernel):
        raise ParameterError(f"The 'kernel' parameter of render must be a StartedKernel from start_kernel(); "
                             f"got {type(kernel).__name__}.")
    else:
        if kernel_name is not None and kernel_name != kernel.kernel_name:
            raise ParameterError(f"The 'kernel_name' parameter of render ({kernel_name!r}) differs from the "
                                 f"started kernel's ({kernel.kernel_name!r}); give one of them.")
        if cwd is not None and Path(cwd).resolve() != kernel.cwd.resolve():
            raise ParameterError(f"The 'cwd' parameter of render ({str(cwd)!r}) differs from the started "
                                 f"kernel's working directory ({str(kernel.cwd)!r}); give one of them.")
    kernel_name = kernel.kernel_name
    warmup = _ExporterWarmup(audience)
    with kernel:
        nb, execute_seconds = _execute(nb_path, executed, params, kernel, progress=progress, timeout=timeout,
                                       cwd=cwd, warmup=warmup)

    t_conv = time.perf_counter()
    page = _convert(nb, executed.stem, warmup.exporter())
    if check_offline:
        refs = external_references(page)
        if refs:
            raise ReportError(
                f"The report {html_name} would load {len(refs)} resource(s) from the network "
                f"({'; '.join(refs[:3])}); a report must work offline. Embed the resource instead."
            )
    html_path.write_text(page, encoding="utf-8")
    if _strip_bundle(nb):
        import nbformat

        nbformat.write(nb, executed)
    convert_seconds = time.perf_counter() - t_conv
    return RenderResult(
        html=html_path,
        notebook=executed,
        seconds=time.perf_counter() - start,
        execute_seconds=execute_seconds,
        convert_seconds=convert_seconds,
        audience=audience,
        kernel_name=kernel_name,
    )
