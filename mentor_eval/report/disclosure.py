"""Statistical disclosure control: small-cell suppression of published tables.

:func:`suppress_small_cells` hides counts of fewer than ``min_cell`` respondents and every
statistic computed from them (primary suppression), then hides just enough other cells that
the hidden ones cannot be recovered from published totals (secondary, or complementary,
suppression). :func:`is_derivable` is the exact audit behind it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mentor_eval._params import check_columns, check_positive_int
from mentor_eval.errors import AnalysisError, ParameterError

__all__ = ["SUPPRESSED", "REASONS", "reason_text", "suppress_small_cells", "is_derivable"]

#: Text shown in place of a suppressed value.
SUPPRESSED = "suppressed"

#: Why a value is hidden, by the ``suppression`` flag of its row.
REASONS = {
    "primary": "it describes fewer than {m} people",
    "secondary": "it could be used with the totals to work out a number about fewer than {m} people",
    "derived": "it is computed from a number hidden elsewhere in this report",
}


def reason_text(kind: object, min_cell: int | None = None) -> str:
    """Plain words for a ``suppression`` flag (``"primary"``, ``"secondary"``, ``"derived"``).

    Examples
    --------
    >>> reason_text("primary", 10)
    'it describes fewer than 10 people'
    """
    m = "the minimum number of" if min_cell is None else str(min_cell)
    text = REASONS.get(str(kind), "it is withheld to protect privacy")
    return text.format(m=m).replace("fewer than the minimum number of people", "too few people to publish")

# Tolerance of the null-space test; the constraint matrices hold 0/1 entries.
_TOL = 1e-9


# --------------------------------------------------------------------------- suppression


@dataclass(frozen=True, eq=False)  # identity: lines are removed from lists by object
class _Line:
    """A published total: the cells (row positions) it sums, the keys summed over
    and the values of the other keys."""

    rows: np.ndarray
    summed: tuple[str, ...]
    fixed: tuple[tuple[str, Any], ...]


def _lines(keys: pd.DataFrame, group_keys: Sequence[str], margins: Sequence[str]) -> list[_Line]:
    """Every total a reader can see: for each non-empty subset S of the margin keys,
    the sums over S of the cells sharing the values of the remaining group keys."""
    lines: list[_Line] = []
    n = len(keys)
    for size in range(1, len(margins) + 1):
        for summed in itertools.combinations(margins, size):
            by = [k for k in group_keys if k not in summed]
            if not by:
                lines.append(_Line(np.arange(n), tuple(summed), ()))
                continue
            codes = keys.groupby(by, sort=False, dropna=False).ngroup().to_numpy()
            order = np.argsort(codes, kind="stable")
            bounds = np.flatnonzero(np.diff(codes[order])) + 1
            for rows in np.split(order, bounds):
                first = keys.iloc[int(rows[0])]
                fixed = tuple((k, first[k].item() if hasattr(first[k], "item") else first[k]) for k in by)
                lines.append(_Line(np.sort(rows), tuple(summed), fixed))
    return lines


def is_derivable(lines: Iterable[np.ndarray], hidden: np.ndarray) -> np.ndarray:
    """Which hidden cells are fixed by the published totals.

    Parameters
    ----------
    lines : iterable of int arrays
        Cell positions summed by each published total.
    hidden : bool array
        True for a suppressed cell.

    Returns
    -------
    numpy.ndarray of bool
        True where a hidden cell's value is the same in every solution of the
        linear system "published total minus published cells = sum of hidden cells"
        (i.e. it can be computed exactly from the totals).

    Notes
    -----
    With ``A`` the incidence matrix of totals (rows) by hidden cells (columns),
    hidden cell ``j`` is determined if and only if every vector of the null space
    of ``A`` has a zero ``j``-th entry. The null space comes from an SVD.
    """
    hidden = np.asarray(hidden, dtype=bool)
    hidden_pos = np.flatnonzero(hidden)
    out = np.zeros(hidden.shape[0], dtype=bool)
    if hidden_pos.size == 0:
        return out
    col_of = np.full(hidden.shape[0], -1)
    col_of[hidden_pos] = np.arange(hidden_pos.size)
    rows = []
    for line in lines:
        members = col_of[line]
        members = members[members >= 0]
        if members.size:
            row = np.zeros(hidden_pos.size)
            row[members] = 1.0
            rows.append(row)
    if not rows:
        return out
    a = np.vstack(rows)
    _, s, vt = np.linalg.svd(a)
    rank = int((s > _TOL * max(a.shape) * s[0]).sum())
    null = vt[rank:].T  # hidden x nullity
    out[hidden_pos] = np.linalg.norm(null, axis=1) < 1e-8 if null.size else True
    return out


def _protect(
    counts: np.ndarray, primary: np.ndarray, lines: list[_Line], min_cell: int
) -> tuple[np.ndarray, list[tuple[_Line, str]]]:
    """Complementary suppression of one count column.

    Returns the hidden mask and the totals that must be withheld, with the reason.
    """
    withheld: list[tuple[_Line, str]] = []
    published: list[_Line] = []
    for line in lines:
        total = counts[line.rows].sum()
        if line.rows.size < 2:
            continue  # a total of one cell is that cell itself
        if 0 < total < min_cell:
            withheld.append((line, "small total"))  # a small total is itself a small cell
        else:
            published.append(line)
    hidden = primary.copy()
    for _ in range(4 * counts.size + 4 * len(published) + 4):
        # Step 1: every published total holding hidden cells must hold at least two,
        # with a positive hidden sum (a hidden sum of 0 pins every hidden cell to 0).
        changed = False
        for line in published:
            h = hidden[line.rows]
            if h.any() and (h.sum() == 1 or counts[line.rows][h].sum() == 0):
                pick = _smallest_open(counts, hidden, line.rows)
                if pick is None:
                    continue  # no positive cell left: the audit below withholds the total
                hidden[pick] = True
                changed = True
        if changed:
            continue
        # Step 2: exact audit of the whole linear system (catches chains and bridges).
        fixed = is_derivable([ln.rows for ln in published], hidden)
        stuck = [ln for ln in published if _pins(ln, counts, hidden)]
        if not fixed.any() and not stuck:
            return hidden, withheld
        if stuck:
            target_line = stuck[0]
            published.remove(target_line)
            withheld.append((target_line, "would reveal a suppressed cell"))
            continue
        target = int(np.flatnonzero(fixed)[0])
        pick = _breaking_cell(counts, hidden, [ln.rows for ln in published], target)
        if pick is not None:
            hidden[pick] = True
            continue
        # No visible cell can protect the target: withhold a total that pins it.
        line = _breaking_line(published, hidden, target)
        published.remove(line)
        withheld.append((line, "would reveal a suppressed cell"))
    raise AnalysisError("Small-cell suppression did not converge; aggregate the table.")  # pragma: no cover


def _pins(line: _Line, counts: np.ndarray, hidden: np.ndarray) -> bool:
    """A published total whose hidden cells cannot be protected within it: one hidden
    cell, or hidden cells summing to 0, and no positive visible cell left to add."""
    h = hidden[line.rows]
    return bool(h.any() and (h.sum() == 1 or counts[line.rows][h].sum() == 0)
                and _smallest_open(counts, hidden, line.rows) is None)


def _smallest_open(counts: np.ndarray, hidden: np.ndarray, rows: np.ndarray) -> int | None:
    """The smallest positive visible cell of a total. Zeros are never used as
    complements: a hidden zero in a total whose hidden cells sum to 0 is pinned."""
    open_ = rows[~hidden[rows] & (counts[rows] > 0)]
    if open_.size == 0:
        return None
    return int(open_[np.argmin(counts[open_])])


def _breaking_cell(counts: np.ndarray, hidden: np.ndarray, published: list[np.ndarray], target: int) -> int | None:
    """The smallest positive visible cell whose suppression makes ``target``
    undeterminable; cells sharing a total with the target are tried first."""
    empty = np.array([], dtype=int)
    near = np.unique(np.concatenate([ln for ln in published if target in ln] or [empty]))
    touched = np.unique(np.concatenate([ln for ln in published if hidden[ln].any()] or [empty]))
    tried: set[int] = set()
    for pool in (near, touched, np.arange(counts.size)):
        cand = sorted((int(c) for c in pool if not hidden[c] and counts[c] > 0 and int(c) not in tried),
                      key=lambda c: (counts[c], c))
        for c in cand:
            tried.add(c)
            trial = hidden.copy()
            trial[c] = True
            if not is_derivable(published, trial)[target]:
                return c
    return None


def _breaking_line(published: list[_Line], hidden: np.ndarray, target: int) -> _Line:
    """The total (smallest first) whose withholding makes ``target`` undeterminable,
    else the first total that contains it."""
    holding = [ln for ln in published if target in ln.rows]
    for line in sorted(holding, key=lambda ln: ln.rows.size):
        rest = [ln.rows for ln in published if ln is not line]
        if not is_derivable(rest, hidden)[target]:
            return line
    return holding[0]


def suppress_small_cells(
    table: pd.DataFrame,
    count_cols: str | Sequence[str],
    *,
    min_cell: int = 10,
    value_cols: Sequence[str] | Mapping[str, Sequence[str]] = (),
    group_keys: Sequence[str] = (),
    margins: str | Sequence[str] | None = "all",
    suppress_zeros: bool = False,
) -> pd.DataFrame:
    """Suppress small cells and what could reveal them (primary + secondary suppression).

    Parameters
    ----------
    table : pandas.DataFrame
        One row per cell (e.g. arm x wave), with the key columns ``group_keys``,
        count columns and statistic columns. Keys must identify rows uniquely.
    count_cols : str or sequence of str
        Columns of respondent counts (non-negative whole numbers, no missing values).
        Each is protected as its own table.
    min_cell : int, default 10
        Counts from 1 to ``min_cell - 1`` are suppressed (10: CMS and most state
        health departments; 5: some education agencies).
    value_cols : sequence of str or mapping, default ()
        Statistics computed from the cell's respondents (means, CIs, shares, ...).
        A sequence: set to missing whenever any count of that row is suppressed.
        A mapping ``{count_col: [value cols]}``: set to missing when that count is.
    group_keys : sequence of str, default ()
        Columns that classify the cells (e.g. ``["arm", "wave"]``); they define
        the totals below.
    margins : "all", sequence of str or None, default "all"
        Totals a reader can see or compute from elsewhere in the report: for each
        key listed, sums over that key (and every combination of listed keys,
        up to the grand total). ``"all"`` lists every group key; with no group
        keys, ``"all"`` means the grand total of the table. ``None`` or ``()``:
        no totals are published, so only primary suppression is needed.
    suppress_zeros : bool, default False
        Also suppress zero counts (some agencies treat a zero as disclosive).

    Returns
    -------
    pandas.DataFrame
        A copy of ``table`` in the same row order, where

        - suppressed counts are ``<NA>`` (nullable ``Int64``) and the statistics
          tied to them are ``NaN``/``<NA>`` -- never zero;
        - ``<count>_suppressed`` (bool), one per count column: that count is hidden;
        - ``suppressed`` (bool): anything in the row is hidden;
        - ``suppression`` (string): ``"primary"`` (a small cell in the row),
          ``"secondary"`` (hidden only to protect another cell) or ``<NA>``.

        ``attrs["suppression"]`` records ``min_cell``, the keys, the numbers of
        primary and secondary suppressions and ``withheld_totals``: totals that
        must not be published, one dict each with ``count`` (count column),
        ``summed_over`` (keys summed), the values of the other keys, ``total`` and
        ``reason`` (``"small total"`` or ``"would reveal a suppressed cell"``).

    Notes
    -----
    Algorithm, for each count column separately:

    1. Primary: hide every count ``0 < n < min_cell`` (and zeros if asked).
    2. Published totals: each set of cells summed by a margin. A total made of one
       cell is that cell, so it is not a separate constraint; a total from 1 to
       ``min_cell - 1`` is itself a small cell and is withheld (listed in
       ``withheld_totals``).
    3. Secondary: while some published total contains exactly one hidden cell (or
       hidden cells summing to 0, which pins them all to 0), hide the smallest
       positive visible cell of that total -- the usual "next smallest cell in that
       row/column" rule. Zeros are never used as complements.
    4. Audit: "two per row and column" is not enough in general (a hidden cell can
       be fixed by a chain of totals). The published totals define a linear system
       in the hidden cells; a hidden cell is exactly recoverable iff the system
       fixes it (its entry of every null-space vector is 0). While one is, hide the
       smallest positive visible cell that makes it unrecoverable and repeat from
       step 3. When no visible cell can (e.g. the only other cells are zeros), the
       total that reveals it is withheld instead (``withheld_totals``, reason
       ``"would reveal a suppressed cell"``): the caller must not publish it.

    The guarantee is against exact recovery, including recovery that uses the fact
    that counts are non-negative: hidden positive cells that the linear system does
    not fix can move in both directions. Ranges (e.g. "between 0 and 14") can still
    be inferred, as with any complementary suppression. With ``suppress_zeros`` a
    hidden zero may still be bounded to a narrow range.
    Missing data: counts must be complete; a missing count raises an error.

    References
    ----------
    .. [1] Federal Committee on Statistical Methodology (2005). Statistical Policy
       Working Paper 22: Report on Statistical Disclosure Limitation Methodology.
    .. [2] Hundepool, A. et al. (2012). Statistical Disclosure Control. Wiley, ch. 4
       (primary and secondary cell suppression in tabular data).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"arm": ["a", "a", "b", "b"], "wave": [1, 2, 1, 2],
    ...                   "n": [40, 4, 38, 35], "mean": [3.1, 2.9, 3.0, 3.3]})
    >>> out = suppress_small_cells(t, "n", value_cols=["mean"], group_keys=["arm", "wave"])
    >>> out["suppression"].tolist()
    ['secondary', 'primary', 'secondary', 'secondary']
    """
    func = "suppress_small_cells"
    counts_list = [count_cols] if isinstance(count_cols, str) else list(count_cols)
    if not counts_list:
        raise ParameterError(f"The 'count_cols' parameter of {func} must name at least one column; got [].")
    group_keys = list(group_keys)
    if isinstance(value_cols, Mapping):
        value_map = {k: list(v) for k, v in value_cols.items()}
        unknown = [k for k in value_map if k not in counts_list]
        if unknown:
            raise ParameterError(
                f"The 'value_cols' parameter of {func} maps count column(s) {unknown!r} that are not "
                f"in count_cols {counts_list!r}."
            )
        row_values: list[str] = []
    else:
        value_map = {}
        row_values = list(value_cols)
    all_values = row_values + [c for v in value_map.values() for c in v]
    check_columns(func, table, [*group_keys, *counts_list, *all_values], what="table")
    min_cell = check_positive_int(func, "min_cell", min_cell, minimum=1)
    if margins is None:
        margin_keys: list[str] = []
        use_totals = False
    elif isinstance(margins, str):
        if margins != "all":
            raise ParameterError(
                f"The 'margins' parameter of {func} must be 'all', None or a list of group keys; "
                f"got {margins!r}."
            )
        margin_keys, use_totals = list(group_keys), True
    else:
        margin_keys, use_totals = list(margins), len(list(margins)) > 0
        bad = [k for k in margin_keys if k not in group_keys]
        if bad:
            raise ParameterError(
                f"The 'margins' parameter of {func} must list group keys ({group_keys!r}); got {bad!r}."
            )
    if group_keys and table.duplicated(group_keys).any():
        dup = table.loc[table.duplicated(group_keys, keep=False), group_keys].head(3).to_dict("records")
        raise ParameterError(
            f"The 'table' parameter of {func} must have one row per {group_keys!r}; repeated keys: {dup}."
        )

    n = len(table)
    out = table.copy()
    keys = table[group_keys].reset_index(drop=True) if group_keys else pd.DataFrame(index=range(n))
    if not use_totals:
        lines: list[_Line] = []
    elif group_keys:
        lines = _lines(keys, group_keys, margin_keys)
    else:
        lines = [_Line(np.arange(n), (), ())]

    hidden_any = np.zeros(n, dtype=bool)
    primary_any = np.zeros(n, dtype=bool)
    n_primary = n_secondary = 0
    withheld: list[dict[str, Any]] = []
    for col in counts_list:
        raw = pd.to_numeric(table[col], errors="coerce")
        bad = raw.isna() & table[col].notna()
        if bad.any() or raw.isna().any():
            where = table.index[raw.isna()][:5].tolist()
            raise ParameterError(
                f"The count column {col!r} given to {func} must hold whole numbers without missing "
                f"values; rows {where} do not."
            )
        values = raw.to_numpy(dtype=float)
        if (values < 0).any() or (values != np.round(values)).any():
            where = table.index[(values < 0) | (values != np.round(values))][:5].tolist()
            raise ParameterError(
                f"The count column {col!r} given to {func} must hold non-negative whole numbers; "
                f"rows {where} do not."
            )
        counts = values.astype(np.int64)
        primary = (counts < min_cell) & ((counts > 0) | suppress_zeros)
        hidden, held = _protect(counts, primary, lines, min_cell)
        for line, why in held:
            withheld.append({"count": col, "summed_over": list(line.summed), **dict(line.fixed),
                             "total": int(counts[line.rows].sum()), "reason": why})
        n_primary += int(primary.sum())
        n_secondary += int((hidden & ~primary).sum())
        hidden_any |= hidden
        primary_any |= primary
        shown = pd.array(counts, dtype="Int64")
        shown[hidden] = pd.NA
        out[col] = shown
        out[f"{col}_suppressed"] = hidden
        for vcol in value_map.get(col, []):
            out[vcol] = _blank(out[vcol], hidden)
    for vcol in row_values:
        out[vcol] = _blank(out[vcol], hidden_any)
    out["suppressed"] = hidden_any
    reason = np.where(primary_any, "primary", np.where(hidden_any, "secondary", None))
    out["suppression"] = pd.array(reason, dtype="string")
    out.attrs["suppression"] = {
        "min_cell": min_cell,
        "count_cols": counts_list,
        "group_keys": group_keys,
        "margins": margin_keys if use_totals else [],
        "n_primary": n_primary,
        "n_secondary": n_secondary,
        "withheld_totals": withheld,
    }
    return out


def _blank(col: pd.Series, mask: np.ndarray) -> pd.Series:
    if not mask.any():
        return col
    s = col.copy()
    if pd.api.types.is_integer_dtype(s.dtype):
        s = s.astype("Int64")  # counts stay whole numbers, with <NA> where hidden
    elif pd.api.types.is_bool_dtype(s.dtype):
        s = s.astype("boolean")
    s[mask] = np.nan if s.dtype == float else pd.NA
    return s

