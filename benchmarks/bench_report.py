"""Benchmark the report end to end and print where the time goes (issue 16.3).

Targets on 2 cores: the sample report <= 10 s end to end, a 20,000-participant report <= 25 s,
each HTML <= 2 MB. The end-to-end time runs the real command (``mentor-eval report``) in a
fresh process, so start-up, validation, analysis, papermill and nbconvert are all counted;
medians of ``--repeats`` runs. Besides the wall time it prints the CPU time of the command and
its kernel (the machine may be shared: CPU seconds move less than wall seconds when other
work competes for the cores).

Two breakdowns follow each case:

* the fresh process's own stages, from the timestamps papermill writes into the executed
  notebook: command start-up (imports, reading study.yaml) before the notebook starts, kernel
  start, every notebook cell that took 0.05 s or more, and what follows the last cell (HTML
  conversion, writing, exit);
* the analysis cell split into its parts, timed in this process on one loaded data set:
  reading + validation + scoring, psychometrics (alpha, omega, CFA invariance), the outcome
  analyses (with and without the mixed models), the mechanisms (mediation bootstrap,
  fidelity, complier effects), disclosure control and writing the result tables.

    python benchmarks/bench_report.py [--participants 20000] [--skip-large] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any


def _stamp(text: str | None) -> float | None:
    return datetime.fromisoformat(text).timestamp() if text else None


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _render(study: Path | None, out: Path) -> dict[str, Any]:
    """Run ``mentor-eval report`` once in a fresh process; wall, CPU, sizes and stage times."""
    cmd = [sys.executable, "-m", "mentor_eval", "report", "--out", str(out), "--no-progress"]
    if study is not None:
        cmd.insert(4, str(study))
    cpu0 = _children_cpu()
    t0_abs = time.time()
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    t1_abs = t0_abs + wall
    html = out / "evaluation_report.html"
    kept = out / "evaluation_report.executed.ipynb"
    nb = json.loads(kept.read_text(encoding="utf-8"))
    pm = nb["metadata"].get("papermill", {})
    nb_start, nb_end = _stamp(pm.get("start_time")), _stamp(pm.get("end_time"))
    stages: list[tuple[str, float]] = []
    cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    starts = [_stamp(c["metadata"].get("papermill", {}).get("start_time")) for c in cells]
    if nb_start is not None and nb_end is not None and starts and starts[0] is not None:
        stages.append(("command start-up (imports, study.yaml) before the notebook", nb_start - t0_abs))
        stages.append(("kernel start (until the first cell runs)", starts[0] - nb_start))
        rest = 0.0
        for c in cells:
            d = float(c["metadata"].get("papermill", {}).get("duration") or 0.0)
            first = next((ln.strip() for ln in "".join(c["source"]).splitlines()
                          if ln.strip() and not ln.startswith("#")), "")
            if d >= 0.05:
                stages.append((f"  cell: {first[:58]}", d))
            else:
                rest += d
        stages.append(("  cells under 0.05 s each", rest))
        stages.append(("after the last cell (HTML conversion, exit)", t1_abs - nb_end))
    return {"wall": wall, "cpu": _children_cpu() - cpu0, "html_mb": html.stat().st_size / 1e6,
            "kept_mb": kept.stat().st_size / 1e6, "stages": stages}


def _timed(label: str, func, rows: list[tuple[str, float, float]]):
    t, c = time.perf_counter(), time.process_time()
    value = func()
    rows.append((label, time.perf_counter() - t, time.process_time() - c))
    return value


def breakdown(study: Path | None) -> list[tuple[str, float, float]]:
    """(part, wall seconds, CPU seconds) of the analysis cell, in this process, each part run once."""
    from mentor_eval import pipeline
    from mentor_eval.data import load_analysis_data
    from mentor_eval.report import export
    from mentor_eval.report.protect import protect
    from mentor_eval.study import load_study

    rows: list[tuple[str, float, float]] = []
    _timed("imports (pipeline, report)", lambda: __import__("mentor_eval.outcomes"), rows)
    st = _timed("load study.yaml", lambda: load_study(study), rows)
    data = _timed("read + validate + score", lambda: load_analysis_data(st), rows)
    notes = pipeline.StepNotes()
    psy = _timed("psychometrics (alpha, omega, CFA invariance)",
                 lambda: pipeline.run_psychometrics(data, notes=notes), rows)
    _timed("outcomes without mixed models", lambda: pipeline.run_outcomes(
        data, reliability=psy["reliability"], notes=pipeline.StepNotes(), mixed=False), rows)
    _timed("outcomes with mixed models", lambda: pipeline.run_outcomes(
        data, reliability=psy["reliability"], notes=notes), rows)
    _timed("mechanisms (mediation, fidelity, CACE)", lambda: pipeline.run_mechanisms(data, notes=notes), rows)
    raw = _timed("run_study (all of the above once more)", lambda: pipeline.run_study(st), rows)
    safe = _timed("disclosure control (protect)", lambda: protect(raw), rows)
    with tempfile.TemporaryDirectory() as tmp:
        _timed("result tables: CSV/JSON + Excel workbook",
               lambda: export.write_report_tables(safe, tmp, "evaluation_report"), rows)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--participants", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--skip-large", action="store_true", help="only the sample report")
    ap.add_argument("--skip-sample", action="store_true", help="only the large report")
    ap.add_argument("--no-breakdown", action="store_true", help="skip the in-process split of the analysis cell")
    args = ap.parse_args(argv)

    from mentor_eval.report import ensure_kernel

    ensure_kernel()  # a one-time install is not part of a render
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        cases: list[tuple[str, Path | None, str]] = []
        if not args.skip_sample:
            cases.append(("sample report", None, "<= 10 s, <= 2 MB"))
        if not args.skip_large:
            from mentor_eval.simulate import simulate_study

            t = time.perf_counter()
            big = simulate_study(args.participants, seed=args.seed).write(tmp_path / "large_study")
            print(f"simulated {args.participants:,} participants in {time.perf_counter() - t:.1f} s (not timed below)")
            cases.append((f"{args.participants:,}-participant report", Path(big), "<= 25 s, <= 2 MB"))
        for name, study, target in cases:
            runs = [_render(study, tmp_path / f"out_{i}_{name[:6]}") for i in range(args.repeats)]
            walls = [r["wall"] for r in runs]
            med = runs[walls.index(sorted(walls)[(len(walls) - 1) // 2])]
            print(f"{name}: {statistics.median(walls):6.1f} s wall (median of {len(walls)}; runs "
                  f"{', '.join(f'{w:.1f}' for w in walls)}), CPU {statistics.median(r['cpu'] for r in runs):.1f} s, "
                  f"HTML {med['html_mb']:.2f} MB, kept notebook {med['kept_mb']:.2f} MB  (targets {target})")
            print("  stages of the median run (wall seconds):")
            for label, sec in med["stages"]:
                print(f"    {label:<66} {sec:6.2f}")
            if not args.no_breakdown:
                print("  the analysis cell split up, in this process (wall / CPU seconds):")
                for label, sec, cpu in breakdown(study):
                    print(f"    {label:<66} {sec:6.2f} {cpu:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
