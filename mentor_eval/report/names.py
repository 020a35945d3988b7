"""How a report names things: arm, outcome, instrument and variable labels from the study."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import pandas as pd

from mentor_eval._params import check_one_of
from mentor_eval.pipeline import StudyResults

__all__ = ["AUDIENCES", "check_audience", "arm_labels", "outcome_label", "outcome_labels",
           "report_outcomes", "report_instruments", "instrument_name",
           "variable_label"]

#: Report variants: ``funder`` (condensed tables) or ``researcher`` (every table in full).
AUDIENCES = ("funder", "researcher")


# --------------------------------------------------------------------------- labels and small helpers


def arm_labels(results: StudyResults) -> dict[str, str]:
    """Arm key -> label from the study (user-supplied: escape before putting into HTML).

    The flow's total rows (arm ``"all"``) are labelled ``"All arms"``.
    """
    from mentor_eval.outcomes.design import ALL_ARMS

    return {ALL_ARMS: "All arms", **{a.key: a.label or a.key for a in results.study.arms}}


def outcome_label(results: StudyResults, outcome: str) -> str:
    """``"instrument.scale"`` -> ``"Adult Hope Scale: Total hope"`` (the id itself if unknown)."""
    try:
        si, sc = results.study.resolve_outcome(outcome)
    except Exception:  # an outcome id the study does not know: show it as is
        return str(outcome)
    return f"{si.instrument.name}: {sc.label or sc.id}"


def outcome_labels(results: StudyResults, outcomes: Iterable[str] | None = None) -> dict[str, str]:
    """Outcome id -> label for ``outcomes`` (default: the study's outcomes)."""
    outs = list(outcomes) if outcomes is not None else list(results.study.outcomes.all)
    return {o: outcome_label(results, o) for o in outs}


def _relabel(frame: pd.DataFrame, results: StudyResults, cols: Sequence[str] = ("arm", "reference", "outcome")
             ) -> pd.DataFrame:
    out = frame.copy()
    arms = arm_labels(results)
    for c in cols:
        if c not in out.columns:
            continue
        if c == "outcome":
            labels = {o: outcome_label(results, o) for o in pd.unique(out[c].dropna())}
        else:
            labels = arms
        out[c] = [labels.get(v, v) if isinstance(v, str) else v for v in out[c].tolist()]
    return out


def _results_outcomes(results: StudyResults) -> list[str]:
    outs = results.provenance.get("parameters", {}).get("outcomes") if results.provenance else None
    return list(outs) if outs else list(results.study.outcomes.all)



def check_audience(audience: str) -> str:
    """Validate the report's ``audience`` parameter (``"funder"`` or ``"researcher"``) and return it."""
    return check_one_of("report", "audience", audience, AUDIENCES)


def report_outcomes(results: StudyResults) -> list[str]:
    """Outcomes the run analysed, in the study's order (primary first)."""
    return _results_outcomes(results)


def report_instruments(results: StudyResults) -> list[str]:
    """Instrument ids of the study that have item distributions (or, unprotected, are administered)."""
    d = results.item_distributions
    if d is not None and len(d):
        return [i for i in results.study.instrument_ids if i in set(d["instrument"])]
    return list(results.study.instrument_ids)


def instrument_name(results: StudyResults, instrument_id: str) -> str:
    """Full name of a study instrument (the id if unknown)."""
    return _instrument_name(results, instrument_id)



def _keep(frame: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    flags = [c for c in frame.columns if c in ("suppressed", "suppression") or str(c).endswith("_suppressed")]
    return frame[[c for c in cols if c in frame.columns] + flags]


def _renamed(frame: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """Rename columns and their ``_suppressed`` flags together (so markers still line up)."""
    ren = dict(names)
    ren.update({f"{k}_suppressed": f"{v}_suppressed" for k, v in names.items()})
    return frame.rename(columns=ren)



def _instrument_name(results: StudyResults, instrument_id: str) -> str:
    try:
        return results.study.instrument(instrument_id).instrument.name
    except Exception:
        return str(instrument_id)


def _scale_label(results: StudyResults, instrument_id: str, scale: str) -> str:
    try:
        return results.study.instrument(instrument_id).instrument.scale(scale).label or scale
    except Exception:
        return str(scale)




def _humane(name: str) -> str:
    """``baseline_risk`` -> ``Baseline risk`` (a variable with no label in the study)."""
    text = str(name).replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else text


def variable_label(results: StudyResults, variable: str) -> str:
    """How a report names a covariate, dosage variable or category: the study's ``labels:``
    (``"gender"`` -> ``"Gender"``, ``"gender=nonbinary"`` -> ``"Gender: Non-binary"``), an
    outcome's label for ``"instrument.scale"``, else the name made readable
    (``baseline_risk`` -> ``Baseline risk``)."""
    v = str(variable)
    labels = dict(getattr(results.study, "labels", {}) or {})
    if re.fullmatch(r"[A-Za-z0-9_]+\.[A-Za-z0-9_]+", v):
        return outcome_label(results, v)
    if "=" in v:
        var, level = v.split("=", 1)
        return f"{labels.get(var, _humane(var))}: {labels.get(v, level.replace('_', ' '))}"
    return labels.get(v, _humane(v))
