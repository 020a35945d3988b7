"""Synthetic multi-site mentoring studies with a known truth.

:func:`simulate_study` draws a complete study -- participants nested in mentors or groups
within sites, item responses at every wave, attrition, missing items and dosage -- from
an explicit generating model, and returns the data *and* the truth (effects, ICCs,
reliabilities, attrition). It exists to test that the toolkit's estimators recover what
was put in, and to give users a realistic dataset to learn on. Every number below is an
ASSUMPTION chosen to look like published mentoring evaluations, not an empirical claim.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from scipy import special, stats

from mentor_eval import __version__
from mentor_eval._params import check_in_interval, check_one_of, check_positive_int
from mentor_eval.errors import ParameterError, StudyConfigError
from mentor_eval.instruments import Instrument, load_instrument
from mentor_eval.models import MentorshipModel, get_model

__all__ = ["SimulatedStudy", "simulate_study", "DEFAULT_ARMS", "DEFAULT_INSTRUMENTS", "cronbach_alpha"]

DEFAULT_ARMS = (
    "control", "narrative_weaving", "storytelling_circles", "strength_spotlight", "cultural_navigator",
    "community_of_practice",
)
DEFAULT_INSTRUMENTS = (
    ("adult_hope_scale", "8-point"), ("general_belongingness_scale", None), ("youth_strength_of_relationship", None),
)
_FAMILIES = ("agency", "pathways", "belonging")

# ---------------------------------------------------------------- generating-model constants (ASSUMPTIONS)
_RHO_AP = 0.6            # latent correlation of hope agency and pathways
_RHO_HB = 0.4            # latent correlation of each hope component with belonging
_LATENT_R = np.array([[1.0, _RHO_AP, _RHO_HB], [_RHO_AP, 1.0, _RHO_HB], [_RHO_HB, _RHO_HB, 1.0]])
_OCCASION_VAR = 0.25     # share of latent variance that changes from wave to wave (latent retest r = .75)
_TREND = 0.05            # common change by the final wave in every arm, latent SD units
_EFFECT_TARGETED = 0.35  # default effect on a family the model targets (latent SD units)
_EFFECT_OTHER = 0.15     # default effect on the other families
_MAR_SLOPE = 0.5         # log-odds of dropout per SD of lower baseline hope
_DOSE_BETA = (6.0, 2.5)  # Beta prior of a participant's attendance rate; mean 6 / 8.5 = .706
_PLANNED = {"dyad": 24, "group": 12, "community": 12}
_CLUSTER_SIZES = {  # mentees per mentor (dyad caseload) or per group
    "dyad": (np.array([1, 2, 3, 4]), np.array([0.2, 0.35, 0.3, 0.15])),
    "group": (np.arange(6, 11), np.full(5, 0.2)),
    "community": (np.arange(18, 31), np.full(13, 1 / 13)),
}
# covariate effects on (agency, pathways, belonging), latent SD units
_B_RISK = np.array([-0.25, -0.25, -0.25])     # per SD of latent risk
_B_AGE = np.array([0.08, 0.05, 0.0])          # per SD of age
_GENDERS = ("female", "male", "nonbinary")
_GENDER_P = np.array([0.50, 0.46, 0.04])
_B_GENDER = np.array([[0.0, 0.0, 0.10], [0.0, 0.0, 0.0], [-0.05, -0.05, -0.20]])  # rows: genders
_AGES = np.arange(16, 25)
_TARGET_ALPHA = 0.83      # loadings are tuned so the instrument's scales straddle this alpha
_ATTENUATION = 0.92       # ratio of polychoric to observed item correlation assumed when tuning
_START = date(2025, 9, 1)
_POP_N = 100_000          # sample size of the large-sample population computations
CLUSTER_ONSETS = ("after_matching", "baseline")
_B_BELONGING_TO_HOPE = 0.3  # mechanism: latent belonging at the middle wave -> each hope component at later waves
_B_HOPE_TO_BELONGING = 0.3  # mechanism: latent hope (composite) at the middle wave -> belonging at later waves
_MECHANISM_ASSUMPTION = (
    "Mechanism paths (mechanism=True): every participant's hope components at the waves after the middle wave "
    f"rise by {_B_BELONGING_TO_HOPE} x their latent belonging at the middle wave, and their belonging by "
    f"{_B_HOPE_TO_BELONGING} x their latent hope (composite) at the middle wave (cross-lagged paths, the same in "
    "every arm, so there is no arm x mediator interaction). Each model moves its mediator first: models whose "
    "first target is belonging move belonging (full effect by the middle wave; belonging -> hope), the others "
    "move hope (hope -> belonging). The other family grows linearly in time by its direct effect, set so that "
    "its total at the final wave is the stated effect (direct = stated - b x a). Effects scale with dose.")
_NONCOMPLIANCE_ASSUMPTION = (
    "Non-compliance: a share of each mentored arm never starts (0 sessions, no mentor or group effect, no program "
    "effect); the others' dose multiplier is divided by (1 - share), so the arm's average (intention-to-treat) "
    "effect is the stated effect and the complier (took part) effect is ITT / (1 - share).")
_SCORES_ONLY_ASSUMPTION = (
    "Score-level path (scores_only): items are continuous, item = lo + 0.6 x range + 0.25 x range x "
    "(loading x latent + sqrt(1 - loading^2) x noise); no item is missing; scale scores are their sums or means.")
_LINEAR_CENTER = 0.6      # score-level path: item mean as a share of the response range above its minimum
_LINEAR_SPREAD = 0.25     # score-level path: item SD as a share of the response range

_CLUSTER_ASSUMPTION_BASELINE = (
    "Site and mentor/group random intercepts on every latent trait with the stated ICCs (shares of latent "
    "variance), constant over waves; control participants have no mentor and carry that variance individually.")
_CLUSTER_ASSUMPTION_AFTER = (
    "Site random intercepts (shares of latent variance) exist from baseline on and are constant over waves: sites "
    "enrol different people. Mentor/group random intercepts begin after matching: they are absent at baseline "
    "and present in full at every later wave, in the clustered arms only (control has no mentor: a partially "
    "nested design). The mentor/group ICC is the cluster's share of the post-baseline latent variance in its arm, "
    "so the cluster variance is icc / (1 - icc) on top of the unit baseline variance.")

_ASSUMPTIONS = [
    "Latent traits agency, pathways and belonging have unit variance at baseline; agency and pathways "
    f"correlate {_RHO_AP}, each correlates {_RHO_HB} with belonging.",
    f"{1 - _OCCASION_VAR:.2f} of latent variance is stable over waves (latent retest r = {1 - _OCCASION_VAR:.2f}).",
    f"Default arm effects (latent SD units at the final wave): {_EFFECT_TARGETED} on the outcome families the "
    f"model targets, {_EFFECT_OTHER} on the others; 'hope' targets both agency and pathways; control 0. "
    "Published mentoring effects are Hedges g about .2 overall (DuBois et al. 2011; Raposa et al. 2019); "
    "there is no pooled effect on belonging, so these values are assumptions.",
    "Effects grow linearly with time since baseline: a fraction (week - first week) / (last week - first "
    "week) of the full effect is present at each wave.",
    f"Every arm, control included, drifts by {_TREND} latent SD by the final wave (a common trend).",
    "An individual's effect scales with dose: effect x (sessions attended / sessions planned) / "
    f"{_DOSE_BETA[0] / sum(_DOSE_BETA):.3f} (the mean attendance rate), so the arm's average effect equals "
    "the stated effect.",
    "Attendance rate ~ Beta(6, 2.5); sessions attended ~ Binomial(planned, rate); planned sessions are "
    "24 (dyad), 12 (group, community).",
    _CLUSTER_ASSUMPTION_BASELINE,
    f"Dropout by the final wave is MAR: log-odds rise by {_MAR_SLOPE} per SD of lower baseline hope; the "
    "intercept of each arm is calibrated to its target rate; dropout is monotone, its wave uniform.",
    "Items follow a graded-response (ordinal probit) model: y* = loading x latent + noise, cut at "
    "item thresholds; negatively keyed items are generated reversed; fillers are pure noise.",
    "Item values are missing completely at random with probability item_missing.",
    "Covariates: each SD of latent risk lowers every trait by 0.25 SD (baseline_risk = round(3 + 1.5 x risk), "
    "clipped to 0-8); each SD of age raises agency by 0.08 and pathways by 0.05; female participants have "
    "0.10 SD higher belonging than male ones, nonbinary participants 0.20 lower belonging and 0.05 lower hope.",
    "Relationship quality (mentored arms only) rises 0.4 SD per SD of attendance rate and 0.3 SD per SD of "
    "the stable part of baseline belonging; it is independent of the arm.",
]


# ---------------------------------------------------------------- public result type
@dataclass(frozen=True, eq=False)
class SimulatedStudy:
    """A simulated study: the data, the study configuration and the truth.

    Attributes
    ----------
    participants : DataFrame
        One row per participant (columns documented in ``data/sample/README.md``).
    responses : DataFrame
        Long layout: one row per participant x observed wave; item columns nullable ``Int64``.
    config : dict
        The content of ``study.yaml``.
    truth : dict
        The generating values: effects, ICCs, reliabilities, attrition (the content of ``truth.json``).
    latent : DataFrame
        True latent traits per participant x wave (``agency``, ``pathways``, ``belonging``,
        ``relationship``; NaN where undefined) for every wave including unobserved ones, and
        ``observed`` (whether that wave was answered).
    scores : DataFrame or None
        Score-level studies only (``simulate_study(..., scores_only=True)``): the long analysis
        frame (one row per participant x observed wave x scale), as
        :func:`mentor_eval.power_study.simulated_frame` returns for item-level studies.
    """

    participants: pd.DataFrame
    responses: pd.DataFrame
    config: dict[str, Any]
    truth: dict[str, Any]
    latent: pd.DataFrame = field(repr=False)
    scores: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def effects(self) -> pd.DataFrame:
        """The true effects as a tidy frame (one row per arm x outcome x wave)."""
        return pd.DataFrame(self.truth["effects"])

    def write(self, out_dir: str | Path, *, name: str | None = None) -> Path:
        """Write ``participants.csv``, ``responses.csv``, ``study.yaml`` and ``truth.json``.

        Parameters
        ----------
        out_dir : path
            Directory (created if needed). Existing files of these names are replaced.
        name : str, optional
            Study name written to ``study.yaml`` (default: "Simulated mentoring study (seed N)").

        Returns
        -------
        Path
            The written ``study.yaml`` (loadable with :func:`mentor_eval.load_study`).
        """
        if self.scores is not None:
            raise ParameterError("SimulatedStudy.write: a score-level study (scores_only=True) has no item "
                                 "responses to write; simulate it with scores_only=False.")
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise ParameterError(f"The 'out_dir' parameter of SimulatedStudy.write must be a directory; "
                                 f"{out.as_posix()} is a file.")
        out.mkdir(parents=True, exist_ok=True)
        self.participants.to_csv(out / "participants.csv", index=False, lineterminator="\n")
        self.responses.to_csv(out / "responses.csv", index=False, lineterminator="\n")
        header = (
            "# Synthetic study written by mentor_eval.simulate_study; no real people.\n"
            "# Format: docs/study-config.md. The generating truth is in truth.json.\n"
        )
        config = dict(self.config)
        if name is not None:
            if not isinstance(name, str) or not name.strip():
                raise ParameterError(f"The 'name' parameter of SimulatedStudy.write must be non-empty text; "
                                     f"got {name!r}.")
            config["name"] = name.strip()
        body = yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=110,
                              default_flow_style=None)
        (out / "study.yaml").write_text(header + body, encoding="utf-8")
        (out / "truth.json").write_text(json.dumps(self.truth, indent=2) + "\n", encoding="utf-8")
        return out / "study.yaml"


# ---------------------------------------------------------------- statistics helpers
def cronbach_alpha(items: np.ndarray) -> float:
    """Cronbach's alpha of an (n x k) matrix on its complete rows: k/(k-1) (1 - sum var_j / var(sum))."""
    x = np.asarray(items, dtype=float)
    x = x[~np.isnan(x).any(axis=1)]
    k = x.shape[1]
    item_var = x.var(axis=0, ddof=1).sum()
    total_var = x.sum(axis=1).var(ddof=1)
    return float(k / (k - 1) * (1 - item_var / total_var))


def _alpha_from_corr(r: np.ndarray) -> float:
    k = r.shape[0]
    off = r.sum() - np.trace(r)
    return float(k / (k - 1) * (1 - k / (k + off)))


# ---------------------------------------------------------------- instrument generating parameters
@dataclass(frozen=True, eq=False)
class _ItemModel:
    """Generating parameters of one instrument's items (fixed per instrument, not per seed)."""

    instrument: Instrument
    item_ids: tuple[str, ...]
    latent: tuple[str, ...]        # latent per item: agency|pathways|belonging|hope|relationship|other|noise
    loading: np.ndarray            # (k,)
    thresholds: np.ndarray         # (k, K-1)
    reverse: np.ndarray            # (k,) bool

    @property
    def lo(self) -> int:
        return self.instrument.response_scale.min

    @property
    def hi(self) -> int:
        return self.instrument.response_scale.max


def _item_latents(inst: Instrument) -> tuple[str, ...]:
    out = []
    for it in inst.items:
        if it.filler:
            out.append("noise")
            continue
        if inst.construct == "hope":
            names = [s.id.lower() for s in inst.scales if it.id in s.item_ids]
            if any("agency" in n for n in names):
                out.append("agency")
            elif any("pathway" in n for n in names):
                out.append("pathways")
            else:
                out.append("hope")
        elif inst.construct == "belonging":
            out.append("belonging")
        elif inst.construct == "relationship_quality":
            out.append("relationship")
        else:
            out.append("other")
    return tuple(out)


def _latent_corr(a: str, b: str) -> float:
    if a == b:
        return 1.0
    idx = {"agency": 0, "pathways": 1, "belonging": 2}
    if a in idx and b in idx:
        return float(_LATENT_R[idx[a], idx[b]])
    hope_w = 1 / math.sqrt(2 + 2 * _RHO_AP)
    if {a, b} == {"hope", "agency"} or {a, b} == {"hope", "pathways"}:
        return (1 + _RHO_AP) * hope_w
    if {a, b} == {"hope", "belonging"}:
        return 2 * _RHO_HB * hope_w
    return 0.0


@lru_cache(maxsize=64)
def _item_model(instrument_id: str, form: str | None) -> _ItemModel:
    inst = load_instrument(instrument_id, form=form)
    latents = _item_latents(inst)
    ids = inst.item_ids
    k = len(ids)
    # a generator seeded by the instrument id: item parameters do not change with the study seed
    rng = np.random.default_rng(zlib.crc32(f"{inst.id}:{inst.form}".encode()))
    jitter = rng.uniform(0.9, 1.1, k)
    shift = 0.55 + rng.normal(0.0, 0.2, k)
    filler_shift = rng.normal(0.0, 0.3, k)

    # tune the common loading so the scored scales straddle the target alpha
    scored = [i for i, lat in enumerate(latents) if lat != "noise"]
    pos = {iid: j for j, iid in enumerate(ids)}
    item_sets = {tuple(pos[i] for i in s.item_ids) for s in inst.scales if s.n_items >= 2}
    corr_lat = np.array([[_latent_corr(latents[a], latents[b]) for b in range(k)] for a in range(k)])

    def mid_alpha(lam: float) -> float:
        lam_j = np.clip(lam * jitter, 0.05, 0.95)
        r = np.outer(lam_j, lam_j) * corr_lat * _ATTENUATION
        np.fill_diagonal(r, 1.0)
        alphas = [_alpha_from_corr(r[np.ix_(s, s)]) for s in item_sets]
        return (min(alphas) + max(alphas)) / 2 if alphas else _TARGET_ALPHA

    lo, hi = 0.2, 0.86
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if mid_alpha(mid) < _TARGET_ALPHA else (lo, mid)
    loading = np.clip((lo + hi) / 2 * jitter, 0.05, 0.95)
    loading[[i for i in range(k) if i not in scored]] = 0.0

    n_cat = inst.response_scale.n_points
    cats = np.arange(n_cat)
    pmf = 0.6 * stats.binom.pmf(cats, n_cat - 1, 0.5) + 0.4 / n_cat
    base = stats.norm.ppf(np.cumsum(pmf)[:-1])
    is_filler = np.array([lat == "noise" for lat in latents])
    item_shift = np.where(is_filler, filler_shift, shift)
    thresholds = base[None, :] - item_shift[:, None]
    reverse = np.array([it.reverse for it in inst.items])
    return _ItemModel(inst, ids, latents, loading, thresholds, reverse)


def _draw_items(im: _ItemModel, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ordinal responses (n x k, float) given the per-item latent values ``theta`` (n x k)."""
    lam = im.loading
    ystar = theta * lam + rng.standard_normal(theta.shape) * np.sqrt(1 - lam**2)
    cat = np.empty(ystar.shape)
    for j in range(ystar.shape[1]):  # one binary search per item column, vectorised over people
        cat[:, j] = np.searchsorted(im.thresholds[j], ystar[:, j], side="left")
    cat += im.lo
    cat[:, im.reverse] = im.lo + im.hi - cat[:, im.reverse]
    return cat


def _expected_keyed(im: _ItemModel, mu: np.ndarray) -> np.ndarray:
    """Expected *keyed* response of each item (after reverse keying) when its latent is N(mu, 1).

    For the ordinal probit item ``P(y* > tau_k) = Phi(lambda mu - tau_k)`` because ``y*`` has unit
    variance, so the expectation is ``min + sum_k Phi(lambda mu - tau_k)``; a reverse-keyed item is
    generated reflected and reflected back by keying, so the same formula holds. ``mu`` is (k,) or
    (m, k); the result has the same shape.
    """
    z = im.loading * np.asarray(mu, dtype=float)
    return im.lo + special.ndtr(z[..., None] - im.thresholds).sum(axis=-1)


def _keyed(im: _ItemModel, x: np.ndarray) -> np.ndarray:
    out = x.copy()
    out[:, im.reverse] = im.lo + im.hi - out[:, im.reverse]
    return out


def _scale_scores(im: _ItemModel, keyed: np.ndarray) -> dict[str, np.ndarray]:
    pos = {iid: j for j, iid in enumerate(im.item_ids)}
    out = {}
    for s in im.instrument.scales:
        cols = [pos[i] for i in s.item_ids]
        v = keyed[:, cols].sum(axis=1)
        out[s.id] = v / len(cols) if s.method == "mean" else v
    return out


@lru_cache(maxsize=64)
def _population(instrument_id: str, form: str | None) -> dict[str, dict[str, float]]:
    """Large-sample alpha, mean and SD of every scale at latent mean 0 (complete data)."""
    im = _item_model(instrument_id, form)
    rng = np.random.default_rng(20240601)
    n = _POP_N
    lat = _draw_latents(rng, n)
    theta = np.column_stack([lat[name] for name in im.latent])
    keyed = _keyed(im, _draw_items(im, theta, rng))
    pos = {iid: j for j, iid in enumerate(im.item_ids)}
    scores = _scale_scores(im, keyed)
    out = {}
    for s in im.instrument.scales:
        cols = [pos[i] for i in s.item_ids]
        out[s.id] = {
            "alpha": cronbach_alpha(keyed[:, cols]) if len(cols) > 1 else float("nan"),
            "mean": float(scores[s.id].mean()),
            "sd": float(scores[s.id].std(ddof=1)),
        }
    return out


def _linear_item_metric(im: _ItemModel) -> tuple[float, float]:
    """Item mean and SD of the score-level path: 60% up the response range, SD a quarter of it."""
    span = im.hi - im.lo
    return im.lo + _LINEAR_CENTER * span, _LINEAR_SPREAD * span


def _linear_scale_scores(im: _ItemModel, theta: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Continuous scale scores of the score-level path (congeneric items, already keyed).

    Item j is ``center + spread x (lambda_j theta_j + sqrt(1 - lambda_j^2) e_j)`` with the
    instrument's tuned loadings; a scale is the sum or mean of its items, as scored.
    """
    lam = im.loading
    center, spread = _linear_item_metric(im)
    items = center + spread * (theta * lam + rng.standard_normal(theta.shape) * np.sqrt(1 - lam**2))
    return _scale_scores(im, items)


@lru_cache(maxsize=64)
def _linear_population(instrument_id: str, form: str | None) -> dict[str, dict[str, float]]:
    """Exact alpha, mean and SD of every scale of the score-level path at latent mean 0, unit variance."""
    im = _item_model(instrument_id, form)
    k = len(im.item_ids)
    corr = np.array([[_latent_corr(im.latent[a], im.latent[b]) for b in range(k)] for a in range(k)])
    center, spread = _linear_item_metric(im)
    lam = im.loading
    cov = spread**2 * (np.outer(lam, lam) * corr)
    cov[np.diag_indices(k)] = spread**2
    pos = {iid: j for j, iid in enumerate(im.item_ids)}
    out = {}
    for s in im.instrument.scales:
        cols = [pos[i] for i in s.item_ids]
        c = cov[np.ix_(cols, cols)]
        m = len(cols)
        div = m if s.method == "mean" else 1
        out[s.id] = {
            "alpha": float(m / (m - 1) * (1 - np.trace(c) / c.sum())) if m > 1 else float("nan"),
            "mean": center * m / div,
            "sd": float(np.sqrt(c.sum())) / div,
        }
    return out


def _draw_latents(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Independent standard-normal latent draws with the generating correlations (population use)."""
    z = rng.standard_normal((n, 3)) @ np.linalg.cholesky(_LATENT_R).T
    hope = (z[:, 0] + z[:, 1]) / math.sqrt(2 + 2 * _RHO_AP)
    return {"agency": z[:, 0], "pathways": z[:, 1], "belonging": z[:, 2], "hope": hope,
            "relationship": rng.standard_normal(n), "other": rng.standard_normal(n),
            "noise": rng.standard_normal(n)}


# ---------------------------------------------------------------- argument handling
def _resolve_arms(arms: Any) -> tuple[list[str], list[MentorshipModel]]:
    if arms is None:
        arms = DEFAULT_ARMS
    if isinstance(arms, Mapping):
        pairs = list(arms.items())
    elif isinstance(arms, (str, MentorshipModel)):
        pairs = [(arms.key if isinstance(arms, MentorshipModel) else arms, arms)]
    else:
        pairs = [((a.key if isinstance(a, MentorshipModel) else a), a) for a in arms]
    keys: list[str] = []
    models: list[MentorshipModel] = []
    for key, m in pairs:
        if isinstance(m, MentorshipModel):
            model = m
        else:
            try:
                model = get_model(m)
            except StudyConfigError as exc:
                raise ParameterError(f"The 'arms' parameter of simulate_study names an unknown model: {exc}") \
                    from None
        if key in keys:
            raise ParameterError(f"The 'arms' parameter of simulate_study lists arm {key!r} twice.")
        keys.append(str(key))
        models.append(model)
    if not keys:
        raise ParameterError("The 'arms' parameter of simulate_study must list at least one arm.")
    n_control = sum(m.key == "control" for m in models)
    if n_control > 1:
        raise ParameterError("The 'arms' parameter of simulate_study may hold at most one 'control' arm.")
    if len(keys) > 1 and n_control == 0:
        raise ParameterError("The 'arms' parameter of simulate_study needs a 'control' arm when it lists "
                             "more than one arm (effects are defined against control).")
    if len(keys) == 1 and n_control == 1:
        raise ParameterError("The 'arms' parameter of simulate_study: a single-arm study needs a mentorship "
                             "model, not 'control'.")
    return keys, models


def _resolve_waves(waves: Any) -> list[tuple[str, float]]:
    if isinstance(waves, Mapping):
        out = [(str(k), float(v)) for k, v in waves.items()]
    elif isinstance(waves, str):
        out = [(waves, 0.0)]
    else:
        out = [(str(k), 12.0 * i) for i, k in enumerate(waves)]
    if not out:
        raise ParameterError("The 'waves' parameter of simulate_study must name at least one wave.")
    if len({k for k, _ in out}) != len(out):
        raise ParameterError(f"The 'waves' parameter of simulate_study has duplicate keys; got {waves!r}.")
    weeks = [w for _, w in out]
    if any(b <= a for a, b in zip(weeks, weeks[1:], strict=False)):
        raise ParameterError(f"The 'waves' parameter of simulate_study must have increasing weeks; got {waves!r}.")
    return out


def _resolve_instruments(instruments: Any) -> list[tuple[str, str | None]]:
    if instruments is None:
        instruments = DEFAULT_INSTRUMENTS
    if isinstance(instruments, Mapping):
        pairs = [(str(k), v) for k, v in instruments.items()]
    elif isinstance(instruments, str):
        pairs = [(instruments, None)]
    else:
        pairs = [(x, None) if isinstance(x, str) else (str(x[0]), x[1]) for x in instruments]
    if not pairs:
        raise ParameterError("The 'instruments' parameter of simulate_study must name at least one instrument.")
    return pairs


def _effect_table(keys: list[str], models: list[MentorshipModel], effects: Any) -> np.ndarray:
    """(n_arms x 3) effects on agency, pathways, belonging in latent SD units."""
    out = np.zeros((len(keys), 3))
    for a, m in enumerate(models):
        if m.key == "control":
            continue
        targeted = set(m.targets)
        if "hope" in targeted:
            targeted |= {"agency", "pathways"}
        out[a] = [_EFFECT_TARGETED if f in targeted else _EFFECT_OTHER for f in _FAMILIES]
    if effects is None:
        return out
    if not isinstance(effects, Mapping):
        raise ParameterError("The 'effects' parameter of simulate_study must be a mapping of arm or model key "
                             f"to a number or to {{family: number}}; got {effects!r}.")
    for name, spec in effects.items():
        rows = [a for a, (k, m) in enumerate(zip(keys, models, strict=True)) if name in (k, m.key)]
        if not rows:
            raise ParameterError(f"The 'effects' parameter of simulate_study names {name!r}, which is not an arm; "
                                 f"arms: {', '.join(keys)}.")
        for a in rows:
            if models[a].key == "control":
                raise ParameterError("The 'effects' parameter of simulate_study cannot set an effect for the "
                                     "control arm (effects are defined against it).")
            if isinstance(spec, Mapping):
                for fam, v in spec.items():
                    fams = ("agency", "pathways") if fam == "hope" else (fam,)
                    if any(f not in _FAMILIES for f in fams):
                        raise ParameterError(
                            f"The 'effects' parameter of simulate_study uses family {fam!r} for {name!r}; "
                            "families: hope, agency, pathways, belonging.")
                    for f in fams:
                        out[a, _FAMILIES.index(f)] = check_in_interval("simulate_study", f"effects[{name}]",
                                                                       v, -3, 3, closed="both")
            else:
                out[a] = check_in_interval("simulate_study", f"effects[{name}]", spec, -3, 3, closed="both")
    return out


def _mechanism_direction(m: MentorshipModel) -> str:
    """"belonging -> hope" when the model's first target is belonging, else "hope -> belonging"."""
    return "belonging -> hope" if m.targets and m.targets[0] == "belonging" else "hope -> belonging"


def _mechanism_plan(keys: list[str], models: list[MentorshipModel], eff: np.ndarray,
                    frac: np.ndarray) -> dict[str, Any]:
    """Each arm's own (program-driven) latent shift per wave and family, per unit of dose.

    The mediator family reaches its effect by the middle wave and keeps it; the outcome family
    grows linearly to its direct effect (stated effect minus b x a), so that with the
    cross-lagged paths its total at the final wave is the stated effect.
    """
    n_w = frac.size
    mid = (n_w - 1) // 2
    hope_w = 1 / math.sqrt(2 + 2 * _RHO_AP)
    ramp = np.minimum(1.0, frac / frac[mid])
    own = np.zeros((len(keys), n_w, 3))
    direction: dict[str, str | None] = {}
    for a, (k, m) in enumerate(zip(keys, models, strict=True)):
        if m.key == "control":
            direction[k] = None
            continue
        d = _mechanism_direction(m)
        direction[k] = d
        if d == "belonging -> hope":
            own[a, :, 2] = eff[a, 2] * ramp
            for f in (0, 1):
                own[a, :, f] = (eff[a, f] - _B_BELONGING_TO_HOPE * eff[a, 2]) * frac
        else:
            own[a, :, 0] = eff[a, 0] * ramp
            own[a, :, 1] = eff[a, 1] * ramp
            own[a, :, 2] = (eff[a, 2] - _B_HOPE_TO_BELONGING * (eff[a, 0] + eff[a, 1]) * hope_w) * frac
    return {"mid": mid, "own": own, "direction": direction}


def _mean_shift(eff: np.ndarray, frac: np.ndarray, plan: dict[str, Any] | None) -> np.ndarray:
    """(arms x waves x 3) latent mean shift of each arm against control per unit of mean dose."""
    if plan is None:
        return eff[:, None, :] * frac[None, :, None]
    own, mid = plan["own"], plan["mid"]
    hope_w = 1 / math.sqrt(2 + 2 * _RHO_AP)
    out = own.copy()
    out[:, mid + 1:, 0] += _B_BELONGING_TO_HOPE * own[:, mid, 2][:, None]
    out[:, mid + 1:, 1] += _B_BELONGING_TO_HOPE * own[:, mid, 2][:, None]
    out[:, mid + 1:, 2] += _B_HOPE_TO_BELONGING * ((own[:, mid, 0] + own[:, mid, 1]) * hope_w)[:, None]
    return out


def _mechanism_truth(keys: list[str], models: list[MentorshipModel], plan: dict[str, Any],
                     wave_list: list[tuple[str, float]], shift: np.ndarray) -> dict[str, Any]:
    """True a, b, indirect, direct, total and proportion mediated per arm and direction (latent units)."""
    mid = plan["mid"]
    own = plan["own"]
    hope_w = 1 / math.sqrt(2 + 2 * _RHO_AP)
    last = len(wave_list) - 1
    rows = []
    for a, (k, m) in enumerate(zip(keys, models, strict=True)):
        if m.key == "control":
            continue
        a_b = float(own[a, mid, 2])
        a_h = float((own[a, mid, 0] + own[a, mid, 1]) * hope_w)
        paths = [  # (mediator, outcome, a, b, indirect, total)
            ("belonging", "hope", a_b, _B_BELONGING_TO_HOPE, 2 * _B_BELONGING_TO_HOPE * a_b * hope_w,
             float((shift[a, last, 0] + shift[a, last, 1]) * hope_w)),
            ("belonging", "agency", a_b, _B_BELONGING_TO_HOPE, _B_BELONGING_TO_HOPE * a_b, float(shift[a, last, 0])),
            ("belonging", "pathways", a_b, _B_BELONGING_TO_HOPE, _B_BELONGING_TO_HOPE * a_b,
             float(shift[a, last, 1])),
            ("hope", "belonging", a_h, _B_HOPE_TO_BELONGING, _B_HOPE_TO_BELONGING * a_h, float(shift[a, last, 2])),
        ]
        for med, out, a_path, b_path, ind, tot in paths:
            rows.append({
                "arm": k, "model": m.key, "mediator": med, "outcome": out,
                "designed": plan["direction"][k] == f"{med} -> {'hope' if out != 'belonging' else 'belonging'}",
                "mediator_wave": wave_list[mid][0], "outcome_wave": wave_list[last][0],
                "a": round(a_path, 6), "b": b_path, "indirect": round(ind, 6), "direct": round(tot - ind, 6),
                "total": round(tot, 6), "proportion_mediated": round(ind / tot, 6) if abs(tot) > 1e-12 else None,
            })
    return {
        "direction_by_arm": dict(plan["direction"]),
        "paths": rows,
        "units": "latent SD units (baseline latent SD = 1), intention-to-treat (mean dose 1)",
        "formulas": ("indirect = a x b; direct = total - indirect; proportion_mediated = indirect / total; "
                     "a = the arm's latent shift of the mediator at the middle wave; b = the cross-lagged path "
                     "(the same in every arm); hope = (agency + pathways) / sqrt(2 + 2 x 0.6), so the indirect "
                     "effect of belonging on hope is 2 b a / sqrt(3.2) and a for hope is (a_agency + a_pathways) / "
                     "sqrt(3.2). Estimates from observed scores are attenuated by the mediator's unreliability and, "
                     "with mediator_confounding=True, biased by the correlated hope and belonging traits."),
        "designed": "the row whose mediator is the model's first target (its stated mechanism) has designed = true",
    }


def _indicators(m: MentorshipModel) -> tuple[Any, ...]:
    """The model's fidelity indicators when the registry declares them (else none)."""
    return tuple(getattr(m, "fidelity", ()) or ())


def _fidelity_columns(participants: pd.DataFrame, keys: list[str], models: list[MentorshipModel], arm: np.ndarray,
                      took_part: np.ndarray, rate: np.ndarray, dosage: bool,
                      rng: np.random.Generator) -> dict[str, dict[str, str]]:
    """Add one participant column per fidelity indicator; return the study.yaml ``fidelity`` mapping.

    The primary (dose) indicator is ``sessions_attended``. Other indicators follow the same
    attendance rate: counts ~ Binomial(ceil(expected / 0.75), rate), proportions = rate plus
    N(0, 0.08) noise clipped to [0, 1], booleans ~ Bernoulli(rate); never-takers record 0.
    """
    mapping: dict[str, dict[str, str]] = {}
    n = len(participants)
    cols: dict[str, np.ndarray] = {}
    kinds: dict[str, str] = {}
    for a, (k, m) in enumerate(zip(keys, models, strict=True)):
        inds = _indicators(m)
        if m.key == "control" or not inds:
            continue
        rows = arm == a
        entry: dict[str, str] = {}
        for j, ind in enumerate(inds):
            if j == 0 and dosage:
                entry[ind.key] = "sessions_attended"
                continue
            col = ind.key
            if ind.type == "count":
                v = rng.binomial(int(math.ceil(ind.expected / 0.75)), rate).astype(float)
            elif ind.type == "proportion":
                v = np.clip(rate + rng.normal(0.0, 0.08, n), 0.0, 1.0).round(3)
            else:
                v = (rng.random(n) < rate).astype(float)
            v = np.where(took_part, v, 0.0)
            cols.setdefault(col, np.full(n, np.nan))[rows] = v[rows]
            kinds[col] = ind.type
            entry[ind.key] = col
        mapping[k] = entry
    for col, v in cols.items():
        dtype = "Float64" if kinds[col] == "proportion" else "Int64"
        participants[col] = pd.array(np.where(np.isnan(v), None, v), dtype="Float64").astype(dtype)
    return mapping


def _insert_after(cfg: dict[str, Any], after: str, key: str, value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in cfg.items():
        out[k] = v
        if k == after:
            out[key] = value
    out.setdefault(key, value)
    return out


def _compliance_truth(keys: list[str], models: list[MentorshipModel], arm: np.ndarray, mentored: np.ndarray,
                      took_part: np.ndarray, attended: np.ndarray, planned: np.ndarray, shift: np.ndarray,
                      nc: float, fidelity_map: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Complier effects per mentored arm, as multipliers of the intention-to-treat effects."""
    mean_rate = _DOSE_BETA[0] / sum(_DOSE_BETA)
    hope_w = 1 / math.sqrt(2 + 2 * _RHO_AP)
    last = shift.shape[1] - 1
    arms = {}
    for a, (k, m) in enumerate(zip(keys, models, strict=True)):
        if m.key == "control":
            continue
        k_plan = _PLANNED[m.format]
        inds = _indicators(m)
        expected = float(inds[0].expected) if inds else math.ceil(0.75 * k_plan)
        s = np.arange(k_plan + 1)
        pmf = stats.betabinom.pmf(s, k_plan, *_DOSE_BETA)
        reach = s >= expected - 1e-12
        p_reach = (1 - nc) * float(pmf[reach].sum())
        mean_dose_reach = float((s[reach] / k_plan / mean_rate / (1 - nc) * pmf[reach]).sum() / pmf[reach].sum())
        itt = {"agency": float(shift[a, last, 0]), "pathways": float(shift[a, last, 1]),
               "belonging": float(shift[a, last, 2]), "hope": float((shift[a, last, 0] + shift[a, last, 1]) * hope_w)}
        in_arm = arm == a
        # took part = at least one session (what an evaluator sees); a 0-session starter has no effect either
        p_take = (1 - nc) * (1 - float(pmf[0]))
        arms[k] = {
            "model": m.key,
            "share_took_part": round(p_take, 6),
            "realized_share_took_part": round(float((attended[in_arm] >= 1).mean()), 6) if in_arm.any() else None,
            "itt_latent_final": {f: round(v, 6) for f, v in itt.items()},
            "cace_took_part_multiplier": round(1 / p_take, 6),
            "cace_took_part_latent_final": {f: round(v / p_take, 6) for f, v in itt.items()},
            "dose_rule": {"column": "sessions_attended", "expected": expected, "planned": k_plan,
                          "indicator": inds[0].key if inds else None},
            "share_reached_expected_dose": round(p_reach, 6),
            "realized_share_reached": round(float((attended[in_arm] >= expected).mean()), 6) if in_arm.any() else None,
            "iv_estimand_reached_multiplier": round(1 / p_reach, 6) if p_reach > 0 else None,
            "mean_effect_among_reached_multiplier": round(mean_dose_reach, 6),
        }
    return {
        "by_arm": arms,
        "formulas": ("Effects scale with dose d = sessions / planned / mean attendance rate / (1 - noncompliance) "
                     "(0 for never-takers), E[d] = 1, so every ITT effect in 'effects' times "
                     "cace_took_part_multiplier = 1 / P(took part) is the complier effect of taking part (at least "
                     "one session; P = (1 - noncompliance) x (1 - P(0 sessions | started))): those who did not take "
                     "part have no effect, so the exclusion restriction holds. For the rule 'reached the "
                     "expected dose' the instrumental-variable estimand is ITT / P(reached) "
                     "(iv_estimand_reached_multiplier) while the mean effect among those who reached it is "
                     "E[d | reached] x ITT (mean_effect_among_reached_multiplier): they differ because partial "
                     "doses also help (the exclusion restriction fails for that rule)."),
    }


def _arm_code(key: str, used: set[str]) -> str:
    code = "".join(w[0] for w in key.replace("-", "_").split("_") if w).upper()[:3] or "A"
    base, i = code, 2
    while code in used:
        code, i = f"{base}{i}", i + 1
    used.add(code)
    return code


# ---------------------------------------------------------------- the simulator
def simulate_study(
    n_participants: int = 1200,
    *,
    arms: Sequence[str | MentorshipModel] | Mapping[str, str | MentorshipModel] | None = None,
    sites: int = 3,
    waves: Sequence[str] | Mapping[str, float] = ("baseline", "midpoint", "post"),
    instruments: Sequence[str | tuple[str, str | None]] | Mapping[str, str | None] | None = None,
    effects: Mapping[str, float | Mapping[str, float]] | None = None,
    icc_site: float = 0.05,
    icc_mentor: float = 0.10,
    attrition: float | Mapping[str, float] = 0.20,
    differential_attrition: float = 0.05,
    item_missing: float = 0.02,
    dosage: bool = True,
    seed: int = 0,
    cluster_onset: str = "after_matching",
    clustered_arms: Sequence[str] | None = None,
    icc_group: float | None = None,
    scores_only: bool = False,
    mechanism: bool = False,
    noncompliance: float = 0.0,
    mediator_confounding: bool = True,
) -> SimulatedStudy:
    """Simulate a multi-site mentoring evaluation with a known truth.

    Parameters
    ----------
    n_participants : int, default 1200
        Participants enrolled (all measured at the first wave).
    arms : sequence or mapping, optional
        Model keys (or :class:`~mentor_eval.models.MentorshipModel` objects; the arm key is the
        model key), or a mapping arm key -> model. Needs a ``control`` arm when there is more than
        one arm. Default: control, narrative_weaving, storytelling_circles, strength_spotlight,
        cultural_navigator, community_of_practice.
    sites : int, default 3
        Number of sites; arms are randomized in balanced blocks within each site.
    waves : sequence of str or mapping, default ("baseline", "midpoint", "post")
        Wave keys (then 12 weeks apart, starting at week 0) or a mapping key -> week.
    instruments : sequence or mapping, optional
        Instrument ids, ``(id, form)`` pairs or a mapping id -> form. Default: adult_hope_scale
        (8-point), general_belongingness_scale, youth_strength_of_relationship. Items load on the
        latent trait their instrument measures (hope items on agency or pathways by subscale);
        relationship-quality instruments are given to mentored arms after baseline only.
    effects : mapping, optional
        Per arm (or model) key: a number (every family) or ``{family: number}`` with families
        ``hope`` (both components), ``agency``, ``pathways``, ``belonging``; latent SD units at the
        final wave. Unnamed arms keep the defaults (see Notes).
    icc_site, icc_mentor : float, default 0.05 and 0.10
        Shares of latent variance between sites and between mentors (dyad formats; also group and
        community formats unless ``icc_group`` is given); each in [0, 0.4], ``icc_site`` plus the
        larger of the mentor and group ICCs at most 0.5. With ``cluster_onset="after_matching"``
        the mentor ICC is the mentor's share of the post-baseline latent variance in its arm.
    attrition : float or mapping, default 0.20
        Share of participants of each mentored arm missing at the final wave, or a mapping arm
        key -> share (then ``differential_attrition`` is not used).
    differential_attrition : float, default 0.05
        Added to ``attrition`` for the control arm.
    item_missing : float, default 0.02
        Probability that any one item answer is missing (MCAR).
    dosage : bool, default True
        Simulate ``sessions_attended`` and let the individual effect scale with it.
    seed : int, default 0
        Seed of the :class:`numpy.random.Generator`; the same seed gives identical data.
    cluster_onset : {"after_matching", "baseline"}, default "after_matching"
        When mentor/group effects begin. ``"after_matching"`` (the realistic case: mentees are
        matched after the baseline survey): no cluster effect at the first wave, the full effect
        at every later wave. ``"baseline"``: the effect is part of the stable trait, present and
        constant at every wave, the baseline included (the simulator's behaviour before 0.2;
        with the other new arguments at their defaults it reproduces earlier data exactly).
    clustered_arms : sequence of str, optional
        Arm keys whose mentors or groups carry a cluster effect. Default: every arm except control
        (control participants have no mentor: a partially nested design). Arms left out still
        have mentor and group ids, with no effect of them.
    icc_group : float, optional
        Cluster ICC of the group and community formats (circles, groups, communities), in [0, 0.4];
        default ``icc_mentor``. Dyad formats use ``icc_mentor`` (mentor clustering).
    scores_only : bool, default False
        Skip the item responses: draw continuous scale scores from a linear (congeneric) item
        model with the same latent traits, design, clusters, dosage and dropout, and return them
        as ``scores`` (the layout of :func:`mentor_eval.power_study.simulated_frame`);
        ``responses`` then has no item columns and the study cannot be written. About ten times
        faster; for Monte Carlo studies of the analyses (see ``benchmarks/calibration.py``).
    mechanism : bool, default False
        Generate each model's mechanism: arm -> belonging at the middle wave -> hope at later
        waves for models whose first target is belonging, arm -> hope -> belonging for the
        others, with cross-lagged paths belonging -> hope and hope -> belonging in every arm
        (needs at least three waves). Also writes each model's fidelity indicators (when the
        model registry declares them) as participant columns and maps them in ``study.yaml``.
        ``truth["mechanism"]`` holds the true indirect, direct and total effects (see Notes).
    noncompliance : float, default 0.0
        Share of each mentored arm who never take part (in [0, 0.9)): no sessions, no mentor
        or program effect. ``truth["compliance"]`` holds the complier effects.
    mediator_confounding : bool, default True
        False removes the correlation of the hope and belonging latent traits (site, cluster,
        person and occasion parts; covariates still affect both), so that mediator-outcome
        confounding comes only through the covariates: a check of mediation estimators.

    Returns
    -------
    SimulatedStudy
        ``participants``, ``responses`` (long), ``config`` (study.yaml content), ``truth``
        (truth.json content) and ``latent``. ``truth["effects"]`` lists, per arm x outcome scale x
        wave: ``latent`` (effect in latent SD units), ``score`` (difference in expected scale score
        against control), ``g`` (``score`` over the population SD of the scale) and the outcome
        family. ``truth["reliability"]`` holds population alphas (large-sample simulation),
        ``truth["icc"]`` the latent ICCs and their approximate score-level values,
        ``truth["attrition"]`` target and realised dropout per arm. ``truth["clustering"]``:
        ``onset``, ``clustered_arms``, ``partially_nested``, ``level_by_arm`` (``mentor_id`` for
        dyads, ``group_id`` for group and community formats, null when unclustered) and
        ``icc_by_wave`` (one record per arm x level x wave: ``arm``, ``level``, ``wave``,
        ``variance`` (latent), ``icc`` (share of that wave's latent variance in that arm, effect
        heterogeneity from dose left out)).

    Notes
    -----
    Generating model (latent SD units; all values are ASSUMPTIONS, listed in
    ``truth["assumptions"]``): for participant i at wave t and family f,

        theta_itf = site_f + cluster_f x onset_t + covariates_if + person_if + occasion_itf
                    + (trend + effect_arm,f x dose_i) x frac_t

    with ``onset_t`` = 0 at the first wave and 1 afterwards when ``cluster_onset`` is
    ``"after_matching"`` (cluster variance icc / (1 - icc)), and 1 at every wave (cluster
    variance icc, taken out of the person part) when it is ``"baseline"``; unit variance at
    baseline, agency-pathways correlation .6, hope-belonging .4,
    occasion share .25, ``frac_t`` the share of time elapsed since baseline, trend 0.05,
    ``dose_i`` = attendance rate / mean attendance rate (1 without dosage). Default effects:
    0.35 on the families the arm's model targets and 0.15 on the others. Items follow an
    ordinal probit (graded-response style) model with loadings tuned so scale alphas lie near
    .75-.90, reverse-keyed items generated reversed and fillers pure noise. Dropout is
    monotone and MAR on baseline hope. Expected scores use the exact ordinal-probit mean
    ``min + sum_k Phi(lambda mu - tau_k)`` averaged over the dose distribution, so the
    ``score`` truths are exact under a normal latent and ignore item-missingness prorating.

    With ``mechanism=True`` (latent SD units, per unit of mean dose; ``m`` the middle wave, a
    model's mediator M and outcome Y): ``a`` = the arm's shift of M at wave m (the stated
    effect of the mediator family, reached by wave m); ``b`` = 0.3 (M at wave m -> Y at later
    waves, the same in every arm); direct ``c'`` = stated effect on Y - a b (Y's own shift
    grows linearly in time); indirect = a b; total = c' + a b = the stated effect on Y at the
    final wave; proportion mediated = a b / total. For the hope composite
    H = (agency + pathways) / sqrt(2 + 2 x .6): a_H = (a_agency + a_pathways) / sqrt(3.2) and
    the indirect effect on H of belonging is 2 b a_B / sqrt(3.2). The reverse cross-lagged path
    (Y at m -> M later) adds b x (Y's shift at m) to M's final-wave effect; ``truth["mechanism"]``
    lists both directions. With ``noncompliance`` share p never taking part, the complier
    average causal effect of "took part" (at least one session) is ITT / (1 - p); for the
    rule "reached the expected dose" the instrumental-variable estimand ITT / P(reached) and
    the mean effect among those who reached it (which differ: partial doses help too) are given.

    References
    ----------
    DuBois, D. L., Portillo, N., Rhodes, J. E., Silverthorn, N., & Valentine, J. C. (2011). How
    effective are mentoring programs for youth? Psychological Science in the Public Interest, 12(2), 57-91.
    Raposa, E. B., et al. (2019). The effects of youth mentoring programs: a meta-analysis of outcome
    studies. Journal of Youth and Adolescence, 48(3), 423-443.

    Examples
    --------
    >>> sim = simulate_study(600, seed=1)
    >>> path = sim.write("my_study")            # doctest: +SKIP
    >>> sorted(sim.participants.arm.unique())[:2]
    ['community_of_practice', 'control']
    """
    func = "simulate_study"
    keys, models = _resolve_arms(arms)
    n_arms = len(keys)
    n = check_positive_int(func, "n_participants", n_participants, minimum=max(10, 2 * n_arms))
    n_sites = check_positive_int(func, "sites", sites)
    wave_list = _resolve_waves(waves)
    inst_list = _resolve_instruments(instruments)
    eff = _effect_table(keys, models, effects)
    icc_s = check_in_interval(func, "icc_site", icc_site, 0, 0.4, closed="both")
    icc_m = check_in_interval(func, "icc_mentor", icc_mentor, 0, 0.4, closed="both")
    icc_g = icc_m if icc_group is None else check_in_interval(func, "icc_group", icc_group, 0, 0.4, closed="both")
    if icc_s + max(icc_m, icc_g) > 0.5:
        which = "icc_mentor" if icc_m >= icc_g else "icc_group"
        raise ParameterError(f"The 'icc_site' and '{which}' parameters of {func} must sum to at most 0.5; "
                             f"got {icc_s + max(icc_m, icc_g):g}.")
    onset = check_one_of(func, "cluster_onset", cluster_onset, CLUSTER_ONSETS)
    if clustered_arms is None:
        clustered_keys = [k for k, m in zip(keys, models, strict=True) if m.key != "control"]
    else:
        if isinstance(clustered_arms, str):
            clustered_arms = [clustered_arms]
        clustered_keys = [str(k) for k in clustered_arms]
        unknown = [k for k in clustered_keys if k not in keys]
        if unknown:
            raise ParameterError(f"The 'clustered_arms' parameter of {func} names unknown arm(s) {unknown}; "
                                 f"arms: {', '.join(keys)}.")
        ctrl = [k for k in clustered_keys if models[keys.index(k)].key == "control"]
        if ctrl:
            raise ParameterError(f"The 'clustered_arms' parameter of {func} names the control arm {ctrl[0]!r}, "
                                 "which has no mentors or groups to cluster in.")
    for name, flag in (("mechanism", mechanism), ("mediator_confounding", mediator_confounding)):
        if not isinstance(flag, bool):
            raise ParameterError(f"The '{name}' parameter of {func} must be true or false; got {flag!r}.")
    nc = check_in_interval(func, "noncompliance", noncompliance, 0, 0.9, closed="left")
    if mechanism and len(wave_list) < 3:
        raise ParameterError(f"The 'mechanism' parameter of {func} needs at least three waves (the mediator is "
                             f"measured at a middle wave); got {len(wave_list)}.")
    if not isinstance(scores_only, bool):
        raise ParameterError(f"The 'scores_only' parameter of {func} must be true or false; got {scores_only!r}.")
    item_miss = check_in_interval(func, "item_missing", item_missing, 0, 0.5, closed="left")
    if not isinstance(dosage, bool):
        raise ParameterError(f"The 'dosage' parameter of {func} must be true or false; got {dosage!r}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ParameterError(f"The 'seed' parameter of {func} must be an integer; got {seed!r}.")
    control_idx = next((a for a, m in enumerate(models) if m.key == "control"), None)
    if isinstance(attrition, Mapping):
        unknown = [k for k in attrition if k not in keys]
        if unknown:
            raise ParameterError(f"The 'attrition' parameter of {func} names unknown arm(s) {unknown}; "
                                 f"arms: {', '.join(keys)}.")
        target = np.array([float(attrition.get(k, 0.2)) for k in keys])
        for k, v in zip(keys, target, strict=True):
            check_in_interval(func, f"attrition[{k}]", v, 0, 0.9, closed="left")
    else:
        base_rate = check_in_interval(func, "attrition", attrition, 0, 0.9, closed="left")
        diff = check_in_interval(func, "differential_attrition", differential_attrition, -0.5, 0.5,
                                 closed="both")
        target = np.full(n_arms, base_rate)
        if control_idx is not None:
            target[control_idx] = base_rate + diff
            check_in_interval(func, "attrition + differential_attrition", target[control_idx], 0, 0.9,
                              closed="left")
    if len(wave_list) == 1:
        target = np.zeros(n_arms)  # nobody can drop out of a one-wave study
    item_models = []
    for iid, form in inst_list:
        try:
            item_models.append(_item_model(iid, form))
        except Exception as exc:  # an InstrumentDefinitionError with the known ids
            raise ParameterError(f"The 'instruments' parameter of {func}: {exc}") from None

    rng = np.random.default_rng(int(seed))
    lat_r = _LATENT_R
    if not mediator_confounding:
        lat_r = _LATENT_R.copy()
        lat_r[:2, 2] = lat_r[2, :2] = 0.0
    chol = np.linalg.cholesky(lat_r)
    n_waves = len(wave_list)
    weeks = np.array([w for _, w in wave_list])
    frac = (weeks - weeks[0]) / (weeks[-1] - weeks[0]) if n_waves > 1 else np.ones(1)

    # -------- sites and blocked randomization within site
    site_p = rng.dirichlet(np.full(n_sites, 8.0))
    site = np.sort(rng.choice(n_sites, size=n, p=site_p))
    order = np.lexsort((rng.random(n), site))
    site = site[order]
    starts = np.searchsorted(site, np.arange(n_sites))
    rank = np.arange(n) - starts[site]
    perms = np.argsort(rng.random((n_sites, n_arms)), axis=1)
    arm = perms[site, rank % n_arms]

    # -------- clusters: mentors (dyads) or groups, within site x arm
    used_codes: set[str] = set()
    codes = [_arm_code(k, used_codes) for k in keys]
    cluster = np.full(n, -1)
    mentor_id = np.full(n, None, dtype=object)
    group_id = np.full(n, None, dtype=object)
    n_clusters = 0
    cell = site * n_arms + arm
    cell_order = np.argsort(cell, kind="stable")
    cell_starts = np.searchsorted(cell[cell_order], np.arange(n_sites * n_arms + 1))
    for s in range(n_sites):
        for a, m in enumerate(models):
            if m.key == "control":
                continue
            idx = cell_order[cell_starts[s * n_arms + a]:cell_starts[s * n_arms + a + 1]]
            if idx.size == 0:
                continue
            sizes_, probs = _CLUSTER_SIZES[m.format]
            sizes = rng.choice(sizes_, size=idx.size, p=probs)
            bounds = np.cumsum(sizes)
            n_cl = int(np.searchsorted(bounds, idx.size) + 1)
            local = np.searchsorted(bounds, np.arange(idx.size), side="right")
            tail = idx.size - (bounds[n_cl - 2] if n_cl > 1 else 0)
            if m.format != "dyad" and n_cl > 1 and tail < sizes_.min() // 2:
                # a group far below the usual size joins the previous one
                local = np.minimum(local, n_cl - 2)
                n_cl -= 1
            cluster[idx] = n_clusters + local
            prefix = f"S{s + 1}-{codes[a]}"
            labels = np.array([f"{prefix}-{'M' if m.format == 'dyad' else 'F'}{j + 1:02d}" for j in range(n_cl)],
                              dtype=object)
            mentor_id[idx] = labels[local]
            if m.format != "dyad":
                glabels = np.array([f"{prefix}-G{j + 1:02d}" for j in range(n_cl)], dtype=object)
                group_id[idx] = glabels[local]
            n_clusters += n_cl
    mentored = cluster >= 0

    # -------- covariates
    age = rng.choice(_AGES, size=n)
    age_z = (age - _AGES.mean()) / _AGES.std()
    gender = rng.choice(len(_GENDERS), size=n, p=_GENDER_P)
    risk_z = rng.standard_normal(n)
    baseline_risk = np.clip(np.rint(3 + 1.5 * risk_z), 0, 8).astype(int)
    g_centered = _B_GENDER - _GENDER_P @ _B_GENDER
    cov_part = risk_z[:, None] * _B_RISK + age_z[:, None] * _B_AGE + g_centered[gender]
    cov_var = _B_RISK**2 + _B_AGE**2 + _GENDER_P @ g_centered**2

    # -------- dosage
    planned_by_arm = np.array([_PLANNED.get(m.format, 0) for m in models])
    planned = np.where(mentored, planned_by_arm[arm], 0)
    rate = rng.beta(*_DOSE_BETA, size=n)
    attended = rng.binomial(planned, rate)
    mean_rate = _DOSE_BETA[0] / sum(_DOSE_BETA)
    if dosage:
        dose = np.where(mentored, attended / np.maximum(planned, 1) / mean_rate, 0.0)
    else:
        dose = mentored.astype(float)
    took_part = mentored.copy()
    if nc > 0:
        # never-takers: drawn only when asked for, so studies without non-compliance keep their data
        took_part &= rng.random(n) >= nc
        attended = np.where(took_part, attended, 0)
        rate = np.where(took_part, rate, 0.0)
        dose = np.where(took_part, dose / (1 - nc), 0.0)

    # -------- latent traits (n x waves x 3)
    def corr3(size: int) -> np.ndarray:
        return rng.standard_normal((size, 3)) @ chol.T

    # cluster ICC per arm: mentor clustering for dyads, group clustering for group/community formats
    icc_arm = np.array([(icc_g if m.clustered_by_group else icc_m) if k in clustered_keys else 0.0
                        for k, m in zip(keys, models, strict=True)])
    icc_i = np.where(took_part, icc_arm[arm], 0.0)  # never-takers never met their mentor or group
    site_eff = np.sqrt(icc_s) * corr3(n_sites)
    clus_z = corr3(max(n_clusters, 1))  # the same draws whatever the onset, so onsets share data
    if onset == "baseline":
        # the cluster effect is part of the stable trait (unit variance kept), at every wave
        clus_eff = np.sqrt(icc_i)[:, None] * clus_z[np.maximum(cluster, 0)]
        stable_var = 1 - icc_s - _OCCASION_VAR - cov_var[None, :] - icc_i[:, None]
    else:
        clus_eff = np.zeros((n, 3))
        stable_var = 1 - icc_s - _OCCASION_VAR - cov_var[None, :] + np.zeros((n, 1))
    stable = np.sqrt(stable_var) * corr3(n)
    base = site_eff[site] + np.where(mentored[:, None], clus_eff, 0.0) + cov_part + stable
    occasion = np.sqrt(_OCCASION_VAR) * (rng.standard_normal((n, n_waves, 3)) @ chol.T)
    mech_plan = _mechanism_plan(keys, models, eff, frac) if mechanism else None
    if mech_plan is None:
        shift = (_TREND + eff[arm][:, None, :] * dose[:, None, None]) * frac[None, :, None]
    else:
        shift = _TREND * frac[None, :, None] + mech_plan["own"][arm] * dose[:, None, None]
    theta = base[:, None, :] + occasion + shift
    if onset == "after_matching" and n_waves > 1:
        # matched after the baseline survey: the mentor/group effect is new variance from the second wave on
        late = np.sqrt(icc_i / (1 - icc_i))[:, None] * clus_z[np.maximum(cluster, 0)]
        theta[:, 1:, :] += np.where(mentored[:, None], late, 0.0)[:, None, :]
    if mech_plan is not None:
        # cross-lagged paths for everyone: middle-wave belonging -> later hope, middle-wave hope -> later belonging
        mid = mech_plan["mid"]
        b_mid, h_mid = theta[:, mid, 2].copy(), (theta[:, mid, 0] + theta[:, mid, 1]) / math.sqrt(2 + 2 * _RHO_AP)
        theta[:, mid + 1:, 0] += _B_BELONGING_TO_HOPE * b_mid[:, None]
        theta[:, mid + 1:, 1] += _B_BELONGING_TO_HOPE * b_mid[:, None]
        theta[:, mid + 1:, 2] += _B_HOPE_TO_BELONGING * h_mid[:, None]
    hope = (theta[..., 0] + theta[..., 1]) / math.sqrt(2 + 2 * _RHO_AP)
    # relationship quality: mentored only, better with more sessions and higher baseline belonging
    dose_z = (attended / np.maximum(planned, 1) - mean_rate) / math.sqrt(
        stats.beta(*_DOSE_BETA).var())
    rel_stable = 0.4 * dose_z + 0.3 * base[:, 2] + math.sqrt(max(1 - 0.16 - 0.09 - 0.2, 0.01)) * rng.standard_normal(n)
    relationship = rel_stable[:, None] + math.sqrt(0.2) * rng.standard_normal((n, n_waves))
    relationship[~mentored] = np.nan
    other = (math.sqrt(0.75) * rng.standard_normal(n))[:, None] + math.sqrt(0.25) * rng.standard_normal((n, n_waves))

    # -------- attrition: monotone, MAR on baseline hope, calibrated per arm
    h0 = hope[:, 0]
    h0 = (h0 - h0.mean()) / h0.std()
    intercept = np.zeros(n_arms)
    for a in range(n_arms):
        in_arm = arm == a
        if target[a] <= 0 or not in_arm.any():
            intercept[a] = -np.inf
            continue
        lo, hi = -20.0, 20.0
        for _ in range(60):
            mid = (lo + hi) / 2
            if special.expit(mid - _MAR_SLOPE * h0[in_arm]).mean() < target[a]:
                lo = mid
            else:
                hi = mid
        intercept[a] = (lo + hi) / 2
    p_drop = special.expit(intercept[arm] - _MAR_SLOPE * h0)
    dropped = rng.random(n) < p_drop
    first_missed = np.full(n, n_waves)
    if n_waves > 1:
        first_missed[dropped] = rng.integers(1, n_waves, size=int(dropped.sum()))
    observed = np.arange(n_waves)[None, :] < first_missed[:, None]  # n x waves

    # -------- ids (random order, so the id reveals neither site nor arm)
    width = max(5, len(str(n)))
    pid = np.array([f"P{i:0{width}d}" for i in rng.permutation(n) + 1], dtype=object)
    site_ids = np.array([f"S{s + 1}" for s in range(n_sites)], dtype=object)

    # -------- dates
    enrol = rng.integers(0, 21, size=n) + (site * 3)
    start_days = enrol + rng.integers(0, 15, size=n)
    program_weeks = max(weeks[-1] - weeks[0], 12.0)
    length_days = np.where(rate >= 0.5, program_weeks * 7 + rng.integers(0, 15, size=n),
                           np.rint(program_weeks * 7 * rate)).astype(int)
    start0 = np.datetime64(_START)
    match_start = np.where(mentored, (start0 + start_days.astype("timedelta64[D]")).astype(str), None)
    match_end = np.where(mentored, (start0 + (start_days + length_days).astype("timedelta64[D]")).astype(str),
                         None)
    gaps = np.diff(weeks) * 7 if n_waves > 1 else np.array([14.0])
    jitter_max = int(max(1, min(10, np.floor(gaps.min() / 2))))
    day = enrol[:, None] + np.rint(weeks * 7)[None, :].astype(int) + rng.integers(0, jitter_max, size=(n, n_waves))
    minute = rng.integers(8 * 60, 21 * 60, size=(n, n_waves))
    stamp = (np.datetime64(datetime.combine(_START, datetime.min.time()), "m")
             + (day * 1440 + minute).astype("timedelta64[m]"))

    participants = pd.DataFrame({
        "participant_id": pd.array(pid, dtype="string"),
        "arm": pd.array(np.array(keys, dtype=object)[arm], dtype="string"),
        "site_id": pd.array(site_ids[site], dtype="string"),
        "mentor_id": pd.array(mentor_id, dtype="string"),
        "group_id": pd.array(group_id, dtype="string"),
        "age": pd.array(age, dtype="Int64"),
        "gender": pd.array(np.array(_GENDERS, dtype=object)[gender], dtype="string"),
        "baseline_risk": pd.array(baseline_risk, dtype="Int64"),
    })
    if dosage:
        participants["sessions_attended"] = pd.array(np.where(mentored, attended, None), dtype="Int64")
        participants["match_start"] = pd.array(match_start, dtype="string")
        participants["match_end"] = pd.array(match_end, dtype="string")
    fidelity_map: dict[str, dict[str, str]] = {}
    if mechanism:
        fidelity_map = _fidelity_columns(participants, keys, models, arm, took_part, rate, dosage, rng)
    participants = participants.sort_values("participant_id", ignore_index=True)

    # -------- responses (long: participant x observed wave)
    rows_i, rows_t = np.nonzero(observed)
    wave_keys = np.array([k for k, _ in wave_list], dtype=object)
    cols: dict[str, Any] = {
        "participant_id": pid[rows_i],
        "wave": wave_keys[rows_t],
        "completed_at": np.datetime_as_string(stamp[rows_i, rows_t], unit="s"),
    }
    latent_by_name = {
        "agency": theta[..., 0], "pathways": theta[..., 1], "belonging": theta[..., 2], "hope": hope,
        "relationship": relationship, "other": other,
    }
    config_instruments = []
    score_parts: list[pd.DataFrame] = []
    used_patterns: set[str] = set()
    for im in item_models:
        inst = im.instrument
        prefix = (inst.short_name or inst.id).lower().replace(" ", "_").replace("-", "_")
        pattern = f"{prefix}_{{item}}" if f"{prefix}_{{item}}" not in used_patterns else f"{inst.id}_{{item}}"
        used_patterns.add(pattern)
        rq = inst.construct == "relationship_quality"
        given_waves = [k for j, (k, _) in enumerate(wave_list) if not rq or j > 0 or n_waves == 1]
        given_row = np.isin(cols["wave"], given_waves)
        if rq:
            given_row &= mentored[rows_i]
        lat = np.column_stack([
            rng.standard_normal(rows_i.size) if name == "noise"
            else np.nan_to_num(latent_by_name[name][rows_i, rows_t]) for name in im.latent
        ])
        if scores_only:
            keep = np.flatnonzero(given_row)
            for sid, v in _linear_scale_scores(im, lat[keep], rng).items():
                score_parts.append(pd.DataFrame({
                    "participant_id": cols["participant_id"][keep], "wave": cols["wave"][keep],
                    "instrument": inst.id, "scale": sid, "score": v,
                    "n_answered": im.instrument.scale(sid).n_items, "n_items": im.instrument.scale(sid).n_items,
                    "prorated": False, "outcome": f"{inst.id}.{sid}", "wave_index": rows_t[keep],
                    "week": weeks[rows_t[keep]].astype(float)}))
        else:
            x = _draw_items(im, lat, rng)
            x[rng.random(x.shape) < item_miss] = np.nan
            x[~given_row] = np.nan
            for j, iid in enumerate(im.item_ids):
                cols[pattern.replace("{item}", iid)] = x[:, j]
        entry: dict[str, Any] = {"id": inst.id}
        if len(inst.forms) > 1 or inst.form != "standard":
            entry["form"] = inst.form
        entry["columns"] = pattern
        if len(given_waves) < n_waves:
            entry["waves"] = given_waves
        config_instruments.append(entry)
    responses = pd.DataFrame({
        "participant_id": pd.array(cols.pop("participant_id"), dtype="string"),
        "wave": pd.array(cols.pop("wave"), dtype="string"),
        "completed_at": pd.array(cols.pop("completed_at"), dtype="string"),
    })
    item_frame = pd.DataFrame({c: pd.array(v, dtype="Float64").astype("Int64") for c, v in cols.items()})
    responses = pd.concat([responses, item_frame], axis=1)
    wave_rank = {k: j for j, k in enumerate(wave_keys)}
    responses = (responses.assign(_w=responses["wave"].map(wave_rank).astype(int))
                 .sort_values(["participant_id", "_w"]).drop(columns="_w").reset_index(drop=True))

    scores = None
    if scores_only:
        scores = pd.concat(score_parts, ignore_index=True)
        pcols = participants.drop(columns=["participant_id"])
        scores = pd.concat([scores, pcols.set_index(participants["participant_id"].to_numpy(dtype=object))
                            .reindex(scores["participant_id"].to_numpy()).reset_index(drop=True)], axis=1)
        first = ["participant_id", "wave", "instrument", "scale", "score", "n_answered", "n_items", "prorated"]
        last = ["outcome", "wave_index", "week"]
        scores = scores[first + list(pcols.columns) + last]

    latent = pd.DataFrame({
        "participant_id": pd.array(np.repeat(pid, n_waves), dtype="string"),
        "wave": pd.array(np.tile(wave_keys, n), dtype="string"),
        "agency": theta[..., 0].ravel(), "pathways": theta[..., 1].ravel(),
        "belonging": theta[..., 2].ravel(), "relationship": relationship.ravel(),
        "observed": observed.ravel(),
    })

    config = _study_config(keys, models, wave_list, config_instruments, item_models, dosage, n, seed,
                           n_clusters > 0)
    if fidelity_map:
        config = _insert_after(config, "dosage" if "dosage" in config else "clusters", "fidelity", fidelity_map)
    mean_shift = _mean_shift(eff, frac, mech_plan)
    extra_truth: dict[str, Any] = {}
    if mech_plan is not None:
        extra_truth["mechanism"] = _mechanism_truth(keys, models, mech_plan, wave_list, mean_shift)
    if mentored.any():
        extra_truth["compliance"] = _compliance_truth(keys, models, arm, mentored, took_part, attended, planned,
                                                      mean_shift, nc, fidelity_map)
    truth = _truth(
        keys=keys, models=models, eff=eff, wave_list=wave_list, frac=frac, item_models=item_models,
        icc_s=icc_s, icc_m=icc_m, target=target, arm=arm, observed=observed, dosage=dosage,
        params={
            "n_participants": n, "arms": dict(zip(keys, [m.key for m in models], strict=True)), "sites": n_sites,
            "waves": dict(wave_list), "instruments": [f"{i}:{f}" if f else i for i, f in inst_list],
            "icc_site": icc_s, "icc_mentor": icc_m,
            "attrition": dict(attrition) if isinstance(attrition, Mapping) else float(attrition),
            "differential_attrition": float(differential_attrition), "item_missing": item_miss,
            "dosage": dosage, "seed": int(seed),
            "cluster_onset": onset, "clustered_arms": list(clustered_keys), "icc_group": icc_g,
            "scores_only": scores_only, "mechanism": mechanism, "noncompliance": nc,
            "mediator_confounding": mediator_confounding,
        },
        mentored=mentored, planned=planned, attended=attended,
        clustering=_clustering_truth(keys, models, wave_list, onset, clustered_keys, icc_arm, icc_s, cluster, arm),
        scores_only=scores_only, shift=mean_shift, nc=nc, extra=extra_truth,
    )
    return SimulatedStudy(participants, responses, config, truth, latent, scores)


def _clustering_truth(keys: list[str], models: list[MentorshipModel], wave_list: list[tuple[str, float]],
                      onset: str, clustered_keys: list[str], icc_arm: np.ndarray, icc_s: float,
                      cluster: np.ndarray, arm: np.ndarray) -> dict[str, Any]:
    """ICC of every level per arm and wave (latent scale; dose heterogeneity of the effect left out)."""
    rows = []
    level_by_arm: dict[str, str | None] = {}
    n_clusters: dict[str, int] = {}
    for a, (k, m) in enumerate(zip(keys, models, strict=True)):
        level = None if m.key == "control" else ("group_id" if m.clustered_by_group else "mentor_id")
        level_by_arm[k] = level if k in clustered_keys else None
        if level is not None:
            n_clusters[k] = int(np.unique(cluster[(arm == a) & (cluster >= 0)]).size)
        for j, (wk, _) in enumerate(wave_list):
            icc = float(icc_arm[a])
            if onset == "baseline":
                v_c, total = icc, 1.0
            else:
                v_c = icc / (1 - icc) if j > 0 else 0.0
                total = 1.0 + v_c
            rows.append({"arm": k, "level": "site_id", "wave": wk, "variance": round(icc_s, 6),
                         "icc": round(icc_s / total, 6)})
            if level is not None:
                rows.append({"arm": k, "level": level, "wave": wk, "variance": round(v_c, 6),
                             "icc": round(v_c / total, 6)})
    return {
        "onset": onset,
        "clustered_arms": list(clustered_keys),
        "partially_nested": any(m.key == "control" for m in models) and bool(clustered_keys),
        "level_by_arm": level_by_arm,
        "n_clusters_by_arm": n_clusters,
        "icc_by_wave": rows,
        "note": ("Latent ICCs: share of the latent variance of that arm at that wave. With onset 'after_matching' "
                 "the mentor/group variance is icc / (1 - icc), absent at the first wave; with 'baseline' it is "
                 "icc, constant. Group and community arms cluster by group_id (mentor_id names the same "
                 "facilitator), dyad arms by mentor_id. Score-level ICCs are about latent ICC x reliability."),
    }


# ---------------------------------------------------------------- study.yaml and truth
def _study_config(keys: list[str], models: list[MentorshipModel], wave_list: list[tuple[str, float]],
                  config_instruments: list[dict[str, Any]], item_models: list[_ItemModel], dosage: bool,
                  n: int, seed: int, clustered: bool) -> dict[str, Any]:
    primary: list[str] = []
    secondary: list[str] = []
    by_family: dict[str, str] = {}
    for im in item_models:
        inst = im.instrument
        if inst.construct not in ("hope", "belonging"):
            continue
        main = "total" if "total" in inst.scale_ids else inst.scale_ids[0]
        primary.append(f"{inst.id}.{main}")
        by_family.setdefault("hope" if inst.construct == "hope" else "belonging", f"{inst.id}.{main}")
        if inst.construct == "hope":
            for s in inst.scale_ids:
                if s != main and s in ("agency", "pathways"):
                    secondary.append(f"{inst.id}.{s}")
                    by_family.setdefault(s, f"{inst.id}.{s}")
    if not primary:
        inst = item_models[0].instrument
        primary.append(f"{inst.id}.{inst.scale_ids[0]}")
    hypotheses = []
    design = "single-arm" if len(keys) == 1 else "randomized"
    for k, m in zip(keys, models, strict=True):
        if m.key == "control" or len(hypotheses) >= 3:
            continue
        outcome = next((by_family[t] for t in m.targets if t in by_family), None)
        if outcome is not None:
            hypotheses.append({"id": f"H{len(hypotheses) + 1}", "arm": k, "outcome": outcome,
                               "direction": "increase"})
    cfg: dict[str, Any] = {
        "name": f"Simulated mentoring study (seed {seed})",
        "description": f"Synthetic data for {n} participants from mentor_eval.simulate_study; no real people.",
        "design": design,
    }
    custom = [m for m in models if m.custom]
    if custom:
        cfg["models"] = [{k: v for k, v in m.as_dict().items() if k != "custom"} for m in custom]
    cfg["arms"] = [{"key": k, "label": m.name, "model": m.key} for k, m in zip(keys, models, strict=True)]
    cfg["waves"] = [{"key": k, "week": int(w) if float(w).is_integer() else w} for k, w in wave_list]
    cfg["instruments"] = config_instruments
    cfg["outcomes"] = {"primary": primary, "secondary": secondary} if secondary else {"primary": primary}
    cfg["covariates"] = ["age", "gender", "baseline_risk"]
    cfg["clusters"] = ["site_id", "mentor_id"] if clustered else ["site_id"]
    if dosage and clustered:
        cfg["dosage"] = ["sessions_attended"]
    if hypotheses:
        cfg["hypotheses"] = hypotheses
    # synthetic ids identify nobody, so no pseudonymisation (which would need a secret key)
    cfg["privacy"] = {"min_cell": 10}
    cfg["files"] = {"participants": "participants.csv", "responses": "responses.csv"}
    return cfg


def _family_of_scale(im: _ItemModel, scale_id: str) -> tuple[str, np.ndarray]:
    """The latent family of a scale and the per-item latent names (for effect bookkeeping)."""
    scale = im.instrument.scale(scale_id)
    pos = {iid: j for j, iid in enumerate(im.item_ids)}
    lats = {im.latent[pos[i]] for i in scale.item_ids}
    if lats <= {"agency", "pathways", "hope"}:
        fam = lats.pop() if len(lats) == 1 else "hope"
    elif len(lats) == 1:
        fam = lats.pop()
    else:
        fam = "mixed"
    return fam, np.array([pos[i] for i in scale.item_ids])


def _truth(*, keys: list[str], models: list[MentorshipModel], eff: np.ndarray,
           wave_list: list[tuple[str, float]], frac: np.ndarray, item_models: list[_ItemModel],
           icc_s: float, icc_m: float, target: np.ndarray, arm: np.ndarray, observed: np.ndarray,
           dosage: bool, params: dict[str, Any], mentored: np.ndarray, planned: np.ndarray,
           attended: np.ndarray, clustering: dict[str, Any], scores_only: bool = False,
           shift: np.ndarray | None = None, nc: float = 0.0, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    hope_w = 1 / math.sqrt(2 + 2 * _RHO_AP)
    mean_rate = _DOSE_BETA[0] / sum(_DOSE_BETA)
    # distribution of the dose multiplier per format (beta-binomial attendance)
    dose_dist: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for f, k in _PLANNED.items():
        s = np.arange(k + 1)
        pmf = stats.betabinom.pmf(s, k, *_DOSE_BETA)
        dose_dist[f] = (s / k / mean_rate, pmf) if dosage else (np.ones(1), np.ones(1))
        if nc > 0:  # never-takers: dose 0; takers' multiplier divided by (1 - nc)
            mult_, pmf_ = dose_dist[f]
            dose_dist[f] = (np.concatenate([[0.0], mult_ / (1 - nc)]), np.concatenate([[nc], pmf_ * (1 - nc)]))
    if shift is None:
        shift = eff[:, None, :] * frac[None, :, None]

    effects = []
    reliability: dict[str, float] = {}
    for im in item_models:
        inst = im.instrument
        pop = _linear_population(inst.id, inst.form) if scores_only else _population(inst.id, inst.form)
        for s in inst.scales:
            reliability[f"{inst.id}.{s.id}"] = round(pop[s.id]["alpha"], 4)
        if inst.construct not in ("hope", "belonging"):
            continue
        for a, (k, m) in enumerate(zip(keys, models, strict=True)):
            if m.key == "control":
                continue
            mult, pmf = dose_dist[m.format]
            for s in inst.scales:
                fam, cols = _family_of_scale(im, s.id)
                for t, ((wk, _), fr) in enumerate(zip(wave_list, frac, strict=True)):
                    sh = shift[a, t]
                    lat_eff = {"agency": sh[0], "pathways": sh[1], "belonging": sh[2], "hope": (sh[0] + sh[1]) * hope_w}
                    mu0 = np.array([_TREND * fr if lat in lat_eff else 0.0 for lat in im.latent])
                    step = np.array([lat_eff.get(lat, 0.0) for lat in im.latent])
                    if scores_only:  # linear items: the mean dose multiplier is 1, so the effect is exact
                        diff = float(_linear_item_metric(im)[1] * (im.loading * step)[cols].sum())
                    else:
                        e_ctrl = _expected_keyed(im, mu0)[cols].sum()
                        e_arm = pmf @ _expected_keyed(im, mu0 + step * mult[:, None])[:, cols].sum(axis=1)
                        diff = float(e_arm - e_ctrl)
                    if s.method == "mean":
                        diff /= len(cols)
                    effects.append({
                        "arm": k, "model": m.key, "outcome": f"{inst.id}.{s.id}", "family": fam,
                        "wave": wk, "fraction_of_full_effect": round(float(fr), 6),
                        "latent": round(float(lat_eff.get(fam, float("nan"))), 6),
                        "score": round(diff, 6),
                        "g": round(diff / pop[s.id]["sd"], 6),
                    })

    realized = {}
    n_waves = observed.shape[1]
    for a, k in enumerate(keys):
        in_arm = arm == a
        realized[k] = {
            "n": int(in_arm.sum()),
            "target_missing_final": round(float(target[a]), 6),
            "observed_by_wave": {wk: int(observed[in_arm, j].sum()) for j, (wk, _) in enumerate(wave_list)},
            "missing_final": round(float(1 - observed[in_arm, n_waves - 1].mean()), 6) if in_arm.any() else None,
        }
    overall = round(float(1 - observed[:, -1].mean()), 6)
    icc_score = {}
    for o, r in reliability.items():
        if r == r:
            icc_score[o] = {"site_id": round(icc_s * r, 4), "mentor_id": round(icc_m * r, 4),
                            "group_id": round(params["icc_group"] * r, 4)}
    dose_info = {}
    if dosage and mentored.any():
        dose_info = {
            "mean_attendance_rate": mean_rate,
            "effect_multiplier": "sessions_attended / planned_sessions[format] / mean_attendance_rate",
            "realized_mean_sessions_attended": round(float(attended[mentored].mean()), 4),
            "planned_sessions": dict(_PLANNED),
        }
    return {
        "generator": "mentor_eval.simulate_study",
        "mentor_eval_version": __version__,
        "parameters": params,
        "assumptions": [(_CLUSTER_ASSUMPTION_AFTER if a is _CLUSTER_ASSUMPTION_BASELINE
                         and clustering["onset"] == "after_matching" else a) for a in _ASSUMPTIONS]
                       + ([_SCORES_ONLY_ASSUMPTION] if scores_only else [])
                       + ([_MECHANISM_ASSUMPTION] if extra and "mechanism" in extra else [])
                       + ([_NONCOMPLIANCE_ASSUMPTION] if nc > 0 else []),
        "latent_correlations": {"agency~pathways": _RHO_AP, "agency~belonging": _RHO_HB,
                                "pathways~belonging": _RHO_HB},
        "effects_latent_final": {
            k: dict(zip(_FAMILIES, map(float, eff[a]), strict=True)) for a, k in enumerate(keys)
        },
        "effects": effects,
        "icc": {
            "latent": {"site_id": icc_s, "mentor_id": icc_m, "group_id": params["icc_group"]},
            "onset": clustering["onset"],
            "score_approx": icc_score,
            "note": "Latent ICCs are shares of latent-trait variance (mentor_id: dyad arms, group_id: group and "
                    "community arms; clustered arms only; after matching, shares of the post-baseline variance; "
                    "per arm and wave in clustering.icc_by_wave). Score-level ICCs are approximately latent "
                    "ICC x reliability.",
        },
        "clustering": clustering,
        "reliability": reliability,
        "reliability_note": (f"Population Cronbach alpha from a simulation of {_POP_N} complete responses."
                             if not scores_only else "Exact Cronbach alpha of the score-level (linear) items."),
        **(extra or {}),
        "attrition": {"overall_missing_final": overall, "by_arm": realized,
                      "mechanism": "monotone dropout, MAR on baseline hope"},
        "dosage": dose_info,
        "trend_latent_final": _TREND,
    }
