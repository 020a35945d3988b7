"""The report's figures, built from protected results (each wraps a chart of :mod:`mentor_eval.report.charts`)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from mentor_eval._params import check_one_of
from mentor_eval.errors import ParameterError
from mentor_eval.pipeline import StudyResults
from mentor_eval.report import charts
from mentor_eval.report.names import (
    _instrument_name,
    _relabel,
    _results_outcomes,
    arm_labels,
    outcome_label,
)
from mentor_eval.report.palette import study_arm_colors
from mentor_eval.report.protect import _PROTECTED_KEY, _require_protected

__all__ = [
    "flow_figure",
    "means_figure",
    "forest_data",
    "forest_figure",
    "change_figure",
    "reliable_change_data",
    "reliable_change_figure",
    "item_distribution_figure",
]


def _colors(results: StudyResults) -> dict[str, str]:
    """The study's arm colours keyed by key and label: the same in every figure of the report."""
    return study_arm_colors(results.study, arm_labels(results))


def _scale_span(results: StudyResults, outcome: str) -> tuple[float, float] | None:
    try:
        si, sc = results.study.resolve_outcome(outcome)
        return tuple(float(x) for x in si.instrument.scale_range(sc.id))
    except Exception:  # an outcome the study cannot resolve: let the data decide
        return None


def _scale_name(results: StudyResults, outcome: str) -> str:
    """The scale's own label ("Agency (goal-directed energy)"): a short axis title."""
    try:
        return results.study.resolve_outcome(outcome)[1].label or outcome
    except Exception:  # an outcome the study cannot resolve
        return str(outcome)


def flow_figure(results: StudyResults) -> go.Figure:
    """Participant flow figure (enrolled, assessed, analysed) from the protected flow."""
    from mentor_eval.outcomes.design import ALL_ARMS

    _require_protected("flow_figure", results)
    cells = results.flow[results.flow["arm"] != ALL_ARMS] if len(results.flow) else results.flow
    flow = _relabel(cells, results).rename(
        columns={"n_enrolled": "enrolled", "n_assessed": "assessed", "n_analysed": "analysed",
                 "n_enrolled_suppressed": "enrolled_suppressed", "n_assessed_suppressed": "assessed_suppressed",
                 "n_analysed_suppressed": "analysed_suppressed"})
    flow.attrs = results.flow.attrs
    order = {k: i for i, k in enumerate(results.study.wave_keys)}
    flow = flow.sort_values("wave", key=lambda s: s.map(order), kind="stable")
    return charts.flow_chart(flow, title="Participants at each survey wave", colors=_colors(results))




# --------------------------------------------------------------------------- outcomes


def means_figure(results: StudyResults, outcome: str) -> go.Figure:
    """Mixed-model adjusted means per arm and wave for one outcome, with 95% CIs."""
    _require_protected("means_figure", results)
    mm = results.mixed_means
    part = mm[mm["outcome"] == outcome] if len(mm) else mm
    if not len(part):
        raise ParameterError(f"No mixed-model means for outcome {outcome!r}; the model may not have run "
                             "(see the notes).")
    order = {k: i for i, k in enumerate(results.study.wave_keys)}
    part = _relabel(part, results, cols=("arm",)).sort_values("wave", key=lambda s: s.map(order), kind="stable")
    part.attrs = mm.attrs
    label = outcome_label(results, outcome)
    fig = charts.means_chart(part, title=f"{label}: adjusted means by arm and wave", y_title=_scale_name(results, outcome),
                             colors=_colors(results))
    # The axis spans the data (never a false zero), inside the scale's possible range.
    lo = pd.to_numeric(part["ci_low"], errors="coerce").min()
    hi = pd.to_numeric(part["ci_high"], errors="coerce").max()
    if pd.notna(lo) and pd.notna(hi):
        pad = max((hi - lo) * 0.15, 1e-6)
        span = _scale_span(results, outcome)
        lo, hi = lo - pad, hi + pad
        if span is not None:
            lo, hi = max(lo, span[0]), min(hi, span[1])
        fig.update_yaxes(range=[float(lo), float(hi)])
    return fig


def forest_data(results: StudyResults, *, scale: str = "g", outcomes: Sequence[str] | None = None) -> pd.DataFrame:
    """Effects of every arm versus control on every outcome, for the forest plot.

    Parameters
    ----------
    results : StudyResults
        Protected results.
    scale : {"g", "raw"}, default "g"
        ``"g"``: standardized difference (Hedges g of the ANCOVA-adjusted difference,
        columns ``g``, ``g_ci_low``, ``g_ci_high``), comparable across outcomes;
        ``"raw"``: the adjusted difference in scale points.
    outcomes : list of str, optional
        Default: every outcome with a contrast, in the study's order.

    Returns
    -------
    pandas.DataFrame
        ``outcome`` (label), ``arm`` (label), ``estimate``, ``ci_low``, ``ci_high``,
        ``p_adj``, ``family``, ``scale`` and the suppression flags.
    """
    _require_protected("forest_data", results)
    check_one_of("forest_data", "scale", scale, ("g", "raw"))
    con = results.contrasts
    if con is None or not len(con):
        return pd.DataFrame(columns=["outcome", "arm", "estimate", "ci_low", "ci_high", "p_adj", "family", "scale"])
    order = list(outcomes) if outcomes is not None else [o for o in _results_outcomes(results)
                                                          if o in set(con["outcome"])]
    part = con[con["outcome"].isin(order)].copy()
    part["_o"] = part["outcome"].map({o: i for i, o in enumerate(order)})
    arm_order = {k: i for i, k in enumerate(results.study.arm_keys)}
    part["_a"] = part["arm"].map(arm_order)
    part = part.sort_values(["_o", "_a"], kind="stable")
    if scale == "g":
        est = part[["g", "g_ci_low", "g_ci_high"]].to_numpy(dtype=float)
    else:
        est = part[["estimate", "ci_low", "ci_high"]].to_numpy(dtype=float)
    out = pd.DataFrame({"outcome": part["outcome"].to_numpy(), "arm": part["arm"].to_numpy(),
                        "estimate": est[:, 0], "ci_low": est[:, 1], "ci_high": est[:, 2],
                        "p_adj": part["p_adj"].to_numpy(dtype=float), "family": part["family"].to_numpy(),
                        "scale": "standardized (g)" if scale == "g" else "scale points"})
    out["suppressed"] = part["suppressed"].to_numpy(dtype=bool)
    out = _relabel(out, results, cols=("arm", "outcome"))
    out.attrs = con.attrs
    return out


def forest_figure(results: StudyResults, *, scale: str = "g") -> go.Figure:
    """Forest plot of every arm-vs-control effect (standardized g by default)."""
    data = forest_data(results, scale=scale)
    x_title = ("Standardized difference from control (Hedges g)" if scale == "g"
               else "Adjusted difference from control (scale points)")
    fig = charts.forest_chart(data, title="Effects of each mentorship model compared with control",
                              x_title=x_title, colors=_colors(results))
    what = ("standardized differences (Hedges g: the adjusted difference divided by the pooled standard "
            "deviation)" if scale == "g" else "adjusted differences in scale points")
    cap = (f"Effect of each arm compared with control at the last wave, from the baseline-adjusted analysis "
           f"(ANCOVA), as {what}, with 95% confidence intervals; the dashed line marks no difference.")
    fig.layout.meta = {**fig.layout.meta, "caption": cap}
    return fig



def change_figure(results: StudyResults, outcome: str) -> go.Figure:
    """Mean change from first to last wave within each arm for one outcome."""
    _require_protected("change_figure", results)
    pp = results.prepost
    part = pp[pp["outcome"] == outcome] if len(pp) else pp
    if not len(part):
        raise ParameterError(f"No pre/post results for outcome {outcome!r}.")
    arm_order = {k: i for i, k in enumerate(results.study.arm_keys)}
    part = part.sort_values("arm", key=lambda s: s.map(arm_order), kind="stable")
    part = _relabel(part, results, cols=("arm",))
    part.attrs = pp.attrs
    label = outcome_label(results, outcome)
    st = results.study
    return charts.change_chart(part, title=f"{label}: change from {st.baseline} to {st.final}",
                                 y_title=f"Mean change ({st.final} minus {st.baseline})", colors=_colors(results))



def reliable_change_data(results: StudyResults, outcome: str) -> pd.DataFrame:
    """Reliable-change shares per arm for one outcome (protected; labels)."""
    _require_protected("reliable_change_data", results)
    rc = results.reliable_change
    part = rc[rc["outcome"] == outcome] if len(rc) else rc
    arm_order = {k: i for i, k in enumerate(results.study.arm_keys)}
    part = part.sort_values("arm", key=lambda s: s.map(arm_order), kind="stable")
    out = _relabel(part, results, cols=("arm",))
    out.attrs = {"suppression": {"min_cell": results.provenance[_PROTECTED_KEY]["min_cell"]}}
    return out


def reliable_change_figure(results: StudyResults, outcome: str) -> go.Figure:
    """Stacked bars: shares who reliably improved, did not change, deteriorated, per arm."""
    part = reliable_change_data(results, outcome)
    if not len(part):
        raise ParameterError(f"No reliable-change results for outcome {outcome!r}.")
    label = outcome_label(results, outcome)
    return charts.reliable_change_chart(part, title=f"{label}: reliable change")


def item_distribution_figure(results: StudyResults, instrument_id: str) -> go.Figure:
    """Diverging bars of item response distributions of one instrument at its last wave."""
    _require_protected("item_distribution_figure", results)
    d = results.item_distributions
    part = d[d["instrument"] == instrument_id] if len(d) else d
    if not len(part):
        raise ParameterError(f"No item distributions for instrument {instrument_id!r}.")
    part = part.copy()
    part["item"] = [f"{i}. {g}" for i, g in zip(part["item_id"], part["gist"], strict=True)]
    part.attrs = {"suppression": {"min_cell": results.provenance[_PROTECTED_KEY]["min_cell"]}}
    name = _instrument_name(results, instrument_id)
    wave = part["wave"].iloc[0]
    fig = charts.item_distribution_chart(part, title=f"{name}: answers to each item ({wave})")
    return fig


