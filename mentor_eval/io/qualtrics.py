"""Qualtrics CSV exports.

A Qualtrics export has two extra rows under the header: the question text and a row of
``{"ImportId":"QID12_1"}`` JSON cells. Both are removed (kept in ``metadata``); rows are
numbered by the physical line each response starts on, so row 4 is the first respondent of a
file whose question texts hold no line breaks. Text answers ("Strongly agree") are recoded
later through the instrument's labels (:mod:`mentor_eval.labels`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from mentor_eval.io.delimited import read_delimited
from mentor_eval.io.raw import RawFrame, unusable

__all__ = ["read_qualtrics", "QUALTRICS_RENAMES", "QUALTRICS_IDENTIFYING"]

#: Qualtrics system columns renamed to the project's names (reported as a note).
QUALTRICS_RENAMES = {"Duration (in seconds)": "duration_seconds"}
#: Qualtrics system columns that identify a person.
QUALTRICS_IDENTIFYING = (
    "IPAddress", "RecipientLastName", "RecipientFirstName", "RecipientEmail",
    "LocationLatitude", "LocationLongitude",
)


def _is_import_id_row(row: pd.Series) -> bool:
    cells = row.dropna().astype(str).str.strip()
    return len(cells) > 0 and bool(cells.str.startswith('{"ImportId"').mean() >= 0.5)


def read_qualtrics(path: Path, *, encoding: str | None = None, delimiter: str | None = None) -> RawFrame:
    """Read a Qualtrics CSV export (legacy one-extra-row exports are recognised too).

    Returns
    -------
    RawFrame
        ``metadata["question_text"]`` (column -> question text) and ``metadata["import_ids"]``
        (column -> QID) when present.
    """
    raw = read_delimited(path, encoding=encoding, delimiter=delimiter, format="qualtrics", line_rows=True)
    data, prov = raw.data, raw.provenance
    question_text: dict[str, str] = {}
    import_ids: dict[str, str] = {}
    drop = 0
    if len(data) >= 1 and _is_import_id_row(data.iloc[0]):
        drop = 1
    elif len(data) >= 2 and _is_import_id_row(data.iloc[1]):
        question_text = {c: str(v) for c, v in data.iloc[0].items() if pd.notna(v)}
        drop = 2
    else:
        raise unusable(
            path,
            "does not look like a Qualtrics export: the rows under the header hold no "
            '{"ImportId": ...} cells.',
            "Export with 'Use numeric values' or 'Use choice text' in CSV format, or set format: csv.",
        )
    id_row = data.iloc[drop - 1]
    for c, v in id_row.items():
        if pd.notna(v):
            try:
                import_ids[c] = str(json.loads(v).get("ImportId"))
            except (ValueError, AttributeError):
                import_ids[c] = str(v)
    data = data.iloc[drop:].reset_index(drop=True)
    prov = prov.iloc[drop:].reset_index(drop=True)
    if len(data) == 0 and len(raw.rejected) == 0:
        raise unusable(path, "is a Qualtrics export without responses (only its header rows).",
                       "Export again after responses were recorded.")
    renames = {k: v for k, v in QUALTRICS_RENAMES.items() if k in data.columns and v not in data.columns}
    notes = [f"{path.name}: Qualtrics export; removed its {drop} extra header row(s)."]
    if renames:
        data = data.rename(columns=renames)
        notes.append(f"{path.name}: renamed " + ", ".join(f"{k!r} -> {v!r}" for k, v in renames.items()) + ".")
    return RawFrame(
        data=data, provenance=prov, source=raw.source, format="qualtrics", encoding=raw.encoding,
        delimiter=raw.delimiter,
        metadata={"question_text": question_text, "import_ids": import_ids},
        rejected=raw.rejected, notes=(*raw.notes, *notes),
    )
