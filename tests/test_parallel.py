"""Resampling through joblib: seeds per replicate, cluster/strata weights, percentile and BCa limits."""

from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mentor_eval.errors import AnalysisError, ParameterError
from mentor_eval.parallel import (
    bootstrap_ci,
    jackknife_weights,
    replicate_weights,
    resampling_plan,
    run_bootstrap,
)

X = np.random.default_rng(5).normal(size=300)


def _mean_stat(w: np.ndarray) -> np.ndarray:
    return np.column_stack([(w @ X) / w.sum(axis=1), (w @ X ** 2) / w.sum(axis=1)])


@pytest.mark.slow
def test_same_seed_gives_identical_replicates_on_any_number_of_workers_and_backend():
    plan = resampling_plan(300, clusters=np.arange(300) // 3, strata=np.arange(300) < 150)
    one = run_bootstrap(_mean_stat, plan, 600, seed=11, n_jobs=1, chunk_size=100)
    two_loky = run_bootstrap(_mean_stat, plan, 600, seed=11, n_jobs=2, backend="loky", chunk_size=100)
    two_thr = run_bootstrap(_mean_stat, plan, 600, seed=11, n_jobs=2, backend="threading", chunk_size=100)
    np.testing.assert_array_equal(one, two_loky)
    np.testing.assert_array_equal(one, two_thr)
    # an enclosing parallel_config is honoured when backend/n_jobs are left to it
    with joblib.parallel_config(backend="threading", n_jobs=2):
        cfg = run_bootstrap(_mean_stat, plan, 600, seed=11, n_jobs=None, chunk_size=100)
    np.testing.assert_array_equal(one, cfg)
    ci1 = bootstrap_ci(one, _mean_stat(np.ones((1, 300)))[0])
    ci2 = bootstrap_ci(two_loky, _mean_stat(np.ones((1, 300)))[0])
    np.testing.assert_array_equal(ci1["ci_low"], ci2["ci_low"])
    # a different seed gives different replicates
    assert not np.array_equal(one, run_bootstrap(_mean_stat, plan, 600, seed=12, chunk_size=100))


def test_replicate_r_depends_only_on_its_own_spawned_seed():
    plan = resampling_plan(50)
    full = run_bootstrap(lambda w: w, plan, 30, seed=3, chunk_size=7)
    seeds = np.random.SeedSequence(3).spawn(30)
    np.testing.assert_array_equal(full[17], replicate_weights(plan, [seeds[17]])[0])


def test_iid_weights_are_multinomial_counts_summing_to_n():
    plan = resampling_plan(40)
    w = replicate_weights(plan, np.random.SeedSequence(0).spawn(500))
    assert w.shape == (500, 40)
    assert np.all(w.sum(axis=1) == 40) and np.all(w == np.round(w)) and w.min() >= 0
    # each row is drawn Binomial(40, 1/40) times: mean 1, variance 39/40
    assert abs(w.mean() - 1) < 1e-12 and abs(w.var() - 39 / 40) < 0.06


def test_clusters_are_resampled_whole_within_strata_and_missing_labels_are_singletons():
    clusters = np.array(["a", "a", "b", "b", "b", None, None, "c", "c", "d"], dtype=object)
    strata = np.array([1, 1, 1, 1, 1, 0, 0, 1, 1, 1])
    plan = resampling_plan(10, clusters=clusters, strata=strata)
    assert plan.n_clusters == 6 and plan.clustered
    w = replicate_weights(plan, np.random.SeedSequence(1).spawn(300))
    assert np.all(w[:, 0] == w[:, 1]) and np.all(w[:, 2] == w[:, 3]) and np.all(w[:, 3] == w[:, 4])
    # stratum 0 (two singletons) keeps two rows; stratum 1 keeps four clusters
    assert np.all(w[:, 5] + w[:, 6] == 2)
    cluster_draws = w[:, [0, 2, 7, 9]]
    assert np.all(cluster_draws.sum(axis=1) == 4)
    assert not np.all(w[:, 5] == w[:, 6])  # the two singletons are drawn independently
    jk = jackknife_weights(plan)
    assert jk.shape == (6, 10) and np.all(jk.sum(axis=0) == 5)
    assert jk[plan.cluster[2]].tolist() == [1, 1, 0, 0, 0, 1, 1, 1, 1, 1]


def test_cluster_spanning_two_strata_and_bad_arguments_are_refused():
    with pytest.raises(AnalysisError, match="more than one stratum"):
        resampling_plan(4, clusters=["m1", "m1", "m2", "m2"], strata=[0, 1, 1, 1])
    with pytest.raises(ParameterError, match="one label per row"):
        resampling_plan(4, clusters=["m1", "m1"])
    plan = resampling_plan(4)
    with pytest.raises(ParameterError, match="'n_boot' parameter of run_bootstrap must be an integer >= 1"):
        run_bootstrap(lambda w: w, plan, 0)
    with pytest.raises(ParameterError, match="'n_jobs'"):
        run_bootstrap(lambda w: w, plan, 5, n_jobs=0)
    with pytest.raises(ParameterError, match="ResamplingPlan"):
        run_bootstrap(lambda w: w, 4, 5)
    with pytest.raises(ParameterError, match="'jackknife' parameter"):
        bootstrap_ci(np.zeros((5, 1)), np.zeros(1), method="bca")


def test_percentile_limits_and_p_by_hand():
    boot = np.arange(1, 1001, dtype=float)[:, None] - 100.5  # 100 of 1000 replicates below zero
    out = bootstrap_ci(boot, np.array([400.0]), method="percentile", ci_level=0.9)
    np.testing.assert_allclose(out["ci_low"], np.quantile(boot, 0.05))
    np.testing.assert_allclose(out["ci_high"], np.quantile(boot, 0.95))
    np.testing.assert_allclose(out["p"], 2 * 101 / 1001)
    np.testing.assert_allclose(out["se"], np.std(boot, ddof=1))


def test_bca_equals_percentile_without_bias_or_skew_and_follows_efron_otherwise():
    rng = np.random.default_rng(2)
    base = stats.norm.ppf((np.arange(2000) + 0.5) / 2000)
    boot = np.column_stack([base, base + 0.3])
    est = np.array([0.0, 0.0])
    jack = np.column_stack([np.linspace(-1, 1, 51), rng.gamma(2.0, size=51)])
    bca = bootstrap_ci(boot, est, method="bca", jackknife=jack)
    pct = bootstrap_ci(boot, est, method="percentile")
    # column 0: symmetric replicates around the estimate, symmetric jackknife -> z0 = a = 0
    np.testing.assert_allclose([bca["ci_low"][0], bca["ci_high"][0]], [pct["ci_low"][0], pct["ci_high"][0]],
                               atol=1e-12)
    # column 1 by hand (Efron 1987)
    b = np.sort(boot[:, 1])
    z0 = stats.norm.ppf(np.mean(b < 0))
    d = jack[:, 1].mean() - jack[:, 1]
    a = np.sum(d ** 3) / (6 * np.sum(d ** 2) ** 1.5)
    z = stats.norm.ppf([0.025, 0.975])
    lev = stats.norm.cdf(z0 + (z0 + z) / (1 - a * (z0 + z)))
    np.testing.assert_allclose([bca["ci_low"][1], bca["ci_high"][1]], np.quantile(b, lev), atol=1e-12)
    # the BCa p value is the level at which a BCa limit reaches zero
    alpha = bca["p"][1]
    at = bootstrap_ci(boot, est, method="bca", jackknife=jack, ci_level=1 - alpha)
    assert min(abs(at["ci_low"][1]), abs(at["ci_high"][1])) < 2e-3


@pytest.mark.slow
def test_run_study_with_the_mechanisms_in_a_second_process_gives_identical_tables():
    from mentor_eval.pipeline import run_study

    serial, parallel = run_study(), run_study(n_jobs=2)
    assert serial.tables().keys() == parallel.tables().keys()
    for name, table in serial.tables().items():
        pd.testing.assert_frame_equal(table, parallel.tables()[name], check_exact=True, obj=name)
    assert len(parallel.mediation) and len(parallel.cace)


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "2"])
def test_run_study_rejects_a_bad_n_jobs(bad):
    from mentor_eval.pipeline import run_study

    with pytest.raises(ParameterError, match="'n_jobs' parameter of run_study"):
        run_study(n_jobs=bad)


def test_run_study_in_two_processes_leaves_joblib_usable():
    # the mechanisms' executor must not take the place of joblib's own reusable one
    from mentor_eval.data import load_analysis_data
    from mentor_eval.pipeline import StepNotes, _finish_mechanisms, _start_mechanisms

    pending = _start_mechanisms(load_analysis_data(), None)
    assert pending is not None
    assert _finish_mechanisms(pending, StepNotes()) is not None
    out = joblib.Parallel(n_jobs=2)(joblib.delayed(abs)(-i) for i in range(4))
    assert out == [0, 1, 2, 3]
