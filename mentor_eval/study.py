"""Study configuration: the single description of an evaluation (``study.yaml``).

:func:`load_study` reads a ``study.yaml``, checks every key and returns a frozen
:class:`Study`. Every mistake raises :class:`~mentor_eval.errors.StudyConfigError`
naming the file, the key path (for example ``arms[2].model``) and what is allowed.
The format is documented in ``docs/study-config.md``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mentor_eval.config import ConfigChecker, kind, read_yaml
from mentor_eval.errors import InstrumentDefinitionError, StudyConfigError
from mentor_eval.fidelity import FidelityColumn, parse_fidelity
from mentor_eval.instruments import Instrument, Scale, list_instruments, load_instrument
from mentor_eval.models import MentorshipModel, get_model, list_models, parse_model

__all__ = [
    "DESIGNS",
    "FILE_FORMATS",
    "Arm",
    "Wave",
    "StudyInstrument",
    "Outcomes",
    "Hypothesis",
    "Privacy",
    "FileSpec",
    "Files",
    "Study",
    "load_study",
    "parse_study",
]

DESIGNS = ("randomized", "quasi-experimental", "single-arm")
FILE_FORMATS = ("csv", "xlsx", "sav", "qualtrics", "redcap")
LAYOUTS = ("long", "wide")
DIRECTIONS = ("increase", "decrease")
# extensions from which a file's format can be told when 'format' is not given
_EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".sav": "sav"}
_TOP_KEYS = (
    "name", "description", "design", "arms", "waves", "instruments", "instrument_dir", "outcomes",
    "covariates", "clusters", "dosage", "hypotheses", "privacy", "files", "models", "fidelity",
    "labels", "missing_codes", "analysis",
)
_REQUIRED_TOP = ("name", "design", "arms", "waves", "instruments", "outcomes", "files")
_FILESPEC_KEYS = (
    "path", "format", "layout", "sheet", "encoding", "delimiter", "id_column", "wave_column", "wave_map",
    "wide_pattern", "decimal", "thousands", "unfinished",
)
UNFINISHED = ("exclude", "keep")
#: Environment variable that allows data paths outside the study folder (set by --allow-outside-paths).
OUTSIDE_PATHS_ENV = "MENTOR_EVAL_ALLOW_OUTSIDE_PATHS"
# columns with a fixed meaning in the participant and response tables
_RESERVED = ("participant_id", "arm", "wave", "completed_at")
_KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")
_COLUMN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


# ---------------------------------------------------------------------- dataclasses
@dataclass(frozen=True)
class Arm:
    """A study arm: its key in the data (``arm`` column), a label and its mentorship model."""

    key: str
    label: str
    model: MentorshipModel


@dataclass(frozen=True)
class Wave:
    """A measurement occasion: its key in the data (``wave`` column) and its timing in weeks."""

    key: str
    week: float


@dataclass(frozen=True)
class StudyInstrument:
    """An instrument as administered in the study.

    ``columns`` is the pattern of its item columns (``"ahs_{item}"``), ``instrument`` the
    loaded definition with ``form`` applied, ``waves`` the waves at which it is given.
    """

    id: str
    form: str | None
    columns: str
    instrument: Instrument
    waves: tuple[str, ...]

    def item_columns(self) -> dict[str, str]:
        """Item id -> column name."""
        return self.instrument.column_names(self.columns)


@dataclass(frozen=True)
class Outcomes:
    """Outcome ids ``"instrument_id.scale_id"``: primary (confirmatory) and secondary."""

    primary: tuple[str, ...]
    secondary: tuple[str, ...] = ()

    @property
    def all(self) -> tuple[str, ...]:
        return (*self.primary, *self.secondary)


@dataclass(frozen=True)
class Hypothesis:
    """A pre-registered hypothesis: ``arm`` moves ``outcome`` in ``direction`` relative to control."""

    arm: str
    outcome: str
    direction: str
    id: str


@dataclass(frozen=True)
class Privacy:
    """Disclosure control: smallest reportable cell, columns to pseudonymise, identifying columns allowed.

    ``key_file`` (absolute, resolved against the study file; not checked for existence) holds the
    pseudonymisation secret when the environment variable ``MENTOR_EVAL_PSEUDONYM_KEY`` is not set.
    """

    min_cell: int = 10
    pseudonymize: tuple[str, ...] = ()
    allow_identifying: tuple[str, ...] = ()
    key_file: Path | None = None


@dataclass(frozen=True)
class Analysis:
    """How the arm comparison treats the declared clusters (the optional ``analysis:`` key).

    ``cluster_method``: ``"mixed"`` (REML multilevel ANCOVA, the default), ``"cr2"`` (OLS with
    the CR2 cluster-robust covariance) or ``"none"`` (ignore the clusters: must be chosen
    explicitly). ``on_bad_clusters``: ``"error"`` (stop and name the column and arm, the
    default) or ``"fallback"`` (participants of a mentored arm without a cluster value become
    clusters of one; every fallback is recorded in the run notes).
    """

    cluster_method: str = "mixed"
    on_bad_clusters: str = "error"


_ANALYSIS_CHOICES = {"cluster_method": ("mixed", "cr2", "none"), "on_bad_clusters": ("error", "fallback")}


@dataclass(frozen=True)
class FileSpec:
    """How to read one data file.

    Attributes
    ----------
    path : Path
        Absolute, resolved path.
    format : str or None
        ``csv``, ``xlsx``, ``sav``, ``qualtrics`` or ``redcap``; None: told from the extension.
    layout : str
        ``long`` (one row per participant x wave) or ``wide`` (one row per participant).
    sheet, encoding, delimiter : str or None
        Reader options (Excel sheet name, text encoding, field delimiter).
    id_column, wave_column : str
        Names of the participant id and wave columns in the source file.
    wave_map : mapping
        Source wave value -> study wave key (e.g. REDCap ``baseline_arm_1`` -> ``baseline``).
    wide_pattern : str or None
        For the wide layout, how a column name combines wave and column, e.g. ``"{wave}_{column}"``.
    decimal, thousands : str
        Number format of the file's numeric columns (covariates, dosage, durations): ``decimal``
        ``"."`` (default) or ``","``; ``thousands`` a grouping character such as ``"."``, ``" "``
        or ``"'"`` (default: none). ``decimal: ","`` reads ``16,5`` as 16.5.
    unfinished : str
        Qualtrics responses with ``Finished`` false or ``Progress`` below 100: ``"exclude"``
        (default; kept in the data and the participant flow as assessed, their answers not
        analysed) or ``"keep"`` (analysed like complete ones). Flagged either way.
    """

    path: Path
    format: str | None = None
    layout: str = "long"
    sheet: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    id_column: str = "participant_id"
    wave_column: str = "wave"
    wave_map: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    wide_pattern: str | None = None
    decimal: str = "."
    thousands: str | None = None
    unfinished: str = "exclude"


@dataclass(frozen=True)
class Files:
    """The study's data files."""

    participants: FileSpec
    responses: FileSpec


@dataclass(frozen=True)
class Study:
    """A checked study configuration (see :func:`load_study`)."""

    name: str
    design: str
    path: Path
    root: Path
    arms: tuple[Arm, ...]
    waves: tuple[Wave, ...]
    instruments: tuple[StudyInstrument, ...]
    outcomes: Outcomes
    covariates: tuple[str, ...]
    clusters: tuple[str, ...]
    dosage: tuple[str, ...]
    hypotheses: tuple[Hypothesis, ...]
    privacy: Privacy
    files: Files
    custom_models: tuple[MentorshipModel, ...] = ()
    description: str | None = None
    fidelity: tuple[FidelityColumn, ...] = ()  # arm x indicator -> participants column
    #: Display labels of covariates, dosage variables and their levels (``"gender"``,
    #: ``"gender=nonbinary"``), from the optional ``labels:`` key; reports fall back to the names.
    labels: Mapping[str, str] = field(default_factory=dict)
    missing_codes: tuple[str, ...] = ()
    analysis: Analysis = field(default_factory=Analysis)

    # ------------------------------------------------------------------ views
    @property
    def control_arm(self) -> str | None:
        """Key of the arm whose model is ``control`` (None for single-arm designs)."""
        for a in self.arms:
            if a.model.key == "control":
                return a.key
        return None

    @property
    def arm_keys(self) -> tuple[str, ...]:
        return tuple(a.key for a in self.arms)

    @property
    def wave_keys(self) -> tuple[str, ...]:
        return tuple(w.key for w in self.waves)

    @property
    def baseline(self) -> str:
        """Key of the first wave."""
        return self.waves[0].key

    @property
    def final(self) -> str:
        """Key of the last wave."""
        return self.waves[-1].key

    @property
    def instrument_ids(self) -> tuple[str, ...]:
        return tuple(i.id for i in self.instruments)

    def arm(self, key: str) -> Arm:
        """The arm with this key."""
        for a in self.arms:
            if a.key == key:
                return a
        raise StudyConfigError(f"Study {self.name!r} has no arm {key!r}; arms are: {', '.join(self.arm_keys)}.")

    def instrument(self, instrument_id: str) -> StudyInstrument:
        """The study instrument with this id."""
        for si in self.instruments:
            if si.id == instrument_id:
                return si
        raise StudyConfigError(
            f"Study {self.name!r} has no instrument {instrument_id!r}; "
            f"instruments are: {', '.join(self.instrument_ids)}."
        )

    def models(self) -> list[MentorshipModel]:
        """Every model known to this study (built-in and custom)."""
        return list_models(self.custom_models)

    def item_columns(self) -> dict[str, dict[str, str]]:
        """Instrument id -> item id -> column name in the responses table."""
        return {si.id: si.item_columns() for si in self.instruments}

    def resolve_outcome(self, outcome: str) -> tuple[StudyInstrument, Scale]:
        """Split ``"instrument_id.scale_id"`` and return the study instrument and its scale.

        Raises
        ------
        StudyConfigError
            If the instrument is not in the study or has no such scale.
        """
        if not isinstance(outcome, str) or "." not in outcome:
            raise StudyConfigError(
                f"Outcome {outcome!r} must be written 'instrument_id.scale_id', e.g. 'adult_hope_scale.total'."
            )
        inst_id, scale_id = outcome.rsplit(".", 1)
        si = self.instrument(inst_id)
        try:
            return si, si.instrument.scale(scale_id)
        except KeyError:
            raise StudyConfigError(
                f"Outcome {outcome!r}: instrument {inst_id!r} has no scale {scale_id!r}; "
                f"scales are: {', '.join(si.instrument.scale_ids)}."
            ) from None


# ---------------------------------------------------------------------- checking
class _Checker(ConfigChecker):
    """Study-file messages: the file name and the key path (rules shared with instrument files)."""

    def __init__(self, source: str) -> None:
        super().__init__(source, StudyConfigError, "key")
        self.allow_outside = False

    def key(self, value: Any, path: str) -> str:
        """An identifier used as a value in the data (arm or wave key)."""
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise self.fail(path, f"must be a short text key; got {_kind(value)} {value!r}.")
        s = str(value).strip()
        if not _KEY_RE.match(s):
            raise self.fail(path, f"must start with a letter and hold only letters, digits, '_' or '-'; "
                                  f"got {s!r}.")
        return s

    def column(self, value: Any, path: str) -> str:
        s = self.text(value, path)
        assert s is not None
        if not _COLUMN_RE.match(s):
            raise self.fail(path, f"must be a column name (letters, digits, '_', '.', '-', starting with a "
                                  f"letter or '_'); got {s!r}.")
        return s

    def columns(self, value: Any, path: str) -> tuple[str, ...]:
        out: list[str] = []
        for i, v in enumerate(self.seq(value, path, allow_scalar=True)):
            c = self.column(v, f"{path}[{i}]")
            if c in out:
                raise self.fail(f"{path}[{i}]", f"column {c!r} is listed twice.")
            out.append(c)
        return tuple(out)


_kind = kind


def _check_inside(c: _Checker, resolved: Path, root: Path, key: str, what: str) -> None:
    """A path named in the study must stay inside the study folder unless explicitly allowed."""
    if c.allow_outside or resolved == root or root in resolved.parents:
        return
    # The path is not echoed beyond what the user wrote, and the file is never opened.
    raise c.fail(key, f"the {what} lies outside the study folder (after following '..' and links); "
                      "mentor-eval reads only files inside the folder of the study file, so that a study "
                      "folder from someone else cannot read other files on this machine. Move the file into "
                      f"the study folder, or run with --allow-outside-paths (or set {OUTSIDE_PATHS_ENV}=1) "
                      "if you trust this study file.")


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


# ---------------------------------------------------------------------- sections
def _parse_models(c: _Checker, raw: Any) -> tuple[MentorshipModel, ...]:
    out: list[MentorshipModel] = []
    for i, m in enumerate(c.seq(raw, "models")):
        model = parse_model(m, f"models[{i}]", c.source)
        if any(o.key == model.key for o in out):
            raise c.fail(f"models[{i}].key", f"custom model {model.key!r} is declared twice.")
        out.append(model)
    return tuple(out)


def _parse_arms(c: _Checker, raw: Any, custom: tuple[MentorshipModel, ...]) -> tuple[Arm, ...]:
    items = c.seq(raw, "arms")
    if not items:
        raise c.fail("arms", "must list at least one arm, e.g. [{key: ctrl, label: Waitlist, model: control}].")
    arms: list[Arm] = []
    for i, a in enumerate(items):
        p = f"arms[{i}]"
        m = c.mapping(a, p)
        c.unknown_keys(m, ("key", "label", "model"), p)
        key = c.key(m.get("key"), f"{p}.key")
        if any(x.key == key for x in arms):
            raise c.fail(f"{p}.key", f"duplicate arm key {key!r}; every arm needs its own key.")
        model_key = c.text(m.get("model"), f"{p}.model")
        try:
            model = get_model(model_key, custom)  # type: ignore[arg-type]
        except StudyConfigError:
            allowed = ", ".join(x.key for x in list_models(custom))
            raise c.fail(f"{p}.model", f"unknown mentorship model {model_key!r}; allowed models: {allowed} "
                                       "(or declare a custom model under 'models:').") from None
        label = c.text(m.get("label"), f"{p}.label", required=False) or model.name
        arms.append(Arm(key, label, model))
    return tuple(arms)


def _check_design(c: _Checker, design: str, arms: tuple[Arm, ...]) -> None:
    controls = [i for i, a in enumerate(arms) if a.model.key == "control"]
    if len(controls) > 1:
        raise c.fail(f"arms[{controls[1]}].model",
                     f"only one arm may use model 'control' (arm {arms[controls[0]].key!r} already does); "
                     "merge the comparison conditions or declare a custom model for the second one.")
    if design == "single-arm":
        if len(arms) != 1:
            raise c.fail("design", f"'single-arm' needs exactly one arm; {len(arms)} are listed. "
                                   "Use 'randomized' or 'quasi-experimental' to compare arms.")
        if controls:
            raise c.fail("arms[0].model", "the only arm of a single-arm study must be a mentorship model, "
                                          "not 'control'.")
        return
    if len(arms) < 2:
        raise c.fail("arms", f"a {design} design compares arms and needs at least two (one with model "
                             "'control'); use design: single-arm for a study of one program.")
    if not controls:
        raise c.fail("arms", f"a {design} design needs a comparison arm with model 'control' (no mentoring, "
                             "waitlist or business as usual); every effect is estimated against it. Add one, "
                             "or use design: single-arm for a study of one program.")


def _parse_waves(c: _Checker, raw: Any) -> tuple[Wave, ...]:
    items = c.seq(raw, "waves")
    if not items:
        raise c.fail("waves", "must list at least one wave, e.g. [{key: baseline, week: 0}, {key: post, week: 24}].")
    waves: list[Wave] = []
    for i, w in enumerate(items):
        p = f"waves[{i}]"
        m = c.mapping(w, p)
        c.unknown_keys(m, ("key", "week"), p)
        key = c.key(m.get("key"), f"{p}.key")
        if any(x.key == key for x in waves):
            raise c.fail(f"{p}.key", f"duplicate wave key {key!r}.")
        if m.get("week") is None:
            raise c.fail(f"{p}.week", "is required (weeks since baseline, e.g. 0, 12, 24).")
        week = c.number(m["week"], f"{p}.week")
        if waves and week <= waves[-1].week:
            raise c.fail(f"{p}.week", f"waves must be listed in increasing week order; wave {key!r} "
                                      f"(week {week:g}) does not come after {waves[-1].key!r} "
                                      f"(week {waves[-1].week:g}).")
        waves.append(Wave(key, week))
    return tuple(waves)


def _known_instrument_ids(directory: Path | None) -> str:
    try:
        return ", ".join(i.id for i in list_instruments(directory))
    except InstrumentDefinitionError:
        return "(the instrument library could not be read)"


def _parse_instruments(c: _Checker, raw: Any, waves: tuple[Wave, ...],
                       directory: Path | None) -> tuple[StudyInstrument, ...]:
    items = c.seq(raw, "instruments")
    if not items:
        raise c.fail("instruments", "must list at least one instrument, e.g. "
                                    "[{id: adult_hope_scale, form: 8-point, columns: 'ahs_{item}'}].")
    wave_keys = [w.key for w in waves]
    out: list[StudyInstrument] = []
    owner: dict[str, str] = {}
    for i, r in enumerate(items):
        p = f"instruments[{i}]"
        m = c.mapping(r, p)
        c.unknown_keys(m, ("id", "form", "columns", "waves"), p)
        iid = c.text(m.get("id"), f"{p}.id")
        assert iid is not None
        if any(x.id == iid for x in out):
            raise c.fail(f"{p}.id", f"instrument {iid!r} is listed twice.")
        try:
            base = load_instrument(iid, directory=directory)
        except InstrumentDefinitionError as exc:
            if str(exc).startswith("Unknown instrument"):
                raise c.fail(f"{p}.id", f"unknown instrument {iid!r}; known instruments: "
                                        f"{_known_instrument_ids(directory)}.") from None
            raise c.fail(f"{p}.id", f"the definition of {iid!r} is invalid: {exc}") from None
        form = c.text(m.get("form"), f"{p}.form", required=False)
        if form is not None and form not in base.forms:
            raise c.fail(f"{p}.form", f"instrument {iid!r} has no form {form!r}; forms: {', '.join(base.forms)}.")
        inst = base.with_form(form)
        pattern = c.text(m.get("columns"), f"{p}.columns", required=False) or f"{iid}_{{item}}"
        if "{item}" not in pattern:
            raise c.fail(f"{p}.columns", f"must contain '{{item}}' where the item id goes, e.g. "
                                         f"'{iid}_{{item}}'; got {pattern!r}.")
        cols = inst.column_names(pattern)
        for col in cols.values():
            if col in owner:
                raise c.fail(f"{p}.columns", f"column {col!r} is also an item column of {owner[col]!r}; "
                                             "give each instrument its own column pattern.")
            if col in _RESERVED:
                raise c.fail(f"{p}.columns", f"item column {col!r} clashes with a reserved column.")
            owner[col] = iid
        if m.get("waves") is None:
            iw = tuple(wave_keys)
        else:
            listed = c.seq(m["waves"], f"{p}.waves", allow_scalar=True)
            if not listed:
                raise c.fail(f"{p}.waves", "must list at least one wave (omit the key to use all waves).")
            seen: list[str] = []
            for j, w in enumerate(listed):
                wk = str(w)
                if wk not in wave_keys:
                    raise c.fail(f"{p}.waves[{j}]", f"unknown wave {wk!r}; waves: {', '.join(wave_keys)}.")
                if wk in seen:
                    raise c.fail(f"{p}.waves[{j}]", f"wave {wk!r} is listed twice.")
                seen.append(wk)
            iw = tuple(k for k in wave_keys if k in seen)
        out.append(StudyInstrument(iid, form, pattern, inst, iw))
    return tuple(out)


def _check_outcome(c: _Checker, value: Any, path: str, instruments: tuple[StudyInstrument, ...]) -> str:
    s = c.text(value, path)
    assert s is not None
    if "." not in s:
        raise c.fail(path, f"must be written 'instrument_id.scale_id' (e.g. 'adult_hope_scale.total'); got {s!r}.")
    iid, sid = s.rsplit(".", 1)
    match = [si for si in instruments if si.id == iid]
    if not match:
        raise c.fail(path, f"instrument {iid!r} is not among the study's instruments "
                           f"({', '.join(si.id for si in instruments)}).")
    scales = match[0].instrument.scale_ids
    if sid not in scales:
        raise c.fail(path, f"instrument {iid!r} has no scale {sid!r}; scales: {', '.join(scales)}.")
    return s


def _parse_outcomes(c: _Checker, raw: Any, instruments: tuple[StudyInstrument, ...]) -> Outcomes:
    m = c.mapping(raw, "outcomes")
    c.unknown_keys(m, ("primary", "secondary"), "outcomes")
    lists: dict[str, list[str]] = {}
    seen: dict[str, str] = {}
    for part in ("primary", "secondary"):
        vals: list[str] = []
        for i, v in enumerate(c.seq(m.get(part), f"outcomes.{part}", allow_scalar=True)):
            p = f"outcomes.{part}[{i}]"
            o = _check_outcome(c, v, p, instruments)
            if o in seen:
                raise c.fail(p, f"outcome {o!r} is already listed at {seen[o]}.")
            seen[o] = p
            vals.append(o)
        lists[part] = vals
    if not lists["primary"]:
        raise c.fail("outcomes.primary", "must list at least one outcome 'instrument_id.scale_id'.")
    return Outcomes(tuple(lists["primary"]), tuple(lists["secondary"]))


def _parse_hypotheses(c: _Checker, raw: Any, arms: tuple[Arm, ...], outcomes: Outcomes,
                      design: str) -> tuple[Hypothesis, ...]:
    out: list[Hypothesis] = []
    arm_keys = [a.key for a in arms]
    for i, h in enumerate(c.seq(raw, "hypotheses")):
        p = f"hypotheses[{i}]"
        m = c.mapping(h, p)
        c.unknown_keys(m, ("id", "arm", "outcome", "direction"), p)
        arm = c.text(m.get("arm"), f"{p}.arm")
        if arm not in arm_keys:
            raise c.fail(f"{p}.arm", f"unknown arm {arm!r}; arms: {', '.join(arm_keys)}.")
        if design != "single-arm" and next(a for a in arms if a.key == arm).model.key == "control":
            raise c.fail(f"{p}.arm", f"arm {arm!r} is the control arm; a hypothesis names the mentored arm "
                                     "that is compared with control.")
        outcome = c.text(m.get("outcome"), f"{p}.outcome")
        if outcome not in outcomes.all:
            raise c.fail(f"{p}.outcome", f"unknown outcome {outcome!r}; a hypothesis must test one of the "
                                         f"study's outcomes: {', '.join(outcomes.all)}.")
        direction = c.text(m.get("direction"), f"{p}.direction")
        if direction not in DIRECTIONS:
            raise c.fail(f"{p}.direction", f"must be one of {', '.join(DIRECTIONS)}; got {direction!r}.")
        hid = c.key(m["id"], f"{p}.id") if m.get("id") is not None else f"H{i + 1}"
        if any(x.id == hid for x in out):
            raise c.fail(f"{p}.id", f"duplicate hypothesis id {hid!r}.")
        out.append(Hypothesis(arm, outcome, direction, hid))  # type: ignore[arg-type]
    return tuple(out)


def _parse_labels(c: _Checker, raw: Any, variables: tuple[str, ...]) -> dict[str, str]:
    """``labels: {age: "Age (years)", gender: {label: Gender, levels: {nonbinary: Non-binary}}}``."""
    if raw is None:
        return {}
    m = c.mapping(raw, "labels")
    out: dict[str, str] = {}
    for var, value in m.items():
        where = f"labels.{var}"
        if var not in variables:
            raise c.fail(where, f"{var!r} is not a covariate or dosage variable of this study "
                                f"({', '.join(variables) or 'none listed'}).")
        if isinstance(value, str):
            out[str(var)] = c.text(value, where)  # type: ignore[assignment]
            continue
        spec = c.mapping(value, where)
        c.unknown_keys(spec, ("label", "levels"), where)
        if spec.get("label") is not None:
            out[str(var)] = c.text(spec["label"], f"{where}.label")  # type: ignore[assignment]
        if spec.get("levels") is not None:
            for level, text in c.mapping(spec["levels"], f"{where}.levels").items():
                out[f"{var}={level}"] = c.text(text, f"{where}.levels.{level}")  # type: ignore[assignment]
    return out


def _parse_analysis(c: _Checker, raw: Any) -> Analysis:
    if raw is None:
        return Analysis()
    m = c.mapping(raw, "analysis")
    c.unknown_keys(m, tuple(_ANALYSIS_CHOICES), "analysis")
    values = {}
    for key, choices in _ANALYSIS_CHOICES.items():
        if key not in m:
            continue
        v = m[key]
        if not isinstance(v, str) or v not in choices:
            raise c.fail(f"analysis.{key}", f"must be one of {', '.join(map(repr, choices))}; got {_kind(v)} {v!r}.")
        values[key] = v
    return Analysis(**values)


def _parse_privacy(c: _Checker, raw: Any, root: Path) -> Privacy:
    if raw is None:
        return Privacy()
    m = c.mapping(raw, "privacy")
    c.unknown_keys(m, ("min_cell", "pseudonymize", "allow_identifying", "key_file"), "privacy")
    min_cell = m.get("min_cell", 10)
    if isinstance(min_cell, bool) or not isinstance(min_cell, int):
        raise c.fail("privacy.min_cell", f"must be a whole number >= 1; got {_kind(min_cell)} {min_cell!r}.")
    if min_cell < 1:
        raise c.fail("privacy.min_cell", f"must be a whole number >= 1 (10 is common); got {min_cell}.")
    key_file = None
    if m.get("key_file") is not None:
        kf = Path(c.text(m["key_file"], "privacy.key_file")).expanduser()  # type: ignore[arg-type]
        key_file = (kf if kf.is_absolute() else root / kf).resolve()
    return Privacy(
        min_cell,
        c.columns(m.get("pseudonymize"), "privacy.pseudonymize"),
        c.columns(m.get("allow_identifying"), "privacy.allow_identifying"),
        key_file,
    )


def _parse_filespec(c: _Checker, raw: Any, path: str, root: Path, study_path: Path,
                    waves: tuple[Wave, ...], check_files: bool) -> FileSpec:
    was_text = isinstance(raw, str)
    if was_text:
        raw = {"path": raw}
    m = c.mapping(raw, path)
    c.unknown_keys(m, _FILESPEC_KEYS, path)
    rel = c.text(m.get("path"), f"{path}.path")
    assert rel is not None
    p = Path(rel).expanduser()
    resolved = (p if p.is_absolute() else root / p).resolve()
    _check_inside(c, resolved, root, path if was_text else f"{path}.path", "data file")
    if check_files and not resolved.is_file():
        shown = _rel(resolved, root)
        raise c.fail(path if was_text else f"{path}.path",
                     f"data file {shown!r} (relative to {study_path.name}) does not exist"
                     f"{' (it is a directory)' if resolved.is_dir() else ''}.")
    fmt = c.text(m.get("format"), f"{path}.format", required=False)
    if fmt is not None and fmt not in FILE_FORMATS:
        raise c.fail(f"{path}.format", f"must be one of {', '.join(FILE_FORMATS)}; got {fmt!r}.")
    if fmt is None and resolved.suffix.lower() not in _EXTENSIONS:
        raise c.fail(f"{path}.format", f"cannot tell the format of {resolved.name!r} from its extension; "
                                       f"set format to one of {', '.join(FILE_FORMATS)}.")
    effective = fmt or _EXTENSIONS[resolved.suffix.lower()]
    layout = c.text(m.get("layout"), f"{path}.layout", required=False) or "long"
    if layout not in LAYOUTS:
        raise c.fail(f"{path}.layout", f"must be one of {', '.join(LAYOUTS)}; got {layout!r}.")
    sheet = m.get("sheet")
    if sheet is not None:
        if isinstance(sheet, bool) or not isinstance(sheet, (str, int)):
            raise c.fail(f"{path}.sheet", f"must be a sheet name; got {_kind(sheet)}.")
        if effective != "xlsx":
            raise c.fail(f"{path}.sheet", f"applies only to Excel files; this file's format is {effective!r}.")
        sheet = str(sheet)
    encoding = c.text(m.get("encoding"), f"{path}.encoding", required=False)
    if encoding is not None:
        import codecs

        try:
            codecs.lookup(encoding)
        except LookupError:
            raise c.fail(f"{path}.encoding", f"unknown text encoding {encoding!r} (e.g. utf-8, latin-1, "
                                             "cp1252).") from None
    delimiter = m.get("delimiter")
    if delimiter is not None:
        if not isinstance(delimiter, str) or len(delimiter) != 1:
            raise c.fail(f"{path}.delimiter", f"must be a single character such as ',' ';' or '\\t'; "
                                              f"got {delimiter!r}.")
    id_column = c.column(m["id_column"], f"{path}.id_column") if m.get("id_column") is not None \
        else "participant_id"
    wave_column = c.column(m["wave_column"], f"{path}.wave_column") if m.get("wave_column") is not None \
        else "wave"
    wave_keys = [w.key for w in waves]
    wave_map: dict[str, str] = {}
    if m.get("wave_map") is not None:
        wm = c.mapping(m["wave_map"], f"{path}.wave_map")
        for src, dst in wm.items():
            dst_s = str(dst) if isinstance(dst, (str, int)) and not isinstance(dst, bool) else None
            if dst_s not in wave_keys:
                raise c.fail(f"{path}.wave_map.{src}", f"maps to {dst!r}, which is not a study wave; waves: "
                                                      f"{', '.join(wave_keys)}.")
            wave_map[str(src)] = dst_s  # type: ignore[assignment]
    wide_pattern = c.text(m.get("wide_pattern"), f"{path}.wide_pattern", required=False)
    if wide_pattern is not None:
        if layout != "wide":
            raise c.fail(f"{path}.wide_pattern", "applies only with layout: wide.")
        if "{wave}" not in wide_pattern or "{column}" not in wide_pattern:
            raise c.fail(f"{path}.wide_pattern", f"must contain both '{{wave}}' and '{{column}}', e.g. "
                                                 f"'{{wave}}_{{column}}'; got {wide_pattern!r}.")
    decimal = c.text(m.get("decimal"), f"{path}.decimal", required=False) or "."
    if decimal not in (".", ","):
        raise c.fail(f"{path}.decimal", f"must be '.' or ','; got {decimal!r}.")
    thousands = m.get("thousands")
    if thousands is not None:
        if not isinstance(thousands, str) or len(thousands) != 1 or thousands.isalnum() or thousands in "+-":
            raise c.fail(f"{path}.thousands", f"must be one grouping character such as '.', ',', ' ' or \"'\"; "
                                              f"got {thousands!r}.")
        if thousands == decimal:
            raise c.fail(f"{path}.thousands", f"must differ from the decimal mark {decimal!r}.")
    unfinished = c.text(m.get("unfinished"), f"{path}.unfinished", required=False) or "exclude"
    if unfinished not in UNFINISHED:
        raise c.fail(f"{path}.unfinished", f"must be one of {', '.join(UNFINISHED)}; got {unfinished!r}.")
    return FileSpec(resolved, fmt, layout, sheet, encoding, delimiter, id_column, wave_column,
                    MappingProxyType(wave_map), wide_pattern, decimal, thousands, unfinished)


def _parse_files(c: _Checker, raw: Any, root: Path, study_path: Path, waves: tuple[Wave, ...],
                 check_files: bool) -> Files:
    m = c.mapping(raw, "files")
    c.unknown_keys(m, ("participants", "responses"), "files")
    specs = {}
    for part in ("participants", "responses"):
        if m.get(part) is None:
            raise c.fail(f"files.{part}", f"is required: the {part} data file (a path relative to "
                                          f"{study_path.name}, or a mapping with 'path' and reader options).")
        specs[part] = _parse_filespec(c, m[part], f"files.{part}", root, study_path, waves, check_files)
    return Files(**specs)


def parse_study(raw: Any, path: str | Path, *, check_files: bool = True,
                allow_outside_paths: bool | None = None) -> Study:
    """Check a parsed ``study.yaml`` (a mapping) and build the :class:`Study`.

    Parameters
    ----------
    raw : mapping
        The YAML content.
    path : path
        Where the study file is (relative data paths resolve against its directory).
    check_files : bool, default True
        Check that the data files exist.
    allow_outside_paths : bool, optional
        See :func:`load_study`.

    Returns
    -------
    Study

    Raises
    ------
    StudyConfigError
        On any mistake, naming the file, key path and what is allowed.
    """
    study_path = Path(path).resolve()
    root = study_path.parent
    c = _Checker(study_path.name)
    if allow_outside_paths is None:
        allow_outside_paths = os.environ.get(OUTSIDE_PATHS_ENV, "") == "1"
    c.allow_outside = bool(allow_outside_paths)
    if raw is None:
        raise c.fail("", "the file is empty; see docs/study-config.md for the format.")
    m = c.mapping(raw, "")
    c.unknown_keys(m, _TOP_KEYS, "")
    for k in _REQUIRED_TOP:
        if m.get(k) is None:
            raise c.fail(k, "is required.")
    name = c.text(m["name"], "name")
    description = c.text(m.get("description"), "description", required=False)
    design = c.text(m["design"], "design")
    if design not in DESIGNS:
        raise c.fail("design", f"must be one of {', '.join(DESIGNS)}; got {design!r}.")

    inst_dir = None
    if m.get("instrument_dir") is not None:
        d = Path(c.text(m["instrument_dir"], "instrument_dir")).expanduser()  # type: ignore[arg-type]
        inst_dir = (d if d.is_absolute() else root / d).resolve()
        _check_inside(c, inst_dir, root, "instrument_dir", "instrument directory")
        if not inst_dir.is_dir():
            raise c.fail("instrument_dir", f"directory {_rel(inst_dir, root)!r} (relative to {study_path.name}) "
                                           "does not exist.")

    custom = _parse_models(c, m.get("models"))
    arms = _parse_arms(c, m["arms"], custom)
    _check_design(c, design, arms)  # type: ignore[arg-type]
    waves = _parse_waves(c, m["waves"])
    instruments = _parse_instruments(c, m["instruments"], waves, inst_dir)
    outcomes = _parse_outcomes(c, m["outcomes"], instruments)
    covariates = c.columns(m.get("covariates"), "covariates")
    clusters = c.columns(m.get("clusters"), "clusters")
    dosage = c.columns(m.get("dosage"), "dosage")
    item_cols = {col for si in instruments for col in si.item_columns().values()}
    for part, cols in (("covariates", covariates), ("clusters", clusters), ("dosage", dosage)):
        for i, col in enumerate(cols):
            if col in _RESERVED:
                raise c.fail(f"{part}[{i}]", f"{col!r} is a reserved column ({', '.join(_RESERVED)}) and cannot "
                                             f"be used in {part}.")
            if col in item_cols:
                raise c.fail(f"{part}[{i}]", f"{col!r} is an item column; {part} are participant columns.")
    for i, col in enumerate(clusters):
        if col in covariates:
            raise c.fail(f"clusters[{i}]", f"{col!r} is also listed as a covariate; a clustering column "
                                           "identifies groups and cannot be both.")
    forbidden = {**{col: "is a reserved column" for col in _RESERVED},
                 **{col: "is an item column; fidelity indicators are participant columns" for col in item_cols}}
    fidelity = parse_fidelity(m.get("fidelity"), arms, source=c.source, forbidden=forbidden)
    missing_codes = tuple(c.text(v, f"missing_codes[{i}]", numbers_as_text=True)  # type: ignore[misc]
                          for i, v in enumerate(c.seq(m.get("missing_codes"), "missing_codes", allow_scalar=True)))
    hypotheses = _parse_hypotheses(c, m.get("hypotheses"), arms, outcomes, design)  # type: ignore[arg-type]
    privacy = _parse_privacy(c, m.get("privacy"), root)
    labels = _parse_labels(c, m.get("labels"), (*covariates, *dosage))
    analysis = _parse_analysis(c, m.get("analysis"))
    files = _parse_files(c, m["files"], root, study_path, waves, check_files)
    return Study(
        name=name, design=design, path=study_path, root=root, arms=arms, waves=waves,  # type: ignore[arg-type]
        instruments=instruments, outcomes=outcomes, covariates=covariates, clusters=clusters,
        dosage=dosage, hypotheses=hypotheses, privacy=privacy, files=files, custom_models=custom,
        description=description, fidelity=fidelity, labels=labels, missing_codes=missing_codes,
        analysis=analysis,
    )


def load_study(path: str | Path | None = None, *, check_files: bool = True,
               allow_outside_paths: bool | None = None) -> Study:
    """Read and check a study configuration.

    Parameters
    ----------
    path : path, optional
        A ``study.yaml`` file, or a directory holding one. None: the bundled sample study.
    check_files : bool, default True
        Check that the data files named under ``files`` exist.
    allow_outside_paths : bool, optional
        Allow data files and ``instrument_dir`` outside the study file's folder. Default: no,
        unless the environment variable ``MENTOR_EVAL_ALLOW_OUTSIDE_PATHS`` is ``1`` (which the
        CLI option ``--allow-outside-paths`` sets). A study folder received from someone else
        then cannot make mentor-eval read (and quote) files elsewhere on the machine.

    Returns
    -------
    Study
        Frozen; data paths resolved against the study file's directory.

    Raises
    ------
    StudyConfigError
        If the file is missing, not UTF-8, not valid YAML, repeats a key, expands aliases
        without bound, names a data path outside the study folder, or breaks any rule in
        ``docs/study-config.md``. The message names the file, the key path (e.g.
        ``arms[2].model``) or line, and what is allowed.

    Examples
    --------
    >>> study = load_study()                       # the bundled sample study
    >>> study.control_arm, study.baseline, study.final
    ('control', 'baseline', 'post')
    """
    if path is None:
        from mentor_eval.resources import sample_study_path

        p = sample_study_path()
    else:
        p = Path(path).expanduser()
        if p.is_dir():
            p = p / "study.yaml"
    if not p.is_file():
        raise StudyConfigError(f"Study file {p.as_posix()} does not exist.")
    raw = read_yaml(p, error=StudyConfigError, what="study file")
    return parse_study(raw, p, check_files=check_files, allow_outside_paths=allow_outside_paths)
