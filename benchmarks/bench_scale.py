"""Benchmark: how time and memory grow as the data double, 100,000 -> 3,200,000 rows.

For each size, each in a fresh process (wall time and peak resident memory):

* ``score``    - ``read_file`` + ``score`` of a CSV with 30 items (the documented API);
* ``validate`` - ``validate_study`` of a long responses file with 30 items (4 waves);
* ``mixed``    - the public ``mixed_model`` call, random intercept per participant, 4 waves.

It prints, per step, the time and memory at each size and the growth factor per doubling (about
2 is linear; clearly above 2 is superlinear). A step whose run exceeds ``--timeout`` seconds is not
run at larger sizes. Run it niced on a shared machine:

    nice python benchmarks/bench_scale.py [--start 100000] [--max-rows 3200000] [--timeout 300]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scoring import _definition, _env  # noqa: E402

SCORE = """
import sys
from mentor_eval.io import read_file
from mentor_eval.scoring import score
s = score(read_file(sys.argv[1]).data, sys.argv[2], "q{item}")
"""

VALIDATE = """
import sys
from mentor_eval.study import load_study
from mentor_eval.validation import validate_study
r = validate_study(load_study(sys.argv[1]))
c = r.counts
assert (c["rows_read"] == c["clean"] + c["quarantined"]).all()
"""

MIXED_DATA = """
import sys
sys.path.insert(0, sys.argv[3])
from bench_mixed import simulate
simulate(int(sys.argv[1]) // 4).to_parquet(sys.argv[2])
"""

MIXED = """
import sys
import pandas as pd
from mentor_eval.outcomes import mixed_model
data = pd.read_parquet(sys.argv[1])
res = mixed_model(data)
"""


def _run(cmd: list[str], timeout: float) -> tuple[float, float] | None:
    """Wall seconds and peak RSS (MB) of one fresh process (GNU time, see bench_scoring); None on timeout."""
    wrapped = ["/usr/bin/time", "-f", "MAXRSS_KB=%M", *cmd] if Path("/usr/bin/time").exists() else cmd
    t = time.perf_counter()
    proc = subprocess.Popen(wrapped, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env())
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None
    wall = time.perf_counter() - t
    text = err.decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} ... failed ({proc.returncode}):\n{text[-2000:]}")
    peaks = [int(line.split("=", 1)[1]) for line in text.splitlines() if line.startswith("MAXRSS_KB=")]
    return wall, (peaks[-1] / 1024 if peaks else float("nan"))


def _generate(step: str, folder: Path, n: int, here: str) -> Path:
    """Write the data of one step in a child process, so that this process stays small."""
    code = {
        "score": "import sys; sys.path.insert(0, sys.argv[3]); from bench_scoring import _write_csv; "
                 "from pathlib import Path; _write_csv(Path(sys.argv[1]), int(sys.argv[2]))",
        "validate": "import sys; sys.path.insert(0, sys.argv[3]); from bench_validate import make_study; "
                    "from pathlib import Path; make_study(Path(sys.argv[1]).parent, int(sys.argv[2]))",
        "mixed": MIXED_DATA,
    }[step]
    target = folder / {"score": "responses_wide.csv", "validate": "study.yaml", "mixed": "mixed.parquet"}[step]
    if step == "mixed":
        subprocess.run([sys.executable, "-c", code, str(n), str(target), here], check=True, env=_env())
    else:
        subprocess.run([sys.executable, "-c", code, str(target), str(n), here], check=True, env=_env())
    return target


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--start", type=int, default=100_000)
    ap.add_argument("--max-rows", type=int, default=3_200_000)
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds one run may take")
    ap.add_argument("--steps", default="score,validate,mixed")
    args = ap.parse_args()
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    sizes = []
    n = args.start
    while n <= args.max_rows:
        sizes.append(n)
        n *= 2
    py = sys.executable
    here = str(Path(__file__).resolve().parent)
    results: dict[str, list[tuple[int, float, float]]] = {s: [] for s in steps}
    stopped: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        defn = root / "bench_scale.yaml"
        defn.write_text(yaml.safe_dump(_definition()))
        for n in sizes:
            folder = root / str(n)
            folder.mkdir()
            for step in steps:
                if step in stopped:
                    continue
                target = _generate(step, folder, n, here)
                cmd = {"score": [py, "-c", SCORE, str(target), str(defn)],
                       "validate": [py, "-c", VALIDATE, str(target)],
                       "mixed": [py, "-c", MIXED, str(target)]}[step]
                out = _run(cmd, args.timeout)
                if out is None:
                    print(f"{step:>8} {n:>10,} rows: over {args.timeout:.0f} s; larger sizes skipped", flush=True)
                    stopped.add(step)
                    continue
                results[step].append((n, *out))
                print(f"{step:>8} {n:>10,} rows: {out[0]:7.2f} s {out[1]:7.0f} MB", flush=True)
            for f in folder.iterdir():  # keep the disk use bounded
                f.unlink()
    print("\nGrowth per doubling (time x, memory x; about 2 = linear, fresh-process start-up included):")
    for step, rows in results.items():
        parts = []
        for (n0, t0, m0), (n1, t1, m1) in zip(rows, rows[1:], strict=False):
            parts.append(f"{n0 // 1000}k->{n1 // 1000}k: {t1 / t0:.2f}x / {m1 / m0:.2f}x")
        print(f"  {step:>8}: " + ("; ".join(parts) if parts else "(one size only)"))
    print(f"\nload average: {os.getloadavg()[0]:.1f} (2 cores: above 2 the times are inflated)")


if __name__ == "__main__":
    main()
