"""Report figures (mentor_eval.figures): content, accessibility, suppression, offline HTML."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from mentor_eval.errors import ParameterError
from mentor_eval.report import charts, display
from mentor_eval.report.disclosure import suppress_small_cells

XSS = "<script>alert(1)</script>"
PALETTE = set(charts.ARM_COLORS) | set(charts.OKABE_ITO.values()) | {"#BBBBBB"}


@pytest.fixture
def flow():
    return pd.DataFrame({
        "arm": ["Waitlist"] * 2 + ["Narrative Weaving"] * 2,
        "wave": ["baseline", "post"] * 2,
        "enrolled": [60, 60, 58, 58],
        "assessed": [60, 51, 58, 6],
        "analysed": [60, 50, 58, 6],
    })


@pytest.fixture
def effects():
    return pd.DataFrame({
        "outcome": ["hope.total", "belonging.total"] * 2,
        "arm": ["nw"] * 2 + ["sc"] * 2,
        "estimate": [0.42, 0.18, 0.25, -0.05],
        "ci_low": [0.10, -0.12, -0.02, -0.33],
        "ci_high": [0.74, 0.48, 0.52, 0.23],
    })


@pytest.fixture
def emmeans():
    return pd.DataFrame({
        "arm": ["ctrl"] * 3 + ["nw"] * 3,
        "wave": ["baseline", "mid", "post"] * 2,
        "estimate": [3.0, 3.1, 3.05, 3.0, 3.3, 3.6],
        "ci_low": [2.8, 2.9, 2.8, 2.8, 3.1, 3.3],
        "ci_high": [3.2, 3.3, 3.3, 3.2, 3.5, 3.9],
    })


@pytest.fixture
def dist():
    labels = ["Strongly disagree", "Disagree", "Neutral", "Agree", "Strongly agree"]
    rows = []
    for item, shares in [("I belong", [0.05, 0.10, 0.20, 0.40, 0.25]), ("Accepted", [0.1, 0.2, 0.3, 0.3, 0.1])]:
        rows += [(item, lab, lv, sh) for lv, lab, sh in zip(range(1, 6), labels, shares, strict=True)]
    return pd.DataFrame(rows, columns=["item", "label", "level", "share"])


def _all_figures(flow, effects, emmeans, dist):
    prepost = pd.DataFrame({"arm": ["ctrl", "nw"], "estimate": [0.05, 0.4], "ci_low": [-0.1, 0.2],
                            "ci_high": [0.2, 0.6]})
    shares = pd.DataFrame({"arm": ["ctrl", "nw"], "share_improved": [0.12, 0.31],
                           "share_unchanged": [0.78, 0.62], "share_deteriorated": [0.10, 0.07]})
    return [
        charts.flow_chart(flow),
        charts.means_chart(emmeans),
        charts.forest_chart(effects),
        charts.change_chart(prepost),
        charts.reliable_change_chart(shares),
        charts.item_distribution_chart(dist),
    ]


def test_every_figure_has_title_alt_caption_and_safe_colours(flow, effects, emmeans, dist):
    figs = _all_figures(flow, effects, emmeans, dist)
    for k, fig in enumerate(figs):
        assert isinstance(fig, go.Figure)
        assert fig.layout.title.text
        meta = fig.layout.meta
        assert len(meta["alt"]) > 40 and meta["caption"]
        assert meta["note"] is None  # nothing missing in these inputs
        if k == len(figs) - 1:
            continue  # the diverging ramp is checked below
        for trace in fig.data:
            color = trace.marker.color
            colors = [color] if isinstance(color, str) else list(color or [])
            assert set(colors) <= PALETTE, colors
    ramp = {t.name: t.marker.color for t in figs[-1].data}
    assert ramp["Strongly disagree"] == charts.OKABE_ITO["vermillion"]
    assert ramp["Strongly agree"] == charts.OKABE_ITO["blue"]
    assert ramp["Neutral"] == "#BBBBBB"


def test_arm_colours_follow_the_okabe_ito_order(effects):
    fig = charts.forest_chart(effects)
    by_arm = {}
    for t in fig.data:
        by_arm.setdefault(t.name, set()).add(t.marker.color)
    # one colour per arm in every panel, in palette order of first appearance
    assert by_arm == {"nw": {charts.ARM_COLORS[0]}, "sc": {charts.ARM_COLORS[1]}}
    assert charts.ARM_COLORS[0] == "#0072B2"
    # a caller's mapping wins (the study's colours, the same in every figure)
    fig = charts.forest_chart(effects, colors={"nw": "#6E6E6E", "sc": "#009E73"})
    assert {t.name: t.marker.color for t in fig.data} == {"nw": "#6E6E6E", "sc": "#009E73"}


def test_forest_figure_draws_zero_line_and_asymmetric_cis(effects):
    fig = charts.forest_chart(effects)
    line = fig.layout.shapes[0]
    assert line.x0 == 0 and line.x1 == 0
    assert len(fig.layout.shapes) == 2  # one line per outcome panel
    # one row per arm, one panel per outcome; nw (larger average) on top
    nw_hope = next(t for t in fig.data if t.name == "nw" and t.xaxis == "x")
    np.testing.assert_allclose(nw_hope.error_x.array, [0.32])
    np.testing.assert_allclose(nw_hope.error_x.arrayminus, [0.32])
    assert list(fig.layout.yaxis.categoryarray) == ["nw", "sc"]
    sc_bel = next(t for t in fig.data if t.name == "sc" and t.xaxis == "x2")
    np.testing.assert_allclose(sc_bel.x, [-0.05])
    assert [a.text for a in fig.layout.annotations] == ["hope.total", "belonging.total"]
    assert "1 of 4 intervals exclude zero" in fig.layout.meta["alt"]
    assert "Largest: nw on hope.total, 0.42" in fig.layout.meta["alt"]


def test_forest_figure_emphasis_and_shared_scale(effects):
    e = effects.assign(emphasis=[True, False] * (len(effects) // 2) + [True] * (len(effects) % 2))
    fig = charts.forest_chart(e, shared_x=True)
    symbols = {(t.name, t.xaxis): tuple(t.marker.symbol) for t in fig.data}
    for r, flag in zip(e.itertuples(index=False), e["emphasis"], strict=True):
        axis = "x" if r.outcome == e["outcome"].iloc[0] else "x2"
        assert symbols[(r.arm, axis)] == (("square",) if flag else ("square-open",))
    assert fig.layout.xaxis2.matches == "x"  # equal bars mean equal effects in both panels
    plain = charts.forest_chart(effects)
    assert plain.layout.xaxis2.matches is None and all(t.marker.symbol == "square" for t in plain.data)


def test_means_figure_lines_per_arm_in_wave_order(emmeans):
    fig = charts.means_chart(emmeans)
    assert [t.name for t in fig.data] == ["ctrl", "nw"]
    assert list(fig.data[1].x) == ["baseline", "mid", "post"]
    np.testing.assert_allclose(fig.data[1].error_y.array, [0.2, 0.2, 0.3])
    assert "nw: 3.60" in fig.layout.meta["alt"]


def test_suppressed_values_are_absent_with_a_note_never_zero(flow):
    shown = suppress_small_cells(flow, ["assessed"], group_keys=["arm", "wave"], margins=None,
                                 value_cols={"assessed": ["analysed"]})
    fig = charts.flow_chart(shown)
    bars = fig.data[3]  # Narrative Weaving's assessed bars
    assert bars.type == "bar" and bars.name == "Narrative Weaving"
    assert bars.y[0] == 58 and np.isnan(bars.y[1])
    note = fig.layout.meta["note"]
    assert "protect privacy" in note and "it describes fewer than 10 people" in note
    assert "Narrative Weaving / post" in note
    html = display.figure_html(fig)
    assert "Narrative Weaving / post" in html.split("<figcaption>")[1]


def test_missing_without_flag_is_reported_as_not_estimable(emmeans):
    emmeans.loc[5, ["estimate", "ci_low", "ci_high"]] = np.nan
    fig = charts.means_chart(emmeans)
    assert np.isnan(fig.data[1].y[2])
    assert "no estimate is available: nw / post" in fig.layout.meta["note"]
    assert "nw: not shown" in fig.layout.meta["alt"]


def test_reliable_change_stacks_to_one_hundred_percent():
    shares = pd.DataFrame({"arm": ["ctrl", "nw", "sc"], "share_improved": [0.12, 0.31, np.nan],
                           "share_unchanged": [0.78, 0.62, np.nan], "share_deteriorated": [0.10, 0.07, np.nan],
                           "suppressed": [False, False, True]})
    fig = charts.reliable_change_chart(shares)
    total = sum(np.asarray(t.x, dtype=float) for t in fig.data)
    np.testing.assert_allclose(total[:2], [100, 100])
    assert np.isnan(total[2])
    assert fig.layout.barmode == "stack"
    assert "sc" in fig.layout.meta["note"]


def test_item_distribution_diverges_at_the_midpoint(dist):
    fig = charts.item_distribution_chart(dist)
    by_name: dict[str, list[np.ndarray]] = {}
    for t in fig.data:
        by_name.setdefault(t.name, []).append(np.asarray(t.x, dtype=float))
    assert (by_name["Strongly disagree"][0] < 0).all() and (by_name["Disagree"][0] < 0).all()
    assert (by_name["Agree"][0] > 0).all() and (by_name["Strongly agree"][0] > 0).all()
    neutral = by_name["Neutral"]  # split half left, half right
    np.testing.assert_allclose(neutral[0], [-10, -15])
    np.testing.assert_allclose(neutral[1], [10, 15])
    np.testing.assert_allclose(sum(np.abs(x) for xs in by_name.values() for x in xs), [100, 100])
    assert fig.layout.barmode == "relative"
    # the neutral half nearest zero is added first so that it stacks against the axis
    assert fig.data[0].name == "Neutral" and fig.data[2].name == "Disagree"


def test_even_scale_has_no_neutral_split():
    d = pd.DataFrame({"item": ["i"] * 4, "label": list("abcd"), "level": [1, 2, 3, 4],
                      "share": [0.1, 0.2, 0.3, 0.4]})
    fig = charts.item_distribution_chart(d)
    xs = sorted(float(t.x[0]) for t in fig.data)
    assert xs == pytest.approx([-20, -10, 30, 40])


def test_labels_are_escaped_inside_plotly(flow):
    flow = flow.replace({"Narrative Weaving": XSS})
    fig = charts.flow_chart(flow)
    assert fig.data[3].name == "&lt;script&gt;alert(1)&lt;/script&gt;"
    html = display.figure_html(fig, include_plotlyjs=False)
    assert XSS not in html
    assert "<script>alert" not in html


def test_figure_html_is_accessible_and_offline(effects):
    fig = charts.forest_chart(effects)
    html = display.figure_html(fig, div_id="fig-x", caption="Effects <on> hope")
    assert html.startswith('<figure class="me-figure">')
    assert 'id="fig-x" class="plotly-graph-div" role="img" aria-label="Forest plot of effects' in html
    assert "<figcaption>Effects &lt;on&gt; hope</figcaption>" in html
    assert "Plotly.newPlot" in html
    assert '"displaylogo": false' in html and '"responsive": true' in html
    assert "mathjax" not in html.lower()
    assert "plotly.js v" not in html and "<script src" not in html
    with_js = display.figure_html(fig, include_plotlyjs=True)
    assert with_js.count("data-mentor-eval=\"plotlyjs\"") == 1
    head = "* plotly.js (basic - minified) v"  # every trace is a scatter: the partial bundle suffices
    assert with_js.count(head) == 1 and with_js.count("* plotly.js v") == 0
    assert with_js.index(head) < with_js.index("Plotly.newPlot")
    assert len(with_js) < 1.5e6


def test_a_trace_outside_the_partial_bundle_gets_the_full_one(monkeypatch, effects):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append(obj["text/html"]))
    display.reset_plotlyjs()
    display.show(charts.forest_chart(effects))
    display.show(go.Figure(go.Heatmap(z=[[1, 2], [3, 4]])))
    display.show(go.Figure(go.Heatmap(z=[[1, 2], [3, 4]])))
    display.show(charts.forest_chart(effects))
    assert ['data-bundle="basic"' in h for h in shown] == [True, False, False, False]
    assert ['data-bundle="full"' in h for h in shown] == [False, True, False, False]
    display.reset_plotlyjs()


def test_show_embeds_plotlyjs_only_on_the_first_call(monkeypatch, effects):
    import IPython.display

    shown: list[dict] = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append(obj))
    display.reset_plotlyjs()
    fig = charts.forest_chart(effects)
    display.show(fig)
    display.show(fig, caption="Second")
    display.show_table(effects, caption="Effects table")
    assert [("data-mentor-eval=\"plotlyjs\"" in s["text/html"]) for s in shown[:2]] == [True, False]
    assert "<figcaption>Second</figcaption>" in shown[1]["text/html"]
    assert shown[2]["text/html"].startswith('<div class="me-table-wrap">')
    ids = [s["text/html"].split('class="plotly-graph-div"')[0].rsplit('id="', 1)[1] for s in shown[:2]]
    assert ids[0] != ids[1]
    display.reset_plotlyjs()


@pytest.mark.parametrize(
    ("func", "frame", "match"),
    [
        (charts.forest_chart, pd.DataFrame({"outcome": ["o"], "arm": ["a"], "estimate": [1.0]}), "lacks the column"),
        (charts.forest_chart, pd.DataFrame({"outcome": ["o"], "arm": ["a"], "estimate": [1.0],
                                              "ci_low": [2.0], "ci_high": [0.0]}), "ci_low <= ci_high"),
        (charts.reliable_change_chart, pd.DataFrame({"arm": ["a"], "share_improved": [30],
                                                       "share_unchanged": [60], "share_deteriorated": [10]}),
         r"proportions in \[0, 1\]"),
        (charts.item_distribution_chart, pd.DataFrame({"item": ["i"], "label": ["x"], "level": [None],
                                                         "share": [0.5]}), "level"),
    ],
)
def test_bad_input_gives_clear_errors(func, frame, match):
    with pytest.raises(ParameterError, match=match):
        func(frame)


def test_show_rejects_non_figures():
    with pytest.raises(ParameterError, match="plotly Figure"):
        display.figure_html({"data": []})


def test_means_axis_has_no_false_zero(emmeans):
    fig = charts.means_chart(emmeans)
    lo, hi = fig.layout.yaxis.range
    est = emmeans[["ci_low", "ci_high"]].to_numpy(dtype=float)
    assert lo > 0 and lo <= est.min() and hi >= est.max()


def test_reliable_change_names_small_categories_under_the_arm():
    shares = pd.DataFrame({
        "arm": ["Control", "Program"], "n": [140, 160],
        "share_improved": [np.nan, np.nan], "share_unchanged": [np.nan, 0.93], "share_deteriorated": [np.nan, np.nan],
        "share_not_improved": [np.nan, np.nan], "share_not_deteriorated": [np.nan, np.nan],
        "small_categories": ["improved, deteriorated", "improved"],
        "suppressed": [True, True], "suppression": ["primary", "primary"],
    })
    shares.attrs = {"suppression": {"min_cell": 10}}
    fig = charts.reliable_change_chart(shares)
    ticks = list(fig.layout.yaxis.ticktext)
    assert "improved and deteriorated: fewer than 10 each" in ticks[0] and ticks[0].startswith("Control<br>")
    assert "improved: fewer than 10" in ticks[1] and "deteriorated" not in ticks[1]
    note = fig.layout.meta["note"]
    # no row is described as a group of fewer than 10 people: both arms are large, only counts are small
    assert "describes fewer than 10 people" not in note and "Groups of fewer than 10 people" in note
    # without small categories the axis keeps its plain labels
    plain = charts.reliable_change_chart(shares.drop(columns=["small_categories"]))
    assert plain.layout.yaxis.ticktext is None
