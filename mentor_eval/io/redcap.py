"""REDCap CSV exports ("raw" data, one row per record x event).

``record_id`` is the participant, ``redcap_event_name`` the wave (mapped through the study's
``wave_map``, e.g. ``baseline_arm_1 -> baseline``; the mapping is applied by
:func:`mentor_eval.io.layout.to_long`). Rows of repeating instruments (a value in
``redcap_repeat_instrument``) are not wave responses: they are set aside as rejected rows with
rule ``redcap_repeat_instrument_row`` (so they reach the quarantine, counted) and their
instruments and instance counts are reported.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from mentor_eval.io.delimited import read_delimited
from mentor_eval.io.raw import RawFrame, unusable

__all__ = ["read_redcap", "REDCAP_SYSTEM_COLUMNS", "is_redcap_system_column"]

REDCAP_SYSTEM_COLUMNS = (
    "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance",
    "redcap_data_access_group", "redcap_survey_identifier",
)
_SYSTEM_PATTERN = re.compile(r"^(redcap_.*|.+_complete|.+_timestamp)$")


def is_redcap_system_column(name: str) -> bool:
    """REDCap bookkeeping columns (events, repeats, form status ``*_complete``, ``*_timestamp``)."""
    return bool(_SYSTEM_PATTERN.match(name))


def read_redcap(path: Path, *, encoding: str | None = None, delimiter: str | None = None) -> RawFrame:
    """Read a REDCap raw CSV export.

    Returns
    -------
    RawFrame
        Repeating-instrument rows moved to ``rejected``; ``metadata["repeat_instruments"]``
        maps each repeating instrument to its number of rows and largest instance.
    """
    raw = read_delimited(path, encoding=encoding, delimiter=delimiter, format="redcap")
    data = raw.data
    if "record_id" not in data.columns and not any(c.startswith("redcap_") for c in data.columns):
        raise unusable(path, "does not look like a REDCap export (no record_id or redcap_* column).",
                       "Export 'raw' data as CSV from REDCap, or set format: csv.")
    repeat_info: dict[str, dict[str, int]] = {}
    rejected = raw.rejected
    notes = list(raw.notes)
    if "redcap_repeat_instrument" in data.columns:
        instr = data["redcap_repeat_instrument"].str.strip()
        mask = instr.notna() & (instr != "")
        if mask.any():
            m = mask.to_numpy(dtype=bool)
            inst = instr[m].astype(str)
            if "redcap_repeat_instance" in data.columns:
                instance = pd.to_numeric(data.loc[m, "redcap_repeat_instance"], errors="coerce")
            else:
                instance = pd.Series(np.nan, index=inst.index)
            for name, grp in instance.groupby(inst.to_numpy()):
                repeat_info[str(name)] = {"rows": int(len(grp)),
                                          "max_instance": int(grp.max()) if grp.notna().any() else 0}
            sub = data[m]
            texts = sub.astype(object).where(sub.notna(), "").astype(str).agg(",".join, axis=1)
            record = sub["record_id"].astype(str) if "record_id" in sub.columns else pd.Series("", index=sub.index)
            new = pd.DataFrame({
                "_source_file": pd.array([raw.file_name] * int(m.sum()), dtype="str"),
                "_source_row": pd.array(raw.provenance["_source_row"].to_numpy()[m], dtype="Int64"),
                "_sheet": pd.array([None] * int(m.sum()), dtype="str"),
                "text": pd.array(texts.str.slice(0, 500).tolist(), dtype="str"),
                "rule": pd.array(["redcap_repeat_instrument_row"] * int(m.sum()), dtype="str"),
                "message": pd.array(
                    [f"record {r}: repeating instrument {i!r} instance {'' if pd.isna(k) else int(k)}; "
                     "repeat rows are not wave responses"
                     for r, i, k in zip(record, inst, instance, strict=True)], dtype="str"),
            })
            rejected = pd.concat([rejected, new], ignore_index=True) if len(rejected) else new
            keep = ~m
            data = data[keep].reset_index(drop=True)
            raw = raw.with_data(data, provenance=raw.provenance[keep].reset_index(drop=True))
            notes.append(
                f"{raw.file_name}: {int(m.sum())} REDCap repeating-instrument row(s) set aside ("
                + ", ".join(f"{k}: {v['rows']} rows, up to instance {v['max_instance']}"
                            for k, v in repeat_info.items()) + ")."
            )
    return RawFrame(
        data=raw.data, provenance=raw.provenance, source=raw.source, format="redcap", encoding=raw.encoding,
        delimiter=raw.delimiter, metadata={"repeat_instruments": repeat_info}, rejected=rejected,
        notes=tuple(notes),
    )
