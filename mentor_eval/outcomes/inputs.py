"""One input adapter for the outcome analyses: the column-name arguments and the pre/post reshaping.

Every outcome function that reads the long analysis frame (one row per participant x wave
(x outcome), as :attr:`mentor_eval.data.AnalysisData.analysis`) takes the same column-name
arguments -- ``participant`` (default ``"participant_id"``), ``wave`` (``"wave"``), ``arm``
(``"arm"``), ``score`` (``"score"``) and ``outcome_col`` (``"outcome"``) -- and checks and reshapes
its input here, so that the same data problem gets the same message everywhere:

- :func:`check_column_names`: the arguments are column names of the frame, each used in one role.
- :func:`select_outcomes`: the rows of the requested outcome(s); :func:`check_waves`: named waves occur.
- :func:`pre_post_wide`: one row per (outcome,) participant with ``arm``, ``pre`` and ``post``
  (prepost, ancova, reliable change, moderation, dose-response, cace).
- :func:`waves_wide`: one row per participant with a score column per outcome x wave (mediation).
- :func:`person_table`: participant-level columns (moderators, dose, covariates, clusters) that
  must hold one value per participant.
- :func:`levels` (the order of arms and factor levels) and :func:`covariate_block` (participant
  covariates as numeric design columns).

The result columns these helpers produce (``outcome``, ``participant_id``, ``arm``, ``pre``,
``post``) are the layout names; a covariate, moderator or cluster column may not use one of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mentor_eval._params import check_columns
from mentor_eval.errors import DataValidationError, ParameterError

__all__ = [
    "LAYOUT_COLUMNS",
    "check_column_names",
    "select_outcomes",
    "check_waves",
    "person_table",
    "pre_post_wide",
    "by_outcome",
    "outcome_order",
    "waves_wide",
    "levels",
    "covariate_block",
    "example",
]

#: Column names of the reshaped (wide) frames.
LAYOUT_COLUMNS = ("outcome", "participant_id", "arm", "pre", "post")


def example(values: Any, k: int = 3) -> str:
    """The first ``k`` values for a message (``'a', 'b', 'c' and 4 more``)."""
    values = list(values)
    shown = [repr(v) for v in values[:k]]
    more = "" if len(values) <= k else f" and {len(values) - k} more"
    return ", ".join(shown) + more


def check_column_names(func: str, data: pd.DataFrame, *, extra: Sequence[str] = (),
                       **roles: str | Sequence[str] | None) -> None:
    """Check the column-name arguments: strings, present in ``data``, each column in one role.

    Parameters
    ----------
    func : str
        The public function, for messages.
    data : pandas.DataFrame
        The frame the names refer to.
    extra : sequence of str
        Further columns that must exist; they may repeat a role's column.
    **roles : str, sequence of str or None
        Role -> column name, or names for a role such as ``covariates`` (``participant="participant_id"``,
        ``clusters=("site_id", "mentor_id")``, ...); ``None`` skips a role.

    Raises
    ------
    ParameterError
        A name is not a string, a column is missing, or one column is given two roles.
    """
    used: list[tuple[str, str]] = []
    for role, value in roles.items():
        if value is None:
            continue
        try:
            names = [value] if isinstance(value, str) else list(value)
        except TypeError:
            names = [value]
        for col in names:
            if not isinstance(col, str):
                raise ParameterError(f"The '{role}' parameter of {func} must name columns (strings); got {col!r}.")
            used.append((role, col))
    cols = [c for _, c in used]
    check_columns(func, data, list(dict.fromkeys([*cols, *extra])))
    dup = sorted({c for c in cols if cols.count(c) > 1})
    if dup:
        which = list(dict.fromkeys(r for r, c in used if c in dup))
        raise ParameterError(
            f"{func}: the column(s) {', '.join(map(repr, dup))} are given more than one role "
            f"({', '.join(which)}); each role needs its own column."
        )


def select_outcomes(
    func: str, data: pd.DataFrame, outcome: str | Sequence[str] | None, outcome_col: str = "outcome"
) -> tuple[pd.DataFrame, list[str]]:
    """The rows of the requested outcome(s) and the key columns (``[outcome_col]`` or ``[]``).

    ``outcome=None`` keeps every outcome. A frame without an ``outcome_col`` column holds one
    unnamed outcome (keys ``[]``); naming an outcome then is an error.
    """
    if outcome_col in data.columns:
        if outcome is None:
            return data, [outcome_col]
        wanted = [outcome] if isinstance(outcome, str) else list(outcome)
        have = set(data[outcome_col].dropna().unique())
        missing = [o for o in wanted if o not in have]
        if missing:
            raise ParameterError(
                f"The 'outcome' parameter of {func} names outcome(s) not in data: {missing!r}; "
                f"available: {example(sorted(map(str, have)), 10)}."
            )
        return data[data[outcome_col].isin(wanted)], [outcome_col]
    if outcome is not None:
        raise ParameterError(
            f"The 'outcome' parameter of {func} was given ({outcome!r}) but the data have no "
            f"{outcome_col!r} column."
        )
    return data, []


def person_table(func: str, data: pd.DataFrame, participant: str, columns: Sequence[str]) -> pd.DataFrame:
    """Participant-level columns, one row per participant (sorted by participant).

    Each column must take at most one non-missing value within a participant over all rows
    (all waves and outcomes); that value is the participant's (missing on some rows is fine: a
    mentor is often recorded only after matching).

    Raises
    ------
    DataValidationError
        A column takes more than one value within a participant.
    """
    columns = [c for c in dict.fromkeys(columns) if c != participant]
    person = data[[participant, *columns]]
    grouped = person.groupby(participant, sort=True)
    varying = [c for c in columns if (grouped[c].nunique() > 1).any()]
    if varying:
        raise DataValidationError(
            f"{func}: column(s) {varying!r} take more than one value within a participant; the arm, "
            "moderators, dose, covariates and clusters must be participant-level (one value per "
            "participant)."
        )
    return grouped.first()


def check_waves(func: str, frame: pd.DataFrame, wave: str, named: dict[str, Any]) -> None:
    """Check that every named wave (``{"pre": "baseline", ...}``; ``None`` values skipped) occurs in ``frame``."""
    present = set(frame[wave].dropna().unique())
    for label, w in named.items():
        if w is not None and w not in present:
            raise DataValidationError(
                f"{func}: the {label} wave {w!r} does not occur in the {wave!r} column (no rows have "
                f"{wave}={w!r}); waves present: {example(sorted(map(str, present)), 10)}. Set "
                f"'{label}=' to one of them."
            )


def _numeric(func: str, raw: pd.Series, score: str) -> pd.Series:
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna()
    if bad.any():
        raise DataValidationError(
            f"{func}: column {score!r} holds non-numeric values (e.g. {example(raw[bad].unique())})."
        )
    return values.astype("float64")


def _codes(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes of a key column and its distinct values (missing values get a code too)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return codes.astype(np.int64, copy=False), pd.Index(uniques)


def _rank(uniques: pd.Index) -> np.ndarray:
    """Position of each distinct value in pandas' sort order (missing last), as ``sort_values`` orders them."""
    positions = pd.Series(uniques, dtype=uniques.dtype).sort_values(kind="stable", na_position="last").index
    rank = np.empty(len(uniques), dtype=np.int64)
    rank[positions.to_numpy()] = np.arange(len(uniques))
    return rank


def _check_layout_clash(func: str, columns: Sequence[str], roles: dict[str, str]) -> None:
    own = set(roles.values())
    clash = [c for c in columns if c in LAYOUT_COLUMNS and c not in own]
    if clash:
        raise ParameterError(
            f"{func}: the column(s) {', '.join(map(repr, clash))} cannot be used as a covariate, moderator, dose "
            f"or cluster: the pre/post layout uses the names {', '.join(LAYOUT_COLUMNS)}; rename the column."
        )


def pre_post_wide(
    func: str,
    data: pd.DataFrame,
    outcome: str | Sequence[str] | None,
    *,
    pre: Any,
    post: Any,
    score: str = "score",
    wave: str = "wave",
    arm: str = "arm",
    participant: str = "participant_id",
    outcome_col: str = "outcome",
    baseline: Sequence[str] = (),
    person: Sequence[str] = (),
) -> tuple[pd.DataFrame, list[str]]:
    """The long frame as one row per (outcome,) participant with the pre- and post-test side by side.

    Parameters
    ----------
    func : str
        The public function, for messages.
    data : pandas.DataFrame
        Long analysis frame: ``participant``, ``wave``, ``score``, ``arm`` and, optionally,
        ``outcome_col``, ``baseline`` and ``person`` columns.
    outcome : str or sequence of str, optional
        Outcome(s) to keep (see :func:`select_outcomes`).
    pre, post : wave labels
        The two waves.
    score, wave, arm, participant, outcome_col : str
        Column names.
    baseline : sequence of str
        Columns taken from each participant's row at the ``pre`` wave (baseline covariates; missing
        for a participant without that row).
    person : sequence of str
        Participant-level columns checked and taken by :func:`person_table` over all rows of
        ``data``; with them the arm, too, must be constant over all of a participant's rows.

    Returns
    -------
    (pandas.DataFrame, list of str)
        ``wide`` with ``outcome`` (when the data have an ``outcome_col`` column), ``participant_id``,
        ``arm``, ``pre``, ``post`` (float; missing where the participant has no score at that
        wave), then the ``baseline`` and ``person`` columns; sorted by outcome, arm and participant.
        ``keys`` is ``["outcome"]`` or ``[]``. Every participant with a row at the ``pre`` or
        ``post`` wave is kept, so that callers can count those without both scores.

    Raises
    ------
    ParameterError
        Missing columns, ``pre == post``, unknown outcome, a column clashing with the layout.
    DataValidationError
        A wave that does not occur, a missing arm or participant id, two rows for one participant
        and wave, an arm that changes within a participant, non-numeric scores.
    """
    baseline, person = list(baseline), [c for c in dict.fromkeys(person) if c not in (participant, arm)]
    roles = {"participant": participant, "wave": wave, "score": score, "arm": arm}
    check_column_names(func, data, extra=[*baseline, *person], **roles)
    if outcome_col in data.columns:
        _check_layout_clash(func, [*baseline, *person], {**roles, "outcome": outcome_col})
    else:
        _check_layout_clash(func, [*baseline, *person], roles)
    if pre == post:
        raise ParameterError(f"The 'pre' and 'post' parameters of {func} name the same wave ({pre!r}).")
    # only the columns used here are copied by the row selections below
    used = [c for c in dict.fromkeys([outcome_col, participant, wave, score, arm, *baseline]) if c in data.columns]
    frame, keys = select_outcomes(func, data[used], outcome, outcome_col)
    check_waves(func, frame, wave, {"pre": pre, "post": post})
    people = person_table(func, data, participant, [arm, *person]) if person else None
    frame = frame[frame[wave].isin([pre, post])]

    if frame[arm].isna().any():
        ids = frame.loc[frame[arm].isna(), participant].unique()
        raise DataValidationError(
            f"{func}: column {arm!r} is missing for {len(ids)} participant(s) (e.g. {example(ids)}); "
            "every participant needs an arm."
        )
    if frame[participant].isna().any():
        raise DataValidationError(f"{func}: column {participant!r} has missing participant IDs.")

    # One pass over integer codes (no index building, unstacking or joins): this runs once per
    # analysis call, many times per report and per simulated study.
    pid_codes, pid_uniques = _codes(frame[participant])
    if keys:
        out_codes, out_uniques = _codes(frame[keys[0]])
        unit = out_codes * len(pid_uniques) + pid_codes
    else:
        out_codes, out_uniques = None, None
        unit = pid_codes
    unit_codes, unit_first = np.unique(unit, return_index=True)
    g = np.searchsorted(unit_codes, unit)  # unit (outcome, participant) of each row
    n_units = len(unit_codes)
    at_post = (frame[wave] == post).to_numpy(dtype=bool, na_value=False)

    slot = g * 2 + at_post
    dup = np.bincount(slot, minlength=2 * n_units)[slot] > 1
    if dup.any():
        ids = pd.unique(frame[participant].to_numpy()[dup])
        raise DataValidationError(
            f"{func}: {len(ids)} participant(s) have more than one row for the same "
            f"{'outcome and ' if keys else ''}wave (e.g. {example(ids)}); keep one score per wave."
        )

    arm_codes, arm_uniques = _codes(frame[arm])
    first_rows = np.sort(unit_first)  # each unit's first row, in frame order (as drop_duplicates keeps it)
    unit_of_first = g[first_rows]
    unit_arm = np.empty(n_units, dtype=np.int64)
    unit_arm[unit_of_first] = arm_codes[first_rows]
    changed = unit_arm[g] != arm_codes
    if changed.any():
        bad = pd.unique(frame[participant].to_numpy()[changed])
        raise DataValidationError(
            f"{func}: the arm of {len(bad)} participant(s) differs between waves (e.g. {example(bad)}); "
            "a participant belongs to one arm."
        )

    values = _numeric(func, frame[score], score).to_numpy()
    pre_v, post_v = np.full(n_units, np.nan), np.full(n_units, np.nan)
    pre_v[g[~at_post]] = values[~at_post]
    post_v[g[at_post]] = values[at_post]

    # output order: outcome, arm, participant (each as pandas sorts its values)
    n_pid = max(1, len(pid_uniques))
    sort_keys = [_rank(pid_uniques)[unit_codes % n_pid], _rank(arm_uniques)[unit_arm]]
    if keys:
        sort_keys.append(_rank(out_uniques)[unit_codes // n_pid])
    order = np.lexsort(sort_keys)
    rows = np.empty(n_units, dtype=np.int64)
    rows[unit_of_first] = first_rows
    rows = rows[order]  # each output unit's first row
    columns: dict[str, Any] = {}
    if keys:
        columns["outcome"] = frame[keys[0]].array.take(rows)
    columns["participant_id"] = frame[participant].array.take(rows)
    columns["pre"] = pre_v[order]
    columns["post"] = post_v[order]
    columns["arm"] = frame[arm].iloc[rows].reset_index(drop=True)  # the arm keeps its dtype
    wide = pd.DataFrame(columns)
    if baseline:
        pre_row = np.full(n_units, -1, dtype=np.int64)
        pre_row[g[~at_post]] = np.flatnonzero(~at_post)
        pre_row = pre_row[order]
        have = pre_row >= 0
        base = frame[baseline].iloc[pre_row[have]].set_axis(np.flatnonzero(have), axis=0)
        wide = wide.join(base.reindex(range(n_units)))
    if people is not None:
        wide = wide.join(people[person], on="participant_id")
    if keys:
        keys = ["outcome"]
    return wide, keys


def outcome_order(data: pd.DataFrame, outcome: str | Sequence[str] | None, outcome_col: str = "outcome"
                  ) -> list[Any] | None:
    """The outcomes in the order asked for: as listed, else as they first occur (``None``: no outcome column)."""
    if outcome is not None:
        return [outcome] if isinstance(outcome, str) else list(outcome)
    return list(pd.unique(data[outcome_col].dropna())) if outcome_col in data.columns else None


def by_outcome(wide: pd.DataFrame, keys: list[str], label: str, order: Sequence[Any] | None = None,
               rename: dict[str, str] | None = None) -> dict[str, pd.DataFrame]:
    """Split :func:`pre_post_wide`'s frame into one frame per outcome, rows sorted by participant.

    Parameters
    ----------
    wide, keys
        What :func:`pre_post_wide` returned.
    label : str
        The name of the single unnamed outcome when the data have no outcome column (keys ``[]``).
    order : sequence, optional
        Outcomes in the order wanted (an outcome without rows gets an empty frame); default: the
        order of ``wide``.
    rename : dict, optional
        Column renames applied to every frame (an estimator's own names for ``arm``, ``pre``, ...).

    Returns
    -------
    dict of str -> pandas.DataFrame
        Outcome -> its rows without the ``outcome`` column.
    """
    rename = dict(rename or {})

    def tidy(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.sort_values("participant_id", kind="stable").reset_index(drop=True).rename(columns=rename)

    if not keys:
        return {str(label): tidy(wide)}
    order = list(pd.unique(wide["outcome"])) if order is None else list(order)
    parts = dict(list(wide.groupby("outcome", sort=False)))
    empty = wide.iloc[:0].drop(columns="outcome")
    return {str(o): tidy(parts[o].drop(columns="outcome") if o in parts else empty) for o in order}


def waves_wide(
    func: str,
    data: pd.DataFrame,
    outcomes: Sequence[Any],
    waves: Sequence[Any],
    *,
    score: str = "score",
    wave: str = "wave",
    arm: str = "arm",
    participant: str = "participant_id",
    outcome_col: str = "outcome",
    person: Sequence[str] = (),
) -> pd.DataFrame:
    """One row per participant: ``participant``, ``arm``, ``person`` columns and a ``"<outcome>@<wave>"``
    score column for every outcome x wave (missing where not observed; sorted by participant).

    The arm and ``person`` columns are checked by :func:`person_table`; two rows for one
    participant, outcome and wave are an error.
    """
    people = person_table(func, data, participant, [arm, *person])
    rows = data[data[outcome_col].isin(list(outcomes)) & data[wave].isin(list(waves))]
    cells = rows[[participant, outcome_col, wave]]
    if cells.duplicated().any():
        dup = cells[cells.duplicated()].iloc[0].tolist()
        raise DataValidationError(
            f"{func}: more than one score for participant {dup[0]!r}, outcome {dup[1]!r}, wave {dup[2]!r}; "
            "pass one score per participant, outcome and wave.")
    wide = rows.pivot(index=participant, columns=[outcome_col, wave], values=score)
    wide.columns = [f"{o}@{w}" for o, w in wide.columns]
    need = [f"{o}@{w}" for o in outcomes for w in waves]
    wide = wide.reindex(columns=need).apply(pd.to_numeric, errors="coerce").astype(float)
    return people.join(wide, how="left").reset_index()


def levels(values: pd.Series) -> list[Any]:
    """The distinct non-missing values in a stable order: categorical order, else sorted.

    Values of mixed types (rare: ``1`` and ``"1"`` in one column) are sorted by type name, then
    value; if even that fails, they keep their order of first appearance.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.dropna().unique())
        return [c for c in values.cat.categories if c in present]
    uniq = pd.unique(values.dropna())
    try:
        return sorted(uniq)
    except TypeError:
        try:
            return sorted(uniq, key=lambda v: (str(type(v)), v))
        except TypeError:
            return list(uniq)


def covariate_block(func: str, frame: pd.DataFrame, covariates: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Participant covariates as design columns and their names.

    Numeric and boolean columns enter as they are; text and categorical ones as 0/1 indicators of
    every level but the first (:func:`levels` order), named ``"<column>[<level>]"``.
    """
    cols: list[np.ndarray] = []
    names: list[str] = []
    for c in covariates:
        v = frame[c]
        if pd.api.types.is_bool_dtype(v.dtype) or pd.api.types.is_numeric_dtype(v.dtype):
            cols.append(v.to_numpy(dtype=float))
            names.append(c)
        else:
            for lvl in levels(v)[1:]:
                cols.append((v == lvl).to_numpy(dtype=float))
                names.append(f"{c}[{lvl}]")
    if not cols:
        return np.empty((len(frame), 0)), []
    return np.column_stack(cols), names
