"""``mentor-eval report``: render a report notebook into one self-contained HTML file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from mentor_eval.errors import ParameterError, ReportError


def parse_parameter(text: str) -> tuple[str, Any]:
    """Parse ``NAME=VALUE``; VALUE is read as JSON when it is valid JSON, else kept as text.

    ``n=10`` gives the integer 10, ``flag=true`` a bool, ``arms=["a","b"]`` a list,
    ``study=data/study.yaml`` the string.
    """
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier():
        raise ParameterError(f"A --param must look like NAME=VALUE with NAME a Python identifier; got {text!r}.")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return name, value


def _notebook_path(name: str) -> Path:
    """A bundled notebook by name, or a path to a notebook file."""
    from mentor_eval.resources import notebooks_dir

    bundled = notebooks_dir() / f"{name}.ipynb"
    if bundled.is_file():
        return bundled
    path = Path(name)
    if path.is_file():
        return path
    known = ", ".join(sorted(p.stem for p in notebooks_dir().glob("*.ipynb")))
    raise ReportError(f"No report notebook {name!r}: give a path to an .ipynb or one of: {known}.")


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report_cmd(
        study_path: Annotated[
            Path | None, typer.Argument(help="study.yaml (default: the bundled sample study).", show_default=False)
        ] = None,
        notebook: Annotated[
            str | None,
            typer.Option("--notebook", "-n", help="Report notebook: a bundled name (evaluation_report, "
                         "psychometrics) or a path to an .ipynb. Default: evaluation_report."),
        ] = None,
        out: Annotated[
            Path | None, typer.Option("--out", "-o", help="Output directory (default reports/<study>/).")
        ] = None,
        param: Annotated[
            list[str] | None,
            typer.Option("--param", "-p", help="Notebook parameter NAME=VALUE (JSON values allowed); repeatable."),
        ] = None,
        audience: Annotated[
            str, typer.Option("--audience", "-a", help="funder (code hidden) or researcher (code shown).")
        ] = "funder",
        html_name: Annotated[str | None, typer.Option("--html-name", help="Name of the HTML file.")] = None,
        kernel: Annotated[
            str | None, typer.Option("--kernel", help="Jupyter kernel (default: this environment's).")
        ] = None,
        timeout: Annotated[int, typer.Option("--timeout", help="Seconds a single cell may run.")] = 600,
        progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
    ) -> None:
        """Render the evaluation report of a study into one self-contained, offline HTML file.

        With no argument it renders the bundled sample study into reports/sample/.
        """
        from mentor_eval.cli._common import default_out, study_path_or_sample
        from mentor_eval.report.kernel import start_kernel

        # The kernel boots and imports the analysis libraries on another core while this process
        # loads the study, so a configuration mistake is still reported before any cell runs.
        with start_kernel(kernel) as started:
            from mentor_eval.report import render
            from mentor_eval.study import load_study

            study = load_study(study_path_or_sample(study_path))
            nb_path = _notebook_path(notebook or "evaluation_report")
            parameters = {"study_path": str(study.path.resolve())}
            folder = out if out is not None else default_out(study, "", None)
            # The notebook writes its (suppressed) tables beside the HTML and shows full tables to researchers.
            parameters.update({"audience": audience, "output_dir": str(folder.resolve())})
            parameters.update(dict(parse_parameter(p) for p in (param or [])))
            result = render(
                nb_path, parameters, folder, audience=audience, progress=progress,
                html_name=html_name, timeout=timeout, kernel=started,
            )
        size_mb = result.html.stat().st_size / 1e6
        typer.echo(f"Report: {result.html} ({size_mb:.1f} MB, {result.seconds:.1f} s)")
        typer.echo(f"Executed notebook: {result.notebook}")
