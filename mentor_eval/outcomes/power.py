"""Statistical power for planning a mentoring evaluation: analytic ANCOVA power and the minimum
detectable effect size (MDES).

Simulation-based power (the generic engine :func:`mentor_eval.power_study.simulated_power`,
:func:`~mentor_eval.power_study.simulated_power_ancova` and
:func:`~mentor_eval.power_study.study_power`) combines the analyses with simulated data, so it
lives above both, in :mod:`mentor_eval.power_study`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from mentor_eval._params import check_in_interval, check_one_of
from mentor_eval.errors import AnalysisError, ParameterError
from mentor_eval.outcomes.results import table_result

__all__ = ["power_ancova", "mdes_ancova", "NESTINGS"]

_INPUT_COLUMNS = [
    "effect_size", "n_per_arm", "n_arms", "pretest_r", "alpha", "n_covariates", "icc",
    "cluster_size", "two_sided",
]  # fmt: skip


# --------------------------------------------------------------------------- analytic power


def _check_arrays(func: str, values: dict[str, Any]) -> dict[str, np.ndarray]:
    """Validate every (possibly array) input element-wise, with the project's message style."""
    rules = {
        "effect_size": (-np.inf, np.inf, "neither"),
        "power": (0.0, 1.0, "neither"),
        "n_per_arm": (1.0, np.inf, "neither"),
        "pretest_r": (-1.0, 1.0, "neither"),
        "alpha": (0.0, 1.0, "neither"),
        "icc": (0.0, 1.0, "left"),
        "cluster_size": (1.0, np.inf, "left"),
        "n_covariates": (0.0, np.inf, "left"),
        "n_arms": (2.0, np.inf, "left"),
    }
    out: dict[str, np.ndarray] = {}
    for name, value in values.items():
        if name == "two_sided":
            arr = np.asarray(value)
            if arr.dtype != bool:
                raise ParameterError(f"The 'two_sided' parameter of {func} must be True or False; got {value!r}.")
            out[name] = arr
            continue
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise ParameterError(f"The '{name}' parameter of {func} must be a number; got {value!r}.") from None
        low, high, closed = rules[name]
        for v in np.unique(arr):
            check_in_interval(func, name, v.item(), low, high, closed=closed)
        if name in ("n_arms", "n_covariates") and np.any(arr != np.round(arr)):
            raise ParameterError(f"The '{name}' parameter of {func} must be a whole number; got {value!r}.")
        out[name] = arr
    return out


def _noncentral(
    effect_size: np.ndarray,
    n_per_arm: np.ndarray,
    n_arms: np.ndarray,
    pretest_r: np.ndarray,
    n_covariates: np.ndarray,
    icc: np.ndarray,
    cluster_size: np.ndarray,
    include_pretest: bool | None,
    nesting: str = "full",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noncentrality, df and design effect of a pairwise ANCOVA contrast (all broadcast)."""
    deff = 1.0 + (cluster_size - 1.0) * icc
    uses_pretest = (pretest_r != 0) if include_pretest is None else np.full(np.shape(pretest_r), include_pretest)
    clustered = (cluster_size > 1) & (icc > 0)
    resid = 1.0 - pretest_r**2
    if nesting == "partial":
        # Treated arm clustered, control not: Var = (1 - r^2) (1 + DEFF) / n; Welch-Satterthwaite df
        # from the control's individuals (n - 1) and the treated arm's clusters (n / m - 1).
        v_c = resid / n_per_arm
        v_t = resid * deff / n_per_arm
        ncp = effect_size / np.sqrt(v_c + v_t)
        g_t = n_per_arm / cluster_size
        with np.errstate(divide="ignore", invalid="ignore"):
            df = (v_c + v_t) ** 2 / (v_c**2 / (n_per_arm - 1.0) + v_t**2 / np.where(clustered, g_t - 1.0, n_per_arm - 1.0))
        df = np.where(clustered, df, n_arms * n_per_arm - n_arms) - n_covariates - uses_pretest.astype(float)
        return ncp, df, deff
    # Var(contrast) in units of the outcome SD^2: (2 / n) * (1 - r^2) * design effect.
    ncp = effect_size * np.sqrt(n_per_arm / (2.0 * resid * deff))
    # Units that carry independent information: clusters when clustered, else individuals.
    units = np.where(clustered, n_arms * n_per_arm / cluster_size, n_arms * n_per_arm)
    df = units - n_arms - n_covariates - uses_pretest.astype(float)
    return ncp, df, deff


#: Values of the ``nesting`` parameter: clustering in every arm, or in the treated arms only.
NESTINGS = ("full", "partial")


def _check_nesting(func: str, nesting: str) -> str:
    return check_one_of(func, "nesting", nesting, NESTINGS)


def _power_from(ncp: np.ndarray, df: np.ndarray, alpha: np.ndarray, two_sided: np.ndarray) -> np.ndarray:
    crit = np.where(two_sided, stats.t.isf(alpha / 2, df), stats.t.isf(alpha, df))
    upper = stats.nct.sf(crit, df, ncp)
    # P(T < -crit | ncp) = P(T > crit | -ncp). scipy's nct.cdf returns NaN far in the tail
    # (e.g. df = 298, ncp = 7), where its sf is accurate, so both tails go through sf.
    lower = np.where(two_sided, stats.nct.sf(crit, df, -ncp), 0.0)
    return upper + lower


def power_ancova(
    effect_size: float | np.ndarray,
    n_per_arm: float | np.ndarray,
    *,
    n_arms: int | np.ndarray = 2,
    pretest_r: float | np.ndarray = 0.0,
    alpha: float | np.ndarray = 0.05,
    n_covariates: int | np.ndarray = 0,
    icc: float | np.ndarray = 0.0,
    cluster_size: float | np.ndarray = 1,
    two_sided: bool | np.ndarray = True,
    include_pretest: bool | None = None,
    nesting: str = "full",
) -> float | pd.DataFrame:
    """Power of the ANCOVA test of one pairwise arm contrast.

    Parameters
    ----------
    effect_size : float or array-like
        Standardized difference between two arms (outcome mean difference / outcome SD), the
        same metric as Cohen's d / Hedges' g on the posttest.
    n_per_arm : float or array-like
        Participants per arm (equal allocation).
    n_arms : int or array-like
        Arms in the study (>= 2). Affects the error degrees of freedom only.
    pretest_r : float or array-like
        Correlation between pretest (the ANCOVA covariate) and posttest, in (-1, 1).
    alpha : float or array-like
        Type I error rate of the contrast (not adjusted for several contrasts; pass e.g.
        ``alpha / k`` for a Bonferroni plan).
    n_covariates : int or array-like
        Further covariates in the model besides the pretest (their explanatory power is not
        credited; only their degrees of freedom are charged).
    icc : float or array-like
        Intraclass correlation of the outcome within clusters (mentor groups, sites), in [0, 1).
    cluster_size : float or array-like
        Participants per cluster (>= 1).
    two_sided : bool or array-like
        Two-sided test (default) or one-sided in the direction of ``effect_size > 0``.
    include_pretest : bool, optional
        Whether the pretest is in the model (costs one df). Default: when ``pretest_r != 0``,
        so that ``pretest_r=0`` reproduces the two-sample t test.
    nesting : {"full", "partial"}
        ``"full"`` (default): both arms of the contrast are made of clusters of ``cluster_size``
        (cluster-randomised or fully nested). ``"partial"``: the treated arm is clustered (mentors,
        circles) and the control arm is not -- the partially nested design of most mentoring
        trials; ``icc`` is then the treated arm's covariate-adjusted ICC, the quantity the ``icc``
        table of :func:`mentor_eval.outcomes.ancova` reports.

    Returns
    -------
    float or pandas.DataFrame
        A float when every input is a scalar. Otherwise a frame with one row per combination of
        the broadcast inputs: the input columns (``effect_size``, ``n_per_arm``, ``n_arms``,
        ``pretest_r``, ``alpha``, ``n_covariates``, ``icc``, ``cluster_size``, ``two_sided``),
        then ``design_effect`` (``1 + (m - 1) ICC``), ``df`` (error degrees of freedom),
        ``ncp`` (noncentrality) and ``power``.

    Notes
    -----
    The contrast between two arms has variance ``sigma^2 (1 - r^2) DEFF (2 / n)`` in outcome
    units, so the t statistic follows a noncentral t with
    ``ncp = d * sqrt(n / (2 (1 - r^2) DEFF))`` and ``df = N - n_arms - n_covariates - 1``
    (``N = n_arms * n``; the ``- 1`` is the pretest). Power is
    ``P(T > t_crit) + P(T < -t_crit)`` (two-sided) with ``t_crit`` the central-t quantile.
    With ``pretest_r = 0``, no clustering and two arms this is exactly the power of the
    classical two-sample t test (Cohen, 1988). The ``(1 - r^2)`` shrinkage is the large-sample
    ANCOVA variance (Borm et al., 2007): a pretest correlating 0.5 with the posttest lets 75% of
    the sample reach the same noncentrality.

    Clustering: the variance is inflated by the design effect ``DEFF = 1 + (m - 1) ICC``
    (Kish, 1965), and the df are those of a cluster-level analysis,
    ``N / m - n_arms - n_covariates - 1``. This is an approximation: it is conservative (fewer
    df than a mixed model would use when clusters are nested within arms), treats ``r^2`` as
    reducing total variance, and ignores variation in cluster size.

    Partial nesting (``nesting="partial"``): only the treated arm carries the design effect, so
    ``Var = (1 - r^2) (1 + DEFF) / n`` (the individually randomised group-treatment trial of
    Moerbeek & Wong 2008 and Moerbeek & Teerenstra 2016; Lohr, Schochet & Sanders 2014: the
    treated-arm variance is inflated by ``1 + (m - 1) ICC``, the control's is not), with ``ICC`` the share of the treated arm's residual (pretest-adjusted) variance that
    lies between clusters. The df are the Welch–Satterthwaite combination of the two variance
    parts, ``(V_C + V_T)^2 / (V_C^2 / (n - 1) + V_T^2 / (n / m - 1))`` (control individuals,
    treated clusters), less the pretest and covariates: the df the CR2 and mixed-model analyses
    of :func:`~mentor_eval.outcomes.ancova` approximately use. The simulated power of
    :func:`simulated_power_ancova`, which analyses each simulated trial with that cluster-aware
    ANCOVA, agrees with this formula (tests/test_power.py).

    References
    ----------
    Cohen, J. (1988). Statistical power analysis for the behavioral sciences (2nd ed.).
    Erlbaum. Table 2.4.1.
    Borm, G. F., Fransen, J., & Lemmens, W. A. (2007). A simple sample size formula for analysis
    of covariance in randomized clinical trials. Journal of Clinical Epidemiology, 60(12),
    1234-1238.
    Kish, L. (1965). Survey sampling. Wiley.
    Moerbeek, M. & Wong, W. K. (2008). Sample size formulae for trials comparing group and
    individual treatments in a multilevel model. Statistics in Medicine 27, 2850-2864.
    Moerbeek, M. & Teerenstra, S. (2016). Power Analysis of Trials with Multilevel Data. CRC Press.
    Lohr, S., Schochet, P. Z. & Sanders, E. (2014). Partially Nested Randomized Controlled Trials in
    Education Research: A Guide to Design and Analysis (NCER 2014-2000). Institute of Education
    Sciences.

    Examples
    --------
    >>> round(power_ancova(0.5, 64), 4)   # Cohen: d = .5, n = 64 per group -> .80
    0.8015
    >>> power_ancova(0.3, [100, 200], pretest_r=0.5)[["n_per_arm", "power"]].round(3)
       n_per_arm  power
    0      100.0  0.684
    1      200.0  0.933
    """
    func = "power_ancova"
    raw = dict(
        effect_size=effect_size, n_per_arm=n_per_arm, n_arms=n_arms, pretest_r=pretest_r, alpha=alpha,
        n_covariates=n_covariates, icc=icc, cluster_size=cluster_size, two_sided=two_sided,
    )
    if include_pretest is not None and not isinstance(include_pretest, bool):
        raise ParameterError(f"The 'include_pretest' parameter of {func} must be True, False or None.")
    v = _check_arrays(func, raw)
    scalar = all(np.ndim(a) == 0 for a in v.values())
    b = dict(zip(v, np.broadcast_arrays(*v.values()), strict=True))
    ncp, df, deff = _noncentral(
        b["effect_size"], b["n_per_arm"], b["n_arms"], b["pretest_r"], b["n_covariates"], b["icc"],
        b["cluster_size"], include_pretest, _check_nesting(func, nesting),
    )
    if np.any(df <= 0):
        raise ParameterError(
            f"{func}: the design leaves no error degrees of freedom (df = {float(np.min(df)):g}); "
            "increase n_per_arm (or the number of clusters) or reduce covariates."
        )
    power = _power_from(ncp, df, b["alpha"], b["two_sided"])
    if scalar:
        return float(power)
    frame = pd.DataFrame({k: np.ravel(b[k]) for k in _INPUT_COLUMNS})
    frame["two_sided"] = frame["two_sided"].astype(bool)
    frame["design_effect"] = np.ravel(deff)
    frame["df"] = np.ravel(df)
    frame["ncp"] = np.ravel(ncp)
    frame["power"] = np.ravel(power)
    return table_result(frame, title="Power of the ANCOVA contrast",
                            method="noncentral t, design effect for clustering")


def mdes_ancova(
    n_per_arm: float | np.ndarray,
    power: float | np.ndarray = 0.8,
    *,
    n_arms: int | np.ndarray = 2,
    pretest_r: float | np.ndarray = 0.0,
    alpha: float | np.ndarray = 0.05,
    n_covariates: int | np.ndarray = 0,
    icc: float | np.ndarray = 0.0,
    cluster_size: float | np.ndarray = 1,
    two_sided: bool | np.ndarray = True,
    include_pretest: bool | None = None,
    nesting: str = "full",
) -> float | pd.DataFrame:
    """Minimum detectable effect size of a pairwise ANCOVA contrast.

    Parameters
    ----------
    n_per_arm : float or array-like
        Participants per arm.
    power : float or array-like
        Target power, in (alpha, 1).
    n_arms, pretest_r, alpha, n_covariates, icc, cluster_size, two_sided, include_pretest, nesting
        As in :func:`power_ancova`.

    Returns
    -------
    float or pandas.DataFrame
        The smallest positive standardized effect with ``power_ancova(mdes, ...) == power``; a
        float for scalar inputs, else a frame with the input columns (``n_per_arm``,
        ``n_arms``, ``pretest_r``, ``alpha``, ``n_covariates``, ``icc``, ``cluster_size``,
        ``two_sided``), ``target_power``, ``design_effect``, ``df`` and ``mdes``.

    Notes
    -----
    Solved by Brent's method on the exact noncentral-t power (tolerance 1e-12), not the usual
    normal approximation ``(z_{1-alpha/2} + z_{power}) * SE``, so it is the exact inverse of
    :func:`power_ancova`. The same clustering approximations apply.

    References
    ----------
    Bloom, H. S. (1995). Minimum detectable effects: a simple way to report the statistical
    power of experimental designs. Evaluation Review, 19(5), 547-556.

    Examples
    --------
    >>> round(mdes_ancova(64), 4)
    0.4991
    """
    func = "mdes_ancova"
    raw = dict(
        n_per_arm=n_per_arm, power=power, n_arms=n_arms, pretest_r=pretest_r, alpha=alpha,
        n_covariates=n_covariates, icc=icc, cluster_size=cluster_size, two_sided=two_sided,
    )
    v = _check_arrays(func, raw)
    scalar = all(np.ndim(a) == 0 for a in v.values())
    b = dict(zip(v, np.broadcast_arrays(*v.values()), strict=True))
    one = np.ones(b["power"].shape)
    _, df, deff = _noncentral(
        one, b["n_per_arm"], b["n_arms"], b["pretest_r"], b["n_covariates"], b["icc"], b["cluster_size"],
        include_pretest, _check_nesting(func, nesting),
    )
    if np.any(df <= 0):
        raise ParameterError(
            f"{func}: the design leaves no error degrees of freedom (df = {float(np.min(df)):g}); "
            "increase n_per_arm (or the number of clusters) or reduce covariates."
        )
    # Power at effect 0 equals alpha, so a target at or below alpha has no positive MDES.
    if np.any(b["power"] <= b["alpha"]):
        raise ParameterError(f"The 'power' parameter of {func} must exceed 'alpha'; got {power!r}.")
    mdes = np.empty(b["power"].shape)
    for idx in np.ndindex(mdes.shape):
        args = {k: b[k][idx] for k in b}

        def gap(d: float, a: dict[str, Any] = args) -> float:
            ncp, dfi, _ = _noncentral(
                np.float64(d), a["n_per_arm"], a["n_arms"], a["pretest_r"], a["n_covariates"], a["icc"],
                a["cluster_size"], include_pretest, nesting,
            )
            return float(_power_from(ncp, dfi, a["alpha"], a["two_sided"])) - float(a["power"])

        hi = 1.0
        while gap(hi) < 0:  # power rises monotonically in d > 0; bracket the root
            hi *= 2.0
            if hi > 1e6:
                raise AnalysisError(f"{func}: could not bracket the MDES for inputs {args}.")
        mdes[idx] = optimize.brentq(gap, 0.0, hi, xtol=1e-13, rtol=1e-13, maxiter=500)
    if scalar:
        return float(mdes)
    frame = pd.DataFrame({k: np.ravel(b[k]) for k in _INPUT_COLUMNS if k != "effect_size"})
    frame["two_sided"] = frame["two_sided"].astype(bool)
    frame["target_power"] = np.ravel(b["power"])
    frame["design_effect"] = np.ravel(deff)
    frame["df"] = np.ravel(df)
    frame["mdes"] = np.ravel(mdes)
    return table_result(frame, title="Minimum detectable effect size of the ANCOVA contrast",
                            method="noncentral t, design effect for clustering")
