"""The one input adapter of the outcome functions (mentor_eval.outcomes.inputs)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mentor_eval.errors import DataValidationError, ParameterError
from mentor_eval.outcomes import ancova, cace, dose_response, moderation, prepost, reliable_change
from mentor_eval.outcomes.clustered import cluster_codes, nested_cluster_labels
from mentor_eval.outcomes.inputs import (
    by_outcome,
    check_column_names,
    covariate_block,
    levels,
    person_table,
    pre_post_wide,
    waves_wide,
)


def _long() -> pd.DataFrame:
    people = pd.DataFrame({"pid": ["c", "a", "b", "d"], "group": ["t", "c", "t", "c"],
                           "age": [14, 15, 16, 17], "sex": ["f", "m", "f", "m"]})
    rows = []
    for o, shift in (("hope", 0.0), ("belong", 10.0)):
        for w, add in (("pre", 0.0), ("post", 1.0)):
            rows.append(people.assign(outcome=o, when=w, value=shift + add + np.arange(4.0)))
    return pd.concat(rows, ignore_index=True)


def test_pre_post_wide_layout_for_any_column_names():
    long = _long()
    wide, keys = pre_post_wide("f", long, None, pre="pre", post="post", score="value", wave="when", arm="group",
                               participant="pid", baseline=["age"], person=["sex"])
    assert keys == ["outcome"]
    assert list(wide.columns) == ["outcome", "participant_id", "pre", "post", "arm", "age", "sex"]
    # sorted by outcome, arm, participant
    assert wide[["outcome", "arm", "participant_id"]].values.tolist()[:4] == [
        ["belong", "c", "a"], ["belong", "c", "d"], ["belong", "t", "b"], ["belong", "t", "c"]]
    row = wide[(wide.outcome == "hope") & (wide.participant_id == "c")].iloc[0]
    assert (row["pre"], row["post"], row["age"], row["sex"]) == (0.0, 1.0, 14, "f")


def test_by_outcome_keeps_the_asked_order_and_sorts_by_participant():
    wide, keys = pre_post_wide("f", _long(), None, pre="pre", post="post", score="value", wave="when", arm="group",
                               participant="pid")
    frames = by_outcome(wide, keys, "value", ["hope", "belong", "grit"], rename={"participant_id": "pid"})
    assert list(frames) == ["hope", "belong", "grit"]
    assert frames["hope"]["pid"].tolist() == ["a", "b", "c", "d"] and len(frames["grit"]) == 0
    single, k = pre_post_wide("f", _long().query("outcome == 'hope'").drop(columns="outcome"), None, pre="pre",
                              post="post", score="value", wave="when", arm="group", participant="pid")
    assert k == [] and list(by_outcome(single, k, "value")) == ["value"]


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (lambda d: d, ParameterError, "given more than one role \\(participant, arm\\)"),
        (lambda d: d.assign(when=d["when"].replace("pre", "t0")), DataValidationError,
         "the pre wave 'pre' does not occur in the 'when' column \\(no rows have when='pre'\\)"),
        (lambda d: d.assign(value=d["value"].astype(object).where(d.index != 0, "n/a")), DataValidationError,
         "non-numeric values"),
        (lambda d: pd.concat([d, d.iloc[[0]]]), DataValidationError, "more than one row for the same"),
        (lambda d: d.assign(group=d["group"].where(d.index != 0, None)), DataValidationError,
         "column 'group' is missing for 1 participant"),
    ],
)
def test_one_message_per_data_problem(change, error, message):
    data = change(_long())
    participant = "group" if message.startswith("given") else "pid"
    with pytest.raises(error, match=message):
        pre_post_wide("f", data, None, pre="pre", post="post", score="value", wave="when", arm="group",
                      participant=participant)


def test_layout_names_cannot_be_covariates_and_person_columns_are_constant():
    long = _long().assign(post=1.0)
    with pytest.raises(ParameterError, match="'post' cannot be used as a covariate"):
        pre_post_wide("f", long, None, pre="pre", post="post", score="value", wave="when", arm="group",
                      participant="pid", person=["post"])
    varying = _long()
    varying.loc[0, "sex"] = "m"
    with pytest.raises(DataValidationError, match=r"\['sex'\] take more than one value within a participant"):
        person_table("f", varying, "pid", ["sex"])
    # a value missing on some rows is fine: the participant's value is the one recorded
    partial = _long().assign(mentor=lambda d: np.where(d["when"] == "post", "m1", None))
    assert person_table("f", partial, "pid", ["mentor"])["mentor"].tolist() == ["m1"] * 4


def test_check_column_names_roles_and_sequences():
    long = _long()
    check_column_names("f", long, participant="pid", wave="when", covariates=("age", "sex"), time=None)
    with pytest.raises(ParameterError, match="'age' are given more than one role \\(time, covariates\\)"):
        check_column_names("f", long, participant="pid", time="age", covariates=("age",))
    with pytest.raises(ParameterError, match="lacks the column\\(s\\) 'income'"):
        check_column_names("f", long, participant="pid", extra=["income"])
    with pytest.raises(ParameterError, match="'wave' parameter of f must name columns"):
        check_column_names("f", long, wave=3)


def test_waves_wide_and_levels_and_covariates():
    wide = waves_wide("f", _long(), ["hope", "belong"], ["pre", "post"], score="value", wave="when", arm="group",
                      participant="pid", person=["age"])
    assert list(wide.columns) == ["pid", "group", "age", "hope@pre", "hope@post", "belong@pre", "belong@post"]
    assert wide["pid"].tolist() == ["a", "b", "c", "d"] and wide.loc[0, "belong@post"] == 12.0
    with pytest.raises(DataValidationError, match="more than one score for participant 'c'"):
        waves_wide("f", pd.concat([_long(), _long().iloc[[0]]]), ["hope"], ["pre"], score="value", wave="when",
                   arm="group", participant="pid")
    assert levels(pd.Series(["b", "a", None, "b"])) == ["a", "b"]
    assert levels(pd.Series(pd.Categorical(["x", "y"], categories=["y", "x", "z"]))) == ["y", "x"]
    assert levels(pd.Series([2, "1", 1], dtype=object)) == [1, 2, "1"]  # mixed types: by type, then value
    x, names = covariate_block("f", _long().iloc[:4], ["age", "sex"])
    assert names == ["age", "sex[m]"] and x[:, 1].tolist() == [0.0, 1.0, 0.0, 1.0]


def test_nested_cluster_labels_and_codes():
    labels = nested_cluster_labels(pd.DataFrame({"site": ["s1", "s1", None, None], "mentor": ["m1", None, "m2", None]}))
    assert labels.tolist() == ["site=s1", "site=s1", "mentor=m2", None]
    codes = cluster_codes(pd.Series(labels, dtype=object))
    assert codes[0] == codes[1] and len(set(codes)) == 3  # the unlabelled row is a cluster of its own


def test_estimators_share_the_adapter_checks():
    long = _long().rename(columns={"pid": "participant_id", "group": "arm", "when": "wave", "value": "score"})
    long = pd.concat([long, long.assign(participant_id=long["participant_id"] + "2")], ignore_index=True)
    long["dose"] = np.where(long["arm"] == "t", 3.0, 0.0)
    bad = long.assign(wave=long["wave"].replace("pre", "t0"))
    calls = [
        lambda d: prepost(d, "hope", pre="pre"),
        lambda d: reliable_change(d, "hope", pre="pre", reliability=0.8),
        lambda d: ancova(d, "hope", pre="pre", control="c"),
        lambda d: moderation(d, "hope", pre="pre", moderator="sex", control="c"),
        lambda d: dose_response(d, "hope", pre="pre", dose="dose"),
        lambda d: cace(d, "hope", pre="pre", control="c", dose="dose", threshold=1),
    ]
    for call in calls:
        with pytest.raises(DataValidationError, match="the pre wave 'pre' does not occur in the 'wave' column"):
            call(bad)


def test_prepost_ancova_and_reliable_change_take_the_outcome_column_name():
    from mentor_eval.outcomes.change import reliable_change
    from mentor_eval.outcomes.compare import ancova
    from mentor_eval.outcomes.prepost import prepost
    from mentor_eval.simulate import simulate_study

    scores = simulate_study(300, seed=5, scores_only=True).scores
    scores = scores[["participant_id", "wave", "score", "arm", "outcome"]]
    every_arm = scores.groupby("outcome")["arm"].nunique() == scores["arm"].nunique()
    scores = scores[scores["outcome"].isin(every_arm[every_arm].index)].reset_index(drop=True)
    renamed = scores.rename(columns={"outcome": "measure"})
    pd.testing.assert_frame_equal(prepost(scores), prepost(renamed, outcome_col="measure"))
    control = "control" if "control" in set(scores["arm"]) else sorted(scores["arm"].unique())[0]
    a = ancova(scores, control=control, cluster_method="none")
    b = ancova(renamed, control=control, cluster_method="none", outcome_col="measure")
    pd.testing.assert_frame_equal(a.contrasts, b.contrasts)
    rel = dict.fromkeys(scores["outcome"].unique(), 0.8)
    rc_a = reliable_change(scores, reliability=rel)
    rc_b = reliable_change(renamed, reliability=rel, outcome_col="measure")
    pd.testing.assert_frame_equal(rc_a.by_arm, rc_b.by_arm)
    # the test-retest path (the control arm's baseline-post correlation) reads the same column
    auto_a = reliable_change(scores, control=control, interval_weeks=24)
    auto_b = reliable_change(renamed, control=control, interval_weeks=24, outcome_col="measure")
    pd.testing.assert_frame_equal(auto_a.parameters, auto_b.parameters)
    # one outcome picked by name from the renamed column
    one = sorted(scores["outcome"].unique())[0]
    assert set(prepost(renamed, one, outcome_col="measure")["outcome"]) == {one}
