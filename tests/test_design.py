"""Known-answer tests for participant flow, WWC attrition and baseline equivalence."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mentor_eval.errors import DataValidationError, MentorEvalError, ParameterError
from mentor_eval.outcomes import attrition, baseline_equivalence, participant_flow
from mentor_eval.outcomes.wwc import (
    attrition_boundary_table,
    classify_attrition,
    max_differential_attrition,
)

# --------------------------------------------------------------------------- fixtures


def _people() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "participant_id": [f"p{i}" for i in range(1, 9)],
            "arm": ["ctrl"] * 4 + ["nw"] * 4,
            "site_id": ["s1", "s2"] * 4,
        }
    )


def _responses() -> pd.DataFrame:
    # p1..p8 at baseline (p4 answered nothing: all items missing); at midpoint p1, p5, p6;
    # at post p1, p2, p3 (ctrl) and p5, p6 (nw), p7 only has completed_at (no answer).
    rows = [
        ("p1", "baseline", 1, 2), ("p2", "baseline", 3, None), ("p3", "baseline", None, 4),
        ("p4", "baseline", None, None), ("p5", "baseline", 2, 2), ("p6", "baseline", 1, 1),
        ("p7", "baseline", 4, 4), ("p8", "baseline", 3, 3),
        ("p1", "midpoint", 2, 2), ("p5", "midpoint", 2, 3), ("p6", "midpoint", None, 1),
        ("p1", "post", 2, 2), ("p2", "post", 3, 3), ("p3", "post", 1, None),
        ("p5", "post", 4, 4), ("p6", "post", 2, 2), ("p7", "post", None, None),
        ("p4", "post", 1, 1),
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["participant_id", "wave", "ahs_1", "ahs_2"])
    frame["ahs_1"] = frame["ahs_1"].astype("Int64")
    frame["ahs_2"] = frame["ahs_2"].astype("Int64")
    frame["completed_at"] = pd.Timestamp("2026-01-01")
    return frame


# --------------------------------------------------------------------------- participant flow


def test_flow_counts_by_hand():
    flow = participant_flow(_people(), _responses(), waves=["baseline", "midpoint", "post"])
    got = flow.set_index(["arm", "wave"])
    # ctrl: baseline p1 p2 p3 (p4 all missing) = 3; midpoint p1 = 1; post p1 p2 p3 p4 = 4
    assert got.loc[("ctrl", "baseline"), "n_assessed"] == 3
    assert got.loc[("ctrl", "midpoint"), "n_assessed"] == 1
    assert got.loc[("ctrl", "post"), "n_assessed"] == 4
    # nw: baseline 4; midpoint p5 p6 = 2; post p5 p6 = 2 (p7 row is all missing)
    assert got.loc[("nw", "baseline"), "n_assessed"] == 4
    assert got.loc[("nw", "midpoint"), "n_assessed"] == 2
    assert got.loc[("nw", "post"), "n_assessed"] == 2
    # analysed = assessed at baseline and post: ctrl p1 p2 p3 (p4 lacks baseline) = 3; nw p5 p6 = 2
    assert (got.loc["ctrl", "n_analysed"] == 3).all()
    assert (got.loc["nw", "n_analysed"] == 2).all()
    assert (got["n_enrolled"].loc[["ctrl", "nw"]] == 4).all()
    # totals over arms
    assert got.loc[("all", "baseline"), "n_assessed"] == 7
    assert got.loc[("all", "post"), "n_enrolled"] == 8
    assert got.loc[("all", "post"), "n_analysed"] == 5
    assert got.loc[("nw", "midpoint"), "pct_assessed"] == pytest.approx(50.0)
    assert got.loc[("all", "post"), "pct_analysed"] == pytest.approx(62.5)
    assert list(flow.columns) == [
        "arm", "wave", "n_enrolled", "n_assessed", "pct_assessed", "n_analysed", "pct_analysed",
    ]  # fmt: skip
    assert list(flow["wave"][:3]) == ["baseline", "midpoint", "post"]


def test_flow_from_tidy_scores_and_explicit_analysed():
    scores = pd.DataFrame(
        {
            "participant_id": ["p1", "p1", "p2", "p5", "p5", "p8"],
            "wave": ["baseline", "baseline", "baseline", "baseline", "post", "post"],
            "instrument": ["ahs", "gbs", "ahs", "ahs", "ahs", "ahs"],
            "scale": ["total"] * 6,
            "score": [np.nan, 3.0, np.nan, 2.0, 2.5, 1.0],
        }
    )
    flow = participant_flow(_people(), scores, waves=["baseline", "post"], analysed={"p1", "p5", "p8"})
    got = flow.set_index(["arm", "wave"])
    # p1 counts once at baseline although two rows, one of them missing; p2's only score is missing
    assert got.loc[("ctrl", "baseline"), "n_assessed"] == 1
    assert got.loc[("nw", "baseline"), "n_assessed"] == 1
    assert got.loc[("nw", "post"), "n_assessed"] == 2
    assert got.loc[("ctrl", "post"), "n_analysed"] == 1
    assert got.loc[("nw", "post"), "n_analysed"] == 2

    flags = pd.Series([True, False, False, False, True, True, False, False], index=_people().participant_id)
    flow2 = participant_flow(_people(), scores, waves=["baseline", "post"], analysed=flags)
    assert flow2.set_index(["arm", "wave"]).loc[("nw", "post"), "n_analysed"] == 2
    people = _people().assign(in_model=flags.to_numpy())
    flow3 = participant_flow(people, scores, waves=["baseline", "post"], analysed="in_model")
    pd.testing.assert_frame_equal(flow2, flow3)
    with pytest.raises(ParameterError, match="not a column of participants"):
        participant_flow(people, scores, waves=["baseline", "post"], analysed="in_mdl")
    with pytest.raises(DataValidationError, match="True/False"):
        participant_flow(people, scores, waves=["baseline", "post"], analysed="site_id")
    # explicit item columns
    flow4 = participant_flow(_people(), _responses(), waves=["baseline"], items=["ahs_2"])
    # ahs_2 answered at baseline by p1 p3 (ctrl) and p5 p6 p7 p8 (nw)
    assert list(flow4["n_assessed"]) == [2, 4, 6]


def test_flow_errors_are_clear():
    people, resp = _people(), _responses()
    with pytest.raises(DataValidationError, match="not in the participants table"):
        participant_flow(people.iloc[1:], resp, waves=["baseline", "post"])
    dup = pd.concat([people, people.iloc[[0]]])
    with pytest.raises(DataValidationError, match="one row per participant"):
        participant_flow(dup, resp, waves=["baseline", "post"])
    no_arm = people.assign(arm=people["arm"].where(people.participant_id != "p3"))
    with pytest.raises(DataValidationError, match="have no 'arm'.*'p3'"):
        participant_flow(no_arm, resp, waves=["baseline", "post"])
    with pytest.raises(DataValidationError, match="none of the waves"):
        participant_flow(people, resp, waves=["pre", "after"])
    with pytest.raises(ParameterError, match="'waves'"):
        participant_flow(people, resp, waves="baseline")
    with pytest.raises(ParameterError, match="lists a wave twice"):
        participant_flow(people, resp, waves=["post", "post"])
    with pytest.raises(ParameterError, match="lacks the column"):
        participant_flow(people.drop(columns="arm"), resp, waves=["baseline"])
    with pytest.raises(DataValidationError, match="analysed participant id"):
        participant_flow(people, resp, waves=["baseline", "post"], analysed=["p1", "zz"])
    with pytest.raises(DataValidationError, match="no item or 'score' column"):
        participant_flow(people, resp[["participant_id", "wave", "completed_at"]], waves=["baseline"])


# --------------------------------------------------------------------------- WWC boundary table


# The every-10-points rows quoted in the project's evaluation standards (secondary source).
_QUOTED = {
    0: (5.7, 10.0), 10: (6.3, 10.9), 20: (5.4, 10.0), 30: (4.1, 8.2), 40: (2.6, 6.0),
    50: (1.0, 3.7), 57: (0.0, None), 60: (None, 1.4), 65: (None, 0.3),
}  # fmt: skip


def test_boundary_table_matches_quoted_rows_and_shape():
    tab = attrition_boundary_table().set_index("overall_pct")
    assert list(tab.index) == list(range(66))
    for overall, (cautious, optimistic) in _QUOTED.items():
        if cautious is not None:
            assert tab.loc[overall, "cautious"] == cautious
        if optimistic is not None:
            assert tab.loc[overall, "optimistic"] == optimistic
    assert tab.loc[57, "cautious"] == 0.0
    assert tab.loc[58:, "cautious"].isna().all()
    assert tab["optimistic"].notna().all()
    # Shape of the published boundary: optimistic always more lenient; both non-increasing
    # from 10 percent overall on.
    assert (tab["optimistic"] >= tab["cautious"].fillna(-1)).all()
    assert (np.diff(tab.loc[10:57, "cautious"]) <= 0).all()
    assert (np.diff(tab.loc[10:, "optimistic"]) <= 0).all()


def test_boundary_lookup_between_rows_is_conservative():
    tab = attrition_boundary_table()
    grid = np.round(np.arange(0, 66, 0.05), 2)
    for b in ("cautious", "optimistic"):
        lim = max_differential_attrition(grid, b)
        lo = tab[b].to_numpy()[np.floor(grid).astype(int)]
        hi = tab[b].to_numpy()[np.minimum(np.ceil(grid).astype(int), 65)]
        if b == "optimistic":
            hi = np.where(np.ceil(grid) > 65, np.nan, hi)
        expected = np.minimum(lo, hi)
        np.testing.assert_array_equal(lim, expected)
    # whole percentages read their own row, also with floating-point noise (57/100*100)
    assert max_differential_attrition(57 / 100 * 100, "cautious") == 0.0
    assert max_differential_attrition(100 * (1 - 93 / 100), "cautious") == 6.3  # 7.000000000000001
    # 57.3 percent is beyond the cautious boundary (the 58 row is always high)
    assert np.isnan(max_differential_attrition(57.3, "cautious"))
    assert max_differential_attrition(30.4, "cautious") == 4.0
    assert max_differential_attrition(30.4, "cautious", rounding="nearest") == 4.1
    assert max_differential_attrition(30.5, "cautious", rounding="nearest") == 4.0
    # at 4-5 percent the boundary rises; the smaller neighbour is the 4 percent row
    assert max_differential_attrition(4.5, "cautious") == 6.0
    assert np.isnan(max_differential_attrition(65.2, "optimistic"))
    with pytest.raises(ParameterError, match="overall_pct"):
        max_differential_attrition(120.0)
    with pytest.raises(ParameterError, match="'boundary'"):
        max_differential_attrition(10.0, "pessimistic")


def test_classify_on_and_off_the_boundary():
    assert classify_attrition(30.0, 4.1, "cautious").tolist() == ["low"]
    assert classify_attrition(30.0, 4.1000001, "cautious").tolist() == ["high"]
    assert classify_attrition(30.0, -4.0, "cautious").tolist() == ["low"]  # absolute value
    assert classify_attrition(58.0, 0.0, "cautious").tolist() == ["high"]
    assert classify_attrition(57.0, 0.0, "cautious").tolist() == ["low"]
    assert classify_attrition(np.nan, 1.0).tolist() == [""]


# --------------------------------------------------------------------------- attrition


def _trial(n_c, kept_c, n_t, kept_t, n_s=None, kept_s=None):
    arms = [("ctrl", n_c, kept_c), ("nw", n_t, kept_t)]
    if n_s is not None:
        arms.append(("sc", n_s, kept_s))
    people, rows = [], []
    for name, n, kept in arms:
        for i in range(n):
            pid = f"{name}{i}"
            people.append((pid, name))
            rows.append((pid, "baseline", 1.0))
            rows.append((pid, "post", 1.0 if i < kept else np.nan))
    return (
        pd.DataFrame(people, columns=["participant_id", "arm"]),
        pd.DataFrame(rows, columns=["participant_id", "wave", "score"]),
    )


def test_attrition_by_hand_both_boundaries():
    # ctrl 100 -> 90 kept (10%), nw 100 -> 80 kept (20%): overall 15%, differential 10 points.
    # Table at 15%: cautious 5.9, optimistic 10.7 -> high / low.
    people, scores = _trial(100, 90, 100, 80)
    out = attrition(people, scores, baseline_wave="baseline", final_wave="post", control="ctrl", boundary="both")
    assert list(out.columns[:10]) == [
        "arm", "reference", "n_enrolled", "n_analysed", "attrition_pct", "overall_attrition_pct",
        "differential_pct", "boundary", "max_differential_pct", "verdict",
    ]  # fmt: skip
    assert len(out) == 2
    row = out.set_index("boundary")
    assert row.loc["cautious", "arm"] == "nw" and row.loc["cautious", "reference"] == "ctrl"
    assert row.loc["cautious", "n_enrolled"] == 100 and row.loc["cautious", "n_analysed"] == 80
    assert row.loc["cautious", "attrition_pct"] == pytest.approx(20.0)
    assert row.loc["cautious", "attrition_pct_ref"] == pytest.approx(10.0)
    assert row.loc["cautious", "overall_attrition_pct"] == pytest.approx(15.0)
    assert row.loc["cautious", "differential_pct"] == pytest.approx(10.0)
    assert row.loc["cautious", "max_differential_pct"] == 5.9
    assert row.loc["optimistic", "max_differential_pct"] == 10.7
    assert row.loc["cautious", "verdict"] == "high"
    assert row.loc["optimistic", "verdict"] == "low"
    assert "Table II.1" in row.loc["cautious", "boundary_note"]


def test_attrition_non_whole_overall_uses_smaller_neighbour():
    # ctrl 50 -> 44 (12%), nw 53 -> 45 (15.094%): overall 100*(1 - 89/103) = 13.592%,
    # differential 3.094 points; cautious rows 13 (6.1) and 14 (6.0) -> limit 6.0 -> low.
    people, scores = _trial(50, 44, 53, 45)
    out = attrition(people, scores, baseline_wave="baseline", final_wave="post", control="ctrl")
    r = out.iloc[0]
    assert r["overall_attrition_pct"] == pytest.approx(100 * (1 - 89 / 103), abs=1e-12)
    assert r["differential_pct"] == pytest.approx(100 * (8 / 53 - 6 / 50), abs=1e-12)
    assert r["max_differential_pct"] == 6.0
    assert r["verdict"] == "low"


def test_attrition_multi_arm_pairs_and_per_contrast_overall():
    people, scores = _trial(40, 36, 40, 30, 40, 20)
    out = attrition(people, scores, baseline_wave="baseline", final_wave="post")
    assert list(zip(out["arm"], out["reference"], strict=True)) == [("ctrl", "nw"), ("ctrl", "sc"), ("nw", "sc")]
    # ctrl vs sc: (4 + 20) / 80 lost = 30% overall, differential |10 - 50| = 40
    r = out.iloc[1]
    assert r["overall_attrition_pct"] == pytest.approx(30.0)
    assert r["differential_pct"] == pytest.approx(40.0)
    assert r["verdict"] == "high"
    ctl = attrition(people, scores, baseline_wave="baseline", final_wave="post", control="sc")
    assert list(ctl["arm"]) == ["ctrl", "nw"] and set(ctl["reference"]) == {"sc"}


def test_attrition_cautious_57_vs_58_percent():
    # equal attrition in both arms -> differential 0; 57% overall is low, 58% high (cautious)
    people, scores = _trial(100, 43, 100, 43)
    assert attrition(people, scores, baseline_wave="baseline", final_wave="post").verdict.iloc[0] == "low"
    people, scores = _trial(100, 42, 100, 42)
    out = attrition(people, scores, baseline_wave="baseline", final_wave="post", boundary="both")
    assert out.set_index("boundary")["verdict"].to_dict() == {"cautious": "high", "optimistic": "low"}


def test_attrition_errors():
    people, scores = _trial(10, 9, 10, 9)
    with pytest.raises(ParameterError, match="'control'.*'placebo'"):
        attrition(people, scores, baseline_wave="baseline", final_wave="post", control="placebo")
    with pytest.raises(ParameterError, match="'boundary'"):
        attrition(people, scores, baseline_wave="baseline", final_wave="post", boundary="strict")
    with pytest.raises(ParameterError, match="must differ"):
        attrition(people, scores, baseline_wave="post", final_wave="post")
    one = people[people.arm == "ctrl"]
    with pytest.raises(ParameterError, match="at least two arms"):
        attrition(one, scores[scores.participant_id.isin(one.participant_id)], baseline_wave="baseline",
                  final_wave="post")
    with pytest.raises(MentorEvalError):
        attrition(people, scores, baseline_wave="pre", final_wave="after")


# --------------------------------------------------------------------------- baseline equivalence


def test_hedges_g_by_hand_equal_and_unequal_n():
    d = pd.DataFrame({"arm": ["t"] * 3 + ["c"] * 3, "x": [5, 6, 7, 4, 5, 6]})
    out = baseline_equivalence(d, variables=["x"], control="c")
    # diff 1, pooled SD 1, omega = 1 - 3 / (4 * 6 - 9) = 0.8
    assert out["g"].iloc[0] == pytest.approx(0.8, abs=1e-12)
    assert out["category"].iloc[0] == "does not satisfy"
    assert out["kind"].iloc[0] == "continuous"

    d = pd.DataFrame({"arm": ["t"] * 4 + ["c"] * 3, "x": [1.0, 2, 3, 4, 2, 4, 6]})
    out = baseline_equivalence(d, variables=["x"], control="c").iloc[0]
    # means 2.5 and 4, variances 5/3 and 4; pooled variance (5 + 8) / 5 = 2.6; omega = 1 - 3/19
    g = (1 - 3 / 19) * (2.5 - 4) / math.sqrt(2.6)
    assert out["g"] == pytest.approx(g, abs=1e-12)
    assert (out["n_arm"], out["n_ref"]) == (4, 3)
    assert out["mean_arm"] == pytest.approx(2.5) and out["sd_ref"] == pytest.approx(2.0)


def test_hedges_g_matches_pingouin():
    pg = pytest.importorskip("pingouin")
    rng = np.random.default_rng(1)
    x, y = rng.normal(0.1, 1, 37), rng.normal(0, 1.3, 52)
    d = pd.DataFrame({"arm": ["t"] * 37 + ["c"] * 52, "v": np.r_[x, y]})
    g = baseline_equivalence(d, variables=["v"], control="c")["g"].iloc[0]
    assert g == pytest.approx(pg.compute_effsize(x, y, paired=False, eftype="hedges"), abs=1e-10)


def test_cox_index_by_hand_and_zero_cell():
    d = pd.DataFrame({"arm": ["t"] * 10 + ["c"] * 10, "girl": [1] * 6 + [0] * 4 + [1] * 4 + [0] * 6})
    out = baseline_equivalence(d, variables=["girl"], control="c").iloc[0]
    # log OR = ln(0.6/0.4) - ln(0.4/0.6) = 2 ln 1.5; omega = 1 - 3/71
    assert out["kind"] == "binary"
    assert out["g"] == pytest.approx((1 - 3 / 71) * 2 * math.log(1.5) / 1.65, abs=1e-12)
    assert out["mean_arm"] == pytest.approx(0.6) and out["mean_ref"] == pytest.approx(0.4)
    assert out["category"] == "does not satisfy"

    d = pd.DataFrame({"arm": ["t"] * 5 + ["c"] * 5, "flag": [False] * 5 + [True, True, False, False, False]})
    out = baseline_equivalence(d, variables=["flag"], control="c").iloc[0]
    p1, p2 = 0.5 / 6, 2.5 / 6  # 0.5 added to every cell
    expected = (1 - 3 / 31) * (math.log(p1 / (1 - p1)) - math.log(p2 / (1 - p2))) / 1.65
    assert out["g"] == pytest.approx(expected, abs=1e-12)
    assert "0.5 added" in out["note"]


def test_equivalence_categories_and_adjustment():
    # Build arms whose g lands in each WWC band: pooled SD 1 (both arms SD 1), N = 200.
    omega = 1 - 3 / (4 * 200 - 9)
    base = np.array([-1.0, 1.0] * 50)  # mean 0, SD sqrt(100/99)
    sd = base.std(ddof=1)
    frames = []
    for name, g_target in [("a", 0.04), ("b", 0.2), ("c", 0.3)]:
        shift = g_target * sd / omega
        frames.append(pd.DataFrame({"arm": name, "x": base + shift, "y": base + shift}))
    frames.append(pd.DataFrame({"arm": "ctrl", "x": base, "y": base}))
    d = pd.concat(frames, ignore_index=True)
    out = baseline_equivalence(d, variables=["x", "y"], control="ctrl", adjusted=["y"])
    got = out.set_index(["arm", "variable"])
    assert got.loc[("a", "x"), "g"] == pytest.approx(0.04, abs=1e-12)
    assert got.loc[("a", "x"), "category"] == "satisfies"
    assert got.loc[("b", "x"), "category"] == "requires statistical adjustment"
    assert got.loc[("b", "y"), "category"] == "satisfies with adjustment"
    assert got.loc[("c", "y"), "category"] == "does not satisfy"
    assert list(out.columns) == [
        "variable", "arm", "reference", "n_arm", "n_ref", "mean_arm", "mean_ref", "sd_arm", "sd_ref",
        "g", "kind", "category", "note",
    ]  # fmt: skip


def test_equivalence_missing_values_pairs_and_edge_cases():
    d = pd.DataFrame(
        {
            "arm": ["t", "t", "t", "c", "c", "c", "s", "s", "s"],
            "x": [1.0, 2.0, np.nan, 1.0, 3.0, 2.0, 5.0, 5.0, 5.0],
            "k": [3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 1.0, np.nan, np.nan],
        }
    )
    out = baseline_equivalence(d, variables=["x", "k"])
    assert len(out) == 3 * 2  # pairs (c, s), (c, t), (s, t) x 2 variables
    got = out.set_index(["arm", "reference", "variable"])
    assert got.loc[("c", "t", "x"), "n_ref"] == 2  # available cases
    assert got.loc[("c", "t", "k"), "category"] == "not computable"
    assert "no spread" in got.loc[("c", "t", "k"), "note"]
    assert "fewer than 2" in got.loc[("c", "s", "k"), "note"]
    assert np.isnan(got.loc[("c", "s", "k"), "g"])


def test_equivalence_errors():
    d = pd.DataFrame({"arm": ["t", "c"] * 3, "x": [1.0, 2, 3, 4, 5, 6], "s": list("abcabc")})
    with pytest.raises(ParameterError, match="lacks the column"):
        baseline_equivalence(d, variables=["nope"])
    with pytest.raises(DataValidationError, match="fewer than two categories"):
        baseline_equivalence(d.assign(s="a"), variables=["s"])
    with pytest.raises(DataValidationError, match="coded 0/1"):
        baseline_equivalence(d, variables=["x"], binary=["x"])
    with pytest.raises(ParameterError, match="'control'"):
        baseline_equivalence(d, variables=["x"], control="zzz")
    long = pd.DataFrame({"participant_id": ["a", "a", "b", "b"], "arm": ["t", "t", "c", "c"], "x": [1.0] * 4})
    with pytest.raises(DataValidationError, match="repeats"):
        baseline_equivalence(long, variables=["x"])
    with pytest.raises(ParameterError, match="at least two arms"):
        baseline_equivalence(d[d.arm == "t"], variables=["x"])


def test_text_variables_become_proportions():
    d = pd.DataFrame(
        {
            "arm": ["t"] * 10 + ["c"] * 10,
            # t: 6 girls of 10; c: 4 girls, one missing value
            "gender": ["girl"] * 6 + ["boy"] * 4 + ["girl"] * 4 + ["boy"] * 5 + [None],
            # three categories -> one row per category
            "grade": ["6"] * 5 + ["7"] * 4 + ["8"] * 1 + ["6"] * 1 + ["7"] * 5 + ["8"] * 4,
            "age": np.arange(20, dtype=float),
        }
    )
    out = baseline_equivalence(d, variables=["gender", "grade", "age"], control="c", adjusted=["grade"])
    got = out.set_index("variable")
    assert list(out["variable"]) == ["gender", "grade=6", "grade=7", "grade=8", "age"]
    g = got.loc["gender"]
    assert g["kind"] == "binary" and g["n_ref"] == 9
    assert g["mean_arm"] == pytest.approx(0.6) and g["mean_ref"] == pytest.approx(4 / 9)
    lor = math.log(0.6 / 0.4) - math.log((4 / 9) / (5 / 9))
    assert g["g"] == pytest.approx((1 - 3 / (4 * 19 - 9)) * lor / 1.65, abs=1e-12)
    assert "'girl'" in g["note"]
    six = got.loc["grade=6"]
    lor = math.log(0.5 / 0.5) - math.log(0.1 / 0.9)
    assert six["g"] == pytest.approx((1 - 3 / 71) * lor / 1.65, abs=1e-12)
    assert six["category"] == "does not satisfy"
    # |g| of grade=7 is in the adjustable band and grade is in the model
    seven = got.loc["grade=7"]
    lor = math.log(0.4 / 0.6) - math.log(0.5 / 0.5)  # |g| = 0.235
    assert seven["g"] == pytest.approx((1 - 3 / 71) * lor / 1.65, abs=1e-12)
    assert seven["category"] == "satisfies with adjustment"
    assert got.loc["age", "kind"] == "continuous"
