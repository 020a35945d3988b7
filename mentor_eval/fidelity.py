"""Implementation fidelity: was each model delivered as designed?

Every mentorship model declares its implementation indicators
(:attr:`mentor_eval.models.MentorshipModel.fidelity`: sessions held, stories shared,
introductions made, ...) with a type and an expected dose. A study maps them to columns of its
participants file under the optional ``fidelity:`` key of ``study.yaml``::

    fidelity:
      narrative_weaving:                    # an arm key
        sessions_held: sessions_attended    # indicator key: column
        stories_shared: {column: stories, expected: 8}   # optional study-specific expected dose

This module parses that key (for :mod:`mentor_eval.study`), types and range-checks the cells
(for :mod:`mentor_eval.validation`) and summarises, per arm, the share of participants who
reached the expected dose (:func:`fidelity_summary`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from mentor_eval.errors import ParameterError, StudyConfigError
from mentor_eval.models import FidelityIndicator, MentorshipModel

__all__ = [
    "FidelityColumn",
    "parse_fidelity",
    "fidelity_cells",
    "fidelity_summary",
    "RULE_FIDELITY",
    "FIDELITY_SUMMARY_COLUMNS",
]

_COLUMN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")  # as study.yaml column names
RULE_FIDELITY = "fidelity_value"  # validation rule name of a bad indicator cell
_TRUE = {"1", "1.0", "true", "yes", "y", "t"}
_FALSE = {"0", "0.0", "false", "no", "n", "f"}
FIDELITY_SUMMARY_COLUMNS = [
    "arm", "model", "indicator", "label", "type", "column", "expected", "primary", "n", "n_recorded",
    "n_reached", "share_reached", "share_reached_all", "mean", "median",
]


@dataclass(frozen=True)
class FidelityColumn:
    """One study mapping: arm ``arm`` records indicator ``indicator`` in participants column ``column``.

    ``indicator.expected`` is the study's expected dose (the model's, unless ``study.yaml``
    overrides it); ``primary`` is True for the model's dose indicator.
    """

    arm: str
    model: str
    indicator: FidelityIndicator
    column: str
    primary: bool


def parse_fidelity(raw: Any, arms: Iterable[Any], *, source: str = "study.yaml",
                   forbidden: Mapping[str, str] | None = None) -> tuple[FidelityColumn, ...]:
    """Check the ``fidelity:`` key of ``study.yaml`` and build the mappings.

    Parameters
    ----------
    raw : mapping or None
        arm key -> {indicator key: column, or {column: ..., expected: ...}}.
    arms : iterable of Arm
        The study's arms (``key`` and ``model``).
    source : str
        File name for messages.
    forbidden : mapping, optional
        Column name -> why it cannot hold an indicator (reserved or item columns).

    Returns
    -------
    tuple of FidelityColumn

    Raises
    ------
    StudyConfigError
        Naming the key path: unknown arm, control arm, an indicator the arm's model does not
        declare, a bad column name, a bad expected dose, or one column given two indicator types.
    """
    def fail(path: str, problem: str) -> StudyConfigError:
        return StudyConfigError(f"{source}: key '{path}': {problem}")

    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise fail("fidelity", "must be a mapping of arm keys to {indicator: column} mappings.")
    by_key = {a.key: a for a in arms}
    forbidden = dict(forbidden or {})
    out: list[FidelityColumn] = []
    col_types: dict[str, tuple[str, str]] = {}
    for arm_key, spec in raw.items():
        path = f"fidelity.{arm_key}"
        arm = by_key.get(str(arm_key))
        if arm is None:
            raise fail(path, f"{arm_key!r} is not an arm of the study; arms: {', '.join(by_key)}.")
        model: MentorshipModel = arm.model
        if model.is_control or not model.fidelity:
            raise fail(path, f"arm {arm_key!r} implements {model.key!r}, which declares no fidelity indicators.")
        if not isinstance(spec, Mapping) or not spec:
            declared = ", ".join(i.key for i in model.fidelity)
            raise fail(path, f"must map indicator keys of model {model.key!r} ({declared}) to columns.")
        for ind_key, target in spec.items():
            ipath = f"{path}.{ind_key}"
            try:
                ind = model.indicator(str(ind_key))
            except StudyConfigError:
                declared = ", ".join(i.key for i in model.fidelity)
                raise fail(ipath, f"model {model.key!r} declares no indicator {ind_key!r}; it declares: "
                                  f"{declared}.") from None
            expected = ind.expected
            if isinstance(target, Mapping):
                extra = sorted(set(map(str, target)) - {"column", "expected"})
                if extra:
                    raise fail(f"{ipath}.{extra[0]}", "is not a known key; allowed keys: column, expected.")
                column = target.get("column")
                if "expected" in target:
                    expected = target["expected"]
                    if isinstance(expected, bool) or not isinstance(expected, (int, float)) or expected != expected:
                        raise fail(f"{ipath}.expected", f"must be a number; got {expected!r}.")
                    ok = {"count": expected >= 0, "proportion": 0 <= expected <= 1, "boolean": expected == 1}[ind.type]
                    if not ok:
                        raise fail(f"{ipath}.expected", f"is outside what a {ind.type} indicator allows; got "
                                                        f"{expected!r}.")
                cpath = f"{ipath}.column"
            else:
                column, cpath = target, ipath
            if not isinstance(column, str) or not _COLUMN_RE.match(column):
                raise fail(cpath, f"must be a column name of the participants file; got {column!r}.")
            if column in forbidden:
                raise fail(cpath, f"{column!r} {forbidden[column]}.")
            prev = col_types.get(column)
            if prev is not None and prev[0] != ind.type:
                raise fail(cpath, f"column {column!r} already holds the {prev[0]} indicator {prev[1]}; one column "
                                  "holds one type.")
            col_types[column] = (ind.type, f"{arm_key}.{ind.key}")
            out.append(FidelityColumn(arm=arm.key, model=model.key, indicator=replace(ind, expected=float(expected)),
                                      column=column, primary=ind is model.primary_indicator))
    return tuple(out)


def fidelity_cells(values: pd.Series, type_: str) -> tuple[np.ndarray, np.ndarray, str]:
    """Convert one indicator column and flag bad cells.

    Parameters
    ----------
    values : Series
        Raw cells (text or numbers; empty = not recorded).
    type_ : {"count", "proportion", "boolean"}

    Returns
    -------
    values : ndarray of float
        Numbers (booleans as 0/1), NaN where missing or bad.
    bad : ndarray of bool
        Cells that break the type's rule.
    rule : str
        What the type requires, for the finding's message.
    """
    if pd.api.types.is_bool_dtype(values.dtype):
        values = values.astype("Int64")
    s = pd.Series(values).astype("object")
    missing = s.isna().to_numpy() | (s.astype(str).str.strip() == "").to_numpy()
    text = s.astype(str).str.strip().str.lower()
    if type_ == "boolean":
        t = text.isin(_TRUE).to_numpy()
        f = text.isin(_FALSE).to_numpy()
        out = np.where(t, 1.0, np.where(f, 0.0, np.nan))
        bad = ~missing & ~t & ~f
        return np.where(bad | missing, np.nan, out), bad, "must be 0/1 or true/false (done or not)"
    num = pd.to_numeric(s.where(~missing), errors="coerce").to_numpy(dtype=float)
    not_num = ~missing & np.isnan(num)
    if type_ == "count":
        bad = not_num | (~np.isnan(num) & ((num < 0) | (num != np.round(num))))
        rule = "must be a whole number >= 0 (a count)"
    elif type_ == "proportion":
        bad = not_num | (~np.isnan(num) & ((num < 0) | (num > 1)))
        rule = "must be a share between 0 and 1"
    else:
        raise ParameterError(f"The 'type_' parameter of fidelity_cells must be one of count, proportion, boolean; "
                             f"got {type_!r}.")
    return np.where(bad, np.nan, num), bad, rule


def fidelity_summary(data: Any, study: Any = None, *, arm: str = "arm") -> pd.DataFrame:
    """Per arm and indicator: how much of the model was delivered.

    Parameters
    ----------
    data : AnalysisData or DataFrame
        An :class:`~mentor_eval.data.AnalysisData` (its clean participants and study), or a
        participants table (one row per participant) with the indicator columns.
    study : Study or sequence of FidelityColumn, optional
        Needed when ``data`` is a DataFrame.
    arm : str
        Arm column.

    Returns
    -------
    pandas.DataFrame
        One row per mapped arm x indicator, columns:

        - ``arm``, ``model``; ``indicator``, ``label``, ``type``, ``column``; ``expected``:
          the expected dose; ``primary``: the model's dose indicator.
        - ``n``: participants of the arm; ``n_recorded``: with a value; ``n_reached``: with a
          value >= ``expected``.
        - ``share_reached``: ``n_reached / n_recorded``; ``share_reached_all``: ``n_reached /
          n`` (unrecorded counted as not reached: a lower bound).
        - ``mean``, ``median``: of the recorded values (for booleans, ``mean`` is the share done).

    Notes
    -----
    Only clean (validated) participants are counted. Small cells are suppressed by the
    report's disclosure control, not here.

    Examples
    --------
    >>> import pandas as pd
    >>> from mentor_eval.models import get_model
    >>> from mentor_eval.fidelity import FidelityColumn
    >>> ind = get_model("narrative_weaving").primary_indicator
    >>> fc = FidelityColumn("nw", "narrative_weaving", ind, "sessions", True)
    >>> people = pd.DataFrame({"arm": ["nw"] * 4, "sessions": [20, 12, 18, None]})
    >>> row = fidelity_summary(people, [fc]).iloc[0]
    >>> int(row["n"]), int(row["n_recorded"]), int(row["n_reached"]), round(float(row["share_reached"]), 3)
    (4, 3, 2, 0.667)
    """
    if study is None and hasattr(data, "participants") and hasattr(data, "study"):
        participants, mappings = data.participants, data.study.fidelity
    else:
        participants = data
        mappings = getattr(study, "fidelity", study)
        if mappings is None:
            raise ParameterError("The 'study' parameter of fidelity_summary is required when 'data' is a DataFrame.")
    if not isinstance(participants, pd.DataFrame):
        raise ParameterError(f"The 'data' parameter of fidelity_summary must be AnalysisData or a DataFrame; got "
                             f"{type(participants).__name__}.")
    rows = []
    for fc in mappings:
        ind = fc.indicator
        sub = participants[participants[arm] == fc.arm]
        if fc.column not in sub.columns:
            raise ParameterError(f"fidelity_summary: the participants table lacks the fidelity column {fc.column!r} "
                                 f"(indicator {ind.key!r} of arm {fc.arm!r}).")
        v, _, _ = fidelity_cells(sub[fc.column], ind.type)
        rec = ~np.isnan(v)
        reached = int(np.nansum(ind.reached(v)))
        n, n_rec = len(sub), int(rec.sum())
        rows.append({
            "arm": fc.arm, "model": fc.model, "indicator": ind.key, "label": ind.label, "type": ind.type,
            "column": fc.column, "expected": ind.expected, "primary": fc.primary, "n": n, "n_recorded": n_rec,
            "n_reached": reached, "share_reached": reached / n_rec if n_rec else np.nan,
            "share_reached_all": reached / n if n else np.nan,
            "mean": float(np.nanmean(v)) if n_rec else np.nan, "median": float(np.nanmedian(v)) if n_rec else np.nan,
        })
    return pd.DataFrame(rows, columns=FIDELITY_SUMMARY_COLUMNS)


def primary_columns(mappings: Sequence[FidelityColumn]) -> dict[str, FidelityColumn]:
    """Arm -> the mapping of its model's primary (dose) indicator, for arms that map it."""
    return {fc.arm: fc for fc in mappings if fc.primary}
