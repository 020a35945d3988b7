"""Charts: one function per kind of chart, each drawing a tidy frame (no study knowledge).

Every function returns a :class:`plotly.graph_objects.Figure` with a title and a
``layout.meta`` dict holding ``alt`` (a text alternative for screen readers),
``caption`` (the visible caption) and ``note`` (what is not drawn and why, or
``None``). :mod:`mentor_eval.report.figures` wraps them for a study's protected results and
:mod:`mentor_eval.report.display` shows them on a page.

Arm colours come from :mod:`mentor_eval.report.palette` (colour-blind safe, at least
3:1 contrast on white; control grey); other colours from the Okabe--Ito palette [1]_,
which stays distinguishable under the common colour-vision deficiencies. Values that are missing --
in particular cells suppressed by :func:`mentor_eval.report.disclosure.suppress_small_cells`
-- are drawn as absent and listed in a note, never as zero.

References
----------
.. [1] Okabe, M. & Ito, K. (2008). Color Universal Design (CUD): how to make
   figures and presentations that are friendly to colorblind people.
   https://jfly.uni-koeln.de/color/
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from mentor_eval._params import check_columns
from mentor_eval.errors import ParameterError
from mentor_eval.report.disclosure import reason_text
from mentor_eval.report.html import escape
from mentor_eval.report.palette import ARM_PALETTE_8, NEUTRAL, OKABE_ITO, arm_colors

__all__ = [
    "OKABE_ITO",
    "ARM_COLORS",
    "flow_chart",
    "means_chart",
    "forest_chart",
    "change_chart",
    "reliable_change_chart",
    "item_distribution_chart",
]

#: Colours of the arms when a chart is not told them (position order); reports pass
#: the study's own mapping (:func:`mentor_eval.report.palette.study_arm_colors`).
ARM_COLORS: tuple[str, ...] = ARM_PALETTE_8

_NEUTRAL = NEUTRAL
_FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'


# --------------------------------------------------------------------------- helpers


def _levels(s: pd.Series) -> list[Any]:
    """Category order: the categorical order if any, else order of first appearance."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return [c for c in s.cat.categories if c in set(s.dropna())]
    return list(pd.unique(s.dropna()))


def _lab(value: Any) -> str:
    """A user-supplied label as plotly text: escaped, so plotly shows markup as characters."""
    return escape(value)


def _color_map(arms: Sequence[Any], colors: Mapping[Any, str] | None = None) -> dict[Any, str]:
    """The caller's arm -> colour mapping (the study's, the same in every figure); arms it
    does not know get palette colours in order."""
    fallback = arm_colors(arms)
    if not colors:
        return fallback
    return {a: colors.get(a, fallback[a]) for a in arms}


def _suppressed_rows(frame: pd.DataFrame, cols: Sequence[str]) -> np.ndarray:
    flag = np.zeros(len(frame), dtype=bool)
    if "suppressed" in frame.columns:
        flag |= frame["suppressed"].fillna(False).to_numpy(dtype=bool)
    for c in cols:
        own = f"{c}_suppressed"
        if own in frame.columns:
            flag |= frame[own].fillna(False).to_numpy(dtype=bool)
    return flag


def _absent_note(frame: pd.DataFrame, cols: Sequence[str], keys: Sequence[str]) -> str | None:
    """Say which values are not drawn: suppressed (privacy) or missing (not estimable)."""
    na = frame[list(cols)].isna().any(axis=1).to_numpy()
    if not na.any():
        return None
    sup = _suppressed_rows(frame, cols) & na
    other = na & ~sup

    def where(mask: np.ndarray) -> str:
        rows = list(dict.fromkeys(frame.loc[mask, list(keys)].astype(str).agg(" / ".join, axis=1)))
        shown = "; ".join(rows[:6]) + (f"; and {len(rows) - 6} more" if len(rows) > 6 else "")
        return shown

    parts = []
    if sup.any():
        min_cell = frame.attrs.get("suppression", {}).get("min_cell")
        kinds = np.array([k if isinstance(k, str) else "primary" for k in frame["suppression"].tolist()],
                         dtype=object) if "suppression" in frame.columns else np.full(len(frame), "primary", object)
        for kind in ("primary", "secondary", "derived"):
            mask = sup & (kinds == kind) if kind != "primary" else sup & ~np.isin(kinds, ["secondary", "derived"])
            if mask.any():
                parts.append(f"Not shown to protect privacy, because {reason_text(kind, min_cell)}: {where(mask)}.")
    if other.any():
        parts.append(f"Not shown because no estimate is available: {where(other)}.")
    return " ".join(parts)


def _check_ci(func: str, frame: pd.DataFrame) -> None:
    lo, hi = frame["ci_low"].to_numpy(dtype=float), frame["ci_high"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        bad = lo > hi
    if bad.any():
        rows = frame.index[bad][:5].tolist()
        raise ParameterError(
            f"The confidence limits given to {func} must have ci_low <= ci_high; rows {rows} do not."
        )


def _check_shares(func: str, frame: pd.DataFrame, cols: Sequence[str]) -> None:
    vals = frame[list(cols)].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        bad = (vals < 0) | (vals > 1)
    if bad.any():
        rows = frame.index[bad.any(axis=1)][:5].tolist()
        raise ParameterError(
            f"The shares given to {func} must be proportions in [0, 1]; rows {rows} are not."
        )


def _finish(fig: go.Figure, title: str, alt: str, caption: str, note: str | None, height: int = 420) -> go.Figure:
    fig.update_layout(
        # long titles wrap (a title wider than the plot is clipped at desktop width)
        title={"text": _wrap(title, 75), "xref": "container", "x": 0.02, "xanchor": "left",
               "yref": "container", "y": 1.0, "yanchor": "top", "pad": {"t": 22}},
        template="plotly_white",
        colorway=list(ARM_COLORS),
        font={"family": _FONT, "size": 13},
        height=height,
        margin={"l": 10, "r": 10, "t": 60 + 20 * (len(textwrap.wrap(str(title), 75)) - 1), "b": 10},
        # Legend pinned to the bottom of the figure (container coordinates) so that it
        # pushes the plot up instead of colliding with axis titles or the title on a phone.
        legend={"orientation": "h", "yref": "container", "yanchor": "bottom", "y": 0, "xanchor": "left",
                "x": 0, "traceorder": "normal"},
        meta={"alt": alt, "caption": caption, "note": note},
    )
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    return fig


def _fmt(x: float, digits: int = 2) -> str:
    return "not shown" if pd.isna(x) else f"{x:.{digits}f}"


def _with_ci(est: float, lo: float, hi: float) -> str:
    if pd.isna(est):
        return "not shown"
    return f"{est:.2f} (95% CI {_fmt(lo)} to {_fmt(hi)})"


def _err(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    est = frame["estimate"].to_numpy(dtype=float)
    return frame["ci_high"].to_numpy(dtype=float) - est, est - frame["ci_low"].to_numpy(dtype=float)


def _float_frame(frame: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    """Copy with the value columns as float (nullable <NA> -> NaN, so plotly leaves gaps)."""
    out = frame.copy()
    for c in cols:
        out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
    return out


# --------------------------------------------------------------------------- figures


def flow_chart(flow: pd.DataFrame, *, title: str = "Participant flow", colors: Mapping[Any, str] | None = None) -> go.Figure:
    """Participants enrolled, assessed and analysed, per arm and wave.

    Parameters
    ----------
    flow : pandas.DataFrame
        One row per arm x wave with columns ``arm``, ``wave``, ``enrolled``,
        ``assessed``, ``analysed`` (counts; missing where suppressed).
    title : str, default "Participant flow"

    Returns
    -------
    plotly.graph_objects.Figure
        Bars: participants assessed at each wave, one colour per arm. Markers on
        each bar: enrolled (horizontal tick) and analysed (diamond).
        ``layout.meta`` holds ``alt``, ``caption`` and ``note``.

    Notes
    -----
    Missing (e.g. suppressed) counts leave the bar out and are listed in the note.

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"arm": ["a", "a"], "wave": ["pre", "post"], "enrolled": [50, 50],
    ...                   "assessed": [48, 40], "analysed": [48, 40]})
    >>> flow_chart(f).layout.meta["alt"].startswith("Bar chart")
    True
    """
    func = "flow_chart"
    cols = ["enrolled", "assessed", "analysed"]
    check_columns(func, flow, ["arm", "wave", *cols], what="flow")
    df = _float_frame(flow, cols)
    arms, waves = _levels(df["arm"]), _levels(df["wave"])
    colors = _color_map(arms, colors)
    fig = go.Figure()
    for i, arm in enumerate(arms):
        sub = df[df["arm"] == arm].set_index("wave").reindex(waves)
        x = [_lab(w) for w in waves]
        fig.add_trace(go.Bar(
            x=x, y=sub["assessed"], name=_lab(arm), marker_color=colors[arm], offsetgroup=str(i),
            legendgroup=str(i), customdata=sub[cols].to_numpy(),
            hovertemplate=("Enrolled %{customdata[0]:.0f}<br>Assessed %{customdata[1]:.0f}"
                           "<br>Analysed %{customdata[2]:.0f}<extra>" + _lab(arm) + "</extra>"),
        ))
        for col, symbol, label in (("enrolled", "line-ew-open", "Enrolled"), ("analysed", "diamond", "Analysed")):
            fig.add_trace(go.Scatter(
                x=x, y=sub[col], mode="markers", offsetgroup=str(i), name=label,
                legendgroup=label, showlegend=i == 0, hoverinfo="skip",
                marker={"symbol": symbol, "size": 14 if col == "enrolled" else 8, "color": "#000000",
                        "line": {"width": 2, "color": "#000000"}},
            ))
    fig.update_layout(barmode="group", scattermode="group", yaxis_title="Participants", xaxis_title="Wave")
    note = _absent_note(df, cols, ["arm", "wave"])
    last = df[df["wave"] == waves[-1]] if waves else df
    retained = ", ".join(
        f"{a}: not shown" if pd.isna(r.assessed) else f"{a}: {r.assessed:.0f} of {_fmt(r.enrolled, 0)}"
        for a, r in zip(last["arm"], last.itertuples(), strict=True)
    )
    alt = (f"Bar chart of participants assessed at each of {len(waves)} waves for {len(arms)} arms "
           f"({', '.join(map(str, arms))}), with enrolled and analysed counts as markers. "
           f"Assessed at the last wave: {retained}.")
    caption = "Participants assessed per wave and arm; markers show enrolled (tick) and analysed (diamond)."
    return _finish(fig, title, alt, caption, note)


def means_chart(emmeans: pd.DataFrame, *, title: str = "Adjusted means by arm and wave",
                 y_title: str = "Adjusted mean", colors: Mapping[Any, str] | None = None) -> go.Figure:
    """Adjusted (estimated marginal) means per arm and wave with confidence intervals.

    Parameters
    ----------
    emmeans : pandas.DataFrame
        One row per arm x wave: ``arm``, ``wave``, ``estimate``, ``ci_low``, ``ci_high``.
    title, y_title : str

    Returns
    -------
    plotly.graph_objects.Figure
        One line per arm across waves, points dodged, CI error bars;
        ``layout.meta`` holds ``alt``, ``caption``, ``note``.

    Notes
    -----
    Missing estimates leave a gap in the arm's line and are listed in the note.

    Examples
    --------
    >>> import pandas as pd
    >>> m = pd.DataFrame({"arm": ["a", "a"], "wave": ["pre", "post"], "estimate": [3.0, 3.4],
    ...                   "ci_low": [2.8, 3.1], "ci_high": [3.2, 3.7]})
    >>> len(means_chart(m).data)
    1
    """
    func = "means_chart"
    cols = ["estimate", "ci_low", "ci_high"]
    check_columns(func, emmeans, ["arm", "wave", *cols], what="emmeans")
    df = _float_frame(emmeans, cols)
    _check_ci(func, df)
    arms, waves = _levels(df["arm"]), _levels(df["wave"])
    colors = _color_map(arms, colors)
    fig = go.Figure()
    for i, arm in enumerate(arms):
        sub = df[df["arm"] == arm].set_index("wave").reindex(waves)
        plus, minus = _err(sub)
        fig.add_trace(go.Scatter(
            x=[_lab(w) for w in waves], y=sub["estimate"], name=_lab(arm), mode="lines+markers",
            offsetgroup=str(i), marker={"color": colors[arm], "size": 9}, line={"color": colors[arm]},
            error_y={"type": "data", "array": plus, "arrayminus": minus, "visible": True, "thickness": 1.5},
            customdata=sub[["ci_low", "ci_high"]].to_numpy(),
            hovertemplate="%{y:.2f} (95% CI %{customdata[0]:.2f} to %{customdata[1]:.2f})<extra>"
            + _lab(arm) + "</extra>",
        ))
    fig.update_layout(scattermode="group", scattergap=0.7, yaxis_title=_wrap(y_title, 28), xaxis_title="Wave")
    # Scale scores never start at a false zero: the axis spans the intervals drawn.
    lo, hi = np.nanmin(df[["ci_low", "estimate"]].to_numpy(dtype=float), initial=np.inf), np.nanmax(
        df[["ci_high", "estimate"]].to_numpy(dtype=float), initial=-np.inf)
    if np.isfinite(lo) and np.isfinite(hi):
        pad = max((hi - lo) * 0.15, 1e-6)
        fig.update_yaxes(range=[float(lo - pad), float(hi + pad)])
    last = df[df["wave"] == waves[-1]] if waves else df
    at_end = ", ".join(f"{a}: {_fmt(e)}" for a, e in zip(last["arm"], last["estimate"], strict=True))
    alt = (f"Line chart of adjusted means with 95% confidence intervals for {len(arms)} arms across "
           f"{len(waves)} waves. At the last wave ({waves[-1] if waves else ''}): {at_end}.")
    caption = "Adjusted means by arm and wave; bars show 95% confidence intervals."
    return _finish(fig, title, alt, caption, _absent_note(df, cols, ["arm", "wave"]))


def _wrap(text: Any, width: int = 34) -> str:
    """Escaped label wrapped onto lines of at most ``width`` characters (plotly ``<br>``)."""
    parts = textwrap.wrap(str(text), width) or [str(text)]
    return "<br>".join(_lab(x) for x in parts)


def _filled(flag: Any) -> bool:
    """An emphasis flag as a marker choice: missing (a hidden or absent value) is not emphasised."""
    return False if pd.isna(flag) else bool(flag)


def forest_chart(effects: pd.DataFrame, *, title: str = "Effects compared with control",
                 x_title: str = "Difference from control", colors: Mapping[Any, str] | None = None,
                 sort: bool = True, labels: Sequence[str] | None = None, shared_x: bool = False) -> go.Figure:
    """Forest plot: effect of each arm versus control, one labelled row per arm, one panel per outcome.

    Parameters
    ----------
    effects : pandas.DataFrame
        One row per outcome x arm: ``outcome``, ``arm``, ``estimate``, ``ci_low``, ``ci_high``;
        optional ``text`` (a short value label drawn beside the point, e.g. the
        improvement index), ``hover`` (extra hover text) and ``emphasis`` (bool: a
        filled square when True, an open one when False; all filled when absent).
    title, x_title : str
    colors : mapping, optional
        Arm -> colour (the study's; default: palette order).
    sort : bool, default True
        Rows ordered by the arm's average estimate across outcomes, largest on top
        (False: the order of ``effects``).
    labels : sequence of str, optional
        Panel titles (default: the outcome values).
    shared_x : bool, default False
        One x scale for every panel: use it when the outcomes share a unit (standardized
        effects), so equal bars mean equal effects; different units keep their own scales.

    Returns
    -------
    plotly.graph_objects.Figure
        One panel per outcome side by side, sharing the arm rows; each arm one colour
        in every panel, a horizontal 95% CI bar and a dashed line at 0 (no effect).
        The height grows with the number of arms, so fifteen arms stay readable.
        ``layout.meta`` holds ``alt``, ``caption``, ``note``.

    Notes
    -----
    A CI that does not cross the line at 0 excludes "no difference" at its level.
    Missing estimates (suppressed or not estimable) leave the row empty and are listed
    in the note.

    Examples
    --------
    >>> import pandas as pd
    >>> e = pd.DataFrame({"outcome": ["hope"], "arm": ["a"], "estimate": [0.3],
    ...                   "ci_low": [0.1], "ci_high": [0.5]})
    >>> forest_chart(e).layout.shapes[0].x0
    0
    """
    from plotly.subplots import make_subplots

    func = "forest_chart"
    cols = ["estimate", "ci_low", "ci_high"]
    check_columns(func, effects, ["outcome", "arm", *cols], what="effects")
    df = _float_frame(effects, cols)
    _check_ci(func, df)
    arms, outcomes = _levels(df["arm"]), _levels(df["outcome"])
    if sort and arms:
        avg = df.groupby("arm", sort=False)["estimate"].mean()
        arms = sorted(arms, key=lambda a: (-(avg.get(a) if pd.notna(avg.get(a)) else -np.inf), arms.index(a)))
    colors = _color_map(_levels(df["arm"]), colors)
    titles = list(labels) if labels is not None else [str(o) for o in outcomes]
    n_out = max(1, len(outcomes))
    panel_titles = [_wrap(t, max(20, 70 // n_out)) for t in titles]
    fig = make_subplots(rows=1, cols=n_out, shared_yaxes=True, horizontal_spacing=0.06 if n_out > 1 else 0.0,
                        subplot_titles=panel_titles)
    # Panel titles and axis titles wrap to their panel's width (side by side they would overlap);
    # the top margin makes room for the tallest panel title under the figure title.
    panel_lines = max((t.count("<br>") + 1 for t in panel_titles), default=1)
    axis_title = _wrap(x_title, max(18, 100 // n_out)) if n_out > 1 else _lab(x_title)
    y = [_lab(a) for a in arms]
    show_text = "text" in df.columns and len(arms) <= 8
    for j, o in enumerate(outcomes):
        sub = df[df["outcome"] == o].set_index("arm").reindex(arms)
        for arm in arms:
            r = sub.loc[[arm]]
            plus, minus = _err(r)
            hover = ("%{x:.2f} (95% CI %{customdata[0]:.2f} to %{customdata[1]:.2f})"
                     + (" %{customdata[2]}" if "hover" in r.columns else "") + "<extra>" + _lab(arm) + "</extra>")
            custom = r[["ci_low", "ci_high"]].astype(object).to_numpy()
            if "hover" in r.columns:
                custom = np.column_stack([custom, [_lab(h) if isinstance(h, str) else "" for h in r["hover"]]])
            fig.add_trace(go.Scatter(
                y=[_lab(arm)], x=r["estimate"], name=_lab(arm), legendgroup=_lab(arm), showlegend=False,
                mode="markers+text" if show_text else "markers",
                text=[_lab(t) if isinstance(t, str) else "" for t in r["text"]] if show_text else None,
                textposition="top center", textfont={"size": 11},
                marker={"color": colors[arm], "size": 10,
                        "symbol": [("square" if _filled(e) else "square-open") for e in r["emphasis"]]
                        if "emphasis" in r.columns else "square"},
                error_x={"type": "data", "array": plus, "arrayminus": minus, "visible": True, "thickness": 2,
                         "color": colors[arm]},
                customdata=custom, hovertemplate=hover,
            ), row=1, col=j + 1)
        fig.add_vline(x=0, line_dash="dash", line_color="#555555", line_width=1, row=1, col=j + 1)
        fig.update_xaxes(title_text=axis_title, title_font={"size": 12}, row=1, col=j + 1, zeroline=False)
    fig.update_yaxes(autorange="reversed", type="category", categoryorder="array", categoryarray=y)
    if shared_x and n_out > 1:
        fig.update_xaxes(matches="x")
    for ann in fig.layout.annotations:  # the panel titles
        ann.update(font={"size": 13})
    excl = df[(df["ci_low"] > 0) | (df["ci_high"] < 0)]
    alt = (f"Forest plot of effects versus control: {len(arms)} arms (one row each), {len(outcomes)} "
           f"{'outcome' if len(outcomes) == 1 else 'outcomes'} (one panel each), with 95% confidence intervals "
           f"and a line at zero. {len(excl)} of {int(df['estimate'].notna().sum())} intervals exclude zero.")
    if len(df) and df["estimate"].notna().any():
        top = df.loc[df["estimate"].abs().idxmax()]
        alt += f" Largest: {top['arm']} on {top['outcome']}, {_with_ci(top['estimate'], top['ci_low'], top['ci_high'])}."
    caption = "Effect of each arm compared with control, with 95% confidence intervals; the dashed line marks no difference."
    extra = 17 * (panel_lines - 1) + 15 * axis_title.count("<br>")
    height = 140 + 32 * max(1, len(arms)) + (14 if show_text else 0) * len(arms) + extra
    fig = _finish(fig, title, alt, caption, _absent_note(df, cols, ["outcome", "arm"]), height=int(height))
    title_lines = len(textwrap.wrap(str(title), 75)) or 1
    fig.update_layout(margin={"t": 72 + 20 * (title_lines - 1) + 17 * panel_lines})
    return fig


def change_chart(prepost: pd.DataFrame, *, title: str = "Change from pre to post",
                  y_title: str = "Mean change (post minus pre)", colors: Mapping[Any, str] | None = None) -> go.Figure:
    """Mean pre/post change per arm with confidence intervals.

    Parameters
    ----------
    prepost : pandas.DataFrame
        One row per arm: ``arm``, ``estimate`` (mean change), ``ci_low``, ``ci_high``.
    title, y_title : str

    Returns
    -------
    plotly.graph_objects.Figure
        One bar per arm with a CI error bar and a line at 0; ``layout.meta`` holds
        ``alt``, ``caption``, ``note``.

    Notes
    -----
    A missing change leaves its bar out and is listed in the note.

    Examples
    --------
    >>> import pandas as pd
    >>> p = pd.DataFrame({"arm": ["a", "b"], "estimate": [0.4, 0.1], "ci_low": [0.2, -0.1],
    ...                   "ci_high": [0.6, 0.3]})
    >>> change_chart(p).data[0].type
    'bar'
    """
    func = "change_chart"
    cols = ["estimate", "ci_low", "ci_high"]
    check_columns(func, prepost, ["arm", *cols], what="prepost")
    df = _float_frame(prepost, cols)
    _check_ci(func, df)
    arms = _levels(df["arm"])
    colors = _color_map(arms, colors)
    sub = df.drop_duplicates("arm").set_index("arm").reindex(arms)
    plus, minus = _err(sub)
    fig = go.Figure(go.Bar(
        x=[_lab(a) for a in arms], y=sub["estimate"], marker_color=[colors[a] for a in arms],
        error_y={"type": "data", "array": plus, "arrayminus": minus, "visible": True, "thickness": 1.5,
                 "color": "#000000"},
        customdata=sub[["ci_low", "ci_high"]].to_numpy(), showlegend=False,
        hovertemplate="%{y:.2f} (95% CI %{customdata[0]:.2f} to %{customdata[1]:.2f})<extra>%{x}</extra>",
    ))
    fig.add_hline(y=0, line_color="#555555", line_width=1)
    fig.update_layout(yaxis_title=_lab(y_title), xaxis_title="Arm")
    desc = "; ".join(f"{a}: {_with_ci(r.estimate, r.ci_low, r.ci_high)}" for a, r in zip(arms, sub.itertuples(), strict=True))
    alt = f"Bar chart of mean change from pre to post with 95% confidence intervals for {len(arms)} arms: {desc}."
    caption = "Mean change from pre to post within each arm; bars show 95% confidence intervals."
    return _finish(fig, title, alt, caption, _absent_note(df, cols, ["arm"]))


def reliable_change_chart(shares: pd.DataFrame, *, title: str = "Reliable change") -> go.Figure:
    """Shares of participants who reliably improved, did not change, or deteriorated.

    Parameters
    ----------
    shares : pandas.DataFrame
        One row per arm: ``arm``, ``share_improved``, ``share_unchanged``,
        ``share_deteriorated`` (proportions in [0, 1]).
    title : str

    Returns
    -------
    plotly.graph_objects.Figure
        Horizontal 100% stacked bars (improved, unchanged, deteriorated), one per
        arm, labelled in percent; ``layout.meta`` holds ``alt``, ``caption``, ``note``.

    Notes
    -----
    An arm with missing (e.g. suppressed) shares has no bar; the note says why.

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"arm": ["a"], "share_improved": [0.3], "share_unchanged": [0.6],
    ...                   "share_deteriorated": [0.1]})
    >>> [t.name for t in reliable_change_chart(s).data]
    ['Improved', 'Unchanged', 'Deteriorated']
    """
    func = "reliable_change_chart"
    cols = ["share_improved", "share_unchanged", "share_deteriorated"]
    check_columns(func, shares, ["arm", *cols], what="shares")
    merged = [c for c in ("share_not_improved", "share_not_deteriorated") if c in shares.columns]
    df = _float_frame(shares, [*cols, *merged])
    _check_shares(func, df, [*cols, *merged])
    arms = _levels(df["arm"])
    sub = df.drop_duplicates("arm").set_index("arm").reindex(arms)
    fig = go.Figure()
    for col, name, color in (("share_improved", "Improved", OKABE_ITO["blue"]),
                             ("share_unchanged", "Unchanged", _NEUTRAL),
                             ("share_deteriorated", "Deteriorated", OKABE_ITO["vermillion"])):
        pct = sub[col] * 100
        fig.add_trace(go.Bar(
            y=[_lab(a) for a in arms], x=pct, name=name, orientation="h", marker_color=color,
            text=[f"{v:.0f}%" if pd.notna(v) else "" for v in pct], textposition="inside", textangle=0,
            hovertemplate="%{x:.1f}%<extra>" + name + "</extra>",
        ))
    # Where a small category and its complement are withheld, their merged share is drawn
    # (hatched), so the bar still shows how many improved and is never left blank.
    for col, name, after in (("share_not_improved", "Unchanged or deteriorated (split withheld)", True),
                             ("share_not_deteriorated", "Improved or unchanged (split withheld)", False)):
        if col not in df.columns or not pd.to_numeric(df[col], errors="coerce").notna().any():
            continue
        pct = pd.to_numeric(sub[col], errors="coerce") * 100
        fig.add_trace(go.Bar(
            y=[_lab(a) for a in arms], x=pct, name=name, orientation="h", marker_color=_NEUTRAL,
            marker_pattern_shape="/", text=[f"{v:.0f}%" if pd.notna(v) else "" for v in pct],
            textposition="inside", textangle=0, hovertemplate="%{x:.1f}%<extra>" + name + "</extra>",
        ))
        if not after:  # keep improved-or-unchanged on the left of the stack
            fig.data = (fig.data[-1], *fig.data[:-1])
    fig.update_layout(barmode="stack", xaxis={"range": [0, 100], "ticksuffix": "%", "title": "Participants"},
                      uniformtext={"minsize": 9, "mode": "hide"})
    fig.update_yaxes(autorange="reversed", type="category")
    # A category withheld for being small is named under its arm ("improved: fewer than 10"),
    # so a row with little or nothing drawn never reads as "nobody improved".
    m = df.attrs.get("suppression", {}).get("min_cell")
    small = sub["small_categories"] if "small_categories" in sub.columns else pd.Series("", index=sub.index)
    labelled = [isinstance(v, str) and v.strip() != "" for v in small]
    if any(labelled):
        ticks = []
        for a, v, has in zip(arms, small, labelled, strict=True):
            if not has:
                ticks.append(_lab(a))
                continue
            cats = [c.strip() for c in v.split(",") if c.strip()]
            few = f"fewer than {m}" if m else "too few to show"
            words = f"{' and '.join(cats)}: {few}{' each' if len(cats) > 1 else ''}"
            ticks.append(f'{_lab(a)}<br><span style="font-size:11px;color:#444444">{_lab(words)}</span>')
        fig.update_yaxes(tickmode="array", tickvals=[_lab(a) for a in arms], ticktext=ticks)
    desc = "; ".join(
        f"{a}: not shown" if pd.isna(r.share_improved) else
        f"{a}: {r.share_improved * 100:.0f}% improved, {_fmt(r.share_deteriorated * 100, 0)}% deteriorated"
        for a, r in zip(arms, sub.itertuples(), strict=True)
    )
    alt = f"Stacked bar chart of reliable change for {len(arms)} arms. {desc}."
    caption = "Share of participants whose change exceeds measurement error (reliable change index)."
    # the note lists the arms with nothing drawn; a partly hidden row is labelled under its arm
    drawn = sub[[*cols, *merged]].notna().any(axis=1) | pd.Series(labelled, index=sub.index)
    drawn = drawn.reindex(df["arm"]).to_numpy()
    note = _absent_note(df[~drawn], cols, ["arm"]) if (~drawn).any() else None
    if any(labelled):
        few = f"fewer than {m}" if m else "too few"
        note = ((note + " ") if note else "") + (
            f"Groups of {few} people are not drawn (the line under an arm says which); where only the unchanged "
            "share would be left, it is hidden too, as it would give away how many changed.")
    return _finish(fig, title, alt, caption, note, height=max(260, 140 + 50 * len(arms)))


def _ramp(start: str, end: str, n: int) -> list[str]:
    if n <= 0:
        return []
    a = np.array([int(start[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)
    b = np.array([int(end[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)
    steps = [a] if n == 1 else [a + (b - a) * k / (n - 1) for k in range(n)]
    return ["#" + "".join(f"{int(round(c)):02X}" for c in s) for s in steps]


def item_distribution_chart(dist: pd.DataFrame, *, title: str = "Item responses") -> go.Figure:
    """Diverging stacked bars of item-level response distributions.

    Parameters
    ----------
    dist : pandas.DataFrame
        One row per item x response level: ``item`` (item text or id), ``label``
        (the response option's wording), ``level`` (its numeric value), ``share``
        (proportion of respondents in [0, 1]).
    title : str

    Returns
    -------
    plotly.graph_objects.Figure
        One horizontal bar per item. Levels below the midpoint of the scale
        ((min + max) / 2) extend to the left of 0, levels above it to the right; a
        level exactly at the midpoint is split half and half. Colours run from
        vermillion (low) through grey to blue (high); ``layout.meta`` holds ``alt``,
        ``caption``, ``note``.

    Notes
    -----
    The axis shows percent of respondents on each side. Missing shares (e.g.
    suppressed items) are left out and listed in the note.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"item": ["i1"] * 3, "label": ["No", "Unsure", "Yes"],
    ...                   "level": [1, 2, 3], "share": [0.2, 0.3, 0.5]})
    >>> sorted(round(float(t.x[0]), 1) for t in item_distribution_chart(d).data)
    [-20.0, -15.0, 15.0, 50.0]
    """
    func = "item_distribution_chart"
    check_columns(func, dist, ["item", "label", "level", "share"], what="dist")
    df = _float_frame(dist, ["share", "level"])
    if df["level"].isna().any():
        raise ParameterError(f"The 'level' column given to {func} must hold numbers for every row.")
    _check_shares(func, df, ["share"])
    items = _levels(df["item"])
    levels = sorted(df["level"].unique())
    labels = df.drop_duplicates("level").set_index("level")["label"]
    mid = (levels[0] + levels[-1]) / 2
    low = [lv for lv in levels if lv < mid]
    high = [lv for lv in levels if lv > mid]
    colors = dict(zip(low, _ramp(OKABE_ITO["vermillion"], "#F3C9A7", len(low)), strict=True))
    colors.update(zip(high, _ramp("#A9D2EE", OKABE_ITO["blue"], len(high)), strict=True))
    colors[mid] = _NEUTRAL
    wide = df.pivot_table(index="item", columns="level", values="share", aggfunc="first", dropna=False)
    wide = wide.reindex(index=items, columns=levels)
    # Long item wordings wrap so the bars keep their width on a phone.
    y = ["<br>".join(_lab(part) for part in textwrap.wrap(str(i), 28)) or _lab(i) for i in items]
    fig = go.Figure()

    def add(level: float, x: np.ndarray, side_sign: int, show: bool) -> None:
        shown = wide[level].to_numpy(dtype=float) * 100
        fig.add_trace(go.Bar(
            y=y, x=side_sign * x, name=_lab(labels.get(level, level)), orientation="h",
            marker_color=colors[level], legendgroup=str(level), showlegend=show, legendrank=int(level * 10) + 1,
            customdata=shown, hovertemplate="%{customdata:.1f}%<extra>" + _lab(labels.get(level, level)) + "</extra>",
        ))

    # Traces stack outward from 0 in the order added: levels nearest the midpoint first.
    if mid in levels:
        half = wide[mid].to_numpy(dtype=float) * 50
        add(mid, half, -1, True)
        add(mid, half, 1, False)
    for lv in sorted(low, reverse=True):
        add(lv, wide[lv].to_numpy(dtype=float) * 100, -1, True)
    for lv in high:
        add(lv, wide[lv].to_numpy(dtype=float) * 100, 1, True)
    left = (wide[low].sum(axis=1) + (wide[mid] / 2 if mid in levels else 0)).max() * 100
    right = (wide[high].sum(axis=1) + (wide[mid] / 2 if mid in levels else 0)).max() * 100
    reach = min(100, 25 * np.ceil(np.nanmax([left, right, 25.0]) / 25))
    ticks = [t for t in (-100, -75, -50, -25, 0, 25, 50, 75, 100) if abs(t) <= reach]
    fig.update_layout(
        barmode="relative",
        xaxis={"tickvals": ticks, "ticktext": [f"{abs(t)}%" for t in ticks], "range": [-reach, reach],
               "title": "Respondents (%)", "zeroline": True,
               "zerolinecolor": "#555555"},
    )
    fig.update_yaxes(autorange="reversed", type="category")
    high_share = wide[high].sum(axis=1, min_count=1) * 100 if high else pd.Series(np.nan, index=items)
    desc = "; ".join(
        f"{i}: not shown" if pd.isna(v) else f"{i}: {v:.0f}% above the midpoint" for i, v in high_share.items()
    )
    alt = (f"Diverging stacked bar chart of responses to {len(items)} items on a {len(levels)}-point scale; "
           f"lower responses extend left, higher right. {desc}.")
    caption = "Distribution of responses per item; bars left of centre are answers below the scale midpoint."
    note = _absent_note(df, ["share"], ["item"])
    return _finish(fig, title, alt, caption, note, height=max(300, 160 + 40 * len(items)))
