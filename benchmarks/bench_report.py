"""Benchmark the report end to end and print where the time goes (issue 16.3).

Targets on 2 cores: the sample report <= 10 s end to end, a 20,000-participant report <= 25 s,
each HTML <= 2 MB. The end-to-end time runs the real command (``mentor-eval report``) in a
fresh process, so start-up, validation, analysis, papermill and nbconvert are all counted;
medians of ``--repeats`` runs. The breakdown then times the same path's parts in this
process: reading + validation + scoring, the analyses (without psychometrics and mixed
models, then what each adds), disclosure control, building the report's tables and figures,
and the HTML conversion.

    python benchmarks/bench_report.py [--participants 20000] [--skip-large] [--repeats 1]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _render(study: Path | None, out: Path) -> tuple[float, float, float]:
    cmd = [sys.executable, "-m", "mentor_eval", "report", "--out", str(out), "--no-progress"]
    if study is not None:
        cmd.insert(4, str(study))
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    html = out / "evaluation_report.html"
    kept = out / "evaluation_report.executed.ipynb"
    return wall, html.stat().st_size / 1e6, kept.stat().st_size / 1e6


def _timed(label: str, func, rows: list[tuple[str, float]]):
    t = time.perf_counter()
    value = func()
    rows.append((label, time.perf_counter() - t))
    return value


def breakdown(study: Path | None) -> list[tuple[str, float]]:
    """Seconds per part of the report, in this process."""
    from mentor_eval.data import load_analysis_data
    from mentor_eval.pipeline import run_study
    from mentor_eval.report import display, export, figures, headline, html, narrative, tables
    from mentor_eval.report.protect import protect
    from mentor_eval.study import load_study

    rows: list[tuple[str, float]] = []
    st = _timed("load study.yaml", lambda: load_study(study), rows)
    _timed("read + validate + score", lambda: load_analysis_data(st), rows)
    _timed("analyses (no psychometrics, no mixed models)", lambda: run_study(st, psychometrics=False, mixed=False),
           rows)
    t = time.perf_counter()
    run_study(st, psychometrics=True, mixed=False)
    rows.append(("  + psychometrics (alpha, CFA, invariance)", time.perf_counter() - t - rows[-1][1]))
    t = time.perf_counter()
    raw = run_study(st)
    rows.append(("  + mixed models", time.perf_counter() - t - rows[-2][1] - rows[-1][1]))
    safe = _timed("disclosure control (protect)", lambda: protect(raw), rows)

    def content() -> int:
        parts = [headline.first_screen_html(safe), html.paragraphs_html(narrative.executive_summary(safe)),
                 html.bullets_html(narrative.limitations(safe))]
        figs = [headline.headline_figure(safe), figures.flow_figure(safe), figures.forest_figure(safe)]
        for o in safe.study.outcomes.all:
            for make in (figures.means_figure, figures.change_figure, figures.reliable_change_figure):
                try:
                    figs.append(make(safe, o))
                except Exception:  # an outcome without that analysis
                    pass
        display.reset_plotlyjs()
        parts += [display.figure_html(f, include_plotlyjs=i == 0) for i, f in enumerate(figs)]
        for t in export.report_tables(safe).values():
            parts.append(html.table_html(t, "t"))
        _ = tables
        return sum(len(p) for p in parts)

    _timed("report tables, figures and text", content, rows)
    with tempfile.TemporaryDirectory() as tmp:
        _timed("Excel workbook", lambda: export.write_workbook(safe, Path(tmp) / "t.xlsx"), rows)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--participants", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--skip-large", action="store_true", help="only the sample report")
    ap.add_argument("--no-breakdown", action="store_true")
    args = ap.parse_args(argv)

    from mentor_eval.report import ensure_kernel

    ensure_kernel()  # a one-time install is not part of a render
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        cases: list[tuple[str, Path | None, str]] = [("sample report", None, "<= 10 s, <= 2 MB")]
        if not args.skip_large:
            from mentor_eval.simulate import simulate_study

            t = time.perf_counter()
            big = simulate_study(args.participants, seed=args.seed).write(tmp_path / "large_study")
            print(f"simulated {args.participants:,} participants in {time.perf_counter() - t:.1f} s (not timed below)")
            cases.append((f"{args.participants:,}-participant report", Path(big), "<= 25 s, <= 2 MB"))
        for name, study, target in cases:
            walls, size, kept = [], 0.0, 0.0
            for i in range(args.repeats):
                w, size, kept = _render(study, tmp_path / f"out_{i}_{name[:6]}")
                walls.append(w)
            print(f"{name}: {statistics.median(walls):6.1f} s wall (median of {len(walls)}), HTML {size:.2f} MB, "
                  f"kept notebook {kept:.2f} MB  (targets {target})")
            if not args.no_breakdown:
                for label, sec in breakdown(study):
                    print(f"    {label:<48} {sec:6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
