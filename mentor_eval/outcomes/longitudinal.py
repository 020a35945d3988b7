"""Longitudinal outcome models: linear mixed models and population-average alternatives.

:func:`mixed_model` fits ``score ~ wave * arm + covariates`` with random intercepts for the
participant and for every cluster level above it (site, mentor, ...) and, on request, a
random slope of time per participant. It reports fixed effects with Satterthwaite degrees of
freedom (as lmerTest), variance components, ICCs, estimated marginal means per wave and arm
(as emmeans) and arm-versus-control contrasts. :func:`cluster_robust` fits the same mean
model by OLS with cluster-robust standard errors or by GEE.
"""

from __future__ import annotations

import functools
import time as _time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from mentor_eval._params import alpha_to_ci_level, check_in_interval, check_one_of, renamed_parameters
from mentor_eval.errors import AnalysisError, DataValidationError, ParameterError
from mentor_eval.outcomes.inputs import check_column_names
from mentor_eval.outcomes.lmm import LmmFit, LmmModel
from mentor_eval.outcomes.results import Result, table_result
from mentor_eval.resources import single_thread_blas

__all__ = ["MixedModelResult", "mixed_model", "cluster_robust"]

_CONTROL_NAMES = ("control", "ctrl")


@dataclass(frozen=True)
class MixedModelResult(Result):
    """Result of :func:`mixed_model` (tidy frames; see the function's Returns section).

    ``method`` gives the estimation method, engine, df method and formula; ``notes`` the model's
    notes (dropped rows, the control arm, boundary fits); ``summary()`` shows the contrasts.
    """

    title: ClassVar[str] = "Linear mixed model"
    headline: ClassVar[str] = "contrasts"

    fixed: pd.DataFrame
    variance: pd.DataFrame
    icc: pd.DataFrame
    emmeans: pd.DataFrame
    contrasts: pd.DataFrame
    info: dict[str, Any]
    vcov: pd.DataFrame = field(repr=False)

    @property
    def method(self) -> str:
        i = self.info
        return (f"{i.get('method', '')} linear mixed model ({i.get('engine', '')}), {i.get('df_method', '')} df: "
                f"{i.get('formula', '')}")

    @property
    def notes(self) -> tuple[str, ...]:
        return tuple(str(n) for n in self.info.get("notes", ()))

    def tables(self) -> dict[str, pd.DataFrame]:
        t = super().tables()
        t.pop("vcov", None)  # a matrix, not a tidy table
        return t

    @property
    def fit(self) -> pd.DataFrame:
        """Model fit in one row (the columns of ``AncovaResult.fit``), from :attr:`info`.

        Returns
        -------
        pandas.DataFrame
            ``outcome`` (when fitted per outcome), ``model`` (``"mixed_model"``), ``n``
            (participants), ``n_obs`` (rows), ``n_params`` (fixed effects, variance
            parameters and the residual variance: lme4's AIC/BIC count), ``estimation``
            (``"REML"`` or ``"ML"``), ``cluster_method`` (``"mixed"``), ``vcov``
            (``"REML"``/``"ML"``), ``df_method`` (``"Satterthwaite"`` or
            ``"asymptotic"``), ``logLik``, ``AIC``, ``BIC``, ``singular``, ``converged``.
        """
        from mentor_eval.outcomes.compare import FIT_COLUMNS

        i = self.info
        groups = list(i.get("n_clusters", {}).values())
        row = {"outcome": i.get("outcome"), "model": "mixed_model", "n": int(groups[-1]) if groups else None,
               "n_obs": int(i["n_obs"]), "n_params": len(self.fixed) + len(i.get("theta", [])) + 1,
               "estimation": i["method"], "cluster_method": "mixed", "vcov": i["method"],
               "df_method": i["df_method"], "logLik": i["logLik"], "AIC": i["AIC"], "BIC": i["BIC"],
               "singular": bool(i["singular"]), "converged": bool(i["converged"])}
        cols = FIT_COLUMNS if i.get("outcome") is not None else FIT_COLUMNS[1:]
        return pd.DataFrame([row])[cols]


@dataclass
class _Design:
    """The model frame after filtering, checks and coding."""

    frame: pd.DataFrame
    y: np.ndarray
    columns: list[np.ndarray]  # the fixed-effects design, one array per column (see X)
    names: list[str]
    waves: list[Any]
    arms: list[Any]
    control: Any
    wave_code: np.ndarray
    arm_code: np.ndarray
    time: np.ndarray | None
    wave_time: np.ndarray | None
    cov_means: np.ndarray
    n_dropped_missing: int
    n_dropped_incomplete: int
    notes: list[str]
    # one entry per cluster column: group codes (placeholder where unclustered), the random-effect
    # covariate (None = every row), when the effect applies, and the arms it applies to
    cluster_levels: list[np.ndarray] = field(default_factory=list)
    cluster_z: list[np.ndarray | None] = field(default_factory=list)
    cluster_modes: list[str] = field(default_factory=list)
    cluster_arms: list[list[Any]] = field(default_factory=list)
    pid_code: np.ndarray | None = None  # participant codes 0..n-1 in order of appearance

    @functools.cached_property
    def X(self) -> np.ndarray:
        """The fixed-effects design as one (n, p) array, built on first use.

        The mixed-model engine reads the columns directly (one n x p copy fewer at a million
        rows); the cluster-robust and statsmodels paths use this array.
        """
        X = np.empty((self.y.size, len(self.columns)), order="F")
        for j, col in enumerate(self.columns):
            X[:, j] = col
        return X


# ---------------------------------------------------------------------------- input handling
def _as_names(func: str, name: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    try:
        out = tuple(value)
    except TypeError:
        raise ParameterError(
            f"The '{name}' parameter of {func} must be a sequence of column names; got {value!r}."
        ) from None
    for v in out:
        if not isinstance(v, str):
            raise ParameterError(
                f"The '{name}' parameter of {func} must hold column names (strings); got {v!r}."
            )
    if len(set(out)) != len(out):
        raise ParameterError(f"The '{name}' parameter of {func} names a column twice: {list(out)}.")
    return out


def _ordered_levels(values: pd.Series, time: pd.Series | None,
                   factorized: tuple[np.ndarray, Any] | None = None) -> list[Any]:
    """Observed levels in analysis order: categorical order, numeric order, or by mean time.

    ``factorized``: ``pd.factorize(values)`` when already computed (no missing values), so
    the levels and the mean time per level come from the integer codes (no second hash pass,
    no groupby over the labels).
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.dropna().unique())
        return [c for c in values.cat.categories if c in present]
    if factorized is None:
        uniq = pd.unique(values.dropna())
    else:
        uniq = np.asarray(factorized[1])
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return sorted(uniq)
    if time is not None:
        if factorized is None:
            mean_time = time.groupby(values, sort=False).mean()
        else:
            # the per-level mean of the non-missing times (as groupby().mean())
            codes, t = factorized[0], time.to_numpy(dtype=float)
            ok = ~np.isnan(t)
            n_ok = np.bincount(codes[ok], minlength=len(uniq))
            total = np.bincount(codes[ok], weights=t[ok], minlength=len(uniq))
            with np.errstate(invalid="ignore", divide="ignore"):
                mean_time = dict(zip(uniq, np.where(n_ok > 0, total / n_ok, np.nan), strict=True))
        return sorted(uniq, key=lambda v: (mean_time.get(v, np.inf), str(v)))
    return sorted(uniq, key=str)


def _recode(codes: np.ndarray, uniques: Any, levels: list[Any]) -> np.ndarray:
    """Codes in the order of ``levels`` from factorize codes and uniques (every value is a level).

    Equivalent to ``pd.Categorical(values, categories=levels).codes`` but a lookup on the
    integer codes: the categorical constructor matches string labels by an object-array hash,
    the slowest step of the model frame at a million rows.
    """
    position = {v: i for i, v in enumerate(levels)}
    lookup = np.array([position[v] for v in np.asarray(uniques)], dtype=np.int64)
    return lookup[codes]


def _prepare(
    func: str,
    data: pd.DataFrame,
    outcome: str | None,
    *,
    score: str,
    wave: str,
    arm: str,
    participant: str,
    time: str | None,
    covariates: tuple[str, ...],
    clusters: tuple[str, ...],
    random_slope: bool,
    control: Any,
    cluster_waves: str | dict[str, str] | None = None,
    missing_cluster: str | None = None,
    allow_single_arm: bool = False,
    check_rank: bool = True,
) -> _Design:
    """Filter, check and code the model frame.

    ``cluster_waves=None`` (``cluster_robust``): cluster ids are required on every row, as
    before; otherwise clusters are handled as in :func:`mixed_model`.
    """
    if arm is None:
        data = data.assign(**{_NO_ARM: "all participants"})
        arm = _NO_ARM
    needed = [score, wave, arm, participant, *clusters, *covariates]
    if time is not None:
        needed.append(time)
    if outcome is not None:
        needed.append("outcome")
    check_column_names(func, data, extra=["outcome"] if outcome is not None else [], score=score, wave=wave,
                       arm=arm, participant=participant, clusters=clusters, covariates=covariates, time=time)
    notes: list[str] = []

    frame = data
    if outcome is not None:
        frame = frame[frame["outcome"] == outcome]
        if len(frame) == 0:
            have = ", ".join(map(repr, pd.unique(data["outcome"].dropna())[:20]))
            raise ParameterError(
                f"The 'outcome' parameter of {func} matches no row; the data hold: {have}."
            )
    elif "outcome" in frame.columns:
        held = pd.unique(frame["outcome"].dropna())
        if len(held) > 1:
            raise ParameterError(
                f"{func}: the data hold {len(held)} outcomes ({', '.join(map(repr, held[:10]))}); "
                "pass outcome=... to choose one."
            )

    s = frame[score]
    if pd.api.types.is_bool_dtype(s.dtype) or not pd.api.types.is_numeric_dtype(s.dtype):
        raise ParameterError(
            f"{func}: the score column {score!r} must be numeric; it has dtype {s.dtype}."
        )
    y_all = s.to_numpy(dtype=float, na_value=np.nan)
    if np.isinf(y_all).any():
        raise DataValidationError(
            f"{func}: the score column {score!r} holds {int(np.isinf(y_all).sum())} infinite value(s)."
        )

    required = (wave, arm, participant) + (clusters if cluster_waves is None else ())
    for col in required:
        n_missing = int(frame[col].isna().sum())
        if n_missing:
            hint = ""
            if col in clusters:
                hint = (" A participant without a cluster (e.g. a control participant with no "
                        "mentor) can be given an id of their own, e.g. their participant id.")
            raise DataValidationError(
                f"{func}: the column {col!r} has {n_missing} missing value(s); every row needs "
                f"one.{hint}"
            )

    keep = ~np.isnan(y_all)
    n_dropped_missing = int((~keep).sum())
    if n_dropped_missing:
        notes.append(f"{n_dropped_missing} row(s) with a missing score were dropped "
                     "(all observed waves of every participant are used).")
    extra = list(covariates) + ([time] if time is not None and random_slope else [])
    incomplete = np.zeros(len(frame), dtype=bool)
    for col in extra:
        incomplete |= frame[col].isna().to_numpy()
    incomplete &= keep
    n_dropped_incomplete = int(incomplete.sum())
    if n_dropped_incomplete:
        notes.append(f"{n_dropped_incomplete} row(s) with a missing covariate or time value "
                     "were dropped.")
    keep &= ~incomplete
    # only the model's columns are carried on (a study frame can have many more)
    model_columns = list(dict.fromkeys(needed))
    # every row kept: select the columns only (no row-mask copy of a million-row frame)
    frame = frame[model_columns] if keep.all() else frame.loc[keep, model_columns]
    if len(frame) == 0:
        raise AnalysisError(f"{func}: no row has an observed score.")

    # integer codes: the checks below are bincounts, not groupbys over labels
    pid_code = pd.factorize(frame[participant])[0].astype(np.int64)
    n_pid = int(pid_code.max()) + 1
    w_raw, w_uniq = pd.factorize(frame[wave])
    w_raw = w_raw.astype(np.int64)
    pw = np.bincount(pid_code * (int(w_raw.max()) + 1) + w_raw)
    if (pw > 1).any():
        n_dup = int((pw[pw > 1] - 1).sum())
        raise DataValidationError(
            f"{func}: {n_dup} participant x wave combination(s) appear more than once; expected "
            "one row per participant and wave" + (" (choose one outcome with outcome=...)."
                                                  if outcome is None else ".")
        )
    a_raw, a_uniq = pd.factorize(frame[arm])
    a_raw = a_raw.astype(np.int64)
    first_arm = np.full(n_pid, -1, dtype=np.int64)
    first_arm[pid_code[::-1]] = a_raw[::-1]  # the first row's arm of each participant
    moved = a_raw != first_arm[pid_code]
    if moved.any():
        bad = pd.unique(frame[participant].to_numpy()[moved])[:5].tolist()
        raise DataValidationError(
            f"{func}: participant(s) {bad} appear in more than one arm; the arm must be constant "
            "within a participant."
        )
    if cluster_waves is None:
        for col in clusters:
            per = frame.groupby(participant, sort=False, observed=True)[col].nunique()
            if (per > 1).any():
                notes.append(f"{int((per > 1).sum())} participant(s) have more than one {col!r}; as "
                             "in lme4's a/b nesting, each combination is treated as its own unit.")

    time_series = None
    if time is not None:
        t = frame[time]
        if pd.api.types.is_bool_dtype(t.dtype) or not pd.api.types.is_numeric_dtype(t.dtype):
            raise ParameterError(f"{func}: the time column {time!r} must be numeric; it has dtype "
                                 f"{t.dtype}.")
        time_series = t.astype(float)
    waves = _ordered_levels(frame[wave], time_series, (w_raw, w_uniq))
    if len(waves) < 2:
        raise AnalysisError(
            f"{func}: the data have only one wave ({waves[0]!r}) with observed scores; a "
            "longitudinal model needs at least two."
        )
    arms = _ordered_levels(frame[arm], None, (a_raw, a_uniq))
    if len(arms) < 2 and not allow_single_arm:
        raise AnalysisError(
            f"{func}: the data have only one arm ({arms[0]!r}); comparing arms needs at least two."
        )
    if len(arms) == 1:
        if control is not None and control != arms[0]:
            raise ParameterError(
                f"The 'control' parameter of {func} must be one of the arms {arms[0]!r} (the data "
                f"have one arm); got {control!r}.")
        control = None
        if arm != _NO_ARM:
            notes.append(f"Single-arm study ({arms[0]!r}): the model estimates the change over "
                         "waves, with no arm term and no comparison group.")
    elif control is None:
        named = [a for a in arms if str(a).lower() in _CONTROL_NAMES]
        control = named[0] if named else arms[0]
        notes.append(f"Control arm: {control!r}" + ("" if named else " (the first arm; pass "
                                                     "control=... to choose another)") + ".")
    elif control not in arms:
        raise ParameterError(
            f"The 'control' parameter of {func} must be one of the arms "
            f"{', '.join(map(repr, arms))}; got {control!r}."
        )
    if control is not None:
        arms = [control] + [a for a in arms if a != control]

    wave_code = _recode(w_raw, w_uniq, waves)
    arm_code = _recode(a_raw, a_uniq, arms)
    n = len(frame)
    n_w, n_a = len(waves), len(arms)
    cols: list[np.ndarray] = [np.ones(n)]
    names = ["Intercept"]
    wave_t: np.ndarray | None = None
    t_values: np.ndarray | None = None
    arm_d = [(arm_code == j).astype(float) for j in range(1, n_a)]
    arm_names = [f"{arm}[T.{a}]" for a in arms[1:]]
    if random_slope:
        t_values = (time_series.to_numpy() if time_series is not None
                    else wave_code.astype(float))
        tname = time if time is not None else "time"
        cols.append(t_values)
        names.append(tname)
        cols += arm_d
        names += arm_names
        cols += [t_values * d for d in arm_d]
        names += [f"{tname}:{a}" for a in arm_names]
        wave_t = np.bincount(wave_code, weights=t_values, minlength=n_w) / np.bincount(
            wave_code, minlength=n_w)
    else:
        cell = np.bincount(wave_code * n_a + arm_code, minlength=n_w * n_a).reshape(n_w, n_a)
        if (cell == 0).any():
            empty = [f"{waves[i]!r} x {arms[j]!r}" for i, j in zip(*np.nonzero(cell == 0), strict=True)]
            raise AnalysisError(
                f"{func}: no observed score in wave x arm cell(s) {', '.join(empty)}; the "
                "wave * arm model cannot be estimated."
            )
        wave_d = [(wave_code == k).astype(float) for k in range(1, n_w)]
        wave_names = [f"{wave}[T.{w}]" for w in waves[1:]]
        cols += wave_d + arm_d
        names += wave_names + arm_names
        for wd, wn in zip(wave_d, wave_names, strict=True):
            for ad, an in zip(arm_d, arm_names, strict=True):
                cols.append(wd * ad)
                names.append(f"{wn}:{an}")
        if time is not None:
            notes.append(f"The time column {time!r} is used only with random_slope=True.")
    cov_means: list[float] = []
    for cov in covariates:
        c = frame[cov]
        if pd.api.types.is_numeric_dtype(c.dtype) and not pd.api.types.is_bool_dtype(c.dtype):
            v = c.to_numpy(dtype=float)
            cols.append(v)
            names.append(cov)
            cov_means.append(float(v.mean()))
        else:
            levels = _ordered_levels(c, None)
            if len(levels) < 2:
                raise AnalysisError(f"{func}: the covariate {cov!r} takes one value only "
                                    f"({levels[0]!r}); drop it from covariates.")
            codes = pd.Categorical(c, categories=levels).codes
            for j, lev in enumerate(levels[1:], start=1):
                cols.append((codes == j).astype(float))
                names.append(f"{cov}[T.{lev}]")
                # emmeans averages over the levels of a factor with equal weights
                cov_means.append(1.0 / len(levels))
    d = _Design(
        frame=frame, y=frame[score].to_numpy(dtype=float), columns=cols, names=names,
        waves=waves, arms=arms, control=control, wave_code=wave_code, arm_code=arm_code,
        time=t_values, wave_time=wave_t, cov_means=np.array(cov_means),
        n_dropped_missing=n_dropped_missing, n_dropped_incomplete=n_dropped_incomplete,
        notes=notes, pid_code=pid_code,
    )
    rank = _column_rank(d.X) if check_rank else len(cols)
    if rank < len(cols):
        raise AnalysisError(
            f"{func}: the fixed-effects design is rank deficient (rank {rank} of {len(cols)} "
            f"columns: {', '.join(names)}); a covariate is constant or a combination of others "
            "or of wave and arm."
        )
    if cluster_waves is not None and clusters:
        _code_clusters(func, d, arm=arm, participant=participant, clusters=clusters,
                       cluster_waves=cluster_waves, missing_cluster=missing_cluster or "error")
    return d


_NO_ARM = "__mentor_eval_single_arm__"
# Group code of the rows that carry no random effect of a cluster level (z = 0): lme4's
# placeholder level. A tuple never equals a user's id read from a file.
_UNCLUSTERED = ("__unclustered__",)


def _code_clusters(func: str, d: _Design, *, arm: str, participant: str,
                   clusters: tuple[str, ...], cluster_waves: str | dict[str, str],
                   missing_cluster: str) -> None:
    """Cluster codes and random-effect covariates z of each cluster level (partially nested).

    A participant's cluster is the one non-missing value among their rows (so a mentor recorded
    only from the midpoint on still places the baseline row). Participants without one carry no
    random effect of that level (z = 0, placeholder group), or raise, see ``missing_cluster``.
    """
    frame = d.frame
    pid = frame[participant]
    pcode = d.pid_code if d.pid_code is not None else pd.factorize(pid)[0].astype(np.int64)
    n_pid = int(pcode.max()) + 1
    post = d.wave_code > 0
    arm_of = frame[arm]
    # each participant's arm (constant within participant, checked in _prepare)
    p_arm = np.empty(n_pid, dtype=np.int64)
    p_arm[pcode] = d.arm_code
    for col in clusters:
        ccode = pd.factorize(frame[col], use_na_sentinel=True)[0].astype(np.int64)
        have = ccode >= 0
        # each participant's first non-missing value, and whether any other row differs from it
        # (O(rows), no sort of participant x value pairs)
        hp, hc = pcode[have], ccode[have]
        first = np.full(n_pid, -1, dtype=np.int64)
        first[hp[::-1]] = hc[::-1]
        multi = np.zeros(n_pid, dtype=bool)
        multi[hp[hc != first[hp]]] = True
        if multi.any():
            d.notes.append(f"{int(multi.sum())} participant(s) have more than one "
                           f"{col!r}; as in lme4's a/b nesting, each combination is treated as its "
                           "own unit.")
        # the single value of a participant with exactly one, else -1
        one = np.where(multi, -1, first)
        filled = np.where(have, ccode, one[pcode])
        has = filled >= 0
        p_has = np.zeros(n_pid, dtype=bool)
        p_has[pcode] = has  # constant within participant unless they have several values
        p_has[pcode[has]] = True
        n_arm = np.bincount(p_arm, minlength=len(d.arms))
        n_arm_has = np.bincount(p_arm[p_has], minlength=len(d.arms))
        clustered_arms = [a for j, a in enumerate(d.arms) if n_arm_has[j] > 0]
        empty_arms = [a for j, a in enumerate(d.arms) if n_arm_has[j] == 0]
        partial_j = [j for j in range(len(d.arms)) if 0 < n_arm_has[j] < n_arm[j]]
        partial = [d.arms[j] for j in partial_j]
        if not clustered_arms:
            raise DataValidationError(
                f"{func}: the cluster column {col!r} has no value for any participant; drop it "
                "from clusters.")
        if partial and missing_cluster == "error":
            j = partial_j[0]
            miss_p = np.flatnonzero((p_arm == j) & ~p_has)
            first_row = np.full(n_pid, -1, dtype=np.int64)
            first_row[pcode[::-1]] = np.arange(len(pcode))[::-1]
            miss = pid.to_numpy()[first_row[miss_p[:5]]].tolist()
            raise DataValidationError(
                f"{func}: the cluster column {col!r} is missing for {int(n_arm[j] - n_arm_has[j])} "
                f"of {int(n_arm[j])} participant(s) of arm {d.arms[j]!r} (e.g. "
                f"{', '.join(map(repr, miss))}), while the other participants of that arm "
                "have one. Fill it in, or pass missing_cluster='unclustered' (they carry no "
                f"{col!r} effect) or missing_cluster='own' (each is a cluster of their own)."
            )
        if missing_cluster == "own" and not has.all():
            # each participant without a value is a cluster of their own
            filled = np.where(has, filled, int(filled.max()) + 1 + pcode)
            has = np.ones(len(frame), dtype=bool)
            clustered_arms = list(d.arms)
            d.notes.append(f"Participants without a {col!r} are each a {col!r} cluster of their "
                           "own (missing_cluster='own').")
        else:
            if empty_arms:
                d.notes.append(
                    f"Arm(s) {', '.join(map(repr, empty_arms))} have no {col!r}: they carry no "
                    f"{col!r} random effect (partially nested design).")
            if partial:
                n_part_missing = int(sum(n_arm[j] - n_arm_has[j] for j in partial_j))
                d.notes.append(
                    f"{n_part_missing} participant(s) of arm(s) {', '.join(map(repr, partial))} "
                    f"have no {col!r} and carry no {col!r} random effect "
                    "(missing_cluster='unclustered').")
        mode = cluster_waves if isinstance(cluster_waves, str) else cluster_waves.get(col, "auto")
        if mode == "auto":
            mode = "all" if has.all() else "post-baseline"
        z = has & post if mode == "post-baseline" else has
        if not z.any():
            raise AnalysisError(
                f"{func}: no participant with a {col!r} has a score after the first wave, so a "
                f"post-baseline {col!r} effect cannot be estimated; use cluster_waves='all'.")
        # cluster units: combinations of this and the outer cluster columns (lme4's a/b);
        # integer codes, the placeholder (no random effect of this level) being -1
        own_code = filled
        if d.cluster_levels:
            prev = d.cluster_levels[-1]
            key = pd.factorize(prev * (int(own_code.max()) + 2) + own_code + 1)[0]
        else:
            key = own_code
        kz, pz = key[z], pcode[z]
        # participants per cluster unit: one unit per participant unless some participant has
        # several (then count the distinct unit x participant pairs by hashing)
        unit_of = np.full(n_pid, -1, dtype=np.int64)
        unit_of[pz] = kz
        if np.array_equal(unit_of[pz], kz):
            size = pd.Series(np.bincount(unit_of[unit_of >= 0]))
        else:
            kp = pd.unique(kz * n_pid + pz)
            size = pd.Series(np.bincount(kp // n_pid))
        size = size[size > 0]
        if len(size) < 2:
            raise AnalysisError(
                f"{func}: the cluster column {col!r} has {len(size)} cluster with a random effect; "
                "a cluster variance needs at least two clusters. Drop it from clusters.")
        if (size == 1).all():
            raise AnalysisError(
                f"{func}: every {col!r} cluster has a single participant, so a {col!r} variance "
                "cannot be told apart from the participants' own; drop it from clusters.")
        if (size == 1).any():
            solo = np.isin(key, size.index[size == 1].to_numpy()) & z
            solo_arms = ", ".join(map(repr, pd.unique(arm_of.to_numpy()[solo])))
            d.notes.append(f"{int((size == 1).sum())} {col!r} cluster(s) have one participant "
                           f"(arm(s) {solo_arms}).")
        d.cluster_levels.append(np.where(has, key, -1).astype(np.int64))
        d.cluster_z.append(None if z.all() else z.astype(float))
        d.cluster_modes.append(mode)
        d.cluster_arms.append(clustered_arms)


def _column_rank(X: np.ndarray | None, gram: np.ndarray | None = None) -> int:
    """Numerical column rank of the design from its Gram matrix (one pass over the rows).

    Columns other than a constant one are centred and every column is scaled to unit length,
    so a large mean does not pass for collinearity; a relative singular value below 1e-7 (the
    resolution of a Gram matrix in double precision) counts as zero. ``gram``: the centred
    Gram matrix when already computed (the mixed-model engine centres X the same way).
    """
    if gram is None:
        assert X is not None
        Xc = X.astype(float, copy=True)
        const = np.all(Xc == Xc[0], axis=0)
        Xc[:, ~const] -= Xc[:, ~const].mean(axis=0)
        gram = Xc.T @ Xc
    gram = np.asarray(gram, dtype=float)
    diag = np.diag(gram)
    if np.any(diag <= 1e-300):  # a column that is zero (or constant, once centred)
        return int(np.sum(diag > 1e-300))
    scale = 1.0 / np.sqrt(diag)
    ev = np.linalg.eigvalsh(gram * scale[:, None] * scale[None, :])
    sv = np.sqrt(np.clip(ev, 0.0, None))
    return int(np.sum(sv > 1e-7 * sv.max()))


# ---------------------------------------------------------------------------- grids & contrasts
def _grid_rows(d: _Design, random_slope: bool) -> np.ndarray:
    """One row of L per wave x arm (wave-major): the model's mean at that cell."""
    n_w, n_a = len(d.waves), len(d.arms)
    p = len(d.names)
    n_cov = d.cov_means.size
    rows = np.zeros((n_w, n_a, p))
    rows[:, :, 0] = 1.0
    if random_slope:
        assert d.wave_time is not None
        rows[:, :, 1] = d.wave_time[:, None]
        for j in range(1, n_a):
            rows[:, j, 1 + j] = 1.0
            rows[:, j, n_a + j] = d.wave_time
    else:
        for k in range(1, n_w):
            rows[k, :, k] = 1.0
        base = n_w
        for j in range(1, n_a):
            rows[:, j, base + j - 1] = 1.0
        inter = base + n_a - 1
        for k in range(1, n_w):
            for j in range(1, n_a):
                rows[k, j, inter + (k - 1) * (n_a - 1) + (j - 1)] = 1.0
    if n_cov:
        rows[:, :, p - n_cov:] = d.cov_means
    return rows


def _contrast_rows(d: _Design, grid: np.ndarray) -> tuple[np.ndarray, pd.DataFrame]:
    rows, keys = [], []
    first = d.waves[0]
    if len(d.arms) == 1:
        # single-arm study: each wave minus the first (the change since baseline)
        for k in range(1, len(d.waves)):
            rows.append(grid[k, 0] - grid[0, 0])
            keys.append(("change", f"{d.waves[k]} - {first}", d.arms[0], d.waves[k]))
        return np.array(rows), pd.DataFrame(keys, columns=["type", "contrast", "arm", "wave"])
    for j in range(1, len(d.arms)):
        label = f"{d.arms[j]} - {d.control}"
        for k, w in enumerate(d.waves):
            rows.append(grid[k, j] - grid[k, 0])
            keys.append(("arm_vs_control", label, d.arms[j], w))
        for k in range(1, len(d.waves)):
            rows.append((grid[k, j] - grid[0, j]) - (grid[k, 0] - grid[0, 0]))
            keys.append(("change_vs_control", f"({label}) x ({d.waves[k]} - {first})",
                         d.arms[j], d.waves[k]))
    return np.array(rows), pd.DataFrame(keys, columns=["type", "contrast", "arm", "wave"])


def _inference(est: np.ndarray, se: np.ndarray, df: np.ndarray, alpha: float) -> dict[str, np.ndarray]:
    t = est / se
    p = 2.0 * stats.t.sf(np.abs(t), df)
    q = stats.t.ppf(1.0 - alpha / 2.0, df)
    return {"t": t, "p": p, "ci_low": est - q * se, "ci_high": est + q * se}


# ---------------------------------------------------------------------------- engines
def _fit_statsmodels(d: _Design, model: LmmModel, levels: list[np.ndarray], reml: bool,
                     random_slope: bool) -> LmmFit:
    """Estimate the variance parameters with statsmodels MixedLM; report through our algebra."""
    import statsmodels.api as sm

    if random_slope and len(levels) > 1:
        raise ParameterError(
            "mixed_model: engine='statsmodels' cannot fit a random slope together with cluster "
            "levels (statsmodels has no correlated slope within nested groups); use engine='auto'."
        )
    codes = [np.unique(lv, return_inverse=True)[1].ravel() for lv in levels]
    nested = [codes[0]]
    for c in codes[1:]:
        nested.append(np.unique(nested[-1] * (c.max() + 1) + c, return_inverse=True)[1].ravel())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if len(levels) == 1:
            exog_re = (np.column_stack([np.ones(d.y.size), d.time]) if random_slope
                       else np.ones((d.y.size, 1)))
            sm_model = sm.MixedLM(d.y, d.X, groups=nested[0], exog_re=exog_re)
        else:
            frame = pd.DataFrame({f"l{k}": nested[k] for k in range(len(nested))})
            frame["y"] = d.y
            xcols = [f"x{i}" for i in range(d.X.shape[1])]
            frame[xcols] = d.X
            sm_model = sm.MixedLM.from_formula(
                "y ~ 0 + " + " + ".join(xcols), frame, groups="l0", re_formula="1",
                vc_formula={f"l{k}": f"0 + C(l{k})" for k in range(1, len(nested))},
            )
        res = sm_model.fit(reml=reml, method=["lbfgs", "bfgs"])
    scale = float(res.scale)
    cov_re = np.asarray(res.cov_re) / scale
    if random_slope:
        L = np.linalg.cholesky(cov_re + 1e-300 * np.eye(2))
        theta = np.array([L[0, 0], L[1, 0], L[1, 1]])
    else:
        theta = np.array([np.sqrt(max(cov_re[0, 0], 0.0))])
    if len(levels) > 1:
        # statsmodels: cov_re is the outermost level, vcomp the inner ones (outer to inner)
        vc = np.sqrt(np.maximum(np.asarray(res.vcomp) / scale, 0.0))
        inner = np.sqrt(max(cov_re[0, 0], 0.0))
        # our theta: innermost first, then the outer levels from the inside out
        theta = np.concatenate([[vc[-1]], vc[:-1][::-1], [inner]])
    dev = model.deviance(theta, reml)
    return model._result(theta, reml, dev, bool(res.converged), "statsmodels MixedLM", 0)


# ---------------------------------------------------------------------------- public API
def _one_blas_thread(func: Any) -> Any:
    """Run ``func`` with BLAS on one thread (its matrices are small; see resources)."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with single_thread_blas():
            return func(*args, **kwargs)
    return wrapper


@renamed_parameters({"alpha": ("ci_level", alpha_to_ci_level)})
@_one_blas_thread
def mixed_model(
    data: pd.DataFrame,
    outcome: str | None = None,
    *,
    score: str = "score",
    wave: str = "wave",
    arm: str = "arm",
    participant: str = "participant_id",
    time: str | None = None,
    covariates: Sequence[str] = (),
    clusters: Sequence[str] = (),
    random_slope: bool = False,
    method: str = "REML",
    df_method: str = "satterthwaite",
    control: Any = None,
    ci_level: float = 0.95,
    engine: str = "auto",
    cluster_waves: str | Mapping[str, str] = "auto",
    missing_cluster: str = "error",
) -> MixedModelResult:
    """Linear mixed model of a repeated outcome by wave and arm, as lme4 + lmerTest + emmeans.

    The model is ``score ~ C(wave) * C(arm) + covariates`` with a random intercept per
    participant and, for each name in ``clusters`` (outermost first), a nested random
    effect of that cluster. A cluster present for every participant (e.g. a site that exists
    before the program) acts on every wave: lme4's ``(1 | site_id/participant_id)``. A
    cluster created by the program (a mentor, circle or community, matched after the baseline
    survey) that the control arm does not have acts only on the post-baseline waves of the
    participants who have one: lme4's ``(0 + post_mentor | mentor_id)`` with ``post_mentor``
    = 1 on a clustered participant's rows after the first wave and 0 otherwise (control
    participants sit in a placeholder level with no random effect: a *partially nested*
    design). ``cluster_waves`` overrides this choice. With ``random_slope=True`` the fixed
    part is ``score ~ time * C(arm) + covariates`` and each participant has a correlated
    random intercept and slope of time: ``(1 + time | participant_id)`` (below any cluster
    effects). A study with one arm fits ``score ~ C(wave) + covariates`` (the change over
    waves, no comparison group).

    Parameters
    ----------
    data : DataFrame
        Analysis frame: one row per participant x wave (x outcome).
    outcome : str, optional
        Keep rows whose ``outcome`` column equals this (required when the data hold several).
    score, wave, arm, participant : str
        Column names of the response, the wave, the arm and the participant id. ``arm=None``
        (or an arm column with one value) is a single-arm study.
    time : str, optional
        Numeric time column for the random-slope model (default: the wave's position
        0, 1, 2, ...). With ``random_slope=False`` it only orders string waves.
    covariates : sequence of str
        Baseline covariates (numeric, or categorical coded as treatment dummies).
    clusters : sequence of str
        Cluster levels above the participant, outermost first, e.g. ``("site_id", "mentor_id")``.
        A participant's cluster is the single non-missing value among their rows (a mentor
        recorded only from the midpoint on also places the baseline row); participants with
        none carry no random effect of that level (see ``missing_cluster``).
    random_slope : bool
        Add a random slope of time per participant.
    method : {"REML", "ML"}
        Estimation criterion.
    df_method : {"satterthwaite", "asymptotic"}
        Degrees of freedom of every test: Satterthwaite (as lmerTest) or infinite (z-tests).
    control : optional
        The control arm (a value of the ``arm`` column). Default: an arm called "control" or
        "ctrl" (any case), else the first arm in order.
    ci_level : float
        Confidence level of the intervals (formerly ``alpha`` = 1 - level).
    engine : {"auto", "mentor_eval", "statsmodels"}
        ``"mentor_eval"``: this package's vectorised REML/ML engine. ``"statsmodels"``:
        variance parameters estimated by statsmodels ``MixedLM``, everything else computed as
        below. ``"auto"``: this package's engine, falling back to statsmodels if it fails
        numerically (``info["engine"]`` says which ran). statsmodels cannot fit cluster
        effects limited to some rows, so it is used only when every participant has every
        cluster and every cluster acts on all waves.
    cluster_waves : {"auto", "post-baseline", "all"} or mapping of cluster column to one of them
        When each cluster's random effect applies. ``"post-baseline"``: on the waves after the
        first (the cluster is formed by matching after the baseline survey, so it cannot have
        shaped baseline scores); ``"all"``: on every wave. ``"auto"`` (default): ``"all"``
        for a cluster every participant has, ``"post-baseline"`` for one some participants
        (e.g. the control arm) lack. A separate random effect per wave is not offered: with
        one shared post-baseline effect the mentor variance stays estimable with 10-20
        mentors, where one variance per wave would often collapse to zero.
    missing_cluster : {"error", "unclustered", "own"}
        Participants without a value in a cluster column. A whole arm without one (control) is
        always allowed: its participants carry no random effect of that level. Some but not
        all participants of an arm without one: ``"error"`` (default) raises naming the column
        and the arm; ``"unclustered"`` gives them no random effect of the level, like the
        control arm; ``"own"`` makes every participant without a value (control included) a
        cluster of their own, the treatment before partially nested models (singleton
        clusters sharing the cluster variance).

    Returns
    -------
    MixedModelResult
        Frozen dataclass; each frame starts with ``outcome`` when ``outcome`` was given.

        - ``fixed``: ``term``, ``estimate``, ``se``, ``df``, ``t``, ``p``, ``ci_low``,
          ``ci_high`` -- one row per fixed effect (treatment coding; the first wave and the
          control arm are the reference levels, names like ``wave[T.post]:arm[T.nw]``).
        - ``variance``: ``level`` (cluster column, participant column or ``"residual"``),
          ``component`` (``"(Intercept)"``, ``"post-baseline"`` for a cluster effect on the
          post-baseline waves only, the time name, ``"cov((Intercept), time)"`` or
          ``"residual"``), ``variance``, ``sd``, ``corr`` (correlation, covariance rows only).
        - ``icc``: ``level``, ``icc`` -- the intercept variance of each level over the total
          (all intercept variances + residual): the share of a clustered participant's score
          variance at a wave where every effect applies; for a random-slope model, at time 0;
          ``waves`` (``"all"`` or ``"post-baseline"``), ``n_clusters`` (clusters with a random
          effect, placeholder excluded; participants), ``singular`` (the level's variance, or
          for the participant level with a slope a variance or the correlation, is at the
          boundary, lme4's ``isSingular`` criterion on that level).
        - ``emmeans``: ``wave``, ``arm``, ``estimate``, ``se``, ``df``, ``ci_low``,
          ``ci_high``, ``n`` -- model-estimated mean of each wave x arm cell with numeric
          covariates at their means and factor covariates averaged with equal weights (as
          emmeans); ``n`` = observed scores in the cell.
        - ``contrasts``: ``type`` (``"arm_vs_control"``: arm minus control at each wave;
          ``"change_vs_control"``: the arm's change from the first wave minus the control
          arm's change, i.e. the difference in differences; in a single-arm study only
          ``"change"``: each wave minus the first), ``contrast`` (label), ``arm``,
          ``wave``, ``estimate``, ``se``, ``df``, ``t``, ``p``, ``ci_low``, ``ci_high``.
        - ``info``: dict with ``engine``, ``method``, ``df_method``, ``formula`` (lme4
          syntax), ``control_arm`` (None in a single-arm study), ``arms``, ``single_arm``,
          ``waves``, ``n_obs``, ``n_dropped_missing`` (rows with a
          missing score), ``n_dropped_incomplete`` (rows with a missing covariate/time),
          ``n_clusters`` (level -> number of units), ``cluster_waves`` (cluster -> ``"all"`` or
          ``"post-baseline"``), ``clustered_arms`` (cluster -> arms whose participants carry
          its effect), ``converged``, ``boundary`` and ``singular`` (the same flag, lme4's
          ``isSingular``: a variance at zero or a correlation at +-1), ``notes`` (list of
          plain-language notes), ``logLik``,
          ``REML_criterion`` (REML fits; -2 logLik), ``deviance``, ``AIC``, ``BIC``,
          ``theta``, ``optimizer``, ``seconds``.
        - ``vcov``: covariance matrix of the fixed effects (``sigma^2 (X' V^-1 X)^-1``).

    Notes
    -----
    Parameters are estimated by maximising the REML (or ML) likelihood profiled over the
    fixed effects and the residual variance, with relative covariance factors as in lme4.
    Satterthwaite's df for a contrast ``l' beta`` is ``2 (l' C l)^2 / (g' A g)``, with ``C``
    the covariance of the fixed effects, ``A`` twice the inverse Hessian of the deviance in
    the variance parameters ``(theta, sigma)`` and ``g`` the gradient of ``l' C l`` in them
    (lmerTest's method). Tests use ``t = estimate / se`` with that df; intervals are
    ``estimate +- t_{(1+ci_level)/2, df} se``.

    Missing data: every observed row is used (participants with a missing wave keep their
    other waves), which is valid under missing at random given the model. Rows with a missing
    score, or a missing covariate or time value, are dropped and counted in ``info``. Missing
    wave, arm, participant or cluster ids are errors.

    Wave order: categorical order, numeric order, the mean of ``time`` when given, otherwise
    sorted labels; pass an ordered Categorical to fix it. In the random-slope model each wave's
    marginal mean is evaluated at the mean of ``time`` in that wave.

    A variance estimated at zero (or an intercept-slope correlation of +-1) is a boundary
    (singular) fit, flagged in ``info["singular"]`` (and per level in ``icc["singular"]``)
    with a note; the fit is still returned. A mentor variance at zero is often the symptom
    of the wrong model: a mentor effect that starts after matching, fitted as an intercept
    shared by every wave, is diluted by the baseline rows.

    Partially nested designs: the random effect of a cluster level enters through a covariate
    ``z`` per row (1 where it applies, 0 elsewhere), as lme4's ``(0 + z | cluster)``; see
    :class:`mentor_eval.outcomes.lmm.LmmModel`. Satterthwaite df then reflect the number of
    clusters for contrasts involving the clustered arms.

    References
    ----------
    Bauer, D. J., Sterba, S. K. & Hallfors, D. D. (2008). Evaluating group-based interventions
    when control participants are ungrouped. Multivariate Behavioral Research, 43, 210-236.
    Bates, D., Maechler, M., Bolker, B. & Walker, S. (2015). Fitting linear mixed-effects
    models using lme4. Journal of Statistical Software, 67(1).
    Kuznetsova, A., Brockhoff, P. B. & Christensen, R. H. B. (2017). lmerTest package.
    Journal of Statistical Software, 82(13).
    Lenth, R. V. emmeans: estimated marginal means. R package.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> ids = np.repeat(np.arange(60), 3)
    >>> frame = pd.DataFrame({
    ...     "participant_id": ids.astype(str),
    ...     "wave": np.tile(["baseline", "mid", "post"], 60),
    ...     "arm": np.where(ids % 2 == 0, "control", "mentoring"),
    ...     "score": rng.normal(size=180) + rng.normal(size=60)[ids],
    ... })
    >>> frame["wave"] = pd.Categorical(frame["wave"], ["baseline", "mid", "post"], ordered=True)
    >>> res = mixed_model(frame)
    >>> res.info["n_obs"], list(res.emmeans.columns[:3])
    (180, ['wave', 'arm', 'estimate'])
    """
    func = "mixed_model"
    covariates = _as_names(func, "covariates", covariates)
    clusters = _as_names(func, "clusters", clusters)
    check_one_of(func, "method", method, ("REML", "ML"))
    check_one_of(func, "df_method", df_method, ("satterthwaite", "asymptotic"))
    check_one_of(func, "engine", engine, ("auto", "mentor_eval", "statsmodels"))
    check_one_of(func, "random_slope", random_slope, (True, False))
    alpha = 1.0 - check_in_interval(func, "ci_level", ci_level, 0.0, 1.0)
    check_one_of(func, "missing_cluster", missing_cluster, ("error", "unclustered", "own"))
    modes = ("auto", "post-baseline", "all")
    if isinstance(cluster_waves, Mapping):
        for col, mode in cluster_waves.items():
            if col not in clusters:
                raise ParameterError(
                    f"The 'cluster_waves' parameter of {func} names {col!r}, which is not one of "
                    f"the clusters {list(clusters)}.")
            check_one_of(func, f"cluster_waves[{col!r}]", mode, modes)
        cluster_waves = dict(cluster_waves)
    else:
        check_one_of(func, "cluster_waves", cluster_waves, modes)
    for name, value in (("score", score), ("wave", wave), ("participant", participant)):
        if not isinstance(value, str):
            raise ParameterError(f"The '{name}' parameter of {func} must be a column name; got {value!r}.")
    if arm is not None and not isinstance(arm, str):
        raise ParameterError(f"The 'arm' parameter of {func} must be a column name or None; "
                             f"got {arm!r}.")
    if participant in clusters:
        raise ParameterError(f"The 'clusters' parameter of {func} must not include the participant "
                             f"column {participant!r}; it is always the innermost level.")
    d = _prepare(func, data, outcome, score=score, wave=wave, arm=arm, participant=participant,
                 time=time, covariates=covariates, clusters=clusters, random_slope=random_slope,
                 control=control, cluster_waves=cluster_waves, missing_cluster=missing_cluster,
                 allow_single_arm=True, check_rank=False)
    arm_label = arm if arm is not None else "arm"
    reml = method == "REML"
    level_names = [*clusters, participant]
    levels = [*d.cluster_levels, d.pid_code]
    z_levels: list[np.ndarray | None] = [*d.cluster_z, None]
    p = len(d.names)
    if d.y.size <= p:
        raise AnalysisError(f"{func}: {d.y.size} observation(s) for {p} fixed effects.")

    started = _time.perf_counter()
    # the design's columns go to the engine as they are (no n x p array of X besides its own)
    model = LmmModel(d.y, d.columns, levels, d.time if random_slope else None, z=z_levels)
    # rank of X from the engine's (centred) cross-product: no second pass over the rows
    rank = _column_rank(None, gram=model.WtW[:-1, :-1])
    if rank < p:
        raise AnalysisError(
            f"{func}: the fixed-effects design is rank deficient (rank {rank} of {p} "
            f"columns: {', '.join(d.names)}); a covariate is constant or a combination of others "
            "or of wave and arm."
        )
    notes = list(d.notes)
    used = engine
    if engine == "statsmodels" and model.has_z:
        raise ParameterError(
            f"{func}: engine='statsmodels' cannot fit a cluster effect limited to some rows "
            "(partially nested or post-baseline); use engine='auto' or cluster_waves='all' with "
            "every participant clustered.")
    if engine == "statsmodels":
        fit = _fit_statsmodels(d, model, levels, reml, random_slope)
    else:
        try:
            fit = model.fit(reml=reml)
            used = "mentor_eval"
        except (np.linalg.LinAlgError, FloatingPointError, ValueError) as exc:
            if engine == "mentor_eval" or model.has_z:
                raise AnalysisError(f"{func}: the mixed-model fit failed numerically ({exc}).") from exc
            notes.append(f"The mentor_eval engine failed ({exc}); statsmodels MixedLM was used.")
            fit = _fit_statsmodels(d, model, levels, reml, random_slope)
            used = "statsmodels"
    if used == "statsmodels":
        used_label = "statsmodels"
    else:
        used_label = "mentor_eval"

    # ---- tests: fixed effects, grid means and contrasts share one Satterthwaite computation
    grid = _grid_rows(d, random_slope)
    grid_flat = grid.reshape(-1, p)
    con_L, con_keys = _contrast_rows(d, grid)
    L_all = np.vstack([np.eye(p), grid_flat, con_L])
    if df_method == "satterthwaite":
        tests = fit.satterthwaite(L_all)
        est, se, df = tests["estimate"].to_numpy(), tests["se"].to_numpy(), tests["df"].to_numpy()
        if model._cache.get("varpar", {}).get("negative_eigen"):
            notes.append("The Hessian of the variance parameters is not positive definite (as "
                         "lmerTest warns); Satterthwaite df are approximate.")
    else:
        est = L_all @ fit.beta
        se = np.sqrt(np.einsum("ij,jk,ik->i", L_all, fit.vcov, L_all))
        df = np.full(est.size, np.inf)
    inf = _inference(est, se, df, alpha)
    seconds = _time.perf_counter() - started

    sl_fixed = slice(0, p)
    fixed = pd.DataFrame({"term": d.names, "estimate": est[sl_fixed], "se": se[sl_fixed],
                          "df": df[sl_fixed], **{k: v[sl_fixed] for k, v in inf.items()}})

    sl_grid = slice(p, p + grid_flat.shape[0])
    n_w, n_a = len(d.waves), len(d.arms)
    counts = np.bincount(d.wave_code * n_a + d.arm_code, minlength=n_w * n_a)
    emmeans = pd.DataFrame({
        "wave": np.repeat(np.array(d.waves, dtype=object), n_a),
        "arm": np.tile(np.array(d.arms, dtype=object), n_w),
        "estimate": est[sl_grid], "se": se[sl_grid], "df": df[sl_grid],
        "ci_low": inf["ci_low"][sl_grid], "ci_high": inf["ci_high"][sl_grid], "n": counts,
    })

    sl_con = slice(p + grid_flat.shape[0], None)
    contrasts = con_keys.assign(estimate=est[sl_con], se=se[sl_con], df=df[sl_con],
                                **{k: v[sl_con] for k, v in inf.items()})

    n_units = [int(np.count_nonzero(np.bincount(lv[lv >= 0]))) for lv in d.cluster_levels] + [
        int(fit.n_groups[-1])]
    variance, icc = _variance_tables(fit, level_names, random_slope,
                                     time if time is not None else "time", d, n_units)
    boundary_notes = []
    if fit.boundary:
        zero = variance.loc[(variance["variance"] <= 1e-10 * max(fit.sigma2, 1e-300))
                            & (variance["component"] != "residual")
                            & ~variance["component"].str.startswith("cov("), "level"].tolist()
        if zero:
            boundary_notes.append("Boundary (singular) fit: the variance at level(s) "
                                  f"{', '.join(map(repr, zero))} is estimated as zero; those units "
                                  "differ no more than chance predicts. Estimates remain valid; "
                                  "consider a simpler random-effects structure.")
        else:
            boundary_notes.append("Boundary (singular) fit: the random intercept and slope are "
                                  "estimated as perfectly correlated (or a variance is near zero); "
                                  "consider dropping the random slope.")
    if not fit.converged:
        notes.append("The optimiser did not meet the convergence check (scaled gradient < 0.002); "
                      "treat the estimates with caution.")
    notes.extend(boundary_notes)
    info: dict[str, Any] = {
        "engine": used_label,
        "method": method,
        "df_method": "Satterthwaite" if df_method == "satterthwaite" else "asymptotic",
        "formula": _formula(d, score, wave, arm_label, covariates, level_names, random_slope,
                            time if time is not None else "time"),
        "outcome": outcome,
        "control_arm": d.control,
        "arms": list(d.arms),
        "single_arm": len(d.arms) == 1,
        "waves": list(d.waves),
        "n_obs": fit.n_obs,
        "n_dropped_missing": d.n_dropped_missing,
        "n_dropped_incomplete": d.n_dropped_incomplete,
        "n_clusters": dict(zip(level_names, n_units, strict=True)),
        "cluster_waves": dict(zip(clusters, d.cluster_modes, strict=True)),
        "clustered_arms": dict(zip(clusters, d.cluster_arms, strict=True)),
        "converged": fit.converged,
        "boundary": fit.boundary,
        "singular": fit.boundary,
        "notes": notes,
        "logLik": fit.loglik,
        "REML_criterion": fit.deviance if reml else float("nan"),
        "deviance": -2.0 * fit.loglik,
        "AIC": fit.aic,
        "BIC": fit.bic,
        "sigma": float(np.sqrt(fit.sigma2)),
        "theta": fit.theta.tolist(),
        "optimizer": fit.message,
        "seconds": seconds,
    }
    vcov = pd.DataFrame(fit.vcov, index=d.names, columns=d.names)
    if outcome is not None:
        fixed, variance, icc, emmeans, contrasts = (
            f.assign(outcome=outcome)[["outcome", *f.columns]]
            for f in (fixed, variance, icc, emmeans, contrasts)
        )
    return MixedModelResult(fixed=fixed, variance=variance, icc=icc, emmeans=emmeans,
                            contrasts=contrasts, info=info, vcov=vcov)


def _formula(d: _Design, score: str, wave: str, arm: str, covariates: tuple[str, ...],
             level_names: list[str], random_slope: bool, tname: str) -> str:
    if len(d.arms) == 1:
        fixed = tname if random_slope else wave
    else:
        fixed = f"{tname} * {arm}" if random_slope else f"{wave} * {arm}"
    rhs = " + ".join([fixed, *covariates])
    if any(z is not None for z in d.cluster_z):
        terms = []
        for k, (z, mode) in enumerate(zip(d.cluster_z, d.cluster_modes, strict=True)):
            group = ":".join(level_names[:k + 1])
            col = level_names[k]
            if z is None:
                terms.append(f"(1 | {group})")
            else:
                zname = f"post_{col}" if mode == "post-baseline" else f"has_{col}"
                terms.append(f"(0 + {zname} | {group})")
        inner = ":".join(level_names)
        terms.append(f"(1 + {tname} | {inner})" if random_slope else f"(1 | {inner})")
        return f"{score} ~ {rhs} + " + " + ".join(terms)
    inner = f"(1 + {tname} | {'/'.join(level_names)})" if random_slope else \
        f"(1 | {'/'.join(level_names)})"
    if random_slope and len(level_names) > 1:
        inner = f"(1 | {'/'.join(level_names[:-1])}) + (1 + {tname} | {':'.join(level_names)})"
    return f"{score} ~ {rhs} + {inner}"


def _variance_tables(fit: LmmFit, level_names: list[str], random_slope: bool,
                     tname: str, d: _Design | None = None,
                     n_units: list[int] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = []
    modes = (list(d.cluster_modes) if d is not None and d.cluster_modes
             else ["all"] * (len(level_names) - 1)) + ["all"]
    for name, cov, mode in zip(level_names, fit.cov_re, modes, strict=True):
        label = "(Intercept)" if mode == "all" else "post-baseline"
        rows.append((name, label, cov[0, 0], np.sqrt(cov[0, 0]), np.nan))
        if cov.shape[0] == 2:
            rows.append((name, tname, cov[1, 1], np.sqrt(cov[1, 1]), np.nan))
            denom = np.sqrt(cov[0, 0] * cov[1, 1])
            corr = cov[0, 1] / denom if denom > 0 else np.nan
            rows.append((name, f"cov((Intercept), {tname})", cov[0, 1], np.nan, corr))
    rows.append(("residual", "residual", fit.sigma2, np.sqrt(fit.sigma2), np.nan))
    variance = pd.DataFrame(rows, columns=["level", "component", "variance", "sd", "corr"])
    intercepts = np.array([c[0, 0] for c in fit.cov_re])
    total = intercepts.sum() + fit.sigma2
    # lme4's isSingular: a diagonal element of the relative factor at (near) zero
    tol = 1e-4
    th = fit.theta
    inner_diag = [th[0]] if fit.model.q == 1 else [th[0], th[2]]
    pos = 1 if fit.model.q == 1 else 3
    outer = list(th[pos:])[::-1]  # outermost first
    at_zero = [bool(v < tol) for v in outer] + [bool(min(inner_diag) < tol)]
    icc = pd.DataFrame({
        "level": level_names, "icc": intercepts / total, "waves": modes,
        "n_clusters": n_units if n_units is not None else list(fit.n_groups),
        "singular": at_zero,
    })
    return variance, icc


@renamed_parameters({"alpha": ("ci_level", alpha_to_ci_level)})
def cluster_robust(
    data: pd.DataFrame,
    outcome: str | None = None,
    *,
    score: str = "score",
    wave: str = "wave",
    arm: str = "arm",
    participant: str = "participant_id",
    covariates: Sequence[str] = (),
    cluster: str = "participant_id",
    kind: str = "ols",
    control: Any = None,
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Population-average model of ``score ~ C(wave) * C(arm) + covariates`` with robust SEs.

    Parameters
    ----------
    data : DataFrame
        Analysis frame: one row per participant x wave (x outcome).
    outcome : str, optional
        Keep rows whose ``outcome`` column equals this.
    score, wave, arm, participant : str
        Column names (see :func:`mixed_model`).
    covariates : sequence of str
        Baseline covariates (numeric, or categorical coded as treatment dummies).
    cluster : str
        Column whose units are independent (participant, or a higher level such as site).
    kind : {"ols", "gee"}
        ``"ols"``: ordinary least squares with CR1 cluster-robust covariance, as
        ``sandwich::vcovCL(type = "HC1")`` (and statsmodels ``cov_type="cluster"``).
        ``"gee"``: Gaussian GEE with an exchangeable working correlation (statsmodels) and
        its robust covariance.
    control : optional
        The control arm (default as in :func:`mixed_model`).
    ci_level : float
        Confidence level of the intervals (formerly ``alpha`` = 1 - level).

    Returns
    -------
    DataFrame
        One row per coefficient: ``term``, ``estimate``, ``se``, ``t`` (OLS) or ``z`` (GEE),
        ``df`` (clusters - 1 for OLS, infinite for GEE), ``p``, ``ci_low``, ``ci_high``,
        ``n_clusters``, ``n_obs``, ``method``; ``outcome`` first when given.

    Notes
    -----
    CR1: ``V = G/(G-1) (n-1)/(n-p) (X'X)^-1 (sum_g X_g' e_g e_g' X_g) (X'X)^-1`` with ``G``
    clusters; tests use ``t`` with ``G - 1`` df (statsmodels' and Stata's convention). GEE tests
    are Wald z-tests. Missing data: rows with a missing score or covariate are dropped
    (complete-case by row; valid under MCAR for these marginal models); the counts are not
    returned here, use :func:`mixed_model` for a likelihood analysis under MAR.

    References
    ----------
    Cameron, A. C. & Miller, D. L. (2015). A practitioner's guide to cluster-robust inference.
    Journal of Human Resources, 50(2), 317-372.
    Liang, K.-Y. & Zeger, S. L. (1986). Longitudinal data analysis using generalized linear
    models. Biometrika, 73(1), 13-22.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> ids = np.repeat(np.arange(40), 2)
    >>> frame = pd.DataFrame({"participant_id": ids, "wave": np.tile([0, 1], 40),
    ...                       "arm": np.where(ids % 2 == 0, "control", "mentoring"),
    ...                       "score": rng.normal(size=80)})
    >>> cluster_robust(frame)["n_clusters"].iloc[0]
    np.int64(40)
    """
    func = "cluster_robust"
    covariates = _as_names(func, "covariates", covariates)
    check_one_of(func, "kind", kind, ("ols", "gee"))
    alpha = 1.0 - check_in_interval(func, "ci_level", ci_level, 0.0, 1.0)
    if not isinstance(cluster, str):
        raise ParameterError(f"The 'cluster' parameter of {func} must be a column name; got {cluster!r}.")
    clusters = () if cluster == participant else (cluster,)
    d = _prepare(func, data, outcome, score=score, wave=wave, arm=arm, participant=participant,
                 time=None, covariates=covariates, clusters=clusters, random_slope=False,
                 control=control)
    codes = pd.factorize(d.frame[cluster])[0]
    n_clusters = int(codes.max()) + 1
    if n_clusters < 2:
        raise AnalysisError(f"{func}: cluster-robust errors need at least two clusters; "
                            f"{cluster!r} has one.")
    y, X = d.y, d.X
    n, p = X.shape
    if kind == "ols":
        xtx_inv = np.linalg.inv(X.T @ X)
        beta = xtx_inv @ (X.T @ y)
        resid = y - X @ beta
        scores = np.zeros((n_clusters, p))
        np.add.at(scores, codes, X * resid[:, None])
        meat = scores.T @ scores
        adj = n_clusters / (n_clusters - 1) * (n - 1) / (n - p)
        cov = adj * xtx_inv @ meat @ xtx_inv
        df = np.full(p, float(n_clusters - 1))
        stat_name = "t"
        label = "OLS, CR1 cluster-robust SE"
    else:
        import statsmodels.api as sm

        order = np.argsort(codes, kind="stable")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = sm.GEE(y[order], X[order], groups=codes[order], family=sm.families.Gaussian(),
                         cov_struct=sm.cov_struct.Exchangeable()).fit()
        beta = np.asarray(res.params)
        cov = np.asarray(res.cov_params())
        df = np.full(p, np.inf)
        stat_name = "z"
        label = "GEE exchangeable, robust SE"
    se = np.sqrt(np.diag(cov))
    inf = _inference(beta, se, df, alpha)
    out = pd.DataFrame({"term": d.names, "estimate": beta, "se": se, stat_name: inf["t"], "df": df,
                        "p": inf["p"], "ci_low": inf["ci_low"], "ci_high": inf["ci_high"],
                        "n_clusters": n_clusters, "n_obs": n, "method": label})
    if outcome is not None:
        out.insert(0, "outcome", outcome)
    return table_result(out, title="Population-average model with cluster-robust SEs",
                            method="GEE (exchangeable working correlation)" if kind == "gee" else "OLS with cluster-robust (CR1) standard errors")
