"""One result base for the outcome analyses.

Every public outcome function returns a :class:`Result`: its tidy table(s) (column names as in the
project's "Column names" list), ``method`` (what was estimated, how), ``notes`` (what a reader must
know: fallbacks, exclusions, caveats) and :meth:`Result.summary` (printable text), as statsmodels'
results do. Two shapes share it:

- :class:`TableResult`: functions with one table return it. It *is* that table (a
  :class:`pandas.DataFrame` subclass), so code that indexes, filters or writes the frame keeps
  working; anything derived from it (a slice, ``copy()``, ``concat``) is a plain DataFrame.
- frozen dataclasses of several tables (:class:`~mentor_eval.outcomes.compare.AncovaResult`,
  :class:`~mentor_eval.outcomes.longitudinal.MixedModelResult`,
  :class:`~mentor_eval.outcomes.change.ReliableChange`, ...) subclass :class:`Result` and list
  their tables in :meth:`Result.tables`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, ClassVar

import pandas as pd

__all__ = ["Result", "TableResult", "table_result", "format_table"]

# Columns a summary shows first when a table has them: identifying keys, then the estimate.
_KEYS = ("outcome", "variable", "arm", "reference", "contrast", "wave", "type", "term", "test", "moderator",
         "level", "effect", "path", "pooling", "kind", "cluster_method")
_STATS = ("estimate", "se", "ci_low", "ci_high", "t", "z", "F", "df", "p", "p_adj", "adjust", "n", "power", "mdes",
          "icc", "g", "d_z", "g_av", "share_reliably_improved", "verdict", "category", "note")
_MAX_ROWS = 40


def format_table(frame: pd.DataFrame, columns: Iterable[str] | None = None, max_rows: int = _MAX_ROWS) -> str:
    """A table as fixed-width text: the given (or summary) columns, numbers to 4 significant digits.

    Without ``columns``, the identifying keys and the estimate columns the frame has (every column
    when it has none of them).
    """
    if columns is None:
        picked = [c for c in _KEYS if c in frame.columns] + [c for c in _STATS if c in frame.columns]
        if not any(c in frame.columns for c in _STATS):
            picked = list(frame.columns)
    else:
        picked = [c for c in columns if c in frame.columns]
    shown = pd.DataFrame(frame[picked]).head(max_rows)
    text = shown.to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="")
    if len(frame) > max_rows:
        text += f"\n... {len(frame) - max_rows} more row(s)"
    return text


class Result:
    """Base of every outcome result: ``tables()``, ``method``, ``notes`` and ``summary()``.

    Subclasses set ``title`` and provide ``method`` (str) and ``notes`` (tuple of str), as fields,
    properties or, for :class:`TableResult`, attributes.
    """

    title: ClassVar[str] = "Result"
    #: The table ``summary()`` shows (the first one when empty).
    headline: ClassVar[str] = ""

    method: str
    notes: tuple[str, ...]

    def tables(self) -> dict[str, pd.DataFrame]:
        """Name -> tidy table of this result."""
        if dataclasses.is_dataclass(self):
            return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                    if isinstance(getattr(self, f.name), pd.DataFrame) and not f.name.startswith("_")}
        return {}

    def summary(self) -> str:
        """Printable text: title, method, the headline table and the notes."""
        tables = self.tables()
        lines = [self.title]
        if self.method:
            lines.append(f"Method: {self.method}")
        name = self.headline if self.headline in tables else next(iter(tables), "")
        if name:
            table = tables[name]
            lines.append("")
            if len(tables) > 1:
                lines.append(f"{name}:")
            lines.append(format_table(table) if len(table) else "(no rows)")
            others = [k for k in tables if k != name]
            if others:
                lines.append("")
                lines.append("Other tables: " + ", ".join(others) + ".")
        if self.notes:
            lines.append("")
            lines.append("Notes:")
            lines.extend(f"- {n}" for n in self.notes)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _as_notes(notes: Any) -> tuple[str, ...]:
    if notes is None:
        return ()
    if isinstance(notes, str):
        return (notes,) if notes else ()
    return tuple(str(n) for n in notes if str(n))


class TableResult(Result, pd.DataFrame):
    """A one-table result: the tidy DataFrame itself, with ``title``, ``method``, ``notes`` and ``summary()``.

    Attributes are read as ``res.method`` / ``res.notes``; a *column* of the same name is read as
    ``res["method"]``. Operations on the table (slicing, ``copy``, ``concat``, ``merge``) return
    plain DataFrames.
    """

    _metadata: ClassVar[list[str]] = ["title", "method", "notes"]

    def __init__(self, data: Any = None, *args: Any, title: str = "Result", method: str = "",
                 notes: Any = (), **kwargs: Any) -> None:
        super().__init__(data, *args, **kwargs)
        self.title = title
        self.method = method
        self.notes = _as_notes(notes)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"table": pd.DataFrame(self)}

    def summary(self) -> str:
        lines = [self.title]
        if self.method:
            lines.append(f"Method: {self.method}")
        lines.append("")
        lines.append(format_table(self) if len(self) else "(no rows)")
        if self.notes:
            lines.append("")
            lines.append("Notes:")
            lines.extend(f"- {n}" for n in self.notes)
        return "\n".join(lines)

    # DataFrame's own __str__/__repr__ show the table; summary() is the annotated view.
    __str__ = pd.DataFrame.__str__
    __repr__ = pd.DataFrame.__repr__


def table_result(frame: pd.DataFrame, *, title: str, method: str = "", notes: Any = ()) -> TableResult:
    """Wrap a finished table as a :class:`TableResult` (no copy of the data).

    ``notes`` also collects the distinct non-empty values of the table's ``note`` column.
    """
    collected = list(_as_notes(notes))
    if "note" in frame.columns:
        extra = [str(v) for v in pd.unique(frame["note"].dropna()) if str(v)]
        collected += [n for n in extra if n not in collected]
    return TableResult(frame, title=title, method=method, notes=collected)

