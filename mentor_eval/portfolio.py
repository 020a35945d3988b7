"""A funder's portfolio: many programs' evaluations pooled by mentorship model.

``portfolio.yaml`` lists study folders (or globs), the outcomes and the grouping. Every study
runs through the usual pipeline (:func:`mentor_eval.pipeline.run_study`: validation, scoring,
ANCOVA) and its own disclosure control (:func:`mentor_eval.protect`); only the protected,
aggregate effect sizes (Hedges g and its variance per arm x outcome) and design checks leave a
study. They are pooled per mentorship model and outcome with :func:`mentor_eval.meta_analysis`.
A study that cannot be analysed is listed with its reason and left out, never silently.

Studies are independent tasks: they run serially or on a Dask cluster (``scheduler``), with
identical results either way (each study is deterministic and results are gathered in the
order of the portfolio file).

Format of ``portfolio.yaml``::

    name: Riverside Foundation portfolio 2026
    studies:                        # folders holding study.yaml, study files, or globs of either
      - programs/*
      - {path: extra/hope-hub, population: first-generation students}
    outcomes: [adult_hope_scale.total, general_belongingness_scale.total]   # default: primary
    group_by: model                 # model (the arm's mentorship model) | format (dyad/group/community)
    method: REML                    # REML | DL
    test: knha                      # knha (Knapp-Hartung, default) | z
    prediction: higgins             # higgins (t, k-2 df) | metafor
    ci_level: 0.95                  # level of every interval (older spelling: level)
    moderators: [format, targeted]  # meta-regression per outcome across models (optional)
    privacy: {min_cell: 10}         # at least each study's own min_cell
    max_quarantined: 0.10           # leave out a study with more of its rows quarantined
"""

from __future__ import annotations

import glob as _glob
import hashlib
import json
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from mentor_eval import __version__
from mentor_eval.errors import MentorEvalError, ParameterError, StudyConfigError

__all__ = [
    "PortfolioConfig",
    "ProgramSpec",
    "ProgramResult",
    "PortfolioResult",
    "load_portfolio",
    "analyse_program",
    "run_portfolio",
    "pool_programs",
    "load_portfolio_result",
    "forest_figure",
    "models_figure",
    "portfolio_summary",
    "consistency_sentence",
    "standout_sentences",
    "SCHEDULERS",
    "dask_client",
    "SAMPLE_MODELS",
    "simulate_portfolio",
]

GROUPINGS = ("model", "format")
MODERATORS = ("format", "targeted", "population", "model")
SCHEDULERS = ("auto", "serial", "local")
#: How long to wait for an existing Dask scheduler to answer.
DASK_CONNECT_TIMEOUT = "20s"
_KEYS = {"name", "studies", "outcomes", "group_by", "method", "test", "prediction", "moderators", "privacy",
         "max_quarantined", "ci_level", "level", "description"}
_STUDY_KEYS = {"path", "population", "label"}


# =============================================================================== configuration
@dataclass(frozen=True)
class ProgramSpec:
    """One study of the portfolio: where its study.yaml is and its study-level attributes."""

    path: Path
    label: str | None = None
    population: str | None = None
    source: str = ""  # the portfolio entry it came from (shown in messages)


@dataclass(frozen=True)
class PortfolioConfig:
    """A checked ``portfolio.yaml`` (see :func:`load_portfolio`)."""

    name: str
    path: Path | None
    programs: tuple[ProgramSpec, ...]
    outcomes: tuple[str, ...] | None = None
    group_by: str = "model"
    method: str = "REML"
    test: str = "knha"
    prediction: str = "higgins"
    ci_level: float = 0.95
    moderators: tuple[str, ...] = ()
    min_cell: int = 10
    max_quarantined: float = 0.10
    description: str | None = None

    @property
    def root(self) -> Path:
        return self.path.parent if self.path is not None else Path.cwd()

    def settings(self) -> dict[str, Any]:
        """The analysis settings (for provenance)."""
        return {"group_by": self.group_by, "method": self.method, "test": self.test,
                "prediction": self.prediction, "ci_level": self.ci_level, "moderators": list(self.moderators),
                "min_cell": self.min_cell, "max_quarantined": self.max_quarantined,
                "outcomes": list(self.outcomes) if self.outcomes else None}


def _fail(path: Path | None, key: str, rule: str) -> StudyConfigError:
    where = path.name if path is not None else "portfolio"
    return StudyConfigError(f"{where}: '{key}' {rule}")


def _expand(entry: str, root: Path, src: Path | None, key: str) -> list[Path]:
    """Study files named by one entry: a study.yaml, a folder holding one, or a glob of either."""
    pattern = entry if Path(entry).is_absolute() else str(root / entry)
    if any(ch in entry for ch in "*?["):
        hits = sorted(Path(p) for p in _glob.glob(pattern, recursive=True))
        found = [p / "study.yaml" if p.is_dir() else p for p in hits]
        found = [p for p in found if p.is_file() and p.suffix in (".yaml", ".yml")]
        if not found:
            raise _fail(src, key, f"matches no study folder or study file: {entry!r}.")
        return found
    p = Path(pattern)
    if p.is_dir():
        p = p / "study.yaml"
    if not p.is_file():
        raise _fail(src, key, f"names {entry!r}, which is neither a study.yaml nor a folder holding one.")
    return [p]


def load_portfolio(source: str | Path | dict[str, Any]) -> PortfolioConfig:
    """Read and check a portfolio file.

    Parameters
    ----------
    source : path or dict
        ``portfolio.yaml`` (paths in it are relative to its folder) or its content as a dict
        (paths then relative to the working directory).

    Returns
    -------
    PortfolioConfig

    Raises
    ------
    StudyConfigError
        A key is unknown or a value is invalid; the message names the key.
    """
    from mentor_eval.outcomes.meta import METHODS, PREDICTIONS, TESTS

    if isinstance(source, dict):
        raw, path = source, None
    else:
        path = Path(source)
        if path.is_dir():
            path = path / "portfolio.yaml"
        if not path.is_file():
            raise StudyConfigError(f"No portfolio file at {path.as_posix()}.")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise StudyConfigError(f"{path.name} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise _fail(path, "(top level)", "must be a mapping of keys (name, studies, outcomes, ...).")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise _fail(path, unknown[0], f"is not a portfolio key; keys are: {', '.join(sorted(_KEYS))}.")
    root = path.parent if path is not None else Path.cwd()
    name = raw.get("name", "Portfolio")
    if not isinstance(name, str) or not name.strip():
        raise _fail(path, "name", f"must be non-empty text; got {name!r}.")
    entries = raw.get("studies")
    if isinstance(entries, str):
        entries = [entries]
    if not isinstance(entries, list) or not entries:
        raise _fail(path, "studies", "must list study folders, study files or globs.")
    specs: list[ProgramSpec] = []
    seen: set[Path] = set()
    for i, e in enumerate(entries):
        key = f"studies[{i}]"
        attrs: dict[str, Any] = {}
        if isinstance(e, dict):
            bad = sorted(set(e) - _STUDY_KEYS)
            if bad:
                raise _fail(path, f"{key}.{bad[0]}", f"is not a study key; keys are: {', '.join(sorted(_STUDY_KEYS))}.")
            if not isinstance(e.get("path"), str):
                raise _fail(path, f"{key}.path", f"must be a folder, study file or glob; got {e.get('path')!r}.")
            for a in ("population", "label"):
                if a in e and not isinstance(e[a], str):
                    raise _fail(path, f"{key}.{a}", f"must be text; got {e[a]!r}.")
            attrs = {a: e[a] for a in ("population", "label") if a in e}
            entry = e["path"]
        elif isinstance(e, str):
            entry = e
        else:
            raise _fail(path, key, f"must be a path, a glob or a mapping with 'path'; got {e!r}.")
        files = _expand(entry, root, path, key)
        if attrs.get("label") and len(files) > 1:
            raise _fail(path, f"{key}.label", "can only name a single study, not a glob.")
        for f in files:
            r = f.resolve()
            if r in seen:
                continue  # a glob may repeat an explicit entry; each study counts once
            seen.add(r)
            specs.append(ProgramSpec(path=f, source=entry, **attrs))
    outcomes = raw.get("outcomes")
    if outcomes is not None:
        if isinstance(outcomes, str):
            outcomes = [outcomes]
        if not isinstance(outcomes, list) or not outcomes or not all(isinstance(o, str) and "." in o for o in outcomes):
            raise _fail(path, "outcomes", "must list outcomes written 'instrument_id.scale_id'.")
        outcomes = tuple(outcomes)

    def choice(key: str, options: Sequence[str], default: str) -> str:
        v = raw.get(key, default)
        if v not in options:
            raise _fail(path, key, f"must be one of {', '.join(options)}; got {v!r}.")
        return v

    method = choice("method", [m for m in METHODS if m != "FE"], "REML")
    test = choice("test", TESTS, "knha")
    prediction = choice("prediction", PREDICTIONS, "higgins")
    group_by = choice("group_by", GROUPINGS, "model")
    mods = raw.get("moderators", [])
    if isinstance(mods, str):
        mods = [mods]
    if not isinstance(mods, list) or any(m not in MODERATORS for m in mods):
        raise _fail(path, "moderators", f"must list some of {', '.join(MODERATORS)}; got {mods!r}.")
    if "ci_level" in raw and "level" in raw:
        raise _fail(path, "level", "is the old name of 'ci_level'; give only 'ci_level'.")
    level_key = "level" if "level" in raw else "ci_level"
    level = raw.get(level_key, 0.95)
    if isinstance(level, bool) or not isinstance(level, int | float) or not 0 < level < 1:
        raise _fail(path, level_key, f"must be a number in (0, 1); got {level!r}.")
    privacy = raw.get("privacy", {}) or {}
    if not isinstance(privacy, dict) or set(privacy) - {"min_cell"}:
        raise _fail(path, "privacy", "must be a mapping with 'min_cell'.")
    min_cell = privacy.get("min_cell", 10)
    if isinstance(min_cell, bool) or not isinstance(min_cell, int) or min_cell < 1:
        raise _fail(path, "privacy.min_cell", f"must be a whole number >= 1; got {min_cell!r}.")
    mq = raw.get("max_quarantined", 0.10)
    if isinstance(mq, bool) or not isinstance(mq, int | float) or not 0 <= mq <= 1:
        raise _fail(path, "max_quarantined", f"must be a share in [0, 1]; got {mq!r}.")
    desc = raw.get("description")
    return PortfolioConfig(name=name.strip(), path=path, programs=tuple(specs), outcomes=outcomes,
                           group_by=group_by, method=method, test=test, prediction=prediction, ci_level=float(level),
                           moderators=tuple(mods), min_cell=int(min_cell), max_quarantined=float(mq),
                           description=desc if isinstance(desc, str) else None)


# =============================================================================== one program
@dataclass(frozen=True)
class ProgramResult:
    """What leaves one study: protected aggregates only (no row-level data).

    Attributes
    ----------
    program : the program's name (its label in the portfolio, else the study's name)
    path : its study.yaml relative to the portfolio folder (POSIX)
    status : "included" or "excluded"
    reason : why it was excluded ("" when included)
    effects : one row per mentored arm x outcome (see :func:`analyse_program`)
    design : one row per mentored arm: attrition and baseline equivalence
    info : one row: design, n enrolled (None when withheld), rows read and quarantined, min_cell
    inputs : SHA-256 of the study's files (role, file, bytes, sha256)
    """

    program: str
    path: str
    status: str
    reason: str
    effects: pd.DataFrame
    design: pd.DataFrame
    info: dict[str, Any]
    inputs: list[dict[str, Any]] = field(default_factory=list)


def _family(outcome: str, study: Any) -> str:
    """The outcome family a model can target: agency, pathways, hope or belonging."""
    si, scale = study.resolve_outcome(outcome)
    if scale.id in ("agency", "pathways"):
        return scale.id
    return si.instrument.construct


def _targeted(family: str, targets: Sequence[str]) -> bool:
    if family in targets:
        return True
    # "hope" as a target means both hope components; a model targeting one component targets hope
    return (family in ("agency", "pathways") and "hope" in targets) or (
        family == "hope" and bool({"agency", "pathways"} & set(targets)))


def _excluded(program: str, path: str, reason: str, info: dict[str, Any] | None = None) -> ProgramResult:
    return ProgramResult(program=program, path=path, status="excluded", reason=reason, effects=pd.DataFrame(),
                         design=pd.DataFrame(), info=info or {})


def analyse_program(spec: ProgramSpec, *, root: Path | str | None = None, outcomes: Sequence[str] | None = None,
                    min_cell: int = 10, max_quarantined: float = 0.10) -> ProgramResult:
    """Run one study through the pipeline and its disclosure control; return its aggregates.

    Parameters
    ----------
    spec : ProgramSpec
    root : path, optional
        Folder that ``path`` is shown relative to (the portfolio file's).
    outcomes : list of str, optional
        Outcomes to take (default: the study's primary outcomes). Outcomes the study does not
        measure are listed in ``info["missing_outcomes"]``.
    min_cell : int
        Portfolio threshold; the larger of it and the study's own ``privacy.min_cell`` applies.
    max_quarantined : float
        A study with a larger share of its rows quarantined by validation is excluded.

    Returns
    -------
    ProgramResult
        ``effects`` columns: ``program``, ``arm``, ``arm_label``, ``model``, ``model_name``,
        ``format``, ``population``, ``outcome``, ``family``, ``targeted`` (the model names the
        outcome's family among its targets), ``g``, ``g_se``, ``variance`` (``g_se``^2),
        ``g_ci_low``, ``g_ci_high``, ``estimate`` (raw-score difference), ``ci_low``, ``ci_high``,
        ``p``, ``n_arm``, ``n_ref``, ``status`` ("included", or "left out"), ``reason``.
        ``design`` columns: ``program``, ``arm``, ``arm_label``, ``model``, ``n_enrolled``, ``n_analysed``,
        ``attrition_pct``, ``overall_attrition_pct``, ``differential_pct``, ``attrition_verdict``,
        ``baseline_g_max`` (largest |g| over the outcomes at baseline), ``baseline_category``
        (the worst WWC category among them).

    Notes
    -----
    Only user-data problems (:class:`~mentor_eval.errors.MentorEvalError`: an unreadable study,
    data that fail validation) exclude a study; programming errors still raise. Effects that the
    study's disclosure control hides (an arm with fewer than ``min_cell`` people) are kept as
    rows "left out" with the reason, and never pooled.
    """
    from mentor_eval.pipeline import input_fingerprints, run_study
    from mentor_eval.report.protect import protect
    from mentor_eval.study import load_study
    from mentor_eval.validation import validate_study

    base = Path(root) if root is not None else spec.path.parent
    try:
        rel = spec.path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        rel = spec.path.name
    label = spec.label or rel
    try:
        study = load_study(spec.path)
    except MentorEvalError as exc:
        return _excluded(label, rel, f"the study file cannot be used: {exc}")
    program = spec.label or study.name
    if study.control_arm is None:
        return _excluded(program, rel, "the study has no control arm, so no effect can be estimated.")
    wanted = list(outcomes) if outcomes else list(study.outcomes.primary)
    measured, missing = [], []
    for o in wanted:
        try:
            study.resolve_outcome(o)
            measured.append(o)
        except StudyConfigError:
            missing.append(o)
    if not measured:
        return _excluded(program, rel, f"the study measures none of the portfolio's outcomes ({', '.join(wanted)}).")
    try:
        validation = validate_study(study)
    except MentorEvalError as exc:
        return _excluded(program, rel, f"the data failed validation: {exc}")
    counts = validation.counts
    read, quarantined = int(counts["rows_read"].sum()), int(counts["quarantined"].sum())
    share = quarantined / read if read else 0.0
    m = max(int(min_cell), int(study.privacy.min_cell))
    # a count of quarantined rows is a count of people too: below min_cell it is withheld
    shown = quarantined if quarantined == 0 or quarantined >= m else None
    info = {"design": study.design, "rows_read": read, "rows_quarantined": shown,
            "quarantined_share": share, "min_cell": m, "missing_outcomes": missing,
            "population": spec.population}
    inputs = input_fingerprints(study).to_dict(orient="records")
    if share > max_quarantined:
        # decided before any analysis: a study left out costs only its validation
        rules = validation.rule_counts()
        top = ", ".join(f"{r.rule} ({r.n if r.n >= m else f'fewer than {m}'})"
                        for r in rules[rules["severity"] == "failure"].head(3).itertuples())
        return ProgramResult(program, rel, "excluded",
                             f"the data failed validation: {100 * share:.0f}% of rows were quarantined "
                             f"(limit {100 * max_quarantined:.0f}%); rules broken: {top}.",
                             pd.DataFrame(), pd.DataFrame(), info, inputs)
    try:
        results = run_study(study, outcomes=measured, psychometrics=False, mixed=False, validation=validation)
    except MentorEvalError as exc:
        return _excluded(program, rel, f"the study could not be analysed: {exc}", info)
    safe = protect(results, m)
    info["n_enrolled"] = safe.provenance.get("report", {}).get("n_enrolled")
    arms = {a.key: a for a in study.arms}
    con = safe.contrasts
    rows = []
    for o in measured:
        fam = _family(o, study)
        si, sc = study.resolve_outcome(o)
        o_label = f"{si.instrument.name}: {sc.label or sc.id}"
        for a in study.arms:
            if a.key == study.control_arm:
                continue
            hit = con[(con["outcome"] == o) & (con["arm"] == a.key)] if len(con) else con
            r = hit.iloc[0] if len(hit) else None

            def val(c: str, r: Any = r) -> float:
                return float(r[c]) if r is not None and c in r.index and pd.notna(r[c]) else np.nan

            row = {"program": program, "arm": a.key, "arm_label": a.label, "model": a.model.key,
                   "model_name": a.model.name, "format": a.model.format, "population": spec.population,
                   "outcome": o, "outcome_label": o_label, "family": fam, "targeted": _targeted(fam, a.model.targets),
                   "g": val("g"), "g_se": val("g_se"), "g_ci_low": val("g_ci_low"), "g_ci_high": val("g_ci_high"),
                   "estimate": val("estimate"), "ci_low": val("ci_low"), "ci_high": val("ci_high"), "p": val("p"),
                   "n_arm": val("n_arm"), "n_ref": val("n_ref")}
            row["variance"] = row["g_se"] ** 2
            suppressed = r is not None and bool(r.get("suppressed", False))
            if r is None:
                row["status"], row["reason"] = "left out", "the study's ANCOVA gave no estimate for this arm"
            elif suppressed or not np.isfinite(row["g"]) or not (row["g_se"] > 0):
                row["status"] = "left out"
                row["reason"] = (f"hidden by the study's disclosure control (fewer than {m} people)" if suppressed
                                 else "no effect size (g) could be computed")
            else:
                row["status"], row["reason"] = "included", ""
            rows.append(row)
    effects = pd.DataFrame(rows)
    design = _design_rows(safe, program, arms, measured)
    return ProgramResult(program, rel, "included", "", effects, design, info, inputs)


def _design_rows(safe: Any, program: str, arms: dict[str, Any], outcomes: Sequence[str]) -> pd.DataFrame:
    """Attrition and baseline equivalence per mentored arm (already protected)."""
    att = safe.attrition
    base = safe.baseline
    order = ["does not satisfy", "satisfies with adjustment", "satisfies"]
    rows = []
    for key, arm in arms.items():
        if key == safe.study.control_arm:
            continue
        a = att[att["arm"] == key].iloc[0] if len(att) and (att["arm"] == key).any() else None

        def get(col: str, a: Any = a) -> Any:
            return a[col] if a is not None and col in a.index else np.nan

        b = base[(base["arm"] == key) & base["variable"].isin(outcomes)] if len(base) else base
        gmax = float(np.nanmax(np.abs(b["g"].to_numpy(dtype=float)))) if len(b) and b["g"].notna().any() else np.nan
        cats = [c for c in b["category"].dropna().astype(str)] if len(b) and "category" in b else []
        worst = min(cats, key=lambda c: order.index(c) if c in order else -1) if cats else ""
        rows.append({"program": program, "arm": key, "arm_label": arm.label, "model": arm.model.key,
                     "n_enrolled": get("n_enrolled"),
                     "n_analysed": get("n_analysed"), "attrition_pct": get("attrition_pct"),
                     "overall_attrition_pct": get("overall_attrition_pct"),
                     "differential_pct": get("differential_pct"), "attrition_verdict": get("verdict"),
                     "baseline_g_max": gmax, "baseline_category": worst})
    return pd.DataFrame(rows)


# =============================================================================== the portfolio
@dataclass(frozen=True)
class PortfolioResult:
    """Every table of a portfolio run (tidy DataFrames; aggregate only).

    Attributes
    ----------
    programs : one row per study: ``program``, ``path``, ``status`` (included / excluded),
        ``reason``, ``design``, ``n_enrolled``, ``rows_read``, ``rows_quarantined`` (None when below
        ``min_cell``),
        ``quarantined_share``, ``min_cell``, ``population``, ``missing_outcomes``
    effects : every program's effect per arm x outcome (see :func:`analyse_program`), with
        ``group`` (the pooling key: the model or its format) and ``row_label``
    design : attrition and baseline equivalence per program x mentored arm
    pooled : :func:`~mentor_eval.meta_analysis` pooled rows per ``group`` x ``outcome`` (random and
        fixed), plus ``group_label`` and ``outliers`` (number of programs flagged)
    weights : per-program rows of the meta-analysis (effect, CI, weights)
    leave_one_out : leave-one-out refits per group x outcome x program
    regression : meta-regression coefficients per ``outcome`` (empty without moderators)
    regression_fit : meta-regression fit statistics per ``outcome``
    notes : analyses that could not run: ``step``, ``target``, ``reason``
    provenance : name, settings, versions, SHA-256 of the portfolio file and of every study's inputs
    """

    programs: pd.DataFrame
    effects: pd.DataFrame
    design: pd.DataFrame
    pooled: pd.DataFrame
    weights: pd.DataFrame
    leave_one_out: pd.DataFrame
    regression: pd.DataFrame
    regression_fit: pd.DataFrame
    notes: pd.DataFrame
    provenance: dict[str, Any] = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Name -> table (the DataFrame fields)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if isinstance(getattr(self, f.name), pd.DataFrame)}

    @property
    def name(self) -> str:
        return str(self.provenance.get("name", "Portfolio"))

    def random(self) -> pd.DataFrame:
        """The random-effects pooled rows."""
        return self.pooled[self.pooled["pooling"] == "random"].reset_index(drop=True) if len(self.pooled) else self.pooled

    def summary(self) -> str:
        """Plain-text account: programs included / excluded and each model's pooled effect."""
        lines = [f"{self.name}: {int((self.programs['status'] == 'included').sum())} of {len(self.programs)} "
                 "programs included"]
        for r in self.programs[self.programs["status"] != "included"].itertuples():
            lines.append(f"  left out: {r.program} ({r.path}): {r.reason}")
        for r in self.random().itertuples():
            lines.append(f"  {r.group_label} / {r.outcome_label}: g = {r.estimate:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}], "
                         f"k = {r.k}, tau = {r.tau:.2f}, I^2 = {r.i2:.0f}%, PI [{r.pi_low:.2f}, {r.pi_high:.2f}]")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write every table as CSV (for people) and Parquet (for :func:`load_portfolio_result`)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name, t in self.tables().items():
            t.to_csv(out / f"{name}.csv", index=False)
            _parquet_safe(t).to_parquet(out / f"{name}.parquet", index=False)
            written += [out / f"{name}.csv", out / f"{name}.parquet"]
        (out / "provenance.json").write_text(json.dumps(self.provenance, indent=1, default=str))
        written.append(out / "provenance.json")
        return written


def _parquet_safe(t: pd.DataFrame) -> pd.DataFrame:
    t = t.copy()
    for c in t.columns:
        if t[c].dtype == object:
            t[c] = t[c].map(lambda v: json.dumps(v) if isinstance(v, list | dict) else v)
    return t


def load_portfolio_result(folder: str | Path) -> PortfolioResult:
    """Read back what :meth:`PortfolioResult.write` wrote."""
    folder = Path(folder)
    prov = folder / "provenance.json"
    if not prov.is_file():
        raise ParameterError(f"No portfolio results in {folder.as_posix()} (provenance.json is missing).")
    tables = {}
    for f in fields(PortfolioResult):
        if f.name == "provenance":
            continue
        p = folder / f"{f.name}.parquet"
        tables[f.name] = pd.read_parquet(p) if p.is_file() else pd.DataFrame()
    return PortfolioResult(**tables, provenance=json.loads(prov.read_text()))


@contextmanager
def dask_client(scheduler: str = "local", workers: int | None = None) -> Iterator[Any]:
    """A Dask client on which studies and joblib work run, closed on exit.

    Parameters
    ----------
    scheduler : str, default "local"
        ``"local"`` starts a ``LocalCluster`` of worker processes on this machine (one thread
        each); anything else is the address of an existing scheduler (``tcp://host:8786``).
    workers : int, optional
        Worker processes of the local cluster (default 2).

    Yields
    ------
    distributed.Client
        While the block runs, joblib's default backend is Dask, so the bootstrap
        (:func:`mentor_eval.parallel.run_bootstrap`) and simulation-based power
        (:func:`mentor_eval.power_study.simulated_power`) spread over the same cluster.

    Example
    -------
    >>> with dask_client("local", workers=4):  # doctest: +SKIP
    ...     res = simulated_power(simulate, analyse, n_sims=5000, n_jobs=-1)
    """
    try:
        from distributed import Client, LocalCluster
    except ModuleNotFoundError:
        raise ParameterError("Running on Dask needs the optional extra: pip install 'mentor-eval[distributed]' "
                             "(or use scheduler='serial').") from None
    import joblib

    cluster = None
    if scheduler == "local":
        # one thread per worker: each study's numpy work is small, processes give the parallelism
        cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout=DASK_CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ParameterError(f"Cannot reach the Dask scheduler at {scheduler!r}: {exc}") from None
    try:
        with joblib.parallel_config(backend="dask"):
            yield client
    finally:
        client.close()
        if cluster is not None:
            # our own workers: a slow shutdown on a busy machine is not worth a warning to the user
            quiet = logging.getLogger("distributed.nanny")
            level = quiet.level
            quiet.setLevel(logging.ERROR)
            try:
                cluster.close()
            finally:
                quiet.setLevel(level)


def _run_tasks(specs: Sequence[ProgramSpec], kwargs: dict[str, Any], scheduler: str, workers: int | None,
               progress: bool) -> list[ProgramResult]:
    if scheduler == "serial":
        return [analyse_program(s, **kwargs) for s in specs]
    with dask_client(scheduler, workers) as client:
        futures = [client.submit(analyse_program, s, pure=False, **kwargs) for s in specs]
        if progress:
            from distributed import progress as dask_progress

            dask_progress(futures)
        return client.gather(futures)  # in the portfolio's order, whatever finished first


def run_portfolio(source: str | Path | dict[str, Any] | PortfolioConfig, *, scheduler: str = "auto",
                  workers: int | None = None, progress: bool = False) -> PortfolioResult:
    """Run every study of a portfolio and pool the effects by mentorship model.

    Parameters
    ----------
    source : path, dict or PortfolioConfig
        ``portfolio.yaml`` (see the module docstring), its content, or a loaded config.
    scheduler : str, default "auto"
        ``"serial"`` (this process), ``"local"`` (a Dask ``LocalCluster`` of worker processes),
        a Dask scheduler address (``tcp://host:8786``) for an existing cluster, or ``"auto"``
        (local processes when dask.distributed is installed and there are several studies, else serial).
    workers : int, optional
        Worker processes of the local cluster (default 2).
    progress : bool
        Show Dask's progress bar.

    Returns
    -------
    PortfolioResult

    Notes
    -----
    Results are identical whatever the scheduler and the number of workers: each study is
    deterministic, runs alone, and results are gathered in the order of the portfolio file.
    Only the protected aggregates of :func:`analyse_program` travel back from a worker.
    Pooling is :func:`pool_programs`. On an existing cluster the workers need mentor-eval
    installed and the study folders readable at the same paths (a shared file system).

    References
    ----------
    Rocklin M (2015). Dask: parallel computation with blocked algorithms and task scheduling.
    Proceedings of the 14th Python in Science Conference, 130-136.

    Example
    -------
    >>> from mentor_eval import run_portfolio, simulate_portfolio
    >>> path = simulate_portfolio("my_portfolio", n_programs=8)   # doctest: +SKIP
    >>> res = run_portfolio(path, scheduler="serial")              # doctest: +SKIP
    >>> print(res.summary())                                       # doctest: +SKIP
    """
    cfg = source if isinstance(source, PortfolioConfig) else load_portfolio(source)
    if not isinstance(scheduler, str) or not scheduler:
        raise ParameterError(f"The 'scheduler' parameter of run_portfolio must be one of {', '.join(SCHEDULERS)} "
                             f"or a Dask scheduler address; got {scheduler!r}.")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ParameterError(f"The 'workers' parameter of run_portfolio must be an integer >= 1; got {workers!r}.")
    if scheduler == "auto":
        try:
            import distributed  # noqa: F401

            scheduler = "local" if len(cfg.programs) > 1 else "serial"
        except ModuleNotFoundError:
            scheduler = "serial"
    kwargs = {"root": cfg.root, "outcomes": cfg.outcomes, "min_cell": cfg.min_cell,
              "max_quarantined": cfg.max_quarantined}
    t0 = time.perf_counter()
    results = _run_tasks(cfg.programs, kwargs, scheduler, workers, progress)
    seconds = time.perf_counter() - t0
    out = pool_programs(results, cfg)
    out.provenance["run"] = {"scheduler": scheduler if scheduler in SCHEDULERS else "address",
                             "workers": workers, "seconds": round(seconds, 2)}
    return out


def pool_programs(results: Sequence[ProgramResult], cfg: PortfolioConfig) -> PortfolioResult:
    """Pool programs' effects per group x outcome (meta-analysis, leave-one-out, meta-regression).

    Parameters
    ----------
    results : list of ProgramResult
        From :func:`analyse_program`, in the portfolio's order.
    cfg : PortfolioConfig
        Grouping (``group_by``), pooling settings and moderators.

    Returns
    -------
    PortfolioResult
        See its attributes; ``pooled`` holds :func:`~mentor_eval.meta_analysis`'s columns plus
        ``group``, ``group_label``, ``outcome_label`` and ``outliers``.

    Notes
    -----
    Only effects with status "included" are pooled (left-out effects stay in ``effects`` with
    their reason). Two programs with one name are told apart by their path. Arms of one program
    that fall in one group share a control group, so their effects are correlated; they are
    pooled as independent and ``notes`` says so. Meta-regression runs per outcome across every
    included effect on the configured moderators that vary.

    Example
    -------
    >>> res = pool_programs(results, load_portfolio("portfolio.yaml"))  # doctest: +SKIP
    """
    from mentor_eval.outcomes.meta import meta_analysis, meta_regression
    from mentor_eval.pipeline import package_versions

    prog_rows = []
    for r in results:
        info = r.info or {}
        prog_rows.append({"program": r.program, "path": r.path, "status": r.status, "reason": r.reason,
                          "design": info.get("design"), "n_enrolled": info.get("n_enrolled"),
                          "rows_read": info.get("rows_read"), "rows_quarantined": info.get("rows_quarantined"),
                          "quarantined_share": info.get("quarantined_share"), "min_cell": info.get("min_cell"),
                          "population": info.get("population"),
                          "missing_outcomes": ", ".join(info.get("missing_outcomes") or [])})
    programs = pd.DataFrame(prog_rows)
    dup = programs["program"].duplicated(keep=False)
    if dup.any():
        # two studies with one name would be one row of a forest plot: tell them apart by path
        programs.loc[dup, "program"] = programs.loc[dup, "program"] + " (" + programs.loc[dup, "path"] + ")"
    names = dict(zip(range(len(results)), programs["program"], strict=True))
    eff = [r.effects.assign(program=names[i]) for i, r in enumerate(results) if len(r.effects)]
    des = [r.design.assign(program=names[i]) for i, r in enumerate(results) if len(r.design)]
    effects = pd.concat(eff, ignore_index=True) if eff else pd.DataFrame()
    design = pd.concat(des, ignore_index=True) if des else pd.DataFrame()
    notes: list[dict[str, str]] = []
    pooled = weights = loo = regression = regression_fit = pd.DataFrame()
    if len(effects):
        effects["group"] = effects[cfg.group_by]
        per_prog = effects.groupby(["program", "group", "outcome"])["arm"].transform("count")
        effects["row_label"] = np.where(per_prog > 1, effects["program"] + " (" + effects["arm_label"] + ")",
                                        effects["program"])
        shared = effects[(per_prog > 1) & (effects["status"] == "included")]
        for (p, g), _ in shared.groupby(["program", "group"]):
            notes.append({"step": "pooling", "target": f"{p} / {g}",
                          "reason": "several arms of this program share one control group, so their effects are "
                                    "correlated; the pooled interval treats them as independent."})
        use = effects[effects["status"] == "included"]
        if len(use):
            meta = meta_analysis(use, effect="g", variance="variance", by=["group", "outcome"], study="row_label",
                                 method=cfg.method, test=cfg.test, ci_level=cfg.ci_level, prediction=cfg.prediction)
            pooled, weights, loo = meta.pooled, meta.studies, meta.leave_one_out
            flagged = loo[loo["outlier"].astype(bool)].groupby(["group", "outcome"]).size().rename("outliers")
            pooled = pooled.merge(flagged.reset_index(), on=["group", "outcome"], how="left")
            pooled["outliers"] = pooled["outliers"].fillna(0).astype(int)
            if cfg.group_by == "model":
                labels = use.drop_duplicates("model").set_index("model")["model_name"].to_dict()
                pooled.insert(1, "group_label", pooled["group"].map(labels))
            else:
                pooled.insert(1, "group_label", pooled["group"].astype(str).str.capitalize())
            olabels = use.drop_duplicates("outcome").set_index("outcome")["outcome_label"].to_dict()
            pooled.insert(3, "outcome_label", pooled["outcome"].map(olabels))
            for _, gr in pooled[pooled["pooling"] == "random"].iterrows():
                if gr["k"] < 3:
                    notes.append({"step": "meta-analysis", "target": f"{gr['group_label']} / {gr['outcome_label']}",
                                  "reason": f"only {gr['k']} program(s): heterogeneity and the prediction interval "
                                            "are not estimable or very uncertain."})
            if cfg.moderators:
                co, fi = [], []
                for o, sub in use.groupby("outcome", sort=True):
                    mods = [m for m in cfg.moderators if sub[m].nunique(dropna=False) > 1]
                    if not mods:
                        notes.append({"step": "meta-regression", "target": o,
                                      "reason": "no moderator varies across the programs."})
                        continue
                    try:
                        res = meta_regression(sub.reset_index(drop=True), mods, effect="g", variance="variance",
                                              method=cfg.method, test=cfg.test, ci_level=cfg.ci_level)
                    except MentorEvalError as exc:
                        notes.append({"step": "meta-regression", "target": o, "reason": str(exc)})
                        continue
                    co.append(res.coefficients.assign(outcome=o))
                    fi.append(res.fit.assign(outcome=o, moderators=", ".join(mods)))
                if co:
                    regression = pd.concat(co, ignore_index=True)
                    regression_fit = pd.concat(fi, ignore_index=True)
    prov: dict[str, Any] = {"name": cfg.name, "description": cfg.description, "settings": cfg.settings(),
                            "versions": package_versions(), "mentor_eval": __version__}
    if cfg.path is not None:
        prov["portfolio_file"] = {"file": cfg.path.name,
                                  "sha256": hashlib.sha256(cfg.path.read_bytes()).hexdigest()}
    prov["inputs"] = {names[i]: r.inputs for i, r in enumerate(results)}
    return PortfolioResult(programs=programs, effects=effects, design=design, pooled=pooled, weights=weights,
                           leave_one_out=loo, regression=regression, regression_fit=regression_fit,
                           notes=pd.DataFrame(notes, columns=["step", "target", "reason"]), provenance=prov)


# =============================================================================== plain words
def _g_words(g: float) -> str:
    a = abs(g)
    size = ("negligible" if a < 0.1 else "small" if a < 0.3 else "moderate" if a < 0.6 else "large")
    return size


def consistency_sentence(row: pd.Series | dict[str, Any]) -> str:
    """How consistent one model's effect is across programs (tau, I^2, the prediction interval)."""
    r = dict(row)
    k = int(r["k"])
    if k < 2:
        return "Only one program: how consistent this model is cannot be judged yet."
    i2 = r["i2"]
    spread = ("almost all of the differences between programs are chance" if i2 < 25 else
              "programs differ somewhat more than chance explains" if i2 < 50 else
              "programs differ clearly more than chance explains" if i2 < 75 else
              "programs differ a lot, far more than chance explains")
    text = (f"Across {k} programs, {spread} (I\u00b2 = {i2:.0f}%: the share of the variation between programs "
            f"that is real rather than sampling error; \u03c4 = {r['tau']:.2f}, the typical spread of true effects, "
            "in standard deviations).")
    if np.isfinite(r.get("pi_low", np.nan)):
        lo, hi = r["pi_low"], r["pi_high"]
        if lo > 0:
            pi = "a new program of this model would very likely also help"
        elif hi < 0:
            pi = "a new program of this model would very likely do harm"
        else:
            pi = "a new program of this model could do better or worse than no mentoring"
        text += (f" A new program like these would be expected to land between {lo:.2f} and {hi:.2f} "
                 f"(the 95% prediction interval): {pi}.")
        if k < 5:
            text += " With so few programs this range is itself very uncertain."
    return text


def standout_sentences(result: PortfolioResult) -> list[str]:
    """Programs that stand out: flagged as outliers, or whose removal moves the pooled effect most."""
    loo = result.leave_one_out
    if not len(loo):
        return ["No model has three or more programs yet, so no program can be singled out."]
    pooled = result.random().set_index(["group", "outcome"])
    out = []
    for r in loo[loo["outlier"].astype(bool)].itertuples():
        label = pooled.loc[(r.group, r.outcome), "group_label"]
        full = pooled.loc[(r.group, r.outcome), "estimate"]
        direction = "larger" if r.rstudent > 0 else "smaller"
        olab = pooled.loc[(r.group, r.outcome), "outcome_label"]
        out.append(f"{r.study} ({label}, {olab}) had a clearly {direction} effect than the other programs of "
                   f"its model (studentized residual {r.rstudent:.1f}); without it the pooled effect would be "
                   f"{r.estimate:.2f} instead of {full:.2f}.")
    if not out:
        out.append("No program's effect lies outside what the variation between programs leads one to expect.")
    return out


def portfolio_summary(result: PortfolioResult) -> list[str]:
    """The report's opening paragraphs for funders (plain words first)."""
    progs = result.programs
    n_in = int((progs["status"] == "included").sum())
    out = [f"This report pools the evaluations of {len(progs)} programs; {n_in} could be analysed."]
    left = progs[progs["status"] != "included"]
    if len(left):
        out.append(f"{len(left)} program(s) were left out because their data could not be used: "
                   + "; ".join(f"{r.program} ({r.reason})" for r in left.itertuples()))
    ran = result.random()
    if not len(ran):
        out.append("No program gave an effect that could be pooled, so nothing can be said yet about the models.")
        return out
    for o, sub in ran.groupby("outcome_label", sort=False):
        sub = sub.sort_values("estimate", ascending=False)
        parts = []
        for r in sub.itertuples():
            sig = "clearly above zero" if r.ci_low > 0 else "clearly below zero" if r.ci_high < 0 else "not clearly different from zero"
            parts.append(f"{r.group_label}: {_g_words(r.estimate)} effect, g = {r.estimate:.2f} "
                         f"(95% CI {r.ci_low:.2f} to {r.ci_high:.2f}, {sig}; {r.k} program{'s' if r.k != 1 else ''})")
        out.append(f"On {o}: " + "; ".join(parts) + ".")
    out.append("g is the difference between mentored participants and their comparison group in standard "
               "deviations, adjusted for where they started: 0.2 is small, 0.5 moderate, 0.8 large.")
    return out


# =============================================================================== figures
def _colors(result: PortfolioResult) -> dict[Any, str]:
    """One colour per group (model), the same in every figure."""
    from mentor_eval.report.palette import arm_colors

    groups = sorted(result.random()["group"].astype(str).unique()) if len(result.pooled) else []
    return arm_colors(groups)


def _layout(fig: Any, title: str, alt: str, caption: str, height: int) -> Any:
    from mentor_eval.report.html import escape

    fig.update_layout(
        title={"text": escape(title), "xref": "container", "x": 0.02, "xanchor": "left", "yref": "container",
               "y": 0.98, "yanchor": "top"},
        template="plotly_white", height=height, margin={"l": 10, "r": 10, "t": 56, "b": 10},
        font={"family": 'system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif', "size": 13},
        showlegend=False, meta={"alt": alt, "caption": caption, "note": None},
    )
    fig.update_xaxes(automargin=True, zeroline=False)
    fig.update_yaxes(automargin=True)
    return fig


def forest_figure(result: PortfolioResult, group: Any, outcome: str) -> Any:
    """Forest plot of one model and outcome: each program a row, the pooled diamond, the prediction interval.

    Parameters
    ----------
    result : PortfolioResult
    group : the pooling group (a model key, or a format)
    outcome : str
        Outcome id (``instrument.scale``).

    Returns
    -------
    plotly.graph_objects.Figure
        Squares sized by the program's random-effects weight with their 95% CI, the pooled
        diamond (its width the CI) and the dotted prediction interval; the group's colour is the
        same in every figure of the report. ``layout.meta`` holds the alt text and caption.
    """
    import plotly.graph_objects as go

    from mentor_eval.report.html import escape

    w = result.weights
    rows = w[(w["group"] == group) & (w["outcome"] == outcome)]
    pooled = result.random()
    pr = pooled[(pooled["group"] == group) & (pooled["outcome"] == outcome)]
    if not len(rows) or not len(pr):
        raise ParameterError(f"No pooled result for {group!r} / {outcome!r}.")
    p = pr.iloc[0]
    color = _colors(result).get(str(group), "#0072B2")
    labels = [escape(s) for s in rows["study"]]
    pooled_label = "Pooled (random effects)"
    y_order = [*labels, pooled_label]
    size = 7 + 14 * np.sqrt(rows["weight"].to_numpy() / 100)
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=rows["effect"], y=labels, mode="markers",
        marker={"symbol": "square", "size": size, "color": color},
        error_x={"type": "data", "symmetric": False, "array": rows["ci_high"] - rows["effect"],
                 "arrayminus": rows["effect"] - rows["ci_low"], "color": color, "thickness": 1.5},
        hovertemplate="%{y}: g = %{x:.2f}<extra></extra>", name="Programs"))
    if np.isfinite(p["pi_low"]):
        fig.add_trace(go.Scatter(x=[p["pi_low"], p["pi_high"]], y=[pooled_label, pooled_label], mode="lines",
                                 line={"color": "#555555", "width": 2, "dash": "dot"},
                                 hovertemplate="prediction interval %{x:.2f}<extra></extra>",
                                 name="Prediction interval"))
    lo, est, hi = p["ci_low"], p["estimate"], p["ci_high"]
    # the diamond: its width is the confidence interval of the pooled effect
    fig.add_trace(go.Scatter(x=[lo, est, hi, est, lo], y=[pooled_label] * 5, mode="lines", fill="toself",
                             fillcolor=color, line={"color": color}, name="Pooled",
                             hovertemplate=f"pooled g = {est:.2f} ({lo:.2f} to {hi:.2f})<extra></extra>"))
    fig.add_trace(go.Scatter(x=[est], y=[pooled_label], mode="markers",
                             marker={"symbol": "diamond-wide", "size": 22, "color": color}, hoverinfo="skip",
                             name="Pooled"))
    fig.add_vline(x=0, line_dash="dash", line_color="#555555", line_width=1)
    fig.update_yaxes(categoryorder="array", categoryarray=list(reversed(y_order)), type="category")
    fig.update_xaxes(title_text="Effect (Hedges g) with 95% CI")
    title = f"{p['group_label']}: {p['outcome_label']}"
    pi_text = (f" A new program would be expected between {p['pi_low']:.2f} and {p['pi_high']:.2f}."
               if np.isfinite(p["pi_low"]) else "")
    alt = (f"Forest plot of {len(rows)} programs of {p['group_label']} on {p['outcome_label']}; pooled g {est:.2f} "
           f"(95% CI {lo:.2f} to {hi:.2f}).{pi_text}")
    caption = ("Each row is one program: the square is its effect (larger squares weigh more), the line its 95% "
               "confidence interval. The diamond is the pooled effect and its confidence interval; the dotted line "
               "the prediction interval for a new program. Right of the dashed line: better than the comparison group.")
    return _layout(fig, title, alt, caption, height=160 + 34 * (len(rows) + 1))


def models_figure(result: PortfolioResult) -> Any:
    """The models side by side: pooled effect, CI and prediction interval per model and outcome."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from mentor_eval.report.html import escape

    ran = result.random()
    outcomes = list(dict.fromkeys(ran["outcome"]))
    colors = _colors(result)
    olabels = ran.drop_duplicates("outcome").set_index("outcome")["outcome_label"].to_dict()
    fig = make_subplots(rows=len(outcomes), cols=1, shared_xaxes=True, vertical_spacing=0.12,
                        subplot_titles=[escape(olabels[o]) for o in outcomes])
    for i, o in enumerate(outcomes, start=1):
        sub = ran[ran["outcome"] == o].sort_values("estimate")
        for r in sub.itertuples():
            lab = escape(r.group_label)
            c = colors.get(str(r.group), "#0072B2")
            if np.isfinite(r.pi_low):
                fig.add_trace(go.Scatter(x=[r.pi_low, r.pi_high], y=[lab, lab], mode="lines",
                                         line={"color": c, "width": 2, "dash": "dot"}, hoverinfo="skip",
                                         showlegend=False), row=i, col=1)
            fig.add_trace(go.Scatter(
                x=[r.estimate], y=[lab], mode="markers", marker={"symbol": "diamond", "size": 13, "color": c},
                error_x={"type": "data", "symmetric": False, "array": [r.ci_high - r.estimate],
                         "arrayminus": [r.estimate - r.ci_low], "color": c, "thickness": 3},
                hovertemplate=f"{lab}: g = %{{x:.2f}} ({r.k} programs)<extra></extra>", showlegend=False),
                row=i, col=1)
        fig.add_vline(x=0, line_dash="dash", line_color="#555555", line_width=1, row=i, col=1)
    fig.update_xaxes(title_text="Pooled effect (Hedges g): 95% CI (solid) and prediction interval (dotted)",
                     row=len(outcomes), col=1)
    n_models = ran["group"].nunique()
    alt = f"Pooled effects of {n_models} models on {len(outcomes)} outcome(s), each with its CI and prediction interval."
    caption = ("Each diamond is a model's pooled effect over its programs, the solid line its 95% confidence "
               "interval, the dotted line where a new program of that model would be expected to land.")
    return _layout(fig, "The models side by side", alt, caption,
                   height=140 + len(outcomes) * (60 + 34 * max(1, n_models)))


# =============================================================================== a sample portfolio
#: The models of the sample portfolio and their true mean effects (latent SD units) on hope and belonging.
SAMPLE_MODELS: dict[str, tuple[float, float]] = {
    "narrative_weaving": (0.30, 0.40),
    "storytelling_circles": (0.15, 0.35),
    "strength_spotlight": (0.35, 0.20),
    "community_of_practice": (0.05, 0.25),
}


def simulate_portfolio(out_dir: str | Path, *, n_programs: int = 12, min_participants: int = 300,
                       max_participants: int = 1000, heterogeneity: float = 0.10, broken: bool = True,
                       models: Sequence[str] | None = None, seed: int = 0, name: str | None = None) -> Path:
    """Write a folder of simulated programs and the ``portfolio.yaml`` that pools them.

    Parameters
    ----------
    out_dir : path
        Folder to write into: ``portfolio.yaml`` and ``programs/<nn>-<model>/`` (each a study
        written by :func:`mentor_eval.simulate_study`: study.yaml, participants.csv, responses.csv,
        truth.json).
    n_programs : int, default 12
        Programs, assigned to the models in turn (so each model has several).
    min_participants, max_participants : int, default 300 and 1000
        Range of each program's enrolment (drawn uniformly).
    heterogeneity : float, default 0.10
        SD (latent SD units) of the programs' true effects around their model's mean: real
        differences between programs of one model. Attrition (8-25%) and differential
        attrition (0-6 points) also vary between programs.
    broken : bool, default True
        Give the last program a data problem (a site exported a 0-10 scale: out-of-range answers
        in about 40% of its response rows), which validation catches and the portfolio reports.
    models : list of str, optional
        Model keys (default: :data:`SAMPLE_MODELS`; other models get their default effects).
    seed : int, default 0
        Seed; the same seed writes the same portfolio.
    name : str, optional
        Portfolio name.

    Returns
    -------
    Path
        The written ``portfolio.yaml``.
    """
    from mentor_eval._params import check_positive_int
    from mentor_eval.simulate import simulate_study

    func = "simulate_portfolio"
    n_programs = check_positive_int(func, "n_programs", n_programs, minimum=2)
    lo = check_positive_int(func, "min_participants", min_participants, minimum=40)
    hi = check_positive_int(func, "max_participants", max_participants, minimum=lo)
    if isinstance(heterogeneity, bool) or not isinstance(heterogeneity, int | float) or not 0 <= heterogeneity <= 1:
        raise ParameterError(f"The 'heterogeneity' parameter of {func} must be in [0, 1]; got {heterogeneity!r}.")
    keys = list(models) if models else list(SAMPLE_MODELS)
    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    folders = []
    for i in range(n_programs):
        model = keys[i % len(keys)]
        hope, bel = SAMPLE_MODELS.get(model, (0.25, 0.25))
        d_h, d_b = rng.normal(0, heterogeneity, 2)
        n = int(rng.integers(lo, hi + 1))
        # programs differ in how well they kept participants, so design quality varies too
        drop, diff = float(rng.uniform(0.08, 0.25)), float(rng.uniform(0.0, 0.06))
        sim = simulate_study(n, arms=["control", model], sites=2, seed=int(seed) * 1000 + i,
                             effects={model: {"hope": hope + d_h, "belonging": bel + d_b}}, attrition=drop,
                             differential_attrition=diff)
        folder = out / "programs" / f"{i + 1:02d}-{model.replace('_', '-')}"
        sim.write(folder, name=f"Program {i + 1:02d} ({model.replace('_', ' ')})")
        folders.append(folder)
    if broken:
        # a site exported the hope items on a 0-10 scale: answers above the scale's maximum
        resp_path = folders[-1] / "responses.csv"
        resp = pd.read_csv(resp_path)
        item = next(c for c in resp.columns if c.startswith("ahs_"))
        hit = rng.random(len(resp)) < 0.4
        resp[item] = resp[item].astype("Float64")
        resp.loc[hit, item] = 10
        resp[item] = resp[item].astype("Int64")
        resp.to_csv(resp_path, index=False, lineterminator="\n")
    cfg = {
        "name": name or "Sample mentoring portfolio (simulated)",
        "description": "Simulated programs written by mentor-eval simulate-portfolio; no real people.",
        "studies": ["programs/*"],
        "outcomes": ["adult_hope_scale.total", "general_belongingness_scale.total"],
        "group_by": "model",
        "method": "REML",
        "test": "knha",
        "prediction": "higgins",
        "moderators": ["format", "targeted"],
        "privacy": {"min_cell": 10},
        "max_quarantined": 0.10,
    }
    path = out / "portfolio.yaml"
    header = "# A portfolio of simulated programs (mentor-eval simulate-portfolio); no real people.\n"
    path.write_text(header + yaml.safe_dump(cfg, sort_keys=False, width=110), encoding="utf-8")
    return path


# =============================================================================== report tables
def _ci_text(est: float, lo: float, hi: float) -> str:
    if not np.isfinite(est):
        return ""
    return f"{est:.2f} ({lo:.2f} to {hi:.2f})" if np.isfinite(lo) else f"{est:.2f}"


def title_html(result: PortfolioResult, title: str | None = None) -> str:
    """The report's heading: the portfolio's name and what it covers (escaped)."""
    from mentor_eval.report.html import escape

    progs = result.programs
    n_in = int((progs["status"] == "included").sum())
    head = title or f"{result.name}: portfolio report"
    sub = (f"{len(progs)} programs, {n_in} analysed; effects pooled by "
           f"{'mentorship model' if result.provenance.get('settings', {}).get('group_by') == 'model' else 'format'}.")
    return f'<h1 class="me-title">{escape(head)}</h1><p class="me-subtitle">{escape(sub)}</p>'


def models_table(result: PortfolioResult) -> pd.DataFrame:
    """One row per model x outcome: programs, pooled g with CI, prediction interval, tau, I^2."""
    ran = result.random()
    if not len(ran):
        return pd.DataFrame(columns=["Model", "Outcome", "Programs", "Pooled g (95% CI)", "Prediction interval",
                                     "I\u00b2 (%)"])
    return pd.DataFrame({
        "Model": ran["group_label"], "Outcome": ran["outcome_label"], "Programs": ran["k"].astype(int),
        "Pooled g (95% CI)": [_ci_text(e, lo, hi) for e, lo, hi in zip(ran["estimate"], ran["ci_low"], ran["ci_high"], strict=True)],
        "Prediction interval": [f"{lo:.2f} to {hi:.2f}" if np.isfinite(lo) else "one program only"
                                for lo, hi in zip(ran["pi_low"], ran["pi_high"], strict=True)],
        "\u03c4": ran["tau"].round(2), "I\u00b2 (%)": ran["i2"].round(0).astype("Int64"),
    })


def program_table(result: PortfolioResult) -> pd.DataFrame:
    """Every program's result per arm x outcome (aggregate only; left-out effects with the reason)."""
    e = result.effects
    if not len(e):
        return pd.DataFrame(columns=["Program", "Model", "Outcome", "g (95% CI)", "n (mentored / comparison)", "Note"])

    def n_text(a: float, b: float) -> str:
        return f"{int(a)} / {int(b)}" if np.isfinite(a) and np.isfinite(b) else "withheld"

    return pd.DataFrame({
        "Program": e["row_label"], "Model": e["model_name"], "Outcome": e["outcome_label"],
        "g (95% CI)": [_ci_text(g, lo, hi) for g, lo, hi in zip(e["g"], e["g_ci_low"], e["g_ci_high"], strict=True)],
        "n (mentored / comparison)": [n_text(a, b) for a, b in zip(e["n_arm"], e["n_ref"], strict=True)],
        "Note": np.where(e["status"] == "included", "", "left out: " + e["reason"].astype(str)),
    })


def design_table(result: PortfolioResult) -> pd.DataFrame:
    """Design quality per program x mentored arm: attrition (WWC) and baseline equivalence."""
    d = result.design
    if not len(d):
        return pd.DataFrame(columns=["Program", "Arm", "Overall attrition (%)", "Differential (%)", "Attrition",
                                     "Largest baseline |g|", "Baseline equivalence"])
    def pct(col: str) -> pd.Series:
        return pd.to_numeric(d[col], errors="coerce").round(0).astype("Int64")

    return pd.DataFrame({
        "Program": d["program"], "Arm": d["arm_label"],
        "Overall attrition (%)": pct("overall_attrition_pct"), "Differential (%)": pct("differential_pct"),
        "Attrition": d["attrition_verdict"].fillna("withheld"),
        "Largest baseline |g|": pd.to_numeric(d["baseline_g_max"], errors="coerce").round(2),
        "Baseline equivalence": d["baseline_category"].replace("", "withheld"),
    })


def status_table(result: PortfolioResult) -> pd.DataFrame:
    """Every study of the portfolio: analysed or left out, and why."""
    p = result.programs
    return pd.DataFrame({"Program": p["program"], "Status": np.where(p["status"] == "included", "analysed",
                                                                     "left out"),
                         "Reason": p["reason"].fillna("")})


def standouts_table(result: PortfolioResult) -> pd.DataFrame:
    """Leave-one-out: the pooled effect without each program and its studentized residual."""
    loo = result.leave_one_out
    if not len(loo):
        return pd.DataFrame(columns=["Program", "Model", "Outcome", "Pooled g without it", "Residual", "Stands out"])
    ran = result.random().set_index(["group", "outcome"])
    keys = list(zip(loo["group"], loo["outcome"], strict=True))
    return pd.DataFrame({
        "Program": loo["study"], "Model": [ran["group_label"].get(k, k[0]) for k in keys],
        "Outcome": [ran["outcome_label"].get(k, k[1]) for k in keys], "Pooled g without it": loo["estimate"].round(2),
        "Residual": loo["rstudent"].round(2), "Stands out": np.where(loo["outlier"].astype(bool), "yes", ""),
    })


def methods_paragraphs(result: PortfolioResult) -> list[str]:
    """How the pooling was done, in words (for the methods section)."""
    s = result.provenance.get("settings", {})
    method = {"REML": "restricted maximum likelihood (REML)", "DL": "the DerSimonian-Laird estimator"}.get(
        s.get("method"), str(s.get("method")))
    test = ("Knapp-Hartung t intervals (wider, honest with few programs)" if s.get("test") == "knha"
            else "normal-theory (z) intervals")
    pi = ("t with k - 2 degrees of freedom (Higgins, Thompson & Spiegelhalter 2009)" if s.get("prediction") == "higgins"
          else "the critical value of the confidence interval (metafor's default)")
    return [
        "Each program's data went through the same pipeline as a single-study report: validation (bad rows "
        "quarantined), scoring, and an ANCOVA of the final survey adjusted for the baseline score, giving Hedges g "
        "and its standard error for each mentored arm against its comparison group.",
        f"Programs were pooled per model and outcome with a random-effects meta-analysis: the spread of true "
        f"effects between programs (\u03c4\u00b2) was estimated by {method}, with {test}. The prediction interval "
        f"uses {pi}. Programs stand out when their studentized deleted residual is beyond \u00b11.96.",
        f"Privacy: each study's own disclosure control was applied before pooling (at least {s.get('min_cell')} "
        "people per reported cell); this report holds only aggregate effects, never a participant's answers.",
    ]


def regression_table(result: PortfolioResult) -> pd.DataFrame:
    """Meta-regression coefficients per outcome in words (empty without moderators).

    A categorical moderator's term reads ``format: group (vs community)``: the difference in g
    from the reference level (the first level in sorted order, as in :func:`meta_regression`).
    """
    r = result.regression
    if not len(r):
        return pd.DataFrame(columns=["Outcome", "Term", "Coefficient (95% CI)", "p"])
    eff = result.effects[result.effects["status"] == "included"]
    labels = eff.drop_duplicates("outcome").set_index("outcome")["outcome_label"].to_dict()

    def term(outcome: str, t: str) -> str:
        if t == "intercept":
            return "intercept (reference levels)"
        if t.endswith("]") and "[" in t:
            mod, level = t[:-1].split("[", 1)
            sub = eff.loc[eff["outcome"] == outcome, mod] if mod in eff.columns else pd.Series(dtype=object)
            levels = sorted(sub.dropna().astype(str).unique())
            ref = f" (vs {levels[0]})" if levels else ""
            return f"{mod}: {level}{ref}"
        return t

    def p_text(p: float) -> str:
        return "" if not np.isfinite(p) else "< 0.001" if p < 0.001 else f"{p:.3f}"

    return pd.DataFrame({
        "Outcome": [labels.get(o, o) for o in r["outcome"]],
        "Term": [term(o, t) for o, t in zip(r["outcome"], r["term"], strict=True)],
        "Coefficient (95% CI)": [_ci_text(e, lo, hi) for e, lo, hi in zip(r["estimate"], r["ci_low"], r["ci_high"], strict=True)],
        "p": [p_text(p) for p in r["p"]],
    })
