"""Map a file's own layout onto the project's tables.

* participants: the file's id column becomes ``participant_id``.
* responses: the id column becomes ``participant_id`` and the wave column ``wave`` with
  source values mapped through ``FileSpec.wave_map`` (REDCap ``baseline_arm_1`` -> ``baseline``).
  A wide file (one row per participant, ``FileSpec.wide_pattern`` such as ``"{wave}_{column}"``)
  becomes long: one row per participant x wave block that holds at least one value; empty
  blocks (a wave the participant did not answer) produce no row and are counted in a note.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mentor_eval.io.raw import RawFrame, closest, make_provenance, unusable

__all__ = ["map_participants", "to_long", "spec_get"]

_DEFAULTS: dict[str, Any] = {
    "format": None, "layout": "long", "sheet": None, "encoding": None, "delimiter": None,
    "id_column": "participant_id", "wave_column": "wave", "wave_map": {}, "wide_pattern": None,
}


def spec_get(spec: Any, name: str) -> Any:
    """A FileSpec field, with the contract's default when the object lacks it."""
    value = getattr(spec, name, _DEFAULTS.get(name))
    return _DEFAULTS.get(name) if value is None and name in ("layout", "id_column", "wave_column") else value


def _find_id(raw: RawFrame, spec: Any) -> str:
    id_col = spec_get(spec, "id_column")
    cols = list(raw.data.columns)
    if id_col in cols:
        return id_col
    if raw.format == "redcap" and "record_id" in cols and id_col == "participant_id":
        return "record_id"
    raise unusable(
        raw.source,
        f"has no participant id column {id_col!r}{closest(id_col, cols)}; its columns are: "
        f"{', '.join(cols[:30])}.",
        "Rename the column or set id_column for this file in the study.",
    )


def _rename_id(raw: RawFrame, id_col: str) -> tuple[pd.DataFrame, list[str]]:
    data = raw.data
    notes: list[str] = []
    if id_col != "participant_id":
        if "participant_id" in data.columns:
            raise unusable(raw.source, f"has both 'participant_id' and the id column {id_col!r}.",
                           "Keep one participant id column, or set id_column to 'participant_id'.")
        data = data.rename(columns={id_col: "participant_id"})
        notes.append(f"{raw.file_name}: participant id read from column {id_col!r}.")
    # Ids are compared as text: surrounding spaces are never meaningful.
    data = data.assign(participant_id=data["participant_id"].str.strip())
    return data, notes


def map_participants(raw: RawFrame, spec: Any) -> RawFrame:
    """Rename the participants file's id column to ``participant_id``."""
    data, notes = _rename_id(raw, _find_id(raw, spec))
    return raw.with_data(data, notes=(*raw.notes, *notes))


def _apply_wave_map(values: pd.Series, wave_map: Mapping[str, str]) -> pd.Series:
    s = values.str.strip()
    if not wave_map:
        return s
    mapped = s.map({str(k): str(v) for k, v in wave_map.items()})
    return mapped.where(mapped.notna(), s).astype("str")


def to_long(raw: RawFrame, spec: Any, wave_keys: Sequence[str]) -> RawFrame:
    """Turn a responses file (long or wide) into long rows with ``participant_id`` and ``wave``.

    Parameters
    ----------
    raw : RawFrame
        The responses file as read.
    spec : FileSpec
        Its study entry (``layout``, ``id_column``, ``wave_column``, ``wave_map``, ``wide_pattern``).
    wave_keys : sequence of str
        The study's waves in order.

    Returns
    -------
    RawFrame
        ``participant_id`` and ``wave`` first, then the other columns; provenance per row (for a
        wide file every wave block of a row keeps that row's number).
    """
    layout = spec_get(spec, "layout")
    wave_map = dict(spec_get(spec, "wave_map") or {})
    id_col = _find_id(raw, spec)
    if layout == "wide":
        return _wide_to_long(raw, spec, id_col, wave_keys, wave_map)
    if layout != "long":
        raise unusable(raw.source, f"has layout {layout!r} in the study.", "Use layout: long or layout: wide.")
    data, notes = _rename_id(raw, id_col)
    wave_col = spec_get(spec, "wave_column")
    if wave_col not in data.columns and raw.format == "redcap" and "redcap_event_name" in data.columns:
        wave_col = "redcap_event_name"
    if wave_col not in data.columns:
        if len(wave_keys) == 1:
            data = data.assign(wave=pd.array([wave_keys[0]] * len(data), dtype="str"))
            notes.append(f"{raw.file_name}: no wave column; every row taken as wave {wave_keys[0]!r} "
                         "(the study's only wave).")
        else:
            cols = list(data.columns)
            raise unusable(
                raw.source,
                f"has no wave column {wave_col!r}{closest(wave_col, cols)}; its columns are: "
                f"{', '.join(cols[:30])}.",
                "Rename the column, set wave_column for this file in the study, or use layout: wide "
                "with a wide_pattern.",
            )
    else:
        if wave_col != "wave":
            if "wave" in data.columns:
                raise unusable(raw.source, f"has both 'wave' and the wave column {wave_col!r}.",
                               "Keep one wave column.")
            data = data.rename(columns={wave_col: "wave"})
            notes.append(f"{raw.file_name}: wave read from column {wave_col!r}.")
        data = data.assign(wave=_apply_wave_map(data["wave"], wave_map))
    order = ["participant_id", "wave", *[c for c in data.columns if c not in ("participant_id", "wave")]]
    return raw.with_data(data[order], notes=(*raw.notes, *notes))


def _pattern_regex(pattern: str, tokens: Iterable[str]) -> re.Pattern[str]:
    if "{wave}" not in pattern or "{column}" not in pattern:
        raise ValueError(pattern)
    alternatives = "|".join(re.escape(t) for t in sorted(set(tokens), key=len, reverse=True))
    rx = re.escape(pattern).replace(re.escape("{wave}"), f"(?P<wave>{alternatives})")
    rx = rx.replace(re.escape("{column}"), "(?P<column>.+)")
    return re.compile(f"^{rx}$")


def _wide_to_long(raw: RawFrame, spec: Any, id_col: str, wave_keys: Sequence[str],
                  wave_map: Mapping[str, str]) -> RawFrame:
    pattern = spec_get(spec, "wide_pattern")
    if not pattern or "{wave}" not in pattern or "{column}" not in pattern:
        raise unusable(raw.source, f"is declared wide but its wide_pattern is {pattern!r}.",
                       "Set wide_pattern with both {wave} and {column}, e.g. '{wave}_{column}'.")
    data, notes = _rename_id(raw, id_col)
    tokens = [*wave_keys, *map(str, wave_map)]
    rx = _pattern_regex(pattern, tokens)
    blocks: dict[str, dict[str, str]] = {}
    fixed: list[str] = []
    for c in data.columns:
        m = rx.match(c) if c != "participant_id" else None
        if m:
            blocks.setdefault(m.group("wave"), {})[c] = m.group("column")
        else:
            fixed.append(c)
    if not blocks:
        raise unusable(
            raw.source,
            f"is declared wide with pattern {pattern!r} but no column matches it for the waves "
            f"{', '.join(tokens)}.",
            "Check wide_pattern and the wave keys (or wave_map) in the study.",
        )
    parts: list[pd.DataFrame] = []
    provs: list[pd.DataFrame] = []
    empty_blocks = 0
    order = {w: i for i, w in enumerate(wave_keys)}
    rows = raw.provenance["_source_row"].to_numpy()
    sheet = raw.provenance["_sheet"].iloc[0] if len(raw.provenance) else None
    for token, cols in blocks.items():
        sub = data[list(cols)].rename(columns=cols)
        present = sub.notna().any(axis=1).to_numpy()
        empty_blocks += int((~present).sum())
        wave = str(wave_map.get(token, token))
        block = pd.concat(
            [data.loc[present, fixed].reset_index(drop=True),
             pd.DataFrame({"wave": pd.array([wave] * int(present.sum()), dtype="str")}),
             sub[present].reset_index(drop=True)],
            axis=1,
        )
        block["_order"] = order.get(wave, len(order))
        block["_row"] = rows[present]
        parts.append(block)
    long = pd.concat(parts, ignore_index=True)
    long = long.sort_values(["_row", "_order"], kind="stable").reset_index(drop=True)
    provs = make_provenance(raw.file_name, long["_row"].to_numpy(),
                            sheet=None if sheet is None or pd.isna(sheet) else str(sheet))
    long = long.drop(columns=["_row", "_order"])
    out_cols = ["participant_id", "wave", *[c for c in long.columns if c not in ("participant_id", "wave")]]
    long = long[out_cols]
    notes.append(
        f"{raw.file_name}: wide layout turned into {len(long)} participant x wave row(s) from {len(data)} "
        f"file row(s) and {len(blocks)} wave block(s)"
        + (f"; {empty_blocks} empty block(s) (no value in any of the wave's columns) made no row." if empty_blocks
           else ".")
    )
    rejected = raw.rejected
    missing = ~np.isin(rows, provs["_source_row"].to_numpy())
    if missing.any():
        ids = data.loc[missing, "participant_id"].astype(object).where(data.loc[missing, "participant_id"].notna(),
                                                                       "")
        new = pd.DataFrame({
            "_source_file": pd.array([raw.file_name] * int(missing.sum()), dtype="str"),
            "_source_row": pd.array(rows[missing], dtype="Int64"),
            "_sheet": pd.array([None] * int(missing.sum()), dtype="str"),
            "text": pd.array([f"participant_id={i}" for i in ids], dtype="str"),
            "rule": pd.array(["no_responses_in_any_wave"] * int(missing.sum()), dtype="str"),
            "message": pd.array(["no value in any wave's columns; no response row was made"]
                                * int(missing.sum()), dtype="str"),
        })
        rejected = pd.concat([rejected, new], ignore_index=True) if len(rejected) else new
        notes.append(f"{raw.file_name}: {int(missing.sum())} file row(s) had no value in any wave block "
                     "(sent to the quarantine).")
    return RawFrame(
        data=long, provenance=provs, source=raw.source, format=raw.format, encoding=raw.encoding,
        delimiter=raw.delimiter, metadata={**raw.metadata, "layout": "wide", "file_rows": len(data)},
        issues=raw.issues, rejected=rejected, notes=(*raw.notes, *notes),
    )
