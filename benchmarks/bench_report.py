"""Time the rendering of a report notebook: wall seconds and HTML size.

Usage::

    python benchmarks/bench_report.py NOTEBOOK [--param NAME=VALUE ...] [--audience funder]
        [--repeat 1] [--out DIR]

Prints one line per run (total, execute and convert seconds, HTML size in MB) and the
median. The first run also installs the ``mentor-eval`` kernel if it is missing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from mentor_eval.cli.report import parse_parameter
from mentor_eval.report import ensure_kernel, render


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebook", type=Path)
    ap.add_argument("--param", "-p", action="append", default=[], help="NAME=VALUE (JSON values allowed)")
    ap.add_argument("--audience", default="funder", choices=["funder", "researcher"])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None, help="output directory (default: a temporary one)")
    args = ap.parse_args(argv)

    params = dict(parse_parameter(p) for p in args.param)
    t0 = time.perf_counter()
    kernel = ensure_kernel()
    print(f"kernel {kernel!r} ready in {time.perf_counter() - t0:.2f} s")
    totals = []
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        for i in range(args.repeat):
            t = time.perf_counter()
            res = render(args.notebook, params, out, audience=args.audience, kernel_name=kernel, progress=False)
            wall = time.perf_counter() - t
            totals.append(wall)
            size = res.html.stat().st_size / 1e6
            print(f"run {i + 1}: {wall:.2f} s wall (execute {res.execute_seconds:.2f} s, "
                  f"convert {res.convert_seconds:.2f} s), HTML {size:.2f} MB")
    print(f"median wall: {statistics.median(totals):.2f} s over {len(totals)} run(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
