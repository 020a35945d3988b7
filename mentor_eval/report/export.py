"""Write a report's protected tables to files a funder can reuse: CSVs and one Excel workbook."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mentor_eval.errors import ReportError
from mentor_eval.pipeline import StudyResults
from mentor_eval.report.disclosure import SUPPRESSED
from mentor_eval.report.protect import require_protected

__all__ = ["write_report_tables", "report_tables", "write_workbook"]


def report_tables(results: StudyResults, *, full: bool = True) -> dict[str, pd.DataFrame]:
    """Every table of the report as shown on the page (labels, plain column names), by sheet name.

    Returns
    -------
    dict of str -> pandas.DataFrame
        Sheet name (at most 31 characters) -> display frame with its suppression flags.
        Tables the study does not have are left out.
    """
    from mentor_eval.report import headline, tables

    require_protected("report_tables", results)
    makers: dict[str, Callable[[], pd.DataFrame]] = {
        "Headline effects": lambda: _headline(results),
        "Participant flow": lambda: tables.flow_table_for_report(results),
        "Attrition": lambda: tables.attrition_table(results, full=full),
        "Baseline equivalence": lambda: tables.baseline_table(results, full=full),
        "Reliability": lambda: tables.reliability_table(results, full=full),
        "Reliability by arm": lambda: tables.reliability_by_arm_table(results),
        "Measurement invariance": lambda: tables.invariance_table(results, full=full),
        "Effects vs control": lambda: tables.contrasts_table(results, full=full),
        "Change within arms": lambda: tables.prepost_table(results, full=full),
        "Hypotheses": lambda: tables.hypotheses_table(results),
        "Subgroups (exploratory)": lambda: tables.exploratory_table(results, "moderators", full=full),
        "Dose-response (exploratory)": lambda: tables.exploratory_table(results, "dose", full=full),
        "Contrast methods": lambda: tables.contrast_methods_table(results),
        "ICC per level": lambda: tables.icc_table(results),
        "Model fit": lambda: tables.model_fit_table(results),
        "Clustered vs unclustered SE": lambda: tables.clustered_se_table(results),
        "Mixed-model contrasts": lambda: tables.mixed_contrasts_table(results),
        "Analysis parameters": lambda: tables.parameters_table(results),
        "Software versions": lambda: tables.versions_table(results),
    }
    _ = headline
    out: dict[str, pd.DataFrame] = {}
    for name, make in makers.items():
        t = make()
        if t is not None and len(t):
            out[name[:31]] = t
    return out


def _headline(results: StudyResults) -> pd.DataFrame:
    from mentor_eval.report import headline

    e = headline.headline_effects(results)
    if not len(e):
        return e
    return pd.DataFrame({
        "Outcome": e["outcome_label"], "Arm": e["arm_label"], "Comparison": e["kind"], "g": e["g"],
        "g 95% CI low": e["g_ci_low"], "g 95% CI high": e["g_ci_high"], "Adjusted p": e["p_adj"],
        "Improvement index (percentile points)": e["improvement_index"], "suppressed": e["suppressed"],
    })


def _sheet(frame: pd.DataFrame) -> pd.DataFrame:
    """Values as they may be published: hidden cells read 'suppressed', flags dropped, numbers stay numbers."""
    flags = [c for c in frame.columns if c in ("suppressed", "suppression") or str(c).endswith("_suppressed")]
    def flag(name: str) -> np.ndarray:
        return frame[name].fillna(False).to_numpy(dtype=bool)

    row_flag = flag("suppressed") if "suppressed" in frame.columns else np.zeros(len(frame), dtype=bool)
    out: dict[str, np.ndarray] = {}
    for c in frame.columns:
        if c in flags:
            continue
        own = f"{c}_suppressed"
        values = frame[c].to_numpy(dtype=object, na_value=None).copy()
        missing = pd.isna(values)
        values[missing] = None
        values[missing & (flag(own) if own in frame.columns else row_flag)] = SUPPRESSED
        out[str(c)] = values
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)), dtype=object)


def write_workbook(results: StudyResults, path: str | Path) -> Path:
    """Write every report table to one Excel workbook, one sheet per table (suppression applied).

    Parameters
    ----------
    results : StudyResults
        Protected results (:func:`mentor_eval.report.protect.protect`).
    path : path
        The ``.xlsx`` file to write.

    Returns
    -------
    pathlib.Path
        ``path``. Each sheet has the report's column labels in its first row; a hidden
        value reads ``suppressed`` (never 0 or blank); a first sheet ``About`` says where
        the tables come from and why values are hidden.
    """
    from mentor_eval.report.disclosure import reason_text

    require_protected("write_workbook", results)
    path = Path(path)
    sheets = report_tables(results)
    m = results.provenance["report"]["min_cell"]
    about = pd.DataFrame({"About these tables": [
        f"{results.study.name}: the tables of the evaluation report, one sheet per table.",
        f"'{SUPPRESSED}' marks a value hidden to protect privacy: because {reason_text('primary', m)}, or "
        f"because {reason_text('secondary', m)}, or because {reason_text('derived', m)}.",
        "Only aggregate results; no individual's data.",
    ]})
    try:
        with pd.ExcelWriter(path, engine="openpyxl") as xw:
            about.to_excel(xw, sheet_name="About", index=False)
            for name, t in sheets.items():
                _sheet(t).to_excel(xw, sheet_name=name, index=False)
                ws = xw.sheets[name]
                for col in ws.columns:  # readable column widths
                    width = max(len(str(c.value)) if c.value is not None else 0 for c in col[:50])
                    ws.column_dimensions[col[0].column_letter].width = min(60, max(8, width + 2))
    except OSError as exc:
        raise ReportError(f"Cannot write the workbook {str(path)!r}: {exc}.") from exc
    return path


def write_report_tables(results: StudyResults, output_dir: str | None, name: str) -> list[Any]:
    """Write the protected result tables as CSV/JSON into ``<output_dir>/<name>_tables`` and every
    report table into ``<output_dir>/<name>_tables/<name>.xlsx`` (None: nothing).

    Only protected (aggregate, suppressed) results may be written.
    """
    from mentor_eval.pipeline import write_tables

    require_protected("write_report_tables", results)
    if output_dir is None:
        return []
    folder = Path(output_dir) / f"{name}_tables"
    written = list(write_tables(results, folder))
    written.append(write_workbook(results, folder / f"{name}.xlsx"))
    return written
