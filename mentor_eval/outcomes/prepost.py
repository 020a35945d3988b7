"""Within-arm change from a pre-test to a post-test.

:func:`prepost` reports, per arm (and outcome), the complete-pair mean change with its
confidence interval, the paired *t* test, the Wilcoxon signed-rank test computed exactly as R's
``wilcox.test(paired = TRUE)`` does by default, and the standardized changes *d_z* and *g_av*
with confidence intervals. All statistics are computed with grouped, vectorised pandas/numpy.

The data checks and the reshaping to one row per participant are
:func:`mentor_eval.outcomes.inputs.pre_post_wide`, shared with every pre/post estimator.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import stats

from mentor_eval._params import check_columns, check_in_interval, renamed_parameters
from mentor_eval.errors import AnalysisError, ParameterError
from mentor_eval.outcomes.clustered import cluster_codes, cr2_fit, nested_cluster_labels
from mentor_eval.outcomes.effectsize import hedges_j, paired_effect_size_from_stats
from mentor_eval.outcomes.inputs import pre_post_wide
from mentor_eval.outcomes.results import table_result

__all__ = ["prepost", "signed_rank_test"]


@lru_cache(maxsize=64)
def _signed_rank_cdf(n: int) -> np.ndarray:
    """Exact null cdf of the signed-rank statistic V for n untied non-zero differences.

    Counts of subsets of {1..n} per rank sum, built by the usual recursion; for n < 50 the counts
    stay below 2**53, so float64 holds them exactly.
    """
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1.0
    top = 0
    for i in range(1, n + 1):
        counts[i : top + i + 1] += counts[: top + 1].copy()
        top += i
    return np.cumsum(counts) / 2.0**n


def _signed_rank_by_group(
    diff: np.ndarray, codes: np.ndarray, n_groups: int, *, correct: bool = True
) -> pd.DataFrame:
    """Wilcoxon signed-rank test of ``diff`` within each group code, following R ``wilcox.test``.

    R (stats 4.x) drops zero differences, ranks |d| with average ranks, V = sum of ranks of the
    positive differences; the exact null distribution is used when fewer than 50 non-zero
    differences remain and there are neither ties nor zeros, otherwise the normal approximation
    with tie-corrected variance and a continuity correction of 0.5 towards the mean.
    """
    groups = np.arange(n_groups)
    nonzero = diff != 0
    work = pd.DataFrame({"g": codes[nonzero], "a": np.abs(diff[nonzero]), "pos": diff[nonzero] > 0})
    work["r"] = work.groupby("g")["a"].rank(method="average")
    v = (work["r"] * work["pos"]).groupby(work["g"]).sum().reindex(groups, fill_value=0.0).to_numpy(float)
    n = work.groupby("g").size().reindex(groups, fill_value=0).to_numpy(float)
    n_zero = pd.Series(~nonzero).groupby(codes).sum().reindex(groups, fill_value=0).to_numpy(int)
    tie_sizes = work.groupby(["g", "a"]).size()
    tie_term = (
        (tie_sizes.astype(float) ** 3 - tie_sizes).groupby(level="g").sum().reindex(groups, fill_value=0.0)
    ).to_numpy(float)
    ties = tie_sizes.gt(1).groupby(level="g").any().reindex(groups, fill_value=False).to_numpy(bool)

    # normal approximation for every group, exact where R would use it
    z = v - n * (n + 1) / 4
    sigma = np.sqrt(n * (n + 1) * (2 * n + 1) / 24 - tie_term / 48)
    corr = np.sign(z) * 0.5 if correct else 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        zc = (z - corr) / sigma
    p = 2 * np.minimum(stats.norm.cdf(zc), stats.norm.sf(zc))
    label = "normal approximation with continuity correction" if correct else "normal approximation"
    method = np.full(n_groups, label, dtype=object)
    exact = (n < 50) & ~ties & (n_zero == 0) & (n > 0)
    for gi in np.flatnonzero(exact):
        k = int(n[gi])
        cdf = _signed_rank_cdf(k)
        vv = int(round(v[gi]))
        if vv > k * (k + 1) / 4:
            one = 1.0 - cdf[vv - 1]
        else:
            one = cdf[vv]
        p[gi] = min(2 * one, 1.0)
        method[gi] = "exact"
    none = n == 0
    p[none] = np.nan
    method[none] = "not computable (no non-zero differences)"
    return pd.DataFrame({"v": v, "p": p, "method": method, "n_nonzero": n.astype(int), "n_zero": n_zero})


def signed_rank_test(x, y=None, *, correct: bool = True) -> pd.DataFrame:
    """Wilcoxon signed-rank test of ``x - y`` (or of ``x`` against 0), as R ``wilcox.test``.

    Parameters
    ----------
    x, y : array-like of numbers
        Paired measurements (``y`` optional). Pairs with a missing value are dropped.
    correct : bool
        Continuity correction in the normal approximation (R's default ``TRUE``).

    Returns
    -------
    pandas.DataFrame
        One row: ``v`` (R's V, the sum of the ranks of the positive differences),
        ``p`` (two-sided), ``method`` (``"exact"`` or the normal approximation used),
        ``n_nonzero`` (differences ranked), ``n_zero`` (zero differences dropped), ``n``
        (complete pairs).

    Notes
    -----
    Matches R's default ``wilcox.test(x, y, paired = TRUE)``: zeros are dropped; the exact
    distribution is used when fewer than 50 non-zero differences remain and no ties or zeros
    occurred; otherwise a normal approximation with tie-corrected variance
    :math:`n(n+1)(2n+1)/24 - \\sum (t^3 - t)/48` and a continuity correction.

    References
    ----------
    Hollander, M. & Wolfe, D. A. (1973). Nonparametric Statistical Methods. Wiley, 27–33.
    R Core Team. ``stats::wilcox.test``.

    Examples
    --------
    >>> x = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
    >>> y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]
    >>> res = signed_rank_test(x, y)
    >>> float(res["v"].iloc[0]), round(float(res["p"].iloc[0]), 5)
    (40.0, 0.03906)
    """
    xa = np.asarray(x, dtype=float).ravel()
    if y is not None:
        ya = np.asarray(y, dtype=float).ravel()
        if ya.size != xa.size:
            raise ParameterError(
                f"signed_rank_test needs x and y of the same length; got {xa.size} and {ya.size}."
            )
        xa = xa - ya
    d = xa[~np.isnan(xa)]
    out = _signed_rank_by_group(d, np.zeros(d.size, dtype=int), 1, correct=correct)
    out["n"] = d.size
    return table_result(out, title="Wilcoxon signed-rank test",
                            method=str(out['method'].iloc[0]))


@renamed_parameters({"ci": "ci_level"})
def prepost(
    data: pd.DataFrame,
    outcome: str | Sequence[str] | None = None,
    *,
    pre: str = "baseline",
    post: str = "post",
    score: str = "score",
    wave: str = "wave",
    arm: str = "arm",
    participant: str = "participant_id",
    outcome_col: str = "outcome",
    ci_level: float = 0.95,
    es_ci_method: str = "nct",
    clusters: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """Pre/post change within each arm: mean change, paired *t*, Wilcoxon, *d_z* and *g_av*.

    Parameters
    ----------
    data : pandas.DataFrame
        The long analysis frame: one row per participant x wave (x outcome) with columns
        ``participant``, ``wave``, ``score``, ``arm`` and, optionally, ``outcome``.
    outcome : str or sequence of str, optional
        Outcome(s) (values of the ``outcome`` column) to analyse; default all.
    pre, post : str
        Wave labels of the pre-test and post-test.
    score, wave, arm, participant, outcome_col : str
        Column names.
    ci_level : float
        Confidence level of every interval.
    es_ci_method : {"nct", "normal"}
        Interval for *g_av*; see :func:`mentor_eval.outcomes.effect_size`.
    clusters : str or sequence of str, optional
        Participant-level cluster columns, outermost first (a study's ``clusters``, e.g.
        ``["site_id", "mentor_id"]``). A missing value means the participant is in no cluster of
        that level (the control arm of a partially nested trial). In an arm where some
        participants share a cluster, the mean change, its *t* test and the *d_z* / *g_av*
        intervals use the CR2 cluster-robust variance with Satterthwaite df (see Notes);
        arms whose participants are all in clusters of one keep the classical analysis.
        An outer level with fewer than 5 clusters (e.g. two sites) is treated as fixed when a
        lower level is declared: the inference clusters on the next level down and the
        ``note`` says so (with 2–4 clusters CR2 has about 1–3 df).

    Returns
    -------
    pandas.DataFrame
        One row per (outcome,) arm, sorted, with columns

        - ``outcome`` (when the data have one), ``arm``.
        - ``n``: complete pairs used; ``n_excluded``: participants with a row at the pre or post
          wave but without both scores (``n_pre_only`` + ``n_post_only`` + neither score).
        - ``n_pre_only``, ``n_post_only``: of those, participants with only a pre / only a post score.
        - ``mean_pre``, ``sd_pre``, ``mean_post``, ``sd_post``, ``r_pre_post``: over complete pairs.
        - ``estimate``: mean change (post - pre); ``se``; ``ci_low``, ``ci_high``: *t* interval.
        - ``t``, ``df``, ``p``: paired *t* test of zero mean change.
        - ``wilcoxon_v``, ``wilcoxon_p``, ``wilcoxon_method``: signed-rank test (R's V and two-sided
          p; ``"exact"`` or the normal approximation); ``n_zero_change``: zero changes dropped from it.
        - ``d_z``, ``d_z_ci_low``, ``d_z_ci_high``: mean change / SD of change, exact noncentral-t CI.
        - ``g_av``, ``g_av_ci_low``, ``g_av_ci_high``, ``g_av_ci_method``: bias-corrected change
          standardized by the average pre/post variance.
        - ``cluster_method``: ``"CR2"`` where the arm's inference is cluster-robust, else
          ``"none"``; ``n_clusters``: clusters in the arm (participants in no cluster count as
          clusters of one); ``se_unclustered``: the classical SE of the mean change.
        - ``ci_level``; ``note``: why a statistic is missing (empty when all were computed).

    Notes
    -----
    With :math:`D_i = \\text{post}_i - \\text{pre}_i` over the *n* complete pairs:
    :math:`\\bar D \\pm t_{1-\\alpha/2, n-1} s_D/\\sqrt n`, :math:`t = \\bar D/(s_D/\\sqrt n)`.
    The Wilcoxon test follows R ``wilcox.test(post, pre, paired = TRUE)`` defaults exactly: zero
    changes are dropped; exact p-value when fewer than 50 non-zero changes remain and there are
    neither ties nor zeros; otherwise the normal approximation with tie correction and continuity
    correction. Effect sizes: see :func:`mentor_eval.outcomes.effect_size`
    (:math:`d_z = \\bar D/s_D`; :math:`g_{av} = J(n-1)\\bar D/\\sqrt{(s_{pre}^2+s_{post}^2)/2}`).

    Clustered arms (``clusters`` given and some participants of the arm sharing a cluster): the
    change is regressed on an intercept with the Bell–McCaffrey CR2 covariance, participants
    clustered by the outermost declared level they have a value for; ``se`` is the CR2 SE,
    ``df`` the Pustejovsky–Tipton Satterthwaite df (about the number of clusters - 1) and the
    *t* interval and test use them. The noncentral-*t* interval of *d_z* assumes independent
    participants, so in a clustered arm *d_z* and *g_av* (:math:`d = \\bar D/s`) get a
    delta-method interval whose two parts are both cluster-robust:

    .. math::

        d \\pm t_{\\nu} \\sqrt{V_1 + V_2}, \\quad V_1 = (SE_{CR2}/s)^2, \\quad
        V_2 = d^2 \\, \\widehat{\\mathrm{Var}}(s^2) / (4 s^4),

        \\widehat{\\mathrm{Var}}(s^2) = \\frac{G}{G-1} \\frac{\\sum_g U_g^2}{(n-1)^2}, \\quad
        U_g = \\sum_{i \\in g} (q_i - s^2), \\quad
        \\nu = \\frac{(V_1 + V_2)^2}{V_1^2/\\nu_1 + V_2^2/(G - 1)},

    with *G* the arm's clusters, :math:`\\nu_1` the Satterthwaite df of the mean change and
    :math:`q_i` participant *i*'s squared deviation: :math:`(D_i - \\bar D)^2` for
    :math:`s = s_D`, the average of the squared pre and post deviations for the average SD of
    *g_av*. :math:`V_2` is the SD's share of the variance of *d* (delta method for
    :math:`s = \\sqrt{s^2}`); estimated from cluster sums it allows for the fewer effective
    observations behind the SD under clustering and reduces to about :math:`d^2/(2(n-1))`
    (*g_av*: :math:`d^2(1+r^2)/(4(n-1))`) for independent normal data. The two parts carry
    :math:`\\nu_1` and *G - 1* df and are combined by Welch–Satterthwaite, so the small df of the
    mean's CR2 variance no longer inflate the SD part too (with four circles the former
    :math:`t_{\\nu_1}\\sqrt{V_1 + d^2/(2(n-1))}` covered 97–99% of the time, see
    ``docs/calibration.md``). The covariance of :math:`\\bar D` and :math:`s^2` (zero for
    symmetric changes) is neglected. The Wilcoxon test still treats participants as independent
    (noted).

    Missing-data policy: complete pairs only. A participant without both a pre and a post score
    is excluded from that arm's statistics and counted in ``n_excluded``; arms with fewer than 2
    pairs keep their row with missing statistics and a ``note``.

    References
    ----------
    Student (1908). Biometrika 6, 1–25. Wilcoxon, F. (1945). Biometrics Bull. 1, 80–83.
    Lakens, D. (2013). Front. Psychol. 4, 863. Cumming, G. (2012). Understanding the New Statistics.
    Bell, R. M. & McCaffrey, D. F. (2002). Survey Methodology 28, 169–181. Pustejovsky, J. E. &
    Tipton, E. (2018). J. Bus. Econ. Stat. 36, 672–683. Welch, B. L. (1947). Biometrika 34, 28–35.
    Satterthwaite, F. E. (1946). Biometrics Bull. 2, 110–114.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({
    ...     "participant_id": ["a", "a", "b", "b", "c", "c"],
    ...     "arm": "nw", "wave": ["baseline", "post"] * 3, "score": [1.0, 2.0, 2.0, 4.0, 3.0, 3.5]})
    >>> round(float(prepost(df)["estimate"].iloc[0]), 4)
    1.1667
    """
    func = "prepost"
    level = check_in_interval(func, "ci_level", ci_level, 0, 1)
    if es_ci_method not in ("nct", "normal"):
        raise ParameterError(f"The 'es_ci_method' parameter of {func} must be one of 'nct', 'normal'; "
                             f"got {es_ci_method!r}.")
    cluster_cols = _cluster_columns(func, data, clusters)
    wide, keys = pre_post_wide(
        func, data, outcome, pre=pre, post=post, score=score, wave=wave, arm=arm, participant=participant,
        outcome_col=outcome_col,
    )
    gkeys = [*keys, "arm"]
    has_pre = np.isfinite(wide["pre"].to_numpy())
    has_post = np.isfinite(wide["post"].to_numpy())
    complete = has_pre & has_post

    counts = (
        pd.DataFrame(
            {
                **{k: wide[k] for k in gkeys},
                "n": complete,
                "n_excluded": ~complete,
                "n_pre_only": has_pre & ~has_post,
                "n_post_only": has_post & ~has_pre,
            }
        )
        .groupby(gkeys, sort=True)
        .sum()
    )
    pairs = wide.loc[complete, [*gkeys, "participant_id", "pre", "post"]].copy()
    pairs["change"] = pairs["post"] - pairs["pre"]
    grouped = pairs.groupby(gkeys, sort=True)
    summ = grouped.agg(
        mean_pre=("pre", "mean"),
        sd_pre=("pre", "std"),
        mean_post=("post", "mean"),
        sd_post=("post", "std"),
        estimate=("change", "mean"),
        sd_change=("change", "std"),
    )
    # Pearson r from grouped moments, so no per-group Python call
    pairs["_pp"] = pairs["pre"] * pairs["post"]
    sums = pairs.groupby(gkeys, sort=True)[["_pp"]].sum()
    res = counts.join(summ).join(sums)
    n = res["n"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = (res["_pp"].to_numpy() - n * res["mean_pre"].to_numpy() * res["mean_post"].to_numpy()) / (n - 1)
        res["r_pre_post"] = cov / (res["sd_pre"].to_numpy() * res["sd_post"].to_numpy())
        sd_change = res["sd_change"].to_numpy(float)
        df = n - 1
        se = sd_change / np.sqrt(n)
        est = res["estimate"].to_numpy(float)
        tcrit = stats.t.ppf(0.5 + level / 2, df)
        ok = (n >= 2) & (sd_change > 0)
        res["se"] = np.where(n >= 2, se, np.nan)
        res["ci_low"] = np.where(n >= 2, est - tcrit * se, np.nan)
        res["ci_high"] = np.where(n >= 2, est + tcrit * se, np.nan)
        t = np.where(ok, est / se, np.nan)
        res["t"] = t
        res["df"] = np.where(n >= 2, df, np.nan)
        res["p"] = np.where(ok, 2 * stats.t.sf(np.abs(t), df), np.nan)

    # Wilcoxon on the same complete pairs, grouped
    codes = grouped.ngroup().to_numpy()
    group_index = grouped.size().index
    wil = _signed_rank_by_group(pairs["change"].to_numpy(float), codes, len(group_index))
    wil.index = group_index
    wil = wil.reindex(res.index)
    res["wilcoxon_v"] = wil["v"].to_numpy()
    res["wilcoxon_p"] = wil["p"].to_numpy()
    res["wilcoxon_method"] = wil["method"].fillna("not computable (no complete pairs)").to_numpy()
    res["n_zero_change"] = wil["n_zero"].fillna(0).astype(int).to_numpy()

    dz = paired_effect_size_from_stats(est, sd_change, n, kind="d_z", ci_level=level)
    gav = paired_effect_size_from_stats(
        est, sd_change, n, res["sd_pre"].to_numpy(float), res["sd_post"].to_numpy(float),
        kind="g_av", ci_level=level, ci_method=es_ci_method,
    )
    res["d_z"] = dz["estimate"].to_numpy()
    res["d_z_ci_low"] = dz["ci_low"].to_numpy()
    res["d_z_ci_high"] = dz["ci_high"].to_numpy()
    res["g_av"] = gav["estimate"].to_numpy()
    res["g_av_ci_low"] = gav["ci_low"].to_numpy()
    res["g_av_ci_high"] = gav["ci_high"].to_numpy()
    res["g_av_ci_method"] = gav["ci_method"].to_numpy()
    res["cluster_method"] = "none"
    res["n_clusters"] = res["n"].to_numpy()
    res["se_unclustered"] = res["se"].to_numpy()
    dropped: list[tuple[str, int]] = []
    if cluster_cols:
        cluster_cols, dropped = _levels_to_cluster_on(data, participant, cluster_cols)
        _cluster_robust_change(res, pairs, gkeys, _participant_clusters(data, participant, cluster_cols), level)
    res["ci_level"] = level

    note = np.full(len(res), "", dtype=object)
    note[n < 2] = "fewer than 2 complete pre/post pairs: statistics not computed"
    zero_sd = (n >= 2) & ~(sd_change > 0)
    note[zero_sd] = "every participant changed by the same amount (SD of change = 0): t test and d_z undefined"
    flat = (n >= 2) & ~((res["sd_pre"].to_numpy() > 0) | (res["sd_post"].to_numpy() > 0))
    note[flat] = "no variation in pre or post scores: standardized effects undefined"
    clustered = (res["cluster_method"] == "CR2").to_numpy() & (note == "")
    note[clustered] = "clustered arm: Wilcoxon test treats participants as independent"
    if dropped:
        fixed = ", ".join(f"{c} ({k} clusters)" for c, k in dropped)
        note[clustered] = [f"{t}; {fixed} treated as fixed (too few to cluster on), clustered on "
                           f"{cluster_cols[0]}" for t in note[clustered]]
    res["note"] = note
    if not (n >= 2).any():
        raise AnalysisError(
            f"{func}: no arm has 2 or more participants with both a {pre!r} and a {post!r} score; "
            "pre/post change cannot be estimated."
        )
    cols = [
        "n", "n_excluded", "n_pre_only", "n_post_only", "mean_pre", "sd_pre", "mean_post", "sd_post",
        "r_pre_post", "estimate", "se", "ci_low", "ci_high", "t", "df", "p", "wilcoxon_v", "wilcoxon_p",
        "wilcoxon_method", "n_zero_change", "d_z", "d_z_ci_low", "d_z_ci_high", "g_av", "g_av_ci_low",
        "g_av_ci_high", "g_av_ci_method", "cluster_method", "n_clusters", "se_unclustered", "ci_level", "note",
    ]
    out = res[cols].reset_index()
    for c in ("n", "n_excluded", "n_pre_only", "n_post_only", "n_clusters"):
        out[c] = out[c].astype(int)
    return table_result(out, title="Pre/post change within each arm",
                            method="mean change with the paired t test (CR2 cluster-robust SE and Satterthwaite df in clustered arms), Wilcoxon signed-rank test, d_z and g_av")


def _cluster_columns(func: str, data: pd.DataFrame, clusters: str | Sequence[str] | None) -> list[str]:
    if clusters is None:
        return []
    cols = [clusters] if isinstance(clusters, str) else list(clusters)
    if not all(isinstance(c, str) for c in cols):
        raise ParameterError(f"The 'clusters' parameter of {func} must be a column name or a list of them; "
                             f"got {clusters!r}.")
    check_columns(func, data, cols)
    return cols


#: An outer cluster level (e.g. site) with fewer clusters than this is treated as fixed when a lower
#: declared level exists: with 2-4 clusters the CR2 Satterthwaite df are about 1-3, so a within-arm
#: interval spans most of the scale and says nothing. Sites that few are the study's own strata (the
#: programme's sites, not a sample of sites), and the mentors within them carry the clustering.
MIN_OUTER_CLUSTERS = 5


def _levels_to_cluster_on(data: pd.DataFrame, participant: str,
                          cols: list[str]) -> tuple[list[str], list[tuple[str, int]]]:
    """The declared levels kept for cluster-robust inference, and the outer ones treated as fixed.

    The innermost level is always kept (it is where mentees share a mentor); an outer level is
    dropped when it has fewer than :data:`MIN_OUTER_CLUSTERS` distinct values among participants.
    """
    first = data.groupby(participant, sort=False)[cols].first()
    kept, dropped = [], []
    for i, c in enumerate(cols):
        k = int(first[c].nunique(dropna=True))
        if i < len(cols) - 1 and k < MIN_OUTER_CLUSTERS:
            dropped.append((c, k))
        else:
            kept.append(c)
    return kept, dropped


def _participant_clusters(data: pd.DataFrame, participant: str, cols: list[str]) -> pd.Series:
    """Cluster label per participant (see :func:`~mentor_eval.outcomes.clustered.nested_cluster_labels`).

    A mentor is often recorded only on the waves after matching, so each level's value is the
    participant's first non-missing one over all rows.
    """
    first = data.groupby(participant, sort=False)[cols].first()
    return pd.Series(nested_cluster_labels(first[cols]), index=first.index, dtype=object)


def _cluster_robust_change(res: pd.DataFrame, pairs: pd.DataFrame, gkeys: list[str], cluster: pd.Series,
                           level: float) -> None:
    """Replace the classical inference of clustered arms by CR2 + Satterthwaite (in place)."""
    pairs = pairs.assign(_cluster=pairs["participant_id"].map(cluster))
    for key, grp in pairs.groupby(gkeys, sort=True):
        labels = grp["_cluster"]
        sizes = labels.dropna().value_counts()
        n = len(grp)
        if n < 3 or not (sizes > 1).any():
            continue  # no two participants share a cluster: the classical analysis is exact
        change = (grp["post"] - grp["pre"]).to_numpy(float)
        codes = cluster_codes(labels.to_numpy(dtype=object))
        fit = cr2_fit(np.ones((n, 1)), change, codes)
        se = float(np.sqrt(fit.vcov[0, 0]))
        df = float(fit.satterthwaite_df(np.ones((1, 1)))[0])
        if not (se > 0 and np.isfinite(df)):
            continue
        row = key if isinstance(key, tuple) else (key,)
        r = res.loc[row] if len(row) > 1 else res.loc[row[0]]
        est, sd_d = float(r["estimate"]), float(r["sd_change"])
        tcrit = float(stats.t.ppf(0.5 + level / 2, df))
        t = est / se
        upd: dict[str, object] = {
            "se": se, "df": df, "t": t, "p": float(2 * stats.t.sf(abs(t), df)),
            "ci_low": est - tcrit * se, "ci_high": est + tcrit * se,
            "cluster_method": "CR2",
        }
        n_cl = int(fit.n_clusters)
        if sd_d > 0:
            d = est / sd_d
            dev = change - change.mean()
            half = _robust_es_halfwidth(d, se / sd_d, df, dev**2, sd_d**2, codes, n, level)
            upd.update(d_z=d, d_z_ci_low=d - half, d_z_ci_high=d + half)
        s_av = float(np.sqrt((r["sd_pre"] ** 2 + r["sd_post"] ** 2) / 2))
        if s_av > 0:
            j = float(hedges_j(n - 1))
            d_av = est / s_av
            pre, post = grp["pre"].to_numpy(float), grp["post"].to_numpy(float)
            sq = ((pre - pre.mean()) ** 2 + (post - post.mean()) ** 2) / 2
            half = _robust_es_halfwidth(d_av, se / s_av, df, sq, s_av**2, codes, n, level)
            upd.update(g_av=j * d_av, g_av_ci_low=j * (d_av - half), g_av_ci_high=j * (d_av + half),
                       g_av_ci_method="cluster-robust (CR2, Satterthwaite df)")
        upd["n_clusters"] = n_cl
        idx = row if len(row) > 1 else row[0]
        for c, v in upd.items():
            res.loc[idx, c] = v


def _robust_es_halfwidth(d: float, v_mean_sd: float, df_mean: float, sq: np.ndarray, s2: float,
                         codes: np.ndarray, n: int, level: float) -> float:
    """Half-width of the delta-method interval of a standardized mean change in a clustered arm.

    ``d = mean / s``; ``v_mean_sd`` is the CR2 SE of the mean divided by ``s``, with Satterthwaite
    df ``df_mean``; ``sq`` holds each participant's squared deviation whose average (over
    ``n - 1``) is the variance ``s2`` (for *d_z* the squared deviations of the change). The SD
    part's variance is estimated from cluster sums,
    ``Var(s^2) = G/(G-1) sum_g U_g^2 / (n-1)^2`` with ``U_g = sum_{i in g} (sq_i - s2)``, and has
    ``G - 1`` df; the two parts are combined by Welch-Satterthwaite (see :func:`prepost`, Notes).
    """
    _, inv = np.unique(codes, return_inverse=True)
    g = int(inv.max()) + 1
    v1 = v_mean_sd**2
    if g < 2:
        return float(stats.t.ppf(0.5 + level / 2, df_mean) * np.sqrt(v1))
    u = np.bincount(inv.ravel(), weights=sq - s2, minlength=g)
    var_s2 = g / (g - 1) * float(u @ u) / (n - 1) ** 2
    v2 = d**2 * var_s2 / (4 * s2**2)
    v = v1 + v2
    df = v**2 / (v1**2 / df_mean + v2**2 / (g - 1))
    return float(stats.t.ppf(0.5 + level / 2, df) * np.sqrt(v))
