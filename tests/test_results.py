"""One result shape for every outcome function: tables, method, notes and summary()."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

from mentor_eval import outcomes as oc
from mentor_eval.outcomes.results import Result, TableResult, table_result
from mentor_eval.power_study import simulated_frame, simulated_power_ancova, study_power
from mentor_eval.simulate import simulate_study

OUTCOME = "adult_hope_scale.total"


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    sim = simulate_study(180, arms=["control", "narrative_weaving", "storytelling_circles"], seed=11)
    return simulated_frame(sim)


@pytest.fixture(scope="module")
def people(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop_duplicates("participant_id")[["participant_id", "arm", "gender", "age"]].reset_index(drop=True)


def _calls(frame: pd.DataFrame, people: pd.DataFrame) -> dict:
    one = frame[frame["outcome"] == OUTCOME]
    base = one[one["wave"] == "baseline"][["participant_id", "score"]].rename(columns={"score": OUTCOME})
    es = pd.DataFrame({"g": [0.1, 0.3, 0.2, 0.5], "variance": [0.02, 0.03, 0.01, 0.04], "x": [1.0, 2, 3, 4]})
    return {
        "prepost": lambda: oc.prepost(frame, OUTCOME, clusters=["mentor_id"]),
        "signed_rank_test": lambda: oc.signed_rank_test([1.0, 2, 3, 4.5], [0.0, 1, 1, 1]),
        "effect_size": lambda: oc.effect_size(np.arange(10.0), np.arange(10.0) + 1),
        "ancova": lambda: oc.ancova(frame, OUTCOME, control="control", clusters=["mentor_id"]),
        "reliable_change": lambda: oc.reliable_change(frame, OUTCOME, reliability=0.8),
        "retest_reliability": lambda: oc.retest_reliability(frame, OUTCOME),
        "mixed_model": lambda: oc.mixed_model(frame, OUTCOME, control="control"),
        "cluster_robust": lambda: oc.cluster_robust(frame, OUTCOME, cluster="site_id", control="control"),
        "participant_flow": lambda: oc.participant_flow(people, one, waves=["baseline", "midpoint", "post"]),
        "attrition": lambda: oc.attrition(people, one, baseline_wave="baseline", final_wave="post",
                                          control="control"),
        "baseline_equivalence": lambda: oc.baseline_equivalence(people.merge(base, on="participant_id"),
                                                                variables=[OUTCOME, "age"], control="control"),
        "moderation": lambda: oc.moderation(frame, OUTCOME, moderator="age", control="control"),
        "dose_response": lambda: oc.dose_response(frame, OUTCOME),
        "power_ancova": lambda: oc.power_ancova([0.3, 0.4], 50),
        "mdes_ancova": lambda: oc.mdes_ancova([50, 60]),
        "simulated_power_ancova": lambda: simulated_power_ancova(0.0, 20, n_sims=3, n_jobs=1),
        "study_power": lambda: study_power(60, 0.3, n_sims=2, n_jobs=1, arms=["control", "narrative_weaving"]),
        "mediation": lambda: oc.mediation(frame, "general_belongingness_scale.total", OUTCOME, n_boot=20, seed=1),
        "cace": lambda: oc.cace(frame, OUTCOME, dose="sessions_attended", threshold=4, arms=["narrative_weaving"]),
        "meta_analysis": lambda: oc.meta_analysis(es),
        "meta_regression": lambda: oc.meta_regression(es, "x"),
    }


def test_every_outcome_function_returns_one_result_shape(frame, people):
    for name, call in _calls(frame, people).items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = call()
        assert isinstance(res, Result), name
        assert isinstance(res.method, str) and res.method, name
        assert isinstance(res.notes, tuple) and all(isinstance(n, str) for n in res.notes), name
        tables = res.tables()
        assert tables and all(isinstance(t, pd.DataFrame) for t in tables.values()), name
        text = res.summary()
        assert isinstance(text, str) and text, name
        if name not in ("meta_analysis", "meta_regression", "mediation"):  # their own summary layout
            assert text.splitlines()[0] == res.title, name


def test_table_result_is_the_table_and_derived_frames_are_plain():
    raw = pd.DataFrame({"arm": ["a", "b"], "estimate": [1.5, 2.25], "p": [0.01, 0.2], "note": ["", "few pairs"]})
    res = table_result(raw, title="T", method="M", notes=["first"])
    assert isinstance(res, pd.DataFrame) and isinstance(res, TableResult)
    pd.testing.assert_frame_equal(pd.DataFrame(res), raw)
    assert res.notes == ("first", "few pairs")  # the note column is collected
    for derived in (res[["arm"]], res.copy(), res.reset_index(), pd.concat([res, res]), res[res["p"] < 0.1]):
        assert type(derived) is pd.DataFrame
    back = pickle.loads(pickle.dumps(res))
    assert isinstance(back, TableResult) and back.method == "M" and back.notes == res.notes
    text = res.summary()
    assert text.splitlines()[:2] == ["T", "Method: M"] and "few pairs" in text and "2.25" in text
    assert repr(res) == repr(raw)  # printing shows the table, as a DataFrame


def test_summary_of_a_multi_table_result_names_its_tables(frame):
    res = oc.ancova(frame, OUTCOME, control="control")
    text = res.summary()
    assert "contrasts:" in text and "Other tables: coefficients, emmeans, anova, info, icc, fit." in text
    assert res.method.startswith("OLS ANCOVA")
    assert str(res) == text
    mm = oc.mixed_model(frame, OUTCOME, control="control")
    assert "vcov" not in mm.tables() and mm.notes == tuple(mm.info["notes"])


def test_ancova_notes_list_exclusions_and_cluster_fallbacks(frame):
    res = oc.ancova(frame, OUTCOME, control="control", clusters=["mentor_id"])
    excluded = res.info[(res.info["status"] == "excluded") & (res.info["n"] > 0)]
    for _, row in excluded.iterrows():
        assert f"{int(row['n'])} participant(s) excluded: {row['reason']}" in res.notes
    assert "multilevel" in res.method


def test_simulation_based_power_lives_above_outcomes_and_the_simulator():
    import mentor_eval
    from mentor_eval import power_study
    from mentor_eval.outcomes import power

    for name in ("simulated_power", "simulated_power_ancova", "clustered_trial", "study_power", "simulated_frame"):
        assert getattr(mentor_eval, name) is getattr(power_study, name)
        assert not hasattr(power, name)
        with pytest.warns(DeprecationWarning, match=f"moved to mentor_eval.power_study.{name}"):
            assert getattr(oc, name) is getattr(power_study, name)
