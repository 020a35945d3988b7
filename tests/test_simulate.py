"""The study simulator: determinism, structure, psychometric realism and recovery of the truth."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mentor_eval.cli import main
from mentor_eval.errors import ParameterError
from mentor_eval.instruments import load_instrument
from mentor_eval.scoring import score
from mentor_eval.simulate import SimulatedStudy, simulate_study
from mentor_eval.study import load_study

ARMS = ["control", "strength_spotlight", "storytelling_circles"]


@pytest.fixture(scope="module")
def sim() -> SimulatedStudy:
    return simulate_study(1200, seed=11)


@pytest.fixture(scope="module")
def big() -> SimulatedStudy:
    """A large three-arm study for recovery and rate checks (about 1 s)."""
    return simulate_study(24000, arms=ARMS, seed=7, attrition=0.30, differential_attrition=0.10,
                          item_missing=0.05)


def _alpha(x: np.ndarray) -> float:
    """Cronbach's alpha from the covariance matrix of complete rows: k/(k-1) (1 - tr(C) / sum(C))."""
    x = x[~np.isnan(x).any(axis=1)]
    c = np.cov(x, rowvar=False)
    k = c.shape[0]
    return k / (k - 1) * (1 - np.trace(c) / c.sum())


def _items(frame: pd.DataFrame, instrument: str, pattern: str, ids) -> np.ndarray:
    return frame[[pattern.replace("{item}", i) for i in ids]].to_numpy(dtype=float, na_value=np.nan)


# ---------------------------------------------------------------------- determinism
def test_same_seed_gives_identical_data_and_truth():
    a = simulate_study(400, seed=3)
    b = simulate_study(400, seed=3)
    pd.testing.assert_frame_equal(a.participants, b.participants)
    pd.testing.assert_frame_equal(a.responses, b.responses)
    pd.testing.assert_frame_equal(a.latent, b.latent)
    assert a.truth == b.truth and a.config == b.config


def test_different_seed_gives_different_data():
    a = simulate_study(400, seed=3)
    b = simulate_study(400, seed=4)
    assert not a.responses.equals(b.responses)
    assert not a.participants["arm"].equals(b.participants["arm"])


# ---------------------------------------------------------------------- structure
def test_tables_follow_the_data_contract(sim):
    p, r = sim.participants, sim.responses
    assert list(p.columns[:8]) == ["participant_id", "arm", "site_id", "mentor_id", "group_id", "age", "gender",
                                   "baseline_risk"]
    assert {"sessions_attended", "match_start", "match_end"} <= set(p.columns)
    assert p["participant_id"].is_unique and len(p) == 1200
    assert list(r.columns[:3]) == ["participant_id", "wave", "completed_at"]
    item_cols = r.columns[3:]
    assert all(str(r[c].dtype) == "Int64" for c in item_cols)
    assert not r.duplicated(["participant_id", "wave"]).any()
    assert set(r["participant_id"]) <= set(p["participant_id"])
    # every participant answered at baseline (enrolment)
    assert set(r.loc[r["wave"] == "baseline", "participant_id"]) == set(p["participant_id"])
    # completed_at is an ISO timestamp, increasing over waves within a participant
    ts = pd.to_datetime(r["completed_at"], format="%Y-%m-%dT%H:%M:%S")
    assert ts.groupby(r["participant_id"]).is_monotonic_increasing.all()
    # item values lie on each response scale
    for si in load_study_config(sim).instruments:
        rs = si.instrument.response_scale
        vals = r[list(si.item_columns().values())].to_numpy(dtype=float, na_value=np.nan)
        vals = vals[~np.isnan(vals)]
        assert vals.size > 0 and (vals == np.round(vals)).all()
        assert vals.min() == rs.min and vals.max() == rs.max


def load_study_config(sim: SimulatedStudy):
    from mentor_eval.study import parse_study

    return parse_study(sim.config, "study.yaml", check_files=False)


def test_nesting_of_participants_in_mentors_groups_and_sites(sim):
    p = sim.participants
    models = {a["key"]: a["model"] for a in sim.config["arms"]}
    ctrl = p["arm"] == "control"
    assert p.loc[ctrl, ["mentor_id", "group_id", "sessions_attended", "match_start"]].isna().all().all()
    assert p.loc[~ctrl, "mentor_id"].notna().all()
    # each mentor or group belongs to exactly one site and one arm
    assert (p[~ctrl].groupby("mentor_id")[["site_id", "arm"]].nunique() == 1).all().all()
    group_arms = [k for k, m in models.items() if m in ("storytelling_circles", "community_of_practice")]
    dyad = ~ctrl & ~p["arm"].isin(group_arms)
    assert p.loc[dyad, "group_id"].isna().all()
    caseload = p[dyad].groupby("mentor_id").size()
    assert caseload.max() <= 4 and caseload.mean() > 1.5  # a mentor has a few mentees
    circles = p[p["arm"] == "storytelling_circles"].groupby("group_id").size()
    assert circles.between(3, 16).all() and 6 <= circles.median() <= 10
    assert p.loc[p["arm"].isin(group_arms), "group_id"].notna().all()
    assert p["site_id"].nunique() == 3
    # blocked randomization within site: arm sizes differ by at most one per site
    sizes = p.groupby(["site_id", "arm"]).size().unstack()
    assert (sizes.max(axis=1) - sizes.min(axis=1)).max() <= 1


def test_relationship_quality_is_given_to_mentored_arms_after_baseline(sim):
    r = sim.responses
    arm = r["participant_id"].map(sim.participants.set_index("participant_id")["arm"])
    ysor = [c for c in r.columns if c.startswith("ysor_")]
    assert len(ysor) == 10
    given = r[ysor].notna().any(axis=1)
    assert not given[arm == "control"].any()
    assert not given[r["wave"] == "baseline"].any()
    assert given[(arm != "control") & (r["wave"] == "post")].mean() > 0.99
    entry = next(i for i in sim.config["instruments"] if i["id"] == "youth_strength_of_relationship")
    assert entry["waves"] == ["midpoint", "post"]


def test_dosage_is_plausible_and_moderates_the_effect(big):
    p = big.participants.set_index("participant_id")
    assert big.truth["dosage"]["planned_sessions"] == {"dyad": 24, "group": 12, "community": 12}
    p["sessions_planned"] = p["arm"].map({"strength_spotlight": 24, "storytelling_circles": 12})
    mentored = p["arm"] != "control"
    att = p.loc[mentored, "sessions_attended"].astype(float)
    planned = p.loc[mentored, "sessions_planned"].astype(float)
    assert (att <= planned).all() and (att >= 0).all()
    assert 0.65 < (att / planned).mean() < 0.76  # Beta(6, 2.5) mean .706
    start = pd.to_datetime(p.loc[mentored, "match_start"])
    end = pd.to_datetime(p.loc[mentored, "match_end"])
    assert (end > start).all()
    # the latent gain in a targeted family rises with attendance in the treated arm
    lat = big.latent.pivot(index="participant_id", columns="wave", values="agency")
    gain = (lat["post"] - lat["baseline"]).reindex(p.index)
    ss = p["arm"] == "strength_spotlight"
    rate = (p.loc[ss, "sessions_attended"] / p.loc[ss, "sessions_planned"]).astype(float)
    slope = np.polyfit(rate, gain[ss], 1)[0]
    expected = 0.35 / (6 / 8.5)  # effect x rate / mean rate
    assert abs(slope - expected) < 0.2


# ---------------------------------------------------------------------- psychometric realism
@pytest.mark.parametrize(
    ("instrument", "pattern"),
    [("adult_hope_scale", "ahs_{item}"), ("general_belongingness_scale", "gbs_{item}"),
     ("youth_strength_of_relationship", "ysor_{item}")],
)
def test_reliability_of_simulated_scales_is_in_the_band(big, instrument, pattern):
    inst = load_instrument(instrument)
    wave = "post" if instrument == "youth_strength_of_relationship" else "baseline"
    rows = big.responses[big.responses["wave"] == wave]
    for scale in inst.scales:
        x = _items(rows, instrument, pattern, scale.item_ids)
        rev = np.array([inst.item(i).reverse for i in scale.item_ids])
        x[:, rev] = inst.response_scale.min + inst.response_scale.max - x[:, rev]
        a = _alpha(x)
        assert 0.75 <= a <= 0.90, (instrument, scale.id, a)
        # the population value reported in the truth agrees with the sample
        assert abs(a - big.truth["reliability"][f"{instrument}.{scale.id}"]) < 0.03, (scale.id, a)


def test_reverse_keyed_items_correlate_negatively_before_reversal(big):
    inst = load_instrument("general_belongingness_scale")
    base = big.responses[big.responses["wave"] == "baseline"]
    pos_ids = [i.id for i in inst.items if not i.reverse]
    rev_ids = [i.id for i in inst.items if i.reverse]
    assert len(rev_ids) == 6
    pos_sum = _items(base, "gbs", "gbs_{item}", pos_ids)
    ok = ~np.isnan(pos_sum).any(axis=1)
    pos_total = pos_sum[ok].sum(axis=1)
    for rid in rev_ids:
        raw = base[f"gbs_{rid}"].to_numpy(dtype=float, na_value=np.nan)[ok]
        keep = ~np.isnan(raw)
        r = np.corrcoef(raw[keep], pos_total[keep])[0, 1]
        assert r < -0.3, (rid, r)
        # and positively once reverse keyed
        assert np.corrcoef(8 - raw[keep], pos_total[keep])[0, 1] > 0.3


def test_fillers_are_unrelated_noise(big):
    base = big.responses[big.responses["wave"] == "baseline"]
    scored = _items(base, "ahs", "ahs_{item}", ["1", "2", "4", "6", "8", "9", "10", "12"])
    ok = ~np.isnan(scored).any(axis=1)
    total = scored[ok].sum(axis=1)
    for fid in ("3", "5", "7", "11"):
        f = base[f"ahs_{fid}"].to_numpy(dtype=float, na_value=np.nan)[ok]
        keep = ~np.isnan(f)
        assert abs(np.corrcoef(f[keep], total[keep])[0, 1]) < 0.05


def test_agency_and_pathways_latents_correlate_about_point_six(big):
    lat = big.latent[big.latent["wave"] == "baseline"]
    r = np.corrcoef(lat["agency"], lat["pathways"])[0, 1]
    assert 0.55 < r < 0.65
    assert 0.9 < lat["agency"].var() < 1.1  # unit latent variance at baseline


def test_item_missingness_rate(big):
    base = big.responses[big.responses["wave"] == "baseline"]
    ahs = base[[f"ahs_{i}" for i in range(1, 13)]]
    assert abs(ahs.isna().to_numpy().mean() - 0.05) < 0.005


# ---------------------------------------------------------------------- attrition
def test_attrition_rates_are_near_the_requested_values(big):
    att = big.truth["attrition"]["by_arm"]
    p = big.participants
    post_ids = set(big.responses.loc[big.responses["wave"] == "post", "participant_id"])
    for arm, target in (("control", 0.40), ("strength_spotlight", 0.30), ("storytelling_circles", 0.30)):
        ids = p.loc[p["arm"] == arm, "participant_id"]
        realized = 1 - ids.isin(post_ids).mean()
        assert abs(realized - target) < 0.02, (arm, realized)
        assert att[arm]["target_missing_final"] == pytest.approx(target)
        assert att[arm]["missing_final"] == pytest.approx(realized, abs=1e-6)
    # dropout is monotone: nobody missing at midpoint returns at post
    mid_ids = set(big.responses.loc[big.responses["wave"] == "midpoint", "participant_id"])
    assert post_ids <= mid_ids


def test_dropout_is_missing_at_random_on_baseline_hope(big):
    lat = big.latent[big.latent["wave"] == "baseline"].set_index("participant_id")
    hope = lat["agency"] + lat["pathways"]
    post = big.latent[big.latent["wave"] == "post"].set_index("participant_id")["observed"]
    assert hope[~post.reindex(hope.index)].mean() < hope[post.reindex(hope.index)].mean() - 0.2


# ---------------------------------------------------------------------- recovery of the truth
def _ancova(big: SimulatedStudy, instrument: str, pattern: str, scale: str) -> pd.DataFrame:
    """Post score on baseline score and arm dummies by OLS (numpy); complete cases."""
    r = big.responses
    s = score(r, instrument, columns=pattern, scales=[scale])
    frame = pd.DataFrame({"pid": r["participant_id"].to_numpy(), "wave": r["wave"].to_numpy(),
                          "y": s[scale].to_numpy(dtype=float)})
    wide = frame.pivot(index="pid", columns="wave", values="y")
    arm = big.participants.set_index("participant_id")["arm"]
    wide = wide.join(arm.rename("arm")).dropna(subset=["baseline", "post"])
    treated = [a for a in ARMS if a != "control"]
    x = np.column_stack([np.ones(len(wide)), wide["baseline"].to_numpy()]
                        + [(wide["arm"] == a).to_numpy(float) for a in treated])
    y = wide["post"].to_numpy()
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ beta
    sigma2 = resid @ resid / (len(y) - x.shape[1])
    se = np.sqrt(np.diag(sigma2 * np.linalg.inv(x.T @ x)))
    return pd.DataFrame({"arm": treated, "estimate": beta[2:], "se": se[2:]}).set_index("arm")


@pytest.mark.parametrize(
    ("instrument", "pattern", "scale"),
    [("adult_hope_scale", "ahs_{item}", "agency"), ("general_belongingness_scale", "gbs_{item}", "total")],
)
def test_ancova_recovers_the_true_effect_within_its_ci(big, instrument, pattern, scale):
    est = _ancova(big, instrument, pattern, scale)
    truth = big.effects.query(f"outcome == '{instrument}.{scale}' and wave == 'post'").set_index("arm")
    for arm in est.index:
        t = truth.loc[arm, "score"]
        lo = est.loc[arm, "estimate"] - 1.96 * est.loc[arm, "se"]
        hi = est.loc[arm, "estimate"] + 1.96 * est.loc[arm, "se"]
        assert lo <= t <= hi, (arm, lo, t, hi)
        assert t > 0 and lo > 0  # a real effect, detected at this size


def test_truth_is_consistent_with_the_declared_effects(big):
    eff = big.effects
    post = eff[eff["wave"] == "post"].set_index(["arm", "outcome"])
    # strength_spotlight targets agency: its agency effect beats its pathways effect
    assert post.loc[("strength_spotlight", "adult_hope_scale.agency"), "latent"] == pytest.approx(0.35)
    assert post.loc[("strength_spotlight", "adult_hope_scale.pathways"), "latent"] == pytest.approx(0.15)
    assert post.loc[("storytelling_circles", "adult_hope_scale.pathways"), "g"] > \
        post.loc[("storytelling_circles", "adult_hope_scale.agency"), "g"]
    # effects grow over waves: none at baseline, half at midpoint
    by_wave = eff[(eff["arm"] == "strength_spotlight") & (eff["outcome"] == "adult_hope_scale.agency")] \
        .set_index("wave")["latent"]
    assert by_wave["baseline"] == 0 and by_wave["midpoint"] == pytest.approx(by_wave["post"] / 2)
    assert (post["g"].abs() <= 0.4).all() and (post["g"] > 0.05).all()


def test_effects_can_be_set_and_a_null_arm_is_null():
    s = simulate_study(600, arms=["control", "dream_weaver"], effects={"dream_weaver": 0.0}, seed=1)
    assert (s.effects["score"] == 0).all()
    s2 = simulate_study(600, arms=["control", "dream_weaver"], effects={"dream_weaver": {"belonging": 0.4}},
                        seed=1)
    post = s2.effects[s2.effects["wave"] == "post"].set_index("outcome")
    assert post.loc["general_belongingness_scale.total", "latent"] == pytest.approx(0.4)
    assert post.loc["adult_hope_scale.agency", "latent"] == pytest.approx(0.35)  # default kept


# ---------------------------------------------------------------------- speed, parameters, writing
def test_twenty_thousand_participants_in_a_few_seconds():
    simulate_study(500, seed=0)  # warm caches (instrument loading, population reliabilities)
    t0 = time.perf_counter()
    s = simulate_study(20000, seed=5)
    elapsed = time.perf_counter() - t0
    assert len(s.participants) == 20000
    # a guard against a pathological (row-wise) regression only: about 0.4 s of CPU on an idle
    # machine; speed itself is not a unit-test matter, and CI shares its 2 cores between 2 workers
    assert elapsed < 30.0, elapsed


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"arms": ["narrative_weaving", "dream_weaver"]}, "needs a 'control' arm"),
        ({"arms": ["control", "no_such_model"]}, "unknown model"),
        ({"icc_site": 0.3, "icc_mentor": 0.3}, "must sum to at most 0.5"),
        ({"attrition": 0.95}, "'attrition' parameter of simulate_study must be in [0, 0.9)"),
        ({"item_missing": -0.1}, "'item_missing'"),
        ({"n_participants": 5}, "'n_participants' parameter of simulate_study must be an integer >= 12"),
        ({"waves": {"a": 0, "b": 0}}, "increasing weeks"),
        ({"effects": {"nobody": 0.2}}, "names 'nobody', which is not an arm"),
        ({"effects": {"narrative_weaving": {"joy": 0.2}}}, "uses family 'joy'"),
        ({"instruments": ["no_such_scale"]}, "Unknown instrument 'no_such_scale'"),
    ],
)
def test_bad_parameters_raise_parameter_error(kwargs, text):
    kwargs = {"n_participants": 120, **kwargs}
    with pytest.raises(ParameterError) as err:
        simulate_study(**kwargs)
    assert text in str(err.value)


def test_written_study_loads_and_round_trips(tmp_path, sim):
    path = sim.write(tmp_path / "out", name="Round Trip")
    study = load_study(path)
    assert study.name == "Round Trip" and study.control_arm == "control"
    assert study.wave_keys == ("baseline", "midpoint", "post")
    back = pd.read_csv(study.files.responses.path, dtype={"participant_id": "string"})
    assert len(back) == len(sim.responses)
    col = "ahs_2"
    assert back[col].isna().sum() == sim.responses[col].isna().sum()
    assert (back[col].dropna().astype(int).to_numpy() == sim.responses[col].dropna().to_numpy()).all()
    truth = json.loads((tmp_path / "out" / "truth.json").read_text())
    assert truth["parameters"]["seed"] == 11 and truth["effects"]
    for h in study.hypotheses:
        assert h.outcome in study.outcomes.all


def test_cli_simulate_writes_a_study_that_loads(tmp_path, capsys):
    out = tmp_path / "cli_study"
    code = main(["simulate", "--participants", "240", "--seed", "9", "--out", str(out),
                 "--arms", "control,future_self_letter", "--arms", "storytelling_circles"])
    assert code == 0
    assert "240 participants" in capsys.readouterr().out
    study = load_study(out / "study.yaml")
    assert study.arm_keys == ("control", "future_self_letter", "storytelling_circles")
    assert len(pd.read_csv(study.files.participants.path)) == 240
    assert main(["simulate", "--participants", "240", "--out", str(out), "--arms", "control,bogus"]) == 2
    assert "unknown model" in capsys.readouterr().err


# ---------------------------------------------------------------------- cluster onset, clustered arms, formats
SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data" / "sample"
SAMPLE_ARMS = ["control", "narrative_weaving", "storytelling_circles", "strength_spotlight", "cultural_navigator",
               "community_of_practice"]


def _latent_icc(sim: SimulatedStudy, arm: str, wave: str, level: str, family: str = "agency") -> float:
    """One-way ANOVA (method of moments) ICC of a latent trait within one arm, site means removed."""
    lat = sim.latent[sim.latent["wave"] == wave].set_index("participant_id")
    p = sim.participants.set_index("participant_id")
    p = p[p["arm"] == arm]
    y = lat.loc[p.index, family]
    y = y - y.groupby(p["site_id"]).transform("mean")
    g = p[level]
    sizes = g.value_counts()
    k, n = len(sizes), len(g)
    means = y.groupby(g).mean()
    ssb = (sizes * (means.reindex(sizes.index) - y.mean()) ** 2).sum()
    ssw = ((y - y.groupby(g).transform("mean")) ** 2).sum()
    msb, msw = ssb / (k - 1), ssw / (n - k)
    n0 = (n - (sizes**2).sum() / n) / (k - 1)
    return float((msb - msw) / (msb + (n0 - 1) * msw))


@pytest.fixture(scope="module")
def clustered() -> SimulatedStudy:
    """Realistic default onset with distinct mentor (dyad) and group ICCs (about 1 s)."""
    return simulate_study(24000, arms=ARMS, seed=21, icc_mentor=0.20, icc_group=0.10, attrition=0.0,
                          differential_attrition=0.0)


def test_default_cluster_effects_begin_after_matching(clustered):
    # no mentor/group clustering at baseline; the stated ICC at midpoint and post
    for arm, level, icc in (("strength_spotlight", "mentor_id", 0.20), ("storytelling_circles", "group_id", 0.10)):
        assert abs(_latent_icc(clustered, arm, "baseline", level)) < 0.03, arm
        for wave in ("midpoint", "post"):
            est = _latent_icc(clustered, arm, wave, level)
            assert abs(est - icc) < 0.05, (arm, wave, est)
    # the cluster effect adds variance after baseline: var = 1 / (1 - icc) in a clustered arm
    lat = clustered.latent.set_index("participant_id")
    arm = clustered.participants.set_index("participant_id")["arm"]
    post = lat[lat["wave"] == "post"]
    base = lat[lat["wave"] == "baseline"]
    ss = arm[arm == "strength_spotlight"].index
    ratio = post.loc[ss, "agency"].var() / base.loc[ss, "agency"].var()
    assert 1.15 < ratio < 1.35, ratio  # 1 / (1 - .2) = 1.25 plus a little dose heterogeneity
    ctrl = arm[arm == "control"].index
    assert 0.9 < post.loc[ctrl, "agency"].var() / base.loc[ctrl, "agency"].var() < 1.1


def test_truth_records_onset_clustered_arms_and_icc_by_wave(clustered):
    c = clustered.truth["clustering"]
    assert c["onset"] == "after_matching" and c["partially_nested"] is True
    assert c["clustered_arms"] == ["strength_spotlight", "storytelling_circles"]
    assert c["level_by_arm"] == {"control": None, "strength_spotlight": "mentor_id",
                                 "storytelling_circles": "group_id"}
    rows = pd.DataFrame(c["icc_by_wave"]).set_index(["arm", "level", "wave"])
    assert rows.loc[("strength_spotlight", "mentor_id", "baseline"), "icc"] == 0
    assert rows.loc[("strength_spotlight", "mentor_id", "post"), "icc"] == pytest.approx(0.20)
    assert rows.loc[("strength_spotlight", "mentor_id", "post"), "variance"] == pytest.approx(0.25)
    assert rows.loc[("storytelling_circles", "group_id", "midpoint"), "icc"] == pytest.approx(0.10)
    assert rows.loc[("control", "site_id", "post"), "icc"] == pytest.approx(0.05)
    assert rows.loc[("strength_spotlight", "site_id", "post"), "icc"] == pytest.approx(0.05 * 0.8)
    assert ("control", "mentor_id", "post") not in rows.index
    assert clustered.truth["icc"]["latent"] == {"site_id": 0.05, "mentor_id": 0.20, "group_id": 0.10}
    assert clustered.truth["parameters"]["cluster_onset"] == "after_matching"


def test_baseline_onset_keeps_the_cluster_effect_constant():
    sim = simulate_study(24000, arms=ARMS, seed=22, icc_mentor=0.20, cluster_onset="baseline", attrition=0.0)
    for wave in ("baseline", "post"):
        est = _latent_icc(sim, "strength_spotlight", wave, "mentor_id")
        assert abs(est - 0.20) < 0.05, (wave, est)
    rows = pd.DataFrame(sim.truth["clustering"]["icc_by_wave"]).set_index(["arm", "level", "wave"])
    assert rows.loc[("strength_spotlight", "mentor_id", "baseline"), "icc"] == pytest.approx(0.20)


def test_unlisted_arms_carry_no_cluster_effect():
    sim = simulate_study(24000, arms=ARMS, seed=23, icc_mentor=0.25, clustered_arms=["storytelling_circles"],
                         attrition=0.0)
    assert abs(_latent_icc(sim, "strength_spotlight", "post", "mentor_id")) < 0.04
    assert abs(_latent_icc(sim, "storytelling_circles", "post", "group_id") - 0.25) < 0.06
    assert sim.truth["clustering"]["level_by_arm"]["strength_spotlight"] is None
    # the unclustered arm still has its mentors
    p = sim.participants
    assert p.loc[p["arm"] == "strength_spotlight", "mentor_id"].notna().all()


def test_old_knobs_reproduce_the_committed_sample_exactly(tmp_path):
    """cluster_onset="baseline" is the earlier generating model: the bundled sample is still its output."""
    sim = simulate_study(1200, seed=2026, sites=3, arms=SAMPLE_ARMS, attrition=0.20, differential_attrition=0.05,
                         item_missing=0.02, icc_site=0.05, icc_mentor=0.10, cluster_onset="baseline")
    sim.write(tmp_path, name="Riverside Mentoring Evaluation (synthetic sample)")
    for f in ("participants.csv", "responses.csv"):
        assert (tmp_path / f).read_bytes() == (SAMPLE_DIR / f).read_bytes(), f
    # the sample's study.yaml has a hand-added 'fidelity' mapping; everything else is the simulator's
    import yaml

    committed = yaml.safe_load((SAMPLE_DIR / "study.yaml").read_text(encoding="utf-8"))
    committed.pop("fidelity", None)
    assert yaml.safe_load((tmp_path / "study.yaml").read_text(encoding="utf-8")) == committed


def test_onsets_share_the_random_stream():
    # without dropout (whose draws depend on baseline hope, hence on the onset) the streams stay aligned
    a = simulate_study(400, seed=5, cluster_onset="baseline", attrition=0.0, differential_attrition=0.0)
    b = simulate_study(400, seed=5, attrition=0.0, differential_attrition=0.0)
    pd.testing.assert_frame_equal(a.participants, b.participants)
    la, lb = a.latent.set_index(["participant_id", "wave"]), b.latent.set_index(["participant_id", "wave"])
    ctrl = a.participants.loc[a.participants["arm"] == "control", "participant_id"]
    # control participants have no mentor: identical latent traits under both onsets
    pd.testing.assert_frame_equal(la.loc[ctrl.tolist()], lb.loc[ctrl.tolist()])
    assert not la.equals(lb)


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"cluster_onset": "midpoint"}, "'cluster_onset' parameter of simulate_study"),
        ({"clustered_arms": ["nobody"]}, "'clustered_arms' parameter of simulate_study names unknown arm"),
        ({"clustered_arms": ["control"]}, "names the control arm 'control'"),
        ({"icc_group": 0.6}, "'icc_group' parameter of simulate_study"),
        ({"icc_site": 0.2, "icc_group": 0.35}, "'icc_site' and 'icc_group' parameters"),
        ({"scores_only": "yes"}, "'scores_only' parameter"),
    ],
)
def test_bad_cluster_parameters_raise_parameter_error(kwargs, text):
    with pytest.raises(ParameterError) as err:
        simulate_study(120, **kwargs)
    assert text in str(err.value)


# ---------------------------------------------------------------------- score-level path
def test_score_level_path_has_the_analysis_frame_layout():
    from mentor_eval.power_study import simulated_frame

    items = simulate_study(300, seed=4)
    fast = simulate_study(300, seed=4, scores_only=True)
    ref = simulated_frame(items)
    assert list(fast.scores.columns) == list(ref.columns)
    assert set(fast.scores["outcome"]) == set(ref["outcome"])
    # same design, people and dropout: the same participant x wave rows for a scale given to everyone
    key = ["participant_id", "wave"]
    o = "adult_hope_scale.total"
    got = fast.scores[fast.scores["outcome"] == o][key].sort_values(key).reset_index(drop=True)
    exp = ref[ref["outcome"] == o][key].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(got.astype(str), exp.astype(str))
    pd.testing.assert_frame_equal(fast.participants, items.participants)
    assert fast.responses.columns.tolist() == ["participant_id", "wave", "completed_at"]
    assert fast.truth["parameters"]["scores_only"] is True
    # a subscale total is the sum of its subscales
    w = fast.scores.pivot_table(index=key, columns="outcome", values="score")
    assert np.allclose(w[o], w["adult_hope_scale.agency"] + w["adult_hope_scale.pathways"])
    with pytest.raises(ParameterError, match="score-level study"):
        fast.write("unused")


def test_score_level_path_recovers_its_truth():
    sim = simulate_study(30000, arms=ARMS, seed=31, scores_only=True, attrition=0.0, icc_mentor=0.0,
                         icc_site=0.0)
    s = sim.scores
    rel = sim.truth["reliability"]
    base = s[s["wave"] == "baseline"]
    w = s.pivot_table(index="participant_id", columns=["outcome", "wave"], values="score")
    arm = sim.participants.set_index("participant_id")["arm"].reindex(w.index)
    truth = sim.effects.query("wave == 'post'").set_index(["arm", "outcome"])
    for o in ("adult_hope_scale.agency", "general_belongingness_scale.total"):
        b = base[base["outcome"] == o]
        # population SD of the truth and baseline split-half free check: the score SD matches
        assert abs(b["score"].std() - truth.loc[("strength_spotlight", o), "score"]
                   / truth.loc[("strength_spotlight", o), "g"]) < 0.03 * b["score"].std()
        diff = w[(o, "post")] - w[(o, "baseline")]
        for a in ("strength_spotlight", "storytelling_circles"):
            est = diff[arm == a].mean() - diff[arm == "control"].mean()
            se = np.sqrt(diff[arm == a].var() / (arm == a).sum() + diff[arm == "control"].var() / (arm == "control").sum())
            assert abs(est - truth.loc[(a, o), "score"]) < 3 * se, (o, a, est, truth.loc[(a, o), "score"])
        assert 0.75 < rel[o] < 0.95


def test_cli_simulate_passes_the_cluster_options(tmp_path):
    out = tmp_path / "cli_clusters"
    code = main(["simulate", "--participants", "240", "--seed", "9", "--out", str(out),
                 "--arms", "control,strength_spotlight,storytelling_circles", "--cluster-onset", "baseline",
                 "--clustered-arms", "storytelling_circles", "--icc-group", "0.2"])
    assert code == 0
    truth = json.loads((out / "truth.json").read_text())
    assert truth["clustering"]["onset"] == "baseline"
    assert truth["clustering"]["clustered_arms"] == ["storytelling_circles"]
    assert truth["icc"]["latent"]["group_id"] == 0.2
    assert main(["simulate", "--participants", "240", "--out", str(out), "--cluster-onset", "later"]) == 2
    out2 = tmp_path / "cli_mechanism"
    assert main(["simulate", "--participants", "240", "--seed", "3", "--out", str(out2), "--mechanism",
                 "--noncompliance", "0.1"]) == 0
    truth = json.loads((out2 / "truth.json").read_text())
    assert truth["parameters"]["mechanism"] is True and truth["parameters"]["noncompliance"] == 0.1
    assert truth["mechanism"]["paths"] and truth["compliance"]["by_arm"]


# ---------------------------------------------------------------------- mechanism paths, compliance, fidelity
MECH_ARMS = ["control", "narrative_weaving", "strength_spotlight"]  # belonging -> hope; hope -> belonging


@pytest.fixture(scope="module")
def mech() -> SimulatedStudy:
    return simulate_study(30000, arms=MECH_ARMS, seed=41, mechanism=True, mediator_confounding=False,
                          attrition=0.0, differential_attrition=0.0, icc_site=0.0, icc_mentor=0.0)


def _latent_wide(sim: SimulatedStudy) -> pd.DataFrame:
    lat = sim.latent.copy()
    lat["hope"] = (lat["agency"] + lat["pathways"]) / np.sqrt(3.2)
    w = lat.pivot(index="participant_id", columns="wave", values=["agency", "pathways", "belonging", "hope"])
    w.columns = [f"{v}_{t}" for v, t in w.columns]
    return w.join(sim.participants.set_index("participant_id")[["arm", "age", "baseline_risk"]])


def _ols(y: np.ndarray, cols: list[np.ndarray]) -> np.ndarray:
    x = np.column_stack([np.ones(len(y)), *cols])
    return np.linalg.lstsq(x, y, rcond=None)[0]


def test_mechanism_truth_follows_its_formulas(mech):
    paths = pd.DataFrame(mech.truth["mechanism"]["paths"]).set_index(["arm", "mediator", "outcome"])
    assert np.allclose(paths["indirect"].loc[[("narrative_weaving", "belonging", "agency")]], 0.35 * 0.3)
    assert np.allclose(paths["direct"] + paths["indirect"], paths["total"])
    nw = paths.loc[("narrative_weaving", "belonging", "pathways")]
    assert nw["designed"] and nw["a"] == pytest.approx(0.35) and nw["total"] == pytest.approx(0.35)
    assert nw["proportion_mediated"] == pytest.approx(0.3)
    ss = paths.loc[("strength_spotlight", "hope", "belonging")]
    # strength_spotlight targets agency first: hope -> belonging; a for hope = (.35 + .15) / sqrt(3.2)
    assert ss["designed"] and ss["a"] == pytest.approx(0.5 / np.sqrt(3.2), abs=1e-6)  # truth rounds to 6 places
    assert ss["total"] == pytest.approx(0.35) and ss["indirect"] == pytest.approx(0.3 * 0.5 / np.sqrt(3.2), abs=1e-6)
    assert mech.truth["mechanism"]["direction_by_arm"] == {"control": None, "narrative_weaving": "belonging -> hope",
                                                           "strength_spotlight": "hope -> belonging"}
    # the effects table agrees: the designed outcome's total at post is the stated effect
    eff = mech.effects.set_index(["arm", "outcome", "wave"])["latent"]
    assert eff[("narrative_weaving", "adult_hope_scale.pathways", "post")] == pytest.approx(0.35)
    # the mediator has its full effect at the middle wave already
    assert eff[("narrative_weaving", "general_belongingness_scale.total", "midpoint")] == pytest.approx(0.35)


def test_mechanism_paths_are_recovered_from_the_latent_traits(mech):
    w = _latent_wide(mech)
    paths = pd.DataFrame(mech.truth["mechanism"]["paths"]).set_index(["arm", "mediator", "outcome"])
    for arm_key, med, out in (("narrative_weaving", "belonging", "agency"), ("strength_spotlight", "hope", "belonging")):
        d = w[w["arm"].isin(["control", arm_key])]
        t = (d["arm"] == arm_key).to_numpy(float)
        covs = [d["age"].to_numpy(float), d["baseline_risk"].to_numpy(float)]
        # a: arm on the mediator at midpoint, given its baseline; b: mediator at midpoint on the outcome at post
        a = _ols(d[f"{med}_midpoint"].to_numpy(), [t, d[f"{med}_baseline"].to_numpy(), *covs])[1]
        coef = _ols(d[f"{out}_post"].to_numpy(), [t, d[f"{med}_midpoint"].to_numpy(), d[f"{med}_baseline"].to_numpy(),
                                                  d[f"{out}_baseline"].to_numpy(), *covs])
        truth = paths.loc[(arm_key, med, out)]
        assert abs(a - truth["a"]) < 0.04, (arm_key, a, truth["a"])
        assert abs(coef[2] - truth["b"]) < 0.03, (arm_key, coef[2])
        assert abs(coef[1] - truth["direct"]) < 0.05, (arm_key, coef[1], truth["direct"])


def test_noncompliance_gives_never_takers_and_the_complier_effect():
    sim = simulate_study(30000, arms=["control", "narrative_weaving"], seed=43, noncompliance=0.2,
                         attrition=0.0, differential_attrition=0.0, icc_mentor=0.0)
    p = sim.participants.set_index("participant_id")
    nw = p["arm"] == "narrative_weaving"
    never = nw & (p["sessions_attended"] == 0)
    assert abs(never[nw].mean() - 0.2) < 0.01
    lat = sim.latent.pivot(index="participant_id", columns="wave", values="pathways").reindex(p.index)
    gain = lat["post"] - lat["baseline"]
    itt = gain[nw].mean() - gain[~nw].mean()
    assert abs(itt - 0.35) < 0.03  # the stated effect is the intention-to-treat effect
    assert abs(gain[never].mean() - gain[~nw].mean()) < 0.03  # never-takers gain nothing
    comp = sim.truth["compliance"]["by_arm"]["narrative_weaving"]
    assert comp["cace_took_part_multiplier"] == pytest.approx(1.25, abs=1e-3)  # 1 / P(at least one session)
    took = nw & ~never
    wald = itt / took[nw].mean()
    assert abs(wald - comp["cace_took_part_latent_final"]["pathways"]) < 0.04
    assert comp["realized_share_took_part"] == pytest.approx(took[nw].mean(), abs=1e-6)
    assert 0 < comp["share_reached_expected_dose"] < 0.8
    assert sim.truth["parameters"]["noncompliance"] == 0.2


def test_fidelity_indicators_become_participant_columns(monkeypatch):
    from types import SimpleNamespace

    import mentor_eval.simulate as simmod

    inds = {
        "narrative_weaving": (SimpleNamespace(key="sessions_held", type="count", expected=18.0),
                              SimpleNamespace(key="stories_shared", type="count", expected=6.0)),
        "storytelling_circles": (SimpleNamespace(key="circles_attended", type="count", expected=9.0),
                                 SimpleNamespace(key="stories_shared", type="count", expected=3.0),
                                 SimpleNamespace(key="practice_share", type="proportion", expected=0.5),
                                 SimpleNamespace(key="plan_written", type="boolean", expected=1.0)),
    }
    monkeypatch.setattr(simmod, "_indicators", lambda m: inds.get(m.key, ()))
    sim = simulate_study(3000, arms=["control", "narrative_weaving", "storytelling_circles"], seed=44,
                         mechanism=True, noncompliance=0.1)
    p = sim.participants
    assert sim.config["fidelity"] == {
        "narrative_weaving": {"sessions_held": "sessions_attended", "stories_shared": "stories_shared"},
        "storytelling_circles": {"circles_attended": "sessions_attended", "stories_shared": "stories_shared",
                                 "practice_share": "practice_share", "plan_written": "plan_written"},
    }
    ctrl = p["arm"] == "control"
    assert p.loc[ctrl, ["stories_shared", "practice_share", "plan_written"]].isna().all().all()
    assert p.loc[p["arm"] == "narrative_weaving", "plan_written"].isna().all()
    nw = p[p["arm"] == "narrative_weaving"]
    assert nw["stories_shared"].between(0, 8).all() and str(nw["stories_shared"].dtype) == "Int64"
    # more sessions, more stories: the indicators share the attendance rate
    assert np.corrcoef(nw["sessions_attended"].astype(float), nw["stories_shared"].astype(float))[0, 1] > 0.3
    # never-takers record nothing
    never = nw["sessions_attended"] == 0
    assert never.mean() > 0.05 and (nw.loc[never, "stories_shared"] == 0).all()
    sc = p[p["arm"] == "storytelling_circles"]
    assert sc["practice_share"].between(0, 1).all() and set(sc["plan_written"].unique()) <= {0, 1}


def test_mechanism_parameters_are_checked():
    with pytest.raises(ParameterError, match="needs at least three waves"):
        simulate_study(120, mechanism=True, waves=["baseline", "post"])
    with pytest.raises(ParameterError, match="'noncompliance' parameter"):
        simulate_study(120, noncompliance=0.95)
    with pytest.raises(ParameterError, match="'mechanism' parameter"):
        simulate_study(120, mechanism="yes")
