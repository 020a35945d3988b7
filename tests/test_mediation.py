"""Mediation: lavaan parity, hand algebra, Imai-Keele-Tingley sensitivity, bootstrap, design labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize, stats

from mentor_eval.errors import DataValidationError, ParameterError
from mentor_eval.outcomes.mediation import acme_at_rho, mediation

HERE = Path(__file__).parent / "data" / "mediation"
WIDE = pd.read_csv(HERE / "data.csv")
EXPECTED = json.loads((HERE / "expected.json").read_text())
# 14 mentors with real mentor effects in the mentored arm; clubSandwich CR2 reference (make_reference_cr2.R)
CLUSTERED = pd.read_csv(HERE / "clustered.csv")
EXPECTED_CR2 = json.loads((HERE / "expected_cr2.json").read_text())
WAVES = [("baseline", "bel", "m_pre"), ("baseline", "hope", "y_pre"), ("midpoint", "bel", "m_mid"),
         ("post", "hope", "y_post")]


def _long(wide: pd.DataFrame, waves=WAVES) -> pd.DataFrame:
    return pd.concat([wide.assign(wave=w, outcome=o, score=wide[c]) for w, o, c in waves], ignore_index=True)


LONG = _long(WIDE)


def _pick(res, effect, ci_method="normal"):
    e = res.effects
    return e[(e["effect"] == effect) & (e["ci_method"] == ci_method)].iloc[0]


def _path(res, path, ci_method="normal"):
    p = res.paths
    return p[(p["path"] == path) & (p["ci_method"] == ci_method)].iloc[0]


def test_point_estimates_and_delta_ses_match_lavaan_sem_ml():
    res = mediation(LONG, "bel", "hope", mid="midpoint", covariates=["age", "female"], se_method="ml", n_boot=0)
    got = {"a": _path(res, "a"), "b": _path(res, "b"), "cp": _path(res, "direct"),
           "indirect": _pick(res, "indirect"), "total": _pick(res, "total"), "proportion": _pick(res, "proportion")}
    for k, row in got.items():
        assert row["estimate"] == pytest.approx(EXPECTED[k]["est"], abs=1e-6), k
        assert row["se"] == pytest.approx(EXPECTED[k]["se"], abs=1e-6), k
    assert _pick(res, "direct")["estimate"] == pytest.approx(EXPECTED["cp"]["est"], abs=1e-6)
    assert int(_pick(res, "indirect")["n"]) == EXPECTED["n"]


def _ols(y, x):
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    r = y - x @ beta
    return beta, np.linalg.inv(x.T @ x) * (r @ r) / (len(y) - x.shape[1]), r


def test_ols_delta_ses_by_hand_and_total_equals_the_reduced_form_arm_effect():
    res = mediation(LONG, "bel", "hope", mid="midpoint", covariates=["age", "female"], n_boot=0)
    d = WIDE
    z = np.column_stack([np.ones(len(d)), d[["m_pre", "y_pre", "age", "female"]]])
    t = d["treat"].to_numpy(float)
    bm, vm, _ = _ols(d["m_mid"].to_numpy(), np.column_stack([t, z]))
    by, vy, _ = _ols(d["y_post"].to_numpy(), np.column_stack([t, d["m_mid"], z]))
    a, va, c, b = bm[0], vm[0, 0], by[0], by[1]
    se_ind = np.sqrt(b ** 2 * va + a ** 2 * vy[1, 1])
    se_tot = np.sqrt(b ** 2 * va + a ** 2 * vy[1, 1] + vy[0, 0] + 2 * a * vy[0, 1])
    ind = _pick(res, "indirect")
    assert ind["estimate"] == pytest.approx(a * b, abs=1e-10)
    assert ind["se"] == pytest.approx(se_ind, abs=1e-10)
    assert ind["p"] == pytest.approx(2 * stats.norm.sf(abs(a * b) / se_ind), abs=1e-10)
    assert ind["ci_low"] == pytest.approx(a * b - stats.norm.ppf(0.975) * se_ind, abs=1e-10)
    assert _pick(res, "total")["se"] == pytest.approx(se_tot, abs=1e-10)
    assert _pick(res, "direct")["estimate"] == pytest.approx(c, abs=1e-10)
    assert _pick(res, "direct")["se"] == pytest.approx(np.sqrt(vy[0, 0]), abs=1e-10)
    # the OLS SEs are the ML (lavaan) ones rescaled by sqrt(n / (n - k)) per equation
    n = len(d)
    assert _path(res, "a")["se"] == pytest.approx(EXPECTED["a"]["se"] * np.sqrt(n / (n - 6)), abs=1e-8)
    assert _path(res, "b")["se"] == pytest.approx(EXPECTED["b"]["se"] * np.sqrt(n / (n - 7)), abs=1e-8)
    # a*b + c' is the ANCOVA arm effect of y_post ~ treat + Z (same covariates in both models)
    bt, _, _ = _ols(d["y_post"].to_numpy(), np.column_stack([t, z]))
    assert _pick(res, "total")["estimate"] == pytest.approx(bt[0], abs=1e-10)
    assert _pick(res, "proportion")["estimate"] == pytest.approx(a * b / bt[0], abs=1e-10)


def test_rho_at_zero_is_where_the_ikt_acme_vanishes_and_acme_at_zero_is_ab():
    res = mediation(LONG, "bel", "hope", mid="midpoint", covariates=["age", "female"], n_boot=0)
    s = res.sensitivity.iloc[0]
    kw = {"a": s["a"], "sigma_total": s["sigma_total"], "sigma_mediator": s["sigma_mediator"],
          "rho_tilde": s["rho_at_zero"]}
    assert acme_at_rho(0.0, **kw) == pytest.approx(_pick(res, "indirect")["estimate"], abs=1e-12)
    assert acme_at_rho(s["rho_at_zero"], **kw) == pytest.approx(0.0, abs=1e-12)
    assert _pick(res, "indirect")["rho_at_zero"] == s["rho_at_zero"]

    # Independent derivation: the reduced-form error is e1 = g e_m + e_y. Given rho = corr(e_m, e_y),
    # solve the two moment equations cov(e1, e_m) = g s_m^2 + rho s_m s_y and
    # var(e1) = g^2 s_m^2 + s_y^2 + 2 g rho s_m s_y for (g, s_y); the ACME is a g.
    s1, s2, rt = s["sigma_total"], s["sigma_mediator"], s["rho_at_zero"]
    for rho in (-0.6, -0.2, 0.1, 0.45, 0.8):
        def eqs(v, rho=rho):
            g, sy = v
            return [g * s2 ** 2 + rho * s2 * sy - rt * s1 * s2,
                    g ** 2 * s2 ** 2 + sy ** 2 + 2 * g * rho * s2 * sy - s1 ** 2]
        g, sy = optimize.fsolve(eqs, [0.0, s1])
        assert sy > 0 and np.max(np.abs(eqs([g, sy]))) < 1e-8
        assert acme_at_rho(rho, **kw) == pytest.approx(s["a"] * g, abs=1e-7)
    with pytest.raises(ParameterError, match="'rho'"):
        acme_at_rho(1.0, **kw)
    curve = res.sensitivity_curve([0.0, rt])
    np.testing.assert_allclose(curve["acme"], [_pick(res, "indirect")["estimate"], 0.0], atol=1e-12)


def test_rho_at_zero_recovers_the_confounding_that_creates_a_spurious_indirect_effect():
    # No true b path; mediator and outcome share an unmeasured cause with error correlation 0.4.
    rng = np.random.default_rng(7)
    n = 40_000
    t = rng.integers(0, 2, n)
    e = rng.multivariate_normal([0, 0], [[1, 0.4], [0.4, 1]], n)
    m = 0.5 * t + e[:, 0]
    y = 0.3 * t + e[:, 1]
    people = pd.DataFrame({"participant_id": range(n), "arm": np.where(t, "x", "control")})
    long = pd.concat([people.assign(wave="post", outcome="m", score=m),
                      people.assign(wave="post", outcome="y", score=y)])
    res = mediation(long, "m", "y", pre=None, n_boot=0)
    assert _pick(res, "indirect")["estimate"] > 0.15  # naive a*b is biased by the confounding
    assert res.sensitivity["rho_at_zero"].iloc[0] == pytest.approx(0.4, abs=0.02)
    assert _pick(res, "indirect")["design"] == "cross-sectional"


def test_bootstrap_intervals_are_reproducible_and_agree_with_delta_in_a_large_sample():
    res = mediation(LONG, "bel", "hope", mid="midpoint", covariates=["age", "female"], n_boot=1000, seed=4)
    again = mediation(LONG, "bel", "hope", mid="midpoint", covariates=["age", "female"], n_boot=1000, seed=4)
    pd.testing.assert_frame_equal(res.effects, again.effects)
    assert set(res.effects["ci_method"]) == {"normal", "percentile", "bca", "monte-carlo"}
    assert set(res.effects.loc[res.effects["ci_method"] == "bca", "method"]) == {"bootstrap"}
    tot_d, tot_b = _pick(res, "total"), _pick(res, "total", "percentile")
    assert tot_b["estimate"] == tot_d["estimate"]
    assert tot_b["se"] == pytest.approx(tot_d["se"], rel=0.15)
    assert tot_b["ci_low"] == pytest.approx(tot_d["ci_low"], abs=0.35)
    ind_b = _pick(res, "indirect", "bca")
    assert ind_b["ci_low"] < ind_b["estimate"] < ind_b["ci_high"] and ind_b["n_boot"] == 1000
    assert ind_b["se"] == pytest.approx(_pick(res, "indirect")["se"], rel=0.25)


def test_whole_clusters_are_resampled_when_a_cluster_column_is_given():
    plain = mediation(LONG, "bel", "hope", mid="midpoint", n_boot=300, seed=2, ci_method=["percentile"])
    clus = mediation(LONG.assign(mentor_id=LONG["mentor_id"].replace("", np.nan)), "bel", "hope", mid="midpoint",
                     cluster="mentor_id", n_boot=300, seed=2, ci_method=["percentile"])
    # 120 control singletons + 40 mentors of 3
    assert _pick(clus, "indirect", "percentile")["n_clusters"] == 160
    assert _pick(plain, "indirect", "percentile")["n_clusters"] == 240
    assert _pick(clus, "total", "percentile")["se"] != _pick(plain, "total", "percentile")["se"]


def _pair_stats_by_hand(t, m, y, z, w):
    """a, b, c', ab, total, proportion from weighted least squares on one replicate's rows."""
    sw = np.sqrt(w)
    try:
        bm = np.linalg.solve((np.column_stack([t, z]) * w[:, None]).T @ np.column_stack([t, z]),
                             (np.column_stack([t, z]) * w[:, None]).T @ m)
        xy = np.column_stack([t, m, z])
        by = np.linalg.lstsq(xy * sw[:, None], y * sw, rcond=None)[0]
    except np.linalg.LinAlgError:
        return np.full(6, np.nan)
    a, c, b = bm[0], by[0], by[1]
    return np.array([a, b, c, a * b, a * b + c, a * b / (a * b + c)])


def test_batched_bootstrap_and_jackknife_statistics_equal_fits_on_the_resampled_rows():
    from mentor_eval.outcomes.mediation import _PairData, _PairStatistic
    from mentor_eval.parallel import jackknife_weights, replicate_weights, resampling_plan

    rng = np.random.default_rng(8)
    n = 90
    t = np.repeat([0.0, 1.0], n // 2)
    rare = np.zeros(n)
    rare[3] = 1.0  # a covariate level held by one control participant only: leaving her out is singular
    z = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=n), rare])
    m = 0.5 * z[:, 1] + 0.4 * t + rng.normal(size=n)
    y = 0.3 * z[:, 2] + 0.5 * m + 0.2 * t + rng.normal(size=n)
    clusters = np.where(t == 1, np.arange(n) // 3, -1).astype(object)
    clusters[t == 0] = None  # control participants are clusters of one
    plan = resampling_plan(n, clusters=clusters, strata=t)
    stat = _PairStatistic(_PairData(z=z, t=t, m=m, y=y))
    w = replicate_weights(plan, np.random.SeedSequence(1).spawn(40))
    by_hand = np.array([_pair_stats_by_hand(t, m, y, z, wi) for wi in w])
    np.testing.assert_allclose(stat(w), by_hand, rtol=1e-9, atol=1e-12)
    jw = jackknife_weights(plan)
    jack = stat.jackknife(plan)
    assert jack.shape == (plan.n_clusters, 6)
    np.testing.assert_allclose(jack, stat(jw), rtol=1e-9, atol=1e-12)
    left_out_rare = plan.cluster[3]
    assert np.isnan(jack[left_out_rare]).all() and np.isfinite(np.delete(jack, left_out_rare, axis=0)).all()


def test_auto_design_uses_the_middle_wave_and_falls_back_to_cross_sectional_with_a_label():
    res = mediation(LONG.assign(wave_index=LONG["wave"].map({"baseline": 0, "midpoint": 1, "post": 2})),
                    "bel", "hope", n_boot=0)
    assert set(res.effects["design"]) == {"half-longitudinal"} and set(res.effects["mediator_wave"]) == {"midpoint"}
    two = _long(WIDE, [("baseline", "bel", "m_pre"), ("baseline", "hope", "y_pre"), ("post", "bel", "m_mid"),
                       ("post", "hope", "y_post")])
    cross = mediation(two, "bel", "hope", n_boot=0)
    assert set(cross.effects["design"]) == {"cross-sectional"} and set(cross.effects["mediator_wave"]) == {"post"}
    assert "weaker evidence" in cross.summary()
    # the same numbers: the design only decides which wave the mediator is read at
    assert _pick(cross, "indirect")["estimate"] == pytest.approx(_pick(res, "indirect")["estimate"], abs=1e-12)
    with pytest.raises(DataValidationError, match="needs a mediator wave between"):
        mediation(two, "bel", "hope", design="half-longitudinal", n_boot=0)


def test_both_directions_and_complete_cases_are_reported():
    long = LONG.copy()
    rng = np.random.default_rng(3)
    more = WIDE.assign(h_mid=WIDE["y_pre"] + rng.normal(0, 3, len(WIDE)),
                       b_post=WIDE["m_mid"] + rng.normal(0, 0.5, len(WIDE)))
    extra = _long(more, [("midpoint", "hope", "h_mid"), ("post", "bel", "b_post")])
    long = pd.concat([long, extra], ignore_index=True)
    drop = (long["participant_id"] == "P005") & (long["outcome"] == "bel") & (long["wave"] == "midpoint")
    long = long[~drop]
    res = mediation(long, ["bel", "hope"], ["hope", "bel"], mid="midpoint", n_boot=0)
    pairs = set(zip(res.effects["mediator"], res.effects["outcome"], strict=True))
    assert pairs == {("bel", "hope"), ("hope", "bel")}
    row = res.effects[(res.effects["mediator"] == "bel") & (res.effects["effect"] == "indirect")].iloc[0]
    assert row["n"] == 239 and row["n_excluded"] == 1
    assert list(res.effects.columns[:11]) == ["arm", "mediator", "outcome", "effect", "estimate", "se", "ci_low",
                                              "ci_high", "p", "n", "method"]
    assert list(res.effects["effect"].iloc[:4]) == ["indirect", "direct", "total", "proportion"]
    assert "nw vs control" in res.summary()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"mediator": "belong"}, ParameterError, "names outcome\\(s\\) not in data: \\['belong'\\]"),
        ({"se_method": "wls"}, ParameterError, "'se_method' parameter of mediation must be one of"),
        ({"control": "waitlist"}, ParameterError, "'control' parameter of mediation"),
        ({"mid": "week6"}, DataValidationError, "the mid wave 'week6' does not occur"),
        ({"ci_method": ["bc"]}, ParameterError, "'ci_method' parameter"),
        ({"n_mc": -1}, ParameterError, "'n_mc' parameter of mediation"),
        ({"covariates": ["income"]}, ParameterError, "lacks the column\\(s\\) 'income'"),
        ({"mediator": "hope"}, ParameterError, "no pair with mediator != outcome"),
    ],
)
def test_bad_arguments_get_clear_errors(kwargs, error, message):
    args = {"mediator": "bel", "outcome": "hope", "mid": "midpoint", "n_boot": 0, **kwargs}
    with pytest.raises(error, match=message):
        mediation(LONG, **args)


# --------------------------------------------------------------------------- Monte Carlo (CR2)

CL_LONG = _long(CLUSTERED)


def _mc(cluster="mentor_id", **kw):
    args = {"mid": "midpoint", "covariates": ["age"], "cluster": cluster, "n_boot": 0, "seed": 3, **kw}
    return mediation(CL_LONG, "bel", "hope", **args)


@pytest.mark.parametrize("cluster", ["mentor_id", None])
def test_monte_carlo_paths_match_clubsandwich_cr2_with_the_reml_working_model(cluster):
    """a, b, c' and the total: CR2 SE, Satterthwaite df and p of clubSandwich (HC2 without a cluster)."""
    res = _mc(cluster)
    for name in ("a", "b", "direct", "total"):
        ref = EXPECTED_CR2[name]
        row = _path(res, name, "monte-carlo") if name in ("a", "b") else _pick(res, name, "monte-carlo")
        se, df = (ref["se"], ref["df"]) if cluster else (ref["se_hc2"], ref["df_hc2"])
        assert row["method"] == "monte-carlo"
        assert row["estimate"] == pytest.approx(ref["estimate"], abs=1e-9), name
        assert row["se"] == pytest.approx(se, rel=1e-6), name
        half = stats.t.ppf(0.975, df) * se
        assert row["ci_low"] == pytest.approx(ref["estimate"] - half, rel=1e-6, abs=1e-9), name
        assert row["ci_high"] == pytest.approx(ref["estimate"] + half, rel=1e-6, abs=1e-9), name
        assert row["p"] == pytest.approx(2 * stats.t.sf(abs(ref["estimate"] / se), df), rel=1e-5), name
        if cluster:
            assert row["p"] == pytest.approx(ref["p"], rel=1e-5), name
    # the clustered SEs of the arm's paths are larger than the unclustered ones here (mentor effects)
    assert EXPECTED_CR2["a"]["se"] > EXPECTED_CR2["a"]["se_hc2"]
    assert int(_pick(res, "indirect", "monte-carlo")["n_clusters"]) == (90 + 14 if cluster else 171)


def _product_cdf(q, a, sa, dfa, b, sb, dfb):
    """P((a + sa T1)(b + sb T2) <= q) for independent t variables, by quadrature over T1."""
    def inner(u):
        x = a + sa * u
        if x == 0:
            return float(q >= 0)
        lim = (q / x - b) / sb
        return stats.t.cdf(lim, dfb) if x > 0 else stats.t.sf(lim, dfb)

    root = -a / sa  # where the first factor changes sign
    val, _ = integrate.quad(lambda u: stats.t.pdf(u, dfa) * inner(u), -np.inf, root, limit=200)
    val2, _ = integrate.quad(lambda u: stats.t.pdf(u, dfa) * inner(u), root, np.inf, limit=200)
    return val + val2


def test_monte_carlo_indirect_limits_are_the_quantiles_of_a_product_of_two_t_variables():
    res = _mc()
    row = _pick(res, "indirect", "monte-carlo")
    ra, rb = EXPECTED_CR2["a"], EXPECTED_CR2["b"]
    args = (ra["estimate"], ra["se"], ra["df"], rb["estimate"], rb["se"], rb["df"])
    lo = optimize.brentq(lambda q: _product_cdf(q, *args) - 0.025, -5, 5)
    hi = optimize.brentq(lambda q: _product_cdf(q, *args) - 0.975, 0, 10)
    # 100,000 draws: the Monte Carlo error of each limit is well under 2% of the SE
    assert row["ci_low"] == pytest.approx(lo, abs=0.02 * row["se"])
    assert row["ci_high"] == pytest.approx(hi, abs=0.02 * row["se"])
    f0 = _product_cdf(0.0, *args)
    assert row["p"] == pytest.approx(2 * min(f0, 1 - f0), abs=0.002)
    assert row["se"] == pytest.approx(np.hypot(args[3] * args[1], args[0] * args[4]), rel=1e-6)
    assert row["n_boot"] == 100_000
    # the normal-theory delta interval is narrower: t draws carry the few-cluster uncertainty
    d = _pick(res, "indirect")
    assert d["ci_high"] - d["ci_low"] < row["ci_high"] - row["ci_low"]


def test_monte_carlo_rows_are_reproducible_and_do_not_depend_on_the_bootstrap_or_its_workers():
    mc = ["indirect", "proportion"]
    one = _mc(n_boot=40, n_jobs=1)
    again = _mc(n_boot=40, n_jobs=1)
    pd.testing.assert_frame_equal(one.effects, again.effects)
    for backend in ("threading", "loky"):
        two = _mc(n_boot=40, n_jobs=2, backend=backend)
        pd.testing.assert_frame_equal(one.effects, two.effects)
    # the Monte Carlo stream is its own: the same draws with or without (any number of) bootstrap replicates
    alone = _mc(ci_method=["monte-carlo"])
    sel = one.effects["ci_method"] == "monte-carlo"
    pd.testing.assert_frame_equal(one.effects[sel].reset_index(drop=True), alone.effects.query(
        "ci_method == 'monte-carlo'").reset_index(drop=True))
    assert set(alone.effects["ci_method"]) == {"normal", "monte-carlo"}
    other = _mc(seed=4, ci_method=["monte-carlo"]).effects.query("ci_method == 'monte-carlo'").set_index("effect")
    same = alone.effects.query("ci_method == 'monte-carlo'").set_index("effect")
    assert (other.loc[mc, "ci_low"] != same.loc[mc, "ci_low"]).all()
    assert (other.loc[["direct", "total"], "ci_low"] == same.loc[["direct", "total"], "ci_low"]).all()
    assert "monte-carlo" not in set(_mc(n_mc=0).effects["ci_method"])
