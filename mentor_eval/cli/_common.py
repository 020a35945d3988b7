"""Pieces shared by the study commands (analyze, psychometrics, report)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:  # the study module imports pandas: commands load it when they run
    from mentor_eval.study import Study

STUDY_ARG = typer.Argument(None, help="study.yaml, or a folder holding one (default: ./study.yaml if there is "
                                      "one, else the bundled sample study).", show_default=False)

SAMPLE_NOTICE = ("No study file given and no study.yaml in this folder: running the bundled sample study "
                 "(synthetic data). Pass the path of your study.yaml to run your own.")


def study_path_or_sample(path: Path | None) -> Path | None:
    """The study to run: the path given, else ./study.yaml, else None (the bundled sample).

    Never silent: with no path, the first line printed says which study runs.
    """
    if path is not None:
        return path
    here = Path("study.yaml")
    if here.is_file():
        typer.echo("No study file given: using ./study.yaml in this folder.")
        return here
    typer.echo(SAMPLE_NOTICE)
    return None


@contextmanager
def progress(text: str, *, console=None) -> Iterator[None]:
    """A spinner with the elapsed time while a long step runs (like ``report`` shows), on stderr
    unless a console is given; gone once the step ends."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    con = console or Console(stderr=True)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=con,
                  transient=True) as prog:
        prog.add_task(text, total=None)
        yield


def study_slug(study: Study) -> str:
    """A folder name for a study's outputs: the bundled sample is 'sample'."""
    from mentor_eval.resources import sample_study_path

    if study.path.resolve() == sample_study_path().resolve():
        return "sample"
    slug = re.sub(r"[^a-z0-9]+", "-", study.name.lower()).strip("-")
    return slug or "study"


def default_out(study: Study, kind: str, out: Path | None) -> Path:
    return out if out is not None else Path("reports") / study_slug(study) / kind
