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
    summ = res.summary.set_index("arm")
    assert summ.loc["nw", ["n", "n_improved", "n_unchanged", "n_deteriorated"]].tolist() == [3, 1, 1, 1]
    assert summ.loc["ctrl", ["n", "n_excluded", "n_improved", "n_unchanged"]].tolist() == [2, 1, 1, 1]
    assert summ.loc["nw", "share_improved"] == pytest.approx(1 / 3)
    assert "n_recovered" not in summ.columns
    parts_, summary_ = res  # unpacks as two frames
    assert summary_ is res.summary


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
    summ = res.summary.set_index("arm")
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
    assert set(res.summary["outcome"]) == {"hope", "belonging"}
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
