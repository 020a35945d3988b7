"""Fidelity: the study.yaml `fidelity:` key, validation of indicator cells, and the per-arm summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_validation_support import participants_csv, response_rows, rows_to_csv, write_study

from mentor_eval.errors import ParameterError, StudyConfigError
from mentor_eval.fidelity import RULE_FIDELITY, FidelityColumn, fidelity_cells, fidelity_summary
from mentor_eval.models import get_model
from mentor_eval.study import load_study
from mentor_eval.validation import validate_study

FID = {"nw": {"sessions_held": "sessions", "stories_shared": {"column": "stories", "expected": 4}}}


def test_sample_study_maps_each_arms_primary_indicator():
    st = load_study()
    assert {fc.arm for fc in st.fidelity} == set(st.arm_keys) - {"control"}
    assert all(fc.primary and fc.column == "sessions_attended" for fc in st.fidelity)
    by_arm = {fc.arm: fc for fc in st.fidelity}
    assert by_arm["storytelling_circles"].indicator.key == "circles_attended"
    assert by_arm["storytelling_circles"].indicator.expected == 9


def test_fidelity_key_is_parsed_with_study_specific_expected_doses(tmp_path):
    st = load_study(write_study(tmp_path, fidelity=FID), check_files=False)
    (a, b) = st.fidelity
    assert (a.arm, a.model, a.indicator.key, a.column, a.primary, a.indicator.expected) == (
        "nw", "narrative_weaving", "sessions_held", "sessions", True, 18.0)
    assert (b.indicator.key, b.column, b.primary, b.indicator.expected) == ("stories_shared", "stories", False, 4.0)
    # the registry's own declaration is not changed by a study's override
    assert get_model("narrative_weaving").indicator("stories_shared").expected == 6
    assert load_study(write_study(tmp_path / "none"), check_files=False).fidelity == ()


@pytest.mark.parametrize(
    ("fidelity", "path", "message"),
    [
        ({"mentoring": {"sessions_held": "s"}}, "fidelity.mentoring", "is not an arm of the study"),
        ({"ctrl": {"sessions_held": "s"}}, "fidelity.ctrl", "declares no fidelity indicators"),
        ({"nw": {"circles_attended": "s"}}, "fidelity.nw.circles_attended",
         "declares no indicator 'circles_attended'; it declares: sessions_held, stories_shared"),
        ({"nw": {"sessions_held": "two words"}}, "fidelity.nw.sessions_held", "must be a column name"),
        ({"nw": {"sessions_held": "arm"}}, "fidelity.nw.sessions_held", "'arm' is a reserved column"),
        ({"nw": {"sessions_held": "ahs_1"}}, "fidelity.nw.sessions_held", "is an item column"),
        ({"nw": {"sessions_held": {"column": "s", "expected": -2}}}, "fidelity.nw.sessions_held.expected",
         "outside what a count indicator allows"),
        ({"nw": {"sessions_held": {"column": "s", "unit": "h"}}}, "fidelity.nw.sessions_held.unit",
         "allowed keys: column, expected"),
        ({"nw": []}, "fidelity.nw", "must map indicator keys"),
        (["nw"], "fidelity", "must be a mapping"),
    ],
)
def test_bad_fidelity_config_names_the_key_path(tmp_path, fidelity, path, message):
    with pytest.raises(StudyConfigError) as err:
        load_study(write_study(tmp_path, fidelity=fidelity), check_files=False)
    assert f"key '{path}'" in str(err.value) and message in str(err.value)


def test_one_column_cannot_hold_two_indicator_types(tmp_path):
    models = [{"key": "pods", "name": "Peer pods", "format": "group", "description": "Pods meet. They plan.",
               "belonging_mechanism": "A home base.", "hope_mechanism": "Plans.", "targets": ["belonging"],
               "fidelity": [{"key": "pod_share", "label": "share of pod meetings", "type": "proportion",
                             "expected": 0.5}]}]
    arms = [{"key": "ctrl", "label": "Waitlist", "model": "control"},
            {"key": "nw", "label": "Narrative Weaving", "model": "narrative_weaving"},
            {"key": "pp", "label": "Pods", "model": "pods"}]
    with pytest.raises(StudyConfigError, match="already holds the count indicator nw.sessions_held"):
        load_study(write_study(tmp_path, models=models, arms=arms,
                               fidelity={"nw": {"sessions_held": "dose"}, "pp": {"pod_share": "dose"}}),
                   check_files=False)


def test_cells_are_typed_and_range_checked_per_type():
    v, bad, _ = fidelity_cells(pd.Series(["3", "", "2.5", "-1", "x", None]), "count")
    assert bad.tolist() == [False, False, True, True, True, False]
    assert v[0] == 3 and np.isnan(v[1:]).all()
    v, bad, _ = fidelity_cells(pd.Series(["0.5", "1.2", "1"]), "proportion")
    assert bad.tolist() == [False, True, False] and v[2] == 1
    v, bad, rule = fidelity_cells(pd.Series(["yes", "FALSE", "1", "2", ""]), "boolean")
    assert bad.tolist() == [False, False, False, True, False] and v[:3].tolist() == [1, 0, 1]
    assert "0/1" in rule
    v, bad, _ = fidelity_cells(pd.Series([True, False, None], dtype="boolean"), "boolean")
    assert v[:2].tolist() == [1, 0] and not bad.any()


def test_validation_quarantines_bad_indicator_cells_and_keeps_good_ones_numeric(tmp_path):
    extra = {"sessions": ["", "20", "", "17.5", "", "18"], "stories": ["", "4", "", "-1", "", "x"]}
    st = load_study(write_study(tmp_path, participants=participants_csv(extra=extra), fidelity=FID))
    r = validate_study(st)
    fails = r.failures[r.failures["rule"] == RULE_FIDELITY]
    assert sorted(zip(fails["column"], fails["value"].astype(str), strict=True)) == [
        ("sessions", "17.5"), ("stories", "-1"), ("stories", "x")]
    assert "whole number" in fails["message"].iloc[0]
    assert set(r.participants["participant_id"]) == {"p1", "p2", "p3", "p5"}
    assert r.participants.loc[r.participants["participant_id"] == "p2", "sessions"].iloc[0] == 20.0
    assert not (r.warnings["column"] == "sessions").any()  # a known column, not "unexpected"
    summary = fidelity_summary(r.participants, st)
    row = summary[summary["indicator"] == "sessions_held"].iloc[0]
    assert (row["n"], row["n_recorded"], row["n_reached"], row["share_reached"]) == (1, 1, 1, 1.0)


def test_summary_counts_reached_doses_per_arm_by_hand():
    ind = get_model("future_self_letter")
    maps = [FidelityColumn("fsl", ind.key, ind.indicator("sessions_held"), "sessions", True),
            FidelityColumn("fsl", ind.key, ind.indicator("letters_written"), "letter", False)]
    people = pd.DataFrame({"arm": ["fsl"] * 5 + ["ctrl"], "sessions": [24, 18, 10, np.nan, 17, np.nan],
                           "letter": ["yes", "no", "yes", "yes", None, None]})
    s = fidelity_summary(people, maps).set_index("indicator")
    assert s.loc["sessions_held", ["n", "n_recorded", "n_reached"]].tolist() == [5, 4, 2]
    assert s.loc["sessions_held", "share_reached"] == 0.5 and s.loc["sessions_held", "share_reached_all"] == 0.4
    assert s.loc["sessions_held", "median"] == 17.5
    assert s.loc["letters_written", ["n_recorded", "n_reached"]].tolist() == [4, 3]
    assert s.loc["letters_written", "mean"] == 0.75 and s.loc["letters_written", "type"] == "boolean"


def test_dose_response_uses_each_arms_own_indicator():
    from mentor_eval.outcomes import dose_response

    rng = np.random.default_rng(8)
    n = 60
    arm = np.repeat(["ctrl", "nw", "sc"], n // 3)
    sessions = np.where(arm == "nw", rng.integers(0, 25, n), np.nan)
    circles = np.where(arm == "sc", rng.integers(0, 13, n), np.nan)
    pre = rng.normal(size=n)
    post = pre + 0.1 * np.nan_to_num(sessions) + 0.3 * np.nan_to_num(circles) + rng.normal(0, 0.5, n)
    people = pd.DataFrame({"participant_id": range(n), "arm": arm, "sessions": sessions, "circles": circles})
    long = pd.concat([people.assign(wave="baseline", score=pre), people.assign(wave="post", score=post)])
    res = dose_response(long, dose={"nw": "sessions", "sc": "circles"})
    assert res["arm"].tolist() == ["nw", "sc"] and res["term"].tolist() == ["sessions", "circles"]
    for a, col in (("nw", "sessions"), ("sc", "circles")):
        keep = arm == a
        x = np.column_stack([np.ones(keep.sum()), pre[keep], people.loc[keep, col]])
        beta = np.linalg.lstsq(x, post[keep], rcond=None)[0]
        assert res.loc[res["arm"] == a, "estimate"].iloc[0] == pytest.approx(beta[2], abs=1e-10)
    # one shared column: the same as the plain call, pooled row included
    long["d"] = long["sessions"].fillna(0) + long["circles"].fillna(0)
    shared = dose_response(long, dose={"nw": "d", "sc": "d"})
    plain = dose_response(long, dose="d", arms=["nw", "sc"])
    pd.testing.assert_frame_equal(shared, plain)
    assert "pooled" in set(shared["arm"])
    with pytest.raises(ParameterError, match="no column for arm"):
        dose_response(long, dose={"nw": "sessions"}, arms=["nw", "sc"])


def test_pipeline_reports_fidelity_and_dose_response_on_indicators_outside_dosage(tmp_path):
    from mentor_eval.data import load_analysis_data
    from mentor_eval.pipeline import StepNotes, run_mechanisms

    n = 12
    extra = {"sessions": [("" if i % 2 == 0 else str(10 + i)) for i in range(n)],
             "stories": [("" if i % 2 == 0 else str(i % 5)) for i in range(n)]}
    st = load_study(write_study(tmp_path, participants=participants_csv(n, extra=extra),
                                responses=rows_to_csv(response_rows(n)), fidelity=FID))
    notes = StepNotes()
    tabs = run_mechanisms(load_analysis_data(st), notes=notes, n_boot=20)
    assert tabs["fidelity"]["indicator"].tolist() == ["sessions_held", "stories_shared"]
    # nw are the odd participants: sessions 11..21 (19 and 21 reach 18), stories 1, 3, 0, 2, 4, 1 (one reaches 4)
    assert tabs["fidelity"]["n_reached"].tolist() == [2, 1]
    dr = tabs["dose_response"]
    assert set(dr["indicator"]) == {"sessions_held", "stories_shared"} and set(dr["term"]) == {"sessions", "stories"}
    assert set(dr["arm"]) == {"nw"}
    reasons = " ".join(notes.frame()["reason"])
    assert "needs a belonging and a hope outcome" in reasons
