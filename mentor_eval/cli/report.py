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


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report_cmd(
        notebook: Annotated[
            Path | None, typer.Option("--notebook", "-n", help="Report notebook (.ipynb) to execute and render.")
        ] = None,
        out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")] = Path("reports"),
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
        """Execute a report notebook and write one self-contained, offline HTML file."""
        from mentor_eval.report import render

        if notebook is None:
            raise ReportError(
                "No report notebook given: pass --notebook PATH (the study report is not wired in yet)."
            )
        parameters = dict(parse_parameter(p) for p in (param or []))
        result = render(
            notebook, parameters, out, audience=audience, kernel_name=kernel, progress=progress,
            html_name=html_name, timeout=timeout,
        )
        size_mb = result.html.stat().st_size / 1e6
        typer.echo(f"Report: {result.html} ({size_mb:.1f} MB, {result.seconds:.1f} s)")
        typer.echo(f"Executed notebook: {result.notebook}")
