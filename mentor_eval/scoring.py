"""Scoring: from item responses to scale scores, vectorised over the whole frame.

The rules (also in :func:`score`'s docstring):

* reverse-keyed items are recoded ``min + max - x``;
* fillers are ignored;
* a scale's items are its own items plus those of its subscales;
* ``mean`` scales are the mean of the answered items; ``sum`` scales are
  *prorated*: the mean of the answered items times the number of items (equal to
  the plain sum when every item is answered);
* a scale is missing (NaN) when fewer than ``min_answered`` of its items were
  answered.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from mentor_eval._params import check_columns
from mentor_eval.errors import DataValidationError, ParameterError
from mentor_eval.instruments import Instrument, load_instrument
from mentor_eval.schemas import check_item_column, item_floats, rule_message

__all__ = ["score", "score_long", "item_matrix"]

_MAX_LISTED = 20


def _format_failures(cases: pd.DataFrame, frame: pd.DataFrame, instrument: Instrument) -> str:
    """One line per failing cell: row label, column, value, rule."""
    lines = []
    cases = cases.dropna(subset=["index"]) if "index" in cases else cases
    total = len(cases)
    for row in cases.head(_MAX_LISTED).itertuples(index=False):
        lines.append(f"  row {row.index!r}, column {row.column!r}: value {row.failure_case!r} "
                     f"({row.check})")
    more = f"\n  ... and {total - _MAX_LISTED} more" if total > _MAX_LISTED else ""
    rs = instrument.response_scale
    return (
        f"{total} item value(s) of {instrument.id} break the response scale "
        f"(whole numbers {rs.min}-{rs.max}, blank for missing):\n" + "\n".join(lines) + more
    )


def item_matrix(
    responses: pd.DataFrame,
    instrument: str | Instrument,
    columns: str = "{item}",
    *,
    form: str | None = None,
    validate: bool = True,
    reverse: bool = True,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """The scored items as a float matrix (rows x scored items), reverse-keyed, NaN = missing.

    Returns the matrix and the item ids of its columns (definition order). Raises
    :class:`DataValidationError` listing the offending cells when a value is not a
    whole number within the response scale.
    """
    inst = load_instrument(instrument, form=form)
    ids = inst.scored_item_ids
    arrays = _checked_arrays(responses, inst, columns, validate)
    # Column-major: each item column is copied contiguously.
    x = np.empty((len(responses), len(ids)), dtype=float, order="F")
    for j, item in enumerate(ids):
        x[:, j] = arrays.pop(item)
    if reverse:
        rs = inst.response_scale
        rev = np.array([inst.item(i).reverse for i in ids])
        if rev.any():
            x[:, rev] = (rs.min + rs.max) - x[:, rev]
    return x, ids


def _checked_arrays(
    responses: pd.DataFrame, inst: Instrument, columns: str, validate: bool
) -> dict[str, np.ndarray]:
    """Item id -> float values of each scored item, every column converted once, after checking
    presence (and, with ``validate``, the item rules of :func:`mentor_eval.schemas.item_rule_failures`)."""
    return dict(_checked_columns(responses, inst, columns, validate))


def _checked_columns(
    responses: pd.DataFrame, inst: Instrument, columns: str, validate: bool
) -> Iterator[tuple[str, np.ndarray]]:
    """Yield (item id, float values) one scored item at a time, each column converted once.

    Presence is checked before the first column; with ``validate`` every column's rule failures
    are collected and raised together (one :class:`DataValidationError` naming every cell) after
    the last column, so a caller that consumes the columns as they come must not use its
    results until the iteration has finished.
    """
    colmap = inst.column_names(columns, inst.scored_item_ids)
    check_columns("score", responses, [], what="responses")
    missing = [c for c in colmap.values() if c not in responses.columns]
    if missing:
        raise DataValidationError(
            f"The responses lack {len(missing)} item column(s) of {inst.id} "
            f"(pattern {columns!r}): {', '.join(missing[:12])}"
            f"{' ...' if len(missing) > 12 else ''}. Check the column pattern or rename the columns."
        )
    rs = inst.response_scale
    failures = []
    for item, col in colmap.items():
        if validate:
            values, bad = check_item_column(responses[col], rs.min, rs.max)
            for rule, rows in bad.items():
                failures.append(pd.DataFrame({"index": responses.index[rows], "column": col,
                                              "failure_case": responses[col].to_numpy()[rows],
                                              "check": rule_message(rule, rs.min, rs.max), "_pos": rows}))
        else:
            values, _ = item_floats(responses[col])
        yield item, values
    if failures:
        cases = pd.concat(failures, ignore_index=True).sort_values(["_pos", "column"], kind="stable")
        raise DataValidationError(_format_failures(cases, responses, inst))


def score(
    responses: pd.DataFrame,
    instrument: str | Instrument,
    columns: str = "{item}",
    *,
    form: str | None = None,
    scales: list[str] | None = None,
    validate: bool = True,
) -> pd.DataFrame:
    """Score an instrument's scales for every row of ``responses``.

    Parameters
    ----------
    responses : DataFrame
        One row per respondent (and wave); item columns named by ``columns``.
        Item values are whole numbers in the response scale, or missing.
    instrument : str or Instrument
        Instrument id (``"adult_hope_scale"``) or definition.
    columns : str, default ``"{item}"``
        Column pattern; ``{item}`` is replaced by each item id (``"ahs_{item}"``).
    form : str, optional
        Instrument form (e.g. ``"4-point"`` for the Adult Hope Scale).
    scales : list of str, optional
        Scales to return (default: all).
    validate : bool, default True
        Check item values with the item rules first (those of :func:`mentor_eval.item_schema`:
        a number, a whole number, within the response scale). Only skip when the data were
        validated already (the study pipeline does).

    Returns
    -------
    DataFrame
        Aligned to ``responses.index``, with for each scale ``s``:

        ``s`` (float)
            The scale score (NaN when fewer than ``min_answered`` items were answered).
        ``s_n_answered`` (int)
            How many of the scale's items were answered.

    Raises
    ------
    DataValidationError
        Item columns missing, or values that are not whole numbers within the
        response scale (each offending cell listed: row, column, value, rule).

    Notes
    -----
    Reverse-keyed items are recoded :math:`x' = \\min + \\max - x`. Fillers are not
    scored. For a ``mean`` scale the score is :math:`\\bar x_{answered}`; for a
    ``sum`` scale it is prorated, :math:`k \\cdot \\bar x_{answered}` with :math:`k`
    the number of items of the scale, which equals the plain sum when all are
    answered. Missing-data policy: a scale is NaN when fewer than its
    ``min_answered`` items were answered (the rule is in each definition).

    Item columns may be numbers or text as read from a file (:func:`mentor_eval.io.read_file`):
    each column is converted once (distinct texts judged once). The computation is vectorised
    numpy over the whole frame (no per-row Python).

    References
    ----------
    Snyder, C. R. et al. (1991). The will and the ways. *JPSP*, 60(4), 570-585.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({f"ahs_{i}": [8, 1] for i in range(1, 13)})
    >>> score(df, "adult_hope_scale", "ahs_{item}")[["agency", "pathways", "total"]]
       agency  pathways  total
    0    32.0      32.0   64.0
    1     4.0       4.0    8.0
    """
    if not isinstance(responses, pd.DataFrame):
        raise ParameterError(
            f"The 'responses' parameter of score must be a pandas DataFrame; got {type(responses).__name__}."
        )
    inst = load_instrument(instrument, form=form)
    wanted = inst.scales if scales is None else tuple(inst.scale(s) for s in scales)
    rs = inst.response_scale
    # Each item column is converted once (text, categorical or numbers), checked on those values
    # and added to its scales' running sums with masked in-place ufuncs, then dropped: holding
    # every converted column (or a full items matrix) costs more in fresh-page faults than the
    # arithmetic.
    n = len(responses)
    # one F-ordered block per dtype: each scale's column is contiguous, and the frame below is
    # built on the two blocks without the copy a dict of columns costs
    totals = np.zeros((n, len(wanted)), order="F")
    counts = np.zeros((n, len(wanted)), dtype=np.int64, order="F")
    scales_of: dict[str, list[int]] = {}
    for j, sc in enumerate(wanted):
        for item in sc.item_ids:
            scales_of.setdefault(item, []).append(j)
    for item, col in _checked_columns(responses, inst, columns, validate):
        homes = scales_of.get(item)
        if not homes:
            continue
        ok = ~np.isnan(col)
        # never in place on ``col``: for a float64 column it is the caller's own data
        reverse = inst.item(item).reverse
        for j in homes:
            counts[:, j] += ok
            t = totals[:, j]
            if reverse:
                np.add(t, rs.min + rs.max, out=t, where=ok)
                np.subtract(t, col, out=t, where=ok)
            else:
                np.add(t, col, out=t, where=ok)
    for j, sc in enumerate(wanted):
        t, k = totals[:, j], counts[:, j]
        with np.errstate(invalid="ignore", divide="ignore"):
            t /= k
        if sc.method == "sum":
            t *= sc.n_items
        t[k < sc.min_answered] = np.nan
    ids = [sc.id for sc in wanted]
    frame = pd.concat([pd.DataFrame(totals, index=responses.index, columns=ids, copy=False),
                       pd.DataFrame(counts, index=responses.index, columns=[f"{i}_n_answered" for i in ids],
                                    copy=False)], axis=1)
    return frame[[c for i in ids for c in (i, f"{i}_n_answered")]]


def score_long(
    responses: pd.DataFrame,
    instrument: str | Instrument,
    columns: str = "{item}",
    *,
    form: str | None = None,
    id_columns: tuple[str, ...] = ("participant_id", "wave"),
    validate: bool = True,
) -> pd.DataFrame:
    """Score and return the tidy long table of the data model.

    Returns
    -------
    DataFrame
        One row per input row x scale, columns: the ``id_columns``, ``instrument``,
        ``scale``, ``score``, ``n_answered``, ``n_items``, ``prorated`` (True when a
        sum scale was scored from fewer items than it has).
    """
    check_columns("score_long", responses, id_columns, what="responses")
    inst = load_instrument(instrument, form=form)
    wide = score(responses, inst, columns, validate=validate)
    n_rows = len(responses)
    parts = []
    for sc in inst.scales:
        n_ans = wide[f"{sc.id}_n_answered"].to_numpy()
        s = wide[sc.id].to_numpy()
        part = {c: responses[c].to_numpy() for c in id_columns}
        part.update(
            instrument=np.full(n_rows, inst.id, dtype=object),
            scale=np.full(n_rows, sc.id, dtype=object),
            score=s,
            n_answered=n_ans,
            n_items=np.full(n_rows, sc.n_items, dtype=np.int64),
            prorated=(sc.method == "sum") & (n_ans < sc.n_items) & ~np.isnan(s),
        )
        parts.append(pd.DataFrame(part))
    return pd.concat(parts, ignore_index=True)
