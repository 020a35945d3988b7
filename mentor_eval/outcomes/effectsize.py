"""Standardized mean differences with confidence intervals.

Independent groups: Cohen's *d* (pooled SD) and Hedges' *g* (exact small-sample correction).
Paired / pre-post data: *d_z* and *g_z* (SD of the differences), *d_av* and *g_av* (average of the
two variances, Cumming 2012). Confidence intervals come from inverting the noncentral *t*
distribution (exact for *d*, *g*, *d_z*, *g_z*; an Algina–Keselman approximation for *d_av*,
*g_av*).

The vectorised workers :func:`effect_size_from_stats` and :func:`paired_effect_size_from_stats`
take summary statistics (arrays) so that grouped analyses need no Python loop per group.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import special, stats

from mentor_eval._params import check_in_interval, check_one_of, renamed_parameters
from mentor_eval.errors import AnalysisError, ParameterError
from mentor_eval.outcomes.results import table_result

__all__ = [
    "effect_size",
    "effect_size_from_stats",
    "paired_effect_size_from_stats",
    "hedges_j",
    "noncentral_t_ci",
    "INDEPENDENT_KINDS",
    "PAIRED_KINDS",
]

INDEPENDENT_KINDS = ("d", "g")
PAIRED_KINDS = ("d_z", "g_z", "d_av", "g_av")

CI_NCT_EXACT = "nct-exact"
CI_NCT_EXACT_J = "nct-exact, scaled by J"
CI_NCT_AKP = "nct-approx (Algina-Keselman-Penfield)"
CI_NORMAL_AK = "normal (Algina-Keselman SE)"


def hedges_j(df: float | np.ndarray) -> float | np.ndarray:
    """Exact small-sample bias correction of Hedges (1981).

    ``J(df) = Gamma(df/2) / (sqrt(df/2) * Gamma((df-1)/2))``; ``1 - 3/(4 df - 1)`` is its
    usual approximation. NaN where ``df <= 1``.
    """
    dfa = np.asarray(df, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.exp(special.gammaln(dfa / 2) - special.gammaln((dfa - 1) / 2)) / np.sqrt(dfa / 2)
    out = np.where(dfa > 1, out, np.nan)
    return out if out.ndim else float(out)


def _solve_ncp(t: np.ndarray, df: np.ndarray, target: float) -> np.ndarray:
    """Noncentrality ``ncp`` with ``P(T <= t | df, ncp) = target``, vectorised bisection.

    The noncentral t cdf decreases monotonically in ``ncp``, so a bracket is widened until it
    holds the root and then halved; 200 halvings of a finite bracket reach machine precision.
    """
    ok = np.isfinite(t) & np.isfinite(df) & (df > 0)
    out = np.full(t.shape, np.nan)
    if not ok.any():
        return out
    tt, dd = t[ok], df[ok]

    def f(ncp: np.ndarray) -> np.ndarray:
        return stats.nct.cdf(tt, dd, ncp) - target

    width = 10.0 + np.abs(tt)
    lo, hi = tt - width, tt + width
    for _ in range(60):
        need_lo = f(lo) < 0  # cdf too small -> ncp too large, go lower
        need_hi = f(hi) > 0
        if not (need_lo.any() or need_hi.any()):
            break
        lo = np.where(need_lo, lo - 2 * width, lo)
        hi = np.where(need_hi, hi + 2 * width, hi)
        width = width * 2
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        fm = f(mid)
        go_right = fm > 0
        lo = np.where(go_right, mid, lo)
        hi = np.where(go_right, hi, mid)
        if np.all(hi - lo <= 1e-13 * np.maximum(1.0, np.abs(mid))):
            break
    out[ok] = 0.5 * (lo + hi)
    return out


@renamed_parameters({"ci": "ci_level"})
def noncentral_t_ci(t, df, ci_level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Confidence limits for the noncentrality parameter of a *t* statistic.

    Parameters
    ----------
    t : float or array-like
        Observed *t* statistic(s).
    df : float or array-like
        Degrees of freedom.
    ci_level : float
        Confidence level in (0, 1).

    Returns
    -------
    (lower, upper) : tuple of numpy.ndarray
        ``lower`` solves ``P(T <= t | ncp) = 1 - alpha/2`` and ``upper`` solves
        ``P(T <= t | ncp) = alpha/2`` (Steiger & Fouladi 1997).
    """
    level = check_in_interval("noncentral_t_ci", "ci_level", ci_level, 0, 1)
    t_arr, df_arr = np.broadcast_arrays(np.asarray(t, dtype=float), np.asarray(df, dtype=float))
    t_arr, df_arr = np.atleast_1d(t_arr).astype(float), np.atleast_1d(df_arr).astype(float)
    alpha = 1 - level
    return _solve_ncp(t_arr, df_arr, 1 - alpha / 2), _solve_ncp(t_arr, df_arr, alpha / 2)


@renamed_parameters({"ci": "ci_level"})
def effect_size_from_stats(
    mean1,
    sd1,
    n1,
    mean2,
    sd2,
    n2,
    *,
    kind: str = "g",
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Cohen's *d* or Hedges' *g* for two independent groups from summary statistics.

    Vectorised: every argument may be an array (one element per comparison).

    Parameters
    ----------
    mean1, sd1, n1 : float or array-like
        Mean, standard deviation (n-1 denominator) and size of group 1.
    mean2, sd2, n2 : float or array-like
        The same for group 2. The difference is group 1 minus group 2.
    kind : {"d", "g"}
        Cohen's *d* or Hedges' *g*.
    ci_level : float
        Confidence level.

    Returns
    -------
    pandas.DataFrame
        One row per comparison; columns as in :func:`effect_size`. Comparisons that cannot be
        computed (a group below 2, zero pooled SD) get NaN rather than an error.

    Notes
    -----
    See :func:`effect_size` for the formulas.
    """
    check_one_of("effect_size_from_stats", "kind", kind, INDEPENDENT_KINDS)
    level = check_in_interval("effect_size_from_stats", "ci_level", ci_level, 0, 1)
    m1, s1, k1, m2, s2, k2 = np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(v, dtype=float)) for v in (mean1, sd1, n1, mean2, sd2, n2))
    )
    df = k1 + k2 - 2
    with np.errstate(invalid="ignore", divide="ignore"):
        sp = np.sqrt(((k1 - 1) * s1**2 + (k2 - 1) * s2**2) / df)
        valid = (k1 >= 2) & (k2 >= 2) & (sp > 0)
        diff = m1 - m2
        d = np.where(valid, diff / sp, np.nan)
        scale = np.sqrt(k1 * k2 / (k1 + k2))
        t = d * scale
        lo, hi = noncentral_t_ci(t, df, level)
        d_lo, d_hi = lo / scale, hi / scale
        se = np.sqrt((k1 + k2) / (k1 * k2) + d**2 / (2 * (k1 + k2)))
        p = 2 * stats.t.sf(np.abs(t), df)
        if kind == "g":
            j = hedges_j(df)
            est, se, d_lo, d_hi = j * d, j * se, j * d_lo, j * d_hi
            method = CI_NCT_EXACT_J
        else:
            est, method = d, CI_NCT_EXACT
    return pd.DataFrame(
        {
            "kind": kind,
            "estimate": est,
            "se": se,
            "ci_low": d_lo,
            "ci_high": d_hi,
            "ci_level": level,
            "ci_method": method,
            "t": t,
            "df": df,
            "p": p,
            "n": k1 + k2,
            "n1": k1,
            "n2": k2,
            "mean_diff": diff,
            "standardizer": sp,
        }
    )


@renamed_parameters({"ci": "ci_level"})
def paired_effect_size_from_stats(
    mean_diff,
    sd_diff,
    n,
    sd1=None,
    sd2=None,
    *,
    kind: str = "d_z",
    ci_level: float = 0.95,
    ci_method: str = "nct",
) -> pd.DataFrame:
    """Paired standardized mean differences from summary statistics (vectorised).

    Parameters
    ----------
    mean_diff, sd_diff : float or array-like
        Mean and SD (n-1 denominator) of the paired differences ``x - y``.
    n : float or array-like
        Number of complete pairs.
    sd1, sd2 : float or array-like, optional
        SDs of ``x`` and ``y`` over the same pairs; required for ``d_av`` and ``g_av``.
    kind : {"d_z", "g_z", "d_av", "g_av"}
    ci_level : float
        Confidence level.
    ci_method : {"nct", "normal"}
        For ``d_av``/``g_av`` only: noncentral-t approximation (default) or the normal interval
        ``d ± z·SE`` that R's ``effectsize::repeated_measures_d(method = "av")`` reports.

    Returns
    -------
    pandas.DataFrame
        One row per element; columns as in :func:`effect_size`. Non-computable elements
        (``n < 2``, zero SD) are NaN.
    """
    check_one_of("paired_effect_size_from_stats", "kind", kind, PAIRED_KINDS)
    check_one_of("paired_effect_size_from_stats", "ci_method", ci_method, ("nct", "normal"))
    level = check_in_interval("paired_effect_size_from_stats", "ci_level", ci_level, 0, 1)
    if kind in ("d_av", "g_av") and (sd1 is None or sd2 is None):
        raise ParameterError(f"Effect size kind {kind!r} needs the SDs of both measurements (sd1, sd2).")
    arrays = [mean_diff, sd_diff, n] + ([sd1, sd2] if sd1 is not None and sd2 is not None else [np.nan, np.nan])
    md, sdd, k, s1, s2 = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, dtype=float)) for v in arrays))
    df = k - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where((k >= 2) & (sdd > 0), md / sdd * np.sqrt(k), np.nan)
        p = 2 * stats.t.sf(np.abs(t), df)
        lo, hi = noncentral_t_ci(t, df, level)
        j = hedges_j(df)
        if kind in ("d_z", "g_z"):
            stdz = sdd
            d = t / np.sqrt(k)
            se = np.sqrt(1 / k + d**2 / (2 * k))
            d_lo, d_hi = lo / np.sqrt(k), hi / np.sqrt(k)
            method = CI_NCT_EXACT if kind == "d_z" else CI_NCT_EXACT_J
        else:
            stdz = np.sqrt((s1**2 + s2**2) / 2)
            d = np.where(stdz > 0, md / stdz, np.nan)
            # SE of Algina & Keselman (2003, eq. 4): the ratio s_diff / s_av is treated as fixed
            ratio = sdd / (np.sqrt(k) * stdz)
            se = ratio
            if ci_method == "nct":
                d_lo, d_hi = lo * ratio, hi * ratio
                method = CI_NCT_AKP
            else:
                z = stats.norm.ppf(0.5 + level / 2)
                d_lo, d_hi = d - z * se, d + z * se
                method = CI_NORMAL_AK
        if kind.startswith("g"):
            d, se, d_lo, d_hi = j * d, j * se, j * d_lo, j * d_hi
    return pd.DataFrame(
        {
            "kind": kind,
            "estimate": d,
            "se": se,
            "ci_low": d_lo,
            "ci_high": d_hi,
            "ci_level": level,
            "ci_method": method,
            "t": t,
            "df": df,
            "p": p,
            "n": k,
            "mean_diff": md,
            "standardizer": stdz,
        }
    )


def _as_float_array(name: str, values) -> np.ndarray:
    if isinstance(values, (str, bytes)) or values is None:
        raise ParameterError(f"The '{name}' parameter of effect_size must be a sequence of numbers; got {values!r}.")
    try:
        arr = np.asarray(pd.to_numeric(pd.Series(np.asarray(values, dtype=object).ravel()), errors="raise"),
                         dtype=float)
    except (TypeError, ValueError) as exc:
        raise ParameterError(
            f"The '{name}' parameter of effect_size must hold numbers only; {exc}."
        ) from None
    return arr


@renamed_parameters({"ci": "ci_level"})
def effect_size(
    x,
    y=None,
    *,
    paired: bool = False,
    kind: str | Sequence[str] | None = None,
    ci_level: float = 0.95,
    ci_method: str = "nct",
) -> pd.DataFrame:
    """Standardized mean difference(s) of ``x`` minus ``y`` with confidence intervals.

    Parameters
    ----------
    x, y : array-like of numbers
        The two samples. With ``paired=True`` they are the two measurements of the same units in
        the same order (e.g. ``x`` = post, ``y`` = pre). With ``y=None``, ``x`` holds difference
        scores (or a one-sample deviation from 0) and only ``d_z``/``g_z`` are available.
    paired : bool
        Whether ``x`` and ``y`` are paired.
    kind : str or sequence of str, optional
        Independent groups: ``"d"`` (Cohen), ``"g"`` (Hedges). Paired: ``"d_z"``, ``"g_z"``,
        ``"d_av"``, ``"g_av"``. Default: ``("d", "g")`` for independent groups,
        ``("d_z", "g_z", "d_av", "g_av")`` for paired data, ``("d_z", "g_z")`` when ``y`` is None.
    ci_level : float
        Confidence level, in (0, 1).
    ci_method : {"nct", "normal"}
        Interval for ``d_av``/``g_av`` (see Notes); ignored by the other kinds, whose interval is
        always the exact noncentral-t one.

    Returns
    -------
    pandas.DataFrame
        One row per kind with columns

        - ``kind``: the effect size.
        - ``estimate``: its value (positive when ``x`` is larger).
        - ``se``: large-sample standard error (see Notes); for information, the CI does not use it
          except with ``ci_method="normal"``.
        - ``ci_low``, ``ci_high``, ``ci_level``: confidence interval and its level.
        - ``ci_method``: ``"nct-exact"``, ``"nct-exact, scaled by J"``,
          ``"nct-approx (Algina-Keselman-Penfield)"`` or ``"normal (Algina-Keselman SE)"``.
        - ``t``, ``df``, ``p``: Student (pooled-variance) or paired *t* test of a zero difference.
        - ``n``: observations used (pairs when paired); ``n1``, ``n2``: group sizes
          (independent groups only); ``n_missing``: values (or pairs) dropped as missing.
        - ``mean_diff``: mean difference; ``standardizer``: the SD it was divided by.

    Notes
    -----
    Independent groups, :math:`s_p^2 = ((n_1-1)s_1^2 + (n_2-1)s_2^2)/(n_1+n_2-2)`:
    :math:`d = (\\bar x - \\bar y)/s_p`, :math:`g = J(n_1+n_2-2)\\,d` with the exact correction
    :math:`J(\\nu) = \\Gamma(\\nu/2)/(\\sqrt{\\nu/2}\\,\\Gamma((\\nu-1)/2))`. The CI inverts the
    noncentral *t* distribution at :math:`t = d\\sqrt{n_1 n_2/(n_1+n_2)}` with
    :math:`\\nu = n_1+n_2-2` and divides the noncentrality limits by the same factor; the *g*
    limits are those of *d* times *J* (as R ``effectsize::hedges_g`` and MBESS do).
    SE: :math:`\\sqrt{(n_1+n_2)/(n_1 n_2) + d^2/(2(n_1+n_2))}` (Hedges & Olkin 1985), times *J* for *g*.

    Paired, :math:`D = x - y`: :math:`d_z = \\bar D / s_D`, CI from the noncentral *t* at
    :math:`t = d_z\\sqrt n`, :math:`\\nu = n-1` (exact); SE :math:`\\sqrt{1/n + d_z^2/(2n)}`.
    :math:`g_z = J(n-1)\\,d_z`.
    :math:`d_{av} = \\bar D / s_{av}` with :math:`s_{av} = \\sqrt{(s_x^2 + s_y^2)/2}` (Cumming 2012;
    R ``effectsize``; note Lakens 2013 instead averages the two SDs, which gives a slightly larger
    value) and :math:`g_{av} = J(n-1)\\,d_{av}`. Its exact sampling distribution is not a
    noncentral *t*; the default interval (Algina & Keselman 2003; Algina, Keselman & Penfield 2005)
    takes the noncentrality limits of the paired *t* and multiplies them by
    :math:`s_D/(\\sqrt n\\,s_{av})`, i.e. treats that ratio as known. ``ci_method="normal"`` gives
    :math:`d_{av} \\pm z\\,s_D/(\\sqrt n\\,s_{av})`, the interval of R ``effectsize`` 0.8.x; for
    ``g_av`` both are multiplied by *J*.

    Missing data: NaN values are dropped — per group for independent samples, pairwise
    (the whole pair) for paired samples — and counted in ``n_missing``.

    References
    ----------
    Hedges, L. V. (1981). J. Educational Statistics 6, 107–128.
    Hedges, L. V. & Olkin, I. (1985). Statistical Methods for Meta-Analysis. Academic Press.
    Steiger, J. H. & Fouladi, R. T. (1997). Noncentrality interval estimation. In *What if there
    were no significance tests?* Erlbaum.
    Algina, J. & Keselman, H. J. (2003). Educ. Psychol. Meas. 63, 537–553.
    Algina, J., Keselman, H. J. & Penfield, R. D. (2005). Educ. Psychol. Meas. 65, 241–258.
    Cumming, G. (2012). Understanding the New Statistics. Routledge.
    Lakens, D. (2013). Front. Psychol. 4, 863.

    Examples
    --------
    >>> res = effect_size([5, 6, 7, 8], [3, 4, 5, 6], kind="d")
    >>> round(float(res["estimate"].iloc[0]), 4)
    1.5492
    """
    func = "effect_size"
    check_one_of(func, "ci_method", ci_method, ("nct", "normal"))
    level = check_in_interval(func, "ci_level", ci_level, 0, 1)
    one_sample = y is None
    is_paired = bool(paired) or one_sample
    allowed = ("d_z", "g_z") if one_sample else (PAIRED_KINDS if is_paired else INDEPENDENT_KINDS)
    if kind is None:
        kinds = list(allowed)
    elif isinstance(kind, str):
        kinds = [kind]
    else:
        kinds = list(kind)
    for k in kinds:
        if k not in allowed:
            design = "one sample of differences" if one_sample else ("paired" if is_paired else "independent")
            raise ParameterError(
                f"The 'kind' parameter of effect_size must be one of {', '.join(map(repr, allowed))} "
                f"for {design} data; got {k!r}."
            )

    xa = _as_float_array("x", x)
    if one_sample:
        keep = ~np.isnan(xa)
        diff = xa[keep]
        n_missing = int((~keep).sum())
        n = diff.size
        if n < 2:
            raise AnalysisError(f"effect_size needs at least 2 non-missing values; got {n}.")
        sdd = diff.std(ddof=1)
        if sdd == 0:
            raise AnalysisError("effect_size cannot standardize: the difference scores do not vary (SD = 0).")
        frames = [
            paired_effect_size_from_stats(diff.mean(), sdd, n, kind=k, ci_level=level) for k in kinds
        ]
        out = pd.concat(frames, ignore_index=True)
        out["n_missing"] = n_missing
        return table_result(out, title="Standardized effect size",
                                method=f"{out['kind'].iloc[0]}, {out['ci_method'].iloc[0]} interval")

    ya = _as_float_array("y", y)
    if is_paired:
        if xa.size != ya.size:
            raise ParameterError(
                f"Paired effect sizes need x and y of the same length; got {xa.size} and {ya.size}."
            )
        keep = ~(np.isnan(xa) | np.isnan(ya))
        xs, ys = xa[keep], ya[keep]
        n = xs.size
        if n < 2:
            raise AnalysisError(f"effect_size needs at least 2 complete pairs; got {n}.")
        diff = xs - ys
        sdd = diff.std(ddof=1)
        if sdd == 0:
            raise AnalysisError(
                "effect_size cannot standardize: every pair has the same difference (SD of differences = 0)."
            )
        s1, s2 = xs.std(ddof=1), ys.std(ddof=1)
        if any(k in ("d_av", "g_av") for k in kinds) and s1 == 0 and s2 == 0:
            raise AnalysisError("effect_size cannot compute d_av: neither measurement varies (both SDs = 0).")
        frames = [
            paired_effect_size_from_stats(diff.mean(), sdd, n, s1, s2, kind=k, ci_level=level, ci_method=ci_method)
            for k in kinds
        ]
        out = pd.concat(frames, ignore_index=True)
        out["n_missing"] = int((~keep).sum())
        return table_result(out, title="Standardized effect size",
                                method=f"{out['kind'].iloc[0]}, {out['ci_method'].iloc[0]} interval")

    xs, ys = xa[~np.isnan(xa)], ya[~np.isnan(ya)]
    n1, n2 = xs.size, ys.size
    if n1 < 2 or n2 < 2:
        raise AnalysisError(
            f"effect_size needs at least 2 non-missing values in each group; got {n1} and {n2}."
        )
    s1, s2 = xs.std(ddof=1), ys.std(ddof=1)
    if s1 == 0 and s2 == 0:
        raise AnalysisError("effect_size cannot standardize: neither group's scores vary (pooled SD = 0).")
    frames = [
        effect_size_from_stats(xs.mean(), s1, n1, ys.mean(), s2, n2, kind=k, ci_level=level) for k in kinds
    ]
    out = pd.concat(frames, ignore_index=True)
    out["n_missing"] = int(np.isnan(xa).sum() + np.isnan(ya).sum())
    return table_result(out, title="Standardized effect size",
                            method=f"{out['kind'].iloc[0]}, {out['ci_method'].iloc[0]} interval")
