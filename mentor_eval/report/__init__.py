"""Reports: from a study's results to one self-contained, offline HTML page.

One module per job:

* :mod:`~mentor_eval.report.disclosure`: small-cell suppression (primary and
  complementary) and the audit that a hidden value cannot be recovered;
* :mod:`~mentor_eval.report.protect`: :func:`protect` applies it to every table of a
  :class:`~mentor_eval.pipeline.StudyResults` (and what is derived from them);
* :mod:`~mentor_eval.report.names`: arm, outcome and variable labels from the study;
* :mod:`~mentor_eval.report.tables`: the display frame behind each report table;
* :mod:`~mentor_eval.report.charts`: chart primitives drawing a tidy frame
  (``*_chart``), with one colour per arm (:mod:`~mentor_eval.report.palette`);
* :mod:`~mentor_eval.report.figures`: the report's figures from protected results
  (``*_figure``, each wrapping a chart);
* :mod:`~mentor_eval.report.headline`: the first screen (bottom line, headline figure,
  at-a-glance cards);
* :mod:`~mentor_eval.report.narrative`: plain-language text;
* :mod:`~mentor_eval.report.html` and :mod:`~mentor_eval.report.display`: escaping,
  tables and figures on the page;
* :mod:`~mentor_eval.report.export`: the tables as CSV and one Excel workbook;
* :mod:`~mentor_eval.report.render`: papermill + nbconvert into one offline HTML file;
* :mod:`~mentor_eval.report.kernel`: the report kernel, installed once and started ahead
  of the work (:func:`start_kernel`).

``from mentor_eval.report import render`` stays cheap: the modules that need pandas
or plotly load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from mentor_eval.report.render import (
    AUDIENCES,
    DEFAULT_KERNEL,
    TEMPLATE_DIR,
    TEMPLATE_NAME,
    NotebookCellError,
    RenderResult,
    StartedKernel,
    ensure_kernel,
    export_html,
    external_references,
    render,
    start_kernel,
)

_LAZY = {
    "protect": "mentor_eval.report.protect",
    "is_protected": "mentor_eval.report.protect",
    "suppress_small_cells": "mentor_eval.report.disclosure",
    "SUPPRESSED": "mentor_eval.report.disclosure",
    "escape": "mentor_eval.report.html",
    "table_html": "mentor_eval.report.html",
    "executive_summary": "mentor_eval.report.narrative",
    "write_report_tables": "mentor_eval.report.export",
}

__all__ = [
    "AUDIENCES", "DEFAULT_KERNEL", "TEMPLATE_DIR", "TEMPLATE_NAME", "NotebookCellError", "RenderResult",
    "StartedKernel", "ensure_kernel", "export_html", "external_references", "render", "start_kernel", *sorted(_LAZY),
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mentor_eval.report' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
