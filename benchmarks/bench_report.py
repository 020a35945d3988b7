"""Benchmark the report end to end (issue 7): the sample study and a 20,000-participant study.

Targets on 2 cores: the sample report under 30 s wall end to end, the simulated study of
20,000 participants under 3 minutes, each HTML under 8 MB. Each render runs the real
command (``mentor-eval report``) in a fresh process, so start-up, validation, analysis,
papermill and nbconvert are all counted.

    python benchmarks/bench_report.py [--participants 20000] [--skip-large]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _render(study: Path | None, out: Path) -> tuple[float, float]:
    cmd = [sys.executable, "-m", "mentor_eval", "report", "--out", str(out), "--no-progress"]
    if study is not None:
        cmd.insert(4, str(study))
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    return wall, (out / "evaluation_report.html").stat().st_size / 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--participants", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--skip-large", action="store_true", help="only the sample report")
    args = ap.parse_args(argv)

    from mentor_eval.report import ensure_kernel

    ensure_kernel()  # a one-time install is not part of a render
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        wall, size = _render(None, tmp_path / "sample")
        print(f"sample report:        {wall:6.1f} s wall, HTML {size:.2f} MB  (targets < 30 s, < 8 MB)")
        if not args.skip_large:
            from mentor_eval.simulate import simulate_study

            t = time.perf_counter()
            study = simulate_study(args.participants, seed=args.seed).write(tmp_path / "large_study")
            print(f"simulated {args.participants:,} participants in {time.perf_counter() - t:.1f} s (not timed below)")
            wall, size = _render(Path(study), tmp_path / "large")
            print(f"{args.participants:,}-participant report: {wall:6.1f} s wall, HTML {size:.2f} MB  "
                  "(targets < 180 s, < 8 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
