"""Tails of the null-contrast p-values of one calibration design, by ANCOVA method.

The FWER rows of docs/calibration.md turn on how often a null contrast's p-value falls below
alpha / 3 (Holm's first step over three contrasts). This script reruns a design of
``benchmarks/calibration.py`` on the same seeds and prints, for ``none`` (OLS, exact under the
generating model when there is no clustering), ``cr2`` and ``mixed``, the share of null contrasts
with p below .05, .05/3 and .01 and the Holm FWER over the three vs-control contrasts on the
outcome with no effect, so a tail excess can be told apart from the data's own (the same
replicates under an exact test) and from Monte Carlo noise.

    python benchmarks/calibration_tails.py a4_n150_icc0_after [--reps 2000] [--jobs 2] [--csv out.csv]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd


def _calibration():
    path = Path(__file__).resolve().parent / "calibration.py"
    spec = importlib.util.spec_from_file_location("mentor_eval_calibration", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


cal = _calibration()


def _replicates(key: str, seeds: list[int]) -> list[tuple]:
    d = next(x for x in cal.design_grid("full") if x.key == key)
    out = []
    for s in seeds:
        sim = cal.simulate(d, d.n_per_arm, s)
        hope, null = cal._lean(sim.scores, cal.HOPE), cal._lean(sim.scores, cal.NULL)
        both = pd.concat([hope.assign(outcome=cal.HOPE), null.assign(outcome=cal.NULL)], ignore_index=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for m in cal.METHODS:
                res = cal._ancova(both, m, "none")
                nulls = res[(res["outcome"] == cal.NULL) | res["arm"].isin(cal.NULL_ARMS)]
                for o, arm, p, df in zip(nulls["outcome"], nulls["arm"], nulls["p"], nulls["df"], strict=True):
                    out.append((s, m, "null outcome" if o == cal.NULL else "hope, null arm", arm, p, df))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("design")
    ap.add_argument("--reps", type=int, default=2000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--csv", type=Path, help="write the p-values here")
    args = ap.parse_args(argv)
    import cloudpickle
    from joblib import Parallel, delayed

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cloudpickle.register_pickle_by_value(cal)
    grid = cal.design_grid("full")
    d = next((x for x in grid if x.key == args.design), None)
    if d is None or d.n_arms < 4:
        raise SystemExit(f"{args.design!r} is not a four-arm design of the full grid")
    seeds = cal.replicate_seeds(d, args.reps)
    k = max(args.jobs, 1) * 4
    parts = Parallel(n_jobs=args.jobs)(delayed(_replicates)(d.key, seeds[i::k]) for i in range(k))
    t = pd.DataFrame([r for p in parts for r in p], columns=["seed", "method", "contrasts", "arm", "p", "df"])
    if args.csv:
        t.to_csv(args.csv, index=False)
    print(f"{d.key}: {args.reps} replicates")
    for (m, what), g in t.groupby(["method", "contrasts"], sort=False):
        shares = "  ".join(f"p<{a:.4f}: {100 * (g['p'] < a).mean():.2f}%" for a in (0.05, 0.05 / 3, 0.01))
        print(f"  {m:5s} {what:15s} n={len(g):5d}  {shares}  median df {g['df'].median():.0f}")
    fam = t[t["contrasts"] == "null outcome"]
    holm = fam.groupby(["method", "seed"])["p"].min().lt(0.05 / 3).groupby("method").mean()
    print("  Holm FWER over the three null-outcome contrasts:",
          ", ".join(f"{m} {100 * v:.2f}%" for m, v in holm.items()))
    # exact p-values, three contrasts sharing a control (correlation .5): Holm's FWER
    z0 = np.random.default_rng(1).standard_normal(400_000)
    z = (np.random.default_rng(2).standard_normal((400_000, 3)) + z0[:, None]) / np.sqrt(2)
    from scipy import stats

    print(f"  (exact p-values, correlation .5: {100 * (2 * stats.norm.sf(np.abs(z)).min(1) < 0.05 / 3).mean():.2f}%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
