"""Small-cell suppression and HTML escaping (mentor_eval.disclosure)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from mentor_eval.errors import ParameterError
from mentor_eval.report.disclosure import SUPPRESSED, suppress_small_cells
from mentor_eval.report.html import display_frame, escape, escape_frame, table_html

XSS = "<script>alert(1)</script>"


# --------------------------------------------------------------------------- escaping


def test_escape_replaces_every_special_character():
    assert escape(XSS) == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert escape("a & b \"c\" 'd'") == "a &amp; b &quot;c&quot; &#x27;d&#x27;"
    assert escape(None) == ""
    assert escape(float("nan")) == ""
    assert escape(12) == "12"


def test_escape_frame_escapes_cells_labels_and_index_but_not_numbers():
    df = pd.DataFrame(
        {"arm": [XSS, "ok"], "<n>": [1, 2], "cat": pd.Categorical(["<i>", "b"])},
        index=pd.Index(["<r1>", "r2"], name="<idx>"),
    )
    df["mixed"] = pd.Series(["<b>", 3], index=df.index, dtype=object)
    out = escape_frame(df)
    assert out.loc["&lt;r1&gt;", "arm"] == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert "&lt;n&gt;" in out.columns
    assert out["&lt;n&gt;"].tolist() == [1, 2]
    assert list(out["cat"].cat.categories) == ["&lt;i&gt;", "b"]
    assert out["mixed"].tolist() == ["&lt;b&gt;", 3]
    assert out.index.name == "&lt;idx&gt;"
    assert df.loc["<r1>", "arm"] == XSS  # the input is not modified


def test_table_html_is_accessible_and_never_emits_user_markup():
    df = pd.DataFrame({"arm": [XSS, "Waitlist"], "n": [12, 30], "<mean>": [3.14159, 2.5]})
    html = table_html(df, caption=f"Counts for {XSS}")
    assert "<script" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 2  # caption and the row header
    assert "<caption>Counts for &lt;script&gt;" in html
    assert html.count('<th scope="col"') == 3
    assert html.count('<th scope="row"') == 2
    assert "&lt;mean&gt;" in html
    assert "<td>3.14</td>" in html
    assert html.startswith('<div class="me-table-wrap"><table class="me-table">')


def test_table_html_requires_a_caption():
    with pytest.raises(ParameterError, match="caption"):
        table_html(pd.DataFrame({"a": [1]}), caption=" ")


def test_display_shows_marker_only_for_suppressed_values():
    t = pd.DataFrame({"arm": ["a", "b", "c"], "n": [40, 4, 35], "mean": [3.0, 2.0, np.nan]})
    out = suppress_small_cells(t, "n", value_cols=["mean"], margins=None)
    shown = display_frame(out)
    assert shown["n"].tolist() == ["40", SUPPRESSED, "35"]
    assert shown["mean"].tolist() == ["3.00", SUPPRESSED, ""]  # c's mean is missing, not suppressed
    assert "suppressed" not in shown.columns and "n_suppressed" not in shown.columns
    html = table_html(out, caption="Means")
    assert html.count('class="me-suppressed"') == 2


# --------------------------------------------------------------------------- primary suppression


def test_primary_suppression_hides_small_counts_and_their_statistics():
    t = pd.DataFrame({"arm": ["a", "b", "c", "d"], "n": [40, 9, 10, 0], "mean": [3.1, 2.9, 3.3, np.nan]})
    out = suppress_small_cells(t, "n", value_cols=["mean"], margins=None)
    assert out["n"].dtype == "Int64"
    assert out["n"].isna().tolist() == [False, True, False, False]  # 10 is not < 10; 0 is kept
    assert out["n_suppressed"].tolist() == [False, True, False, False]
    assert np.isnan(out.loc[1, "mean"]) and out.loc[0, "mean"] == 3.1
    assert out["suppression"].tolist()[1] == "primary"
    assert out.attrs["suppression"]["n_primary"] == 1
    assert out.attrs["suppression"]["n_secondary"] == 0
    # a zero is suppressed only when asked
    z = suppress_small_cells(t, "n", margins=None, suppress_zeros=True)
    assert z["n"].isna().tolist() == [False, True, False, True]


def test_value_cols_mapping_ties_statistics_to_one_count():
    t = pd.DataFrame({"arm": ["a", "b"], "n": [40, 30], "n_improved": [3, 12],
                      "share_improved": [3 / 40, 12 / 30], "mean": [1.0, 2.0]})
    out = suppress_small_cells(t, ["n", "n_improved"], value_cols={"n_improved": ["share_improved"]},
                               margins=None)
    assert out["share_improved"].isna().tolist() == [True, False]
    assert out["mean"].tolist() == [1.0, 2.0]  # tied to n, which is not suppressed
    assert out["n"].tolist() == [40, 30]


def test_count_dtype_survives_blanking_of_integer_value_columns():
    t = pd.DataFrame({"arm": ["a", "b"], "assessed": [5, 30], "analysed": [5, 29]})
    out = suppress_small_cells(t, "assessed", value_cols={"assessed": ["analysed"]}, margins=None)
    assert out["analysed"].dtype == "Int64"
    assert out["analysed"].isna().tolist() == [True, False]


# --------------------------------------------------------------------------- secondary suppression


def test_two_by_two_with_one_small_cell_hides_everything():
    # With row, column and grand totals published, any single hidden cell of a 2x2
    # table is recoverable until all four are hidden.
    t = pd.DataFrame({"arm": ["a", "a", "b", "b"], "wave": [1, 2, 1, 2], "n": [40, 4, 38, 35]})
    out = suppress_small_cells(t, "n", group_keys=["arm", "wave"])
    assert out["suppression"].tolist() == ["secondary", "primary", "secondary", "secondary"]


def test_secondary_suppression_picks_the_next_smallest_cell():
    # 3 x 3; the small cell (a, 1) = 3. Row a's next smallest is (a, 3) = 15 and
    # column 1's next smallest is (c, 1) = 12; then (c, 3) = 20 closes the rectangle.
    t = pd.DataFrame(
        [("a", 1, 3), ("a", 2, 50), ("a", 3, 15),
         ("b", 1, 40), ("b", 2, 45), ("b", 3, 41),
         ("c", 1, 12), ("c", 2, 60), ("c", 3, 20)],
        columns=["arm", "wave", "n"],
    )
    out = suppress_small_cells(t, "n", group_keys=["arm", "wave"])
    hidden = set(map(tuple, out.loc[out["suppressed"], ["arm", "wave"]].to_numpy().tolist()))
    assert hidden == {("a", 1), ("a", 3), ("c", 1), ("c", 3)}
    assert out.attrs["suppression"]["n_primary"] == 1
    assert out.attrs["suppression"]["n_secondary"] == 3


def test_no_totals_means_no_secondary_suppression():
    t = pd.DataFrame({"arm": ["a", "a", "b", "b"], "wave": [1, 2, 1, 2], "n": [40, 4, 38, 35]})
    out = suppress_small_cells(t, "n", group_keys=["arm", "wave"], margins=None)
    assert out["suppressed"].tolist() == [False, True, False, False]


def test_only_listed_margins_constrain():
    # Totals per arm only (summing over waves): the complement stays in the same arm.
    t = pd.DataFrame({"arm": ["a", "a", "a", "b", "b", "b"], "wave": [1, 2, 3] * 2,
                      "n": [4, 30, 20, 40, 41, 42]})
    out = suppress_small_cells(t, "n", group_keys=["arm", "wave"], margins=["wave"])
    assert out["suppressed"].tolist() == [True, False, True, False, False, False]


def test_small_totals_are_reported_as_withheld():
    t = pd.DataFrame({"arm": ["a", "a", "b", "b"], "wave": [1, 2, 1, 2], "n": [3, 4, 38, 35]})
    out = suppress_small_cells(t, "n", group_keys=["arm", "wave"])
    withheld = out.attrs["suppression"]["withheld_totals"]
    assert {"count": "n", "summed_over": ["wave"], "arm": "a", "total": 7, "reason": "small total"} in withheld


def _published_lines(table, group_keys, withheld):
    """Every margin (each non-empty subset of keys summed) with its total, computed
    independently of the implementation, minus the totals the function said to
    withhold. A margin of one cell is that cell and adds nothing."""
    held = {(tuple(w["summed_over"]), tuple((k, w[k]) for k in group_keys if k not in w["summed_over"]))
            for w in withheld}
    lines = []
    for size in range(1, len(group_keys) + 1):
        for summed in itertools.combinations(group_keys, size):
            by = [k for k in group_keys if k not in summed]
            if not by:
                groups = {(): table.index.to_numpy()}
            else:
                groups = {
                    (key if isinstance(key, tuple) else (key,)): idx.to_numpy()
                    for key, idx in table.groupby(by if len(by) > 1 else by[0]).groups.items()
                }
            for key, rows in groups.items():
                fixed = tuple(zip(by, (int(v) for v in key), strict=True))
                if len(rows) >= 2 and (tuple(summed), fixed) not in held:
                    lines.append((rows, int(table.loc[rows, "n"].sum())))
    return lines


def _ranges(table, out, group_keys):
    """Min and max of every hidden cell over all non-negative tables that agree with
    the published cells and totals (linear programming)."""
    withheld = out.attrs["suppression"]["withheld_totals"]
    small_totals = [w for w in withheld if w["reason"] == "small total"]
    assert all(0 < w["total"] < 10 for w in small_totals)
    hidden = np.flatnonzero(out["n_suppressed"].to_numpy())
    pos = {int(r): j for j, r in enumerate(hidden)}
    a_eq, b_eq = [], []
    for rows, total in _published_lines(table, group_keys, withheld):
        row = np.zeros(len(hidden))
        known = 0
        for r in rows:
            if int(r) in pos:
                row[pos[int(r)]] = 1
            else:
                known += int(table.loc[r, "n"])
        if row.any():
            a_eq.append(row)
            b_eq.append(total - known)
    out_ranges = {}
    for r, j in pos.items():
        c = np.zeros(len(hidden))
        c[j] = 1
        kw = {"A_eq": np.array(a_eq), "b_eq": np.array(b_eq)} if a_eq else {}
        lo = linprog(c, bounds=(0, None), **kw)
        hi = linprog(-c, bounds=(0, None), **kw)
        assert lo.status == 0 and hi.status in (0, 3)
        out_ranges[r] = (lo.fun, np.inf if hi.status == 3 else -hi.fun)
    return out_ranges


@st.composite
def _tables(draw):
    dims = draw(st.lists(st.integers(2, 4), min_size=1, max_size=2) | st.just([2, 3, 3]))
    keys = [f"k{i}" for i in range(len(dims))]
    cells = list(itertools.product(*[range(d) for d in dims]))
    small = st.integers(1, 9)
    big = st.integers(10, 80)
    counts = [draw(st.one_of(small, big, big, st.just(0))) for _ in cells]
    frame = pd.DataFrame(cells, columns=keys)
    frame["n"] = counts
    return frame, keys


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_tables())
def test_no_suppressed_value_is_derivable_from_published_totals(args):
    table, keys = args
    out = suppress_small_cells(table, "n", group_keys=keys, min_cell=10)
    small = (table["n"] > 0) & (table["n"] < 10)
    assert out.loc[small, "n"].isna().all()
    assert out.loc[~out["n_suppressed"], "n"].astype(int).tolist() == table.loc[~out["n_suppressed"], "n"].tolist()
    for row, (lo, hi) in _ranges(table, out, keys).items():
        # the true value is feasible, and it is not pinned down by the totals
        assert lo - 1e-7 <= table.loc[row, "n"] <= hi + 1e-7
        assert hi - lo > 0.5, f"hidden cell {row} is derivable: [{lo}, {hi}]"


def test_zero_cells_are_not_used_as_complements():
    # Row b is all zeros: hiding (b, 2) would protect nothing (its row total 0 pins
    # it), so the column total of wave 2 that reveals (a, 2) and hence (a, 1) is withheld.
    table = pd.DataFrame({"r": [0, 0, 1, 1], "c": [0, 1, 0, 1], "n": [1, 10, 0, 0]})
    out = suppress_small_cells(table, "n", group_keys=["r", "c"])
    assert out["n_suppressed"].tolist() == [True, True, False, False]
    reasons = {w["reason"] for w in out.attrs["suppression"]["withheld_totals"]}
    assert reasons == {"small total", "would reveal a suppressed cell"}
    for row, (lo, hi) in _ranges(table, out, ["r", "c"]).items():
        assert hi - lo > 0.5, f"hidden cell {row} is derivable"


def test_chain_of_totals_is_caught_by_the_audit():
    # Two 2x2 blocks of hidden cells joined by a single hidden "bridge" cell satisfy
    # "two hidden cells per row and column" yet the bridge is recoverable. The audit
    # must hide more; the LP check confirms nothing is derivable.
    n = np.full((4, 4), 50)
    n[0, 0] = 3  # primary, row 0 / col 0
    n[2, 2] = 4  # primary, row 2 / col 2
    table = pd.DataFrame([(i, j, int(n[i, j])) for i in range(4) for j in range(4)], columns=["r", "c", "n"])
    out = suppress_small_cells(table, "n", group_keys=["r", "c"])
    for row, (lo, hi) in _ranges(table, out, ["r", "c"]).items():
        assert hi - lo > 0.5, f"hidden cell {row} is derivable"


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("table", "kwargs", "match"),
    [
        (pd.DataFrame({"arm": ["a", "a"], "n": [1, 2]}), {"group_keys": ["arm"]}, "one row per"),
        (pd.DataFrame({"arm": ["a", "b"], "n": [-1, 2]}), {}, "non-negative whole numbers"),
        (pd.DataFrame({"arm": ["a", "b"], "n": [1.5, 2]}), {}, "non-negative whole numbers"),
        (pd.DataFrame({"arm": ["a", "b"], "n": [np.nan, 2]}), {}, "without missing"),
        (pd.DataFrame({"arm": ["a", "b"], "n": [1, 2]}), {"group_keys": ["arm"], "margins": ["wave"]}, "margins"),
        (pd.DataFrame({"arm": ["a", "b"], "n": [1, 2]}), {"margins": "rows"}, "margins"),
        (pd.DataFrame({"arm": ["a", "b"], "n": [1, 2]}), {"min_cell": 0}, "min_cell"),
        (pd.DataFrame({"arm": ["a", "b"], "n": [1, 2]}), {"value_cols": ["mean"]}, "lacks the column"),
    ],
)
def test_bad_input_raises_a_clear_error(table, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        suppress_small_cells(table, "n", **kwargs)


def test_p_values_read_as_people_read_them():
    t = pd.DataFrame({"Adjusted p": [0.0002, 0.004, 0.0449, 0.27], "p (unadjusted)": [0.5, 0.01, 0.2, 1.0],
                      "g": [0.004, 0.1, 0.2, 0.3]})
    out = display_frame(t)
    assert out["Adjusted p"].tolist() == ["< 0.001", "0.004", "0.045", "0.27"]
    assert out["p (unadjusted)"].tolist() == ["0.50", "0.010", "0.20", "1.00"]
    assert out["g"].tolist() == ["0.00", "0.10", "0.20", "0.30"]  # not a p-value: two decimals
