"""Arm comparisons on the post-test adjusted for the pre-test (ANCOVA).

:func:`ancova` fits ``post ~ pre + arm + covariates`` by ordinary least squares (own QR code,
optionally with HC3 standard errors) or, with ``clusters``, as a (partially nested) multilevel
model by REML or OLS with CR2 cluster-robust errors, and reports what R users get from ``lm`` + ``emmeans`` +
``car::Anova``: coefficients, estimated marginal means per arm, contrasts against the control arm
(Dunnett) and between all arms (Tukey), or with Holm / Hochberg / Hommel / Bonferroni /
Benjamini–Hochberg / Benjamini–Yekutieli adjustment, standardized effects (Hedges' *g*), the
Type II F test of each term, and the exclusion counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy import optimize, stats

from mentor_eval._params import check_in_interval, check_one_of, check_positive_int, renamed_parameters
from mentor_eval.errors import AnalysisError, ParameterError
from mentor_eval.outcomes.clustered import cluster_codes, nested_cluster_labels
from mentor_eval.outcomes.effectsize import hedges_j
from mentor_eval.outcomes.inputs import levels as _levels
from mentor_eval.outcomes.inputs import pre_post_wide
from mentor_eval.outcomes.multiplicity import P_ADJUST_METHODS, adjust_pvalues
from mentor_eval.outcomes.results import Result

__all__ = ["ancova", "AncovaResult", "dunnett_pvalues", "dunnett_quantile"]

FAMILY_LABELS = {"control": "vs control", "pairwise": "pairwise"}
CLUSTER_METHODS = ("mixed", "cr2", "none")
DEFAULT_CLUSTER_METHOD = "mixed"
#: working model of the CR2 adjustments and df: the REML random intercepts, or clubSandwich's lm default
CR2_WORKING_MODELS = ("random-intercepts", "identity")
ICC_COLUMNS = ["outcome", "level", "icc", "variance", "n_clusters", "n_singletons", "mean_cluster_size", "method"]
#: Columns of the model-fit tables (``AncovaResult.fit``, ``MixedModelResult.fit``).
FIT_COLUMNS = ["outcome", "model", "n", "n_obs", "n_params", "estimation", "cluster_method", "vcov", "df_method",
               "logLik", "AIC", "BIC", "singular", "converged"]
_PLACEHOLDER = "\x00no cluster"
_SINGLE_STEP = {"control": "dunnett", "pairwise": "tukey"}


_METHOD_TEXT = {
    "none": "OLS ANCOVA (post ~ pre + arm + covariates)",
    "cr2": "OLS ANCOVA with the CR2 cluster-robust covariance and Satterthwaite df",
    "mixed": "REML multilevel ANCOVA (a random intercept per cluster level for its members), Satterthwaite df",
}


@dataclass(frozen=True)
class AncovaResult(Result):
    """Result of :func:`ancova`; every table is a tidy DataFrame (see :func:`ancova`).

    ``method`` says how the contrasts were estimated (OLS, CR2 or the multilevel model; per
    outcome when they differ), ``notes`` lists exclusions and cluster fallbacks from ``info``,
    and ``summary()`` shows the contrasts.
    """

    title: ClassVar[str] = "ANCOVA: arm comparisons on the post-test adjusted for the pre-test"
    headline: ClassVar[str] = "contrasts"

    coefficients: pd.DataFrame
    emmeans: pd.DataFrame
    contrasts: pd.DataFrame
    anova: pd.DataFrame
    info: pd.DataFrame
    icc: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ICC_COLUMNS))
    fit: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=FIT_COLUMNS))

    @property
    def method(self) -> str:
        em = self.emmeans
        used = list(pd.unique(em["cluster_method"])) if "cluster_method" in em.columns and len(em) else ["none"]
        text = [_METHOD_TEXT.get(str(m), str(m)) for m in used]
        if "vcov" in self.coefficients.columns and (self.coefficients["vcov"] == "HC3").any():
            text = [t + ", HC3 standard errors" if t == _METHOD_TEXT["none"] else t for t in text]
        return "; ".join(text)

    @property
    def notes(self) -> tuple[str, ...]:
        info = self.info
        if not len(info):
            return ()
        out = []
        for _, r in info.iterrows():
            where = f"{r['outcome']}: " if "outcome" in info.columns and len(pd.unique(info["outcome"])) > 1 else ""
            if r["status"] == "excluded" and r["n"] > 0:
                out.append(f"{where}{int(r['n'])} participant(s) excluded: {r['reason']}")
            elif r["status"] not in ("used", "excluded"):
                out.append(f"{where}{r['status']}: {r['reason']}")
        return tuple(dict.fromkeys(out))


# --------------------------------------------------------------------------------------------
# multivariate t (Dunnett) helpers
# --------------------------------------------------------------------------------------------


def _box_prob(c: float, corr: np.ndarray, df: float, maxpts: int, seed: int) -> float:
    """P(max_i |T_i| < c) for a multivariate t with correlation ``corr`` and ``df``."""
    k = corr.shape[0]
    if k == 1:
        return float(1 - 2 * stats.t.sf(c, df))
    rng = np.random.default_rng(seed)
    val = stats.multivariate_t.cdf(
        np.full(k, c), shape=corr, df=df, lower_limit=np.full(k, -c), maxpts=maxpts, random_state=rng
    )
    return float(val)


def dunnett_pvalues(
    t: np.ndarray, corr: np.ndarray, df: float, *, maxpts: int = 100_000, seed: int = 20240521
) -> np.ndarray:
    """Single-step (Dunnett) adjusted two-sided p-values for correlated *t* statistics.

    ``p_i = 1 - P(max_j |T_j| < |t_i|)`` with ``T`` multivariate *t* (``df``, correlation
    ``corr``), integrated by scipy's randomized quasi-Monte-Carlo (Genz & Bretz) algorithm with a
    fixed seed, so results are reproducible. With the default ``maxpts`` the integration error is
    about 1e-6 (mvtnorm's default, used by emmeans/multcomp, targets 1e-3). The result is clipped
    to ``[p_i, min(1, k p_i)]`` (the unadjusted and Bonferroni p-values bound it exactly).
    """
    t = np.abs(np.asarray(t, dtype=float))
    corr = np.asarray(corr, dtype=float)
    k = corr.shape[0]
    raw = 2 * stats.t.sf(t, df)
    out = np.array([1.0 - _box_prob(ti, corr, df, maxpts, seed) for ti in t])
    return np.clip(out, raw, np.minimum(1.0, k * raw))


def dunnett_quantile(
    level: float, corr: np.ndarray, df: float, *, maxpts: int = 100_000, seed: int = 20240521
) -> float:
    """Critical value ``c`` with ``P(max_i |T_i| < c) = level`` (simultaneous CI half-width / SE)."""
    corr = np.asarray(corr, dtype=float)
    k = corr.shape[0]
    if k == 1:
        return float(stats.t.ppf(0.5 + level / 2, df))
    lo = stats.t.ppf(0.5 + level / 2, df)  # unadjusted critical value: a lower bound
    hi = stats.t.ppf(1 - (1 - level) / (2 * k), df)  # Bonferroni: an upper bound
    if hi - lo < 1e-9:
        return float(hi)
    return float(
        optimize.brentq(lambda c: _box_prob(c, corr, df, maxpts, seed) - level, lo, hi + 1e-9, xtol=1e-8)
    )


# --------------------------------------------------------------------------------------------
# design matrix and fit
# --------------------------------------------------------------------------------------------


def _is_factor(s: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s))


def _ols(x: np.ndarray, y: np.ndarray, hc3: bool):
    q, r = np.linalg.qr(x)
    beta = np.linalg.solve(r, q.T @ y)
    rinv = np.linalg.solve(r, np.eye(r.shape[0]))
    xtx_inv = rinv @ rinv.T
    resid = y - x @ beta
    n, p = x.shape
    df = n - p
    rss = float(resid @ resid)
    sigma2 = rss / df
    if hc3:
        h = np.sum(q**2, axis=1)
        if np.any(h > 1 - 1e-10):
            raise AnalysisError(
                "ancova: HC3 standard errors are undefined because an observation has leverage 1 "
                "(e.g. the only member of a covariate level); drop that covariate or use hc3=False."
            )
        w = (resid / (1 - h)) ** 2
        meat = (x * w[:, None]).T @ x
        vcov = xtx_inv @ meat @ xtx_inv
    else:
        vcov = sigma2 * xtx_inv
    return beta, vcov, df, rss, sigma2


def _check_adjust(adjust, families: Sequence[str]) -> dict[str, str]:
    allowed_common = sorted(set(P_ADJUST_METHODS.values()))
    spec = dict(adjust) if isinstance(adjust, Mapping) else {"control": adjust, "pairwise": adjust}
    out = {}
    for fam in families:
        val = spec.get(fam, "holm")
        key = str(val).lower() if isinstance(val, str) else val
        if key == "single-step":
            out[fam] = _SINGLE_STEP[fam]
            continue
        if key == "mvt":
            key = "dunnett"
        if key in P_ADJUST_METHODS:
            out[fam] = P_ADJUST_METHODS[key]
        elif key == "dunnett" and fam == "control":
            out[fam] = "dunnett"
        elif key == "tukey" and fam == "pairwise":
            out[fam] = "tukey"
        else:
            extra = "'dunnett' (alias 'mvt')" if fam == "control" else "'tukey'"
            raise ParameterError(
                f"The 'adjust' parameter of ancova for the {fam!r} family must be 'single-step', {extra} or "
                f"one of {', '.join(map(repr, allowed_common))}; got {val!r}."
            )
    return out


# --------------------------------------------------------------------------------------------
# clustering: checks, cluster-robust (CR2) and mixed-model inference
# --------------------------------------------------------------------------------------------


@dataclass
class _Level:
    """One declared cluster column among the analysed participants."""

    name: str
    values: np.ndarray  # object labels; None where the participant is in no cluster of this level
    has: np.ndarray  # bool: participant carries this level
    dropped: str = ""  # why the level is not modelled (fallback), "" when it is


@dataclass
class _Inference:
    """Coefficients, covariance and a df rule for any linear combination ``L beta``."""

    beta: np.ndarray
    vcov: np.ndarray
    vcov_ols: np.ndarray
    method: str  # "none", "cr2" or "mixed"
    vtype: str  # "classical", "HC3", "CR2" or "REML"
    df_resid: float
    df_rule: object = None  # callable L -> df per row; None = df_resid everywhere
    wald: object = None  # callable C -> {"F", "df_denom", "p"} for a multi-df test (CR2: HTZ)
    lmm: object = None  # the REML fit (LmmFit) when the inference is the mixed model's

    def lin(self, L: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        L = np.atleast_2d(L)
        est = L @ self.beta
        se = np.sqrt(np.einsum("ij,jk,ik->i", L, self.vcov, L))
        se_ols = np.sqrt(np.einsum("ij,jk,ik->i", L, self.vcov_ols, L))
        df = np.full(L.shape[0], float(self.df_resid)) if self.df_rule is None else np.asarray(self.df_rule(L))
        return est, se, df, se_ols


def _example_ids(ids: np.ndarray, k: int = 3) -> str:
    ids = [str(i) for i in ids[:k]]
    return ", ".join(ids)


def _cluster_levels(
    used: pd.DataFrame, clusters: list[str], participant_ids: np.ndarray, on_bad: str, label: str,
    info_rows: list[dict], keys_vals: dict,
) -> list[_Level]:
    """Check the declared cluster columns on the analysed participants (see ``on_bad_clusters``)."""
    arm_vals = used["arm"].to_numpy(dtype=object)
    arms = _levels(used["arm"])
    out: list[_Level] = []
    for c in clusters:
        col = used[c]
        has = col.notna().to_numpy()
        # values are compared as text so that 3 and "3" are not two mentors
        values = np.full(len(col), None, dtype=object)
        values[has] = col[has].astype(str).to_numpy(dtype=object)
        level = _Level(c, values, has)
        if has.all() and len(set(values)) == 1:
            # one cluster holding everyone (a single-site study): absorbed by the intercept
            info_rows.append({**keys_vals, "status": "cluster ignored",
                              "reason": f"column {c!r} has one value ({values[0]!r}) for every participant",
                              "n": int(has.sum())})
            continue
        problems: list[str] = []
        for a in arms:
            in_arm = arm_vals == a
            k = int(has[in_arm].sum())
            n_a = int(in_arm.sum())
            if 0 < k < n_a:
                miss = participant_ids[in_arm & ~has]
                problems.append(
                    f"column {c!r} is missing for {n_a - k} of the {n_a} analysed participants of arm {a!r} "
                    f"(e.g. {_example_ids(miss)}) while the others have a value; give them their cluster, or "
                    "pass on_bad_clusters='fallback' to treat them as clusters of one"
                )
            if k == n_a and n_a > 0 and len(set(values[in_arm])) == 1:
                problems.append(
                    f"every analysed participant of arm {a!r} is in the same {c!r} cluster "
                    f"({values[in_arm][0]!r}), so the arm's effect cannot be told apart from that cluster's; "
                    "pass on_bad_clusters='fallback' to analyse anyway"
                )
        if has.any():
            sizes = pd.Series(values[has]).value_counts()
            if (sizes == 1).all():
                with_value = sorted(set(arm_vals[has]), key=str)
                problems.append(
                    f"every cluster in column {c!r} has a single member (arm(s) "
                    f"{', '.join(map(repr, with_value))}), so it carries no clustering; remove it from "
                    "'clusters' or pass on_bad_clusters='fallback' to ignore it"
                )
                level.dropped = "all clusters have one member"
        if problems and on_bad == "error":
            raise AnalysisError(f"ancova{label}: " + "; ".join(problems) + ".")
        for msg in problems:
            info_rows.append({**keys_vals, "status": "cluster fallback", "reason": msg, "n": int(has.sum())})
        if has.any():
            out.append(level)
    return out


def _cr2_codes(levels: list[_Level], n: int) -> np.ndarray:
    """Cluster of each participant: the outermost modelled level with a value, else a singleton."""
    modelled = {lv.name: lv.values for lv in levels if not lv.dropped}
    if not modelled:
        return cluster_codes(pd.Series(np.full(n, None, dtype=object), dtype=object))
    return cluster_codes(pd.Series(nested_cluster_labels(modelled), dtype=object))


def _working_covariance(fit, mod: list[_Level]):
    """The REML fit's random-intercept structure as the CR2 working model (None without a fit).

    With few clusters the Satterthwaite df of CR2 computed under the identity are several times
    too large (the test is liberal); under the estimated random-intercept model they reflect the
    number of clusters (Imbens & Kolesar 2016; clubSandwich's ``target``).
    """
    from mentor_eval.outcomes.clustered import WorkingCovariance

    if fit is None or not fit.converged or not np.isfinite(fit.sigma2) or fit.sigma2 <= 0:
        return None
    levels = []
    for lv, v in zip(mod, fit.cov_re, strict=True):
        codes = np.full(len(lv.has), -1, dtype=np.int64)
        codes[lv.has] = pd.factorize(pd.Series(lv.values[lv.has], dtype=object))[0]
        levels.append((float(v[0, 0]), codes))
    return WorkingCovariance(float(fit.sigma2), tuple(levels))


def _mixed_fit(x: np.ndarray, y: np.ndarray, levels: list[_Level]):
    """REML fit with a random intercept for each modelled level, carried only by its members."""
    from mentor_eval.outcomes.lmm import fit_lmm

    mod = [lv for lv in levels if not lv.dropped]
    groups = [np.where(lv.has, lv.values, _PLACEHOLDER).astype(object) for lv in mod]
    z = [None if lv.has.all() else lv.has.astype(float) for lv in mod]
    if any(v is not None for v in z):
        import inspect

        if "z" not in inspect.signature(fit_lmm).parameters:
            raise AnalysisError("the mixed-model engine has no random-effect covariates (partial nesting)")
        return fit_lmm(y, x, groups, z=z), mod
    return fit_lmm(y, x, groups), mod


def _icc_table(levels: list[_Level], fit, mod: list[_Level], keys_vals: dict, error: str) -> pd.DataFrame:
    rows = []
    variances = {}
    if fit is not None:
        variances = {lv.name: float(v[0, 0]) for lv, v in zip(mod, fit.cov_re, strict=True)}
    for lv in levels:
        sizes = pd.Series(lv.values[lv.has]).value_counts()
        var = variances.get(lv.name, np.nan)
        if lv.name in variances:
            members = lv.has
            # the levels a typical member of this level also carries (e.g. site for a mentor)
            carried = [o.name for o in mod if o.has[members].mean() > 0.5]
            total = fit.sigma2 + sum(variances[o] for o in carried)
            icc, method = var / total, "REML"
            if not fit.converged:
                method = "REML (not converged)"
            elif var <= 1e-8 * fit.sigma2:
                method = "REML (singular: variance at zero)"
        else:
            icc = np.nan
            method = f"not estimated ({lv.dropped or error})"
        rows.append({**keys_vals, "level": lv.name, "icc": icc, "variance": var,
                     "n_clusters": int(len(sizes)), "n_singletons": int((sizes == 1).sum()),
                     "mean_cluster_size": float(sizes.mean()) if len(sizes) else np.nan, "method": method})
    cols = [c for c in ICC_COLUMNS if c in keys_vals or c != "outcome"]
    return pd.DataFrame(rows, columns=cols)


def _inference(
    x: np.ndarray, y: np.ndarray, *, hc3: bool, method: str, levels: list[_Level], keys_vals: dict,
    variance_components: bool = True, cr2_working_model: str = "random-intercepts",
) -> tuple[_Inference, pd.DataFrame | None]:
    beta, vcov, df, _rss, sigma2 = _ols(x, y, hc3)
    rinv = np.linalg.pinv(x.T @ x)
    vcov_ols = sigma2 * rinv
    if not levels:
        inf = _Inference(beta, vcov, vcov if not hc3 else vcov_ols, "none", "HC3" if hc3 else "classical", df)
        return inf, None
    # the variance components (and so the ICC) come from the REML fit whatever the method
    fit, mod, err = None, [], "" if variance_components else "variance_components=False"
    # CR2's default working model is the REML random-intercept model, so cr2 needs the fit too
    needs_fit = method == "mixed" or (method == "cr2" and cr2_working_model == "random-intercepts")
    if any(not lv.dropped for lv in levels) and (variance_components or needs_fit):
        try:
            fit, mod = _mixed_fit(x, y, levels)
        except AnalysisError as exc:
            err = f"REML fit failed: {exc}"
            if method == "mixed":
                raise
    icc = _icc_table(levels, fit, mod, keys_vals, err or "no level modelled")
    if method == "none":
        return _Inference(beta, vcov, vcov_ols, "none", "classical", df), icc
    if method == "cr2":
        from mentor_eval.outcomes.clustered import cr2_fit

        target = _working_covariance(fit, mod) if cr2_working_model == "random-intercepts" else None
        cr = cr2_fit(x, y, _cr2_codes(levels, len(y)), target=target)
        label = "CR2" if cr.working_model == "identity" else "CR2 (random-intercept working model)"
        return _Inference(cr.beta, cr.vcov, vcov_ols, "cr2", label, df, cr.satterthwaite_df, cr.wald_test), icc
    if fit is None:  # every level fell back: nothing left to model
        return _Inference(beta, vcov, vcov_ols, "none", "classical", df), icc

    def rule(L: np.ndarray) -> np.ndarray:
        return fit.satterthwaite(L)["df"].to_numpy()

    return _Inference(fit.beta, fit.vcov, vcov_ols, "mixed", "REML", df, rule, lmm=fit), icc


def _clustered_variance(used: pd.DataFrame, levels: list[_Level], icc: pd.DataFrame | None,
                        var_post: pd.Series) -> pd.Series:
    """Each arm's post-test variance with the clustering shortfall added back (Hedges 2007).

    With cluster sizes ``m_k`` among an arm's ``n`` participants and between-cluster variance
    ``tau^2``, ``E[s^2] = sigma_T^2 - tau^2 (sum m_k^2 - n) / (n (n - 1))``; ``tau^2`` of each
    modelled level is its REML variance component (conditional on the covariates, so the
    correction is if anything too small). Arms without clusters are unchanged.
    """
    if icc is None or icc.empty or not levels:
        return var_post
    tau2 = icc.set_index("level")["variance"]
    arm = used["arm"].to_numpy(dtype=object)
    out = var_post.copy()
    for a in var_post.index:
        in_arm = arm == a
        n = int(in_arm.sum())
        if n < 2:
            continue
        add = 0.0
        for lv in levels:
            t2 = float(tau2.get(lv.name, np.nan))
            if lv.dropped or not np.isfinite(t2) or t2 <= 0:
                continue
            members = lv.has & in_arm
            sizes = pd.Series(lv.values[members]).value_counts().to_numpy(float)
            add += t2 * (float((sizes**2).sum()) - sizes.sum()) / (n * (n - 1))
        out[a] = var_post[a] + add
    return out


_DF_METHODS = {"mixed": "Satterthwaite", "cr2": "Satterthwaite (CR2, Pustejovsky-Tipton)",
               "none": "residual (n - p)"}


def _fit_row(inf: _Inference, keys_vals: dict, n: int, p: int, rss: float) -> pd.DataFrame:
    """One row of ``AncovaResult.fit``: sample size, likelihood and information criteria, flags.

    Mixed: the REML fit's log-likelihood and lme4's AIC/BIC (``k = p + len(theta) + 1``).
    OLS (``"cr2"``, ``"none"``): the Gaussian log-likelihood at the ML variance ``RSS/n`` and
    ``k = p + 1`` (as R's ``logLik``/``AIC``/``BIC`` of an ``lm``).
    """
    fit = inf.lmm
    if fit is not None:
        k = p + len(fit.theta) + 1
        est, ll, aic, bic = ("REML" if fit.reml else "ML"), float(fit.loglik), float(fit.aic), float(fit.bic)
        singular, converged = bool(fit.boundary), bool(fit.converged)
    else:
        k = p + 1
        ll = -0.5 * n * (np.log(2 * np.pi) + 1.0 + np.log(rss / n)) if rss > 0 else np.nan
        est, aic, bic = "OLS", -2.0 * ll + 2.0 * k, -2.0 * ll + np.log(n) * k
        singular, converged = None, True  # closed form: no variance components to sit on a boundary
    row = {**keys_vals, "model": "ancova", "n": int(n), "n_obs": int(n), "n_params": int(k), "estimation": est,
           "cluster_method": inf.method, "vcov": inf.vtype, "df_method": _DF_METHODS[inf.method], "logLik": ll,
           "AIC": aic, "BIC": bic, "singular": singular, "converged": converged}
    return pd.DataFrame([row], columns=[c for c in FIT_COLUMNS if c in row])


def _wald_f(inf: _Inference, idx: list[int]) -> tuple[float, float, float]:
    """Wald F of coefficients ``idx`` being zero, its denominator df and p.

    Classical/HC3: ``n - p``. CR2: clubSandwich's HTZ test. Mixed: the Satterthwaite method of
    lmerTest's ``contest`` (Kuznetsova et al. 2017): the contrasts are rotated to the eigenvectors
    of their covariance, each rotated contrast gets its Satterthwaite df ``nu_m``, and
    ``F ~ F(q, 2E/(E - q))`` with ``E = sum_m nu_m / (nu_m - 2)``.
    """
    q = len(idx)
    if inf.wald is not None:
        C = np.zeros((q, len(inf.beta)))
        C[np.arange(q), idx] = 1.0
        w = inf.wald(C)
        return float(w["F"]), float(w["df_denom"]), float(w["p"])
    b = inf.beta[idx]
    vsub = inf.vcov[np.ix_(idx, idx)]
    f = float(b @ np.linalg.solve(vsub, b)) / q
    if inf.df_rule is None:
        den = float(inf.df_resid)
    else:
        lam, vec = np.linalg.eigh(vsub)
        L = np.zeros((q, len(inf.beta)))
        L[:, idx] = vec.T
        nu = np.asarray(inf.df_rule(L), dtype=float)
        # lmerTest's get_Fstat_ddf: one df; equal df; any df <= 2 gives 2
        if q == 1 or np.all(np.abs(np.diff(nu)) < 1e-8):
            den = float(np.mean(nu))
        elif np.any(nu <= 2):
            den = 2.0
        else:
            e = float(np.sum(nu / (nu - 2)))
            den = 2 * e / (e - q)
    return f, den, float(stats.f.sf(f, q, den))


def _fit_one(
    wide: pd.DataFrame,
    keys_vals: dict,
    *,
    covariates: list[str],
    control,
    hc3: bool,
    families: list[str],
    adjust: dict[str, str],
    level: float,
    maxpts: int,
    seed: int,
    clusters: list[str] = (),
    cluster_method: str = "none",
    on_bad: str = "error",
    variance_components: bool = True,
    cr2_working_model: str = "random-intercepts",
):
    info_rows = []
    n_total = len(wide)
    # exclusion reasons, first one wins so that each participant is counted once
    remaining = np.ones(n_total, dtype=bool)
    reasons = [("no baseline score", wide["pre"]), ("no post score", wide["post"])]
    reasons += [(f"missing covariate {c!r}", wide[c]) for c in covariates]
    for reason, col in reasons:
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            miss = ~np.isfinite(col.to_numpy(dtype=float, na_value=np.nan))
        else:
            miss = col.isna().to_numpy()
        hit = remaining & miss
        info_rows.append({**keys_vals, "status": "excluded", "reason": reason, "n": int(hit.sum())})
        remaining &= ~miss
    used = wide[remaining].reset_index(drop=True)
    info_rows.insert(0, {**keys_vals, "status": "used", "reason": "complete pre, post and covariates",
                         "n": int(len(used))})
    label = f" for outcome {keys_vals['outcome']!r}" if "outcome" in keys_vals else ""

    all_arms = _levels(wide["arm"])
    arms = _levels(used["arm"])
    empty = [a for a in all_arms if a not in arms]
    for a in empty:
        info_rows.append({**keys_vals, "status": "excluded", "reason": f"arm {a!r} has no complete case",
                          "n": 0})
    if control is None:
        ref = arms[0] if arms else None
    else:
        ref = control
        if control not in all_arms:
            raise ParameterError(
                f"The 'control' parameter of ancova names arm {control!r}, which is not in the data{label}; "
                f"arms present: {', '.join(map(repr, all_arms))}."
            )
        if control not in arms:
            raise AnalysisError(
                f"ancova{label}: the control arm {control!r} has no participant with complete pre, post and "
                "covariate data, so arms cannot be compared with it."
            )
    if len(arms) < 2:
        raise AnalysisError(
            f"ancova{label}: needs at least two arms with complete data; found {len(arms)} "
            f"({', '.join(map(repr, arms))})."
        )
    n_arm = used.groupby("arm").size()
    small = [a for a in arms if n_arm.get(a, 0) < 2]
    if small:
        raise AnalysisError(
            f"ancova{label}: arm(s) {', '.join(map(repr, small))} have fewer than 2 participants with complete "
            "data; an arm needs at least 2 (its post-test SD is needed for the standardized effect)."
        )
    # reference level first (treatment coding), remaining arms in sorted order
    arms = [ref] + [a for a in arms if a != ref]
    order_out = sorted(arms, key=lambda v: (str(type(v)), v))  # reporting order: sorted, as R factors

    # design matrix
    cols: list[np.ndarray] = [np.ones(len(used)), used["pre"].to_numpy(float)]
    names = ["(Intercept)", "pre"]
    terms = ["(Intercept)", "pre"]
    grid: list[float] = [1.0, float(used["pre"].mean())]
    arm_vals = used["arm"].to_numpy(dtype=object)
    arm_cols = []
    for a in arms[1:]:
        cols.append((arm_vals == a).astype(float))
        names.append(f"arm[T.{a}]")
        terms.append("arm")
        arm_cols.append(len(names) - 1)
        grid.append(0.0)
    for c in covariates:
        s = used[c]
        if _is_factor(s):
            lv = _levels(s)
            vals = s.to_numpy(dtype=object)
            for level_ in lv[1:]:
                cols.append((vals == level_).astype(float))
                names.append(f"{c}[T.{level_}]")
                terms.append(c)
                grid.append(1.0 / len(lv))  # equal weights over levels, as emmeans
            if len(lv) < 2:
                raise AnalysisError(
                    f"ancova{label}: covariate {c!r} has a single value ({lv[0]!r}) among the analysed "
                    "participants; remove it from 'covariates'."
                )
        else:
            v = s.to_numpy(float)
            cols.append(v)
            names.append(c)
            terms.append(c)
            grid.append(float(v.mean()))
    x = np.column_stack(cols)
    y = used["post"].to_numpy(float)
    n, p = x.shape
    if n <= p:
        raise AnalysisError(
            f"ancova{label}: {n} complete cases cannot estimate {p} coefficients; add participants or "
            "remove covariates."
        )
    rank = np.linalg.matrix_rank(x)
    if rank < p:
        culprits = []
        for j in range(2, p):
            if np.linalg.matrix_rank(np.delete(x, j, axis=1)) == rank:
                culprits.append(terms[j])
        culprits = list(dict.fromkeys(culprits))
        raise AnalysisError(
            f"ancova{label}: the model matrix is rank deficient (a predictor is constant or a linear "
            f"combination of others); check term(s): {', '.join(map(repr, culprits)) or 'pre'}."
        )
    levels: list[_Level] = []
    if clusters:
        pids = used["participant_id"].to_numpy(dtype=object) if "participant_id" in used.columns \
            else np.arange(len(used)).astype(str)
        levels = _cluster_levels(used, clusters, pids, on_bad, label, info_rows, keys_vals)
    inf, icc = _inference(x, y, hc3=hc3, method=cluster_method, levels=levels, keys_vals=keys_vals,
                          variance_components=variance_components, cr2_working_model=cr2_working_model)
    beta, vcov = inf.beta, inf.vcov
    _, _, df_resid, rss, sigma2 = _ols(x, y, False)
    cest, cse_all, cdf, _ = inf.lin(np.eye(p))
    tval = beta / cse_all
    tcrit_c = stats.t.ppf(0.5 + level / 2, cdf)
    coef = pd.DataFrame(
        {
            **keys_vals,
            "term": names,
            "estimate": beta,
            "se": cse_all,
            "df": cdf,
            "t": tval,
            "p": 2 * stats.t.sf(np.abs(tval), cdf),
            "ci_low": beta - tcrit_c * cse_all,
            "ci_high": beta + tcrit_c * cse_all,
            "vcov": inf.vtype,
        }
    )

    # estimated marginal means
    grid_arr = np.array(grid)
    lmat = np.tile(grid_arr, (len(arms), 1))
    for i, _a in enumerate(arms[1:], start=1):
        lmat[i, arm_cols[i - 1]] = 1.0
    emm, emm_se, emm_dfs, emm_se_ols = inf.lin(lmat)
    emm_crit = stats.t.ppf(0.5 + level / 2, emm_dfs)
    emm_df = pd.DataFrame(
        {
            **keys_vals,
            "arm": arms,
            "estimate": emm,
            "se": emm_se,
            "df": emm_dfs,
            "ci_low": emm - emm_crit * emm_se,
            "ci_high": emm + emm_crit * emm_se,
            "n": [int(n_arm[a]) for a in arms],
            "mean_post": used.groupby("arm")["post"].mean().reindex(arms).to_numpy(),
            "sd_post": used.groupby("arm")["post"].std().reindex(arms).to_numpy(),
            "cluster_method": inf.method,
            "se_unclustered": emm_se_ols,
        }
    )
    pos = {a: i for i, a in enumerate(arms)}
    emm_df = emm_df.set_index("arm").loc[order_out].reset_index()
    emm_df = emm_df[[*keys_vals, "arm", "estimate", "se", "df", "ci_low", "ci_high", "n", "mean_post", "sd_post",
                     "cluster_method", "se_unclustered"]]

    # contrasts
    sd_post = used.groupby("arm")["post"].std()
    # In a clustered arm the within-arm SD underestimates the total SD (Hedges 2007); add back
    # its expected shortfall so that g is standardised by the SD of the whole population.
    var_post = _clustered_variance(used, levels, icc, sd_post**2) if inf.method != "none" else sd_post**2
    frames = []
    for fam in families:
        if fam == "control":
            pairs = [(a, ref) for a in order_out if a != ref]
        else:
            pairs = [(order_out[i], order_out[j]) for i in range(len(order_out)) for j in range(i + 1, len(order_out))]
        cm = np.array([lmat[pos[a]] - lmat[pos[b]] for a, b in pairs])
        est, cse, df_c, cse_ols = inf.lin(cm)
        cv = cm @ vcov @ cm.T
        ct = est / cse
        praw = 2 * stats.t.sf(np.abs(ct), df_c)
        tcrit = stats.t.ppf(0.5 + level / 2, df_c)
        # The joint (Dunnett / Tukey) integrals need one df: the family's smallest, which is
        # conservative for every member. Without clustering all df are n - p anyway.
        df_fam = float(np.nanmin(df_c)) if np.any(np.isfinite(df_c)) else np.nan
        df_joint = min(df_fam, 1e7)
        method = adjust[fam]
        k = len(pairs)
        if method == "dunnett":
            corr = cv / np.outer(cse, cse)
            padj = dunnett_pvalues(ct, corr, df_joint, maxpts=maxpts, seed=seed)
            crit = dunnett_quantile(level, corr, df_joint, maxpts=maxpts, seed=seed)
        elif method == "tukey":
            nmeans = len(arms)
            padj = stats.studentized_range.sf(np.abs(ct) * np.sqrt(2), nmeans, df_joint)
            padj = np.clip(padj, praw, 1.0)
            crit = float(stats.studentized_range.ppf(level, nmeans, df_joint) / np.sqrt(2))
        else:
            padj = adjust_pvalues(praw, method)
            # like emmeans: p-value-only methods get Bonferroni simultaneous intervals
            crit = tcrit if method == "none" else stats.t.ppf(1 - (1 - level) / (2 * k), df_c)
        n1 = np.array([n_arm[a] for a, _ in pairs], dtype=float)
        n2 = np.array([n_arm[b] for _, b in pairs], dtype=float)
        v1 = np.array([var_post[a] for a, _ in pairs])
        v2 = np.array([var_post[b] for _, b in pairs])
        nu = n1 + n2 - 2
        with np.errstate(invalid="ignore", divide="ignore"):
            spool = np.sqrt(((n1 - 1) * v1 + (n2 - 1) * v2) / nu)
            j = hedges_j(nu)
            dstd = est / spool
            dse = np.sqrt((cse / spool) ** 2 + dstd**2 / (2 * nu))
            # the contrast's own df: with clustered variance they can be few, and a normal
            # quantile would make the interval too short (coverage 89-90% with four circles)
            g_crit = stats.t.ppf(0.5 + level / 2, df_c) if inf.method != "none" else stats.norm.ppf(0.5 + level / 2)
            g = j * dstd
            g_lo, g_hi = j * (dstd - g_crit * dse), j * (dstd + g_crit * dse)
        frames.append(
            pd.DataFrame(
                {
                    **keys_vals,
                    "contrast": [f"{a} - {b}" for a, b in pairs],
                    "arm": [a for a, _ in pairs],
                    "reference": [b for _, b in pairs],
                    "estimate": est,
                    "se": cse,
                    "df": df_c,
                    "t": ct,
                    "p": praw,
                    "p_adj": padj,
                    "adjust": method,
                    "family": FAMILY_LABELS[fam],
                    "ci_low": est - tcrit * cse,
                    "ci_high": est + tcrit * cse,
                    "ci_low_adj": est - crit * cse,
                    "ci_high_adj": est + crit * cse,
                    "g": g,
                    "g_se": j * dse,
                    "g_ci_low": g_lo,
                    "g_ci_high": g_hi,
                    "standardizer": spool,
                    "n_arm": n1.astype(int),
                    "n_ref": n2.astype(int),
                    "cluster_method": inf.method,
                    "se_unclustered": cse_ols,
                }
            )
        )
    contrasts = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    # Type II tests (equal to Type III here: the model has no interactions)
    rows = []
    uniq_terms = list(dict.fromkeys(terms[1:]))
    classical = inf.vtype == "classical"
    for term in uniq_terms:
        idx = [i for i, t_ in enumerate(terms) if t_ == term]
        f, den, pval = _wald_f(inf, idx)
        q = len(idx)
        rows.append(
            {
                **keys_vals,
                "term": "arm" if term == "arm" else term,
                "sum_sq": f * q * sigma2 if classical else np.nan,
                "df": q,
                "df_denom": den,
                "F": f,
                "p": pval,
                "test": "F (Type II)" if classical else f"Wald F ({inf.vtype})",
            }
        )
    rows.append({**keys_vals, "term": "Residuals", "sum_sq": rss, "df": int(df_resid), "df_denom": np.nan,
                 "F": np.nan, "p": np.nan, "test": ""})
    anova = pd.DataFrame(rows)
    info = pd.DataFrame(info_rows)
    return coef, emm_df, contrasts, anova, info, icc, _fit_row(inf, keys_vals, n, p, rss)


@renamed_parameters({"ci": "ci_level"})
def ancova(
    data: pd.DataFrame,
    outcome: str | Sequence[str] | None = None,
    *,
    pre: str = "baseline",
    post: str = "post",
    covariates: Sequence[str] = (),
    control=None,
    hc3: bool = False,
    contrasts: Sequence[str] | str = ("control", "pairwise"),
    adjust: str | Mapping[str, str] = "holm",
    ci_level: float = 0.95,
    score: str = "score",
    wave: str = "wave",
    arm: str = "arm",
    participant: str = "participant_id",
    outcome_col: str = "outcome",
    mvt_maxpts: int = 100_000,
    seed: int = 20240521,
    clusters: Sequence[str] = (),
    cluster_method: str | None = None,
    on_bad_clusters: str = "error",
    variance_components: bool = True,
    cr2_working_model: str = "random-intercepts",
) -> AncovaResult:
    """ANCOVA of the post-test on arm, adjusted for the pre-test and covariates.

    Parameters
    ----------
    data : pandas.DataFrame
        Long analysis frame: ``participant``, ``wave``, ``score``, ``arm``, optionally ``outcome``
        and the covariate columns (participant-level; taken from the baseline row).
    outcome : str or sequence of str, optional
        Outcome(s) to analyse; each is fitted separately. Default: all.
    pre, post : str
        Wave labels of the pre-test (covariate) and post-test (response).
    covariates : sequence of str
        Extra adjustment columns. Numeric columns enter linearly; string, categorical and boolean
        columns enter as factors (treatment coding, first level as reference).
    control : optional
        Control arm (the reference of the ``"control"`` contrasts). Default: the first arm in
        sorted order, as R's default treatment contrasts.
    hc3 : bool
        Use HC3 heteroskedasticity-consistent standard errors (MacKinnon & White 1985) for every
        coefficient, marginal mean, contrast and Wald test.
    contrasts : {"control", "pairwise"} or a sequence of them
        Families of contrasts: each arm minus the control; all pairs (earlier minus later arm in
        sorted order, as ``emmeans::pairs``).
    adjust : str or mapping
        Multiplicity adjustment within each family: ``"holm"`` (default), ``"hochberg"``,
        ``"hommel"``, ``"bonferroni"``, ``"bh"``, ``"by"``, ``"none"``; ``"dunnett"`` (alias
        ``"mvt"``) for the control family, ``"tukey"`` for the pairwise family, or
        ``"single-step"`` for Dunnett and Tukey respectively. A mapping sets each family, e.g.
        ``{"control": "dunnett", "pairwise": "tukey"}``.
    ci_level : float
        Confidence level.
    score, wave, arm, participant, outcome_col : str
        Column names.
    mvt_maxpts : int
        Quasi-Monte-Carlo points for the multivariate *t* integrals of the Dunnett adjustment.
    seed : int
        Seed of those integrals (results are reproducible).
    clusters : sequence of str
        Participant-level cluster columns, outermost first (e.g. ``["site_id", "mentor_id"]``, as a
        study's ``clusters``). A missing value means the participant is in no cluster of that level
        (the control arm of a partially nested trial). When given, the analysis is clustered unless
        ``cluster_method="none"``.
    cluster_method : {"mixed", "cr2", "none"}, optional
        ``"mixed"`` (the default whenever ``clusters`` are given): REML multilevel ANCOVA with a
        random intercept for each level, carried only by the participants who have a value at that
        level (lme4: ``post ~ pre + arm + (0 + in_mentor | mentor)``), Satterthwaite df for every
        coefficient, adjusted mean and contrast (as lmerTest/emmeans). ``"cr2"``: OLS with the
        Bell–McCaffrey CR2 cluster-robust covariance and Pustejovsky–Tipton Satterthwaite df (as
        clubSandwich ``coef_test(..., "Satterthwaite")``/``linear_contrast``); participants without
        a cluster are clusters of one. ``"none"``: the unclustered analysis (must be chosen
        explicitly when ``clusters`` are given; the ICC table is still reported).
    on_bad_clusters : {"error", "fallback"}
        What to do with unusable cluster data (see Notes): stop with an
        :class:`~mentor_eval.errors.AnalysisError` naming the column and arm (default), or fall
        back as described there and record each fallback in ``info`` (``status="cluster
        fallback"``).
    variance_components : bool
        Fit the REML variance components for the ``icc`` table also when ``cluster_method`` is
        ``"cr2"`` or ``"none"`` (default True; simulations that only need p-values turn it off).
        With ``cluster_method="cr2"`` and the default ``cr2_working_model`` they are the CR2
        working model, so they are fitted whatever this says.
    cr2_working_model : {"random-intercepts", "identity"}
        Working covariance under which the CR2 adjustment matrices and Satterthwaite df are
        computed (the estimate and its robustness do not depend on it). ``"random-intercepts"``
        (default): the REML random-intercept model of the same design (clubSandwich
        ``vcovCR(lm_fit, type = "CR2", target = Phi)``); with few clusters per arm its df reflect
        the number of clusters, where under ``"identity"`` (clubSandwich's default for ``lm``)
        they are several times too large and the test is liberal (about 7% type I error with
        four circles per arm, see ``docs/calibration.md``). Falls back to the identity when the
        REML fit fails or a cluster has more than 2,500 participants; ``coefficients["vcov"]``
        says which was used (``"CR2"`` for the identity).

    Returns
    -------
    AncovaResult
        Frozen dataclass of DataFrames (``outcome`` column first whenever the data have one):

        - ``coefficients``: ``term`` (``"(Intercept)"``, ``"pre"``, ``"arm[T.<arm>]"``, covariates,
          ``"<factor>[T.<level>]"``), ``estimate``, ``se``, ``df``, ``t``, ``p``, ``ci_low``,
          ``ci_high``, ``vcov`` (``"classical"``, ``"HC3"``, ``"CR2"`` or ``"REML"``).
        - ``emmeans``: ``arm``, ``estimate`` (adjusted mean), ``se``, ``df``, ``ci_low``,
          ``ci_high``, ``n``, the unadjusted ``mean_post``, ``sd_post``, ``cluster_method``
          (``"mixed"``, ``"cr2"`` or ``"none"``: the method actually used) and ``se_unclustered``
          (the SE the unclustered OLS analysis gives the same quantity).
        - ``contrasts``: ``contrast`` (``"<arm> - <reference>"``), ``arm``, ``reference``,
          ``estimate`` (difference of adjusted means), ``se``, ``df``, ``t``, ``p`` (unadjusted),
          ``p_adj``, ``adjust``, ``family`` (``"vs control"`` or ``"pairwise"``), ``ci_low``,
          ``ci_high`` (per-comparison), ``ci_low_adj``, ``ci_high_adj`` (simultaneous: Dunnett or
          Tukey critical value; Bonferroni for the p-value-only methods, as emmeans does), ``g``,
          ``g_se``, ``g_ci_low``, ``g_ci_high`` (Hedges' *g*), ``standardizer`` (pooled
          unadjusted post-test SD of the two arms; with clustering, corrected as in Notes), ``n_arm``, ``n_ref``, ``cluster_method``,
          ``se_unclustered``.
        - ``anova``: per term ``sum_sq``, ``df`` (the term's), ``df_denom`` (the F's denominator df), ``F``, ``p``, ``test``, plus a
          ``Residuals`` row (as ``car::Anova(type = 2)``).
        - ``info``: ``status`` (``"used"``, ``"excluded"``, ``"cluster fallback"``, ``"cluster
          ignored"``), ``reason``, ``n``.
        - ``icc``: one row per cluster level (empty without ``clusters``): ``level`` (the column),
          ``icc`` (the level's share of the covariate-adjusted post-test variance of a participant
          who carries it: its variance over the residual variance plus the variances of the levels
          such a participant carries, from the REML fit), ``variance``, ``n_clusters``,
          ``n_singletons`` (clusters with one analysed member), ``mean_cluster_size``, ``method``
          (``"REML"``, ``"REML (singular: variance at zero)"``, ``"REML (not converged)"``, or
          ``"not estimated (<why>)"``).
        - ``fit``: one row per outcome: ``model`` (``"ancova"``), ``n`` and ``n_obs`` (analysed
          participants), ``n_params`` (parameters counted by AIC/BIC), ``estimation``
          (``"REML"`` for the mixed method, else ``"OLS"``), ``cluster_method``, ``vcov``,
          ``df_method`` (``"Satterthwaite"``, ``"Satterthwaite (CR2, Pustejovsky-Tipton)"`` or
          ``"residual (n - p)"``), ``logLik``, ``AIC``, ``BIC`` (mixed: the REML fit, as lme4;
          OLS: as R's ``logLik.lm``, ``k = p + 1``), ``singular`` (the REML fit at a boundary,
          lme4's ``isSingular``; None for OLS), ``converged``.

    Notes
    -----
    Model: :math:`y = X\\beta + e` with columns intercept, pre, arm dummies (control as the
    reference), covariates; :math:`\\hat\\beta = (X'X)^{-1}X'y` via QR,
    :math:`\\hat V = \\hat\\sigma^2 (X'X)^{-1}` with :math:`\\hat\\sigma^2 = RSS/(n-p)`, or HC3
    :math:`(X'X)^{-1} X' \\mathrm{diag}(e_i^2/(1-h_i)^2) X (X'X)^{-1}`. Inference uses *t* with
    :math:`n-p` df (also with HC3, as ``emmeans`` with a sandwich ``vcov.``).

    Estimated marginal means follow ``emmeans`` for ``lm``: the reference grid sets the pre-test and
    numeric covariates at their means over the analysed participants and averages factor
    covariates over their levels with equal weights; EMM :math:`= L\\hat\\beta`,
    :math:`SE = \\sqrt{L \\hat V L'}`. Contrasts are differences of rows of *L*.

    Adjustments: Dunnett = single-step over the correlated contrast *t* statistics
    (``p = 1 - P(max|T| < |t|)``, multivariate *t* by quasi-Monte-Carlo with a fixed seed; error
    about 1e-6, versus 1e-3 for mvtnorm's default in emmeans' ``adjust = "mvt"``; note emmeans'
    default for ``trt.vs.ctrl`` is the ``"dunnettx"`` approximation, which this is not).
    Tukey: ``ptukey(|t|·√2, k, df)`` with *k* arms, as emmeans (Tukey–Kramer for unequal *n*).
    Holm etc.: :func:`mentor_eval.outcomes.adjust_pvalues` within each family.

    Standardized effect (What Works Clearinghouse convention): difference of adjusted means
    divided by the pooled unadjusted post-test SD of the two arms,
    :math:`S = \\sqrt{((n_1-1)s_1^2 + (n_2-1)s_2^2)/(n_1+n_2-2)}`, times the exact correction
    :math:`J(n_1+n_2-2)`; WWC's :math:`\\omega = 1 - 3/(4N-9)` is the usual approximation of the
    same *J*. CI: :math:`J(d \\pm z\\,SE_d)` (clustered: :math:`t_{df}` for *z*) with the delta-method
    :math:`SE_d^2 = (SE_{contrast}/S)^2 + d^2/(2(n_1+n_2-2))` (model uncertainty of the adjusted
    difference plus uncertainty of the standardizer).

    The F test of each term is the Wald test of all its coefficients being zero; with the
    classical covariance it equals the Type II (and, without interactions, Type III) F test of
    ``car::Anova``.

    Clustered data. Mentees share a mentor (or circle, or community) after matching, so their
    post-tests are correlated and an unclustered SE is too small; in a partially nested trial only
    the treated arms are clustered. ``"mixed"`` fits the random intercepts by REML on the
    project's engine (:func:`mentor_eval.outcomes.lmm.fit_lmm` with random-effect covariates
    ``z``: 1 for participants with a value in the column, 0 otherwise, and a placeholder level),
    so every level enters, including a level such as site that contains every arm. Why it is the
    default: in simulated partially nested trials (control unclustered, 6–15 mentors of 10, ICC
    .05–.2, 400 replications each) both methods held the nominal 5% (mixed 4.5–5.5%, CR2
    4.5–5.8%), but CR2 clusters on the outermost level, so a declared level with few clusters
    that spans all arms (the sample study's three sites) leaves it with 1–2 df and no power, while
    the mixed model gives such a level a random intercept. CR2 is the conservative, model-free
    alternative: robust to unequal residual variances across arms and to a misspecified random
    part (the mixed model assumes one residual variance).

    CR2: :math:`V = M \\sum_g X_g' A_g e_g e_g' A_g X_g M`, :math:`M = (X'X)^{-1}`,
    :math:`A_g = (I - H_{gg})^{-1/2}` (working model: the identity, as clubSandwich for ``lm``),
    computed by cluster size with singletons in closed form; see
    :mod:`mentor_eval.outcomes.clustered`. With several levels each participant is clustered on
    the outermost declared level at which they have a value (cluster-robust inference with nested
    levels clusters at the top level, whose clusters contain the lower ones); participants with no
    value anywhere are clusters of one.

    Degrees of freedom: each coefficient, adjusted mean and contrast has its own Satterthwaite df
    (``df`` column). A single-step family (Dunnett, Tukey) needs one df for its multivariate *t*
    integral: the smallest df of the family, which is conservative for every member. Holm and
    the other p-value methods adjust the per-contrast p-values; their simultaneous (Bonferroni)
    intervals use each contrast's own df. Hedges' *g* uses the clustered SE of the contrast in its
    delta-method SE and the contrast's Satterthwaite df for its critical value (a normal quantile
    gave 89-90% coverage with four circles per arm); the standardizer is the pooled post-test SD
    with each clustered arm's variance corrected for clustering as in Hedges (2007):
    :math:`s_a^2 + \\sum_l \\tau_l^2 (\\sum_k m_{ak}^2 - n_a)/(n_a(n_a-1))`, the expected
    shortfall of a within-arm variance when ``n_a`` participants sit in clusters of sizes
    :math:`m_{ak}` (:math:`\\tau_l^2`: the level's REML variance; no correction when variance
    components are not estimated). F tests of the terms with
    clustering: for ``"mixed"`` the Wald F with the Satterthwaite denominator df of lmerTest's
    ``contest`` (``anova(ddf = "Satterthwaite")``); for ``"cr2"`` clubSandwich's HTZ test
    (``Wald_test(..., test = "HTZ")``, the Hotelling T² approximation of Pustejovsky & Tipton
    2018), which for a one-df term is the squared Satterthwaite t test.

    Bad cluster data (``on_bad_clusters``): (1) a column missing for some but not all analysed
    participants of an arm -- fallback: those participants are clusters of one (CR2) or carry no
    random effect of that level (mixed); (2) every participant of an arm in one cluster, so the
    arm's effect is confounded with that cluster's -- fallback: analyse anyway; (3) every cluster of
    a column has a single member, so the column carries no clustering -- fallback: the level is not
    modelled (CR2 then treats those participants as clusters of one; if no level is left, the
    mixed method reports ``cluster_method="none"``). Singleton clusters among larger ones (a mentor
    with one remaining mentee) are legitimate and counted in ``icc.n_singletons``. An entirely
    empty cluster column, or one with the same value for everyone (a single site), carries no
    clustering and is ignored (``info`` says so).

    Missing-data policy: complete cases on pre, post and every covariate; each excluded participant
    is counted once in ``info`` under the first missing item (baseline, post, then covariates in
    the order given). Arms with fewer than 2 complete cases stop the analysis with an error.

    References
    ----------
    Searle, S. R., Speed, F. M. & Milliken, G. A. (1980). Population marginal means in the linear
    model. Am. Statist. 34, 216–221. Lenth, R. V. emmeans: Estimated Marginal Means (R package).
    Dunnett, C. W. (1955). JASA 50, 1096–1121. Genz, A. & Bretz, F. (2009). Computation of
    Multivariate Normal and t Probabilities. Springer. MacKinnon, J. G. & White, H. (1985).
    J. Econometrics 29, 305–325. What Works Clearinghouse (2022). Procedures and Standards
    Handbook, v5.0. Montgomery, D. C. Design and Analysis of Experiments (the ``fiber`` data).
    Bell, R. M. & McCaffrey, D. F. (2002). Survey Methodology 28, 169–181. Pustejovsky, J. E. &
    Tipton, E. (2018). J. Business & Economic Statistics 36, 672–683. Bauer, D. J., Sterba, S. K.
    & Hallfors, D. D. (2008). Evaluating group-based interventions when control participants are
    ungrouped. Multivariate Behavioral Research 43, 210–236. Kuznetsova, A., Brockhoff, P. B. &
    Christensen, R. H. B. (2017). lmerTest. J. Statistical Software 82(13). Hedges, L. V. (2007).
    Effect sizes in cluster-randomized designs. J. Educational and Behavioral Statistics 32, 341–370.

    Examples
    --------
    >>> import pandas as pd
    >>> fiber = pd.DataFrame({
    ...     "participant_id": [str(i) for i in range(15)] * 2,
    ...     "arm": list("AAAAABBBBBCCCCC") * 2,
    ...     "wave": ["baseline"] * 15 + ["post"] * 15,
    ...     "score": [20, 25, 24, 25, 32, 22, 28, 22, 30, 28, 21, 23, 26, 21, 15,
    ...               36, 41, 39, 42, 49, 40, 48, 39, 45, 44, 35, 37, 42, 34, 32]})
    >>> res = ancova(fiber)
    >>> res.emmeans["estimate"].round(2).tolist()
    [40.38, 41.42, 38.8]
    """
    func = "ancova"
    level = check_in_interval(func, "ci_level", ci_level, 0, 1)
    maxpts = check_positive_int(func, "mvt_maxpts", mvt_maxpts, minimum=1000)
    if isinstance(covariates, str):
        covariates = [covariates]
    covariates = list(covariates)
    reserved = {score, wave, arm, participant, outcome_col, "pre", "post", "outcome", "arm", "participant_id"}
    bad = [c for c in covariates if c in reserved]
    if bad:
        raise ParameterError(
            f"The 'covariates' parameter of {func} cannot include {', '.join(map(repr, bad))}: that column "
            "is already part of the model or the data layout."
        )
    if len(set(covariates)) != len(covariates):
        raise ParameterError(f"The 'covariates' parameter of {func} lists a column twice: {covariates!r}.")
    fams = [contrasts] if isinstance(contrasts, str) else list(contrasts)
    for fam in fams:
        if fam not in ("control", "pairwise"):
            raise ParameterError(
                f"The 'contrasts' parameter of {func} must hold 'control' and/or 'pairwise'; got {fam!r}."
            )
    fams = list(dict.fromkeys(fams))
    adj = _check_adjust(adjust, fams)
    if not isinstance(hc3, (bool, np.bool_)):
        raise ParameterError(f"The 'hc3' parameter of {func} must be True or False; got {hc3!r}.")

    clusters = [clusters] if isinstance(clusters, str) else list(clusters or ())
    if len(set(clusters)) != len(clusters):
        raise ParameterError(f"The 'clusters' parameter of {func} lists a column twice: {clusters!r}.")
    clash = [c for c in clusters if c in reserved or c in covariates]
    if clash:
        raise ParameterError(
            f"The 'clusters' parameter of {func} cannot include {', '.join(map(repr, clash))}: that column is "
            "already an arm, covariate or part of the data layout."
        )
    if cluster_method is None:
        cluster_method = DEFAULT_CLUSTER_METHOD if clusters else "none"
    check_one_of(func, "cluster_method", cluster_method, CLUSTER_METHODS)
    check_one_of(func, "on_bad_clusters", on_bad_clusters, ("error", "fallback"))
    check_one_of(func, "cr2_working_model", cr2_working_model, CR2_WORKING_MODELS)
    if cluster_method != "none" and not clusters:
        raise ParameterError(
            f"The 'cluster_method' parameter of {func} is {cluster_method!r} but no 'clusters' were given; name "
            "the cluster column(s) (e.g. clusters=['mentor_id'])."
        )
    if hc3 and cluster_method != "none":
        raise ParameterError(
            f"The 'hc3' parameter of {func} cannot be combined with cluster_method={cluster_method!r}: the CR2 "
            "covariance is already robust to unequal variances; use hc3=False."
        )

    wide, keys = pre_post_wide(
        func, data, outcome, pre=pre, post=post, score=score, wave=wave, arm=arm,
        participant=participant, outcome_col=outcome_col, baseline=[*covariates, *clusters],
    )
    parts = {"coefficients": [], "emmeans": [], "contrasts": [], "anova": [], "info": [], "icc": [], "fit": []}
    groups = wide.groupby(keys, sort=True) if keys else [((None,), wide)]
    for key, sub in groups:  # one fit per outcome
        keys_vals = {"outcome": key[0]} if keys else {}
        res = _fit_one(
            sub.reset_index(drop=True), keys_vals, covariates=covariates, control=control, hc3=bool(hc3),
            families=fams, adjust=adj, level=level, maxpts=maxpts, seed=seed, clusters=clusters,
            cluster_method=cluster_method, on_bad=on_bad_clusters, variance_components=bool(variance_components),
            cr2_working_model=cr2_working_model,
        )
        for name, frame in zip(parts, res, strict=True):
            if frame is not None:
                parts[name].append(frame)
    icc_cols = ICC_COLUMNS if keys else ICC_COLUMNS[1:]
    parts["icc"] = parts["icc"] or [pd.DataFrame(columns=icc_cols)]
    parts["fit"] = parts["fit"] or [pd.DataFrame(columns=FIT_COLUMNS if keys else FIT_COLUMNS[1:])]
    return AncovaResult(**{k: pd.concat(v, ignore_index=True) for k, v in parts.items()})
