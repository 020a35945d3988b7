"""Pandera schemas built from instrument definitions.

:func:`item_schema` describes the item columns of one instrument: each column is
nullable, numeric, integer-valued and within the response scale. Scoring uses it,
and the study validation combines the schemas of a study's instruments.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa

from mentor_eval.instruments import Instrument, load_instrument

__all__ = ["item_schema", "RULE_NUMERIC", "RULE_INTEGER", "RULE_RANGE"]

# Rule names shown in error reports (stable: tests and validation.json use them).
RULE_NUMERIC = "item_is_number"
RULE_INTEGER = "item_is_whole_number"
RULE_RANGE = "item_in_range"


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)


def _as_float(s: pd.Series) -> np.ndarray:
    # Text cells that are not numbers become NaN here so that they fail only the
    # item_is_number rule, not every rule at once.
    if _is_numeric(s):
        return s.to_numpy(dtype=float, na_value=np.nan)
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _integer_valued(s: pd.Series) -> pd.Series:
    # NaN passes here: missingness is allowed (nullable) and judged by min_answered at scoring.
    if pd.api.types.is_integer_dtype(s.dtype):
        return pd.Series(True, index=s.index)
    v = _as_float(s)
    return pd.Series(np.isnan(v) | (v == np.round(v)), index=s.index)


def _in_range(lo: int, hi: int):
    def check(s: pd.Series) -> pd.Series:
        v = _as_float(s)
        return pd.Series(np.isnan(v) | ((v >= lo) & (v <= hi)), index=s.index)

    return check


# Every check passes missing values itself (nullable items), so pandera's NA filtering
# (ignore_na=True) is skipped: it costs more than the checks.
def _numeric(s: pd.Series) -> pd.Series:
    if _is_numeric(s):
        return pd.Series(True, index=s.index)
    # Report each non-numeric cell (text in a numeric item), not just the column.
    coerced = pd.to_numeric(s, errors="coerce")
    return pd.Series(s.isna().to_numpy() | coerced.notna().to_numpy(), index=s.index)


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
    inst = load_instrument(instrument, form=form)
    rs = inst.response_scale
    scored = set(inst.scored_item_ids)
    cols: dict[str, pa.Column] = {}
    for item_id, col in inst.column_names(columns).items():
        if item_id not in scored and not include_fillers:
            continue
        cols[col] = pa.Column(
            checks=[
                pa.Check(_numeric, name=RULE_NUMERIC, error="must be a number",
                         ignore_na=False),
                pa.Check(_integer_valued, name=RULE_INTEGER, error="must be a whole number",
                         ignore_na=False),
                pa.Check(_in_range(rs.min, rs.max), name=RULE_RANGE,
                         error=f"must be between {rs.min} and {rs.max}", ignore_na=False),
            ],
            nullable=True,
            required=required and item_id in scored,
            coerce=False,
            title=f"{inst.id} item {item_id}",
        )
    return pa.DataFrameSchema(cols, strict=False, name=name or inst.id)
