"""Known answers for the Jacobson-Truax reliable change index and clinical significance."""

import math

import numpy as np
import pandas as pd
import pytest

from mentor_eval.errors import AnalysisError, ParameterError
from mentor_eval.outcomes import reliable_change
from mentor_eval.outcomes.change import clinical_cutoff


def _frame():
    rows = {
        # id: (arm, pre, post)
        "a": ("nw", 20.0, 30.0),   # +10
        "b": ("nw", 25.0, 26.0),   # +1
        "c": ("nw", 24.0, 14.0),   # -10
        "d": ("ctrl", 22.0, 28.0),  # +6
        "e": ("ctrl", 30.0, 31.0),  # +1
        "f": ("ctrl", 28.0, np.nan),  # no post
    }
    recs = []
    for pid, (arm, pre, post) in rows.items():
        recs.append({"participant_id": pid, "arm": arm, "wave": "baseline", "score": pre})
        recs.append({"participant_id": pid, "arm": arm, "wave": "post", "score": post})
    return pd.DataFrame(recs)


def test_rci_by_hand_with_given_sd():
    res = reliable_change(_frame(), reliability=0.84, sd_pre=5.0)
    sem = 5.0 * math.sqrt(1 - 0.84)  # 2.0
    sdiff = math.sqrt(2 * sem**2)  # 2.828...
    parts = res.participants.set_index("participant_id")
    assert parts.loc["a", "rci"] == pytest.approx(10 / sdiff, rel=1e-12)
    # 6 / 2.828 = 2.12 > 1.96 -> improved; 1 / 2.828 -> unchanged; -10 -> deteriorated
    assert parts.loc["a", "category"] == "improved"
    assert parts.loc["d", "category"] == "improved"
    assert parts.loc["b", "category"] == "unchanged"
    assert parts.loc["c", "category"] == "deteriorated"
    assert pd.isna(parts.loc["f", "category"]) and np.isnan(parts.loc["f", "rci"])
    p = res.parameters.iloc[0]
    assert p["sem"] == pytest.approx(2.0) and p["s_diff"] == pytest.approx(sdiff)
    summ = res.by_arm.set_index("arm")
    assert summ.loc["nw", ["n", "n_improved", "n_unchanged", "n_deteriorated"]].tolist() == [3, 1, 1, 1]
    assert summ.loc["ctrl", ["n", "n_excluded", "n_improved", "n_unchanged"]].tolist() == [2, 1, 1, 1]
    assert summ.loc["nw", "share_improved"] == pytest.approx(1 / 3)
    assert "n_recovered" not in summ.columns
    parts_, by_arm_ = res  # unpacks as two frames
    assert by_arm_ is res.by_arm
    assert "Reliable change" in res.summary() and "by_arm" in res.summary()


def test_default_sd_is_pooled_baseline_sd_of_everyone_with_pre():
    res = reliable_change(_frame(), reliability=0.8)
    pre = np.array([20.0, 25, 24, 22, 30, 28])  # includes f, who has no post score
    assert res.parameters["sd_pre"].iloc[0] == pytest.approx(pre.std(ddof=1), rel=1e-12)
    assert res.parameters["n_sd_pre"].iloc[0] == 6


def test_cutoffs_by_hand():
    assert clinical_cutoff("a", dysfunctional=(20, 4)) == 28
    assert clinical_cutoff("b", functional=(35, 3)) == 29
    assert clinical_cutoff("c", functional=(35, 3), dysfunctional=(20, 4)) == pytest.approx((4 * 35 + 3 * 20) / 7)
    # lower is better (e.g. a loneliness scale)
    assert clinical_cutoff("a", dysfunctional=(20, 4), higher_is_better=False) == 12
    assert clinical_cutoff("b", functional=(10, 3), higher_is_better=False) == 16
    with pytest.raises(ParameterError, match="functional"):
        clinical_cutoff("c", dysfunctional=(20, 4))


def test_recovered_requires_reliable_change_and_crossing():
    # cut-off c = (4*35 + 3*20)/7 = 28.571...
    res = reliable_change(_frame(), reliability=0.84, sd_pre=5.0, functional=(35, 3), dysfunctional=(20, 4))
    parts = res.participants.set_index("participant_id")
    assert res.parameters["cutoff_kind"].iloc[0] == "c"
    assert parts.loc["a", "category"] == "recovered"  # 20 -> 30, crosses 28.57, reliable
    assert parts.loc["d", "category"] == "improved"  # 22 -> 28, reliable but still below
    assert parts.loc["e", "category"] == "unchanged"  # 30 -> 31, functional already, not reliable
    summ = res.by_arm.set_index("arm")
    assert summ.loc["nw", "n_recovered"] == 1 and summ.loc["nw", "n_improved"] == 0
    assert summ.loc["nw", "n_reliably_improved"] == 1
    assert summ.loc["ctrl", "share_recovered"] == 0


def test_lower_is_better_swaps_direction():
    res = reliable_change(_frame(), reliability=0.84, sd_pre=5.0, higher_is_better=False, cutoff=20.0)
    parts = res.participants.set_index("participant_id")
    assert parts.loc["a", "category"] == "deteriorated"
    assert parts.loc["c", "category"] == "recovered"  # 24 -> 14: reliable drop, crosses 20 downward
    assert parts.loc["c", "functional_post"]
    # with the cut-off at 25, c started on the functional side already: improved, not recovered
    res25 = reliable_change(_frame(), reliability=0.84, sd_pre=5.0, higher_is_better=False, cutoff=25.0)
    assert res25.participants.set_index("participant_id").loc["c", "category"] == "improved"


def test_several_outcomes_need_a_mapping():
    a = _frame().assign(outcome="hope")
    b = _frame().assign(outcome="belonging", score=lambda d: d["score"] / 2)
    both = pd.concat([a, b])
    with pytest.raises(ParameterError, match="mapping"):
        reliable_change(both, reliability=0.8)
    res = reliable_change(both, reliability={"hope": 0.8, "belonging": 0.9})
    p = res.parameters.set_index("outcome")
    assert p.loc["belonging", "reliability"] == 0.9
    assert p.loc["belonging", "sd_pre"] == pytest.approx(p.loc["hope", "sd_pre"] / 2)
    assert set(res.by_arm["outcome"]) == {"hope", "belonging"}
    with pytest.raises(ParameterError, match="one instrument"):
        reliable_change(both, reliability={"hope": 0.8, "belonging": 0.9}, cutoff=3.0)


def test_errors():
    with pytest.raises(ParameterError, match="'reliability' parameter of reliable_change must be in"):
        reliable_change(_frame(), reliability=1.0)
    one = _frame().query("participant_id == 'a'")
    with pytest.raises(AnalysisError, match="baseline SD"):
        reliable_change(one, reliability=0.8)
    with pytest.raises(ParameterError, match="'cutoff' parameter"):
        reliable_change(_frame(), reliability=0.8, cutoff="z")
    with pytest.raises(ParameterError, match=r"\(mean, sd\)"):
        reliable_change(_frame(), reliability=0.8, functional=(30, -1))


# ---------------------------------------------------------------------- which reliability (retest first)
def _pairs(rs=(0.6,), n=40, seed=0):
    """Control and treated arms whose baseline-post correlation is known by construction."""
    rng = np.random.default_rng(seed)
    recs = []
    for arm in ("ctrl", "nw"):
        x = rng.standard_normal(n)
        y = rng.standard_normal(n)
        for i in range(n):
            pid = f"{arm}{i}"
            recs.append({"participant_id": pid, "arm": arm, "wave": "baseline", "score": 20 + 5 * x[i],
                         "outcome": "o"})
            recs.append({"participant_id": pid, "arm": arm, "wave": "post", "score": 20 + 5 * (x[i] + y[i]),
                         "outcome": "o"})
    return pd.DataFrame(recs)


def test_published_retest_is_used_only_over_a_comparable_interval():
    from mentor_eval.outcomes.change import retest_reliability

    df = _pairs()
    entry = {"value": 0.80, "interval_weeks": [3, 10], "citation": "Hellman et al. (2013)"}
    r = retest_reliability(df, retest={"o": entry}, interval_weeks=12, control="ctrl").iloc[0]
    assert r["reliability"] == 0.80 and r["reliability_source"] == "published retest"
    assert "Hellman" in r["reliability_detail"] and "3-10 weeks" in r["reliability_detail"]
    # a 24-week program is more than twice the longest published interval: the control arm instead
    r24 = retest_reliability(df, retest={"o": entry}, interval_weeks=24, control="ctrl").iloc[0]
    pair = df[df["arm"] == "ctrl"].pivot(index="participant_id", columns="wave", values="score")
    expected = np.corrcoef(pair["baseline"], pair["post"])[0, 1]
    assert r24["reliability_source"] == "control arm baseline-post correlation"
    assert r24["reliability"] == pytest.approx(expected, rel=1e-12) and r24["n_pairs"] == 40
    # the nearest of several published intervals wins
    two = [{"value": 0.73, "interval_weeks": 1}, {"value": 0.71, "interval_weeks": 4}]
    assert retest_reliability(df, retest={"o": two}, interval_weeks=6).iloc[0]["reliability"] == 0.71
    assert retest_reliability(df, retest={"o": two}, interval_weeks=1.5).iloc[0]["reliability"] == 0.73


def test_alpha_is_the_last_resort_and_warns():
    from mentor_eval.outcomes.change import retest_reliability

    df = _pairs(n=10)  # too few control pairs (20 needed)
    with pytest.warns(UserWarning, match="overstates retest reliability"):
        r = retest_reliability(df, control="ctrl", alpha={"o": 0.88}).iloc[0]
    assert r["reliability"] == 0.88 and r["reliability_source"] == "alpha (internal consistency)"
    none = retest_reliability(df, control="ctrl").iloc[0]
    assert none["reliability_source"] == "none" and np.isnan(none["reliability"])
    with pytest.raises(AnalysisError, match="no reliability for outcome 'o'"):
        reliable_change(df, "o", control="ctrl")
    with pytest.raises(ParameterError, match="'control' parameter of retest_reliability"):
        retest_reliability(df, control="nobody")
    with pytest.raises(ParameterError, match="'retest' parameter of retest_reliability"):
        retest_reliability(df, retest={"o": {"value": 1.2, "interval_weeks": 2}})


def test_without_a_control_arm_the_within_arm_correlation_comes_before_alpha():
    from mentor_eval.outcomes.change import retest_reliability

    df = _pairs()
    df.loc[df["arm"] == "nw", "score"] += np.where(df.loc[df["arm"] == "nw", "wave"] == "post", 7.0, 0.0)
    r = retest_reliability(df, alpha={"o": 0.95}).iloc[0]  # no control arm: nothing warns
    w = df.pivot(index="participant_id", columns="wave", values="score")
    arm = df.drop_duplicates("participant_id").set_index("participant_id")["arm"].reindex(w.index)
    centred = w.groupby(arm).transform(lambda c: c - c.mean())  # arm means removed (the shift too)
    expected = (centred["baseline"] * centred["post"]).sum() / np.sqrt(
        (centred["baseline"] ** 2).sum() * (centred["post"] ** 2).sum())
    assert r["reliability_source"] == "within-arm baseline-post correlation"
    assert r["reliability"] == pytest.approx(expected, rel=1e-12) and r["n_pairs"] == 80
    assert "pooled within 2 arms" in r["reliability_detail"]
    # a single arm on its own: its Pearson r
    one = retest_reliability(df[df["arm"] == "nw"]).iloc[0]
    wn = w[arm == "nw"]
    assert one["reliability"] == pytest.approx(np.corrcoef(wn["baseline"], wn["post"])[0, 1], rel=1e-12)
    # too few pairs: alpha (with its warning), as before
    with pytest.warns(UserWarning, match="overstates retest reliability"):
        few = retest_reliability(_pairs(n=5), alpha={"o": 0.9}).iloc[0]
    assert few["reliability_source"] == "alpha (internal consistency)"


def test_reliable_change_reports_the_reliability_it_used():
    df = _pairs()
    res = reliable_change(df, "o", reliability="auto", control="ctrl", interval_weeks=24)
    p = res.parameters.iloc[0]
    pair = df[df["arm"] == "ctrl"].pivot(index="participant_id", columns="wave", values="score")
    r = np.corrcoef(pair["baseline"], pair["post"])[0, 1]
    assert p["reliability_source"] == "control arm baseline-post correlation"
    assert p["reliability"] == pytest.approx(r, rel=1e-12)
    base = df[df["wave"] == "baseline"]["score"]
    assert p["s_diff"] == pytest.approx(np.sqrt(2) * base.std(ddof=1) * np.sqrt(1 - r), rel=1e-12)
    given = reliable_change(df, "o", reliability=0.9)
    assert given.parameters.iloc[0]["reliability_source"] == "given"
    with pytest.raises(ParameterError, match="'reliability' parameter of reliable_change"):
        reliable_change(df, "o", reliability="cronbach")


def test_retest_entries_are_checked_by_the_instrument_loader():
    import yaml

    from mentor_eval.errors import InstrumentDefinitionError
    from mentor_eval.instruments import load_instrument, parse_instrument

    ahs = load_instrument("adult_hope_scale")
    (e,) = ahs.retest
    assert (e.scale, e.value, e.interval_weeks) == ("total", 0.80, (3.0, 10.0))
    assert "Hellman" in e.citation
    chs = load_instrument("childrens_hope_scale")
    assert [(x.value, x.interval_weeks) for x in chs.retest] == [(0.73, (1.0, 1.0)), (0.71, (4.0, 4.0))]
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "instruments" / "adult_hope_scale.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    good = {"scale": "total", "value": 0.8, "interval_weeks": 3, "sample": "s", "citation": "c"}
    for bad, text in (({"scale": "nope"}, "'retest[0].scale': names no scale"),
                      ({"value": 1.3}, "'retest[0].value': must be a reliability"),
                      ({"interval_weeks": [10, 3]}, "'retest[0].interval_weeks'"),
                      ({"when": "x"}, "'retest[0].when': is not a known field")):
        raw["retest"] = [{**good, **bad}]
        with pytest.raises(InstrumentDefinitionError) as err:
            parse_instrument(raw, "ahs.yaml")
        assert text in str(err.value) and "ahs.yaml" in str(err.value)
    raw["retest"] = [{k: v for k, v in good.items() if k != "citation"}]
    with pytest.raises(InstrumentDefinitionError, match=r"retest\[0\]\.citation"):
        parse_instrument(raw, "ahs.yaml")


@pytest.mark.slow
def test_reliable_change_false_positive_rate_on_a_null_study():
    """Every true effect zero and no mentor variance: about 5% reliably changed, per arm and scale.

    2,400 participants (600 per arm, about 480 with a post score): the Monte Carlo SE of a 5%
    share is about .01 per arm, so each arm is checked at 2-9% and the pooled share (SE .0045)
    at 3-7%. Internal consistency in its place gives about 20% (the bug this fixes).
    """
    from mentor_eval.instruments import load_instrument
    from mentor_eval.power_study import simulated_frame
    from mentor_eval.simulate import simulate_study

    arms = ["control", "narrative_weaving", "storytelling_circles", "strength_spotlight"]
    sim = simulate_study(2400, arms=arms, effects=dict.fromkeys(arms[1:], 0.0), icc_mentor=0.0, seed=4242)
    frame = simulated_frame(sim)
    retest = {"adult_hope_scale.total": list(load_instrument("adult_hope_scale").retest)}
    for o in ("adult_hope_scale.total", "adult_hope_scale.agency", "general_belongingness_scale.total"):
        res = reliable_change(frame, o, reliability="auto", retest=retest, interval_weeks=24, control="control",
                              alpha=sim.truth["reliability"][o])
        assert res.parameters.iloc[0]["reliability_source"] == "control arm baseline-post correlation"
        s = res.by_arm.set_index("arm")
        changed = s["n_improved"] + s["n_deteriorated"]
        assert changed.sum() / s["n"].sum() == pytest.approx(0.05, abs=0.02), (o, changed / s["n"])
        assert ((changed / s["n"]).between(0.02, 0.09)).all(), (o, changed / s["n"])
        old = reliable_change(frame, o, reliability=sim.truth["reliability"][o]).by_arm
        assert (old["n_improved"] + old["n_deteriorated"]).sum() / old["n"].sum() > 0.12
