"""Validate a study's data: every rule checked in one pass, bad rows quarantined, nothing lost.

:func:`validate_study` reads the participants and responses files of a :class:`~mentor_eval.study.Study`
(any format :mod:`mentor_eval.io` reads), maps them to the project's tables, converts text cells
explicitly (answer labels -> codes, numbers, dates) and checks them with Pandera schemas built
once per study (``lazy=True``: all failures at once) plus the rules that span rows or tables.

Every row read ends either in the clean tables or in the quarantine with every rule it broke;
``rows read == clean + quarantined`` per file is asserted before returning.

Rules (failures quarantine the row; ``rule`` column of :attr:`ValidationResult.failures`):

=========================== ====================================================================
missing_id                  the row has no participant id
unknown_arm                 participants: ``arm`` is not a study arm key (or empty)
duplicate_participant       participants: the id appears on more than one row (all of them fail)
participant_in_two_arms     participants: the id appears on rows with different arms
not_a_number                a numeric column (dosage, numeric covariate, duration) holds text
negative_value              dosage or duration below zero
fidelity_value              participants: a fidelity indicator cell of the wrong type or range (a
                            count that is negative or fractional, a share outside [0, 1], a
                            boolean that is not 0/1 or true/false)
unparseable_date            a date cell that is not ISO 8601 (YYYY-MM-DD[ HH:MM[:SS]]) nor an
                            Excel date serial
match_end_before_start      participants: ``match_end`` earlier than ``match_start``
unknown_wave                responses: the wave is not a study wave (after ``wave_map``)
item_is_number              an item cell holds text that is not a number (no labels in use)
item_unknown_label          an item cell holds text that is not one of the instrument's labels
item_is_whole_number        an item value is not a whole number (2.5)
item_in_range               an item value is outside the response scale (0 on a 1-5 scale, 99)
duplicate_row               responses: an exact copy of an earlier row (the first copy is kept)
duplicate_participant_wave  responses: several different rows for one participant and wave
unknown_participant         responses: the id is not in the participants file
participant_quarantined     responses: the participant's row in the participants file failed
dates_out_of_order          responses: ``completed_at`` earlier than the participant's answer at
                            an earlier wave
empty_wave                  responses: a wave with rows but not one answered item across everyone
missing_column              a column the study needs is absent (file-level; the column is added
                            empty so the remaining rules still run)
row_has_wrong_number_of_cells, redcap_repeat_instrument_row, no_responses_in_any_wave
                            rows the reader could not turn into data rows
=========================== ====================================================================

Warnings (rows stay clean): straight_lining, too_fast, item_missing, unexpected_column,
identifying_column (dropped unless allowed), user_missing_code, excel_date_serial, wave_without_rows,
looks_zero_based.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from mentor_eval._params import check_in_interval, check_positive_int
from mentor_eval.errors import DataValidationError
from mentor_eval.fidelity import RULE_FIDELITY, fidelity_cells
from mentor_eval.io import RawFrame, map_participants, read_file, to_long
from mentor_eval.io.layout import spec_get
from mentor_eval.io.raw import closest, unusable
from mentor_eval.io.redcap import is_redcap_system_column
from mentor_eval.labels import MISSING_TOKENS, label_codes, map_labels
from mentor_eval.privacy import detect_identifying_columns, pseudonym_key, pseudonymize
from mentor_eval.schemas import RULE_INTEGER, RULE_NUMERIC, RULE_RANGE, item_checks

__all__ = [
    "FAILURE_RULES",
    "WARNING_RULES",
    "ISSUE_FRAME_COLUMNS",
    "ValidationResult",
    "validate_study",
    "validate_frames",
    "build_schemas",
    "parse_dates",
]

RULE_LABEL = "item_unknown_label"
FAILURE_RULES = (
    "missing_id", "unknown_arm", "duplicate_participant", "participant_in_two_arms", "not_a_number",
    "negative_value", "unparseable_date", "match_end_before_start", "unknown_wave", RULE_NUMERIC, RULE_LABEL,
    RULE_INTEGER, RULE_RANGE, "duplicate_row", "duplicate_participant_wave", "unknown_participant",
    "participant_quarantined", "dates_out_of_order", "empty_wave", "missing_column",
    "row_has_wrong_number_of_cells", "redcap_repeat_instrument_row", "no_responses_in_any_wave",
)
WARNING_RULES = (
    "straight_lining", "too_fast", "item_missing", "unexpected_column", "identifying_column",
    "user_missing_code", "excel_date_serial", "wave_without_rows", "looks_zero_based",
)
#: Columns of ``failures`` and ``warnings``.
ISSUE_FRAME_COLUMNS = ("file", "table", "source_row", "column", "value", "rule", "message")

PARTICIPANT_FIXED = ("participant_id", "arm", "site_id", "mentor_id", "group_id", "match_start", "match_end")
RESPONSE_FIXED = ("participant_id", "wave", "completed_at", "duration_seconds")
_DATE_COLUMNS_P = ("match_start", "match_end")
_COMMON_MISSING_CODES = {-99.0, -98.0, -9.0, -8.0, -1.0, 77.0, 88.0, 98.0, 99.0, 999.0}
_ISO = r"^\d{4}[-/]\d{1,2}[-/]\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$"
_EXCEL_SERIAL_RANGE = (20000.0, 80000.0)  # 1954-10-03 .. 2119-01-11: plausible study dates only


# ============================================================================ result
@dataclass(frozen=True)
class ValidationResult:
    """Everything validation produced.

    Attributes
    ----------
    participants : pandas.DataFrame
        Clean participants, one row per participant: ``participant_id``, ``arm``, cluster columns,
        covariates (numeric when the column is numeric), dosage (float), ``match_start`` /
        ``match_end`` (datetime), other kept columns as text.
    responses : pandas.DataFrame
        Clean responses, long: ``participant_id``, ``wave``, ``completed_at`` (datetime, when the
        file has it), ``duration_seconds`` (float, when present), item columns (``Int64``), other
        kept columns as text.
    quarantine : pandas.DataFrame
        Every rejected row: ``table``, ``_source_file``, ``_source_row``, ``_sheet``, ``reasons``
        (every rule the row broke, "; "-joined), ``details`` (column, value and message of each
        failure), then the row's cells as read (or ``text`` for rows the reader could not split).
    failures, warnings : pandas.DataFrame
        Tidy: ``file``, ``table``, ``source_row`` (Int64; missing for file- or column-level
        findings), ``column``, ``value`` (the cell as read), ``rule``, ``message``.
    counts : pandas.DataFrame
        Per file: ``file``, ``table``, ``unit`` ("row" or "participant x wave" for wide files),
        ``rows_read``, ``clean``, ``quarantined``; ``rows_read == clean + quarantined``.
    identifying_columns : pandas.DataFrame
        ``file``, ``column``, ``reason``, ``by`` (name | content), ``action`` (dropped | kept
        (allowed)).
    notes : tuple of str
        How the files were read and mapped (encodings, delimiters, renames, removed rows, ...).
    """

    participants: pd.DataFrame
    responses: pd.DataFrame
    quarantine: pd.DataFrame
    failures: pd.DataFrame
    warnings: pd.DataFrame
    counts: pd.DataFrame
    identifying_columns: pd.DataFrame
    notes: tuple[str, ...] = ()
    study_name: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no rule failed (warnings allowed)."""
        return len(self.failures) == 0 and len(self.quarantine) == 0

    def rule_counts(self) -> pd.DataFrame:
        """``severity`` (failure | warning), ``rule``, ``n`` (findings), sorted by severity then count."""
        parts = []
        for sev, frame in (("failure", self.failures), ("warning", self.warnings)):
            if len(frame):
                c = frame.groupby("rule", sort=False).size().rename("n").reset_index()
                c.insert(0, "severity", sev)
                parts.append(c)
        if not parts:
            return pd.DataFrame({"severity": pd.Series(dtype="str"), "rule": pd.Series(dtype="str"),
                                 "n": pd.Series(dtype="int64")})
        out = pd.concat(parts, ignore_index=True)
        return out.sort_values(["severity", "n"], ascending=[True, False], kind="stable").reset_index(drop=True)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: counts, rule counts, every failure and warning, notes."""
        def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
            return json.loads(frame.to_json(orient="records", force_ascii=False))

        return {
            "study": self.study_name,
            "ok": self.ok,
            "parameters": dict(self.parameters),
            "counts": records(self.counts),
            "rule_counts": records(self.rule_counts()),
            "failures": records(self.failures),
            "warnings": records(self.warnings),
            "identifying_columns": records(self.identifying_columns),
            "notes": list(self.notes),
        }

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write participants.csv, responses.csv, quarantine.csv and validation.json to ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "participants": out / "participants.csv",
            "responses": out / "responses.csv",
            "quarantine": out / "quarantine.csv",
            "validation": out / "validation.json",
        }
        self.participants.to_csv(paths["participants"], index=False, date_format="%Y-%m-%d %H:%M:%S")
        self.responses.to_csv(paths["responses"], index=False, date_format="%Y-%m-%d %H:%M:%S")
        self.quarantine.to_csv(paths["quarantine"], index=False)
        paths["validation"].write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False, default=str),
                                       encoding="utf-8")
        return paths


# ============================================================================ findings
class _Findings:
    """Collects findings per table as (row position, column, rule, message, severity)."""

    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []

    def add(self, table: str, rows: np.ndarray | Sequence[int], column: str | Sequence[str], rule: str,
            message: str | Sequence[str], severity: str = "failure", value: Sequence[Any] | None = None) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        n = len(rows)
        if n == 0:
            return
        part = pd.DataFrame({
            "table": table,
            "row": rows,
            "column": column if isinstance(column, str) else pd.array(list(column), dtype="str"),
            "rule": rule,
            "message": message if isinstance(message, str) else pd.array(list(message), dtype="str"),
            "severity": severity,
        })
        if value is not None:
            part["value_override"] = pd.array([None if v is None else str(v) for v in value], dtype="str")
        self.parts.append(part)

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame({c: pd.Series(dtype=t) for c, t in (
                ("table", "str"), ("row", "int64"), ("column", "str"), ("rule", "str"), ("message", "str"),
                ("severity", "str"), ("value_override", "str"))})
        out = pd.concat(self.parts, ignore_index=True)
        if "value_override" not in out.columns:
            out["value_override"] = pd.array([None] * len(out), dtype="str")
        return out


class _Cells:
    """A table's cells as read, for reports and the quarantine, without keeping every item text.

    Text columns stay in ``data``. An item column keeps only the text of cells that cannot be
    rebuilt from their code (labels, decimals, stray spaces, "07", ...; see
    :attr:`mentor_eval.labels.LabelMapping.as_code`): a cell read as ``7`` from the text "7" is
    shown as "7" again. A million rows of plain digit answers thus cost their codes only.
    """

    def __init__(self, data: pd.DataFrame, columns: Sequence[str], codes: Mapping[str, np.ndarray] | None = None,
                 kept: Mapping[str, tuple[np.ndarray | None, pd.Series]] | None = None) -> None:
        self.data = data
        self.columns = list(columns)
        self.codes = codes or {}
        self.kept = kept or {}

    def column(self, col: str, rows: np.ndarray) -> np.ndarray:
        """Object array of the cells of ``col`` at row positions ``rows`` (None: empty)."""
        rows = np.asarray(rows, dtype=np.int64)
        if col in self.data.columns:
            return self.data[col].take(rows).to_numpy(dtype=object, na_value=None)
        kept_rows, kept_text = self.kept.get(col, (np.zeros(0, dtype=np.int64), None))
        if kept_rows is None:  # the whole column kept as read
            return kept_text.take(rows).to_numpy(dtype=object, na_value=None)
        out = np.full(len(rows), None, dtype=object)
        if col not in self.codes:
            return out
        values = self.codes[col][rows]
        has = ~np.isnan(values)
        # cells not kept as text are whole numbers written plainly ("7", "-2"), below 2**53
        out[has] = values[has].astype(np.int64).astype(str).astype(object)
        if len(kept_rows):
            at = np.minimum(np.searchsorted(kept_rows, rows), len(kept_rows) - 1)
            hit = kept_rows[at] == rows
            if hit.any():
                out[hit] = kept_text.take(at[hit]).to_numpy(dtype=object, na_value=None)
        return out

    def frame(self, rows: np.ndarray) -> pd.DataFrame:
        """The rows at positions ``rows``, every column in file order, as text."""
        rows = np.asarray(rows, dtype=np.int64)
        out = {}
        for col in self.columns:
            if col in self.data.columns:
                out[col] = self.data[col].take(rows).reset_index(drop=True)
            else:
                out[col] = pd.array(self.column(col, rows), dtype="str")
        return pd.DataFrame(out)


# ============================================================================ conversions
def parse_dates(values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse date cells written as ISO 8601 text or as Excel date serials.

    Parameters
    ----------
    values : pandas.Series
        Cells as text.

    Returns
    -------
    dates : numpy.ndarray of datetime64[ns]
        NaT where missing or unparseable.
    failed : numpy.ndarray of bool
        Non-empty cells that are neither.
    serial : numpy.ndarray of bool
        Cells read as Excel serials (day count from 1899-12-30; accepted between 20000 and 80000,
        i.e. 1954 to 2119), to be reported.

    Notes
    -----
    Only ISO 8601 (``YYYY-MM-DD`` with optional time, ``/`` allowed as the date separator) is
    accepted as text: ``03/05/2024`` is ambiguous (March 5 or May 3) and fails. Time zones are
    converted to UTC and dropped. Work is done on distinct values.
    """
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        d = pd.to_datetime(values).dt.tz_localize(None) if getattr(values.dt, "tz", None) else values
        arr = d.to_numpy(dtype="datetime64[ns]")
        return arr, np.zeros(len(arr), dtype=bool), np.zeros(len(arr), dtype=bool)
    idx, uniques = pd.factorize(values, use_na_sentinel=True)
    u = pd.Series(uniques, dtype="str").str.strip()
    missing = u.str.lower().isin(MISSING_TOKENS).to_numpy()
    iso = u.str.match(_ISO, na=False).to_numpy()
    parsed = pd.Series(pd.NaT, index=u.index, dtype="datetime64[ns]")
    if iso.any():
        texts = u[iso].str.replace("/", "-", regex=False)
        try:
            got = pd.to_datetime(texts, format="ISO8601", errors="coerce", utc=True)
            got = got.dt.tz_localize(None)
        except (ValueError, TypeError):
            got = pd.to_datetime(texts, errors="coerce", utc=True).dt.tz_localize(None)
        parsed[iso] = got.astype("datetime64[ns]").to_numpy()
    numbers = pd.to_numeric(u.where(~iso & ~missing), errors="coerce").to_numpy(dtype=float)
    serial = ~np.isnan(numbers) & (numbers >= _EXCEL_SERIAL_RANGE[0]) & (numbers < _EXCEL_SERIAL_RANGE[1])
    if serial.any():
        base = np.datetime64("1899-12-30T00:00:00", "ns")
        parsed[serial] = base + (numbers[serial] * 86_400_000_000_000).round().astype("timedelta64[ns]")
    ok = parsed.notna().to_numpy()
    u_failed = ~ok & ~missing
    u_dates = np.append(parsed.to_numpy(dtype="datetime64[ns]"), np.datetime64("NaT", "ns"))
    u_failed = np.append(u_failed, False)
    u_serial = np.append(serial, False)
    return u_dates[idx], u_failed[idx], u_serial[idx]


def _numbers(values: pd.Series, spec: Any = None, missing_codes: Sequence[str] = ()
             ) -> tuple[np.ndarray, np.ndarray]:
    """Numbers of a text column: (values, text that is not a number).

    The file's number format (``decimal``, ``thousands`` of its spec) is applied first, and the
    study's declared ``missing_codes`` are missing values, not failures.
    """
    decimal = spec_get(spec, "decimal") or "." if spec is not None else "."
    thousands = spec_get(spec, "thousands") if spec is not None else None
    text = values
    if (decimal != "." or thousands) and not pd.api.types.is_numeric_dtype(values.dtype):
        text = values.astype("str")
        if thousands:
            text = text.str.replace(thousands, "", regex=False)
        if decimal != ".":
            text = text.str.replace(decimal, ".", regex=False)
    m = map_labels(text, None)
    failed = m.failed
    if missing_codes and failed.any():
        declared = {" ".join(str(c).lower().split()) for c in missing_codes}
        norm = values.astype("str").str.strip().str.lower().str.split().str.join(" ")
        failed = failed & ~norm.isin(declared).to_numpy(dtype=bool, na_value=False)
    return m.codes, failed


_DECIMAL_COMMA = re.compile(r"^\s*[+-]?\d+,\d+\s*$")


def _decimal_comma_cells(values: pd.Series, bad: np.ndarray, spec: Any) -> int:
    if not bad.any() or ((spec_get(spec, "decimal") or ".") if spec is not None else ".") != ".":
        return 0
    return int(values[bad].astype("str").str.match(_DECIMAL_COMMA).sum())


def _number_hint(values: pd.Series, bad: np.ndarray, spec: Any, file_key: str) -> str:
    """Why text cells of a numeric column may not be numbers: a decimal comma, or a missing code."""
    if not bad.any():
        return ""
    texts = values[bad].astype("str")
    decimal = (spec_get(spec, "decimal") or ".") if spec is not None else "."
    if decimal == "." and texts.str.match(_DECIMAL_COMMA).mean() >= 0.5:
        return (f"; the cells look like numbers with a decimal comma (e.g. {texts.iloc[0].strip()!r}): set "
                f"{file_key}.decimal: ',' in the study")
    return ("; if this text means 'not known', list it under missing_codes in the study to read it as "
            "missing")


# ============================================================================ schemas
def _check(fn, name: str) -> pa.Check:
    # ignore_na=False: the functions pass missing values themselves; pandera's own NA filtering
    # costs more than the check.
    return pa.Check(fn, name=name, ignore_na=False, element_wise=False)


def _present(s: pd.Series) -> pd.Series:
    return s.notna() & (s.astype("str").str.strip() != "")


def _isin(keys: Sequence[str]):
    allowed = list(keys)

    def check(s: pd.Series) -> pd.Series:
        return s.isin(allowed).fillna(False).astype(bool)

    return check


def _floats(s: pd.Series) -> np.ndarray:
    # no copy for the float64 columns validation builds
    return s.to_numpy() if s.dtype == np.float64 else s.to_numpy(dtype=float, na_value=np.nan)


def _non_negative(s: pd.Series) -> pd.Series:
    v = _floats(s)
    return pd.Series(np.isnan(v) | (v >= 0), index=s.index)


def build_schemas(study: Any) -> dict[str, pa.DataFrameSchema]:
    """Pandera schemas of the converted participants and responses tables of ``study``.

    Returns
    -------
    dict
        ``"participants"``: ``participant_id`` (rule ``missing_id``), ``arm`` (``unknown_arm``),
        dosage columns (``negative_value``). ``"responses"``: ``participant_id``, ``wave``
        (``unknown_wave``), ``duration_seconds`` (``negative_value``) and one column per item of
        every study instrument (``item_is_whole_number``, ``item_in_range``).

    Notes
    -----
    The schemas run on converted frames: item cells already mapped to numbers (floats, NaN for
    missing) by :func:`mentor_eval.labels.map_labels`. Every check is vectorised and returns a
    boolean Series; columns are optional (absent columns are reported as ``missing_column``).
    """
    arm_keys = [a.key for a in study.arms]
    p_cols: dict[str, pa.Column] = {
        "participant_id": pa.Column(nullable=True, checks=[_check(_present, "missing_id")]),
        "arm": pa.Column(nullable=True, required=False, checks=[_check(_isin(arm_keys), "unknown_arm")]),
    }
    for col in study.dosage:
        p_cols[col] = pa.Column(nullable=True, required=False, checks=[_check(_non_negative, "negative_value")])
    r_cols: dict[str, pa.Column] = {
        "participant_id": pa.Column(nullable=True, checks=[_check(_present, "missing_id")]),
        "wave": pa.Column(nullable=True, checks=[_check(_isin(list(study.wave_keys)), "unknown_wave")]),
        "duration_seconds": pa.Column(nullable=True, required=False,
                                      checks=[_check(_non_negative, "negative_value")]),
    }
    for si in study.instruments:
        rs = si.instrument.response_scale
        for item_id, col in si.item_columns().items():
            r_cols[col] = pa.Column(
                nullable=True, required=False, title=f"{si.id} item {item_id}",
                checks=item_checks(rs.min, rs.max, numeric=False, described=False),
            )
    return {
        "participants": pa.DataFrameSchema(p_cols, strict=False, name="participants"),
        "responses": pa.DataFrameSchema(r_cols, strict=False, name="responses"),
    }


def _run_schema(schema: pa.DataFrameSchema, frame: pd.DataFrame, table: str, findings: _Findings,
                messages: Mapping[tuple[str, str], str]) -> None:
    try:
        schema.validate(frame, lazy=True, inplace=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        fc = fc[fc["index"].notna()]
        for (col, rule), grp in fc.groupby(["column", "check"], sort=False):
            rows = grp["index"].to_numpy(dtype=np.int64)
            findings.add(table, rows, str(col), str(rule), messages.get((str(col), str(rule)), str(rule)))


# ============================================================================ main entry
def validate_study(
    study: Any,
    *,
    missing_threshold: float = 0.2,
    seconds_per_item: float = 2.0,
    straightline_items: int = 8,
    key: str | bytes | None = None,
) -> ValidationResult:
    """Read and validate a study's participants and responses files.

    Parameters
    ----------
    study : Study
        From :func:`mentor_eval.study.load_study`.
    missing_threshold : float, default 0.2
        Warn (``item_missing``) about an item column missing in more than this share of the rows
        at the waves its instrument is given.
    seconds_per_item : float, default 2.0
        Warn (``too_fast``) when ``duration_seconds`` is below this many seconds per answered item.
    straightline_items : int, default 8
        Warn (``straight_lining``) when a row gives the same answer to at least this many items of
        one instrument (and answers no item of it differently).
    key : str or bytes, optional
        Pseudonymisation key for the columns in ``study.privacy.pseudonymize``; default: the
        environment variable ``MENTOR_EVAL_PSEUDONYM_KEY``, then ``study.privacy.key_file``.

    Returns
    -------
    ValidationResult
        Clean tables, quarantine, failures, warnings, counts and identifying columns.

    Raises
    ------
    DataValidationError
        A file cannot be used at all (missing, empty, header only, binary, no id or wave column,
        ...). The message names the file and what to do.
    StudyConfigError
        Pseudonymisation is asked for but no key is available.

    Notes
    -----
    Conversion is explicit: cells are read as text and converted here (labels -> codes,
    numbers, ISO dates / Excel serials) so that a failure shows the cell as typed. A participant
    whose participants row fails is quarantined with all their responses (rule
    ``participant_quarantined``): analysing answers of someone whose arm or identity is in
    doubt would bias the comparison. Identifying columns (see
    :func:`mentor_eval.privacy.detect_identifying_columns`) are dropped from the clean tables
    and the quarantine unless ``privacy.allow_identifying`` lists them.

    Memory and speed (1,000,000 rows x 30 items: about 2 s and 0.7 GB on 2 cores): item
    columns of a long CSV file are read as categorical text (each distinct answer judged once);
    an item's text is dropped once converted, keeping only cells whose text differs from the
    plain form of their code (for reports and the quarantine); the clean ``Int64`` columns
    reuse the memory of the codes they are cast from.

    Examples
    --------
    >>> from mentor_eval.study import load_study
    >>> result = validate_study(load_study())  # doctest: +SKIP
    >>> (result.counts["rows_read"] == result.counts["clean"] + result.counts["quarantined"]).all()
    ... # doctest: +SKIP
    True
    """
    # Item columns of a long file are read compact (categorical text: about 1 byte per cell
    # instead of 9); wide files name them per wave and are read as plain text.
    layout = spec_get(study.files.responses, "layout")
    items = [c for si in study.instruments for c in si.item_columns().values()] if layout == "long" else []
    for part in ("participants", "responses"):
        _check_declared_file(study, part)
    # no local names for the files read: validate_frames can let go of the item texts it has
    # converted
    return validate_frames(study, read_file(study.files.participants),
                           read_file(study.files.responses, compact=items),
                           missing_threshold=missing_threshold, seconds_per_item=seconds_per_item,
                           straightline_items=straightline_items, key=key)


def _check_declared_file(study: Any, part: str) -> None:
    """A missing data file is named with the ``files.*`` key that points to it."""
    path = Path(getattr(study.files, part).path)
    if path.is_file():
        return
    try:
        shown = path.relative_to(study.root).as_posix()
    except ValueError:
        shown = path.as_posix()
    what = "is a folder, not a file" if path.is_dir() else "does not exist"
    raise DataValidationError(
        f"{path.name}: {what} (key 'files.{part}' of {Path(study.path).name} names {shown!r}, relative to the "
        f"study folder). Correct files.{part} or put the file there.")


def validate_frames(
    study: Any,
    participants: RawFrame,
    responses: RawFrame,
    *,
    missing_threshold: float = 0.2,
    seconds_per_item: float = 2.0,
    straightline_items: int = 8,
    key: str | bytes | None = None,
) -> ValidationResult:
    """Validate already read files (see :func:`validate_study`, which reads them).

    The work is a sequence of small steps sharing one state: identifying columns (both files),
    the participants table, the responses table, the two tables together (ids, duplicates,
    unknown participants, date order, empty waves), warnings, and the quarantine of responses
    whose participant failed; then the result is assembled.
    """
    func = "validate_study"
    check_in_interval(func, "missing_threshold", missing_threshold, 0, 1, closed="both")
    check_in_interval(func, "seconds_per_item", seconds_per_item, 0, float("inf"), closed="left")
    check_positive_int(func, "straightline_items", straightline_items, minimum=2)
    pseudo_cols = tuple(getattr(study.privacy, "pseudonymize", ()) or ())
    secret = None
    if pseudo_cols:
        key_file = getattr(study.privacy, "key_file", None)
        if key_file is not None and not Path(key_file).is_absolute():
            key_file = Path(study.root) / key_file
        secret = pseudonym_key(key, key_file)

    notes: list[str] = []
    findings = _Findings()
    p_raw = map_participants(participants, study.files.participants)
    r_raw = to_long(responses, study.files.responses, list(study.wave_keys))
    del participants, responses
    notes += [*p_raw.notes, *r_raw.notes]

    item_info: dict[str, tuple[Any, str]] = {}
    for si in study.instruments:
        for item_id, col in si.item_columns().items():
            item_info[col] = (si, item_id)
    # fidelity indicator columns
    fid_types = {fc.column: fc.indicator.type for fc in getattr(study, "fidelity", ())}
    p_known = set(PARTICIPANT_FIXED) | set(study.covariates) | set(study.clusters) | set(study.dosage) | set(fid_types)
    r_known = set(RESPONSE_FIXED) | set(item_info)

    # One step per table, then the two together; each reads and writes the run's state.
    state = SimpleNamespace(
        fid_types=fid_types,
        findings=findings, item_info=item_info, missing_threshold=missing_threshold, notes=notes,
        p_known=p_known, p_raw=p_raw, pseudo_cols=pseudo_cols, r_known=r_known, r_raw=r_raw,
        seconds_per_item=seconds_per_item, secret=secret, straightline_items=straightline_items, study=study,
    )
    del p_raw, r_raw  # the state holds the only references (item texts are freed as converted)
    for step in (_step_privacy, _step_participants, _step_responses, _step_cross_table, _step_warnings,
                 _step_quarantined_participants):
        step(state)
    # _assemble builds the clean Int64 item columns one by one, dropping each column's codes as it
    # goes (r_cells holds the only reference to them)
    return _assemble(study, state.p_raw, state.r_raw, _Cells(state.pdata, list(state.pdata.columns)),
                     state.r_cells, state.p_typed,
                     state.dates, state.duration, state.fr, state.identifying, notes, secret, pseudo_cols,
                     {"missing_threshold": missing_threshold, "seconds_per_item": seconds_per_item,
                      "straightline_items": straightline_items})


def _step_privacy(state: SimpleNamespace) -> None:
    """Identifying columns: flagged, dropped unless allowed (both tables)."""
    fid_types = state.fid_types
    findings = state.findings
    item_info = state.item_info
    notes = state.notes
    p_raw = state.p_raw
    pseudo_cols = state.pseudo_cols
    r_raw = state.r_raw
    study = state.study
    state.r_raw = None  # this step holds the only reference: converted item texts can go
    allowed = set(getattr(study.privacy, "allow_identifying", ()) or ())
    ident_rows = []
    frames = {"participants": p_raw, "responses": r_raw}
    for table, raw in list(frames.items()):
        exclude = {"participant_id", "wave", "arm", "completed_at", "duration_seconds", *item_info,
                   *_DATE_COLUMNS_P, *study.dosage, *fid_types, *pseudo_cols}
        flagged = detect_identifying_columns(raw.data, exclude=exclude)
        drop = []
        for rec in flagged.to_dict("records"):
            action = "kept (allowed)" if rec["column"] in allowed else "dropped"
            ident_rows.append({"file": raw.file_name, "table": table, **rec, "action": action})
            findings.add(table, [-1], rec["column"], "identifying_column",
                         f"looks identifying ({rec['reason']}); "
                         + ("kept: listed in privacy.allow_identifying" if action != "dropped" else
                            "dropped from the clean data and the quarantine (list it in "
                            "privacy.allow_identifying to keep it)"), severity="warning")
            if action == "dropped":
                drop.append(rec["column"])
        if drop:
            frames[table] = raw.with_data(raw.data.drop(columns=drop))
            notes.append(f"{raw.file_name}: identifying column(s) dropped: {', '.join(drop)}.")
    p_raw, r_raw = frames["participants"], frames["responses"]
    del frames, raw
    identifying = pd.DataFrame(ident_rows, columns=["file", "table", "column", "reason", "by", "action"])
    state.identifying, state.p_raw, state.r_raw = identifying, p_raw, r_raw


def _step_participants(state: SimpleNamespace) -> None:
    """The participants table: arm, covariates, clusters, dosage, dates, schema, duplicates."""
    fid_types = state.fid_types
    findings = state.findings
    identifying = state.identifying
    notes = state.notes
    p_raw = state.p_raw
    study = state.study
    pdata = p_raw.data
    if "arm" not in pdata.columns:
        if study.design == "single-arm" and len(study.arms) == 1:
            pdata = pdata.assign(arm=pd.array([study.arms[0].key] * len(pdata), dtype="str"))
            notes.append(f"{p_raw.file_name}: no arm column; every participant is in the study's only arm "
                         f"{study.arms[0].key!r}.")
        else:
            cols = list(pdata.columns)
            raise unusable(p_raw.source, f"has no 'arm' column{closest('arm', cols)}; its columns are: "
                                         f"{', '.join(cols[:30])}.",
                           "Add the arm of every participant (one of: "
                           f"{', '.join(a.key for a in study.arms)}).")
    for col in dict.fromkeys((*study.clusters, *study.covariates, *study.dosage, *fid_types)):
        if col not in pdata.columns:
            hint = ""
            if col in set(identifying["column"]):
                hint = " It was dropped as identifying; list it in privacy.allow_identifying to keep it."
            findings.add("participants", [-1], col, "missing_column",
                         f"the study needs column {col!r}{closest(col, pdata.columns)} but the file has none; "
                         f"its values are treated as missing.{hint}")
            pdata = pdata.assign(**{col: pd.array([None] * len(pdata), dtype="str")})
    pdata = pdata.assign(arm=pdata["arm"].str.strip())
    p_conv = pd.DataFrame({"participant_id": pdata["participant_id"], "arm": pdata["arm"]})
    p_typed: dict[str, Any] = {}
    p_spec = study.files.participants
    missing_codes = tuple(getattr(study, "missing_codes", ()) or ())
    for col in study.dosage:
        v, bad = _numbers(pdata[col], p_spec, missing_codes)
        findings.add("participants", np.flatnonzero(bad), col, "not_a_number",
                     f"dosage column {col!r} must hold numbers"
                     + _number_hint(pdata[col], bad, p_spec, "files.participants"))
        p_conv[col] = v
        p_typed[col] = v
    for col, type_ in fid_types.items():  # type and range per indicator (count, proportion, boolean)
        v, bad, rule = fidelity_cells(pd.Series(p_typed[col]) if col in p_typed else pdata[col], type_)
        findings.add("participants", np.flatnonzero(bad), col, RULE_FIDELITY, f"fidelity indicator {col!r} {rule}")
        p_typed[col] = v
    for col in (*study.covariates, *study.clusters):
        if col in p_typed or col in ("site_id", "mentor_id", "group_id"):
            continue
        v, bad = _numbers(pdata[col], p_spec, missing_codes)
        # numbers written with a decimal comma in a file read with '.' count as numbers here
        n_num = int((~np.isnan(v)).sum()) + _decimal_comma_cells(pdata[col], bad, p_spec)
        # A covariate whose cells are mostly numbers is numeric: each text cell is a finding (never a
        # silent switch of the whole column to categories); a declared missing code is missing.
        if n_num and n_num >= int(bad.sum()) - (n_num - int((~np.isnan(v)).sum())) and col in study.covariates:
            findings.add("participants", np.flatnonzero(bad), col, "not_a_number",
                         f"covariate {col!r} holds numbers; this cell is text"
                         + _number_hint(pdata[col], bad, p_spec, "files.participants"))
            p_typed[col] = v
    for col in _DATE_COLUMNS_P:
        if col in pdata.columns:
            d, bad, serial = parse_dates(pdata[col])
            findings.add("participants", np.flatnonzero(bad), col, "unparseable_date",
                         "dates must be written YYYY-MM-DD (optionally with a time)")
            _serial_warnings(findings, "participants", col, d, serial)
            p_typed[col] = d
    if "match_start" in p_typed and "match_end" in p_typed:
        s, e = p_typed["match_start"], p_typed["match_end"]
        bad = ~np.isnat(s) & ~np.isnat(e) & (e < s)
        findings.add("participants", np.flatnonzero(bad), "match_end", "match_end_before_start",
                     "match_end is earlier than match_start")
    arm_keys = [a.key for a in study.arms]
    p_messages = {
        ("participant_id", "missing_id"): "the row has no participant id",
        ("arm", "unknown_arm"): f"not one of the study's arms ({', '.join(arm_keys)})",
        **{(c, "negative_value"): f"{c} cannot be negative" for c in study.dosage},
    }
    schemas = build_schemas(study)
    _run_schema(schemas["participants"], p_conv, "participants", findings, p_messages)
    pid = pdata["participant_id"]
    has_id = pid.notna().to_numpy()
    dup = (pid.duplicated(keep=False).to_numpy() & has_id)
    if dup.any():
        n_arms = pdata.loc[dup].groupby("participant_id")["arm"].transform("nunique")
        two = n_arms.to_numpy() > 1
        rows = np.flatnonzero(dup)
        counts = pid[dup].map(pid[dup].value_counts()).to_numpy()
        findings.add("participants", rows[two], "participant_id", "participant_in_two_arms",
                     "the participant appears with different arms; each participant belongs to one arm")
        findings.add("participants", rows[~two], "participant_id", "duplicate_participant",
                     [f"the participant id appears on {k} rows; the participants file needs one row per "
                      "participant" for k in counts[~two]])
    state.p_typed, state.pdata, state.pid, state.schemas = p_typed, pdata, pid, schemas


def _step_responses(state: SimpleNamespace) -> None:
    """The responses table: item answers (codes and labels), dates, durations, schema."""
    findings = state.findings
    item_info = state.item_info
    notes = state.notes
    r_raw = state.r_raw
    schemas = state.schemas
    study = state.study
    state.r_raw = None  # this step holds the only reference: converted item texts can go
    rdata = r_raw.data
    n_r = len(rdata)
    present_items = [c for c in item_info if c in rdata.columns]
    for si in study.instruments:
        scored = set(si.instrument.scored_item_ids)
        for item_id, col in si.item_columns().items():
            if col not in rdata.columns and item_id in scored:
                findings.add("responses", [-1], col, "missing_column",
                             f"item {item_id} of {si.id} (column {col!r}{closest(col, rdata.columns)}) is "
                             "absent from the file; its answers are treated as missing")
    codes: dict[str, np.ndarray] = {}
    lookups = {si.id: label_codes(si.instrument) for si in study.instruments}
    failed_rows: dict[str, np.ndarray] = {}
    failed_texts: dict[str, np.ndarray] = {}
    labelled: dict[str, int] = {}
    # Item texts leave the table as they are converted; only cells whose text differs from the
    # plain form of their code are kept (for reports and the quarantine, see _Cells).
    r_columns = list(rdata.columns)
    item_text = {col: rdata[col] for col in present_items}
    rdata = rdata.drop(columns=present_items)
    r_raw = r_raw.with_data(rdata)
    kept: dict[str, tuple[np.ndarray | None, pd.Series]] = {}
    for col in present_items:
        si, _ = item_info[col]
        values = item_text.pop(col)
        m = map_labels(values, lookups[si.id])
        codes[col] = m.codes
        failed_rows[col] = np.flatnonzero(m.failed)
        if len(failed_rows[col]):
            failed_texts[col] = values.take(failed_rows[col]).to_numpy(dtype=object)
        labelled[si.id] = labelled.get(si.id, 0) + m.n_labelled
        odd = None if m.as_code is None else np.flatnonzero(~m.as_code)
        if odd is None or len(odd) > n_r // 2:
            kept[col] = (None, values)
        elif len(odd):
            kept[col] = (odd, values.take(odd))
        del values, m
    _unfinished(findings, r_raw, rdata, study.files.responses, codes, notes)
    r_cells = _Cells(rdata, r_columns, codes, kept)
    for col, rows in failed_rows.items():
        if not len(rows):
            continue
        si, _ = item_info[col]
        rs = si.instrument.response_scale
        # text answers in use for this instrument (any column): an unmatched text is a label typo
        if labelled.get(si.id, 0):
            known = ", ".join(f"{k}={v}" for k, v in sorted(rs.labels.items()))
            findings.add("responses", rows, col, RULE_LABEL,
                         [f"not an answer label of {si.id}{_closest_label(t, rs)}; known labels: {known}"
                          for t in failed_texts[col]])
        else:
            findings.add("responses", rows, col, RULE_NUMERIC,
                         f"must be a number from {rs.min} to {rs.max} ({si.id})"
                         + (" or one of its answer labels" if rs.labels else ""))
    del failed_rows
    conv: dict[str, Any] = {"participant_id": rdata["participant_id"], "wave": rdata["wave"], **codes}
    dates = None
    if "completed_at" in rdata.columns:
        dates, bad, serial = parse_dates(rdata["completed_at"])
        findings.add("responses", np.flatnonzero(bad), "completed_at", "unparseable_date",
                     "dates must be written YYYY-MM-DD (optionally with a time)")
        _serial_warnings(findings, "responses", "completed_at", dates, serial)
    else:
        notes.append(f"{r_raw.file_name}: no completed_at column; date order across waves not checked.")
    duration = None
    if "duration_seconds" in rdata.columns:
        duration, bad = _numbers(rdata["duration_seconds"])
        findings.add("responses", np.flatnonzero(bad), "duration_seconds", "not_a_number",
                     "duration_seconds must be a number of seconds")
        conv["duration_seconds"] = duration
    wave_keys = list(study.wave_keys)
    r_messages: dict[tuple[str, str], str] = {
        ("participant_id", "missing_id"): "the row has no participant id",
        ("wave", "unknown_wave"): f"not one of the study's waves ({', '.join(wave_keys)}); map other names "
                                  "with files.responses.wave_map",
        ("duration_seconds", "negative_value"): "duration_seconds cannot be negative",
    }
    for col in present_items:
        si, _ = item_info[col]
        rs = si.instrument.response_scale
        r_messages[(col, RULE_INTEGER)] = f"must be a whole number ({si.id} codes are {rs.min}-{rs.max})"
        r_messages[(col, RULE_RANGE)] = f"must be between {rs.min} and {rs.max} ({si.id})"
    # copy=False: no consolidated copy of the item columns (30 x 8 MB per million rows)
    r_conv = pd.DataFrame(conv, copy=False)
    _run_schema(schemas["responses"], r_conv, "responses", findings, r_messages)
    del r_conv, conv
    _range_hints(findings, study, codes, item_info)
    state.codes = codes
    state.dates = dates
    state.duration = duration
    state.n_r = n_r
    state.present_items = present_items
    state.r_cells = r_cells
    state.r_raw = r_raw
    state.rdata = rdata
    state.wave_keys = wave_keys


def _step_cross_table(state: SimpleNamespace) -> None:
    """Both tables together: ids, duplicate rows, unknown participants, date order, empty waves."""
    codes = state.codes
    dates = state.dates
    findings = state.findings
    n_r = state.n_r
    p_raw = state.p_raw
    pid = state.pid
    present_items = state.present_items
    r_cells = state.r_cells
    rdata = state.rdata
    wave_keys = state.wave_keys
    n_p = len(pid)
    id_codes, _ = pd.factorize(pd.concat([pid, rdata["participant_id"]], ignore_index=True), use_na_sentinel=True)
    p_code, r_code = id_codes[:n_p], id_codes[n_p:]
    key_ok = r_code >= 0
    w_codes, w_uniques = pd.factorize(rdata["wave"], use_na_sentinel=True)
    order_of = np.array([wave_keys.index(w) if w in wave_keys else -1 for w in w_uniques] + [-1], dtype=np.int64)
    wave_order = order_of[w_codes]  # -1: unknown or missing wave

    # duplicates: exact copies (first kept), then conflicting rows for one participant x wave
    pw_key = r_code.astype(np.int64) * (len(w_uniques) + 2) + (w_codes + 1)
    dup_pw = pd.Series(pw_key).duplicated(keep=False).to_numpy() & key_ok
    exact = np.zeros(n_r, dtype=bool)
    if dup_pw.any():
        cand = np.flatnonzero(dup_pw)
        sub = r_cells.frame(cand)
        exact[cand[sub.duplicated(keep="first").to_numpy()]] = True
        findings.add("responses", np.flatnonzero(exact), "participant_id", "duplicate_row",
                     "an exact copy of an earlier row (that row is kept)")
        # rows still in conflict once exact copies are set aside
        rest = cand[~exact[cand]]
        conflict = pd.Series(pw_key[rest]).duplicated(keep=False).to_numpy()
        findings.add("responses", rest[conflict], "wave", "duplicate_participant_wave",
                     "more than one different row for this participant and wave")

    # cross-table: participants
    in_p = np.zeros(int(id_codes.max()) + 2 if len(id_codes) else 1, dtype=bool)
    in_p[p_code[p_code >= 0]] = True
    unknown = key_ok & ~in_p[r_code]
    findings.add("responses", np.flatnonzero(unknown), "participant_id", "unknown_participant",
                 f"not in the participants file {p_raw.file_name}")

    # dates in wave order
    if dates is not None:
        _date_order(findings, r_code, wave_order, dates)

    # empty waves and waves without rows
    if present_items:
        answered = np.zeros(n_r, dtype=np.int64)
        for col in present_items:
            answered += ~np.isnan(codes[col])
        known_wave = wave_order >= 0
        n_rows_w = np.bincount(wave_order[known_wave], minlength=len(wave_keys))
        n_ans_w = np.bincount(wave_order[known_wave], weights=answered[known_wave], minlength=len(wave_keys))
        for i, w in enumerate(wave_keys):
            if n_rows_w[i] > 0 and n_ans_w[i] == 0:
                rows = np.flatnonzero(wave_order == i)
                findings.add("responses", rows, "wave", "empty_wave",
                             f"no item is answered by anyone at wave {w!r}; check the export of that wave")
            elif n_rows_w[i] == 0:
                findings.add("responses", [-1], "wave", "wave_without_rows",
                             f"no response rows for wave {w!r}", severity="warning", value=[w])
    else:
        answered = np.zeros(n_r, dtype=np.int64)
    state.answered, state.in_p, state.key_ok, state.p_code, state.r_code = answered, in_p, key_ok, p_code, r_code


def _step_warnings(state: SimpleNamespace) -> None:
    """Warnings (nothing quarantined): straight-lining, too fast, missing items, unexpected columns."""
    answered = state.answered
    codes = state.codes
    duration = state.duration
    findings = state.findings
    item_info = state.item_info
    missing_threshold = state.missing_threshold
    p_known = state.p_known
    p_raw = state.p_raw
    pdata = state.pdata
    r_known = state.r_known
    r_raw = state.r_raw
    rdata = state.rdata
    seconds_per_item = state.seconds_per_item
    straightline_items = state.straightline_items
    study = state.study
    _straight_lining(findings, study, codes, straightline_items)
    if duration is not None:
        fast = ~np.isnan(duration) & (answered > 0) & (duration < seconds_per_item * answered)
        rows = np.flatnonzero(fast)
        findings.add("responses", rows, "duration_seconds", "too_fast",
                     [f"{duration[r]:g} s for {answered[r]} answered items (under {seconds_per_item:g} s per item)"
                      for r in rows], severity="warning")
    _missing_items(findings, study, rdata, codes, item_info, missing_threshold)
    for table, frame, known in (("participants", pdata, p_known), ("responses", rdata, r_known)):
        raw = p_raw if table == "participants" else r_raw
        for col in frame.columns:
            if col in known or (raw.format == "redcap" and is_redcap_system_column(col)):
                continue
            findings.add(table, [-1], col, "unexpected_column",
                         "not an item, key, covariate, cluster or dosage column of the study; kept as text"
                         + closest(col, sorted(known)).replace(" (did you mean", "; did you mean").rstrip(")"),
                         severity="warning")


def _step_quarantined_participants(state: SimpleNamespace) -> None:
    """Responses of participants whose participants row failed are quarantined too."""
    findings, in_p, key_ok, p_code, r_code = state.findings, state.in_p, state.key_ok, state.p_code, state.r_code
    fr = findings.frame()
    p_bad_rows = np.unique(fr.loc[(fr["table"] == "participants") & (fr["severity"] == "failure") &
                                  (fr["row"] >= 0), "row"].to_numpy(dtype=np.int64))
    bad_codes = p_code[p_bad_rows]
    bad_codes = bad_codes[bad_codes >= 0]
    if len(bad_codes):
        is_bad = np.zeros(len(in_p), dtype=bool)
        is_bad[bad_codes] = True
        hit = key_ok & is_bad[r_code]
        findings.add("responses", np.flatnonzero(hit), "participant_id", "participant_quarantined",
                     "the participant's row in the participants file failed validation")
        fr = findings.frame()
    state.fr = fr


# ============================================================================ rule helpers
def _closest_label(text: Any, scale: Any) -> str:
    """``"; closest known label: 'Somewhat agree' (5)"`` for a label typo, or nothing."""
    import difflib

    from mentor_eval.labels import normalize_label

    words = {normalize_label(w): (w, k) for w, k in scale.all_labels().items()}
    near = difflib.get_close_matches(normalize_label(text), list(words), n=1, cutoff=0.6)
    if not near:
        return ""
    word, code = words[near[0]]
    return f"; closest known label: {word!r} (code {code})"


_FALSE = frozenset({"0", "false", "f", "no", "n"})


def _unfinished(findings: _Findings, raw: RawFrame, rdata: pd.DataFrame, spec: Any,
                codes: dict[str, np.ndarray], notes: list[str]) -> None:
    """Qualtrics responses with Finished false or Progress below 100: flagged; their answers are
    left out of the analysis unless the file's ``unfinished`` option is ``keep``."""
    if raw.format != "qualtrics" or not ({"Finished", "Progress"} & set(rdata.columns)):
        return
    n = len(rdata)
    unfinished = np.zeros(n, dtype=bool)
    if "Finished" in rdata.columns:
        fin = rdata["Finished"].astype("str").str.strip().str.lower()
        unfinished |= fin.isin(_FALSE).to_numpy(dtype=bool, na_value=False)
    if "Progress" in rdata.columns:
        prog, _ = _numbers(rdata["Progress"])
        unfinished |= ~np.isnan(prog) & (prog < 100)
    rows = np.flatnonzero(unfinished)
    if not len(rows):
        return
    keep = (spec_get(spec, "unfinished") or "exclude") == "keep"
    if keep:
        message = "an unfinished response (Finished false or Progress below 100); analysed (unfinished: keep)"
    else:
        message = ("an unfinished response (Finished false or Progress below 100): kept in the participant "
                   "flow as assessed, its answers left out of the analysis; set files.responses.unfinished: "
                   "keep to analyse them")
        for col in codes:
            codes[col][rows] = np.nan
    findings.add("responses", rows, "Finished" if "Finished" in rdata.columns else "Progress",
                 "unfinished_response", message, severity="warning")
    notes.append(f"{raw.file_name}: {len(rows)} unfinished Qualtrics response(s) "
                 + ("analysed (unfinished: keep)." if keep else "left out of the analysis (unfinished: exclude)."))


def _serial_warnings(findings: _Findings, table: str, col: str, dates: np.ndarray, serial: np.ndarray) -> None:
    rows = np.flatnonzero(serial)
    if len(rows):
        shown = pd.DatetimeIndex(dates[rows]).strftime("%Y-%m-%d %H:%M").str.replace(" 00:00", "")
        findings.add(table, rows, col, "excel_date_serial",
                     [f"Excel date serial read as {d}" for d in shown], severity="warning")


def _range_hints(findings: _Findings, study: Any, codes: Mapping[str, np.ndarray],
                 item_info: Mapping[str, tuple[Any, str]]) -> None:
    for si in study.instruments:
        cols = [c for c in si.item_columns().values() if c in codes]
        if not cols:
            continue
        rs = si.instrument.response_scale
        lows = [x for x in (np.fmin.reduce(codes[c]) for c in cols if len(codes[c])) if not np.isnan(x)]
        highs = [x for x in (np.fmax.reduce(codes[c]) for c in cols if len(codes[c])) if not np.isnan(x)]
        if not lows:
            continue
        if rs.min == 1 and min(lows) == 0 and max(highs) <= rs.max - 1:
            findings.add("responses", [-1], cols[0], "looks_zero_based",
                         f"{si.id} answers run 0-{int(max(highs))} but the scale is {rs.min}-{rs.max}: the "
                         "export may code answers from 0; recode (add 1) at the source", severity="warning")
        outside: set[float] = set()
        for c in cols:
            v = codes[c]
            with np.errstate(invalid="ignore"):
                out = v[(v < rs.min) | (v > rs.max)]
            if len(out):
                outside.update(np.unique(out).tolist())
        odd = sorted(outside & _COMMON_MISSING_CODES)
        if odd:
            findings.add("responses", [-1], cols[0], "user_missing_code",
                         f"{si.id} holds {', '.join(f'{v:g}' for v in odd)}, common codes for 'no answer'; "
                         "blank them (or declare them missing in SPSS) if that is what they mean",
                         severity="warning")


def _date_order(findings: _Findings, pid_code: np.ndarray, wave_order: np.ndarray, dates: np.ndarray) -> None:
    ok = (wave_order >= 0) & ~np.isnat(dates) & (pid_code >= 0)
    if ok.sum() < 2:
        return
    pos = np.flatnonzero(ok)
    p, w, d = pid_code[pos], wave_order[pos], dates[pos].astype(np.int64)
    # files sorted by participant then wave (the usual export) need no sort
    step_p = np.diff(p)
    if not ((step_p > 0) | ((step_p == 0) & (np.diff(w) >= 0))).all():
        order = np.lexsort((w, p))
        p, w, d, pos = p[order], w[order], d[order], pos[order]
    # latest date of the participant's rows so far (sorted by wave); compare each row with the
    # running maximum over strictly earlier waves
    running = pd.Series(d).groupby(p).cummax().to_numpy()
    prev = np.empty_like(running)
    prev[0] = np.iinfo(np.int64).min
    prev[1:] = running[:-1]
    new_group = np.r_[True, p[1:] != p[:-1]]
    same_wave = np.r_[False, (w[1:] == w[:-1]) & ~new_group[1:]]
    prev[new_group | same_wave] = np.iinfo(np.int64).min
    bad = d < prev
    if bad.any():
        shown = pd.to_datetime(prev[bad]).strftime("%Y-%m-%d")
        findings.add("responses", pos[bad], "completed_at", "dates_out_of_order",
                     [f"completed before the participant's answer at an earlier wave ({x})" for x in shown])


def _straight_lining(findings: _Findings, study: Any, codes: Mapping[str, np.ndarray], min_items: int) -> None:
    for si in study.instruments:
        cols = [c for c in si.item_columns().values() if c in codes]
        if len(cols) < min_items:
            continue
        n_rows = len(codes[cols[0]])
        n = np.zeros(n_rows, dtype=np.int64)
        lo = np.full(n_rows, np.nan)
        hi = np.full(n_rows, np.nan)
        for c in cols:  # column-wise: fmin/fmax skip missing answers
            v = codes[c]
            n += ~np.isnan(v)
            np.fmin(lo, v, out=lo)
            np.fmax(hi, v, out=hi)
        rows = np.flatnonzero((n >= min_items) & (lo == hi))
        if len(rows):
            rev = " including reverse-keyed items" if si.instrument.reverse_item_ids else ""
            findings.add("responses", rows, cols[0], "straight_lining",
                         [f"the same answer ({lo[r]:g}) to all {n[r]} answered {si.id} items{rev}" for r in rows],
                         severity="warning")


def _missing_items(findings: _Findings, study: Any, rdata: pd.DataFrame, codes: Mapping[str, np.ndarray],
                   item_info: Mapping[str, tuple[Any, str]], threshold: float) -> None:
    waves = rdata["wave"]
    for si in study.instruments:
        given = waves.isin(list(si.waves) or list(study.wave_keys)).to_numpy(dtype=bool, na_value=False)
        n = int(given.sum())
        if n == 0:
            continue
        for item_id, col in si.item_columns().items():
            if col not in codes or item_id not in si.instrument.scored_item_ids:
                continue
            share = float(np.isnan(codes[col][given]).mean())
            if share > threshold:
                findings.add("responses", [-1], col, "item_missing",
                             f"{share:.0%} of the {n} rows at the waves {si.id} is given leave this item "
                             f"unanswered (threshold {threshold:.0%})", severity="warning", value=[f"{share:.3f}"])


# ============================================================================ assembly
def _issue_frame(fr: pd.DataFrame, raws: Mapping[str, RawFrame], cells: Mapping[str, _Cells]) -> pd.DataFrame:
    parts = []
    for table, grp in fr.groupby("table", sort=False):
        raw, table_cells = raws[table], cells[table]
        rows = grp["row"].to_numpy(dtype=np.int64)
        valid = rows >= 0
        src = np.full(len(rows), -1, dtype=np.int64)
        src[valid] = raw.provenance["_source_row"].to_numpy()[rows[valid]]
        values = grp["value_override"].astype(object).to_numpy().copy()
        # the cell as read, fetched column by column (vectorised)
        for col, sub in grp[valid & grp["value_override"].isna().to_numpy()].groupby("column", sort=False):
            if col in table_cells.columns:
                loc = grp.index.get_indexer(sub.index)
                values[loc] = table_cells.column(col, sub["row"].to_numpy(dtype=np.int64))
        parts.append(pd.DataFrame({
            "file": raw.file_name,
            "table": table,
            "source_row": pd.array(np.where(src >= 0, src, 0), dtype="Int64").copy(),
            "column": grp["column"].to_numpy(dtype=object),
            "value": pd.array([None if v is None or (isinstance(v, float) and v != v) else str(v)
                               for v in values], dtype="str"),
            "rule": grp["rule"].to_numpy(dtype=object),
            "message": grp["message"].to_numpy(dtype=object),
        }))
        parts[-1].loc[src < 0, "source_row"] = pd.NA
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="Int64" if c == "source_row" else "str")
                             for c in ISSUE_FRAME_COLUMNS})
    out = pd.concat(parts, ignore_index=True)
    for c in ("file", "table", "column", "rule", "message"):
        out[c] = out[c].astype("str")
    return out


def _reader_issues(raw: RawFrame, table: str) -> pd.DataFrame:
    iss = raw.issues
    if not len(iss):
        return iss.iloc[0:0]
    out = iss.copy()
    out.insert(0, "table", table)
    out.insert(0, "file", raw.file_name)
    return out[list(ISSUE_FRAME_COLUMNS)]


def _assemble(study, p_raw, r_raw, p_cells, r_cells, p_typed, dates, duration, fr, identifying, notes,
              secret, pseudo_cols, parameters) -> ValidationResult:
    raws = {"participants": p_raw, "responses": r_raw}
    cells = {"participants": p_cells, "responses": r_cells}
    failures_fr = fr[fr["severity"] == "failure"]
    warnings_fr = fr[fr["severity"] == "warning"]
    failures = _issue_frame(failures_fr, raws, cells)
    warnings = _issue_frame(warnings_fr, raws, cells)
    reader_warn = [w for w in (_reader_issues(p_raw, "participants"), _reader_issues(r_raw, "responses")) if len(w)]
    if reader_warn:
        warnings = pd.concat([warnings, *reader_warn], ignore_index=True)

    quarantine_parts = []
    counts = []
    clean: dict[str, pd.DataFrame] = {}
    for table in ("participants", "responses"):
        raw, table_cells = raws[table], cells[table]
        f = failures_fr[(failures_fr["table"] == table) & (failures_fr["row"] >= 0)]
        bad = np.zeros(len(table_cells.data), dtype=bool)
        bad[f["row"].to_numpy(dtype=np.int64)] = True
        if len(f):
            fu = f.drop_duplicates(["row", "rule", "column"])
            reasons = fu.drop_duplicates(["row", "rule"]).groupby("row", sort=True)["rule"].agg("; ".join)
            detail_text = fu["column"].astype(str) + ": " + fu["rule"].astype(str) + " (" + \
                fu["message"].astype(str) + ")"
            details = detail_text.groupby(fu["row"].to_numpy(), sort=True).agg("; ".join)
            rows = reasons.index.to_numpy(dtype=np.int64)
            q = pd.concat([
                pd.DataFrame({
                    "table": table,
                    "_source_file": raw.file_name,
                    "_source_row": raw.provenance["_source_row"].to_numpy()[rows],
                    "_sheet": raw.provenance["_sheet"].astype(object).to_numpy()[rows],
                    "reasons": reasons.to_numpy(dtype=object),
                    "details": details.reindex(reasons.index).to_numpy(dtype=object),
                }),
                table_cells.frame(rows),
            ], axis=1)
            quarantine_parts.append(q)
        rej = raw.rejected
        if len(rej):
            quarantine_parts.append(pd.DataFrame({
                "table": table, "_source_file": rej["_source_file"].to_numpy(dtype=object),
                "_source_row": rej["_source_row"].to_numpy(dtype=object),
                "_sheet": rej["_sheet"].to_numpy(dtype=object),
                "reasons": rej["rule"].to_numpy(dtype=object),
                "details": rej["message"].to_numpy(dtype=object),
                "text": rej["text"].to_numpy(dtype=object),
            }))
            rej_issues = pd.DataFrame({
                "file": raw.file_name, "table": table,
                "source_row": pd.array(rej["_source_row"].to_numpy(dtype=object), dtype="Int64"),
                "column": pd.array([None] * len(rej), dtype="str"),
                "value": rej["text"].to_numpy(dtype=object), "rule": rej["rule"].to_numpy(dtype=object),
                "message": rej["message"].to_numpy(dtype=object),
            })
            failures = pd.concat([failures, rej_issues], ignore_index=True)
        n_read = raw.n_rows
        n_quar = int(bad.sum()) + len(rej)
        n_clean = int((~bad).sum())
        unit = "participant x wave" if raw.metadata.get("layout") == "wide" else "row"
        counts.append({"file": raw.file_name, "table": table, "unit": unit, "rows_read": n_read,
                       "clean": n_clean, "quarantined": n_quar})
        if n_read != n_clean + n_quar:  # the "nothing lost" invariant
            raise AssertionError(f"{raw.file_name}: rows read {n_read} != clean {n_clean} + quarantined {n_quar}")
        clean[table] = _clean_table(table, study, table_cells, ~bad, p_typed, dates, duration)

    quarantine = (pd.concat(quarantine_parts, ignore_index=True) if quarantine_parts
                  else pd.DataFrame(columns=["table", "_source_file", "_source_row", "_sheet", "reasons", "details"]))
    if len(quarantine):
        quarantine = quarantine.sort_values(["table", "_source_row"], kind="stable").reset_index(drop=True)
    failures = failures.astype({"source_row": "Int64"})
    if len(failures):
        failures = failures.sort_values(["table", "source_row"], kind="stable", na_position="first")
        failures = failures.reset_index(drop=True)

    if pseudo_cols:
        for name in ("participants", "responses"):
            present = [c for c in pseudo_cols if c in clean[name].columns]
            if present:
                clean[name] = pseudonymize(clean[name], present, key=secret)
        present = [c for c in pseudo_cols if c in quarantine.columns]
        if present and len(quarantine):
            quarantine = pseudonymize(quarantine, present, key=secret)
        for frame_name in ("failures", "warnings"):
            frame = failures if frame_name == "failures" else warnings
            sel = frame["column"].isin(pseudo_cols).to_numpy(dtype=bool, na_value=False) & frame["value"].notna().to_numpy()
            if sel.any():
                hashed = pseudonymize(frame.loc[sel, ["value"]], ["value"], key=secret)["value"]
                frame = frame.copy()
                frame.loc[sel, "value"] = hashed.to_numpy()
                if frame_name == "failures":
                    failures = frame
                else:
                    warnings = frame
        notes.append("Pseudonymised with a keyed hash (HMAC-SHA256): " + ", ".join(pseudo_cols) + ".")

    return ValidationResult(
        participants=clean["participants"], responses=clean["responses"], quarantine=quarantine,
        failures=failures, warnings=warnings.reset_index(drop=True), counts=pd.DataFrame(counts),
        identifying_columns=identifying, notes=tuple(notes), study_name=study.name,
        parameters=parameters,
    )


def _clean_table(table: str, study: Any, cells: _Cells, keep: np.ndarray, p_typed: Mapping[str, np.ndarray],
                 dates: np.ndarray | None, duration: np.ndarray | None) -> pd.DataFrame:
    data = cells.data
    if table == "participants":
        out = {}
        first = ["participant_id", "arm"]
        for col in [*first, *[c for c in data.columns if c not in first]]:
            if col in p_typed:
                v = p_typed[col][keep]
                out[col] = v
            else:
                out[col] = data[col][keep].reset_index(drop=True)
        return pd.DataFrame({k: (v.reset_index(drop=True) if isinstance(v, pd.Series) else v) for k, v in out.items()})
    cols: dict[str, Any] = {
        "participant_id": data["participant_id"][keep].reset_index(drop=True),
        "wave": data["wave"][keep].reset_index(drop=True),
    }
    if dates is not None:
        cols["completed_at"] = dates[keep]
    if duration is not None:
        cols["duration_seconds"] = duration[keep]
    all_kept = bool(keep.all())
    codes = cells.codes
    n_keep = int(keep.sum())
    for col in list(codes):
        # The clean Int64 column takes over the memory of the column's codes: the float64 codes
        # are cast to int64 in place (same size, element by element) and the kept rows moved to
        # the front. A million rows x 30 items thus need no new 240 MB for the clean table.
        values = codes.pop(col)
        if not (values.flags.writeable and values.flags.owndata and values.dtype == np.float64):
            values = values.astype(np.float64)  # not ours to overwrite (or another type)
        missing = np.isnan(values)
        ints = values.view(np.int64)
        # kept values are whole numbers in range (others were quarantined): cast exactly
        with np.errstate(invalid="ignore"):
            np.copyto(ints, values, casting="unsafe")
        del values
        ints[missing] = 0
        if not all_kept:
            ints[:n_keep] = ints[keep]
            missing = missing[keep]
        cols[col] = pd.arrays.IntegerArray(ints[:n_keep], missing)
    for col in data.columns:
        if col not in cols:
            cols[col] = data[col][keep].reset_index(drop=True)
    # copy=False: the columns were built for this frame; a copy would double them
    return pd.DataFrame(cols, copy=False)

