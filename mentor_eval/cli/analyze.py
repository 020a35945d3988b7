"""``mentor-eval analyze [study.yaml]``: run every outcome analysis and write the tables."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from mentor_eval.cli._common import STUDY_ARG, default_out, study_path_or_sample


def register(app: typer.Typer) -> None:
    @app.command("analyze")
    def analyze_cmd(
        study_path: Path | None = STUDY_ARG,
        out: Path | None = typer.Option(None, "--out", "-o", help="Output folder (default reports/<study>/analysis)."),
        no_mixed: bool = typer.Option(False, "--no-mixed", help="Skip the mixed models."),
    ) -> None:
        """Pre/post change, ANCOVA with contrasts, mixed models, reliable change, design checks."""
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        from mentor_eval.pipeline import run_study, write_tables
        from mentor_eval.study import load_study

        study = load_study(study_path_or_sample(study_path))
        con = Console()
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                      console=con, transient=True) as prog:
            prog.add_task(f"Analysing {study.name} ...", total=None)
            results = run_study(study, mixed=not no_mixed)
        folder = default_out(study, "analysis", out)
        paths = write_tables(results, folder)
        con.print(f"[bold]{study.name}[/bold]: wrote {len(paths)} files to {folder}", markup=True)
        if len(results.contrasts):
            t = Table(title="ANCOVA: each arm vs control (Holm within family)")
            for c in ("outcome", "arm", "estimate", "ci_low", "ci_high", "g", "p_adj"):
                t.add_column(c)
            for r in results.contrasts.itertuples(index=False):
                t.add_row(str(r.outcome), str(r.arm), f"{r.estimate:.2f}", f"{r.ci_low:.2f}", f"{r.ci_high:.2f}",
                          f"{getattr(r, 'g', float('nan')):.2f}", f"{r.p_adj:.3g}")
            con.print(t)
        for r in results.notes.itertuples(index=False):
            con.print(f"Note: {r.step} {r.target}: {r.reason}", markup=False)
