"""Power of a planned mentoring evaluation by simulation.

This module sits above both :mod:`mentor_eval.outcomes` (the analyses) and
:mod:`mentor_eval.simulate` (the data), which it combines: :func:`simulated_power` is the
generic engine (simulate, analyse, count rejections, in parallel through joblib);
:func:`clustered_trial` draws one pre/post trial with mentor clusters and
:func:`simulated_power_ancova` checks :func:`mentor_eval.outcomes.power_ancova` with it.

:func:`study_power` draws complete studies with :func:`mentor_eval.simulate_study` (item
responses, scoring, attrition, missing items, dosage, clustering) and analyses each one with the
same arm-vs-control ANCOVA the study pipeline reports, so the power it returns accounts for
everything the simulator models -- which the closed form :func:`power_ancova` cannot.
:func:`simulated_frame` turns one simulated study into the analysis frame the outcome functions
read, without writing files.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mentor_eval._params import check_in_interval, check_one_of, check_positive_int, renamed_parameters
from mentor_eval.errors import AnalysisError, ParameterError
from mentor_eval.outcomes.power import NESTINGS
from mentor_eval.outcomes.results import table_result

__all__ = ["study_power", "simulated_frame", "simulated_power", "simulated_power_ancova", "clustered_trial"]


@lru_cache(maxsize=32)
def _parse_config(config_json: str) -> Any:
    from mentor_eval.study import parse_study

    # The study file is never read back: only its instruments, waves and outcomes are used.
    return parse_study(json.loads(config_json), "study.yaml", check_files=False)


def _study_of(config: Mapping[str, Any]) -> Any:
    # name and description carry the seed; dropping them lets every replicate share one parse
    stable = {k: v for k, v in config.items() if k not in ("name", "description")}
    stable["name"] = "simulated study"
    return _parse_config(json.dumps(stable, sort_keys=True, default=str))


def simulated_frame(sim: Any) -> pd.DataFrame:
    """The analysis frame of a simulated study, scored in memory.

    Parameters
    ----------
    sim : SimulatedStudy
        From :func:`mentor_eval.simulate_study`.

    Returns
    -------
    pandas.DataFrame
        One row per participant x wave x scale with a score, as
        :attr:`mentor_eval.data.AnalysisData.analysis`: ``participant_id``, ``wave``,
        ``instrument``, ``scale``, ``score``, ``n_answered``, ``n_items``, ``prorated``, every
        participant column (``arm``, ``site_id``, ``mentor_id``, ``group_id``, covariates, dosage),
        ``outcome`` (``"instrument.scale"``), ``wave_index`` (0 = first wave) and ``week``.

    Notes
    -----
    Scoring is :func:`mentor_eval.data.score_study` (prorated sums, ``min_answered`` rules) on the
    simulated responses without the validation step: simulated values are valid by construction.
    Rows where an instrument was not given are left out, as in the pipeline.

    Examples
    --------
    >>> from mentor_eval import simulate_study
    >>> sim = simulate_study(60, arms=["control", "narrative_weaving"], seed=3)
    >>> frame = simulated_frame(sim)
    >>> sorted(frame["wave"].unique())
    ['baseline', 'midpoint', 'post']
    """
    from mentor_eval.data import outcome_frame, score_study
    from mentor_eval.simulate import SimulatedStudy

    if not isinstance(sim, SimulatedStudy):
        raise ParameterError(
            f"The 'sim' parameter of simulated_frame must be a SimulatedStudy (from simulate_study); "
            f"got {type(sim).__name__}."
        )
    study = _study_of(sim.config)
    return outcome_frame(score_study(study, sim.responses), sim.participants, study)


def _effects_for(arms: Sequence[str], control: str, effect: Any) -> dict[str, Any]:
    func = "study_power"
    if isinstance(effect, Mapping):
        spec = dict(effect)
        if not spec:
            raise ParameterError(f"The 'effect' parameter of {func} must name at least one family.")
    elif isinstance(effect, (int, float, np.integer, np.floating)) and not isinstance(effect, bool):
        spec = float(effect)
    else:
        raise ParameterError(
            f"The 'effect' parameter of {func} must be a number (latent SD units, every family) or a "
            f"mapping of family (hope, agency, pathways, belonging) to a number; got {effect!r}."
        )
    return {a: spec for a in arms if a != control}


def study_power(
    n_participants: int,
    effect: float | Mapping[str, float],
    *,
    n_sims: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
    n_jobs: int = 2,
    outcome: str | None = None,
    covariates: Sequence[str] | None = None,
    cluster_method: str | None = None,
    **simulate_kwargs: Any,
) -> pd.DataFrame:
    """Power of the arm-vs-control ANCOVA in studies drawn by :func:`mentor_eval.simulate_study`.

    Parameters
    ----------
    n_participants : int
        Participants enrolled per simulated study (all arms together).
    effect : float or mapping
        True effect of every non-control arm at the final wave, in latent SD units: a number
        (every outcome family) or ``{family: number}`` with families ``hope`` (agency and
        pathways), ``agency``, ``pathways``, ``belonging`` (unnamed families keep the
        simulator's defaults). Passed to ``simulate_study(effects=...)``; 0 gives the type I
        error rate.
    n_sims : int, default 200
        Simulated studies.
    alpha : float, default 0.05
        Two-sided significance level of each contrast (no multiplicity adjustment).
    seed : int, default 0
        Master seed; replicate seeds come from ``numpy.random.SeedSequence(seed)`` as in
        :func:`simulated_power`, so results do not depend on ``n_jobs``.
    n_jobs : int, default 2
        Parallel workers (``1`` runs in this process, ``-1`` uses every core).
    outcome : str, optional
        Outcome analysed, ``"instrument.scale"``; default the simulated study's first primary
        outcome (e.g. ``"adult_hope_scale.total"``).
    covariates : sequence of str, optional
        Adjustment covariates besides the pre-test; default the simulated study's covariates
        (``age``, ``gender``, ``baseline_risk``), as the study pipeline uses. ``()`` adjusts for
        the pre-test only.
    cluster_method : {"mixed", "cr2", "none"}, optional
        How the ANCOVA treats the simulated study's declared clusters (``site_id``, ``mentor_id``);
        default: :func:`~mentor_eval.outcomes.ancova`'s default, as the study pipeline.
    **simulate_kwargs
        Any other argument of :func:`mentor_eval.simulate_study` (``arms``, ``waves``,
        ``instruments``, ``icc_site``, ``icc_mentor``, ``attrition``, ``item_missing``, ...), except
        ``effects`` (use ``effect``) and ``seed`` (use ``seed``).

    Returns
    -------
    pandas.DataFrame
        One row per non-control arm:

        - ``outcome``, ``arm``: the contrast ``arm - control`` tested; ``cluster_method``: how
          clustering was handled.
        - ``effect_latent``, ``effect_score``, ``g``: the true effect at the final wave in latent
          SD units, in score units and standardized by the population SD of the scale (from the
          simulator's ``truth``).
        - ``power``: share of valid replicates with ``p < alpha``; ``mc_se``: its Monte-Carlo
          standard error ``sqrt(power (1 - power) / n_valid)``; ``ci_low``, ``ci_high``: Wilson
          95% interval; ``n_sims``, ``n_valid``, ``alpha`` (see :func:`simulated_power`).

    Notes
    -----
    Each replicate runs ``simulate_study(n_participants, effects={arm: effect ...}, seed=s,
    **simulate_kwargs)``, scores it (:func:`simulated_frame`) and fits
    ``ancova(frame, outcome, pre=<first wave>, post=<final wave>, covariates=covariates,
    control="control", contrasts="control", adjust="none", clusters=<declared clusters>)``; the unadjusted two-sided p of each
    arm-vs-control contrast counts. Missing data are handled as in :func:`ancova`: complete cases
    on pre, post and covariates, so attrition lowers power as it would in the study.

    The ANCOVA is the pipeline's: cluster-aware, with the simulated study's declared clusters
    (site and mentor/group; control participants have no mentor, a partially nested design), so
    mentor and site ICCs lower the power as they lower the real study's, and at zero effect the
    rejection rate is the type I error rate of the reported test. ``cluster_method="none"``
    reproduces the clustering-blind analysis (which overstates power when ICC > 0).

    References
    ----------
    Arnold, B. F., Hogan, D. R., Colford, J. M., & Hubbard, A. E. (2011). Simulation methods to
    estimate design power: an overview for applied research. BMC Medical Research Methodology,
    11, 94.

    Examples
    --------
    >>> res = study_power(160, {"hope": 0.4}, n_sims=5, n_jobs=1, seed=1,
    ...                   arms=["control", "strength_spotlight"], waves=["baseline", "post"],
    ...                   instruments=[("adult_hope_scale", "8-point")], icc_site=0, icc_mentor=0)
    >>> list(res.columns[:7])
    ['outcome', 'arm', 'effect_latent', 'effect_score', 'g', 'cluster_method', 'power']
    """
    from mentor_eval.outcomes.compare import ancova
    from mentor_eval.simulate import simulate_study

    func = "study_power"
    for reserved in ("effects", "seed"):
        if reserved in simulate_kwargs:
            alt = "effect" if reserved == "effects" else "seed (the master seed)"
            raise ParameterError(f"study_power sets simulate_study's {reserved!r} itself; use {alt} instead.")
    n_participants = check_positive_int(func, "n_participants", n_participants, minimum=10)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError(f"The 'seed' parameter of {func} must be a non-negative integer; got {seed!r}.")

    # A pilot draw (seed as given) checks every simulator argument here, in this process, and gives
    # the arm keys, waves, outcomes and truth -- none of which depend on the seed.
    pilot = simulate_study(n_participants, seed=int(seed), **simulate_kwargs)
    arm_models = pilot.truth["parameters"]["arms"]
    control = next((k for k, m in arm_models.items() if m == "control"), None)
    if control is None:
        raise ParameterError(
            f"{func} compares arms with a control arm, but the simulated study has none "
            f"(arms: {', '.join(arm_models)}); include 'control' in 'arms'."
        )
    effects = _effects_for(list(arm_models), control, effect)
    kwargs = {**simulate_kwargs, "effects": effects}
    pilot = simulate_study(n_participants, seed=int(seed), **kwargs)
    study = _study_of(pilot.config)
    if outcome is None:
        outcome = study.outcomes.primary[0]
    study.resolve_outcome(outcome)  # a StudyConfigError naming the known outcomes
    if isinstance(covariates, str):
        raise ParameterError(f"The 'covariates' parameter of {func} must be a list of column names; "
                             f"got {covariates!r}.")
    covs = list(study.covariates) if covariates is None else list(covariates)
    unknown = [c for c in covs if c not in pilot.participants.columns]
    if unknown:
        raise ParameterError(
            f"The 'covariates' parameter of {func} names {', '.join(map(repr, unknown))}, not a column of "
            f"the simulated participants ({', '.join(pilot.participants.columns)})."
        )
    pre, post = study.baseline, study.final
    if pre == post:
        raise ParameterError(f"{func} needs at least two waves (pre-test and post-test); "
                             f"got only {pre!r}.")

    def simulate(s: int) -> pd.DataFrame:
        frame = simulated_frame(simulate_study(n_participants, seed=s, **kwargs))
        return frame[frame["outcome"] == outcome]

    if cluster_method is not None and cluster_method not in ("mixed", "cr2", "none"):
        raise ParameterError(f"The 'cluster_method' parameter of {func} must be one of 'mixed', 'cr2', 'none'; "
                             f"got {cluster_method!r}.")
    clusters = [c for c in study.clusters if c in pilot.participants.columns]

    def analyse(frame: pd.DataFrame) -> pd.DataFrame:
        # the study pipeline's analysis: the declared clusters enter (variance components are not
        # needed for a p-value)
        res = ancova(frame, outcome, pre=pre, post=post, covariates=covs, control=control,
                     contrasts="control", adjust="none", clusters=clusters, cluster_method=cluster_method,
                     variance_components=False)
        return res.contrasts[["outcome", "arm", "cluster_method", "p"]]

    power = simulated_power(simulate, analyse, n_sims=n_sims, alpha=alpha, n_jobs=n_jobs, seed=int(seed))
    truth = pd.DataFrame(pilot.truth["effects"])
    truth = truth[(truth["wave"] == post) & (truth["outcome"] == outcome)]
    truth = truth[["arm", "latent", "score", "g"]].rename(columns={"latent": "effect_latent",
                                                                    "score": "effect_score"})
    out = power.merge(truth, on="arm", how="left", validate="one_to_one")
    first = ["outcome", "arm", "effect_latent", "effect_score", "g", "cluster_method"]
    return table_result(out[first + [c for c in out.columns if c not in first]], title="Study power by simulation",
                        method=f"{n_sims} simulated studies analysed as the pipeline does (cluster-aware ANCOVA), "
                               f"share with p < {alpha:g}")


# --------------------------------------------------------------------------- simulation


def _p_values(result: Any, seed: int) -> tuple[np.ndarray, pd.DataFrame | None]:
    """p values (and identifying columns, for frames) from what ``analyse`` returned."""
    if isinstance(result, pd.DataFrame):
        if "p" not in result.columns:
            raise AnalysisError(
                f"simulated_power: analyse returned a frame without a 'p' column (seed {seed}); "
                f"its columns are {list(result.columns)!r}."
            )
        keys = result[[c for c in result.columns if not pd.api.types.is_float_dtype(result[c].dtype)]]
        return result["p"].to_numpy(dtype=float), keys.reset_index(drop=True)
    try:
        return np.atleast_1d(np.asarray(result, dtype=float)), None
    except (TypeError, ValueError):
        raise AnalysisError(
            f"simulated_power: analyse must return a p value, an array of p values or a frame with a "
            f"'p' column; got {type(result).__name__} (seed {seed})."
        ) from None


@renamed_parameters({"conf_level": "ci_level"})
def simulated_power(
    simulate: Callable[[int], Any],
    analyse: Callable[[Any], Any],
    n_sims: int = 200,
    alpha: float = 0.05,
    n_jobs: int = 2,
    seed: int = 0,
    *,
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Power by simulation: the share of simulated studies whose test rejects at ``alpha``.

    Parameters
    ----------
    simulate : callable
        ``simulate(seed: int) -> data``; must be deterministic given the seed.
    analyse : callable
        ``analyse(data) -> p`` where ``p`` is a p value, a 1-d array of p values (several
        tests, in a fixed order) or a DataFrame with a ``p`` column (one row per test).
    n_sims : int
        Number of simulated studies.
    alpha : float
        Rejection threshold.
    n_jobs : int
        Parallel workers (joblib; ``1`` runs in this process, ``-1`` uses every core).
    seed : int
        Master seed; replicate ``i`` gets an independent integer seed from
        ``numpy.random.SeedSequence(seed).spawn(n_sims)[i]``, so results do not depend on
        ``n_jobs``.
    ci_level : float
        Confidence level of the Monte-Carlo interval.

    Returns
    -------
    pandas.DataFrame
        One row per test (one row for a scalar p): for frames returned by ``analyse``, its
        non-float columns (identifiers such as ``outcome``, ``arm``) from the first replicate,
        then

        - ``power``: rejections / valid replicates.
        - ``mc_se``: Monte-Carlo standard error ``sqrt(power (1 - power) / n_valid)``.
        - ``ci_low``, ``ci_high``: Wilson score interval for the power.
        - ``n_sims``: replicates run; ``n_valid``: replicates with a non-missing p (a missing p,
          e.g. from a model that did not converge, is excluded and counted here).
        - ``alpha``: the threshold used.

    Notes
    -----
    A replicate rejects when ``p < alpha``. If ``simulate`` or ``analyse`` raises, the run
    stops with an :class:`~mentor_eval.errors.AnalysisError` naming the replicate's seed so it
    can be reproduced alone. Functions are sent to worker processes with cloudpickle (joblib's
    loky backend), so lambdas and closures work; joblib's other backends (e.g. Dask) can be
    selected with ``joblib.parallel_config``.

    References
    ----------
    Arnold, B. F., Hogan, D. R., Colford, J. M., & Hubbard, A. E. (2011). Simulation methods to
    estimate design power: an overview for applied research. BMC Medical Research Methodology,
    11, 94.
    Wilson, E. B. (1927). Probable inference, the law of succession, and statistical inference.
    JASA, 22(158), 209-212.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import stats
    >>> def simulate(seed):
    ...     rng = np.random.default_rng(seed)
    ...     return rng.normal(0.5, 1, 30), rng.normal(0, 1, 30)
    >>> def analyse(data):
    ...     return stats.ttest_ind(*data).pvalue
    >>> res = simulated_power(simulate, analyse, n_sims=100, n_jobs=1)
    >>> list(res.columns)
    ['power', 'mc_se', 'ci_low', 'ci_high', 'n_sims', 'n_valid', 'alpha']
    """
    func = "simulated_power"
    if not callable(simulate) or not callable(analyse):
        raise ParameterError(f"The 'simulate' and 'analyse' parameters of {func} must be functions.")
    n_sims = check_positive_int(func, "n_sims", n_sims)
    alpha = check_in_interval(func, "alpha", alpha, 0, 1)
    ci_level = check_in_interval(func, "ci_level", ci_level, 0, 1)
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
        raise ParameterError(f"The 'n_jobs' parameter of {func} must be a positive integer or -1; got {n_jobs!r}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError(f"The 'seed' parameter of {func} must be a non-negative integer; got {seed!r}.")

    seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(int(seed)).spawn(n_sims)]

    # Defined here, not at module level, so cloudpickle ships it by value: workers then import
    # only what simulate / analyse need, not this module (pandas, scipy), which saves seconds of
    # start-up per worker. Errors come back as text so the parent can name the failing seed.
    def run_chunk(chunk: list[int]) -> tuple[str, Any]:
        done = []
        for s in chunk:
            try:
                done.append(analyse(simulate(s)))
            except Exception as err:  # reported, with its seed, by the parent
                return "error", (s, f"{type(err).__name__}: {err}")
        return "ok", done

    if n_jobs == 1:
        parts = [run_chunk(seeds)]
    else:
        from joblib import Parallel, delayed, effective_n_jobs

        workers = effective_n_jobs(n_jobs)
        # A few chunks per worker: amortises dispatch yet balances uneven replicates.
        n_chunks = min(n_sims, 4 * workers)
        chunks = [[int(s) for s in c] for c in np.array_split(np.array(seeds, dtype=np.int64), n_chunks)]
        parts = Parallel(n_jobs=n_jobs)(delayed(run_chunk)(c) for c in chunks)
    results = []
    for status, payload in parts:
        if status == "error":
            bad_seed, message = payload
            raise AnalysisError(f"{func}: replicate with seed {bad_seed} failed: {message}")
        results.extend(payload)
    results = [_p_values(r, s) for r, s in zip(results, seeds, strict=True)]

    lengths = {len(p) for p, _ in results}
    if len(lengths) != 1:
        raise AnalysisError(
            f"{func}: analyse returned different numbers of p values across replicates ({sorted(lengths)}); "
            "it must return the same tests in the same order every time."
        )
    p = np.vstack([r[0] for r in results])  # replicates x tests
    valid = np.isfinite(p)
    n_valid = valid.sum(axis=0)
    rejections = ((p < alpha) & valid).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        power = rejections / n_valid
        mc_se = np.sqrt(power * (1 - power) / n_valid)
        z = stats.norm.isf((1 - ci_level) / 2)
        centre = (power + z**2 / (2 * n_valid)) / (1 + z**2 / n_valid)
        half = z / (1 + z**2 / n_valid) * np.sqrt(power * (1 - power) / n_valid + z**2 / (4 * n_valid**2))
    stats_frame = pd.DataFrame(
        {
            "power": power,
            "mc_se": mc_se,
            "ci_low": np.clip(centre - half, 0, 1),
            "ci_high": np.clip(centre + half, 0, 1),
            "n_sims": n_sims,
            "n_valid": n_valid.astype(int),
            "alpha": alpha,
        }
    )
    keys = results[0][1]
    if keys is not None and keys.shape[1]:
        stats_frame = pd.concat([keys, stats_frame], axis=1)
    return table_result(stats_frame, title="Power by simulation",
                        method=f"share of {n_sims} simulated studies with p < {alpha:g}; Wilson interval")


# --------------------------------------------------------------------------- clustered trials


def clustered_trial(
    n_per_arm: int,
    *,
    cluster_size: int,
    icc: float,
    effect_size: float = 0.0,
    pretest_r: float = 0.5,
    n_arms: int = 2,
    nesting: str = "partial",
    seed: int = 0,
) -> pd.DataFrame:
    """Draw one pre/post trial with mentor clusters whose effect begins after baseline.

    Parameters
    ----------
    n_per_arm : int
        Participants per arm.
    cluster_size : int
        Participants per cluster (mentor, circle); the last cluster of an arm is smaller when
        ``cluster_size`` does not divide ``n_per_arm``.
    icc : float
        Share of the treated arms' pretest-adjusted post-test variance that lies between clusters,
        in [0, 1).
    effect_size : float
        True difference of every treated arm from control on the post-test, in post-test SD units.
    pretest_r : float
        Correlation of pre- and post-test within an arm, in (-1, 1).
    n_arms : int
        Arms including control (``"control"``, then ``"treated"`` or ``"treated_1"``, ...).
    nesting : {"partial", "full"}
        ``"partial"``: control participants have no cluster (``mentor_id`` missing); ``"full"``:
        control participants are in clusters of the same size and ICC too.
    seed : int
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    pandas.DataFrame
        Long frame for :func:`mentor_eval.outcomes.ancova`: ``participant_id``, ``arm``,
        ``mentor_id`` (missing where none), ``wave`` (``"baseline"``/``"post"``), ``score``.

    Notes
    -----
    ``pre ~ N(0, 1)``; ``post = d + r pre + sqrt((1 - r^2) ICC) u_g + sqrt((1 - r^2)(1 - ICC)) e``
    with ``u_g, e ~ N(0, 1)``, so every arm's post-test has unit variance, the mentor effect is
    absent at baseline (matching happens after it), and the residual ICC given the pretest is
    ``icc`` -- the assumptions of :func:`power_ancova`.

    Examples
    --------
    >>> trial = clustered_trial(40, cluster_size=8, icc=0.2, seed=1)
    >>> trial.groupby("arm")["mentor_id"].nunique().to_dict()
    {'control': 0, 'treated': 5}
    """
    func = "clustered_trial"
    n_per_arm = check_positive_int(func, "n_per_arm", n_per_arm, minimum=2)
    cluster_size = check_positive_int(func, "cluster_size", cluster_size)
    n_arms = check_positive_int(func, "n_arms", n_arms, minimum=2)
    icc = check_in_interval(func, "icc", icc, 0.0, 1.0, closed="left")
    r = check_in_interval(func, "pretest_r", pretest_r, -1.0, 1.0)
    check_one_of(func, "nesting", nesting, NESTINGS)
    rng = np.random.default_rng(seed)
    labels = ["control"] + (["treated"] if n_arms == 2 else [f"treated_{i}" for i in range(1, n_arms)])
    arm = np.repeat(np.arange(n_arms), n_per_arm)
    within = np.tile(np.arange(n_per_arm), n_arms) // cluster_size
    per_arm = int(within.max()) + 1
    cluster = arm * per_arm + within
    clustered = (arm > 0) | (nesting == "full")
    u = rng.standard_normal(n_arms * per_arm)[cluster]
    pre = rng.standard_normal(arm.size)
    resid = 1.0 - r * r
    post = (effect_size * (arm > 0) + r * pre + np.sqrt(resid * icc) * u * clustered
            + np.sqrt(resid * (1.0 - icc * clustered)) * rng.standard_normal(arm.size))
    ids = np.char.add("p", np.arange(arm.size).astype(str))
    mentor = np.where(clustered, np.char.add("m", cluster.astype(str)).astype(object), None)
    arm_lab = np.asarray(labels, dtype=object)[arm]
    frame = pd.DataFrame({"participant_id": np.tile(ids, 2), "arm": np.tile(arm_lab, 2),
                          "mentor_id": np.tile(mentor, 2), "wave": np.repeat(["baseline", "post"], arm.size),
                          "score": np.concatenate([pre, post])})
    return frame


def simulated_power_ancova(
    effect_size: float,
    n_per_arm: int,
    *,
    cluster_size: int = 1,
    icc: float = 0.0,
    pretest_r: float = 0.5,
    n_arms: int = 2,
    nesting: str = "partial",
    cluster_method: str | None = None,
    n_sims: int = 200,
    alpha: float = 0.05,
    n_jobs: int = 2,
    seed: int = 0,
) -> pd.DataFrame:
    """Power of the cluster-aware ANCOVA contrast by simulating trials (the check of :func:`power_ancova`).

    Parameters
    ----------
    effect_size, n_per_arm, cluster_size, icc, pretest_r, n_arms, nesting
        As in :func:`clustered_trial` (and :func:`power_ancova`).
    cluster_method : {"cr2", "mixed", "none"}, optional
        Passed to :func:`mentor_eval.outcomes.ancova` with ``clusters=["mentor_id"]`` whenever the
        trial has clusters (``cluster_size > 1``); default: ancova's default.
    n_sims, alpha, n_jobs, seed
        As in :func:`simulated_power`.

    Returns
    -------
    pandas.DataFrame
        One row per treated arm: ``arm``, ``cluster_method``, then the columns of
        :func:`simulated_power` (``power``, ``mc_se``, ``ci_low``, ``ci_high``, ``n_sims``,
        ``n_valid``, ``alpha``).

    Notes
    -----
    Each replicate draws :func:`clustered_trial` and tests every treated arm against control with
    ``ancova(..., contrasts="control", adjust="none", clusters=["mentor_id"])`` -- the analysis the
    study pipeline reports -- without the REML variance-components table (not needed for a p).
    ``effect_size=0`` gives the type I error rate.

    Examples
    --------
    >>> res = simulated_power_ancova(0.0, 40, cluster_size=8, icc=0.2, n_sims=20, n_jobs=1)
    >>> list(res.columns[:3])
    ['arm', 'cluster_method', 'power']
    """
    func = "simulated_power_ancova"
    clustered_trial(n_per_arm, cluster_size=cluster_size, icc=icc, effect_size=effect_size,
                    pretest_r=pretest_r, n_arms=n_arms, nesting=nesting, seed=0)  # checks the arguments
    clusters = ["mentor_id"] if cluster_size > 1 else []
    if cluster_method is not None and cluster_method not in ("cr2", "mixed", "none"):
        raise ParameterError(f"The 'cluster_method' parameter of {func} must be one of 'cr2', 'mixed', 'none'; "
                             f"got {cluster_method!r}.")
    method = cluster_method

    def simulate(s: int) -> pd.DataFrame:
        return clustered_trial(n_per_arm, cluster_size=cluster_size, icc=icc, effect_size=effect_size,
                               pretest_r=pretest_r, n_arms=n_arms, nesting=nesting, seed=s)

    def analyse(frame: pd.DataFrame) -> pd.DataFrame:
        from mentor_eval.outcomes.compare import ancova

        res = ancova(frame, control="control", contrasts="control", adjust="none", clusters=clusters,
                     cluster_method=method, variance_components=False)
        return res.contrasts[["arm", "cluster_method", "p"]]

    return simulated_power(simulate, analyse, n_sims=n_sims, alpha=alpha, n_jobs=n_jobs, seed=seed)
