"""Time the public ``mixed_model`` call beside lme4 (R) and statsmodels MixedLM.

Each timing runs in a fresh process on the same data, written once to a temporary CSV; the
process reads the CSV (not timed) and then fits the model (timed). Repeats are interleaved
(mentor-eval, lme4, mentor-eval, lme4, ...) and the table gives the median and the peak
resident memory of the process (``ru_maxrss``).

The study: participants x 4 waves, two arms, participants nested in mentors nested in sites
(seeded; 100,000 rows = 25,000 participants). Models:

* ``(1|id)``: ``score ~ wave * arm + (1 | participant_id)``;
* ``(1|site/id)``: ``score ~ wave * arm + (1 | site_id/participant_id)``;
* ``(time|id)``: ``score ~ time * arm + (1 + time | participant_id)``.

Columns:

* ``mentor-eval``: :func:`mentor_eval.outcomes.mixed_model` -- REML fit, Satterthwaite df of
  every coefficient, marginal means per wave x arm and the arm contrasts (what a user calls);
* ``lme4 fit``: ``lme4::lmer`` alone (REML, default optimiser);
* ``lme4 + lmerTest + emmeans``: ``lmerTest::lmer`` + ``summary()`` (Satterthwaite df) +
  ``emmeans(lmer.df = "satterthwaite")``: the same work as ``mixed_model`` (by default only at
  the smaller size: lmerTest's numerical Hessian is slow at 1M rows);
* ``statsmodels``: ``MixedLM`` (REML, lbfgs) of the same model, by default only for
  ``(1|id)`` at the smaller size (the nested and slope models take minutes).

Agreement with lme4 (last columns): the largest absolute difference of the fixed effects,
the largest relative difference of the variance components and, where lmerTest ran, of the
Satterthwaite df. R columns are skipped with a note when ``Rscript`` (with lme4, lmerTest and
emmeans) is not on the PATH.

Usage::

    nice python benchmarks/bench_mixed.py                     # 100k (3 repeats) and 1M (2)
    nice python benchmarks/bench_mixed.py --sizes 100000 --repeat 5
    nice python benchmarks/bench_mixed.py --quick             # 10k rows, one repeat: smoke run
    nice python benchmarks/bench_mixed.py --sizes 100000 --tight  # + agreement with a tight lme4

Targets (issue 16) on 2 cores: ``mentor-eval`` at least 10x faster than the lme4 fit for
``(1|id)`` and ``(1|site/id)``, at least 5x for ``(time|id)``, at 100k and 1M rows, agreeing
to 1e-4.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

MODELS = {
    "ri": "(1|id)",
    "site": "(1|site/id)",
    "slope": "(time|id)",
}

R_FORMULA = {
    "ri": "score ~ wave * arm + (1 | participant_id)",
    "site": "score ~ wave * arm + (1 | site_id/participant_id)",
    "slope": "score ~ time * arm + (1 + time | participant_id)",
}

R_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
csv <- args[1]; model <- args[2]; full <- args[3] == "full"; out <- args[4]
tight <- length(args) > 4 && args[5] == "tight"
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
if (full) suppressPackageStartupMessages({library(lmerTest); library(emmeans)})
d <- read.csv(csv)
d$wave <- factor(d$wave); d$arm <- factor(d$arm, levels = c("control", "mentoring"))
f <- as.formula(switch(model,
  ri = "score ~ wave * arm + (1 | participant_id)",
  site = "score ~ wave * arm + (1 | site_id/participant_id)",
  slope = "score ~ time * arm + (1 + time | participant_id)"))
t0 <- proc.time()[["elapsed"]]
m <- lme4::lmer(f, data = d)
t_fit <- proc.time()[["elapsed"]] - t0
res <- list(fit_s = t_fit, fixef = unname(fixef(m)),
            varcomp = as.data.frame(VarCorr(m))$vcov, deviance = REMLcrit(m))
if (full) {
  emm_options(lmer.df = "satterthwaite", lmerTest.limit = 1e8, pbkrtest.limit = 0)
  t0 <- proc.time()[["elapsed"]]
  m2 <- lmerTest::lmer(f, data = d)
  s <- summary(m2)
  e <- if (model == "slope") emmeans(m2, ~ time * arm, at = list(time = 0:3)) else
    emmeans(m2, ~ wave * arm)
  res$full_s <- proc.time()[["elapsed"]] - t0
  res$df <- unname(s$coefficients[, "df"])
}
if (tight) {
  # not timed: lme4 refitted to a tight optimum (bobyqa, rhoend 1e-10) for the agreement check
  mt <- lme4::lmer(f, data = d, control = lmerControl(optimizer = "bobyqa",
                   optCtrl = list(rhoend = 1e-10, maxfun = 1e5)))
  res$tight <- list(fixef = unname(fixef(mt)), varcomp = as.data.frame(VarCorr(mt))$vcov,
                    deviance = REMLcrit(mt))
}
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA), out)
"""


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
    frame = pd.DataFrame({
        "participant_id": pid,
        "site_id": site[pid],
        "mentor_id": mentor[pid],
        "arm": np.where(arm[pid] == 1, "mentoring", "control"),
        "wave": wave,
        "time": wave.astype(float),
        "score": score,
    })
    # 5% of the scores missing at random: unbalanced, as real studies are
    drop = rng.random(len(frame)) < 0.05
    return frame.loc[~drop].reset_index(drop=True)


# ---------------------------------------------------------------------------- workers
def _worker_mentor_eval(csv: str, model: str, out: str) -> None:
    from mentor_eval.outcomes.longitudinal import mixed_model

    data = pd.read_csv(csv)
    kwargs: dict = {}
    if model == "site":
        kwargs["clusters"] = ("site_id",)
    if model == "slope":
        kwargs.update(random_slope=True, time="time")
    start = time.perf_counter()
    res = mixed_model(data, **kwargs)
    seconds = time.perf_counter() - start
    var = res.variance
    # lme4's VarCorr order: intercept variances outermost last...; keep ours and the labels
    Path(out).write_text(json.dumps({
        "seconds": seconds,
        "fixef": res.fixed["estimate"].tolist(),
        "df": res.fixed["df"].tolist(),
        "variance": var["variance"].tolist(),
        "level": var["level"].tolist(),
        "component": var["component"].tolist(),
        "deviance": res.info["REML_criterion"],
        "singular": bool(res.info["singular"]),
    }))


def _worker_statsmodels(csv: str, model: str, out: str) -> None:
    import warnings

    import statsmodels.formula.api as smf

    data = pd.read_csv(csv)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if model == "ri":
            m = smf.mixedlm("score ~ C(wave) * arm", data, groups="participant_id")
        elif model == "site":
            m = smf.mixedlm("score ~ C(wave) * arm", data, groups="site_id", re_formula="1",
                            vc_formula={"p": "0 + C(participant_id)"})
        else:
            m = smf.mixedlm("score ~ time * arm", data, groups="participant_id", re_formula="~time")
        fit = m.fit(reml=True, method="lbfgs")
    seconds = time.perf_counter() - start
    Path(out).write_text(json.dumps({"seconds": seconds, "fixef": fit.fe_params.tolist()}))


def _run(cmd: list[str], out: Path) -> tuple[dict | None, float, str]:
    """Run one worker; return its JSON, its peak RSS in MB and any error text."""
    if out.exists():
        out.unlink()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.stdout.close() if proc.stdout else None
    proc.stderr.close() if proc.stderr else None
    peak_mb = usage.ru_maxrss / 1024.0
    if proc.returncode != 0 or not out.exists():
        return None, peak_mb, err.strip().splitlines()[-1] if err.strip() else "failed"
    return json.loads(out.read_text()), peak_mb, ""


def _r_available() -> str | None:
    """None when R with lme4, lmerTest and emmeans runs; otherwise the reason."""
    if shutil.which("Rscript") is None:
        return "Rscript not on the PATH"
    check = subprocess.run(
        ["Rscript", "-e", "for (p in c('lme4','lmerTest','emmeans','jsonlite')) "
         "if (!requireNamespace(p, quietly = TRUE)) stop(p)"],
        capture_output=True, text=True)
    if check.returncode != 0:
        return f"R package missing: {check.stderr.strip().splitlines()[-1]}"
    return None


class _Book:
    """Timings, peak memory, last outputs and errors per (model, tool)."""

    def __init__(self) -> None:
        self.times: dict[tuple[str, str], list[float]] = {}
        self.peaks: dict[tuple[str, str], list[float]] = {}
        self.last: dict[tuple[str, str], dict] = {}
        self.errors: dict[tuple[str, str], str] = {}
        self.all_r: dict[str, list[dict]] = {}

    def record(self, key: tuple[str, str], res: dict | None, peak: float, err: str,
               field: str = "seconds") -> None:
        if res is None:
            self.errors[key] = err
            return
        self.times.setdefault(key, []).append(float(res[field]))
        self.peaks.setdefault(key, []).append(peak)
        self.last[key] = res
        if key[1] == "lme4":
            self.all_r.setdefault(key[0], []).append(res)


def _median(values: list[float]) -> float:
    return float(np.median(values)) if values else float("nan")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000],
                        help="approximate numbers of rows (participants x 4 waves, 5%% missing)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="interleaved repeats at sizes below 1M (1M: at most 2)")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--statsmodels", nargs="*", choices=list(MODELS), default=["ri"],
                        help="models to run with statsmodels at the smallest size (default: ri)")
    parser.add_argument("--r-full-max-rows", type=int, default=200_000,
                        help="run lmerTest + emmeans only up to this size (default 200,000)")
    parser.add_argument("--tight", action="store_true",
                        help="also refit lme4 to a tight optimum (bobyqa, rhoend 1e-10; not "
                             "timed) and report the agreement with it")
    parser.add_argument("--quick", action="store_true", help="10,000 rows, one repeat")
    parser.add_argument("--worker", nargs=4, metavar=("TOOL", "CSV", "MODEL", "OUT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        tool, csv, model, out = args.worker
        {"mentor_eval": _worker_mentor_eval, "statsmodels": _worker_statsmodels}[tool](
            csv, model, out)
        return

    sizes = [10_000] if args.quick else args.sizes
    repeat = 1 if args.quick else args.repeat
    r_missing = _r_available()
    if r_missing:
        print(f"note: lme4 columns skipped ({r_missing}).")
    tmp = Path(tempfile.mkdtemp(prefix="bench_mixed_"))
    r_script = tmp / "fit.R"
    r_script.write_text(R_SCRIPT)
    env_py = [sys.executable, str(Path(__file__).resolve())]
    rows = []
    try:
        for size in sizes:
            data = simulate(int(round(size / 4 / 0.95)))
            csv = tmp / f"study_{size}.csv"
            data.to_csv(csv, index=False)
            print(f"{len(data):,} rows, {data.participant_id.nunique():,} participants, "
                  f"{data.site_id.nunique()} sites", flush=True)
            reps = min(repeat, 2) if size >= 1_000_000 else repeat
            full = size <= args.r_full_max_rows
            book = _Book()
            times, peaks, last, errors, record = (book.times, book.peaks, book.last, book.errors,
                                                  book.record)
            for rep in range(reps):
                for model in args.models:
                    out = tmp / "out.json"
                    res, peak, err = _run([*env_py, "--worker", "mentor_eval", str(csv), model,
                                           str(out)], out)
                    record((model, "mentor-eval"), res, peak, err)
                    if not r_missing:
                        res, peak, err = _run(["Rscript", str(r_script), str(csv), model,
                                               "full" if full else "fit", str(out),
                                               "tight" if rep == 0 and args.tight else "-"], out)
                        record((model, "lme4"), res, peak, err, "fit_s")
                        if res is not None and full:
                            times.setdefault((model, "lme4+"), []).append(float(res["full_s"]))
                    if rep == 0 and size == min(sizes) and model in (args.statsmodels or []):
                        res, peak, err = _run([*env_py, "--worker", "statsmodels", str(csv), model,
                                               str(out)], out)
                        record((model, "statsmodels"), res, peak, err)
                    print(f"  repeat {rep + 1}/{reps} {MODELS[model]} done", flush=True)
            for model in args.models:
                ours = last.get((model, "mentor-eval"))
                r = last.get((model, "lme4"))
                t_ours = _median(times.get((model, "mentor-eval"), []))
                t_r = _median(times.get((model, "lme4"), []))
                row = {
                    "rows": len(data), "model": MODELS[model],
                    "mentor-eval s": t_ours,
                    "peak MB": _median(peaks.get((model, "mentor-eval"), [])),
                    "lme4 fit s": t_r,
                    "lme4 peak MB": _median(peaks.get((model, "lme4"), [])),
                    "lme4+lmerTest+emmeans s": _median(times.get((model, "lme4+"), [])),
                    "statsmodels s": _median(times.get((model, "statsmodels"), [])),
                    "x vs lme4 fit": t_r / t_ours,
                    "x vs lme4+": _median(times.get((model, "lme4+"), [])) / t_ours,
                }
                if ours is not None and r is not None:
                    row["max |d beta|"] = float(np.max(np.abs(np.subtract(ours["fixef"], r["fixef"]))))
                    # lme4's VarCorr lists the innermost term first for (1|site/id)
                    ov = np.asarray(ours["variance"])
                    rv = np.asarray(r["varcomp"])
                    if model == "site":
                        rv = rv[[1, 0, 2]]
                    is_cov = np.array([c.startswith("cov(") for c in ours["component"]])
                    if ov.size == rv.size:
                        row["max rel d var"] = float(np.max(np.abs(ov - rv)[~is_cov]
                                                            / rv[~is_cov]))
                        if is_cov.any():
                            row["|d cov|"] = float(np.max(np.abs(ov - rv)[is_cov]))
                    row["d REML crit"] = float(ours["deviance"] - r["deviance"])
                    tight = next((x["tight"] for x in book.all_r.get(model, []) if "tight" in x),
                                 None)
                    if tight is not None:
                        tv = np.asarray(tight["varcomp"])
                        if model == "site":
                            tv = tv[[1, 0, 2]]
                        row["tight: max rel d var"] = float(np.max(np.abs(ov - tv)[~is_cov]
                                                                   / tv[~is_cov]))
                        row["tight: d REML crit"] = float(ours["deviance"] - tight["deviance"])
                    if "df" in r:
                        row["max rel d df"] = float(np.max(np.abs(np.subtract(ours["df"], r["df"]))
                                                           / np.asarray(r["df"])))
                for (m_, tool), err in errors.items():
                    if m_ == model:
                        row[f"{tool} error"] = err
                rows.append(row)
            _print_table(rows)  # after each size, so a long run reports as it goes
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _print_table(rows: list[dict]) -> None:
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"), flush=True)


if __name__ == "__main__":
    main()
