"""Arm comparisons on the post-test adjusted for the pre-test (ANCOVA).

:func:`ancova` fits ``post ~ pre + arm + covariates`` by ordinary least squares (own QR code,
optionally with HC3 standard errors), and reports what R users get from ``lm`` + ``emmeans`` +
``car::Anova``: coefficients, estimated marginal means per arm, contrasts against the control arm
(Dunnett) and between all arms (Tukey), or with Holm / Hochberg / Hommel / Bonferroni /
Benjamini–Hochberg / Benjamini–Yekutieli adjustment, standardized effects (Hedges' *g*), the
Type II F test of each term, and the exclusion counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from mentor_eval._params import check_in_interval, check_positive_int
from mentor_eval.errors import AnalysisError, ParameterError
from mentor_eval.outcomes.effectsize import hedges_j
from mentor_eval.outcomes.multiplicity import P_ADJUST_METHODS, adjust_pvalues
from mentor_eval.outcomes.prepost import _pre_post_wide

__all__ = ["ancova", "AncovaResult", "dunnett_pvalues", "dunnett_quantile"]

FAMILY_LABELS = {"control": "vs control", "pairwise": "pairwise"}
_SINGLE_STEP = {"control": "dunnett", "pairwise": "tukey"}


@dataclass(frozen=True)
class AncovaResult:
    """Result of :func:`ancova`; every attribute is a tidy DataFrame (see :func:`ancova`)."""

    coefficients: pd.DataFrame
    emmeans: pd.DataFrame
    contrasts: pd.DataFrame
    anova: pd.DataFrame
    info: pd.DataFrame


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


def _levels(s: pd.Series) -> list:
    if isinstance(s.dtype, pd.CategoricalDtype):
        present = set(s.dropna().unique())
        return [c for c in s.cat.categories if c in present]
    return sorted(s.dropna().unique(), key=lambda v: (str(type(v)), v))


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
    beta, vcov, df, rss, sigma2 = _ols(x, y, hc3)
    se = np.sqrt(np.diag(vcov))
    tval = beta / se
    tcrit = stats.t.ppf(0.5 + level / 2, df)
    vtype = "HC3" if hc3 else "classical"
    coef = pd.DataFrame(
        {
            **keys_vals,
            "term": names,
            "estimate": beta,
            "se": se,
            "df": float(df),
            "t": tval,
            "p": 2 * stats.t.sf(np.abs(tval), df),
            "ci_low": beta - tcrit * se,
            "ci_high": beta + tcrit * se,
            "vcov": vtype,
        }
    )

    # estimated marginal means
    grid_arr = np.array(grid)
    lmat = np.tile(grid_arr, (len(arms), 1))
    for i, _a in enumerate(arms[1:], start=1):
        lmat[i, arm_cols[i - 1]] = 1.0
    emm = lmat @ beta
    emm_se = np.sqrt(np.einsum("ij,jk,ik->i", lmat, vcov, lmat))
    emm_df = pd.DataFrame(
        {
            **keys_vals,
            "arm": arms,
            "estimate": emm,
            "se": emm_se,
            "df": float(df),
            "ci_low": emm - tcrit * emm_se,
            "ci_high": emm + tcrit * emm_se,
            "n": [int(n_arm[a]) for a in arms],
            "mean_post": used.groupby("arm")["post"].mean().reindex(arms).to_numpy(),
            "sd_post": used.groupby("arm")["post"].std().reindex(arms).to_numpy(),
        }
    )
    pos = {a: i for i, a in enumerate(arms)}
    emm_df = emm_df.set_index("arm").loc[order_out].reset_index()
    emm_df = emm_df[[*keys_vals, "arm", "estimate", "se", "df", "ci_low", "ci_high", "n", "mean_post", "sd_post"]]

    # contrasts
    sd_post = used.groupby("arm")["post"].std()
    frames = []
    for fam in families:
        if fam == "control":
            pairs = [(a, ref) for a in order_out if a != ref]
        else:
            pairs = [(order_out[i], order_out[j]) for i in range(len(order_out)) for j in range(i + 1, len(order_out))]
        cm = np.array([lmat[pos[a]] - lmat[pos[b]] for a, b in pairs])
        est = cm @ beta
        cv = cm @ vcov @ cm.T
        cse = np.sqrt(np.diag(cv))
        ct = est / cse
        praw = 2 * stats.t.sf(np.abs(ct), df)
        method = adjust[fam]
        k = len(pairs)
        if method == "dunnett":
            corr = cv / np.outer(cse, cse)
            padj = dunnett_pvalues(ct, corr, df, maxpts=maxpts, seed=seed)
            crit = dunnett_quantile(level, corr, df, maxpts=maxpts, seed=seed)
        elif method == "tukey":
            nmeans = len(arms)
            padj = stats.studentized_range.sf(np.abs(ct) * np.sqrt(2), nmeans, df)
            padj = np.clip(padj, praw, 1.0)
            crit = float(stats.studentized_range.ppf(level, nmeans, df) / np.sqrt(2))
        else:
            padj = adjust_pvalues(praw, method)
            # like emmeans: p-value-only methods get Bonferroni simultaneous intervals
            crit = tcrit if method == "none" else float(stats.t.ppf(1 - (1 - level) / (2 * k), df))
        n1 = np.array([n_arm[a] for a, _ in pairs], dtype=float)
        n2 = np.array([n_arm[b] for _, b in pairs], dtype=float)
        s1 = np.array([sd_post[a] for a, _ in pairs])
        s2 = np.array([sd_post[b] for _, b in pairs])
        nu = n1 + n2 - 2
        with np.errstate(invalid="ignore", divide="ignore"):
            spool = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / nu)
            j = hedges_j(nu)
            dstd = est / spool
            dse = np.sqrt((cse / spool) ** 2 + dstd**2 / (2 * nu))
            z = stats.norm.ppf(0.5 + level / 2)
            g = j * dstd
            g_lo, g_hi = j * (dstd - z * dse), j * (dstd + z * dse)
        frames.append(
            pd.DataFrame(
                {
                    **keys_vals,
                    "contrast": [f"{a} - {b}" for a, b in pairs],
                    "arm": [a for a, _ in pairs],
                    "reference": [b for _, b in pairs],
                    "estimate": est,
                    "se": cse,
                    "df": float(df),
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
                    "n_reference": n2.astype(int),
                }
            )
        )
    contrasts = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    # Type II tests (equal to Type III here: the model has no interactions)
    rows = []
    uniq_terms = list(dict.fromkeys(terms[1:]))
    for term in uniq_terms:
        idx = [i for i, t_ in enumerate(terms) if t_ == term]
        b = beta[idx]
        vsub = vcov[np.ix_(idx, idx)]
        q = len(idx)
        wald = float(b @ np.linalg.solve(vsub, b))
        f = wald / q
        rows.append(
            {
                **keys_vals,
                "term": "arm" if term == "arm" else term,
                "sum_sq": np.nan if hc3 else f * q * sigma2,
                "df": q,
                "df_resid": float(df),
                "F": f,
                "p": float(stats.f.sf(f, q, df)),
                "test": "Wald F (HC3)" if hc3 else "F (Type II)",
            }
        )
    rows.append({**keys_vals, "term": "Residuals", "sum_sq": rss, "df": int(df), "df_resid": np.nan,
                 "F": np.nan, "p": np.nan, "test": ""})
    anova = pd.DataFrame(rows)
    info = pd.DataFrame(info_rows)
    return coef, emm_df, contrasts, anova, info


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
    ci: float = 0.95,
    score: str = "score",
    wave: str = "wave",
    arm: str = "arm",
    participant: str = "participant_id",
    mvt_maxpts: int = 100_000,
    seed: int = 20240521,
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
    ci : float
        Confidence level.
    score, wave, arm, participant : str
        Column names.
    mvt_maxpts : int
        Quasi-Monte-Carlo points for the multivariate *t* integrals of the Dunnett adjustment.
    seed : int
        Seed of those integrals (results are reproducible).

    Returns
    -------
    AncovaResult
        Frozen dataclass of DataFrames (``outcome`` column first whenever the data have one):

        - ``coefficients``: ``term`` (``"(Intercept)"``, ``"pre"``, ``"arm[T.<arm>]"``, covariates,
          ``"<factor>[T.<level>]"``), ``estimate``, ``se``, ``df``, ``t``, ``p``, ``ci_low``,
          ``ci_high``, ``vcov`` (``"classical"`` or ``"HC3"``).
        - ``emmeans``: ``arm``, ``estimate`` (adjusted mean), ``se``, ``df``, ``ci_low``,
          ``ci_high``, ``n``, and the unadjusted ``mean_post``, ``sd_post``.
        - ``contrasts``: ``contrast`` (``"<arm> - <reference>"``), ``arm``, ``reference``,
          ``estimate`` (difference of adjusted means), ``se``, ``df``, ``t``, ``p`` (unadjusted),
          ``p_adj``, ``adjust``, ``family`` (``"vs control"`` or ``"pairwise"``), ``ci_low``,
          ``ci_high`` (per-comparison), ``ci_low_adj``, ``ci_high_adj`` (simultaneous: Dunnett or
          Tukey critical value; Bonferroni for the p-value-only methods, as emmeans does), ``g``,
          ``g_se``, ``g_ci_low``, ``g_ci_high`` (Hedges' *g*), ``standardizer`` (pooled
          unadjusted post-test SD of the two arms), ``n_arm``, ``n_reference``.
        - ``anova``: per term ``sum_sq``, ``df``, ``df_resid``, ``F``, ``p``, ``test``, plus a
          ``Residuals`` row (as ``car::Anova(type = 2)``).
        - ``info``: ``status`` (``"used"``/``"excluded"``), ``reason``, ``n``.

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
    same *J*. CI: :math:`J(d \\pm z\\,SE_d)` with the delta-method
    :math:`SE_d^2 = (SE_{contrast}/S)^2 + d^2/(2(n_1+n_2-2))` (model uncertainty of the adjusted
    difference plus uncertainty of the standardizer).

    The F test of each term is the Wald test of all its coefficients being zero; with the
    classical covariance it equals the Type II (and, without interactions, Type III) F test of
    ``car::Anova``.

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
    level = check_in_interval(func, "ci", ci, 0, 1)
    maxpts = check_positive_int(func, "mvt_maxpts", mvt_maxpts, minimum=1000)
    if isinstance(covariates, str):
        covariates = [covariates]
    covariates = list(covariates)
    reserved = {score, wave, arm, participant, "pre", "post", "outcome", "arm", "participant_id"}
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

    wide, keys = _pre_post_wide(
        func, data, outcome, pre=pre, post=post, score=score, wave=wave, arm=arm,
        participant=participant, extra=covariates,
    )
    parts = {"coefficients": [], "emmeans": [], "contrasts": [], "anova": [], "info": []}
    groups = wide.groupby(keys, sort=True) if keys else [((None,), wide)]
    for key, sub in groups:  # one fit per outcome
        keys_vals = {"outcome": key[0]} if keys else {}
        res = _fit_one(
            sub.reset_index(drop=True), keys_vals, covariates=covariates, control=control, hc3=bool(hc3),
            families=fams, adjust=adj, level=level, maxpts=maxpts, seed=seed,
        )
        for name, frame in zip(parts, res, strict=True):
            parts[name].append(frame)
    return AncovaResult(**{k: pd.concat(v, ignore_index=True) for k, v in parts.items()})
