"""Benchmark: read (CSV) + schema validation + scoring of 1,000,000 respondents x 30 items.

Target (issue 2): under 3 s wall and under 1.2 GB peak memory on 2 cores for the
whole path. The data file is generated first (not timed): 5 scales of 6 items,
some reverse-keyed, 5-point responses, 2% missing.

    python benchmarks/bench_scoring.py [--rows 1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

N_ITEMS = 30
N_SCALES = 5


def _definition() -> dict:
    items = []
    scales = []
    for s in range(N_SCALES):
        ids = [str(s * 6 + j + 1) for j in range(6)]
        for j, i in enumerate(ids):
            items.append({"id": i, "gist": f"benchmark item {i}", "reverse": j in (1, 4), "subscale": f"s{s + 1}"})
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


def _write_data(path: Path, rows: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 6, size=(rows, N_ITEMS)).astype(float)
    x[rng.random(x.shape) < 0.02] = np.nan
    df = pd.DataFrame(x, columns=[f"q{i + 1}" for i in range(N_ITEMS)])
    df = df.astype("Int64")
    df.insert(0, "participant_id", np.arange(rows))
    df.to_csv(path, index=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--engine", choices=("c", "pyarrow"), default="c",
                    help="pandas CSV engine (pyarrow's threads lose on a loaded 2-core machine)")
    ap.add_argument("--keep", type=Path, default=None, help="directory to keep the generated files in")
    args = ap.parse_args()

    from mentor_eval.instruments import load_instrument
    from mentor_eval.scoring import score

    with tempfile.TemporaryDirectory() as tmp:
        d = args.keep or Path(tmp)
        d.mkdir(parents=True, exist_ok=True)
        defn = d / "bench_scale.yaml"
        defn.write_text(yaml.safe_dump(_definition()))
        data = d / "responses.csv"
        t = time.perf_counter()
        # Generate in a child process so the peak memory below is the timed path's alone.
        child = multiprocessing.get_context("spawn").Process(target=_write_data, args=(data, args.rows))
        child.start()
        child.join()
        print(f"generated {args.rows:,} rows x {N_ITEMS} items in {time.perf_counter() - t:.1f} s "
              f"({data.stat().st_size / 1e6:.0f} MB)")
        inst = load_instrument(defn)

        t0 = time.perf_counter()
        frame = pd.read_csv(data, engine=args.engine)
        t1 = time.perf_counter()
        scores = score(frame, inst, "q{item}")  # validates with the pandera schema, then scores
        t2 = time.perf_counter()

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"read      {t1 - t0:6.2f} s")
    print(f"validate+score {t2 - t1:6.2f} s")
    print(f"total     {t2 - t0:6.2f} s   (target < 3 s)")
    print(f"peak RSS  {peak_mb:6.0f} MB  (target < 1200 MB)")
    print(f"scored {len(scores):,} rows; mean s1 = {np.nanmean(scores['s1']):.3f}")


if __name__ == "__main__":
    main()
