"""``mentor-eval psychometrics [study.yaml]``: reliability per wave and arm, invariance."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from mentor_eval.cli._common import STUDY_ARG, default_out, progress, study_path_or_sample


def register(app: typer.Typer) -> None:
    @app.command("psychometrics")
    def psychometrics_cmd(
        study_path: Path | None = STUDY_ARG,
        out: Path | None = typer.Option(None, "--out", "-o",
                                        help="Output folder (default reports/<study>/psychometrics)."),
        threshold: float = typer.Option(0.70, "--threshold", help="Flag scales whose alpha is below this."),
    ) -> None:
        """Reliability of every scale per wave (and per arm), and measurement invariance across arms."""
        from mentor_eval._params import check_in_interval
        from mentor_eval.data import load_analysis_data
        from mentor_eval.pipeline import (
            StepNotes,
            input_fingerprints,
            package_versions,
            run_psychometrics,
            write_table_files,
        )

        check_in_interval("psychometrics", "threshold", threshold, 0, 1)
        from mentor_eval.study import load_study

        study = load_study(study_path_or_sample(study_path))
        notes = StepNotes()
        with progress(f"Reliability and invariance of {study.name} ..."):
            data = load_analysis_data(study)
            tables = run_psychometrics(data, threshold=threshold, notes=notes)
        tables["notes"] = notes.frame()
        folder = default_out(study, "psychometrics", out)
        provenance = {
            "study": study.name, "command": "psychometrics", "versions": package_versions(),
            "parameters": {"reliability_threshold": threshold},
            "inputs": input_fingerprints(study).to_dict(orient="records"),
        }
        write_table_files(tables, provenance, folder)
        con = Console(width=140)
        rel = tables["reliability"]
        if len(rel):
            t = Table(title=f"Reliability in this sample (flag below {threshold:.2f})")
            for c in ("instrument", "scale", "wave", "n", "alpha", "alpha_ci_low", "alpha_ci_high", "omega_total"):
                t.add_column(c)
            for r in rel.itertuples(index=False):
                flag = " [red](low)[/red]" if r.below_threshold is True else ""
                t.add_row(r.instrument, r.scale, str(r.wave), str(r.n), f"{r.alpha:.3f}{flag}",
                          f"{r.alpha_ci_low:.3f}", f"{r.alpha_ci_high:.3f}", f"{r.omega_total:.3f}")
            con.print(t)
        inv = tables["invariance"]
        if len(inv):
            t = Table(title="Measurement invariance across arms (first wave given)")
            for c in ("instrument", "level", "cfi", "rmsea", "delta_cfi", "delta_rmsea", "verdict"):
                t.add_column(c)
            for r in inv.itertuples(index=False):
                t.add_row(r.instrument, r.level, f"{r.cfi:.3f}", f"{r.rmsea:.3f}", f"{r.delta_cfi:.3f}",
                          f"{r.delta_rmsea:.3f}", str(r.verdict))
            con.print(t)
        for r in tables["notes"].itertuples(index=False):
            con.print(f"Note: {r.step} {r.target}: {r.reason}", markup=False)
        con.print(f"Wrote the tables to {folder}")
