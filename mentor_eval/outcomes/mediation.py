"""Does belonging carry hope? Mediation of each arm's effect through a mediator.

For every mentored arm against control, the product-of-coefficients decomposition of the
arm's effect on an outcome into the part that runs through a mediator (the indirect effect
``a * b``) and the rest (the direct effect ``c'``), with delta-method standard errors, cluster
bootstrap confidence intervals (percentile and BCa), Monte Carlo intervals from cluster-robust
(CR2) covariances with Satterthwaite degrees of freedom, and the Imai-Keele-Tingley sensitivity
to unmeasured mediator-outcome confounding.

The two regressions share one set of pre-treatment covariates ``Z`` (intercept, the
baselines of mediator and outcome, further covariates)::

    mediator = Z g_m + a T + e_m              (the "a" path)
    outcome  = Z g_y + c' T + b mediator + e_y  (the "b" path and the direct effect)

With the same ``Z`` in both, ``a b + c'`` equals the arm's total effect from
``outcome = Z g + c T + e`` exactly (ordinary least squares algebra).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from mentor_eval._params import (
    check_in_interval,
    check_one_of,
    check_positive_int,
    check_treated_arms,
    renamed_parameters,
)
from mentor_eval.errors import AnalysisError, DataValidationError, ParameterError
from mentor_eval.outcomes.clustered import CR2Fit, WorkingCovariance, cluster_codes, cr2_fit
from mentor_eval.outcomes.inputs import check_column_names, check_waves, waves_wide
from mentor_eval.outcomes.inputs import covariate_block as _covariate_block
from mentor_eval.outcomes.inputs import levels as _levels
from mentor_eval.outcomes.results import Result
from mentor_eval.parallel import bootstrap_ci, resampling_plan, run_bootstrap

__all__ = ["mediation", "MediationResult", "acme_at_rho", "EFFECTS", "DESIGNS"]

EFFECTS = ("indirect", "direct", "total", "proportion")
DESIGNS = ("half-longitudinal", "cross-sectional")
CI_METHODS = ("percentile", "bca", "monte-carlo")
#: Monte Carlo draws of ``a * b``: the Monte Carlo error of its 2.5% and 97.5% quantiles is then
#: under 1% of its SE (draws are cheap: vectorised, a few milliseconds)
N_MC = 100_000
# Spawn key of the Monte Carlo stream: two 32-bit words, so it can never equal a bootstrap
# replicate's one-word key (0 .. n_boot - 1) and the two stay independent for any n_boot.
_MC_STREAM = 1 << 40
_PLACEHOLDER = "\x00no cluster"
_STAT_NAMES = ("a", "b", "direct", "indirect", "total", "proportion")
_ROW_ORDER = ("a", "b", "indirect", "direct", "total", "proportion")


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class MediationResult(Result):
    """Mediation of each arm's effect (see :func:`mediation`).

    Attributes
    ----------
    effects : DataFrame
        Tidy effects (one row per arm x mediator x outcome x effect x interval method).
    paths : DataFrame
        The ``a`` path (arm -> mediator), ``b`` path (mediator -> outcome given arm) and the
        direct path with delta (normal) and bootstrap intervals, for path diagrams.
    sensitivity : DataFrame
        Imai-Keele-Tingley sensitivity per arm x mediator x outcome.
    parameters : dict
        The settings of the run (waves, design, covariates, cluster, n_boot, seed).
    """

    title: ClassVar[str] = "Mediation"
    headline: ClassVar[str] = "effects"

    effects: pd.DataFrame
    paths: pd.DataFrame
    sensitivity: pd.DataFrame
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def method(self) -> str:
        p = self.parameters
        return (f"product of coefficients a*b ({p.get('design', '')} design), delta-method ({p.get('se_method', 'ols')}), "
                f"bootstrap ({p.get('n_boot', 0)} replicates) and CR2 Monte Carlo ({p.get('n_mc', 0)} draws) "
                "intervals; Imai-Keele-Tingley sensitivity")

    @property
    def notes(self) -> tuple[str, ...]:
        if self.parameters.get("design") == "cross-sectional":
            return ("mediator and outcome measured at the same wave: weaker evidence of order",)
        return ()

    def summary(self) -> str:
        """Plain-text overview: one block per arm x mediator x outcome."""
        lines = []
        eff = self.effects
        if not len(eff):
            return "Mediation: no estimates."
        # the calibrated interval first (docs/calibration.md), then the bootstrap ones
        shown = next((c for c in ("monte-carlo", "bca") if (eff["ci_method"] == c).any()), eff["ci_method"].iloc[0])
        pick = eff[eff["ci_method"] == shown]
        for (a, m, o), grp in pick.groupby(["arm", "mediator", "outcome"], sort=False):
            d = grp["design"].iloc[0]
            lines.append(f"{a} vs control: {m} -> {o} ({d}; n = {int(grp['n'].iloc[0])}; "
                         f"{grp['ci_method'].iloc[0]} {int(100 * self.parameters.get('ci_level', 0.95))}% CI)")
            for _, r in grp.iterrows():
                lines.append(f"  {r['effect']:<10} {r['estimate']: .4f}  [{r['ci_low']: .4f}, {r['ci_high']: .4f}]"
                             f"  p = {r['p']:.4g}")
            s = self.sensitivity
            hit = s[(s["arm"] == a) & (s["mediator"] == m) & (s["outcome"] == o)]
            if len(hit):
                lines.append(f"  indirect effect would vanish if unmeasured confounding correlated the two "
                             f"models' errors at rho = {hit['rho_at_zero'].iloc[0]:.3f}")
            if d == "cross-sectional":
                lines.append("  (mediator and outcome measured at the same wave: weaker evidence of order)")
        return "\n".join(lines)

    def sensitivity_curve(self, rho: Sequence[float] | np.ndarray | None = None) -> pd.DataFrame:
        """ACME as a function of the error correlation rho, per arm x mediator x outcome.

        Parameters
        ----------
        rho : sequence of float in (-1, 1), optional
            Default: -0.9 to 0.9 by 0.05.

        Returns
        -------
        DataFrame
            ``arm``, ``mediator``, ``outcome``, ``rho``, ``acme``.
        """
        grid = np.round(np.arange(-0.9, 0.9001, 0.05), 10) if rho is None else np.asarray(rho, dtype=float)
        rows = []
        for _, r in self.sensitivity.iterrows():
            acme = acme_at_rho(grid, a=r["a"], sigma_total=r["sigma_total"], sigma_mediator=r["sigma_mediator"],
                               rho_tilde=r["rho_at_zero"])
            rows.append(pd.DataFrame({"arm": r["arm"], "mediator": r["mediator"], "outcome": r["outcome"],
                                      "rho": grid, "acme": acme}))
        return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
            columns=["arm", "mediator", "outcome", "rho", "acme"])


def acme_at_rho(rho: Any, *, a: float, sigma_total: float, sigma_mediator: float, rho_tilde: float) -> np.ndarray:
    """Average causal mediation effect if the mediator and outcome errors correlated at ``rho``.

    Parameters
    ----------
    rho : float or array in (-1, 1)
        Correlation of the mediator-model and outcome-model errors (unmeasured confounding).
    a : float
        Arm -> mediator coefficient.
    sigma_total, sigma_mediator : float
        Residual SDs of the total-effect regression (outcome on arm and covariates) and of
        the mediator regression.
    rho_tilde : float
        Correlation of those two regressions' residuals.

    Returns
    -------
    ndarray
        ``a * sigma_total / sigma_mediator * (rho_tilde - rho * sqrt((1 - rho_tilde^2) / (1 - rho^2)))``.

    Notes
    -----
    Imai, Keele & Tingley (2010), linear mediator and outcome models without an arm x
    mediator interaction. At ``rho = 0`` it equals ``a * b``; it is zero at ``rho = rho_tilde``.

    References
    ----------
    Imai, K., Keele, L., & Tingley, D. (2010). A general approach to causal mediation
    analysis. Psychological Methods, 15(4), 309-334.
    """
    r = np.asarray(rho, dtype=float)
    if np.any(np.abs(r) >= 1):
        raise ParameterError(f"The 'rho' parameter of acme_at_rho must be in (-1, 1); got {rho!r}.")
    return a * sigma_total / sigma_mediator * (rho_tilde - r * np.sqrt((1 - rho_tilde ** 2) / (1 - r ** 2)))


# --------------------------------------------------------------------------- batched algebra


def _solve_batch(xtwx: np.ndarray, xtwy: np.ndarray) -> np.ndarray:
    """Solve each ``xtwx[b] beta = xtwy[b]``; returns (B, k) coefficients.

    A replicate whose weighted cross-product is singular (a resample without one level of a
    covariate) gets NaN coefficients.
    """
    try:
        return np.linalg.solve(xtwx, xtwy[..., None])[..., 0]
    except np.linalg.LinAlgError:
        out = np.full(xtwy.shape, np.nan)
        for i in range(xtwx.shape[0]):
            try:
                out[i] = np.linalg.solve(xtwx[i], xtwy[i])
            except np.linalg.LinAlgError:
                pass
        return out


@dataclass(frozen=True)
class _PairData:
    z: np.ndarray      # pre-treatment design incl. intercept, without the arm
    t: np.ndarray      # 0/1 arm indicator
    m: np.ndarray
    y: np.ndarray

    def xm(self) -> np.ndarray:
        return np.column_stack([self.t, self.z])

    def xy(self) -> np.ndarray:
        return np.column_stack([self.t, self.m, self.z])


class _PairStatistic:
    """Batched statistics (a, b, direct, indirect, total, proportion) of one arm pair; picklable.

    Both models' weighted normal equations come from the cross-products of the columns
    ``[t, m, z, y]``: with every product of two columns precomputed (``q``, n x K(K+1)/2), the
    cross-products of a whole batch of replicates are one matrix product ``w @ q`` instead of a
    (B, k, n) weighted design per model. A zero weight still contributes an exact zero, so a
    replicate that misses a covariate level still has an exactly singular system (NaN).
    """

    def __init__(self, pair: _PairData) -> None:
        cols = np.column_stack([pair.t, pair.m, pair.z, pair.y])
        k = cols.shape[1]
        self._k = k
        self._iu = np.triu_indices(k)
        self._q = cols[:, self._iu[0]] * cols[:, self._iu[1]]
        self._im = np.array([0, *range(2, k - 1)])  # mediator model: t, z -> m (column 1)
        self._iy = np.arange(k - 1)                  # outcome model: t, m, z -> y (last column)

    def _from_cross(self, s: np.ndarray) -> np.ndarray:
        """Statistics from the upper-triangle cross-products ``s`` (B, K(K+1)/2) of each replicate."""
        k = self._k
        full = np.empty((s.shape[0], k, k))
        full[:, self._iu[0], self._iu[1]] = s
        full[:, self._iu[1], self._iu[0]] = s
        im, iy = self._im, self._iy
        bm = _solve_batch(full[:, im[:, None], im[None, :]], full[:, im, 1])
        by = _solve_batch(full[:, iy[:, None], iy[None, :]], full[:, iy, k - 1])
        a, c, b = bm[:, 0], by[:, 0], by[:, 1]
        ind = a * b
        tot = ind + c
        with np.errstate(divide="ignore", invalid="ignore"):
            prop = np.where(tot != 0, ind / tot, np.nan)
        return np.column_stack([a, b, c, ind, tot, prop])

    def __call__(self, w: np.ndarray) -> np.ndarray:
        return self._from_cross(np.asarray(w, dtype=float) @ self._q)

    def jackknife(self, plan: Any) -> np.ndarray:
        """Leave-one-cluster-out statistics, shape (n_clusters, 6).

        Equal to calling the statistic on :func:`~mentor_eval.parallel.jackknife_weights`
        (up to rounding), without the (n_clusters, n) weights: each cluster's cross-products
        are subtracted from the full ones. A product column that is zero outside the left-out
        cluster is set to an exact zero, so a model left without a covariate level is singular
        (NaN), as with the weights.
        """
        q = self._q
        n_cl = plan.n_clusters
        per = np.zeros((n_cl, q.shape[1]))
        np.add.at(per, plan.cluster, q)
        nonzero = np.zeros((n_cl, q.shape[1]), dtype=np.int64)
        np.add.at(nonzero, plan.cluster, (q != 0).astype(np.int64))
        s = q.sum(axis=0)[None, :] - per
        s[nonzero.sum(axis=0)[None, :] - nonzero == 0] = 0.0
        return self._from_cross(s)


def _ols(x: np.ndarray, y: np.ndarray, divisor: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n, k = x.shape
    xtx_inv = np.linalg.inv(x.T @ x)
    beta = xtx_inv @ (x.T @ y)
    resid = y - x @ beta
    rss = float(resid @ resid)
    s2 = rss / (n if divisor == "ml" else n - k)
    return beta, xtx_inv * s2, resid


def _delta(pair: _PairData, se_method: str) -> dict[str, Any]:
    """Point estimates, delta-method SEs and the IKT quantities of one arm pair."""
    xm, xy = pair.xm(), pair.xy()
    for x, what in ((xm, "mediator"), (xy, "outcome")):
        rank = np.linalg.matrix_rank(x)
        if rank < x.shape[1]:
            raise AnalysisError(f"mediation: the {what} model cannot be estimated: some terms are redundant "
                                f"(rank {rank} < {x.shape[1]}); a covariate is constant or duplicates another.")
        if x.shape[0] <= x.shape[1]:
            raise AnalysisError(f"mediation: the {what} model has {x.shape[1]} terms but only {x.shape[0]} "
                                "complete participants.")
    bm, vm, em = _ols(xm, pair.m, se_method)
    by, vy, _ = _ols(xy, pair.y, se_method)
    a, c, b = bm[0], by[0], by[1]
    va, vc, vb, cbc = vm[0, 0], vy[0, 0], vy[1, 1], vy[0, 1]
    ind, tot = a * b, a * b + c
    # Multivariate delta method; a is from the mediator equation, so cov(a, b) = cov(a, c') = 0
    # (lavaan's treatment of separate regression equations with uncorrelated residuals).
    v_ind = b * b * va + a * a * vb
    v_tot = v_ind + vc + 2 * a * cbc
    if tot != 0:
        g = np.array([b * c, a * c, -ind]) / tot ** 2  # d prop / d (a, b, c')
        sig = np.array([[va, 0, 0], [0, vb, cbc], [0, cbc, vc]])
        v_prop = float(g @ sig @ g)
        prop = ind / tot
    else:
        v_prop, prop = np.nan, np.nan
    # IKT: residuals of the total-effect regression and of the mediator regression
    xt = np.column_stack([pair.t, pair.z])
    _, _, e1 = _ols(xt, pair.y, "ml")
    n = len(pair.y)
    rho_tilde = float(e1 @ em / np.sqrt((e1 @ e1) * (em @ em)))
    return {
        "est": np.array([a, b, c, ind, tot, prop]),
        "se": np.sqrt(np.array([va, vb, vc, v_ind, v_tot, v_prop])),
        "sens": {"a": float(a), "rho_at_zero": rho_tilde, "sigma_total": float(np.sqrt(e1 @ e1 / n)),
                 "sigma_mediator": float(np.sqrt(em @ em / n))},
    }


# --------------------------------------------------------------------------- Monte Carlo (CR2)


def _working_model(x: np.ndarray, y: np.ndarray, labels: np.ndarray, member: np.ndarray) -> WorkingCovariance | None:
    """REML random-intercept model of one equation as the CR2 working covariance (None: identity).

    The cluster intercept is carried only by participants with a cluster label (a partially
    nested trial: control participants have no mentor), as :func:`mentor_eval.ancova` does.
    With few clusters, Satterthwaite df computed under the identity are far too large; under the
    estimated random-intercept model they reflect how few clusters there are (Imbens & Kolesar
    2016). No cluster with two members, a failed or unconverged fit: the identity.
    """
    sizes = pd.Series(labels[member]).value_counts()
    if not len(sizes) or sizes.max() < 2:
        return None
    from mentor_eval.outcomes.lmm import fit_lmm

    groups = np.where(member, labels, _PLACEHOLDER).astype(object)
    try:
        fit = fit_lmm(y, x, [groups], z=None if member.all() else [member.astype(float)])
    except AnalysisError:
        return None
    if not fit.converged or not np.isfinite(fit.sigma2) or fit.sigma2 <= 0:
        return None
    codes = np.full(len(y), -1, dtype=np.int64)
    codes[member] = pd.factorize(pd.Series(labels[member], dtype=object))[0]
    return WorkingCovariance(float(fit.sigma2), ((float(fit.cov_re[0][0, 0]), codes),))


def _cr2(x: np.ndarray, y: np.ndarray, codes: np.ndarray, labels: np.ndarray | None,
         member: np.ndarray) -> tuple[CR2Fit, np.ndarray]:
    """CR2 fit of one equation and the Satterthwaite df of each of its first two coefficients."""
    target = _working_model(x, y, labels, member) if labels is not None else None
    fit = cr2_fit(x, y, codes, target=target)
    return fit, fit.satterthwaite_df(np.eye(x.shape[1])[:2])


def _t_draws(z: np.ndarray, df: float, rng: np.random.Generator) -> np.ndarray:
    """Student t(df) draws from standard normal draws ``z``: ``z / sqrt(chi2_df / df)``.

    Each margin gets its own chi-square, so correlated normals give correlated t margins with
    their own df. ``df`` infinite: the normal draws themselves.
    """
    if not np.isfinite(df):
        return z
    return z / np.sqrt(rng.chisquare(df, z.shape) / df)


def _mc_stream(seed: Any) -> np.random.SeedSequence:
    """The Monte Carlo stream of ``seed``: reproducible, and disjoint from the bootstrap's streams."""
    if isinstance(seed, np.random.SeedSequence):
        return np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, _MC_STREAM))
    root = np.random.SeedSequence(seed)
    return np.random.SeedSequence(root.entropy, spawn_key=(_MC_STREAM,))


def _tail_p(draws: np.ndarray) -> float:
    """Two-sided tail share beyond zero, ``2 (min count + 1) / (N + 1)`` (as the bootstrap's p)."""
    below = np.sum(draws < 0) + 0.5 * np.sum(draws == 0)
    return float(min(1.0, 2 * (min(below, len(draws) - below) + 1) / (len(draws) + 1)))


def _monte_carlo(pair: _PairData, est: np.ndarray, labels: np.ndarray | None, *, n_mc: int, seed: Any,
                 ci_level: float) -> dict[str, np.ndarray]:
    """CR2 + Satterthwaite intervals of a, b, c' and the total; Monte Carlo ones of a*b and the proportion.

    Returns the arrays of :func:`mentor_eval.parallel.bootstrap_ci` (``se``, ``ci_low``,
    ``ci_high``, ``p``, ``n_valid``) in the order of ``_STAT_NAMES``.
    """
    n = len(pair.y)
    if labels is None:
        codes, member = np.arange(n), np.zeros(n, dtype=bool)
    else:
        member = pd.notna(labels)
        codes = cluster_codes(pd.Series(labels, dtype=object))
    fm, df_m = _cr2(pair.xm(), pair.m, codes, labels, member)
    fy, df_y = _cr2(pair.xy(), pair.y, codes, labels, member)
    # the total effect is the arm coefficient of the reduced form (outcome on arm and Z): same estimate
    ft, df_t = _cr2(np.column_stack([pair.t, pair.z]), pair.y, codes, labels, member)
    a, b, c = est[0], est[1], est[2]
    va, vb, vc, cbc, vt = fm.vcov[0, 0], fy.vcov[1, 1], fy.vcov[0, 0], fy.vcov[0, 1], ft.vcov[0, 0]
    df = np.array([df_m[0], df_y[1], df_y[0], np.nan, df_t[0], np.nan])
    se = np.sqrt(np.array([va, vb, vc, b * b * va + a * a * vb, vt, np.nan]))
    tot = est[4]
    if tot != 0:
        g = np.array([b * c, a * c, -a * b]) / tot ** 2
        sig = np.array([[va, 0, 0], [0, vb, cbc], [0, cbc, vc]])
        se[5] = float(np.sqrt(g @ sig @ g))
    alpha = 1 - ci_level
    low, high, p = np.full(6, np.nan), np.full(6, np.nan), np.full(6, np.nan)
    n_valid = np.zeros(6, dtype=int)
    for j in (0, 1, 2, 4):  # linear in the coefficients: t intervals, the Monte Carlo method's limit
        q = stats.t.ppf(1 - alpha / 2, df[j])
        low[j], high[j] = est[j] - q * se[j], est[j] + q * se[j]
        p[j] = 2 * stats.t.sf(abs(est[j] / se[j]), df[j]) if se[j] > 0 else np.nan
    # a from the mediator equation is independent of (b, c') from the outcome equation (their
    # errors are uncorrelated given the covariates); b and c' are correlated within theirs.
    rng = np.random.default_rng(_mc_stream(seed))
    z = rng.standard_normal((3, n_mc))
    r = cbc / np.sqrt(vb * vc) if vb > 0 and vc > 0 else 0.0
    r = float(np.clip(r, -1.0, 1.0))
    a_d = a + np.sqrt(va) * _t_draws(z[0], df[0], rng)
    b_d = b + np.sqrt(vb) * _t_draws(z[1], df[1], rng)
    c_d = c + np.sqrt(vc) * _t_draws(r * z[1] + np.sqrt(1 - r * r) * z[2], df[2], rng)
    ind = a_d * b_d
    with np.errstate(divide="ignore", invalid="ignore"):
        prop = ind / (ind + c_d)
    for j, draws in ((3, ind), (5, prop)):
        draws = draws[np.isfinite(draws)]
        n_valid[j] = len(draws)
        if len(draws) < 2 or not np.isfinite(est[j]):
            continue
        low[j], high[j] = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
        p[j] = _tail_p(draws)
    return {"se": se, "ci_low": low, "ci_high": high, "p": p, "n_valid": n_valid}


# --------------------------------------------------------------------------- data shaping


def _order_waves(data: pd.DataFrame, wave: str, waves: Sequence[Any] | None) -> list[Any]:
    if waves is not None:
        return list(waves)
    if "wave_index" in data.columns:
        w = data[[wave, "wave_index"]].dropna().drop_duplicates().sort_values("wave_index")
        return list(w[wave])
    return _levels(data[wave])


# --------------------------------------------------------------------------- public API


@renamed_parameters({"conf_level": "ci_level", "ci": "ci_method"})
def mediation(
    data: pd.DataFrame,
    mediator: str | Sequence[str],
    outcome: str | Sequence[str],
    *,
    pre: Any = "baseline",
    mid: Any = None,
    post: Any = "post",
    design: str = "auto",
    waves: Sequence[Any] | None = None,
    control: Any = "control",
    arms: Sequence[Any] | None = None,
    covariates: Sequence[str] = (),
    cluster: str | None = None,
    n_boot: int = 2000,
    ci_method: Sequence[str] = CI_METHODS,
    n_mc: int = N_MC,
    seed: Any = None,
    ci_level: float = 0.95,
    se_method: str = "ols",
    n_jobs: int | None = 1,
    backend: str | None = None,
    participant: str = "participant_id",
    arm: str = "arm",
    wave: str = "wave",
    score: str = "score",
    outcome_col: str = "outcome",
) -> MediationResult:
    """Indirect, direct and total effect of each arm on an outcome through a mediator.

    Parameters
    ----------
    data : pandas.DataFrame
        Long analysis frame: one row per participant x wave x outcome with ``participant``,
        ``arm``, ``wave``, ``outcome_col`` (e.g. ``"general_belongingness_scale.total"``),
        ``score`` and participant-level covariates / cluster (as
        :attr:`mentor_eval.data.AnalysisData.analysis`).
    mediator, outcome : str or sequence of str
        Mediator(s) and outcome(s) (values of ``outcome_col``). Every pair with mediator !=
        outcome is analysed, so ``mediator=[B, H], outcome=[H, B]`` gives both directions.
    pre, mid, post : wave labels
        Baseline, the mediator's wave and the outcome's wave. ``pre=None``: no baseline
        adjustment.
    design : {"auto", "half-longitudinal", "cross-sectional"}
        ``"half-longitudinal"``: mediator at ``mid``, outcome at ``post`` (Cole & Maxwell 2003).
        ``"cross-sectional"``: both at ``post`` (weaker evidence: nothing orders mediator
        before outcome). ``"auto"``: half-longitudinal when ``mid`` is given or the data
        hold a wave strictly between ``pre`` and ``post`` (the middle one of them), else
        cross-sectional.
    waves : sequence of wave labels, optional
        Wave order (default: by ``wave_index`` when present, else sorted).
    control : arm label
        The comparison arm; every other arm (or ``arms``) is compared with it.
    arms : sequence of arm labels, optional
        Arms to analyse (default: every non-control arm).
    covariates : sequence of str
        Further pre-treatment participant covariates (text ones dummy coded); in both models.
    cluster : str, optional
        Participant-level cluster column (mentor, group). Whole clusters are resampled and
        are the clusters of the CR2 covariances; missing labels (e.g. unmentored control
        participants) are clusters of one.
    n_boot : int
        Bootstrap replicates (0: no bootstrap intervals).
    ci_method : sequence of {"percentile", "bca", "monte-carlo"}
        Interval methods to report besides the delta method: the bootstrap ones and the
        Monte Carlo interval from CR2 covariances with t draws (see Notes). The Monte Carlo
        interval is the one calibrated with few clusters (``docs/calibration.md``).
    n_mc : int
        Monte Carlo draws of the ``"monte-carlo"`` interval (0: none).
    seed : int, optional
        Seed of the bootstrap and of the Monte Carlo draws (same seed: identical intervals on
        any number of workers).
    ci_level : float
        Confidence level.
    se_method : {"ols", "ml"}
        Residual variance divisor of the delta-method SEs: ``n - k`` (OLS) or ``n`` (maximum
        likelihood, as lavaan ``sem()``).
    n_jobs, backend
        joblib workers and backend of the bootstrap (see :func:`mentor_eval.parallel.run_bootstrap`).
    participant, arm, wave, score, outcome_col : str
        Column names.

    Returns
    -------
    MediationResult
        ``effects`` columns:

        - ``arm``: the mentored arm compared with control; ``mediator``, ``outcome``.
        - ``effect``: ``"indirect"`` (a*b), ``"direct"`` (c'), ``"total"`` (a*b + c') or
          ``"proportion"`` (indirect / total, the share of the effect carried by the mediator).
        - ``estimate``: point estimate (outcome units; a share for ``proportion``).
        - ``se``: delta-method SE (``method == "delta"``), SD of the bootstrap replicates
          (``"bootstrap"``) or the cluster-robust CR2 SE (``"monte-carlo"``; for the indirect
          effect and the proportion the delta method on the CR2 covariances).
        - ``ci_low``, ``ci_high``: limits at ``ci_level``; ``p``: two-sided p value
          (normal z for delta rows; bootstrap tail share, BCa-adjusted for BCa rows;
          Monte Carlo rows: the t test with Satterthwaite df for the direct and total effects,
          the tail share of the draws beyond zero for the indirect effect and the proportion).
        - ``n``: participants in both models; ``n_excluded``: those of the two arms dropped
          for a missing score or covariate.
        - ``method``: ``"delta"``, ``"bootstrap"`` or ``"monte-carlo"``; ``ci_method``:
          ``"normal"``, ``"percentile"``, ``"bca"`` or ``"monte-carlo"``.
        - ``design``: ``"half-longitudinal"`` or ``"cross-sectional"``; ``mediator_wave``,
          ``outcome_wave``.
        - ``n_boot``: valid bootstrap replicates, or Monte Carlo draws for the Monte Carlo
          indirect effect and proportion (0 for delta rows and for the Monte Carlo rows with a
          closed-form t interval); ``n_clusters``: clusters (resampling units, clusters of one
          included); ``rho_at_zero``: see ``sensitivity``.

        ``paths``: the same keys and interval columns with ``path`` in ``a``, ``b``, ``direct``.
        ``sensitivity``: ``arm``, ``mediator``, ``outcome``, ``acme`` (= a*b), ``rho_at_zero``,
        ``a``, ``sigma_total``, ``sigma_mediator``.

    Notes
    -----
    Models (ordinary least squares, complete cases): ``M = Z g + a T + e_m`` and
    ``Y = Z h + c' T + b M + e_y`` with ``T`` the arm indicator (arm vs control, other arms
    left out) and ``Z`` = intercept, the baselines of mediator and outcome, covariates. The
    indirect effect is ``a b``; for linear models without an arm x mediator interaction it
    is the average causal mediation effect under sequential ignorability (Imai et al. 2010).

    Delta method: ``Var(ab) = b^2 Var(a) + a^2 Var(b)``; ``Var(total)`` adds ``Var(c') + 2 a
    Cov(b, c')``; the proportion ``ab / (ab + c')`` uses its gradient. Cov(a, b) = 0 across the
    two equations (as lavaan). Delta-method SEs ignore clustering and assume normality of
    ``ab``, which is skewed in small samples.

    Bootstrap: whole clusters are resampled within arms (arm sizes in clusters stay fixed),
    percentile and BCa limits. With few clusters in a mentored arm these intervals are too
    narrow: the resampled clusters' variance is biased low by ``(G - 1) / G`` and percentile
    limits take no account of how few clusters the variance rests on (Cameron, Gelbach &
    Miller 2008). In the calibration (about 19 circles of 6-10 in the mentored arm, ICC .2,
    1,000 simulated studies) percentile and BCa intervals covered the indirect effect 92.7% and
    91.6% of the time, the Monte Carlo interval 94.5% (95.1% with ICC 0).

    Monte Carlo (``"monte-carlo"``; Preacher & Selig 2012, with cluster-robust inputs): each
    equation is fitted by OLS with the Bell-McCaffrey CR2 covariance and Pustejovsky-Tipton
    Satterthwaite df, both under a REML random-intercept working model for the clusters
    (carried only by participants with a cluster label), as :func:`mentor_eval.ancova` does;
    without ``cluster`` every participant is a cluster of one (HC2). The path ``a``, the path
    ``b`` and the direct effect get ``estimate +- t(df) SE`` intervals; the total effect the same
    from the reduced form ``Y = Z g + c T + e`` (the same estimate ``ab + c'``). The indirect
    effect's limits are quantiles of ``n_mc`` draws of ``a* b*`` with
    ``a* = a + SE(a) t_a``, ``b* = b + SE(b) t_b``, ``t_a`` and ``t_b`` independent Student t with
    the Satterthwaite df of ``a`` and ``b`` (the two equations' errors are uncorrelated, so
    ``a`` and ``b`` are); the proportion's from ``a* b* / (a* b* + c'*)`` with ``c'*`` drawn
    with its CR2 correlation to ``b*``. The t draws carry the uncertainty of a variance that
    rests on few clusters, which a normal (or bootstrap) distribution does not; the product's
    skew is kept.

    Sensitivity (Imai, Keele & Tingley 2010): if the two models' errors correlate at ``rho``
    (an unmeasured common cause of mediator and outcome), the ACME is
    ``a s1 / s2 (rho~ - rho sqrt((1 - rho~^2) / (1 - rho^2)))`` with ``s1``, ``s2`` the residual
    SDs of the total-effect and mediator regressions and ``rho~`` the correlation of their
    residuals; it vanishes at ``rho = rho~`` (``rho_at_zero``). A small ``|rho_at_zero|``
    means a weak confounder would explain the indirect effect away.

    The proportion mediated is unstable when the total effect is near zero; read its
    interval, not its point estimate.

    References
    ----------
    Bell, R. M., & McCaffrey, D. F. (2002). Bias reduction in standard errors for linear
    regression with multi-stage samples. Survey Methodology, 28(2), 169-181.
    Cameron, A. C., Gelbach, J. B., & Miller, D. L. (2008). Bootstrap-based improvements for
    inference with clustered errors. Review of Economics and Statistics, 90(3), 414-427.
    Cole, D. A., & Maxwell, S. E. (2003). Testing mediational models with longitudinal data.
    Journal of Abnormal Psychology, 112(4), 558-577.
    Field, C. A., & Welsh, A. H. (2007). Bootstrapping clustered data. Journal of the Royal
    Statistical Society B, 69(3), 369-390.
    Imai, K., Keele, L., & Tingley, D. (2010). A general approach to causal mediation
    analysis. Psychological Methods, 15(4), 309-334.
    MacKinnon, D. P., Lockwood, C. M., & Williams, J. (2004). Confidence limits for the
    indirect effect. Multivariate Behavioral Research, 39(1), 99-128.
    Preacher, K. J., & Hayes, A. F. (2008). Asymptotic and resampling strategies for assessing
    and comparing indirect effects in multiple mediator models. Behavior Research Methods, 40,
    879-891.
    Preacher, K. J., & Selig, J. P. (2012). Advantages of Monte Carlo confidence intervals for
    indirect effects. Communication Methods and Measures, 6(2), 77-98.
    Pustejovsky, J. E., & Tipton, E. (2018). Small-sample methods for cluster-robust variance
    estimation and hypothesis testing in fixed effects models. Journal of Business & Economic
    Statistics, 36(4), 672-683.
    Sobel, M. E. (1982). Asymptotic confidence intervals for indirect effects in structural
    equation models. Sociological Methodology, 13, 290-312.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> n = 200
    >>> t = np.repeat([0, 1], n // 2)
    >>> m0, y0 = rng.normal(size=n), rng.normal(size=n)
    >>> m1 = 0.5 * m0 + 0.6 * t + rng.normal(size=n)
    >>> y2 = 0.5 * y0 + 0.4 * m1 + 0.1 * t + rng.normal(size=n)
    >>> people = pd.DataFrame({"participant_id": range(n), "arm": np.where(t, "nw", "control")})
    >>> long = pd.concat([
    ...     people.assign(wave=w, outcome=o, score=v) for w, o, v in [
    ...         ("baseline", "belonging", m0), ("baseline", "hope", y0),
    ...         ("midpoint", "belonging", m1), ("post", "hope", y2)]])
    >>> res = mediation(long, "belonging", "hope", mid="midpoint", n_boot=0)
    >>> res.effects[["effect", "design"]].iloc[0].tolist()
    ['indirect', 'half-longitudinal']
    """
    func = "mediation"
    check_one_of(func, "design", design, ("auto", *DESIGNS))
    check_one_of(func, "se_method", se_method, ("ols", "ml"))
    ci_level = check_in_interval(func, "ci_level", ci_level, 0, 1)
    n_boot = check_positive_int(func, "n_boot", n_boot, minimum=0)
    n_mc = check_positive_int(func, "n_mc", n_mc, minimum=0)
    ci_method = [ci_method] if isinstance(ci_method, str) else list(ci_method)
    for c in ci_method:
        check_one_of(func, "ci_method", c, CI_METHODS)
    mediators = [mediator] if isinstance(mediator, str) else list(mediator)
    outcomes = [outcome] if isinstance(outcome, str) else list(outcome)
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    if not mediators or not outcomes:
        raise ParameterError(f"The 'mediator' and 'outcome' parameters of {func} must each name at least one outcome.")
    person_cols = [*covariates, *([cluster] if cluster else [])]
    check_column_names(func, data, extra=person_cols, participant=participant, arm=arm, wave=wave, score=score,
                       outcome_col=outcome_col)
    known = set(pd.unique(data[outcome_col].dropna()))
    for name, vals in (("mediator", mediators), ("outcome", outcomes)):
        bad = [v for v in vals if v not in known]
        if bad:
            raise ParameterError(f"The '{name}' parameter of {func} names outcome(s) not in data: {bad!r}; "
                                 f"available: {sorted(map(str, known))!r}.")
    pairs = [(m, o) for m in mediators for o in outcomes if m != o]
    if not pairs:
        raise ParameterError(f"The 'mediator' and 'outcome' parameters of {func} give no pair with mediator != outcome.")

    order = _order_waves(data, wave, waves)
    check_waves(func, data, wave, {"pre": pre, "post": post, "mid": mid})
    present = set(pd.unique(data[wave].dropna()))
    chosen = design
    if design != "cross-sectional":
        if mid is None and post in order and (pre is None or pre in order):
            lo = order.index(pre) if pre is not None else -1
            between = [w for w in order[lo + 1:order.index(post)] if w in present]
            if between:
                mid = between[(len(between) - 1) // 2]  # the middle one (lower middle when even)
        if mid is None:
            if design == "half-longitudinal":
                raise DataValidationError(f"{func}: a half-longitudinal design needs a mediator wave between "
                                          f"{pre!r} and {post!r}; pass 'mid=' or use design='cross-sectional'.")
            chosen = "cross-sectional"
        else:
            if mid in (pre, post):
                raise ParameterError(f"The 'mid' parameter of {func} must differ from 'pre' and 'post'; got {mid!r}.")
            chosen = "half-longitudinal"
    m_wave = mid if chosen == "half-longitudinal" else post
    need_waves = [w for w in dict.fromkeys([pre, m_wave, post]) if w is not None]

    all_arms = _levels(data[arm])
    arms = check_treated_arms(func, all_arms, control, arms)
    names = list(dict.fromkeys([*mediators, *outcomes]))
    wide = waves_wide(func, data, names, need_waves, participant=participant, arm=arm, wave=wave, score=score,
                      outcome_col=outcome_col, person=person_cols)

    effects, paths, sens = [], [], []
    z_crit = stats.norm.ppf(0.5 + ci_level / 2)
    for a_key in arms:
        sub_all = wide[wide[arm].isin([a_key, control])]
        for m_name, o_name in pairs:
            cols = {"m": f"{m_name}@{m_wave}", "y": f"{o_name}@{post}"}
            base = [f"{m_name}@{pre}", f"{o_name}@{pre}"] if pre is not None else []
            base = list(dict.fromkeys(base))
            needed = [cols["m"], cols["y"], *base, *covariates]
            ok = sub_all[needed].notna().all(axis=1)
            sub = sub_all[ok].reset_index(drop=True)
            n_excl = int((~ok).sum())
            t = (sub[arm] == a_key).to_numpy(dtype=float)
            if t.sum() < 2 or (1 - t).sum() < 2:
                raise AnalysisError(f"{func}: arm {a_key!r} vs {control!r} has {int(t.sum())} and {int((1 - t).sum())} "
                                    f"complete participants for {m_name} -> {o_name}; at least 2 each are needed.")
            cov_x, _ = _covariate_block(func, sub, covariates)
            z = np.column_stack([np.ones(len(sub)), sub[base].to_numpy(dtype=float), cov_x])
            pair = _PairData(z=z, t=t, m=sub[cols["m"]].to_numpy(dtype=float), y=sub[cols["y"]].to_numpy(dtype=float))
            fit = _delta(pair, se_method)
            est, se = fit["est"], fit["se"]
            key = {"arm": a_key, "mediator": m_name, "outcome": o_name}
            common = {"n": len(sub), "n_excluded": n_excl, "design": chosen, "mediator_wave": m_wave,
                      "outcome_wave": post, "rho_at_zero": fit["sens"]["rho_at_zero"]}
            zstat = est / se
            p_norm = 2 * stats.norm.sf(np.abs(zstat))
            block: dict[str, dict[str, np.ndarray]] = {
                "normal": {"se": se, "ci_low": est - z_crit * se, "ci_high": est + z_crit * se, "p": p_norm,
                           "n_valid": np.zeros(6, dtype=int)}}
            labels = sub[cluster].to_numpy(dtype=object) if cluster else None
            n_clusters = len(sub) if labels is None else int(cluster_codes(pd.Series(labels, dtype=object)).max()) + 1
            boot_ci = [cm for cm in ci_method if cm in ("percentile", "bca")]
            if n_boot > 0 and boot_ci:
                plan = resampling_plan(len(sub), clusters=labels, strata=t, func=func)
                statistic = _PairStatistic(pair)
                boot = run_bootstrap(statistic, plan, n_boot, seed=seed, n_jobs=n_jobs, backend=backend)
                jack = statistic.jackknife(plan) if "bca" in boot_ci else None
                for cm in boot_ci:
                    block[cm] = bootstrap_ci(boot, est, method=cm, ci_level=ci_level, jackknife=jack)
            if "monte-carlo" in ci_method and n_mc > 0:
                block["monte-carlo"] = _monte_carlo(pair, est, labels, n_mc=n_mc, seed=seed, ci_level=ci_level)
            for cm, r in block.items():
                meth = {"normal": "delta", "monte-carlo": "monte-carlo"}.get(cm, "bootstrap")
                for nm in _ROW_ORDER:
                    j = _STAT_NAMES.index(nm)
                    row = {**key, "estimate": float(est[j]), "se": float(r["se"][j]), "ci_low": float(r["ci_low"][j]),
                           "ci_high": float(r["ci_high"][j]), "p": float(r["p"][j]), **common, "method": meth,
                           "ci_method": cm, "n_boot": int(r["n_valid"][j]), "n_clusters": n_clusters}
                    if nm in ("a", "b", "direct"):
                        paths.append({**row, "path": nm})
                    if nm in EFFECTS:
                        effects.append({**row, "effect": nm})
            sens.append({**key, "acme": float(est[3]), **fit["sens"], "design": chosen, "n": len(sub)})

    eff_cols = ["arm", "mediator", "outcome", "effect", "estimate", "se", "ci_low", "ci_high", "p", "n", "method",
                "design", "ci_method", "n_excluded", "mediator_wave", "outcome_wave", "n_boot", "n_clusters",
                "rho_at_zero"]
    eff = pd.DataFrame(effects)[eff_cols]
    path_cols = ["arm", "mediator", "outcome", "path", "estimate", "se", "ci_low", "ci_high", "p", "n", "method",
                 "design", "ci_method", "n_boot", "n_clusters"]
    params = {"pre": pre, "mid": m_wave if chosen == "half-longitudinal" else None, "post": post, "design": chosen,
              "covariates": covariates, "cluster": cluster, "n_boot": n_boot, "seed": seed, "ci_level": ci_level,
              "se_method": se_method, "control": control, "n_mc": n_mc if "monte-carlo" in ci_method else 0}
    return MediationResult(effects=eff, paths=pd.DataFrame(paths)[path_cols], sensitivity=pd.DataFrame(sens),
                           parameters=params)
