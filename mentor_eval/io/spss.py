"""SPSS ``.sav`` files through pyreadstat.

Numeric codes are used (value labels are kept in ``metadata["value_labels"]``). Values the
file declares user-missing (e.g. 99 "refused", -9 "not asked") become missing and every such
cell is reported (rule ``user_missing_code``), never silently. Rows are numbered case + 1, so
that the first case is row 2 as in every other format (header = row 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mentor_eval.io.raw import RawFrame, as_text_frame, empty_issues, make_issues, make_provenance, unusable

__all__ = ["read_sav"]


def read_sav(path: Path, *, encoding: str | None = None) -> RawFrame:
    """Read an SPSS ``.sav`` file.

    Returns
    -------
    RawFrame
        ``metadata``: ``value_labels`` (column -> {code: label}), ``user_missing`` (column ->
        list of declared missing values / ranges), ``variable_labels`` (column -> label).
        ``issues``: one row per user-missing cell (rule ``user_missing_code``).
    """
    import pyreadstat

    path = Path(path)
    if not path.exists():
        raise unusable(path, f"does not exist (looked for {path}).",
                       "Check the file name and its path in the study (files section).")
    if path.stat().st_size == 0:
        raise unusable(path, "is empty.", "Save the SPSS file again.")
    try:
        frame, meta = pyreadstat.read_sav(str(path), user_missing=True, encoding=encoding)
    except Exception as exc:  # pyreadstat raises its own ReadstatError / PyreadstatError
        raise unusable(path, f"cannot be read as an SPSS .sav file ({exc}).",
                       "Save it again from SPSS (File > Save As > .sav) or export CSV.") from None
    if len(frame.columns) == 0:
        raise unusable(path, "has no variables.", "Save the SPSS file again with its data.")
    if len(frame) == 0:
        raise unusable(path, "has variables but no cases (rows).", "Save the SPSS file again with its data.")
    rows = np.arange(2, len(frame) + 2, dtype=np.int64)
    declared: dict[str, list] = {}
    for col in frame.columns:
        ranges = list((meta.missing_ranges or {}).get(col, []))
        values = list((meta.missing_user_values or {}).get(col, []))
        if ranges or values:
            declared[col] = ranges + [{"lo": v, "hi": v} for v in values]
    issue_parts = [empty_issues()]
    counts: dict[str, int] = {}
    for col, specs in declared.items():
        s = frame[col]
        if pd.api.types.is_numeric_dtype(s.dtype):
            v = s.to_numpy(dtype=float, na_value=np.nan)
            mask = np.zeros(len(v), dtype=bool)
            for spec in specs:
                mask |= (v >= float(spec["lo"])) & (v <= float(spec["hi"]))
        else:
            texts = {str(spec["lo"]) for spec in specs}
            mask = s.astype("str").isin(texts).to_numpy(dtype=bool, na_value=False)
        if mask.any():
            hit = np.flatnonzero(mask)
            shown = [spec["lo"] if spec["lo"] == spec["hi"] else f"{spec['lo']}..{spec['hi']}" for spec in specs]
            raw_values = as_text_frame({col: s.iloc[hit].reset_index(drop=True)})[col]
            issue_parts.append(make_issues(
                rows[hit], col, raw_values.tolist(), "user_missing_code",
                f"declared missing in the SPSS file (user-missing: {', '.join(map(str, shown))}); "
                "treated as missing",
            ))
            counts[col] = int(mask.sum())
            frame[col] = s.mask(pd.Series(mask, index=s.index))
    data = as_text_frame({c: frame[c] for c in frame.columns})
    notes = []
    if counts:
        total = sum(counts.values())
        notes.append(f"{path.name}: {total} user-missing code(s) declared in the file set to missing ("
                     + ", ".join(f"{c}: {n}" for c, n in counts.items()) + ").")
    return RawFrame(
        data=data,
        provenance=make_provenance(path.name, rows),
        source=path, format="sav", encoding=encoding,
        metadata={
            "value_labels": dict(meta.variable_value_labels or {}),
            "user_missing": declared,
            "variable_labels": dict(zip(meta.column_names, meta.column_labels or [], strict=False)),
        },
        issues=pd.concat(issue_parts, ignore_index=True) if len(issue_parts) > 1 else issue_parts[0],
        notes=tuple(notes),
    )
