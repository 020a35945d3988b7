"""Calibration suite: coverage and type I error of the toolkit's analyses on simulated studies.

Every replicate draws one study from :func:`mentor_eval.simulate_study` (score-level path,
``scores_only=True``: the same design, clusters, dosage and truth as the item-level simulator,
without item responses) and runs the analyses a user gets:

* the arm-vs-control ANCOVA contrast, with ``cluster_method`` ``"none"`` (clustering ignored),
  ``"cr2"`` and ``"mixed"`` (cluster-aware; declared cluster ``mentor_id``);
* the mixed-model (all waves) change-vs-control contrast at the last wave (single arm: the
  change from baseline), with the mentor random effect on the waves the design has it
  (``cluster_waves="post-baseline"`` after matching, ``"all"`` when it starts at baseline);
* the *d_z* CI of the within-arm change (:func:`mentor_eval.prepost`) and the Hedges' *g* CI of
  the ANCOVA contrast;
* the share "reliably changed" (:func:`mentor_eval.reliable_change`, ``reliability="auto"``)
  on an outcome with no effect;
* the family-wise error rate over the three vs-control contrasts of a four-arm study (Holm and
  Dunnett) on an outcome with no effect in any arm;
* mediation (``--checks med``, two-arm designs): a separate study per replicate in which the effect
  arm raises belonging at the midpoint and belonging carries hope at post
  (``simulate_study(mechanism=True)``); :func:`mentor_eval.mediation` (belonging at midpoint ->
  hope at post, baselines adjusted, mentor clusters resampled, 999 bootstrap replicates) and the
  coverage of its delta-method, percentile, BCa and Monte Carlo (CR2 covariances, Satterthwaite t
  draws) intervals of the indirect and direct effects.
  Their truth is the observed-score estimand: the same analysis on a population of 20,000 per arm
  (the latent paths in ``truth.json`` are attenuated by the scales' unreliability).

Design of each replicate: one site, no dropout (so that what is measured is the clustering),
waves at weeks 0, 12 and 24, outcomes the Adult Hope Scale total (the effect arm has a latent
effect of 0.3 SD on hope; the other arms none) and the General Belongingness Scale total (no
effect in any arm: every contrast on it is a true null). The effect arm is
``storytelling_circles`` (circles of 6-10 mentees: group clustering); four-arm studies add two
dyad arms (``strength_spotlight``, ``narrative_weaving``) with no effect. Mentor and group ICCs
are equal (``icc_mentor = icc_group``) and are shares of the post-baseline latent variance when
the cluster effect begins after matching. Control participants have no mentor (partially
nested). Single-arm studies have only the effect arm.

Truths: the ANCOVA and mixed-model contrasts estimate ``truth["effects"]`` ``score`` at the last
wave (exact for the score-level path); *d_z* and *g* truths are computed once per design from a
population of 20,000 participants per arm with the same generating model (Monte Carlo SE of
those truths below .01).

Targets: coverage 93-97%, type I 3-7%, FWER <= 5%. Monte Carlo SE of a rate p over R replicates
is sqrt(p (1 - p) / R) (about .0097 at p = .05 and R = 500). Reliable change reports the mean
share of participants classed improved or deteriorated and its SE across replicates.

Usage::

    python benchmarks/calibration.py                       # full grid, 500 replicates, 2 jobs
    python benchmarks/calibration.py --reps 200 --grid reduced
    python benchmarks/calibration.py --only a2_n30_icc0.2_after

Writes ``docs/calibration.md`` (markdown table, command, date and seed) and
``docs/calibration.csv`` unless ``--out`` / ``--csv`` say otherwise.
"""

from __future__ import annotations

import argparse
import inspect
import math
import sys
import time
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HOPE = "adult_hope_scale.total"
NULL = "general_belongingness_scale.total"
EFFECT_ARM = "storytelling_circles"
NULL_ARMS = ("strength_spotlight", "narrative_weaving")
EFFECT = 0.3  # latent SD units on hope (agency and pathways), effect arm only
WAVES = {"baseline": 0, "midpoint": 12, "post": 24}
INSTRUMENTS = [("adult_hope_scale", "8-point"), ("general_belongingness_scale", None)]
METHODS = ("none", "cr2", "mixed")
SEED = 20261202
POP_PER_ARM = 20_000
TARGETS = {"coverage": (0.93, 0.97), "type_i": (0.03, 0.07), "fwer": (0.0, 0.05), "share": (0.03, 0.07),
           "excess": (-0.02, 0.02)}
#: the clustering-blind analysis is shown for reference (what the toolkit did before), not calibrated
REFERENCE_METHOD = "(none)"


@dataclass(frozen=True)
class Design:
    """One cell of the grid."""

    n_arms: int        # 1 (single arm), 2 or 4
    n_per_arm: int
    icc: float         # mentor = group ICC (latent)
    onset: str         # "after_matching" or "baseline"

    @property
    def key(self) -> str:
        onset = "after" if self.onset == "after_matching" else "base"
        return f"a{self.n_arms}_n{self.n_per_arm}_icc{self.icc:g}_{onset}"

    @property
    def arms(self) -> list[str]:
        if self.n_arms == 1:
            return [EFFECT_ARM]
        return ["control", EFFECT_ARM, *NULL_ARMS[: self.n_arms - 2]]

    @property
    def label(self) -> str:
        if self.n_arms == 1:
            kind = "single arm"
        else:
            kind = f"{self.n_arms} arms, partially nested"
        onset = "after matching" if self.onset == "after_matching" else "at baseline"
        icc = f"ICC {self.icc:g}" + (f", cluster effect {onset}" if self.icc > 0 else "")
        return f"{kind}; {self.n_per_arm}/arm; {icc}"


def design_grid(grid: str = "full") -> list[Design]:
    """The designs of the full grid (issue 11) or the reduced grid run by the test suite."""
    if grid == "reduced":
        return [Design(2, 30, 0.2, "after_matching"), Design(4, 30, 0.0, "after_matching")]
    # ordered by importance (the realistic clustered case first), so an interrupted run has the key rows
    out = []
    for icc, onset in ((0.2, "after_matching"), (0.0, "after_matching"), (0.05, "after_matching"),
                       (0.2, "baseline"), (0.05, "baseline")):
        for n_arms in (2, 4):
            for n in (30, 150):
                out.append(Design(n_arms, n, icc, onset))
        if onset == "after_matching" and icc in (0.2, 0.0):
            out += [Design(1, 30, icc, onset), Design(1, 150, icc, onset)]
    return out


def simulate(design: Design, n_per_arm: int, seed: int, *, mechanism: bool = False):
    """One study of the design (score-level path of the project's simulator).

    ``mechanism=True``: the mediation study -- the effect arm shifts belonging by ``EFFECT`` at the
    midpoint, which carries on to hope at post (the simulator's mechanism paths), besides its
    direct effect on hope.
    """
    from mentor_eval.simulate import simulate_study

    effects: dict[str, Any] = {EFFECT_ARM: {"hope": EFFECT, "belonging": EFFECT if mechanism else 0.0}}
    for a in design.arms:
        if a in NULL_ARMS:
            effects[a] = 0.0
    return simulate_study(
        n_per_arm * design.n_arms, arms=design.arms, sites=1, waves=WAVES, instruments=INSTRUMENTS,
        effects=effects, icc_site=0.0, icc_mentor=design.icc, icc_group=design.icc, cluster_onset=design.onset,
        attrition=0.0, differential_attrition=0.0, dosage=True, seed=seed, scores_only=True, mechanism=mechanism,
    )


def _mediation(scores: pd.DataFrame, n_boot: int, seed: int):
    """Belonging (midpoint) -> hope (post), both adjusted for baseline, effect arm vs control."""
    from mentor_eval.outcomes.mediation import mediation

    f = scores.loc[scores["outcome"].isin([NULL, HOPE]),
                   ["participant_id", "wave", "score", "arm", "mentor_id", "outcome"]].reset_index(drop=True)
    return mediation(f, NULL, HOPE, mid="midpoint", cluster="mentor_id", n_boot=n_boot, seed=seed,
                     **({} if n_boot else {"ci_method": ()})).effects


def _lean(scores: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """The columns the analyses need, as plain objects (the analyses' reshaping is faster on them)."""
    f = scores.loc[scores["outcome"] == outcome, ["participant_id", "wave", "score", "arm", "mentor_id"]]
    f = f.astype({"participant_id": object, "wave": object, "arm": object, "mentor_id": object})
    return f.reset_index(drop=True)


def population_truth(design: Design, checks: tuple[str, ...] = ()) -> dict[str, float]:
    """d_z of the effect arm's and control's change, and g of the effect arm vs control (hope)."""
    sim = simulate(design, POP_PER_ARM, SEED + 7)
    f = _lean(sim.scores, HOPE)
    w = f.pivot(index="participant_id", columns="wave", values="score")
    arm = f.drop_duplicates("participant_id").set_index("participant_id")["arm"].reindex(w.index)
    change = w["post"] - w["baseline"]
    out: dict[str, float] = {}
    for a in design.arms:
        c = change[arm == a]
        out[f"dz_{a}"] = float(c.mean() / c.std())
        out[f"change_{a}"] = float(c.mean())
    delta = next(e["score"] for e in sim.truth["effects"]
                 if e["arm"] == EFFECT_ARM and e["outcome"] == HOPE and e["wave"] == "post") \
        if design.n_arms > 1 else float("nan")
    out["delta"] = float(delta)
    mentored_change = design.icc > 0 and design.onset == "after_matching"
    if design.n_arms > 1 or mentored_change:
        # reliable change on the outcome with no arm effect: the share of a mentored arm whose
        # true change exceeds what 95% of control participants' changes do (mentor effects are
        # real individual change); the index should flag about that share, not 5%. A single-arm
        # study has no control arm, so its truth comes from the same study with one (the
        # program arm's population is the same; only the reference for "no program" is added).
        ref = sim if design.n_arms > 1 else simulate(Design(2, design.n_per_arm, design.icc, design.onset),
                                                      POP_PER_ARM, SEED + 7)
        fn = _lean(ref.scores, NULL)
        wn = fn.pivot(index="participant_id", columns="wave", values="score")
        arm_n = fn.drop_duplicates("participant_id").set_index("participant_id")["arm"].reindex(wn.index)
        ch = wn["post"] - wn["baseline"]
        c = ch[arm_n == "control"]
        crit = 1.96 * c.std()
        treated = ch[arm_n != "control"]
        out["rc_expected"] = float(((treated - c.mean()).abs() > crit).mean())
    if design.n_arms > 1:
        vt, vc = w.loc[arm == EFFECT_ARM, "post"].var(), w.loc[arm == "control", "post"].var()
        out["g"] = float(delta / math.sqrt((vt + vc) / 2))
    if "med" in checks and design.n_arms == 2:
        # The estimand of the observed-score mediation model: its estimate in a population of
        # 20,000 per arm (the latent truth.json paths are attenuated by the scales' unreliability,
        # so they are not what an observed-score analysis estimates).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            eff = _mediation(simulate(design, POP_PER_ARM, SEED + 11, mechanism=True).scores, 0, 0)
        eff = eff[(eff["arm"] == EFFECT_ARM) & (eff["method"] == "delta")].set_index("effect")
        for e in ("indirect", "direct"):
            out[f"med_{e}"] = float(eff.loc[e, "estimate"])
    return out


def _has_cluster_api() -> bool:
    from mentor_eval.outcomes.compare import ancova

    return {"clusters", "cluster_method"} <= set(inspect.signature(ancova).parameters)


def _ancova(frame: pd.DataFrame, method: str, adjust: str):
    from mentor_eval.outcomes.compare import ancova

    kw: dict[str, Any] = {}
    if _has_cluster_api():
        kw = {"clusters": ["mentor_id"] if method != "none" else [], "cluster_method": method}
        if "variance_components" in inspect.signature(ancova).parameters:
            kw["variance_components"] = False
    elif method != "none":
        raise RuntimeError("ancova has no cluster_method")
    return ancova(frame, control="control", contrasts="control", adjust=adjust, mvt_maxpts=5000, **kw).contrasts


def replicate(design: Design, seed: int, truth: dict[str, float], checks: tuple[str, ...]) -> list[dict]:
    """All checks on one simulated study: rows (check, measure, value); value NaN = not computed."""
    from mentor_eval.outcomes.change import reliable_change
    from mentor_eval.outcomes.longitudinal import mixed_model
    from mentor_eval.outcomes.prepost import prepost

    rows: list[dict] = []

    def add(check: str, measure: str, value: float, note: str = "") -> None:
        rows.append({"design": design.key, "seed": seed, "check": check, "measure": measure,
                     "value": float(value), "note": note})

    sim = simulate(design, design.n_per_arm, seed)
    hope, null = _lean(sim.scores, HOPE), _lean(sim.scores, NULL)
    two_plus = design.n_arms > 1
    # the mixed model's mentor effect acts when the design's does (a correctly specified model)
    waves = "post-baseline" if design.onset == "after_matching" else "all"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if two_plus:
            both = pd.concat([hope.assign(outcome=HOPE), null.assign(outcome=NULL)], ignore_index=True)
            for m in (m for m in METHODS if m in checks):
                try:
                    # one call for both outcomes (one reshaping); Dunnett only where it is reported
                    adj = "dunnett" if design.n_arms > 2 and m == "cr2" and "dunnett" in checks else "none"
                    res = _ancova(both, m, adj)
                    c = res[res["outcome"] == HOPE].set_index("arm")
                    ok = c.loc[EFFECT_ARM, "ci_low"] <= truth["delta"] <= c.loc[EFFECT_ARM, "ci_high"]
                    add(f"ANCOVA vs control ({m})", "coverage", ok)
                    if "g" in checks:
                        g_ok = c.loc[EFFECT_ARM, "g_ci_low"] <= truth["g"] <= c.loc[EFFECT_ARM, "g_ci_high"]
                        add(f"Hedges g CI ({m})", "coverage", g_ok)
                    for a in NULL_ARMS[: design.n_arms - 2]:
                        add(f"ANCOVA vs control ({m})", "type_i", c.loc[a, "p"] < 0.05)
                    cn = res[res["outcome"] == NULL]
                    for p in cn["p"]:
                        add(f"ANCOVA vs control ({m})", "type_i", p < 0.05)
                    if design.n_arms > 2:
                        from mentor_eval.outcomes.multiplicity import adjust_pvalues

                        holm = np.asarray(adjust_pvalues(cn["p"].to_numpy(), "holm"))
                        add(f"FWER Holm ({m})", "fwer", (holm < 0.05).any())
                        if adj == "dunnett":
                            add(f"FWER Dunnett ({m})", "fwer", (cn["p_adj"] < 0.05).any())
                except Exception as exc:  # a failed fit is counted, not hidden
                    add(f"ANCOVA vs control ({m})", "failed", 1.0, type(exc).__name__)
        if "mm" in checks and not two_plus:
            try:
                con = mixed_model(hope, clusters=["mentor_id"], cluster_waves=waves).contrasts
                cc = con[(con["type"] == "change") & (con["wave"] == "post")].iloc[0]
                add("Mixed model change (single arm)", "coverage",
                    cc["ci_low"] <= truth[f"change_{EFFECT_ARM}"] <= cc["ci_high"])
            except Exception as exc:
                add("Mixed model change (single arm)", "failed", 1.0, f"{type(exc).__name__}: {str(exc)[:80]}")
        if "mm" in checks and two_plus:
            for f, name in ((hope, "hope"), (null, "null")):
                try:
                    con = mixed_model(f, clusters=["mentor_id"], control="control", cluster_waves=waves).contrasts
                    cc = con[(con["type"] == "change_vs_control") & (con["wave"] == "post")].set_index("arm")
                    if name == "hope":
                        ok = cc.loc[EFFECT_ARM, "ci_low"] <= truth["delta"] <= cc.loc[EFFECT_ARM, "ci_high"]
                        add("Mixed model change vs control", "coverage", ok)
                        for a in NULL_ARMS[: design.n_arms - 2]:
                            add("Mixed model change vs control", "type_i", cc.loc[a, "p"] < 0.05)
                    else:
                        for p in cc["p"]:
                            add("Mixed model change vs control", "type_i", p < 0.05)
                except Exception as exc:
                    add("Mixed model change vs control", "failed", 1.0, f"{type(exc).__name__}: {str(exc)[:80]}")
        if "dz" in checks:
            pp = prepost(hope, pre="baseline", post="post", clusters=["mentor_id"]).set_index("arm")
            for a in ([EFFECT_ARM, "control"] if two_plus else [EFFECT_ARM]):
                ok = pp.loc[a, "d_z_ci_low"] <= truth[f"dz_{a}"] <= pp.loc[a, "d_z_ci_high"]
                add(f"d_z CI ({'effect arm' if a == EFFECT_ARM else 'control'})", "coverage", ok)
        if "rci" in checks:
            rc = reliable_change(null, reliability="auto", interval_weeks=24,
                                 control="control" if two_plus else None, alpha=sim.truth["reliability"][NULL])
            s = rc.by_arm.set_index("arm")
            share = (s["n_improved"] + s["n_deteriorated"]) / s["n"]
            src = rc.parameters["reliability_source"].iloc[0]
            if two_plus:
                add("Reliable change, no effect (control)", "share", share["control"], src)
                treated = s.drop(index="control")
                flagged = (treated["n_improved"] + treated["n_deteriorated"]).sum() / treated["n"].sum()
                if design.icc > 0 and design.onset == "after_matching":
                    add("Reliable change, no arm effect (mentored arms): share minus the share truly changed",
                        "excess", flagged - truth["rc_expected"], src)
                else:
                    add("Reliable change, no effect (mentored arms)", "share", flagged, src)
            elif design.icc > 0 and design.onset == "after_matching":
                add("Reliable change, no arm effect (single arm): share minus the share truly changed",
                    "excess", share.iloc[0] - truth["rc_expected"], src)
            else:
                add("Reliable change, no effect (single arm)", "share", share.iloc[0], src)
        if "med" in checks and design.n_arms == 2:
            try:
                eff = _mediation(simulate(design, design.n_per_arm, seed + 7_000_000, mechanism=True).scores,
                                 MED_BOOT, seed)
                eff = eff[eff["arm"] == EFFECT_ARM]
                for e in ("indirect", "direct"):
                    for _, r in eff[eff["effect"] == e].iterrows():
                        ok = r["ci_low"] <= truth[f"med_{e}"] <= r["ci_high"]
                        # the delta-method SE treats participants as independent (only the
                        # bootstrap resamples mentors): a clustering-blind reference when ICC > 0
                        blind = r["ci_method"] == "normal" and design.icc > 0
                        how = {"normal": "delta method", "monte-carlo": "Monte Carlo, CR2"}.get(
                            r["ci_method"], f"{r['ci_method']} bootstrap")
                        add(f"Mediation {e} effect CI ({how})" + (f" {REFERENCE_METHOD}" if blind else ""),
                            "coverage", ok)
            except Exception as exc:
                add("Mediation", "failed", 1.0, f"{type(exc).__name__}: {str(exc)[:80]}")
    return rows


#: ANCOVA methods, Dunnett FWER (CR2), Hedges' g, the longitudinal mixed model, d_z, reliable change
ALL_CHECKS = (*METHODS, "dunnett", "g", "mm", "dz", "rci", "med")
#: bootstrap replicates per mediation analysis in the calibration (the report path uses 2,000)
MED_BOOT = 999


def replicate_seeds(design: Design, n_reps: int, seed: int = SEED) -> list[int]:
    """Seeds of replicates 0 .. n_reps - 1 of a design: seed + 100000 (its place in the full grid + 1) + r.

    A longer run with the same seed therefore starts with the shorter run's replicates.
    """
    grid = design_grid("full")
    block = grid.index(design) + 1 if design in grid else 99
    return [seed + 100_000 * block + r for r in range(n_reps)]


def run(designs: list[Design], n_reps: int, *, seed: int = SEED, n_jobs: int = 2,
        checks: tuple[str, ...] = ALL_CHECKS, verbose: bool = True, on_design: Any = None) -> pd.DataFrame:
    """Raw replicate rows for every design (seeds from :func:`replicate_seeds`)."""
    import cloudpickle
    from joblib import Parallel, delayed

    # this file is run as a script or loaded by path: ship its functions to the workers by value
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    out = []
    for d in designs:
        t0 = time.perf_counter()
        truth = population_truth(d, checks)
        seeds = replicate_seeds(d, n_reps, seed)
        chunks = [seeds[i::max(n_jobs, 1) * 4] for i in range(max(n_jobs, 1) * 4)]
        parts = Parallel(n_jobs=n_jobs)(delayed(_chunk)(d, c, truth, checks) for c in chunks if c)
        rows = [r for p in parts for r in p]
        frame = pd.DataFrame(rows)
        out.append(frame)
        if verbose:
            print(f"{d.key}: {n_reps} replicates in {time.perf_counter() - t0:.0f} s", flush=True)
        if on_design is not None:
            on_design(pd.concat(out, ignore_index=True))
    return pd.concat(out, ignore_index=True)


def _chunk(design: Design, seeds: list[int], truth: dict[str, float], checks: tuple[str, ...]) -> list[dict]:
    return [row for s in seeds for row in replicate(design, s, truth, checks)]


def summarize(raw: pd.DataFrame, designs: list[Design]) -> pd.DataFrame:
    """Rate (or mean share) per design x check x measure with its Monte Carlo SE and the target."""
    labels = {d.key: d for d in designs}
    rows = []
    for (key, check, measure), g in raw.groupby(["design", "check", "measure"], sort=False):
        if measure == "failed":
            continue
        d = labels[key]
        v = g["value"].to_numpy(float)
        n = len(v)
        est = float(v.mean())
        # rates: binomial SE; shares: SE of the mean over replicates
        se = float(math.sqrt(est * (1 - est) / n)) if measure not in ("share", "excess") \
            else float(v.std(ddof=1) / math.sqrt(n))
        n_fail = int(((raw["design"] == key) & (raw["check"] == check) & (raw["measure"] == "failed")).sum())
        lo, hi = TARGETS[measure]
        rows.append({"design": key, "arms": d.n_arms, "n_per_arm": d.n_per_arm, "icc": d.icc,
                     "cluster_onset": d.onset if d.icc > 0 else "none", "check": check, "measure": measure,
                     "n": n, "n_failed": n_fail, "estimate": est, "mc_se": se, "target_low": lo, "target_high": hi,
                     "meets_target": "reference" if REFERENCE_METHOD in check else bool(lo <= est <= hi),
                     "source": "; ".join(sorted(set(g["note"].dropna()) - {""}))})
    return pd.DataFrame(rows)


KEY = ["design", "check", "measure"]


def merge_tables(table: pd.DataFrame, reruns: list[pd.DataFrame]) -> pd.DataFrame:
    """``table`` with each row that a rerun also has replaced by the rerun's (same place, same order).

    A rerun with the same seed and more replicates extends the first run (replicate r has the
    same seed in both), so its row supersedes the earlier estimate. Rows only in a rerun are added
    after their design's rows.
    """
    records = table.to_dict("records")
    for new in reruns:
        missing = [c for c in table.columns if c not in new.columns]
        if missing:
            raise SystemExit(f"a rerun lacks the column(s) {missing}")
        for row in new[list(table.columns)].to_dict("records"):
            key = tuple(row[k] for k in KEY)
            hit = [i for i, r in enumerate(records) if tuple(r[k] for k in KEY) == key]
            if hit:
                records[hit[0]] = row
            else:
                same = [i for i, r in enumerate(records) if r["design"] == row["design"]]
                records.insert(same[-1] + 1 if same else len(records), row)
    out = pd.DataFrame(records, columns=table.columns)
    out["meets_target"] = out["meets_target"].astype(str)
    return out


def _replicates_line(table: pd.DataFrame, n_reps: int) -> str:
    """How many replicates the rows rest on (several counts after a --merge of longer reruns)."""
    per_rep = table[table["measure"].isin(["coverage", "fwer", "share", "excess"])]
    counts = sorted({int(n) for n in per_rep["n"]}) if len(per_rep) else [n_reps]
    if len(counts) == 1:
        return f"{counts[0]} replicates per design"
    rest = " or ".join(f"{c:,}" for c in counts[1:])
    return (f"{counts[0]} replicates per design, extended to {rest} for the rows whose n says so "
            "(same seeds: the first replicates are the shorter run's)")


def markdown(table: pd.DataFrame, designs: list[Design], *, command: str, seed: int, n_reps: int,
             missing: list[str], note: str = "") -> str:
    """The calibration report (docs/calibration.md)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "# Calibration of the toolkit's analyses",
        "",
        "Generated by `benchmarks/calibration.py`; do not edit by hand.",
        "",
        f"- Command: `{command}`",
        f"- Date: {stamp}; seed {seed}; {_replicates_line(table, n_reps)}; Monte Carlo SE in brackets.",
        "- Targets: coverage 93-97%, type I 3-7%, FWER <= 5%; reliable change: share of participants",
        "  classed improved or deteriorated on an outcome with no effect, 3-7% (see below for mentored arms).",
        "- Design of each replicate: see the docstring of `benchmarks/calibration.py` (score-level",
        "  simulator, one site, no dropout, weeks 0/12/24, effect arm storytelling_circles (groups of",
        "  6-10), null dyad arms in four-arm designs, control unclustered).",
        "- `none` ignores clustering (the behaviour before cluster-aware ANCOVA, now only on request): its rows",
        "  are a reference showing why clustering matters, not a calibrated method. `cr2` and `mixed` use the",
        "  declared cluster `mentor_id`. Rows marked **x** miss their target.",
        "- Type I rows pool every true-null contrast of a replicate (four-arm designs: two null arms on hope",
        "  and three on belonging), so their n counts contrasts and their binomial SE is a little optimistic",
        "  (contrasts share the control arm). FWER rows count replicates.",
        "- Reliable change in mentored arms: when mentor or group effects begin after matching, participants",
        "  of a mentored arm really do change (some mentors help more than others) even when the arm's average",
        "  effect is zero. There the check is the share flagged minus the share truly changed (true change",
        "  beyond what 95% of control participants' changes reach, from a population of 20,000 per arm),",
        "  target within +-2 points; elsewhere (control arms, ICC 0, effects constant from baseline) the share",
        "  flagged is the false-positive rate, target 3-7%. Single-arm studies have no control arm: their",
        "  reliability is the within-arm baseline-post correlation (source in brackets); with mentor effects",
        "  after matching their participants truly change too, so their check is the same excess, the truly",
        "  changed share coming from the same population simulated with a control arm.",
        "- *d_z* intervals come from `prepost` with `clusters=[\"mentor_id\"]`: in the clustered arm a",
        "  delta-method interval whose mean part has the CR2 variance and Satterthwaite df and whose SD part",
        "  has a cluster-robust variance with G - 1 df, combined by Welch-Satterthwaite (the SD part used to",
        "  be the independence formula scaled by the mean's small-df t quantile: 97-99% with four circles);",
        "  Hedges' *g* intervals use the contrast's df and a clustering-corrected SD.",
        "- `cr2` computes its adjustment matrices and Satterthwaite df under the REML random-intercept",
        "  model (`cr2_working_model=\"random-intercepts\"`, clubSandwich's `target`). Under the identity",
        "  (clubSandwich's `lm` default) the same designs gave type I 7.2% and coverage 91.8% with four",
        "  circles in the mentored arm (30/arm, ICC .2): df near 10 where the data carry about 3.",
        "- `mixed` is conservative when the true ICC is 0 or small and the mentored arm has about four",
        "  circles (30/arm): REML then finds a positive mentor variance in about a third of the studies, and",
        "  in those the SE is about 18% larger than the unclustered one and the Satterthwaite df about 8, so",
        "  their intervals nearly always cover. With four clusters the data cannot rule out a modest ICC, so",
        "  the analysis allows for one; the cost is power, not false findings (type I stays below 5%).",
        "- Mediation rows (two-arm, 150/arm designs; `--checks med`): the truth is the observed-score",
        "  estimand (the same analysis on 20,000 per arm); the delta-method SE treats participants as",
        "  independent, so with ICC > 0 its rows are a clustering-blind reference. The Monte Carlo interval",
        "  (CR2 covariances of a and b under the REML random-intercept working model, t draws with their",
        "  Satterthwaite df) is the default the report shows; the cluster bootstrap (mentors resampled",
        "  within arms, 999 replicates) is too narrow with the ~19 circles of the mentored arm: the",
        "  resampled clusters' variance is biased low by (G - 1)/G and percentile limits take no account",
        "  of how few clusters the variance rests on.",
        "",
    ]
    if note:
        out += [note, ""]
    if missing:
        out += ["Not calibrated in this run:", ""] + [f"- {m}" for m in missing] + [""]
    for d in designs:
        t = table[table["design"] == d.key]
        if not len(t):
            continue
        out += [f"## {d.label} (`{d.key}`)", "", "| check | measure | estimate (MC SE) | n | target met |",
                "| --- | --- | --- | --- | --- |"]
        for _, r in t.iterrows():
            fail = f", {r['n_failed']} failed fits" if r["n_failed"] else ""
            src = f" ({r['source']})" if r["source"] else ""
            met = str(r["meets_target"])
            met = {"True": "yes", "False": "**x**"}.get(met, met)
            sign = "+" if r["measure"] == "excess" and r["estimate"] >= 0 else ""
            out.append(f"| {r['check']}{src} | {r['measure']} | {sign}{100 * r['estimate']:.1f}% "
                       f"({100 * r['mc_se']:.1f}) | {r['n']}{fail} | {met} |")
        out.append("")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=500)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--grid", choices=("full", "reduced"), default="full")
    ap.add_argument("--only", nargs="*", help="design keys to run (default: the whole grid)")
    ap.add_argument("--checks", nargs="*", default=list(ALL_CHECKS), choices=ALL_CHECKS)
    root = Path(__file__).resolve().parents[1]
    ap.add_argument("--out", type=Path, default=root / "docs" / "calibration.md")
    ap.add_argument("--csv", type=Path, default=root / "docs" / "calibration.csv")
    ap.add_argument("--render", type=Path, help="only rewrite --out from a summary CSV written by an earlier run")
    ap.add_argument("--merge", type=Path, nargs="+",
                    help="summary CSVs of reruns (e.g. more replicates of some designs and checks): their rows "
                         "replace the same design x check x measure rows of --csv, then --csv and --out are rewritten")
    ap.add_argument("--command", help="the command to record in the report (default: this one)")
    ap.add_argument("--note", default="", help="a paragraph to add to the report (e.g. why designs were not run)")
    args = ap.parse_args(argv)
    designs = design_grid(args.grid)
    if args.only:
        designs = [d for d in designs if d.key in set(args.only)]
    missing = []
    if not _has_cluster_api():
        missing.append("cluster-aware ANCOVA (`ancova(..., clusters=, cluster_method=)` is not in this version)")
    # the recorded command leaves out where the files were written (no machine paths in the docs)
    given = list(sys.argv[1:] if argv is None else argv)
    kept, skip = [], False
    for a in given:
        if skip:
            skip = False
            continue
        if a in ("--out", "--csv", "--render", "--command", "--note", "--merge"):
            skip = True
            continue
        kept.append(a)
    cmd = args.command or " ".join(["python benchmarks/calibration.py", *kept])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.merge:
        merged = merge_tables(pd.read_csv(args.csv, keep_default_na=False, na_values=[""]),
                              [pd.read_csv(m, keep_default_na=False, na_values=[""]) for m in args.merge])
        merged.to_csv(args.csv, index=False, lineterminator="\n")
        args.render = args.csv
    if args.render is not None:
        table = pd.read_csv(args.render, keep_default_na=False, na_values=[""])
        table["source"] = table["source"].fillna("")
        done = set(table["design"])
        notes = missing + [f"design `{d.key}` ({d.label}): not run" for d in designs if d.key not in done]
        n_reps = int(table["n"][table["measure"] == "coverage"].min()) if len(table) else args.reps
        args.out.write_text(markdown(table, designs, command=cmd, seed=args.seed, n_reps=n_reps, missing=notes,
                                     note=args.note), encoding="utf-8")
        return 0

    def write(raw: pd.DataFrame) -> pd.DataFrame:
        # rewritten after every design, so an interrupted run still leaves what it finished
        notes = list(missing)
        done = set(raw["design"])
        notes += [f"design `{d.key}` ({d.label}): not run" for d in designs if d.key not in done]
        failed = raw[raw["measure"] == "failed"]
        for (key, check, note), g in failed.groupby(["design", "check", "note"]):
            notes.append(f"`{key}` {check}: {len(g)} failed fits ({note})")
        table = summarize(raw, designs)
        args.out.write_text(markdown(table, designs, command=cmd, seed=args.seed, n_reps=args.reps,
                                     missing=notes), encoding="utf-8")
        table.to_csv(args.csv, index=False, lineterminator="\n")
        return table

    raw = run(designs, args.reps, seed=args.seed, n_jobs=args.jobs, checks=tuple(args.checks), on_design=write)
    print(write(raw).to_string(index=False, max_colwidth=40))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
