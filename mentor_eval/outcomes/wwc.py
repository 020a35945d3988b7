"""The What Works Clearinghouse attrition boundary, as data, and its lookup.

The WWC judges a randomized study's sample loss with two numbers: overall attrition (the share
of the randomized sample missing from the analytic sample) and differential attrition (the
absolute difference, in percentage points, between the two groups' attrition rates). For every
whole percentage point of overall attrition from 0 to 65, the boundary gives the largest
differential attrition that still counts as "low" attrition, under a *cautious* and an
*optimistic* assumption about how strongly attrition is related to the outcome.

Source of the table
-------------------
What Works Clearinghouse (2020). *Standards Handbook, Version 4.1*, Table II.1 ("Highest
differential attrition for a sample to maintain low attrition, by overall attrition, under
'optimistic' and 'cautious' assumptions"). U.S. Department of Education, Institute of Education
Sciences. The handbook itself could not be consulted while writing this module; the 66 rows
below were transcribed from the CRAN R package *baselinr* (version 0.6, which states the same
source) and cross-checked against the every-ten-points rows quoted in the project's evaluation
standards (0, 10, ..., 60 and 65 percent overall; all agree). The cautious boundary stops at
57 percent overall (limit 0.0): at 58 percent or more, attrition is high whatever the
differential.

Between rows
------------
Overall attrition computed from data is rarely a whole percentage. Two policies are offered:

``"conservative"`` (default)
    Use the smaller of the two limits of the whole-percentage rows on either side
    (``floor`` and ``ceil``); a side beyond the table counts as "always high". A study is
    therefore never called "low" when the table read at either neighbouring row would call it
    "high". Near the top of the cautious boundary this means that any overall attrition above
    57 percent (e.g. 57.3) is high.
``"nearest"``
    Round overall attrition to the nearest whole percentage (halves round up) and read that
    row, as published tools that embed the table (e.g. baselinr) do.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from mentor_eval._params import check_one_of
from mentor_eval.errors import ParameterError

__all__ = [
    "WWC_ATTRITION_SOURCE",
    "attrition_boundary_table",
    "max_differential_attrition",
    "classify_attrition",
    "boundary_note",
]

WWC_ATTRITION_SOURCE = (
    "WWC Standards Handbook v4.1, Table II.1 (attrition boundary), transcribed via the R package "
    "baselinr 0.6 and checked against the every-10-point rows of the project's evaluation standards"
)

# Highest differential attrition (percentage points) still "low", indexed by overall attrition
# 0, 1, ..., 65 percent. Cautious ends at 57 percent; beyond that every study is high attrition.
_CAUTIOUS: tuple[float, ...] = (
    5.7, 5.8, 5.9, 5.9, 6.0, 6.1, 6.2, 6.3, 6.3, 6.3,  # 0-9
    6.3, 6.2, 6.2, 6.1, 6.0, 5.9, 5.9, 5.8, 5.7, 5.5,  # 10-19
    5.4, 5.3, 5.2, 5.1, 4.9, 4.8, 4.7, 4.5, 4.4, 4.3,  # 20-29
    4.1, 4.0, 3.8, 3.6, 3.5, 3.3, 3.2, 3.1, 2.9, 2.8,  # 30-39
    2.6, 2.5, 2.3, 2.1, 2.0, 1.8, 1.6, 1.5, 1.3, 1.2,  # 40-49
    1.0, 0.9, 0.7, 0.6, 0.4, 0.3, 0.2, 0.0,            # 50-57
)  # fmt: skip
_OPTIMISTIC: tuple[float, ...] = (
    10.0, 10.1, 10.2, 10.3, 10.4, 10.5, 10.7, 10.8, 10.9, 10.9,  # 0-9
    10.9, 10.9, 10.9, 10.8, 10.8, 10.7, 10.6, 10.5, 10.3, 10.2,  # 10-19
    10.0, 9.9, 9.7, 9.5, 9.4, 9.2, 9.0, 8.8, 8.6, 8.4,           # 20-29
    8.2, 8.0, 7.8, 7.6, 7.4, 7.2, 7.0, 6.7, 6.5, 6.3,            # 30-39
    6.0, 5.8, 5.6, 5.3, 5.1, 4.9, 4.6, 4.4, 4.2, 3.9,            # 40-49
    3.7, 3.5, 3.2, 3.0, 2.8, 2.6, 2.3, 2.1, 1.9, 1.6,            # 50-59
    1.4, 1.1, 0.9, 0.7, 0.5, 0.3,                                # 60-65
)  # fmt: skip

_LIMITS: dict[str, np.ndarray] = {
    # NaN marks overall attrition beyond the published boundary (always high).
    "cautious": np.array(_CAUTIOUS + (np.nan,) * (66 - len(_CAUTIOUS)), dtype=float),
    "optimistic": np.array(_OPTIMISTIC, dtype=float),
}

Boundary = Literal["cautious", "optimistic"]
Rounding = Literal["conservative", "nearest"]

# Rates computed as 100 * k / n carry floating-point noise (57 / 100 * 100 = 56.99999...);
# snapping to 1e-9 keeps a whole percentage on its own row.
_SNAP = 1e9


def attrition_boundary_table() -> pd.DataFrame:
    """Return the WWC attrition boundary (Standards Handbook v4.1, Table II.1).

    Returns
    -------
    pandas.DataFrame
        66 rows, one per whole percentage point of overall attrition:

        - ``overall_pct``: overall attrition, percent (0..65).
        - ``cautious``: highest differential attrition (percentage points) that is still low
          under the cautious assumption; missing from 58 percent on (always high).
        - ``optimistic``: the same under the optimistic assumption.

    Notes
    -----
    See the module docstring for the source and how it was checked.

    References
    ----------
    What Works Clearinghouse (2020). Standards Handbook, Version 4.1. U.S. Department of
    Education, Institute of Education Sciences.

    Examples
    --------
    >>> tab = attrition_boundary_table()
    >>> tab.loc[tab.overall_pct == 30, ["cautious", "optimistic"]].to_numpy().tolist()
    [[4.1, 8.2]]
    """
    return pd.DataFrame(
        {
            "overall_pct": np.arange(66, dtype=int),
            "cautious": _LIMITS["cautious"].copy(),
            "optimistic": _LIMITS["optimistic"].copy(),
        }
    )


def max_differential_attrition(
    overall_pct: float | np.ndarray,
    boundary: Boundary = "cautious",
    *,
    rounding: Rounding = "conservative",
) -> np.ndarray:
    """Largest differential attrition still "low" at a given overall attrition.

    Parameters
    ----------
    overall_pct : float or array-like
        Overall attrition in percent, in [0, 100] (missing values give NaN).
    boundary : {"cautious", "optimistic"}
        Which WWC boundary to read.
    rounding : {"conservative", "nearest"}
        How to read a non-whole overall attrition (see the module docstring).

    Returns
    -------
    numpy.ndarray
        Limits in percentage points, same shape as ``overall_pct``; NaN where every
        differential is high attrition (beyond the table).

    Notes
    -----
    ``"conservative"`` takes the smaller limit of the rows ``floor(x)`` and ``ceil(x)``, a row
    beyond the table counting as "always high", so the lookup never calls "low" what the table
    might call "high".

    References
    ----------
    What Works Clearinghouse (2020). Standards Handbook, Version 4.1, Table II.1.

    Examples
    --------
    >>> float(max_differential_attrition(30.0, "cautious"))
    4.1
    >>> float(max_differential_attrition(30.4, "cautious"))  # min of the 30 and 31 rows
    4.0
    """
    func = "max_differential_attrition"
    check_one_of(func, "boundary", boundary, ("cautious", "optimistic"))
    check_one_of(func, "rounding", rounding, ("conservative", "nearest"))
    x = np.round(np.asarray(overall_pct, dtype=float) * _SNAP) / _SNAP
    bad = np.isfinite(x) & ((x < 0) | (x > 100))
    if np.any(bad):
        raise ParameterError(
            f"The 'overall_pct' parameter of {func} must be a percentage in [0, 100]; "
            f"got {np.asarray(overall_pct, dtype=float)[bad].ravel()[0]!r}."
        )
    limits = _LIMITS[boundary]
    if rounding == "nearest":
        return _read(limits, np.floor(x + 0.5))
    # np.minimum propagates NaN: a neighbouring row beyond the table makes the result "always high".
    return np.minimum(_read(limits, np.floor(x)), _read(limits, np.ceil(x)))


def _read(limits: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Limit at whole-percentage rows; NaN beyond the table or for a missing input."""
    row = np.asarray(row, dtype=float)
    ok = np.isfinite(row) & (row >= 0) & (row < len(limits))
    out = np.full(row.shape, np.nan)
    out[ok] = limits[row[ok].astype(int)]
    return out


def classify_attrition(
    overall_pct: float | np.ndarray,
    differential_pct: float | np.ndarray,
    boundary: Boundary = "cautious",
    *,
    rounding: Rounding = "conservative",
) -> np.ndarray:
    """Classify attrition as "low" or "high" against the WWC boundary.

    Parameters
    ----------
    overall_pct : float or array-like
        Overall attrition, percent.
    differential_pct : float or array-like
        Differential attrition, percentage points (its absolute value is used).
    boundary : {"cautious", "optimistic"}
        Which WWC boundary to apply.
    rounding : {"conservative", "nearest"}
        How to read a non-whole overall attrition (see the module docstring).

    Returns
    -------
    numpy.ndarray of str
        ``"low"`` or ``"high"``; ``""`` where an input is missing.

    Notes
    -----
    Low attrition means ``|differential| <= limit`` (a differential exactly on the boundary is
    low, as the table gives the *highest* differential that is still low); a tolerance of
    1e-9 percentage points absorbs floating-point noise. Beyond the table, attrition is high.

    References
    ----------
    What Works Clearinghouse (2020). Standards Handbook, Version 4.1, Table II.1.

    Examples
    --------
    >>> classify_attrition(30.0, 6.0, "cautious").tolist(), classify_attrition(30.0, 6.0, "optimistic").tolist()
    (['high'], ['low'])
    """
    overall = np.atleast_1d(np.asarray(overall_pct, dtype=float))
    diff = np.abs(np.atleast_1d(np.asarray(differential_pct, dtype=float)))
    overall, diff = np.broadcast_arrays(overall, diff)
    limit = max_differential_attrition(overall, boundary, rounding=rounding)
    low = np.isfinite(limit) & (diff <= limit + 1e-9)
    out = np.where(low, "low", "high").astype(object)
    out[~(np.isfinite(overall) & np.isfinite(diff))] = ""
    return out


def boundary_note(rounding: Rounding = "conservative") -> str:
    """One sentence for reports: where the boundary comes from and how it was read."""
    if rounding == "nearest":
        how = "overall attrition rounded to the nearest whole percent (halves up) before lookup"
    else:
        how = (
            "between whole-percent rows the smaller limit of the two neighbouring rows is used, "
            "so nothing is called low that either row would call high"
        )
    return f"{WWC_ATTRITION_SOURCE}; {how}; cautious boundary: 58% or more overall is always high."
