"""Benchmark: scoring 1,000,000 respondents x 30 items from CSV (and 100,000 from XLSX) the way users do.

Each path runs in a fresh process; the paths are interleaved and repeated, and the median wall
time and the peak resident memory of each are printed side by side:

* ``cli``    - ``mentor-eval score responses.csv --instrument bench_scale.yaml -o scores.csv``
               (read through ``mentor_eval.io.read_file``, item rules checked, scores written);
* ``api``    - ``read_file(path)`` + ``score(raw.data, ...)``, the documented API;
* ``floor``  - ``pandas.read_csv`` + numpy sums, no checks (what the work costs at least);
* ``R``      - ``read.csv`` + ``psych::scoreItems`` via ``Rscript``, when R and psych are installed
               (skipped with a note otherwise);
* ``xlsx``   - the CLI on a 100,000-row workbook beside ``openpyxl`` read-only iteration (the floor
               of any reader that keeps what the user typed).

Targets (issue 16): the CLI and the API at most 3 s and 1.2 GB for the CSV; data generated
first (not timed): 5 scales of 6 items, some reverse-keyed, 5-point answers, 2% missing.

    python benchmarks/bench_scoring.py [--rows 1000000] [--xlsx-rows 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

N_ITEMS = 30
N_SCALES = 5
REVERSE = (1, 4)  # positions within each scale of 6


def _definition() -> dict:
    items = []
    scales = []
    for s in range(N_SCALES):
        ids = [str(s * 6 + j + 1) for j in range(6)]
        for j, i in enumerate(ids):
            items.append({"id": i, "gist": f"benchmark item {i}", "reverse": j in REVERSE, "subscale": f"s{s + 1}"})
        scales.append({"id": f"s{s + 1}", "items": ids, "method": "sum", "min_answered": 4})
    return {
        "id": "bench_scale",
        "name": "Benchmark scale",
        "construct": "other",
        "citation": {"authors": ["mentor-eval"], "year": 2026},
        "licence": "synthetic",
        "response_scale": {"min": 1, "max": 5},
        "items": items,
        "scales": scales,
    }


def _frame(rows: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 6, size=(rows, N_ITEMS)).astype(float)
    x[rng.random(x.shape) < 0.02] = np.nan
    df = pd.DataFrame(x, columns=[f"q{i + 1}" for i in range(N_ITEMS)]).astype("Int64")
    df.insert(0, "participant_id", np.arange(rows))
    return df


def _write_csv(path: Path, rows: int) -> None:
    _frame(rows).to_csv(path, index=False)


def _write_xlsx(path: Path, rows: int) -> None:
    import openpyxl

    df = _frame(rows)
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("responses")
    ws.append(list(df.columns))
    for rec in df.astype(object).where(df.notna(), None).itertuples(index=False):
        ws.append(list(rec))
    wb.save(path)


# ---------------------------------------------------------------- the timed programs (fresh processes)
API = """
import sys
from mentor_eval.io import read_file
from mentor_eval.scoring import score
raw = read_file(sys.argv[1])
s = score(raw.data, sys.argv[2], "q{item}")
assert len(s) == len(raw.data)
"""

FLOOR = """
import sys
import numpy as np, pandas as pd
df = pd.read_csv(sys.argv[1])
x = df[[f"q{i + 1}" for i in range(30)]].to_numpy(dtype=float)
for s in range(5):
    block = x[:, s * 6:(s + 1) * 6].copy()
    block[:, [1, 4]] = 6 - block[:, [1, 4]]
    n = (~np.isnan(block)).sum(axis=1)
    total = np.nanmean(block, axis=1) * 6
    total[n < 4] = np.nan
"""

XLSX_FLOOR = """
import sys, openpyxl
wb = openpyxl.load_workbook(sys.argv[1], read_only=True, data_only=True)
n = sum(1 for _ in wb.worksheets[0].iter_rows(values_only=True))
wb.close()
"""

R_SCRIPT = """
args <- commandArgs(trailingOnly = TRUE)
suppressMessages(library(psych))
d <- read.csv(args[1])
keys <- list()
for (s in 1:5) {
  ids <- paste0("q", ((s - 1) * 6 + 1):(s * 6))
  ids[c(2, 5)] <- paste0("-", ids[c(2, 5)])
  keys[[paste0("s", s)]] <- ids
}
sc <- scoreItems(keys, d[, paste0("q", 1:30)], totals = TRUE, impute = "none", min = 1, max = 5)
"""


_GNU_TIME = Path("/usr/bin/time").exists()


def _run(cmd: list[str], ok_codes: tuple[int, ...] = (0,)) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one fresh process.

    The peak is measured by GNU ``time`` when installed: a child forked straight from this
    (larger) process would report this process's memory as its own peak, since Linux keeps the
    high-water mark across ``exec``. Without it the figure is an upper bound.
    """
    wrapped = ["/usr/bin/time", "-f", "MAXRSS_KB=%M", *cmd] if _GNU_TIME else cmd
    t = time.perf_counter()
    proc = subprocess.Popen(wrapped, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env())
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in ok_codes:
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed ({proc.returncode}):\n{err[-2000:]}")
    peak = usage.ru_maxrss / 1024
    for line in reversed(err.splitlines()):
        if line.startswith("MAXRSS_KB="):
            peak = int(line.split("=", 1)[1]) / 1024
            break
    return wall, peak


def _env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _has_r_psych() -> bool:
    if shutil.which("Rscript") is None:
        return False
    ok = subprocess.run(["Rscript", "-e", "quit(status = !requireNamespace('psych', quietly = TRUE))"],
                        capture_output=True)
    return ok.returncode == 0


def interleaved(paths: dict[str, list[str]], repeats: int, ok_codes: tuple[int, ...] = (0,)
                ) -> dict[str, tuple[float, float]]:
    """Median wall time and max peak RSS per path, the paths run in turn ``repeats`` times."""
    times: dict[str, list[float]] = {k: [] for k in paths}
    peaks: dict[str, float] = dict.fromkeys(paths, 0.0)
    for _ in range(repeats):
        for name, cmd in paths.items():
            wall, rss = _run(cmd, ok_codes)
            times[name].append(wall)
            peaks[name] = max(peaks[name], rss)
    return {k: (statistics.median(v), peaks[k]) for k, v in times.items()}


def _table(title: str, res: dict[str, tuple[float, float]], labels: dict[str, str]) -> None:
    print(f"\n{title}")
    print(f"  {'path':<58} {'median s':>9} {'peak MB':>8}")
    for k, (t, m) in res.items():
        print(f"  {labels[k]:<58} {t:9.2f} {m:8.0f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--xlsx-rows", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--keep", type=Path, default=None, help="directory to keep the generated files in")
    args = ap.parse_args()
    py = sys.executable

    with tempfile.TemporaryDirectory() as tmp:
        d = args.keep or Path(tmp)
        d.mkdir(parents=True, exist_ok=True)
        defn = d / "bench_scale.yaml"
        defn.write_text(yaml.safe_dump(_definition()))
        csv, xlsx = d / "responses.csv", d / "responses.xlsx"
        t = time.perf_counter()
        if not csv.exists():
            _write_csv(csv, args.rows)
        if args.xlsx_rows and not xlsx.exists():
            _write_xlsx(xlsx, args.xlsx_rows)
        print(f"generated {args.rows:,} rows x {N_ITEMS} items ({csv.stat().st_size / 1e6:.0f} MB CSV) and "
              f"{args.xlsx_rows:,} rows as XLSX in {time.perf_counter() - t:.1f} s; {args.repeats} interleaved "
              f"repeats, fresh process each")
        paths = {
            "cli": [py, "-m", "mentor_eval", "score", str(csv), "--instrument", str(defn), "--columns", "q{item}",
                    "--keep", "participant_id", "-o", str(d / "scores.csv")],
            "api": [py, "-c", API, str(csv), str(defn)],
            "floor": [py, "-c", FLOOR, str(csv)],
        }
        labels = {"cli": "mentor-eval score (CLI, writes scores.csv)",
                  "api": "read_file + score (documented API)",
                  "floor": "pandas read_csv + numpy, no checks (floor)",
                  "R": "R read.csv + psych::scoreItems (peer)",
                  "xlsx_cli": "mentor-eval score on XLSX (CLI)",
                  "xlsx_floor": "openpyxl read-only iteration (floor)"}
        if _has_r_psych():
            rfile = d / "score.R"
            rfile.write_text(R_SCRIPT)
            paths["R"] = ["Rscript", str(rfile), str(csv)]
            r_note = ""
        else:
            r_note = "R peer skipped: Rscript or the psych package is not installed."
        res = interleaved(paths, args.repeats)
        _table(f"CSV, {args.rows:,} rows x {N_ITEMS} items (target: cli and api <= 3 s, <= 1200 MB)", res, labels)
        if r_note:
            print("  " + r_note)
        if args.xlsx_rows:
            xres = interleaved({
                "xlsx_cli": [py, "-m", "mentor_eval", "score", str(xlsx), "--instrument", str(defn), "--columns",
                             "q{item}", "-o", str(d / "scores_xlsx.csv")],
                "xlsx_floor": [py, "-c", XLSX_FLOOR, str(xlsx)],
            }, args.repeats)
            _table(f"XLSX, {args.xlsx_rows:,} rows x {N_ITEMS} items", xres, labels)
            ratio = xres["xlsx_cli"][0] / xres["xlsx_floor"][0]
            print(f"  CLI / openpyxl floor: {ratio:.2f}x")
        print(f"\nload average during the run: {os.getloadavg()[0]:.1f} (2 cores: above 2 the times are inflated)")


if __name__ == "__main__":
    main()
