"""Power of a planned mentoring evaluation, by simulating whole studies.

This module sits above both :mod:`mentor_eval.outcomes` (the analysis) and
:mod:`mentor_eval.simulate` (the data), which it combines; ``mentor_eval.outcomes.study_power``
re-exports it for existing imports.

:func:`study_power` draws complete studies with :func:`mentor_eval.simulate_study` (item
responses, scoring, attrition, missing items, dosage, clustering) and analyses each one with the
same arm-vs-control ANCOVA the study pipeline reports, so the power it returns accounts for
everything the simulator models -- which the closed form :func:`power_ancova` cannot.
:func:`simulated_frame` turns one simulated study into the analysis frame the outcome functions
read, without writing files.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from mentor_eval.errors import ParameterError
from mentor_eval.outcomes.results import table_result

__all__ = ["study_power", "simulated_frame"]


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
    >>> res = study_power(160, {"hope": 0.4}, n_sims=20, n_jobs=1, seed=1,
    ...                   arms=["control", "strength_spotlight"], waves=["baseline", "post"],
    ...                   instruments=[("adult_hope_scale", "8-point")], icc_site=0, icc_mentor=0)
    >>> list(res.columns[:7])
    ['outcome', 'arm', 'effect_latent', 'effect_score', 'g', 'cluster_method', 'power']
    """
    from mentor_eval._params import check_positive_int
    from mentor_eval.outcomes.compare import ancova
    from mentor_eval.outcomes.power import simulated_power
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
