"""Time the mediation bootstrap against peers on a 1,200-participant study.

The study is the bundled sample (1,200 participants, six arms, three waves, mentees nested
in mentors). For belonging (midpoint) -> hope (post), adjusted for both baselines and the
covariates, the script times

* ``mentor-eval all arms``: :func:`mentor_eval.mediation` for the five arms vs control, 2,000
  cluster-bootstrap replicates each (percentile and BCa), on 1 and on 2 workers -- what the
  pipeline runs;
* ``mentor-eval one arm``: the same for one arm vs control (400 participants);
* ``pingouin``: ``pingouin.mediation_analysis`` for that arm (2,000 replicates, iid);
* ``statsmodels``: ``statsmodels.stats.mediation.Mediation`` for that arm (quasi-Bayesian,
  ``n_rep`` replicates; only ``--statsmodels-reps``, default 200, because it is slow).

It also checks that 1 and 2 workers give identical intervals. Target: all arms, 2,000
replicates, < 20 s on 2 cores.

Usage::

    python benchmarks/bench_mediation.py            # everything
    python benchmarks/bench_mediation.py --quick    # 200 replicates, a smoke run
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

import mentor_eval
from mentor_eval.data import load_analysis_data

BEL = "general_belongingness_scale.total"
HOPE = "adult_hope_scale.total"
ARM = "narrative_weaving"


def _timed(fn, repeat: int = 1):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="200 replicates")
    ap.add_argument("--statsmodels-reps", type=int, default=200)
    args = ap.parse_args()
    n_boot = 200 if args.quick else 2000
    data = load_analysis_data()
    frame = data.analysis
    covs = ["age", "baseline_risk"]
    print(f"participants: {frame['participant_id'].nunique()}, replicates: {n_boot}")

    def ours(n_jobs: int, arms=None, backend=None):
        return mentor_eval.mediation(frame, BEL, HOPE, covariates=covs, cluster="mentor_id", arms=arms,
                                     n_boot=n_boot, seed=2026, n_jobs=n_jobs, backend=backend)

    ours(1, [ARM])  # warm imports
    rows = []
    t1, r1 = _timed(lambda: ours(1))
    rows.append(("mentor-eval all arms, 1 worker", t1, 5 * n_boot))
    t2, r2 = _timed(lambda: ours(2))
    rows.append(("mentor-eval all arms, 2 workers (loky, cold start)", t2, 5 * n_boot))
    t2w, _ = _timed(lambda: ours(2))
    rows.append(("mentor-eval all arms, 2 workers (loky, warm)", t2w, 5 * n_boot))
    t2t, r2t = _timed(lambda: ours(2, backend="threading"))
    rows.append(("mentor-eval all arms, 2 workers (threading)", t2t, 5 * n_boot))
    same = all(r1.effects[["ci_low", "ci_high"]].equals(r.effects[["ci_low", "ci_high"]]) for r in (r2, r2t))
    t3, r3 = _timed(lambda: ours(1, [ARM]), repeat=3)
    rows.append(("mentor-eval one arm, 1 worker", t3, n_boot))

    # the same arm pair, wide, for the peers
    wide = frame[frame["outcome"].isin([BEL, HOPE])].pivot_table(
        index="participant_id", columns=["outcome", "wave"], values="score")
    wide.columns = [f"{'bel' if o == BEL else 'hope'}_{w}" for o, w in wide.columns]
    people = data.participants.set_index("participant_id")[["arm", *covs]]
    wide = people.join(wide).reset_index()
    wide = wide[wide["arm"].isin([ARM, "control"])].dropna(
        subset=["bel_baseline", "hope_baseline", "bel_midpoint", "hope_post", *covs])
    wide["treat"] = (wide["arm"] == ARM).astype(float)
    ind_ours = r3.effects.query("effect == 'indirect' and ci_method == 'percentile'").iloc[0]
    peer_lines = []
    try:
        import pingouin as pg

        def pingouin_run():
            return pg.mediation_analysis(data=wide, x="treat", m="bel_midpoint", y="hope_post",
                                         covar=["bel_baseline", "hope_baseline", *covs], n_boot=n_boot, seed=1)
        tp, rp = _timed(pingouin_run)
        rows.append(("pingouin.mediation_analysis one arm (iid)", tp, n_boot))
        ind = rp[rp["path"] == "Indirect"].iloc[0]
        lo, hi = ind.iloc[4], ind.iloc[5]  # CI columns ("CI2.5"/"CI[2.5%]" by pingouin version)
        peer_lines.append(f"pingouin indirect {ind['coef']:.4f} [{lo:.4f}, {hi:.4f}] (iid bootstrap)")
    except ImportError:
        peer_lines.append("pingouin not installed")
    try:
        import statsmodels.api as sm
        from statsmodels.stats.mediation import Mediation

        exog = ["treat", "bel_baseline", "hope_baseline", *covs]
        med_mod = sm.OLS(wide["bel_midpoint"], sm.add_constant(wide[exog]))
        out_mod = sm.OLS(wide["hope_post"], sm.add_constant(wide[[*exog, "bel_midpoint"]]))

        def sm_run():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return Mediation(out_mod, med_mod, "treat", "bel_midpoint").fit(n_rep=args.statsmodels_reps)
        ts, rs = _timed(sm_run)
        rows.append((f"statsmodels Mediation one arm ({args.statsmodels_reps} reps)", ts, args.statsmodels_reps))
        s = rs.summary()
        peer_lines.append(f"statsmodels ACME (average) {s.loc['ACME (average)', 'Estimate']:.4f} "
                          f"[{s.loc['ACME (average)', 'Lower CI bound']:.4f}, "
                          f"{s.loc['ACME (average)', 'Upper CI bound']:.4f}]")
    except ImportError:
        peer_lines.append("statsmodels not installed")

    print(f"{'run':<56}{'seconds':>9}{'replicates':>12}{'ms/1,000 reps':>15}")
    for name, t, reps in rows:
        print(f"{name:<56}{t:>9.2f}{reps:>12}{t / reps * 1e6:>15.1f}")
    print(f"1 vs 2 workers (loky, threading) identical intervals: {same}")
    print(f"mentor-eval indirect {ind_ours['estimate']:.4f} [{ind_ours['ci_low']:.4f}, {ind_ours['ci_high']:.4f}] "
          f"(cluster bootstrap, n = {int(ind_ours['n'])})")
    for line in peer_lines:
        print(line)
    target = max(t1, t2, t2t) < 20 if not args.quick else True
    print(f"target (all arms, {n_boot} replicates, < 20 s on 2 cores): {'met' if target else 'MISSED'}")


if __name__ == "__main__":
    pd.set_option("display.width", 200)
    main()
