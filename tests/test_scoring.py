"""Scoring: hand-computed known answers for every rule, schema checks, properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mentor_eval import DataValidationError, item_schema, load_instrument, score
from mentor_eval.scoring import item_matrix, score_long

TOY = """
id: toy_scale
name: Toy scale
construct: other
citation: {authors: ["Tester, T."], year: 2026}
licence: synthetic test definition
response_scale: {min: 1, max: 5, labels: {1: Never, 5: Always}}
items:
  - {id: a, gist: first, subscale: s1}
  - {id: b, gist: second, reverse: true, subscale: s1}
  - {id: c, gist: third, subscale: s1}
  - {id: d, gist: fourth, subscale: s2}
  - {id: e, gist: fifth, subscale: s2}
  - {id: f, gist: filler item, filler: true}
scales:
  - {id: s1, items: [a, b, c], method: sum, min_answered: 2}
  - {id: s2, items: [d, e], method: mean, min_answered: 1}
  - {id: total, subscales: [s1, s2], method: sum, min_answered: 4}
"""


@pytest.fixture
def toy(tmp_path):
    p = tmp_path / "toy_scale.yaml"
    p.write_text(TOY)
    return load_instrument(p)


def frame(rows):
    return pd.DataFrame(rows, columns=["t_a", "t_b", "t_c", "t_d", "t_e", "t_f"])


def test_reverse_sum_mean_and_total_hand_computed(toy):
    # a=4, b=2 (reversed: 1+5-2=4), c=5 -> s1 = 13; d=3, e=4 -> s2 mean 3.5;
    # total = sum of a, b', c, d, e = 4+4+5+3+4 = 20. The filler (f=1) is ignored.
    out = score(frame([[4, 2, 5, 3, 4, 1]]), toy, "t_{item}")
    assert out.loc[0, "s1"] == 13.0
    assert out.loc[0, "s2"] == 3.5
    assert out.loc[0, "total"] == 20.0
    assert out.loc[0, "s1_n_answered"] == 3
    assert out.loc[0, "total_n_answered"] == 5


def test_prorating_and_min_answered(toy):
    rows = [
        [4, 2, None, 3, None, None],  # s1: a=4, b'=4 -> mean 4 * 3 = 12; s2: mean 3; total: 3 of 5 < 4 -> NaN
        [4, None, None, None, None, 2],  # s1: 1 answered < 2 -> NaN; s2: none -> NaN; total NaN
        [4, 2, None, 3, 4, None],  # total: 4 of 5 answered -> (4+4+3+4)/4 * 5 = 18.75
    ]
    out = score(frame(rows), toy, "t_{item}")
    assert out.loc[0, "s1"] == 12.0
    assert out.loc[0, "s2"] == 3.0
    assert np.isnan(out.loc[0, "total"]) and out.loc[0, "total_n_answered"] == 3
    assert out.loc[2, "total"] == 18.75
    assert np.isnan(out.loc[1, "s1"]) and np.isnan(out.loc[1, "s2"]) and np.isnan(out.loc[1, "total"])
    assert out.loc[1, "s1_n_answered"] == 1
    assert out.loc[1, "s2_n_answered"] == 0


def test_result_is_aligned_to_input_index(toy):
    df = frame([[1, 1, 1, 1, 1, 1], [5, 5, 5, 5, 5, 5]])
    df.index = ["p9", "p3"]
    out = score(df, toy, "t_{item}")
    assert list(out.index) == ["p9", "p3"]
    # all 1s: b reversed to 5 -> s1 = 1+5+1; all 5s: b -> 1 -> 11
    assert out.loc["p9", "s1"] == 7.0 and out.loc["p3", "s1"] == 11.0


def test_nullable_int64_input(toy):
    df = frame([[4, 2, 5, 3, 4, 1], [None, None, None, None, None, None]]).astype("Int64")
    out = score(df, toy, "t_{item}")
    assert out.loc[0, "s1"] == 13.0 and np.isnan(out.loc[1, "s1"])


def test_adult_hope_scale_published_ranges():
    ahs = load_instrument("adult_hope_scale")
    top = pd.DataFrame({f"ahs_{i}": [8, 1] for i in range(1, 13)})
    out = score(top, ahs, "ahs_{item}")
    assert list(out["agency"]) == [32.0, 4.0]
    assert list(out["pathways"]) == [32.0, 4.0]
    assert list(out["total"]) == [64.0, 8.0]
    four = score(top.clip(upper=4), "adult_hope_scale", "ahs_{item}", form="4-point")
    assert list(four["total"]) == [32.0, 8.0]


def test_adult_hope_fillers_do_not_count():
    base = {f"ahs_{i}": [5] for i in range(1, 13)}
    a = score(pd.DataFrame(base), "adult_hope_scale", "ahs_{item}")
    for filler in (3, 5, 7, 11):
        base[f"ahs_{filler}"] = [1]
    b = score(pd.DataFrame(base), "adult_hope_scale", "ahs_{item}")
    pd.testing.assert_frame_equal(a, b)


def test_missing_filler_column_is_fine_missing_scored_column_is_not():
    df = pd.DataFrame({f"ahs_{i}": [5] for i in (1, 2, 4, 6, 8, 9, 10, 12)})
    assert score(df, "adult_hope_scale", "ahs_{item}").loc[0, "total"] == 40.0
    with pytest.raises(DataValidationError, match=r"lack 1 item column\(s\) of adult_hope_scale.*ahs_12"):
        score(df.drop(columns="ahs_12"), "adult_hope_scale", "ahs_{item}")


@pytest.mark.parametrize(
    ("value", "rule"),
    [(6, "must be between 1 and 5"), (0, "must be between 1 and 5"), (2.5, "must be a whole number"),
     ("often", "must be a number"), (-1, "must be between 1 and 5")],
)
def test_bad_values_are_reported_not_scored(toy, value, rule):
    df = frame([[4, 2, 5, 3, 4, 1], [4, 2, 5, 3, 4, 1]]).astype(object)
    df.loc[1, "t_c"] = value
    with pytest.raises(DataValidationError) as err:
        score(df, toy, "t_{item}")
    msg = str(err.value)
    assert "1 item value(s) of toy_scale" in msg
    assert f"row 1, column 't_c': value {value!r}" in msg.replace(f"{float(value)!r}", f"{value!r}") \
        if not isinstance(value, str) else f"row 1, column 't_c': value {value!r}" in msg
    assert rule in msg


def test_schema_from_definition(toy):
    schema = item_schema(toy, "t_{item}")
    assert set(schema.columns) == {"t_a", "t_b", "t_c", "t_d", "t_e"}
    with_filler = item_schema(toy, "t_{item}", include_fillers=True)
    assert "t_f" in with_filler.columns and not with_filler.columns["t_f"].required
    assert all(col.nullable for col in schema.columns.values())
    ok = frame([[1, 5, 3, None, 2, 9]]).astype("Int64")  # filler out of range is not checked
    schema.validate(ok)


def test_score_long_tidy_table(toy):
    df = frame([[4, 2, None, 3, 4, 1]])
    df.insert(0, "participant_id", ["p1"])
    df.insert(1, "wave", ["baseline"])
    long = score_long(df, toy, "t_{item}")
    assert list(long.columns) == ["participant_id", "wave", "instrument", "scale", "score", "n_answered",
                                  "n_items", "prorated"]
    s1 = long[long["scale"] == "s1"].iloc[0]
    assert s1["score"] == 12.0 and s1["n_items"] == 3 and bool(s1["prorated"])
    s2 = long[long["scale"] == "s2"].iloc[0]
    assert not bool(s2["prorated"])  # mean scales are never prorated


def test_item_matrix_reverse_keys(toy):
    x, ids = item_matrix(frame([[4, 2, 5, 3, 4, 1]]), toy, "t_{item}")
    assert ids == ("a", "b", "c", "d", "e")
    assert list(x[0]) == [4, 4, 5, 3, 4]


likert = arrays(np.float64, st.tuples(st.integers(1, 30), st.just(5)),
                elements=st.one_of(st.integers(1, 5).map(float), st.just(np.nan)))


@settings(max_examples=60, deadline=None)
@given(likert)
def test_reverse_keying_twice_is_identity(x):
    lo, hi = 1, 5
    once = (lo + hi) - x
    np.testing.assert_array_equal((lo + hi) - once, x)
    # and scoring a reverse item equals scoring the pre-reversed value as a forward item
    assert np.all(np.isnan(once) | ((once >= lo) & (once <= hi)))


@settings(max_examples=60, deadline=None)
@given(likert)
def test_scores_stay_within_the_scale_range(x):
    import pathlib
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = pathlib.Path(d) / "toy_scale.yaml"
        p.write_text(TOY)
        toy = load_instrument(p)
    df = pd.DataFrame(np.column_stack([x, np.ones(len(x))]), columns=[f"t_{c}" for c in "abcdef"])
    out = score(df, toy, "t_{item}")
    for sc in toy.scales:
        lo, hi = toy.scale_range(sc.id)
        v = out[sc.id].to_numpy()
        ok = np.isnan(v) | ((v >= lo - 1e-9) & (v <= hi + 1e-9))
        assert ok.all(), (sc.id, v[~ok])
        # NaN exactly when too few answered
        assert np.array_equal(np.isnan(v), out[f"{sc.id}_n_answered"].to_numpy() < sc.min_answered)


def test_score_leaves_float_item_columns_of_the_caller_untouched():
    # float64 columns are read without a copy; reverse keying and the running sums must not
    # write into them (GBS: six reverse-keyed items, 1-7)
    rng = np.random.default_rng(5)
    df = pd.DataFrame(rng.integers(1, 8, (50, 12)).astype(float), columns=[f"gbs_{i}" for i in range(1, 13)])
    df.iloc[3, 2] = np.nan
    before = df.copy()
    res = score(df, "general_belongingness_scale", "gbs_{item}")
    pd.testing.assert_frame_equal(df, before)
    # by hand: reverse-keyed items recoded 8 - x, item means over the answered items
    rev = [3, 4, 6, 7, 9, 12]
    recoded = df.copy()
    for i in rev:
        recoded[f"gbs_{i}"] = 8 - recoded[f"gbs_{i}"]
    rej = recoded[[f"gbs_{i}" for i in rev]]
    np.testing.assert_allclose(res["rejection_exclusion"], rej.mean(axis=1))
    np.testing.assert_allclose(res["total"], recoded.mean(axis=1))
    assert res.loc[3, "rejection_exclusion_n_answered"] == 5 and res.loc[3, "total_n_answered"] == 11
    assert list(res.columns) == [c for s in ("total", "acceptance_inclusion", "rejection_exclusion")
                                 for c in (s, f"{s}_n_answered")]
