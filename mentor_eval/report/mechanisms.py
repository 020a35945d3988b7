"""The report's "How it worked" section: mechanism (belonging -> hope), fidelity, complier effects.

Everything here reads *protected* results (see :func:`mentor_eval.report.protect.protect`);
:func:`protect_mechanisms` is the part of that protection that covers the mediation,
fidelity and complier tables.
"""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from mentor_eval.pipeline import StudyResults
from mentor_eval.report.names import _keep, _renamed, arm_labels, outcome_label
from mentor_eval.report.protect import _drop_exclusions, _flags, _hide, _require_protected

__all__ = [
    "protect_mechanisms",
    "primary_pair",
    "mechanism_arms",
    "path_diagram_figure",
    "mechanism_sentences",
    "sensitivity_sentences",
    "mediation_table",
    "fidelity_table",
    "fidelity_sentences",
    "cace_table",
    "cace_sentences",
]

# The interval the report shows for mediation: Monte Carlo from cluster-robust (CR2) covariances with
# Satterthwaite t draws, the one that holds its 95% coverage with few mentors or circles
# (docs/calibration.md; the cluster bootstrap's intervals were too narrow there).
CI = "monte-carlo"


# --------------------------------------------------------------------------- disclosure control


def protect_mechanisms(results: StudyResults, m: int, small_arms: set[Any], count_arms: set[Any]) -> dict[str, Any]:
    """Disclosure control of the mediation, fidelity and complier tables.

    Parameters
    ----------
    results : StudyResults
        Unprotected results.
    m : int
        Smallest reportable cell.
    small_arms : set
        Arms with a small cell in the participant flow at the last wave (or overall): every
        statistic about them is hidden.
    count_arms : set
        Arms whose analysed count is hidden as a complement: their counts are hidden.

    Returns
    -------
    dict
        ``mediation``, ``mediation_paths``, ``fidelity``, ``cace`` (protected copies).

    Notes
    -----
    Mediation and complier rows describe an arm and the control group together (``n``);
    a row is hidden when that ``n`` is below ``m`` or either arm is small. Fidelity splits an
    arm into participants who reached the expected dose and those who did not (and those
    without a record): each part from 1 to ``m - 1`` hides the count and every share or mean
    computed from it. The complier split works the same way (compliers and non-compliers of
    the arm): a small part hides the compliance share and the complier effect, which is
    computed from it. Exclusion counts are dropped.
    """
    out: dict[str, Any] = {}
    # a row compares an arm with control: a small control group hides every row
    both = set(small_arms) if results.study.control_arm not in small_arms else set(
        pd.unique(pd.concat([getattr(results, n)["arm"] for n in ("mediation", "cace") if len(getattr(results, n))]
                            or [pd.Series(dtype=object)])))
    for name in ("mediation", "mediation_paths"):
        t = _drop_exclusions(getattr(results, name))
        if len(t):
            stats = [c for c in ("estimate", "se", "ci_low", "ci_high", "p", "rho_at_zero") if c in t.columns]
            n = pd.to_numeric(t["n"], errors="coerce").fillna(0)
            bad = (n < m).to_numpy() | t["arm"].isin(both).to_numpy()
            t = _hide(t, bad, stats, ["n", "n_clusters"], kind="primary")
            t = _hide(t, t["arm"].isin(count_arms).to_numpy(), [], ["n"])
        out[name] = _flags(t)
    fid = _drop_exclusions(results.fidelity)
    if len(fid):
        n = pd.to_numeric(fid["n"], errors="coerce").fillna(0)
        rec = pd.to_numeric(fid["n_recorded"], errors="coerce").fillna(0)
        hit = pd.to_numeric(fid["n_reached"], errors="coerce").fillna(0)
        parts = [hit, rec - hit, n - rec]

        def small(x: pd.Series) -> np.ndarray:
            return ((x > 0) & (x < m)).to_numpy()

        arm_small = fid["arm"].isin(small_arms).to_numpy() | small(n)
        fid = _hide(fid, arm_small, ["share_reached", "share_reached_all", "mean", "median"],
                    ["n", "n_recorded", "n_reached"], kind="primary")
        split_small = small(parts[0]) | small(parts[1])
        fid = _hide(fid, split_small, ["share_reached", "share_reached_all", "mean", "median"], ["n_reached"],
                    kind="primary")
        fid = _hide(fid, small(parts[2]) | small(rec), ["share_reached_all", "mean", "median"], ["n_recorded"],
                    kind="primary")
        fid = _hide(fid, fid["arm"].isin(count_arms).to_numpy(), [], ["n"])
    out["fidelity"] = _flags(fid)
    ca = _drop_exclusions(results.cace)
    if len(ca):
        # participants whose compliance is unknown are left out: an exclusion count, not published
        ca = ca.drop(columns=[c for c in ("n_dose_missing",) if c in ca.columns])
        stats = [c for c in ("estimate", "se", "df", "ci_low", "ci_high", "p", "first_stage_f", "wald")
                 if c in ca.columns]
        n = pd.to_numeric(ca["n"], errors="coerce").fillna(0)
        ca = _hide(ca, (n < m).to_numpy() | ca["arm"].isin(both).to_numpy(), stats,
                   ["n", "n_arm", "n_compliers", "n_clusters"], kind="primary")
        comp = pd.to_numeric(ca["n_compliers"], errors="coerce").fillna(0)
        non = pd.to_numeric(ca["n_arm"], errors="coerce").fillna(0) - comp
        # share x arm size gives the complier count: a small complier or non-complier group hides
        # the compliance share and the complier effect computed from it
        bad = (((comp > 0) & (comp < m)) | ((non > 0) & (non < m))).to_numpy()
        ca = _hide(ca, bad & ca["effect"].isin(["compliance", "cace"]).to_numpy(), stats, ["n_compliers"],
                   kind="primary")
        ca = _hide(ca, bad, [], ["n_compliers"], kind="primary")
        ca = _hide(ca, ca["arm"].isin(count_arms).to_numpy(), [], ["n"])
        ca = ca.drop(columns=[c for c in ("n_dose_missing", "n_dose_missing_suppressed") if c in ca.columns])
    out["cace"] = _flags(ca)
    return out


# --------------------------------------------------------------------------- helpers


def _num(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return v


def _fmt(x: Any, digits: int = 2, signed: bool = True) -> str:
    v = _num(x)
    if not np.isfinite(v):
        return "not reported"
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


def _ci(lo: Any, hi: Any, digits: int = 2) -> str:
    a, b = _num(lo), _num(hi)
    if not (np.isfinite(a) and np.isfinite(b)):
        return "interval not reported"
    return f"95% CI {a:.{digits}f} to {b:.{digits}f}"


def _excludes_zero(row: pd.Series) -> bool:
    lo, hi = _num(row.get("ci_low")), _num(row.get("ci_high"))
    return bool(np.isfinite(lo) and np.isfinite(hi) and (lo > 0 or hi < 0))


def _short(results: StudyResults, outcome: str) -> str:
    """'hope' / 'belonging' / 'agency' ... for plain sentences."""
    try:
        si, sc = results.study.resolve_outcome(outcome)
    except Exception:
        return str(outcome)
    if sc.subscales or len([s for s in si.instrument.scales if not s.subscales]) <= 1:
        return si.instrument.construct.replace("_", " ")
    return (sc.label or sc.id).lower()


def primary_pair(results: StudyResults) -> tuple[str, str] | None:
    """The mediator -> outcome pair the report draws: belonging -> hope (total scales) when present."""
    med = results.mediation
    if not len(med):
        return None
    pairs = list(dict.fromkeys(zip(med["mediator"], med["outcome"], strict=True)))
    cons = {}
    for m_, o_ in pairs:
        try:
            cons[(m_, o_)] = (results.study.resolve_outcome(m_)[0].instrument.construct,
                              results.study.resolve_outcome(o_)[0].instrument.construct)
        except Exception:
            cons[(m_, o_)] = ("", "")
    for p in pairs:
        if cons[p] == ("belonging", "hope") and _short(results, p[1]) == "hope":
            return p
    return pairs[0]


def _rows(results: StudyResults, arm: str, pair: tuple[str, str], table: str = "mediation") -> pd.DataFrame:
    t = getattr(results, table)
    if not len(t):
        return t
    sel = (t["arm"] == arm) & (t["mediator"] == pair[0]) & (t["outcome"] == pair[1]) & (t["ci_method"] == CI)
    return t[sel]


def mechanism_arms(results: StudyResults) -> list[str]:
    """Mentored arms with mediation estimates, in study order."""
    if not len(results.mediation):
        return []
    have = set(results.mediation["arm"])
    return [a for a in results.study.arm_keys if a in have]


def _rule_words(results: StudyResults, row: pd.Series) -> str:
    """'at least 18 mentoring sessions held' from the fidelity declaration behind a compliance rule."""
    fid = results.fidelity
    if len(fid) and "indicator" in row.index:
        hit = fid[(fid["arm"] == row["arm"]) & (fid["indicator"] == row["indicator"])]
        if len(hit):
            h = hit.iloc[0]
            if h["type"] == "boolean":
                return f"{h['label']}: done"
            amount = f"{h['expected']:g}" if h["type"] == "count" else f"{100 * h['expected']:.0f}%"
            return f"at least {amount} {h['label']}" if h["type"] == "count" else f"{h['label']}: at least {amount}"
    return str(row.get("rule", ""))


def _by(frame: pd.DataFrame, col: str, key: str) -> pd.Series | None:
    hit = frame[frame[col] == key]
    return hit.iloc[0] if len(hit) else None


# --------------------------------------------------------------------------- figure


def path_diagram_figure(results: StudyResults, arm: str, pair: tuple[str, str] | None = None) -> go.Figure:
    """Path diagram for one arm: arm -> mediator -> outcome, the estimate and 95% CI on each arrow.

    The arrows carry the ``a`` path (effect of being offered the model on the mediator, in
    mediator points), the ``b`` path (outcome points per mediator point, given the arm) and the
    direct effect (outcome points not carried by the mediator); the caption gives the indirect
    effect and the share of the total it makes up. Hidden (suppressed) numbers read "not reported".
    """
    _require_protected("path_diagram_figure", results)
    pair = pair or primary_pair(results)
    labels = arm_labels(results)
    fig = go.Figure()
    fig.update_layout(height=360, margin={"l": 10, "r": 10, "t": 40, "b": 10}, showlegend=False,
                      xaxis={"visible": False, "range": [0, 1]}, yaxis={"visible": False, "range": [0, 1]},
                      plot_bgcolor="white")
    if pair is None:
        fig.update_layout(title={"text": "No mediation estimates"},
                          meta={"alt": "No mediation estimates", "caption": "No mediation estimates."})
        return fig
    paths = _rows(results, arm, pair, "mediation_paths")
    eff = _rows(results, arm, pair)
    a_row, b_row, c_row = (_by(paths, "path", k) if len(paths) else None for k in ("a", "b", "direct"))
    med_name, out_name = _short(results, pair[0]), _short(results, pair[1])
    design = eff["design"].iloc[0] if len(eff) else ""
    m_wave = f" ({eff['mediator_wave'].iloc[0]})" if len(eff) else ""
    o_wave = f" ({eff['outcome_wave'].iloc[0]})" if len(eff) else ""
    nodes = {"arm": (0.12, 0.22, f"Offered {labels.get(arm, arm)}"),
             "m": (0.5, 0.82, f"{med_name.capitalize()}{m_wave}"),
             "y": (0.88, 0.22, f"{out_name.capitalize()}{o_wave}")}
    fig.add_trace(go.Scatter(x=[v[0] for v in nodes.values()], y=[v[1] for v in nodes.values()], mode="markers",
                             marker={"size": 40, "opacity": 0}, hoverinfo="text",
                             hovertext=[_esc(v[2]) for v in nodes.values()], showlegend=False))
    for x, y, text in nodes.values():
        # node labels wrap (a long arm name in a box at the edge was clipped at desktop width)
        wrapped = "<br>".join(_esc(part) for part in textwrap.wrap(str(text), 20)) or _esc(text)
        fig.add_annotation(x=x, y=y, text=f"<b>{wrapped}</b>", showarrow=False, bordercolor="#444",
                           borderwidth=1.5, borderpad=8, bgcolor="#f4f6f8", font={"size": 13})

    def label(row: pd.Series | None, what: str) -> str:
        if row is None:
            return "not estimated"
        return f"{_fmt(row['estimate'])} {what}<br>({_ci(row['ci_low'], row['ci_high'])})"

    words = {"a": f"points of {med_name}", "b": f"{out_name} points per {med_name} point",
             "direct": f"{out_name} points not via {med_name}"}
    arrows = [("arm", "m", a_row, (0.17, 0.62), "a"), ("m", "y", b_row, (0.83, 0.62), "b"),
              ("arm", "y", c_row, (0.5, 0.12), "direct")]
    for src, dst, row, (lx, ly), key in arrows:
        (x0, y0, _), (x1, y1, _) = nodes[src], nodes[dst]
        # shorten the arrow so it ends at the box edge
        sx, sy = x0 + (x1 - x0) * 0.22, y0 + (y1 - y0) * 0.22
        ex, ey = x0 + (x1 - x0) * 0.78, y0 + (y1 - y0) * 0.78
        fig.add_annotation(x=ex, y=ey, ax=sx, ay=sy, xref="x", yref="y", axref="x", ayref="y", text="",
                           showarrow=True, arrowhead=3, arrowsize=1.3, arrowwidth=2,
                           arrowcolor="#0072B2" if row is not None and _excludes_zero(row) else "#999999")
        fig.add_annotation(x=lx, y=ly, text=_esc(label(row, words[key])).replace("&lt;br&gt;", "<br>"),
                           showarrow=False, font={"size": 12}, bgcolor="white")
    ind = _by(eff, "effect", "indirect") if len(eff) else None
    prop = _by(eff, "effect", "proportion") if len(eff) else None
    title = f"{labels.get(arm, arm)}: does {med_name} carry {out_name}?"
    cap = (f"{title} Arrows: effect of being offered the program on {med_name} (left), change in {out_name} "
           f"per point of {med_name} (right) and the part of the effect on {out_name} not carried by {med_name} "
           f"(bottom), with 95% CIs that allow for mentees sharing a mentor or circle (blue: the interval excludes zero). Carried by "
           f"{med_name}: "
           f"{_fmt(ind['estimate'] if ind is not None else np.nan)} points "
           f"({_ci(ind['ci_low'], ind['ci_high']) if ind is not None else 'not estimated'}); share of the total: "
           f"{_pct(prop['estimate']) if prop is not None else 'not estimated'}."
           + (" Mediator and outcome were measured at the same wave (weaker evidence)."
              if design == "cross-sectional" else ""))
    alt = (f"Path diagram for {labels.get(arm, arm)}: " + "; ".join(
        label(r, words[k]).replace("<br>", " ") for r, k in ((a_row, "a"), (b_row, "b"), (c_row, "direct"))) + ".")
    fig.update_layout(title={"text": _esc(title)}, meta={"alt": alt, "caption": cap, "note": ""})
    return fig


def _esc(text: str) -> str:
    from mentor_eval.report.html import escape

    return escape(text)


def _pct(x: Any) -> str:
    v = _num(x)
    return f"{100 * v:.0f}%" if np.isfinite(v) else "not reported"


# --------------------------------------------------------------------------- sentences


def mechanism_sentences(results: StudyResults, pair: tuple[str, str] | None = None) -> list[str]:
    """One plain-language sentence per mentored arm on whether the mediator carried the effect."""
    _require_protected("mechanism_sentences", results)
    pair = pair or primary_pair(results)
    if pair is None:
        return ["The study's data did not allow a test of whether belonging carried the change in hope "
                "(see the notes)."]
    labels = arm_labels(results)
    med, out = _short(results, pair[0]), _short(results, pair[1])
    lines = []
    for arm in mechanism_arms(results):
        eff = _rows(results, arm, pair)
        ind, tot, prop = (_by(eff, "effect", k) for k in ("indirect", "total", "proportion"))
        name = labels.get(arm, arm)
        if ind is None or not np.isfinite(_num(ind["estimate"])):
            lines.append(f"{name}: not reported (a group too small to publish).")
            continue
        carried = f"{_fmt(ind['estimate'])} points, {_ci(ind['ci_low'], ind['ci_high'])}"
        if not _excludes_zero(ind):
            lines.append(f"{name}: the data do not show that the change in {out} ran through {med}; the part "
                         f"carried by {med} ({carried}) cannot be told apart from none.")
        elif tot is not None and _excludes_zero(tot) and _num(tot["estimate"]) * _num(ind["estimate"]) > 0:
            share = _num(prop["estimate"]) if prop is not None else np.nan
            word = "gain" if _num(tot["estimate"]) > 0 else "drop"
            about = f"about {5 * round(20 * share):.0f}%" if np.isfinite(share) else "part"
            lines.append(f"{name}: {about} of the {word} in {out} came with the {word} in {med} ({carried}; "
                         f"share {_ci(prop['ci_low'], prop['ci_high'], 2) if prop is not None else ''}).")
        else:
            lines.append(f"{name}: {med} carried {carried} of the effect on {out}, but the total effect on {out} is "
                         "too uncertain (or of the other sign) to say what share of it that is.")
        if len(eff) and eff["design"].iloc[0] == "cross-sectional":
            lines[-1] += (f" {med.capitalize()} and {out} were measured at the same time, so this does not show "
                          f"that {med} came first.")
    return lines


def sensitivity_sentences(results: StudyResults, pair: tuple[str, str] | None = None) -> list[str]:
    """The Imai-Keele-Tingley sensitivity result in plain words, for arms with a clear indirect effect."""
    _require_protected("sensitivity_sentences", results)
    pair = pair or primary_pair(results)
    if pair is None:
        return []
    labels = arm_labels(results)
    med, out = _short(results, pair[0]), _short(results, pair[1])
    lines = []
    for arm in mechanism_arms(results):
        eff = _rows(results, arm, pair)
        ind = _by(eff, "effect", "indirect")
        if ind is None or not _excludes_zero(ind):
            continue
        rho = abs(_num(ind["rho_at_zero"]))
        if not np.isfinite(rho):
            continue
        strength = ("a weak one would do" if rho < 0.1 else "a moderate one would do" if rho < 0.3
                    else "it would have to be fairly strong")
        lines.append(f"{labels.get(arm, arm)}: something not measured that raises both {med} and {out} (for "
                     f"example support at home) could explain the part carried by {med} away if it linked the two "
                     f"at a correlation of about {rho:.2f}; {strength}.")
    if not lines:
        lines.append(f"No arm showed a clear part carried by {med}, so there is nothing for an unmeasured influence "
                     "to explain away.")
    return lines


# --------------------------------------------------------------------------- tables


def mediation_table(results: StudyResults, *, full: bool = False) -> pd.DataFrame:
    """Indirect, direct and total effects with Monte Carlo CR2 CIs (``full``: every pair and method)."""
    _require_protected("mediation_table", results)
    t = results.mediation
    if not len(t):
        return pd.DataFrame(columns=["Arm", "Mediator", "Outcome", "Effect", "Estimate", "95% CI low", "95% CI high"])
    if not full:
        pair = primary_pair(results)
        t = t[(t["ci_method"] == CI) & (t["mediator"] == pair[0]) & (t["outcome"] == pair[1])]
    labels = arm_labels(results)
    t = t.assign(arm=t["arm"].map(lambda a: labels.get(a, a)), mediator=t["mediator"].map(
        lambda o: outcome_label(results, o)), outcome=t["outcome"].map(lambda o: outcome_label(results, o)))
    names = {"arm": "Arm", "mediator": "Mediator", "outcome": "Outcome", "effect": "Effect", "estimate": "Estimate",
             "ci_low": "95% CI low", "ci_high": "95% CI high", "design": "Design"}
    if full:
        names.update({"ci_method": "Interval", "se": "SE", "p": "p", "n": "n", "rho_at_zero": "rho at which it vanishes"})
    return _renamed(_keep(t, list(names)), names)


def fidelity_table(results: StudyResults) -> pd.DataFrame:
    """Per arm and indicator: expected dose and the share of participants who reached it."""
    _require_protected("fidelity_table", results)
    t = results.fidelity
    if not len(t):
        return pd.DataFrame(columns=["Arm", "Indicator", "Expected dose", "Participants with a record",
                                     "Reached the expected dose", "Share reaching it", "Average"])
    labels = arm_labels(results)
    exp = [("done" if ty == "boolean" else f"at least {e:g}" if ty == "count" else f"at least {100 * e:.0f}%")
           for ty, e in zip(t["type"], t["expected"], strict=True)]
    t = t.assign(arm=t["arm"].map(lambda a: labels.get(a, a)), expected_text=exp)
    names = {"arm": "Arm", "label": "Indicator", "expected_text": "Expected dose",
             "n_recorded": "Participants with a record", "n_reached": "Reached the expected dose",
             "share_reached": "Share reaching it", "mean": "Average"}
    return _renamed(_keep(t, list(names)), names)


def fidelity_sentences(results: StudyResults) -> list[str]:
    """How much of each model was delivered, per arm, in words (the primary indicator)."""
    _require_protected("fidelity_sentences", results)
    t = results.fidelity
    if not len(t):
        return ["The study did not record how much of each model was delivered (no fidelity indicators mapped)."]
    labels = arm_labels(results)
    lines = []
    for _, r in t[t["primary"].astype(bool)].iterrows():
        share = _num(r["share_reached"])
        dose = "did it" if r["type"] == "boolean" else f"reached the expected dose ({r['label']}: at least " \
                                                       f"{r['expected']:g})"
        if np.isfinite(share):
            lines.append(f"{labels.get(r['arm'], r['arm'])}: {100 * share:.0f}% of participants with a record "
                         f"{dose}.")
        else:
            lines.append(f"{labels.get(r['arm'], r['arm'])}: not reported (a group too small to publish).")
    return lines


def cace_table(results: StudyResults, *, full: bool = False) -> pd.DataFrame:
    """Effect of being offered each model (ITT), share who received it as designed, effect among them (CACE)."""
    _require_protected("cace_table", results)
    t = results.cace
    cols = ["Arm", "Outcome", "Effect of being offered (ITT)", "ITT 95% CI", "Share who received it as designed",
            "Effect for those who received it (CACE)", "CACE 95% CI", "Rule"]
    if not len(t):
        return pd.DataFrame(columns=cols)
    labels = arm_labels(results)
    rows = []
    for (o, a), g in t.groupby(["outcome", "arm"], sort=False):
        itt, comp, ca = (_by(g, "effect", k) for k in ("itt", "compliance", "cace"))
        row = {"Arm": labels.get(a, a), "Outcome": outcome_label(results, o),
               "Effect of being offered (ITT)": _num(itt["estimate"]), "ITT 95% CI": _ci(itt["ci_low"], itt["ci_high"]),
               "Share who received it as designed": _num(comp["estimate"]),
               "Effect for those who received it (CACE)": _num(ca["estimate"]),
               "CACE 95% CI": _ci(ca["ci_low"], ca["ci_high"]), "Rule": _rule_words(results, ca)}
        if full:
            row.update({"First-stage F": _num(ca["first_stage_f"]), "SE type": ca["vcov"], "n": ca["n"]})
        rows.append(row)
    return pd.DataFrame(rows)


def cace_sentences(results: StudyResults) -> list[str]:
    """The complier effect on each primary outcome in plain words."""
    _require_protected("cace_sentences", results)
    t = results.cace
    if not len(t):
        return ["Effects for those who received a model as designed could not be estimated (no fidelity indicator "
                "mapped to a compliance rule)."]
    labels = arm_labels(results)
    lines = []
    for (o, a), g in t.groupby(["outcome", "arm"], sort=False):
        itt, comp, ca = (_by(g, "effect", k) for k in ("itt", "compliance", "cace"))
        name, out = labels.get(a, a), _short(results, o)
        if not np.isfinite(_num(ca["estimate"])):
            lines.append(f"{name}, {out}: not reported (a group too small to publish).")
            continue
        weak = " The estimate is unreliable: too few participants met the rule." if _num(
            ca["first_stage_f"]) < 10 else ""
        lines.append(f"{name}, {out}: among participants who received the model as designed "
                     f"({_rule_words(results, ca)}; "
                     f"{_pct(comp['estimate'])} of those offered it), {out} changed by {_fmt(ca['estimate'])} points "
                     f"compared with what it would have been without the program ({_ci(ca['ci_low'], ca['ci_high'])}); "
                     f"the effect of being offered it, whether or not they took part, was {_fmt(itt['estimate'])} "
                     f"points.{weak}")
    return lines
