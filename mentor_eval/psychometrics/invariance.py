"""Measurement invariance across groups: configural, metric, scalar (and strict) CFA models."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from mentor_eval._params import check_in_interval, check_one_of
from mentor_eval.errors import ParameterError
from mentor_eval.psychometrics.cfa import cfa

__all__ = ["invariance", "LEVELS", "CHEN_DELTA_CFI", "CHEN_DELTA_RMSEA"]

_FUNC = "invariance"
#: level -> parameters held equal across groups (lavaan's group.equal)
LEVELS: dict[str, tuple[str, ...]] = {
    "configural": (),
    "metric": ("loadings",),
    "scalar": ("loadings", "intercepts"),
    "strict": ("loadings", "intercepts", "residuals"),
}
#: Chen (2007): a drop in CFI of at least .010 ...
CHEN_DELTA_CFI = -0.010
#: ... together with a rise in RMSEA of at least .015 signals non-invariance.
CHEN_DELTA_RMSEA = 0.015


def invariance(
    data: pd.DataFrame,
    model: str | Mapping[str, Sequence[str]],
    group: str,
    levels: Sequence[str] = ("configural", "metric", "scalar"),
    *,
    std_lv: bool = False,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Test measurement invariance of a CFA model across groups, one nested model per level.

    Parameters
    ----------
    data : DataFrame
        One row per respondent with the item columns and the ``group`` column.
    model : dict or str
        The factor model, as for :func:`mentor_eval.psychometrics.cfa`.
    group : str
        Column defining the groups (e.g. ``"arm"`` or ``"wave"``); groups are ordered by
        first appearance, as lavaan.
    levels : sequence of str, default ("configural", "metric", "scalar")
        Increasingly constrained models, in order: ``configural`` (same pattern),
        ``metric`` (equal loadings), ``scalar`` (equal loadings and intercepts; latent means
        free in all groups but the first), ``strict`` (also equal residual variances).
    std_lv : bool, default False
        Identification as in :func:`cfa` (marker variable by default).
    alpha : float, default 0.05
        Significance level of the chi-square difference test.

    Returns
    -------
    DataFrame, one row per level:
        ``level``; ``chisq``, ``df``, ``p``, ``cfi``, ``tli``, ``rmsea``,
        ``rmsea_ci_low``, ``rmsea_ci_high``, ``srmr``, ``npar``, ``n`` of that model;
        ``chisq_diff``, ``df_diff``, ``p_diff`` -- the chi-square difference (likelihood
        ratio) test against the previous level (NaN on the first row); ``delta_cfi``,
        ``delta_rmsea``, ``delta_srmr`` -- change from the previous level;
        ``chen_noninvariant`` (bool: Chen's rule signals non-invariance);
        ``chisq_diff_significant`` (bool: ``p_diff < alpha``); ``verdict`` in plain words.

    Notes
    -----
    Each model is fitted by :func:`cfa` with ``group`` and the ``group_equal`` set of its
    level (lavaan's ``group.equal``). The chi-square difference test is the standard one of
    ``lavTestLRT``: :math:`\\Delta\\chi^2 = \\chi^2_{restricted} - \\chi^2_{previous}` on
    :math:`\\Delta df` degrees of freedom.

    Decision rule (Chen, 2007, for total N above about 300 with equal group sizes): a level
    is flagged as not invariant when CFI drops by at least .010 (``delta_cfi <= -0.010``)
    **together with** RMSEA rising by at least .015 (``delta_rmsea >= 0.015``). The verdict
    is ``"baseline (configural model)"`` on the first row; otherwise ``"not supported"``
    when Chen's rule flags the level, ``"uncertain: ..."`` when only one of its two
    criteria is met (the text says which), ``"holds (fit indices stable; chi-square
    difference significant)"`` when only the chi-square difference test (sensitive to large
    samples) rejects, and ``"holds"`` when nothing objects. The configural model's own fit
    (CFI, RMSEA, SRMR) should be judged before reading the rest.
    Missing data: listwise deletion, as :func:`cfa`; every level uses the same rows.

    References
    ----------
    Chen, F. F. (2007). Sensitivity of goodness of fit indexes to lack of measurement
    invariance. Structural Equation Modeling, 14(3), 464-504.
    Meredith, W. (1993). Measurement invariance, factor analysis and factorial invariance.
    Psychometrika, 58, 525-543.

    Examples
    --------
    >>> invariance(df, "visual =~ x1 + x2 + x3", group="school")  # doctest: +SKIP
    """
    check_in_interval(_FUNC, "alpha", alpha, 0, 1)
    if isinstance(levels, str):
        levels = (levels,)
    levels = tuple(levels)
    if not levels:
        raise ParameterError("The 'levels' parameter of invariance must name at least one level.")
    for lv in levels:
        check_one_of(_FUNC, "levels", lv, tuple(LEVELS))
    order = [list(LEVELS).index(lv) for lv in levels]
    if order != sorted(order) or len(set(order)) != len(order):
        raise ParameterError(
            "The 'levels' parameter of invariance must list distinct levels from least to most constrained "
            f"(configural, metric, scalar, strict); got {list(levels)!r}."
        )
    rows = []
    for lv in levels:
        res = cfa(data, model, group=group, group_equal=LEVELS[lv], std_lv=std_lv)
        f = res.fit.iloc[0]
        rows.append({
            "level": lv,
            **{c: f[c] for c in ("chisq", "df", "p", "cfi", "tli", "rmsea", "rmsea_ci_low",
                                 "rmsea_ci_high", "srmr", "npar", "n")},
        })
    out = pd.DataFrame(rows)
    out["chisq_diff"] = out["chisq"].diff()
    out["df_diff"] = out["df"].diff()
    out["p_diff"] = stats.chi2.sf(out["chisq_diff"], out["df_diff"])
    out.loc[out.index[0], "p_diff"] = np.nan
    out["delta_cfi"] = out["cfi"].diff()
    out["delta_rmsea"] = out["rmsea"].diff()
    out["delta_srmr"] = out["srmr"].diff()
    cfi_drop = (out["delta_cfi"] <= CHEN_DELTA_CFI).to_numpy()
    rmsea_rise = (out["delta_rmsea"] >= CHEN_DELTA_RMSEA).to_numpy()
    chen = cfi_drop & rmsea_rise
    sig = (out["p_diff"] < alpha).to_numpy()
    out["chen_noninvariant"] = chen
    out["chisq_diff_significant"] = sig
    verdict = np.select(
        [chen, cfi_drop, rmsea_rise, sig],
        [
            "not supported",
            "uncertain: CFI drops by .010 or more but RMSEA rises by less than .015",
            "uncertain: RMSEA rises by .015 or more but CFI drops by less than .010",
            "holds (fit indices stable; chi-square difference significant)",
        ],
        default="holds",
    ).astype(object)
    verdict[0] = "baseline (configural model)" if levels[0] == "configural" else "baseline (first level)"
    out["verdict"] = verdict
    out["df_diff"] = out["df_diff"].astype("Int64")
    return out
