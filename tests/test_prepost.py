"""Known answers for within-arm pre/post change."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mentor_eval.errors import AnalysisError, DataValidationError, ParameterError
from mentor_eval.outcomes import effect_size, prepost
from mentor_eval.outcomes.prepost import signed_rank_test

# Hollander & Wolfe depression scores, the example of R's ?wilcox.test
DEP_X = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
DEP_Y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]


def _long(pre, post, arm="a", start=0, outcome=None):
    n = len(pre)
    ids = [f"p{start + i}" for i in range(n)]
    frame = pd.DataFrame(
        {
            "participant_id": ids * 2,
            "arm": arm,
            "wave": ["baseline"] * n + ["post"] * n,
            "score": list(pre) + list(post),
        }
    )
    if outcome is not None:
        frame["outcome"] = outcome
    return frame


def test_signed_rank_exact_r_example():
    # R: wilcox.test(x, y, paired = TRUE) gives V = 40, p-value = 0.03906.
    # By hand: P(V >= 40 | n = 9) = #{subsets of 1..9 with sum <= 5} / 2^9 = 10 / 512.
    res = signed_rank_test(DEP_X, DEP_Y).iloc[0]
    assert res["v"] == 40
    assert res["p"] == pytest.approx(2 * 10 / 512, abs=1e-15)
    assert res["method"] == "exact"


def test_signed_rank_normal_with_ties_and_zeros():
    diff = np.array([0, 1, -1, 2, 2, 3, -4, 5], dtype=float)
    res = signed_rank_test(diff).iloc[0]
    # zero dropped, n = 7, |d| ranks 1.5 1.5 3.5 3.5 5 6 7, V = 1.5 + 3.5 + 3.5 + 5 + 7
    assert res["v"] == 20.5
    assert res["n_zero"] == 1 and res["n_nonzero"] == 7
    sigma = math.sqrt(7 * 8 * 15 / 24 - (6 + 6) / 48)
    z = (20.5 - 14 - 0.5) / sigma
    assert res["p"] == pytest.approx(2 * stats.norm.sf(z), rel=1e-12)
    assert res["method"] == "normal approximation with continuity correction"
    ref = stats.wilcoxon(diff, zero_method="wilcox", correction=True, method="approx")
    assert res["p"] == pytest.approx(ref.pvalue, rel=1e-10)


def test_signed_rank_large_sample_uses_normal_approximation():
    rng = np.random.default_rng(7)
    d = rng.normal(0.3, 1, 60)  # no ties, no zeros, n >= 50 -> normal approximation
    res = signed_rank_test(d).iloc[0]
    ref = stats.wilcoxon(d, correction=True, method="approx")
    assert res["p"] == pytest.approx(ref.pvalue, rel=1e-10)
    assert res["method"].startswith("normal")
    small = signed_rank_test(d[:49]).iloc[0]
    assert small["method"] == "exact"
    assert small["p"] == pytest.approx(stats.wilcoxon(d[:49], method="exact").pvalue, rel=1e-10)


def test_prepost_known_answers_two_arms():
    treat = _long(DEP_Y, DEP_X, arm="nw")  # post - pre = x - y of the R example
    ctrl = _long([10.0, 11, 12, 13, 9], [10.5, 11, 13, 12.5, 10], arm="ctrl", start=100)
    res = prepost(pd.concat([treat, ctrl])).set_index("arm")
    nw = res.loc["nw"]
    diff = np.array(DEP_X) - np.array(DEP_Y)
    tt = stats.ttest_rel(DEP_X, DEP_Y)
    assert nw["n"] == 9 and nw["n_excluded"] == 0
    assert nw["estimate"] == pytest.approx(diff.mean(), rel=1e-12)
    assert nw["t"] == pytest.approx(tt.statistic, rel=1e-12)
    assert nw["p"] == pytest.approx(tt.pvalue, rel=1e-12)
    half = stats.t.ppf(0.975, 8) * diff.std(ddof=1) / 3
    assert (nw["ci_low"], nw["ci_high"]) == pytest.approx((diff.mean() - half, diff.mean() + half), rel=1e-12)
    assert nw["wilcoxon_v"] == 40 and nw["wilcoxon_p"] == pytest.approx(0.0390625)
    assert nw["r_pre_post"] == pytest.approx(np.corrcoef(DEP_X, DEP_Y)[0, 1], rel=1e-10)
    es = effect_size(DEP_X, DEP_Y, paired=True).set_index("kind")
    for kind in ("d_z", "g_av"):
        assert nw[kind] == pytest.approx(es.loc[kind, "estimate"], rel=1e-12)
        assert nw[f"{kind}_ci_low"] == pytest.approx(es.loc[kind, "ci_low"], rel=1e-10)
        assert nw[f"{kind}_ci_high"] == pytest.approx(es.loc[kind, "ci_high"], rel=1e-10)
    c = res.loc["ctrl"]
    # control changes 0.5, 0, 1, -0.5, 1: one zero -> normal approximation, as R
    assert c["n_zero_change"] == 1 and c["wilcoxon_method"].startswith("normal")
    assert c["mean_pre"] == pytest.approx(11.0) and c["mean_post"] == pytest.approx(11.4)
    assert list(res.index) == ["ctrl", "nw"]


def test_unpaired_participants_are_excluded_and_counted():
    frame = _long([1.0, 2, 3, 4], [2.0, 2, 5, 6])
    frame.loc[(frame.participant_id == "p0") & (frame.wave == "post"), "score"] = np.nan
    extra = pd.DataFrame(
        {"participant_id": ["q1", "q2"], "arm": "a", "wave": ["baseline", "post"], "score": [3.0, 4.0]}
    )
    res = prepost(pd.concat([frame, extra])).iloc[0]
    assert res["n"] == 3
    assert res["n_excluded"] == 3 and res["n_pre_only"] == 2 and res["n_post_only"] == 1
    assert res["estimate"] == pytest.approx((0 + 2 + 2) / 3)


def test_outcomes_are_grouped_and_selectable():
    a = _long([1.0, 2, 3], [2.0, 3, 5], outcome="hope")
    b = _long([5.0, 5, 6], [4.0, 5, 5], outcome="belonging")
    res = prepost(pd.concat([a, b]))
    assert list(res["outcome"]) == ["belonging", "hope"]
    assert res.set_index("outcome").loc["hope", "estimate"] == pytest.approx(4 / 3)
    only = prepost(pd.concat([a, b]), "hope")
    assert len(only) == 1
    with pytest.raises(ParameterError, match="not in data: \\[.grit.\\]"):
        prepost(pd.concat([a, b]), "grit")


def test_small_arm_and_zero_variance_get_notes():
    big = _long([1.0, 2, 3, 4], [2.0, 2.5, 5, 4], arm="a")
    one = _long([1.0], [2.0], arm="b", start=50)
    flat = _long([1.0, 2, 3], [2.0, 3, 4], arm="c", start=60)
    res = prepost(pd.concat([big, one, flat])).set_index("arm")
    assert np.isnan(res.loc["b", "t"]) and "fewer than 2" in res.loc["b", "note"]
    assert np.isnan(res.loc["c", "t"]) and "SD of change = 0" in res.loc["c", "note"]
    assert res.loc["c", "estimate"] == 1.0
    assert res.loc["a", "note"] == ""
    with pytest.raises(AnalysisError, match="no arm has 2 or more"):
        prepost(one)


def test_bad_data_messages():
    frame = _long([1.0, 2], [2.0, 3])
    with pytest.raises(DataValidationError, match="more than one row"):
        prepost(pd.concat([frame, frame.iloc[[0]]]))
    changed = frame.copy()
    changed.loc[changed.index[-1], "arm"] = "b"
    with pytest.raises(DataValidationError, match="differs between waves"):
        prepost(changed)
    with pytest.raises(DataValidationError, match="no rows have wave='exit'"):
        prepost(frame, post="exit")
    text = frame.astype({"score": object})
    text.loc[0, "score"] = "high"
    with pytest.raises(DataValidationError, match="non-numeric"):
        prepost(text)
    with pytest.raises(ParameterError, match="lacks the column"):
        prepost(frame.drop(columns="arm"))


# --------------------------------------------------------------- clustered arms (CR2 + Satterthwaite)
CLUSTERED = __import__("pathlib").Path(__file__).parent / "data" / "prepost_clustered"


def _clustered_long():
    d = pd.read_csv(CLUSTERED / "data.csv")
    base = d[["participant_id", "arm", "mentor_id"]]
    # the mentor is recorded only after matching: missing at baseline, as in real exports
    return pd.concat([base.assign(wave="baseline", score=d["pre"], mentor_id=None),
                      base.assign(wave="post", score=d["post"])], ignore_index=True)


def test_clustered_arm_matches_clubsandwich_intercept_model():
    import json

    ref = json.loads((CLUSTERED / "expected.json").read_text())
    out = prepost(_clustered_long(), clusters="mentor_id").set_index("arm")
    r = out.loc["circles"]
    assert r["cluster_method"] == "CR2" and r["n_clusters"] == 6 and r["n"] == ref["n"]
    for ours, theirs in (("estimate", "estimate"), ("se", "se"), ("df", "df"), ("t", "t"), ("p", "p"),
                         ("ci_low", "ci_low"), ("ci_high", "ci_high"), ("se_unclustered", "se_unclustered")):
        assert r[ours] == pytest.approx(ref[theirs], rel=1e-8, abs=1e-10), ours
    # d_z keeps its point estimate; its interval is the delta-method one on the CR2 SE and df
    # (clubSandwich's) and the cluster-robust variance of the SD, Welch-Satterthwaite df
    sd = ref["sd_change"]
    d = ref["estimate"] / sd
    raw = pd.read_csv(CLUSTERED / "data.csv").query("arm == 'circles'")
    change = (raw["post"] - raw["pre"]).to_numpy()
    assert change.std(ddof=1) == pytest.approx(sd, rel=1e-10)
    half = _hand_robust_half(d, ref["se"] / sd, ref["df"], (change - change.mean()) ** 2, sd**2,
                             raw["mentor_id"].to_numpy())
    assert r["d_z"] == pytest.approx(d, rel=1e-10)
    assert (r["d_z_ci_low"], r["d_z_ci_high"]) == pytest.approx((d - half, d + half), rel=1e-8)
    assert r["g_av_ci_method"].startswith("cluster-robust") and "Wilcoxon" in r["note"]
    # the unclustered control arm keeps the classical paired analysis, exactly as without clusters
    c, plain = out.loc["control"], prepost(_clustered_long()).set_index("arm").loc["control"]
    assert c["cluster_method"] == "none" and c["n_clusters"] == 20
    for col in ("se", "df", "p", "d_z_ci_low", "d_z_ci_high", "g_av_ci_low"):
        assert c[col] == pytest.approx(plain[col], rel=1e-12)
    # and the clustered arm's interval is wider than the one that treats mentees as independent
    unclustered = prepost(_clustered_long()).set_index("arm").loc["circles"]
    assert r["ci_high"] - r["ci_low"] > 1.5 * (unclustered["ci_high"] - unclustered["ci_low"])


def _hand_robust_half(d, v_sd, df1, q, s2, labels, level=0.95):
    """The clustered d interval's half-width, written out: V1 + V2, Welch-Satterthwaite df."""
    groups = pd.unique(labels)
    u = np.array([np.sum(q[labels == g] - s2) for g in groups])
    k, n = len(groups), len(q)
    v1, v2 = v_sd**2, d**2 * (k / (k - 1)) * np.sum(u**2) / (n - 1) ** 2 / (4 * s2**2)
    nu = (v1 + v2) ** 2 / (v1**2 / df1 + v2**2 / (k - 1))
    return stats.t.ppf(0.5 + level / 2, nu) * math.sqrt(v1 + v2)


def _hand_cr2_intercept(y, labels):
    """CR2 SE and Satterthwaite df of a mean, dense matrices (identity working model)."""
    n = len(y)
    groups = pd.unique(labels)
    ones = np.ones(n)
    hmat = np.outer(ones, ones) / n
    e = y - y.mean()
    var, us = 0.0, []
    for g in groups:
        idx = np.flatnonzero(labels == g)
        lam, vec = np.linalg.eigh(np.eye(len(idx)) - hmat[np.ix_(idx, idx)])
        a = vec @ np.diag(lam**-0.5) @ vec.T
        pg = a @ ones[idx] / n  # A_g X_g (X'X)^-1
        var += float(pg @ e[idx]) ** 2
        us.append((np.eye(n) - hmat)[:, idx] @ pg)
    omega = np.array([[ug @ uh for uh in us] for ug in us])
    return math.sqrt(var), np.trace(omega) ** 2 / np.sum(omega**2)


def test_clustered_dz_interval_known_answer():
    # three circles (3, 4 and 3 mentees) and one mentee without a circle (a cluster of one)
    pre = np.array([10.0, 12, 11, 9, 14, 13, 12, 10, 15, 11, 12])
    post = np.array([12.5, 13, 14, 9.5, 17, 15, 16.5, 11, 15.5, 14, 13])
    circle = np.array(["a", "a", "a", "b", "b", "b", "b", "c", "c", "c", None], dtype=object)
    frame = _long(pre, post, arm="circles")
    frame["mentor_id"] = np.tile(circle, 2)
    r = prepost(frame, clusters="mentor_id").iloc[0]
    change = post - pre
    labels = np.where(circle == None, "solo", circle).astype(str)  # noqa: E711
    n, m, s = len(change), change.mean(), change.std(ddof=1)
    se, df1 = _hand_cr2_intercept(change, labels)
    assert r["cluster_method"] == "CR2" and r["n_clusters"] == 4
    assert (r["se"], r["df"]) == pytest.approx((se, df1), rel=1e-9)
    d = m / s
    # by hand: V1 = (SE/s)^2, V2 = d^2 Var(s^2) / (4 s^4) with Var(s^2) from the circles' sums
    u = np.array([np.sum((change[labels == g] - m) ** 2 - s**2) for g in ("a", "b", "c", "solo")])
    v1 = (se / s) ** 2
    v2 = d**2 * (4 / 3) * np.sum(u**2) / (n - 1) ** 2 / (4 * s**4)
    nu = (v1 + v2) ** 2 / (v1**2 / df1 + v2**2 / 3)
    half = stats.t.ppf(0.975, nu) * np.sqrt(v1 + v2)
    assert r["d_z"] == pytest.approx(d, rel=1e-12)
    assert (r["d_z_ci_low"], r["d_z_ci_high"]) == pytest.approx((d - half, d + half), rel=1e-10)
    assert half == pytest.approx(_hand_robust_half(d, se / s, df1, (change - m) ** 2, s**2, labels), rel=1e-12)
    # g_av: the same construction on the average of the pre and post variances
    s2av = (pre.var(ddof=1) + post.var(ddof=1)) / 2
    q = ((pre - pre.mean()) ** 2 + (post - post.mean()) ** 2) / 2
    dav = m / math.sqrt(s2av)
    hav = _hand_robust_half(dav, se / math.sqrt(s2av), df1, q, s2av, labels)
    j = math.exp(math.lgamma((n - 1) / 2) - math.log(math.sqrt((n - 1) / 2)) - math.lgamma((n - 2) / 2))
    assert (r["g_av_ci_low"], r["g_av_ci_high"]) == pytest.approx((j * (dav - hav), j * (dav + hav)), rel=1e-8)
    # with no circles at all, or every mentee in a circle of one, the classical analysis is untouched
    plain = prepost(frame.drop(columns="mentor_id")).iloc[0]
    solo = prepost(frame.assign(mentor_id=frame["participant_id"]), clusters="mentor_id").iloc[0]
    es = effect_size(post, pre, paired=True).set_index("kind")
    for res in (plain, solo):
        assert res["cluster_method"] == "none" and res["n_clusters"] == n and res["df"] == n - 1
        assert (res["d_z_ci_low"], res["d_z_ci_high"]) == pytest.approx(
            (es.loc["d_z", "ci_low"], es.loc["d_z", "ci_high"]), rel=1e-10)
    for col in ("se", "df", "p", "d_z", "d_z_ci_low", "d_z_ci_high", "g_av_ci_low", "g_av_ci_high"):
        assert solo[col] == pytest.approx(plain[col], rel=1e-12), col


def test_a_site_level_with_few_sites_is_treated_as_fixed():
    # two sites above six circles: CR2 on the sites would have about 1 df; the mentors carry the clustering
    d = _clustered_long()
    sites = {p: ("north" if i % 2 else "south") for i, p in enumerate(d["participant_id"].unique())}
    d = d.assign(site_id=d["participant_id"].map(sites))
    two = prepost(d, clusters=["site_id", "mentor_id"]).set_index("arm")
    mentors = prepost(d, clusters="mentor_id").set_index("arm")
    r = two.loc["circles"]
    for col in ("se", "df", "ci_low", "ci_high", "d_z_ci_low", "n_clusters"):
        assert r[col] == pytest.approx(mentors.loc["circles", col], rel=1e-12), col
    assert "site_id (2 clusters) treated as fixed" in r["note"] and "clustered on mentor_id" in r["note"]
    # a single declared level is the user's choice and stays, however few its clusters
    only = prepost(d, clusters="site_id").set_index("arm").loc["circles"]
    assert only["n_clusters"] == 2 and only["df"] < 2 and "treated as fixed" not in only["note"]


def test_clusters_argument_is_checked():
    with pytest.raises(ParameterError, match="'clusters' parameter of prepost"):
        prepost(_clustered_long(), clusters=[3])
    with pytest.raises(ParameterError, match="lacks the column.*'site_id'"):
        prepost(_clustered_long(), clusters=["site_id"])
