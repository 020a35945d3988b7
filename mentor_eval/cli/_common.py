"""Pieces shared by the study commands (analyze, psychometrics, report)."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from mentor_eval.study import Study

STUDY_ARG = typer.Argument(None, help="study.yaml (default: the bundled sample study).", show_default=False)


def study_slug(study: Study) -> str:
    """A folder name for a study's outputs: the bundled sample is 'sample'."""
    from mentor_eval.resources import sample_study_path

    if study.path.resolve() == sample_study_path().resolve():
        return "sample"
    slug = re.sub(r"[^a-z0-9]+", "-", study.name.lower()).strip("-")
    return slug or "study"


def default_out(study: Study, kind: str, out: Path | None) -> Path:
    return out if out is not None else Path("reports") / study_slug(study) / kind
