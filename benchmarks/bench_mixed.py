"""Time the mixed-model engine against statsmodels MixedLM on a simulated 100,000-row study.

The study: 25,000 participants x 4 waves, two arms, participants nested in mentors nested in
sites (seeded). For each random-effects structure the script times

* ``engine``: :func:`mentor_eval.outcomes.lmm.fit_lmm` with ``score ~ time * arm``;
* ``api``: :func:`mentor_eval.outcomes.mixed_model` (wave * arm, Satterthwaite df for every
  coefficient, marginal means and contrasts) -- what a user calls;
* ``statsmodels``: ``MixedLM`` with the same fixed part as ``engine`` (REML, lbfgs).

Usage::

    python benchmarks/bench_mixed.py                 # everything (statsmodels nested: very long)
    python benchmarks/bench_mixed.py --skip-statsmodels-nested
    python benchmarks/bench_mixed.py --quick         # 2,500 participants, a smoke run
    python benchmarks/bench_mixed.py --only ri slope # a subset of the models

Targets on 2 cores: random intercept < 1.5 s and >= 30x faster than statsmodels; nested
intercepts < 5 s; random slope < 10 s.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd


def simulate(n_participants: int, n_waves: int = 4, n_sites: int = 50, seed: int = 2024) -> pd.DataFrame:
    """A long study frame with known effects (time x arm interaction 0.25 per wave)."""
    rng = np.random.default_rng(seed)
    site = rng.integers(0, n_sites, n_participants)
    mentor = site * 1000 + rng.integers(0, max(n_participants // (n_sites * 10), 1), n_participants)
    arm = rng.integers(0, 2, n_participants)
    pid = np.repeat(np.arange(n_participants), n_waves)
    wave = np.tile(np.arange(n_waves), n_participants)
    n_mentor_codes = int(mentor.max()) + 1
    score = (
        3.0 + 0.10 * wave + 0.25 * wave * arm[pid]
        + rng.normal(0, 0.30, n_sites)[site[pid]]
        + rng.normal(0, 0.25, n_mentor_codes)[mentor[pid]]
        + rng.normal(0, 0.70, n_participants)[pid]
        + rng.normal(0, 0.10, n_participants)[pid] * wave
        + rng.normal(0, 0.60, pid.size)
    )
    return pd.DataFrame({
        "participant_id": pid,
        "site_id": site[pid],
        "mentor_id": mentor[pid],
        "arm": np.where(arm[pid] == 1, "mentoring", "control"),
        "wave": wave,
        "time": wave.astype(float),
        "score": score,
    })


def _timed(fn, repeat: int = 1):
    best, out = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2,500 participants instead of 25,000")
    parser.add_argument("--skip-statsmodels-nested", action="store_true",
                        help="do not run statsmodels on the nested and random-slope models")
    parser.add_argument("--skip-statsmodels", action="store_true",
                        help="do not run statsmodels at all (not a valid benchmark run)")
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs for our timings")
    parser.add_argument("--only", nargs="+", choices=["ri", "site", "site_mentor", "slope"],
                        help="run only these models (default: all)")
    args = parser.parse_args(argv)

    import statsmodels.formula.api as smf

    from mentor_eval.outcomes.lmm import fit_lmm
    from mentor_eval.outcomes.longitudinal import mixed_model

    n_part = 2_500 if args.quick else 25_000
    data = simulate(n_part)
    arm = (data["arm"] == "mentoring").to_numpy(float)
    t = data["time"].to_numpy()
    X = np.column_stack([np.ones(len(data)), t, arm, t * arm])
    y = data["score"].to_numpy()
    print(f"{len(data):,} rows, {n_part:,} participants, {data.site_id.nunique()} sites, "
          f"{data.groupby(['site_id', 'mentor_id']).ngroups:,} mentors")

    structures = [
        ("(1|participant)", ["participant_id"], False, {}),
        ("(1|site/participant)", ["site_id", "participant_id"], False,
         {"re_formula": "1", "vc_formula": {"p": "0 + C(participant_id)"}, "groups": "site_id"}),
        ("(1|site/mentor/participant)", ["site_id", "mentor_id", "participant_id"], False,
         {"re_formula": "1", "groups": "site_id",
          "vc_formula": {"m": "0 + C(mentor_id)", "p": "0 + C(participant_id)"}}),
        ("(1 + time|participant)", ["participant_id"], True, {"re_formula": "~time"}),
    ]
    rows = []
    keys = ["ri", "site", "site_mentor", "slope"]
    for key, (label, levels, slope, sm_kw) in zip(keys, structures, strict=True):
        if args.only and key not in args.only:
            continue
        lv = [data[c].to_numpy() for c in levels]
        t_engine, fit = _timed(lambda lv=lv, slope=slope: fit_lmm(
            y, X, lv, slope=t if slope else None), args.repeat)
        clusters = tuple(levels[:-1])
        t_api, res = _timed(lambda clusters=clusters, slope=slope: mixed_model(
            data, clusters=clusters, random_slope=slope, time="time" if slope else None), args.repeat)
        t_sm = np.nan
        diff = np.nan
        run_sm = not args.skip_statsmodels and (label == "(1|participant)" or not args.skip_statsmodels_nested)
        if run_sm:
            kw = dict(sm_kw)
            groups = kw.pop("groups", "participant_id")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t_sm, ref = _timed(lambda kw=kw, groups=groups: smf.mixedlm(
                    "score ~ time * arm", data, groups=groups, **kw).fit(reml=True, method="lbfgs"))
            names = ["Intercept", "time", "arm[T.mentoring]", "time:arm[T.mentoring]"]
            diff = float(np.max(np.abs(fit.beta - ref.fe_params[names].to_numpy())))
        rows.append({"model": label, "engine_s": t_engine, "api_s": t_api, "statsmodels_s": t_sm,
                     "speedup_engine": t_sm / t_engine, "speedup_api": t_sm / t_api,
                     "max_abs_diff_beta": diff, "converged": fit.converged,
                     "boundary": fit.boundary})
        print(f"{label:32s} engine {t_engine:7.3f} s   api {t_api:7.3f} s   statsmodels "
              f"{t_sm:8.2f} s   ratio {t_sm / t_engine:7.1f}x (api {t_sm / t_api:6.1f}x)   "
              f"max|d beta| {diff:.2e}", flush=True)
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))


if __name__ == "__main__":
    main()
