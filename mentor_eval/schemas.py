"""Pandera schemas built from instrument definitions.

:func:`item_rule_failures` holds the item rules (a number, a whole number, within the
response scale); :func:`item_checks` wraps them as pandera checks. :func:`item_schema`
describes the item columns of one instrument with them, the study validation
(:func:`mentor_eval.validation.build_schemas`) uses the same checks, and scoring applies
the rules straight to the columns it converts (:func:`item_floats`, once per column).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mentor_eval.instruments import Instrument, load_instrument

if TYPE_CHECKING:
    import pandera.pandas as pa

__all__ = ["item_schema", "item_checks", "rule_message", "item_floats", "item_rule_failures", "check_item_column", "RULE_NUMERIC", "RULE_INTEGER",
           "RULE_RANGE"]

# Rule names shown in error reports (stable: tests and validation.json use them).
RULE_NUMERIC = "item_is_number"
RULE_INTEGER = "item_is_whole_number"
RULE_RANGE = "item_in_range"


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)


def _text_floats(texts: pd.Series | pd.Index) -> np.ndarray:
    return pd.to_numeric(pd.Series(texts, dtype=object), errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def item_floats(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Convert one item column to numbers, once.

    Parameters
    ----------
    s : Series
        Numbers, text (as read from a file) or a ``Categorical`` of text.

    Returns
    -------
    values : ndarray of float
        The numbers; NaN for missing cells and for text that is not a number.
    not_number : ndarray of bool
        Cells that hold text which is not a number (the ``item_is_number`` failures).

    Notes
    -----
    Each distinct text is judged once (categories, or the distinct texts of the column), and a
    column of text that is all numbers is converted by pyarrow in one pass; so the cost is one
    pass over the column whatever its type. A text is a number when ``pandas.to_numeric``
    accepts it.
    """
    if _is_numeric(s):
        # no copy for float64 columns (the converted frames validation builds)
        v = s.to_numpy() if s.dtype == np.float64 else s.to_numpy(dtype=float, na_value=np.nan)
        return v, np.zeros(len(v), dtype=bool)
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes = s.cat.codes.to_numpy()
        cat_v = np.append(_text_floats(s.cat.categories), np.nan)
        cat_bad = np.append(np.isnan(cat_v[:-1]), False)
        return cat_v[codes], cat_bad[codes]
    arrow = getattr(s.array, "__arrow_array__", None)
    if arrow is not None:
        import pyarrow as pa
        import pyarrow.compute as pc

        try:
            v = pc.cast(arrow(), pa.float64()).to_numpy(zero_copy_only=False)
            return np.asarray(v, dtype=float), np.zeros(len(s), dtype=bool)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError):
            pass  # some text is not a number: judge each distinct text below
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    u_v = np.append(_text_floats(uniques), np.nan)
    u_bad = np.append(np.isnan(u_v[:-1]), False)
    return u_v[codes], u_bad[codes]


def item_rule_failures(values: np.ndarray, not_number: np.ndarray, lo: float, hi: float) -> dict[str, np.ndarray]:
    """The item rules, in one place: the cells of one item column that break each rule.

    Parameters
    ----------
    values, not_number : ndarray
        From :func:`item_floats` (or codes already mapped from labels, with ``not_number``
        the cells that matched neither a number nor a label).
    lo, hi : number
        The response scale.

    Returns
    -------
    dict
        Rule name -> boolean mask of failing cells: ``item_is_number`` (text that is not a
        number), ``item_is_whole_number`` (a fraction), ``item_in_range`` (outside ``lo``-``hi``).
        Missing cells pass every rule (an item may be skipped; ``min_answered`` decides at scoring).
    """
    # NaN compares False everywhere, so missing cells pass without a mask of their own.
    return {
        RULE_NUMERIC: not_number,
        RULE_INTEGER: _fraction(values),
        RULE_RANGE: (values < lo) | (values > hi),
    }


def _fraction(values: np.ndarray) -> np.ndarray:
    # x != floor(x) is True for NaN too; exclude missing cells
    frac = np.floor(values)
    np.not_equal(frac, values, out=frac)  # reuse the buffer as 0.0/1.0 flags
    return frac.astype(bool) & ~np.isnan(values)


def check_item_column(s: pd.Series, lo: float, hi: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Convert one item column once and apply the item rules.

    Returns
    -------
    values : ndarray of float
        As :func:`item_floats`.
    failures : dict
        Rule name -> positions (0-based) of the failing cells, only for rules that fail.

    Notes
    -----
    For text and categorical columns the rules are judged on the distinct texts and mapped
    back to the cells, so checking costs about one pass over the column.
    """
    codes = None
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes = s.cat.codes.to_numpy()
        u_v = np.append(_text_floats(s.cat.categories), np.nan)
        u_bad = np.append(np.isnan(u_v[:-1]), False)
    elif not _is_numeric(s) and not getattr(s.array, "__arrow_array__", None):
        codes, uniques = pd.factorize(s, use_na_sentinel=True)
        u_v = np.append(_text_floats(uniques), np.nan)
        u_bad = np.append(np.isnan(u_v[:-1]), False)
    if codes is not None:
        failures = {}
        for rule, bad in item_rule_failures(u_v, u_bad, lo, hi).items():
            if bad.any():
                failures[rule] = np.flatnonzero(bad[codes])
        return u_v[codes], failures
    values, not_number = item_floats(s)
    return values, {rule: np.flatnonzero(bad) for rule, bad in
                    item_rule_failures(values, not_number, lo, hi).items() if bad.any()}


def _integer_valued(s: pd.Series) -> pd.Series:
    if pd.api.types.is_integer_dtype(s.dtype):
        return pd.Series(True, index=s.index)
    v, bad = item_floats(s)
    return pd.Series(~item_rule_failures(v, bad, -np.inf, np.inf)[RULE_INTEGER], index=s.index)


def _in_range(lo: int, hi: int):
    def check(s: pd.Series) -> pd.Series:
        v, bad = item_floats(s)
        return pd.Series(~item_rule_failures(v, bad, lo, hi)[RULE_RANGE], index=s.index)

    return check


# Every check passes missing values itself (nullable items), so pandera's NA filtering
# (ignore_na=True) is skipped: it costs more than the checks.
def _numeric(s: pd.Series) -> pd.Series:
    if _is_numeric(s):
        return pd.Series(True, index=s.index)
    _, bad = item_floats(s)
    return pd.Series(~bad, index=s.index)


def rule_message(rule: str, lo: float, hi: float) -> str:
    """What an item rule asks for, in words (shown beside each failing cell)."""
    return {RULE_NUMERIC: "must be a number", RULE_INTEGER: "must be a whole number",
            RULE_RANGE: f"must be between {lo:g} and {hi:g}"}[rule]


def item_checks(lo: float, hi: float, *, numeric: bool = True, described: bool = True) -> list[pa.Check]:
    """The pandera checks of one item column (the rules of :func:`item_rule_failures`).

    ``numeric=False`` leaves out ``item_is_number`` for frames whose items are already numbers
    (the study validation maps text and labels to codes first and reports text itself).
    ``described=False`` leaves pandera's failure cases named by rule instead of by its words.
    """
    import pandera.pandas as pa  # imported on use: scoring needs the rules, not pandera

    fns = {RULE_NUMERIC: _numeric, RULE_INTEGER: _integer_valued, RULE_RANGE: _in_range(lo, hi)}
    if not numeric:
        del fns[RULE_NUMERIC]
    return [pa.Check(fn, name=rule, ignore_na=False, **({"error": rule_message(rule, lo, hi)} if described else {}))
            for rule, fn in fns.items()]


def item_schema(
    instrument: str | Instrument,
    columns: str = "{item}",
    *,
    form: str | None = None,
    include_fillers: bool = False,
    required: bool = True,
    name: str | None = None,
) -> pa.DataFrameSchema:
    """Build the pandera schema of an instrument's item columns.

    Parameters
    ----------
    instrument : str or Instrument
        Instrument id or definition.
    columns : str
        Column pattern with ``{item}`` (e.g. ``"ahs_{item}"``).
    form : str, optional
        Instrument form (response scale variant).
    include_fillers : bool
        Also describe filler items (administered but not scored). Fillers are
        optional columns even when ``required`` is true.
    required : bool
        Whether scored item columns must be present.
    name : str, optional
        Schema name (default: the instrument id).

    Returns
    -------
    pandera.pandas.DataFrameSchema
        One :class:`pandera.pandas.Column` per item, nullable, with three checks named
        ``item_is_number``, ``item_is_whole_number`` and ``item_in_range``. Other
        columns are allowed (``strict=False``); dtypes are not coerced.

    Notes
    -----
    Missing answers are allowed here; whether a scale can be scored is decided by its
    ``min_answered`` rule at scoring. Values are never coerced: text, fractions and
    out-of-range codes are failures to report, not to repair.

    Examples
    --------
    >>> import pandas as pd
    >>> schema = item_schema("childrens_hope_scale", "chs_{item}")
    >>> df = pd.DataFrame({f"chs_{i}": pd.array([1, 6, None], dtype="Int64") for i in range(1, 7)})
    >>> schema.validate(df).shape
    (3, 6)
    """
    import pandera.pandas as pa

    inst = load_instrument(instrument, form=form)
    rs = inst.response_scale
    scored = set(inst.scored_item_ids)
    cols: dict[str, pa.Column] = {}
    for item_id, col in inst.column_names(columns).items():
        if item_id not in scored and not include_fillers:
            continue
        cols[col] = pa.Column(
            checks=item_checks(rs.min, rs.max),
            nullable=True,
            required=required and item_id in scored,
            coerce=False,
            title=f"{inst.id} item {item_id}",
        )
    return pa.DataFrameSchema(cols, strict=False, name=name or inst.id)
