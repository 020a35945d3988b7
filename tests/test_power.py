"""Known-answer tests for analytic ANCOVA power, MDES and simulation-based power."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.power import TTestIndPower

from mentor_eval.errors import AnalysisError, ParameterError
from mentor_eval.outcomes import mdes_ancova, power_ancova
from mentor_eval.power_study import simulated_power

# --------------------------------------------------------------------------- analytic power


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.10])
@pytest.mark.parametrize("two_sided", [True, False])
def test_two_arm_r0_equals_two_sample_t(alpha, two_sided):
    ref = TTestIndPower()
    alternative = "two-sided" if two_sided else "larger"
    for d in (0.1, 0.25, 0.5, 0.8, -0.3):
        for n in (5, 20, 64, 150, 393):
            expected = ref.power(d, n, alpha, ratio=1.0, alternative=alternative)
            if not np.isfinite(expected):
                # statsmodels' lower tail (scipy nct.cdf) is NaN far out; that tail is < 1e-15
                # there, so the upper tail alone is the reference.
                expected = ref.power(abs(d), n, alpha / 2, ratio=1.0, alternative="larger")
            got = power_ancova(d, n, alpha=alpha, two_sided=two_sided)
            assert np.isfinite(got)
            assert got == pytest.approx(expected, abs=1e-6), (d, n)


def test_cohen_table_values():
    # Cohen (1988), Table 2.4.1 (two-tailed alpha .05, power .80): d = .2 -> 393, .5 -> 64, .8 -> 26.
    assert round(power_ancova(0.5, 64), 2) == 0.80
    assert round(power_ancova(0.8, 26), 2) == 0.81
    assert power_ancova(0.2, 393) == pytest.approx(0.80, abs=0.001)
    # exact noncentral t: 394 per group is the first n reaching .80 (Cohen's 393 used approximations)
    assert power_ancova(0.2, 394) >= 0.80 > power_ancova(0.2, 393)
    assert power_ancova(0.8, 26) >= 0.80 > power_ancova(0.8, 25)


def test_pretest_shrinks_required_n_by_one_minus_r_squared():
    n = 200.0
    base = power_ancova(0.3, [n], pretest_r=0.0)
    adj = power_ancova(0.3, [0.75 * n], pretest_r=0.5)
    # same noncentrality with 75% of the sample; df differ by the sample and the pretest's df
    assert adj["ncp"].iloc[0] == pytest.approx(base["ncp"].iloc[0], rel=1e-14)
    assert base["ncp"].iloc[0] == pytest.approx(0.3 * math.sqrt(n / 2), rel=1e-14)
    assert adj["df"].iloc[0] == 2 * 150 - 2 - 1
    assert base["df"].iloc[0] == 2 * 200 - 2
    # hence nearly the same power (the df difference moves power by < 0.001 here)
    assert adj["power"].iloc[0] == pytest.approx(base["power"].iloc[0], abs=1e-3)
    # and the ANCOVA power itself is the noncentral-t formula with df = N - 3
    ncp = 0.3 * math.sqrt(150 / (2 * 0.75))
    crit = stats.t.isf(0.025, 297)
    expected = stats.nct.sf(crit, 297, ncp) + stats.nct.cdf(-crit, 297, ncp)
    assert adj["power"].iloc[0] == pytest.approx(expected, abs=1e-12)


def test_pretest_and_covariates_cost_df():
    res = power_ancova(0.4, [50], pretest_r=0.0, include_pretest=True, n_covariates=3, n_arms=3)
    assert res["df"].iloc[0] == 3 * 50 - 3 - 3 - 1
    ncp = 0.4 * math.sqrt(50 / 2)
    crit = stats.t.isf(0.025, 143)
    assert res["power"].iloc[0] == pytest.approx(stats.nct.sf(crit, 143, ncp) + stats.nct.cdf(-crit, 143, ncp), abs=1e-12)
    # a third arm changes only the df of a pairwise contrast
    three = power_ancova(0.4, [50], n_arms=3)
    assert three["df"].iloc[0] == 147 and three["ncp"].iloc[0] == pytest.approx(ncp, rel=1e-14)


def test_design_effect():
    res = power_ancova(0.3, [120], icc=0.1, cluster_size=10, pretest_r=0.6)
    deff = 1 + 9 * 0.1
    assert res["design_effect"].iloc[0] == pytest.approx(1.9)
    assert res["ncp"].iloc[0] == pytest.approx(0.3 * math.sqrt(120 / (2 * (1 - 0.36) * deff)), rel=1e-14)
    # cluster-level df: 24 clusters - 2 arms - 1 pretest
    assert res["df"].iloc[0] == pytest.approx(21.0)
    # a design effect is the same as dividing n by it, apart from the df
    same_ncp = power_ancova(0.3, [120 / deff], pretest_r=0.6)
    assert same_ncp["ncp"].iloc[0] == pytest.approx(res["ncp"].iloc[0], rel=1e-14)
    assert res["power"].iloc[0] < same_ncp["power"].iloc[0]  # fewer df: conservative
    # ICC = 0 or clusters of one: no design effect, individual df
    assert power_ancova(0.3, 120, icc=0.0, cluster_size=10) == power_ancova(0.3, 120)
    assert power_ancova(0.3, 120, icc=0.2, cluster_size=1) == power_ancova(0.3, 120)


def test_vectorised_grid_matches_scalar_calls():
    res = power_ancova(np.array([[0.2], [0.5]]), np.array([50, 100, 200]), pretest_r=0.4)
    assert isinstance(res, pd.DataFrame) and len(res) == 6
    assert list(res.columns) == [
        "effect_size", "n_per_arm", "n_arms", "pretest_r", "alpha", "n_covariates", "icc",
        "cluster_size", "two_sided", "design_effect", "df", "ncp", "power",
    ]  # fmt: skip
    for row in res.itertuples():
        assert row.power == power_ancova(row.effect_size, row.n_per_arm, pretest_r=0.4)
    assert isinstance(power_ancova(0.2, 50), float)


def test_power_errors():
    with pytest.raises(ParameterError, match=r"The 'alpha' parameter of power_ancova must be in \(0, 1\); got 1.5\."):
        power_ancova(0.3, 50, alpha=1.5)
    with pytest.raises(ParameterError, match="'icc'"):
        power_ancova(0.3, 50, icc=1.0)
    with pytest.raises(ParameterError, match="'pretest_r'"):
        power_ancova(0.3, 50, pretest_r=1.0)
    with pytest.raises(ParameterError, match="'n_per_arm'"):
        power_ancova(0.3, [50, -2])
    with pytest.raises(ParameterError, match="no error degrees of freedom"):
        power_ancova(0.3, 4, icc=0.1, cluster_size=4)
    with pytest.raises(ParameterError, match="'two_sided'"):
        power_ancova(0.3, 50, two_sided="yes")
    with pytest.raises(ParameterError, match="whole number"):
        power_ancova(0.3, 50, n_arms=2.5)


# --------------------------------------------------------------------------- MDES


def test_mdes_is_the_inverse_of_power():
    for kwargs in (
        {},
        {"pretest_r": 0.5, "n_covariates": 2},
        {"icc": 0.15, "cluster_size": 8, "pretest_r": 0.3},
        {"two_sided": False, "alpha": 0.10, "n_arms": 4},
    ):
        for n in (24, 64, 300):
            for target in (0.5, 0.8, 0.9):
                d = mdes_ancova(n, target, **kwargs)
                assert power_ancova(d, n, **kwargs) == pytest.approx(target, abs=1e-9)
    # agrees with statsmodels' solver for the t test
    assert mdes_ancova(64, 0.8) == pytest.approx(TTestIndPower().solve_power(None, nobs1=64, alpha=0.05, power=0.8), abs=1e-6)


def test_mdes_vectorised_and_errors():
    res = mdes_ancova([50, 100], [0.8, 0.9], pretest_r=0.5)
    assert list(res["target_power"]) == [0.8, 0.9]
    for row in res.itertuples():
        assert row.mdes == pytest.approx(mdes_ancova(row.n_per_arm, row.target_power, pretest_r=0.5), abs=1e-12)
    # the familiar multiplier: MDES ~ 2.8 * SE for two-sided .05 / .80 in large samples
    assert mdes_ancova(5000, 0.8) == pytest.approx(2.8 * math.sqrt(2 / 5000), rel=0.005)
    with pytest.raises(ParameterError, match="must exceed 'alpha'"):
        mdes_ancova(50, 0.04)
    with pytest.raises(ParameterError, match="'power'"):
        mdes_ancova(50, 1.2)


# --------------------------------------------------------------------------- simulation


def _two_group_study(effect: float, n: int):
    """simulate / analyse for a normal two-sample t test.

    Built inside a function so that joblib ships them to workers by value: the workers then do
    not import this test module (and statsmodels with it), which keeps the parallel test fast.
    """
    from scipy.special import stdtr

    def simulate(seed: int):
        rng = np.random.default_rng(seed)
        return rng.normal(effect, 1.0, n), rng.normal(0.0, 1.0, n)

    def analyse(data) -> float:
        x, y = data
        pooled = ((n - 1) * x.var(ddof=1) + (n - 1) * y.var(ddof=1)) / (2 * n - 2)
        t = (x.mean() - y.mean()) / math.sqrt(pooled * 2 / n)
        return float(2 * stdtr(2 * n - 2, -abs(t)))

    return simulate, analyse


_simulate_two_groups, _t_test = _two_group_study(0.6, 20)


def test_t_test_helper_is_the_student_t_test():
    data = _simulate_two_groups(5)
    assert _t_test(data) == pytest.approx(stats.ttest_ind(*data).pvalue, rel=1e-10)


def test_simulated_power_agrees_with_analytic_within_mc_error():
    res = simulated_power(_simulate_two_groups, _t_test, n_sims=600, n_jobs=2, seed=11)
    analytic = power_ancova(0.6, 20)
    row = res.iloc[0]
    assert row["n_valid"] == 600 and row["n_sims"] == 600
    assert row["mc_se"] == pytest.approx(math.sqrt(row["power"] * (1 - row["power"]) / 600))
    assert abs(row["power"] - analytic) < 3.5 * math.sqrt(analytic * (1 - analytic) / 600)
    assert row["ci_low"] < row["power"] < row["ci_high"]
    # results do not depend on the number of workers
    serial = simulated_power(_simulate_two_groups, _t_test, n_sims=600, n_jobs=1, seed=11)
    assert serial["power"].iloc[0] == row["power"]
    other_seed = simulated_power(_simulate_two_groups, _t_test, n_sims=600, n_jobs=1, seed=12)
    assert other_seed["power"].iloc[0] != row["power"]


def test_simulated_power_under_the_null_and_wilson_interval():
    null, t_test = _two_group_study(0.0, 15)
    res = simulated_power(null, t_test, n_sims=400, n_jobs=1, alpha=0.05, seed=3).iloc[0]
    assert abs(res["power"] - 0.05) < 3.5 * math.sqrt(0.05 * 0.95 / 400)
    # Wilson interval by hand
    k, n, z = round(res["power"] * 400), 400, stats.norm.isf(0.025)
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    assert res["ci_low"] == pytest.approx(centre - half) and res["ci_high"] == pytest.approx(centre + half)


def test_simulated_power_frames_missing_p_and_errors():
    def analyse_frame(data):
        p = _t_test(data)
        return pd.DataFrame({"outcome": ["hope", "belonging"], "estimate": [0.1, 0.2], "p": [p, np.nan if p < 0.5 else p]})

    res = simulated_power(_simulate_two_groups, analyse_frame, n_sims=50, n_jobs=1, seed=1)
    assert list(res["outcome"]) == ["hope", "belonging"]
    assert "estimate" not in res.columns
    assert res["n_valid"].iloc[0] == 50 and res["n_valid"].iloc[1] < 50
    assert res["power"].iloc[1] == 0.0  # every valid p there is >= 0.5

    def broken(data):
        raise RuntimeError("singular matrix")

    with pytest.raises(AnalysisError, match="seed .* failed: RuntimeError: singular matrix"):
        simulated_power(_simulate_two_groups, broken, n_sims=5, n_jobs=1)
    with pytest.raises(AnalysisError, match="'p' column"):
        simulated_power(_simulate_two_groups, lambda d: pd.DataFrame({"q": [0.1]}), n_sims=3, n_jobs=1)
    with pytest.raises(ParameterError, match="'n_sims'"):
        simulated_power(_simulate_two_groups, _t_test, n_sims=0)
    with pytest.raises(ParameterError, match="'n_jobs'"):
        simulated_power(_simulate_two_groups, _t_test, n_jobs=0)
    with pytest.raises(ParameterError, match="must be functions"):
        simulated_power(None, _t_test)


# --------------------------------------------------------------------------- clustered designs


def test_partial_nesting_formula_by_hand():
    n, m, icc, r = 100, 10, 0.15, 0.5
    res = power_ancova(0.4, [n], cluster_size=m, icc=icc, pretest_r=r, nesting="partial").iloc[0]
    deff = 1 + (m - 1) * icc
    v_c, v_t = (1 - r**2) / n, (1 - r**2) * deff / n
    assert res["design_effect"] == pytest.approx(deff)
    assert res["ncp"] == pytest.approx(0.4 / math.sqrt(v_c + v_t), rel=1e-14)
    df = (v_c + v_t) ** 2 / (v_c**2 / (n - 1) + v_t**2 / (n / m - 1)) - 1  # - 1: the pretest
    assert res["df"] == pytest.approx(df, rel=1e-14)
    crit = stats.t.isf(0.025, df)
    expected = stats.nct.sf(crit, df, res["ncp"]) + stats.nct.sf(crit, df, -res["ncp"])
    assert res["power"] == pytest.approx(expected, abs=1e-12)
    # between the unclustered design and the fully nested one
    full = power_ancova(0.4, n, cluster_size=m, icc=icc, pretest_r=r)
    assert full < res["power"] < power_ancova(0.4, n, pretest_r=r)
    # no clustering: the unclustered power (apart from nothing)
    assert power_ancova(0.4, n, pretest_r=r, nesting="partial") == pytest.approx(power_ancova(0.4, n, pretest_r=r))
    d = mdes_ancova(n, 0.8, cluster_size=m, icc=icc, pretest_r=r, nesting="partial")
    assert power_ancova(d, n, cluster_size=m, icc=icc, pretest_r=r, nesting="partial") == pytest.approx(0.8, abs=1e-9)
    with pytest.raises(ParameterError, match="'nesting' parameter of power_ancova"):
        power_ancova(0.4, n, nesting="partly")


def test_clustered_trial_generator():
    from mentor_eval.power_study import clustered_trial

    trial = clustered_trial(300, cluster_size=10, icc=0.3, pretest_r=0.6, n_arms=3, seed=2)
    wide = trial.pivot(index="participant_id", columns="wave", values="score")
    wide = wide.join(trial.drop_duplicates("participant_id").set_index("participant_id")[["arm", "mentor_id"]])
    assert wide.groupby("arm")["mentor_id"].nunique().to_dict() == {"control": 0, "treated_1": 30, "treated_2": 30}
    assert trial.loc[trial["arm"] == "control", "mentor_id"].isna().all()
    treated = wide[wide["arm"] != "control"].dropna(subset=["mentor_id"])
    # the mentor effect is on the post-test only: baseline cluster means vary like noise
    pre_means = treated.groupby("mentor_id")["baseline"].mean()
    assert pre_means.var() == pytest.approx(1 / 10, rel=0.5)
    resid = treated["post"] - 0.6 * treated["baseline"]
    between = resid.groupby(treated["mentor_id"]).mean().var() - (1 - 0.36) * 0.7 / 10
    assert between / (1 - 0.36) == pytest.approx(0.3, abs=0.12)


def test_cr2_null_type_i_many_replications():
    """The CR2 + Satterthwaite contrast under a clustered null: 2000 partially nested trials."""
    from mentor_eval.outcomes.clustered import cr2_fit

    rng = np.random.default_rng(2024)
    n_c, g, m, icc, r = 60, 6, 10, 0.2, 0.5
    n = n_c + g * m
    treated = np.r_[np.zeros(n_c), np.ones(g * m)]
    codes = np.r_[np.arange(n_c), n_c + np.repeat(np.arange(g), m)]
    c = np.array([0.0, 0.0, 1.0])
    p_cr2, p_ols = [], []
    for _ in range(2000):
        pre = rng.standard_normal(n)
        u = np.r_[np.zeros(n_c), np.repeat(rng.standard_normal(g), m)]
        post = r * pre + np.sqrt((1 - r**2) * icc) * u + np.sqrt((1 - r**2) * (1 - icc * treated)) * rng.standard_normal(n)
        fit = cr2_fit(np.column_stack([np.ones(n), pre, treated]), post, codes)
        res = fit.contrasts(c).iloc[0]
        p_cr2.append(res["p"])
        p_ols.append(2 * stats.t.sf(abs(res["estimate"] / res["se_unclustered"]), fit.df_resid))
    rate = np.mean(np.array(p_cr2) < 0.05)
    # 2000 replications: Monte Carlo SE 0.49%, so 3-7% is a +-4 SE band for a 5% test
    assert 0.03 <= rate <= 0.07, rate
    assert np.mean(np.array(p_ols) < 0.05) > 0.12  # the clustering-blind test over-rejects


def _null_trials():
    """simulate / analyse: a partially nested null trial analysed as the pipeline does (default method)."""
    from mentor_eval.power_study import clustered_trial

    def simulate(seed: int):
        return clustered_trial(60, cluster_size=10, icc=0.2, pretest_r=0.5, seed=seed)

    def analyse(frame) -> np.ndarray:
        from mentor_eval.outcomes import ancova

        res = ancova(frame, control="control", contrasts="control", adjust="none", clusters=["mentor_id"],
                     variance_components=False).contrasts
        assert res["cluster_method"].iloc[0] == "mixed"
        return float(res["p"].iloc[0])

    return simulate, analyse


@pytest.mark.slow
def test_cluster_aware_ancova_holds_type_i_on_a_clustered_null():
    simulate, analyse = _null_trials()
    res = simulated_power(simulate, analyse, n_sims=240, n_jobs=2, seed=7).iloc[0]
    # the pipeline's default analysis: within 3 Monte Carlo SEs (4.2%) of 5%; the clustering-blind
    # ANCOVA rejects about 16% of such nulls (test_cr2_null_type_i_many_replications)
    assert res["n_valid"] == 240
    assert abs(res["power"] - 0.05) <= 3 * math.sqrt(0.05 * 0.95 / 240), res["power"]


@pytest.mark.slow
def test_simulated_power_of_the_clustered_ancova_agrees_with_analytic():
    from mentor_eval.power_study import simulated_power_ancova

    kw = dict(cluster_size=10, icc=0.15, pretest_r=0.5, nesting="partial")
    d = mdes_ancova(100, 0.6, **kw)  # analytic power .60
    res = simulated_power_ancova(d, 100, cluster_method="cr2", n_sims=250, n_jobs=2, seed=3, **kw).iloc[0]
    assert res["cluster_method"] == "cr2" and res["n_valid"] == 250
    assert abs(res["power"] - 0.6) <= 3 * math.sqrt(0.6 * 0.4 / 250), res["power"]
    # the clustering-blind formula would promise much more
    assert power_ancova(d, 100, pretest_r=0.5) > 0.6 + 6 * math.sqrt(0.24 / 250)
