"""The common result of every reader: the file's cells as text plus where each row came from.

Readers keep the raw text of every cell (``dtype=str`` reading) so that a bad value can be
reported later with exactly what the user typed; conversion to numbers and dates happens in
:mod:`mentor_eval.validation`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mentor_eval.errors import DataValidationError

__all__ = [
    "PROVENANCE_COLUMNS",
    "ISSUE_COLUMNS",
    "REJECTED_COLUMNS",
    "RawFrame",
    "make_provenance",
    "empty_issues",
    "make_issues",
    "empty_rejected",
    "unusable",
    "closest",
    "as_text_frame",
]

#: Provenance columns: file name, 1-based row as a spreadsheet shows it (header = row 1), sheet.
PROVENANCE_COLUMNS = ("_source_file", "_source_row", "_sheet")
#: Columns of the tidy notes a reader makes about single cells (user-missing codes, ...).
ISSUE_COLUMNS = ("source_row", "column", "value", "rule", "message")
#: Columns of rows a reader could not turn into data rows (ragged rows, REDCap repeat rows).
REJECTED_COLUMNS = ("_source_file", "_source_row", "_sheet", "text", "rule", "message")


@dataclass(frozen=True)
class RawFrame:
    """A table as read from one file, before any conversion.

    Attributes
    ----------
    data : pandas.DataFrame
        The file's columns in file order, every cell as text (pandas string dtype); empty cells
        are missing. Columns asked for as ``compact`` (see :func:`mentor_eval.io.read_file`) may
        instead be a pandas ``Categorical`` of the same texts. Index: 0..n-1, aligned with
        ``provenance``.
    provenance : pandas.DataFrame
        ``_source_file`` (file name), ``_source_row`` (1-based row as a spreadsheet user sees it:
        the header is row 1, the first data row is 2; for SPSS files the case number + 1) and
        ``_sheet`` (Excel sheet name, else missing), same index as ``data``.
    source : Path
        The file read.
    format : str
        ``csv``, ``xlsx``, ``sav``, ``qualtrics`` or ``redcap``.
    encoding, delimiter : str or None
        What was used to decode and split a text file (detected or named).
    metadata : Mapping
        Format-specific extras: SPSS ``value_labels`` and ``user_missing``, Qualtrics
        ``question_text`` and ``import_ids``, REDCap ``repeat_instruments``.
    issues : pandas.DataFrame
        Tidy notes about single cells made while reading (columns ``source_row``, ``column``,
        ``value``, ``rule``, ``message``), e.g. an SPSS user-missing code turned into a missing value.
    rejected : pandas.DataFrame
        Rows of the file that could not become data rows (columns ``_source_file``,
        ``_source_row``, ``_sheet``, ``text``, ``rule``, ``message``); validation puts them in the
        quarantine so that nothing read is lost.
    notes : tuple of str
        Human-readable lines about how the file was read (encoding detected, rows skipped, ...).
    """

    data: pd.DataFrame
    provenance: pd.DataFrame
    source: Path
    format: str
    encoding: str | None = None
    delimiter: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    issues: pd.DataFrame = field(default_factory=lambda: empty_issues())
    rejected: pd.DataFrame = field(default_factory=lambda: empty_rejected())
    notes: tuple[str, ...] = ()

    @property
    def file_name(self) -> str:
        return self.source.name

    @property
    def n_rows(self) -> int:
        """Rows read from the file: data rows plus rejected rows."""
        return len(self.data) + len(self.rejected)

    def with_data(self, data: pd.DataFrame, **changes: Any) -> RawFrame:
        """A copy holding ``data`` (same index as the provenance) and other changed fields."""
        return replace(self, data=data, **changes)

    def add_notes(self, *notes: str) -> RawFrame:
        return replace(self, notes=(*self.notes, *notes))


def make_provenance(file_name: str, rows: np.ndarray | Sequence[int], sheet: str | None = None,
                    index: pd.Index | None = None) -> pd.DataFrame:
    """Build the provenance frame for ``rows`` (1-based source rows)."""
    rows = np.asarray(rows, dtype=np.int64)
    n = len(rows)
    idx = pd.RangeIndex(n) if index is None else index
    return pd.DataFrame(
        {
            "_source_file": pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[file_name]),
            "_source_row": rows,
            "_sheet": pd.Categorical.from_codes(
                np.zeros(n, dtype=np.int8) if sheet is not None else np.full(n, -1, dtype=np.int8),
                categories=[sheet] if sheet is not None else [],
            ) if n else pd.Categorical([], categories=[sheet] if sheet else []),
        },
        index=idx,
    )


def empty_issues() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="Int64" if c == "source_row" else "str") for c in ISSUE_COLUMNS})


def make_issues(source_row: Iterable[int], column: Iterable[str] | str, value: Iterable[Any],
                rule: str, message: Iterable[str] | str) -> pd.DataFrame:
    """Tidy issue rows; scalar ``column``/``message`` are broadcast."""
    rows = np.asarray(list(source_row) if not isinstance(source_row, np.ndarray) else source_row)
    n = len(rows)

    def bc(x: Any) -> Any:
        return [x] * n if isinstance(x, str) else list(x)

    return pd.DataFrame(
        {
            "source_row": pd.array(rows, dtype="Int64"),
            "column": pd.array(bc(column), dtype="str"),
            "value": pd.array([None if v is None else str(v) for v in value], dtype="str"),
            "rule": pd.array([rule] * n, dtype="str"),
            "message": pd.array(bc(message), dtype="str"),
        }
    )


def empty_rejected() -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series(dtype="Int64" if c == "_source_row" else "str") for c in REJECTED_COLUMNS}
    )


def unusable(path: Path | str, problem: str, action: str) -> DataValidationError:
    """The error for a file that cannot be used at all: names the file, the problem and the fix."""
    return DataValidationError(f"{Path(path).name}: {problem} {action}".strip())


def closest(name: str, candidates: Iterable[str]) -> str:
    """A ' (did you mean ...?)' hint, or ''."""
    match = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _cell_text(v: Any) -> Any:
    # Integral floats print as integers ("3", not "3.0") so codes read back exactly.
    if v is None:
        return None
    if isinstance(v, float):
        if v != v:
            return None
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if hasattr(v, "isoformat"):
        if isinstance(v, pd.Timestamp) and pd.isna(v):
            return None
        text = v.isoformat()
        return text[:10] if text.endswith("T00:00:00") else text.replace("T", " ")
    s = str(v)
    return s if s != "" else None


def as_text_frame(columns: Mapping[str, Sequence[Any] | pd.Series | np.ndarray]) -> pd.DataFrame:
    """Turn columns of Python / numpy values into a frame of text cells (missing stays missing).

    Values are formatted over their unique values only (vectorised through ``pd.factorize``).
    """
    out: dict[str, pd.Series] = {}
    for name, values in columns.items():
        s = values if isinstance(values, pd.Series) else pd.Series(list(values) if not isinstance(
            values, np.ndarray) else values, dtype=object if not isinstance(values, np.ndarray) else None)
        s = s.reset_index(drop=True)
        if pd.api.types.is_string_dtype(s.dtype) and not pd.api.types.is_object_dtype(s.dtype):
            out[name] = s.astype("str")
            continue
        codes, uniques = pd.factorize(s, use_na_sentinel=True)
        texts = np.array([_cell_text(u) for u in uniques] + [None], dtype=object)
        out[name] = pd.Series(pd.array(texts[codes], dtype="str"))
    return pd.DataFrame(out)
