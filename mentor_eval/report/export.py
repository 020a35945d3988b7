"""Write a report's protected tables to files a funder can reuse."""

from __future__ import annotations

from typing import Any

from mentor_eval.pipeline import StudyResults
from mentor_eval.report.protect import _require_protected

__all__ = ["write_report_tables"]

def write_report_tables(results: StudyResults, output_dir: str | None, name: str) -> list[Any]:
    """Write the protected result tables as CSV/JSON into ``<output_dir>/<name>_tables`` (None: nothing).

    Only protected (aggregate, suppressed) results may be written.
    """
    from pathlib import Path

    from mentor_eval.pipeline import write_tables

    _require_protected("write_report_tables", results)
    if output_dir is None:
        return []
    return write_tables(results, Path(output_dir) / f"{name}_tables")


