"""Benchmark a portfolio run (issue 15): serial against a two-worker Dask LocalCluster.

A simulated portfolio of ``--programs`` programs (300-1,000 participants each, four models)
runs through :func:`mentor_eval.run_portfolio` serially and on a ``LocalCluster`` of two
worker processes; the script prints both wall times (the Dask time includes starting the
cluster), whether the pooled results agree, and the time of the report step alone (the
portfolio notebook rendered from the written tables, as ``mentor-eval portfolio`` does;
target < 30 s).

    python benchmarks/bench_portfolio.py [--programs 200] [--workers 2] [--skip-serial]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--programs", type=int, default=200)
    ap.add_argument("--min-participants", type=int, default=300)
    ap.add_argument("--max-participants", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip-serial", action="store_true", help="only the Dask run (no agreement check)")
    args = ap.parse_args(argv)

    import numpy as np
    import pandas as pd

    from mentor_eval.cli.report import _notebook_path
    from mentor_eval.portfolio import run_portfolio, simulate_portfolio
    from mentor_eval.report import ensure_kernel, render

    ensure_kernel()  # a one-time install is not part of a render
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        t = time.perf_counter()
        path = simulate_portfolio(tmp_path / "pf", n_programs=args.programs, min_participants=args.min_participants,
                                  max_participants=args.max_participants, seed=args.seed)
        print(f"simulated {args.programs} programs ({args.min_participants}-{args.max_participants} participants) "
              f"in {time.perf_counter() - t:.1f} s (not timed below)")
        serial = None
        if not args.skip_serial:
            t = time.perf_counter()
            serial = run_portfolio(path, scheduler="serial")
            ts = time.perf_counter() - t
            print(f"serial:                       {ts:7.1f} s  ({ts / args.programs:.2f} s per program)")
        t = time.perf_counter()
        dask = run_portfolio(path, scheduler="local", workers=args.workers)
        td = time.perf_counter() - t
        print(f"Dask LocalCluster, {args.workers} workers:  {td:7.1f} s  ({td / args.programs:.2f} s per program, "
              "cluster start included)")
        if serial is not None:
            print(f"speed-up: {ts / td:.2f}x")
            same = True
            for name, table in serial.tables().items():
                try:
                    pd.testing.assert_frame_equal(dask.tables()[name], table, check_exact=True)
                except AssertionError:
                    same = False
                    print(f"  table {name} differs")
            a, b = serial.random(), dask.random()
            worst = float(np.nanmax(np.abs(a[["estimate", "tau2", "ci_low", "ci_high"]].to_numpy()
                                           - b[["estimate", "tau2", "ci_low", "ci_high"]].to_numpy())))
            print(f"pooled results identical: {same} (largest difference in estimate/tau2/CI: {worst:.1e})")
        print(dask.summary())
        tables = tmp_path / "out" / "tables"
        dask.write(tables)
        t = time.perf_counter()
        res = render(_notebook_path("portfolio_report"), {"results_dir": str(tables)}, tmp_path / "out",
                     progress=False, html_name="portfolio_report.html")
        tr = time.perf_counter() - t
        print(f"report step: {tr:.1f} s, HTML {res.html.stat().st_size / 1e6:.2f} MB  (target < 30 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
