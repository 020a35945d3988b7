"""``mentor-eval validate [STUDY_YAML]``: check a study's data files, write clean data and the quarantine."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from mentor_eval.cli._common import STUDY_ARG, default_out, study_path_or_sample

if TYPE_CHECKING:
    from mentor_eval.validation import ValidationResult


def print_summary(result: ValidationResult, paths: dict[str, Path], console: Console, *, first: int = 10) -> None:
    """Counts per rule, the first failures, and rows read = clean + quarantined per file."""
    console.print(f"[bold]Validation of {result.study_name}[/bold]")
    counts = Table(title="rows read = clean + quarantined", title_justify="left")
    for col in ("file", "table", "unit", "rows read", "clean", "quarantined"):
        counts.add_column(col, justify="right" if col in ("rows read", "clean", "quarantined") else "left")
    for rec in result.counts.to_dict("records"):
        counts.add_row(rec["file"], rec["table"], rec["unit"], str(rec["rows_read"]), str(rec["clean"]),
                       str(rec["quarantined"]))
    console.print(counts)
    for rec in result.counts.to_dict("records"):
        console.print(f"{rec['file']}: rows read = clean + quarantined: {rec['rows_read']} = {rec['clean']} + "
                      f"{rec['quarantined']}")
    rc = result.rule_counts()
    if len(rc):
        rules = Table(title="Findings per rule", title_justify="left")
        for col in ("severity", "rule", "n"):
            rules.add_column(col, justify="right" if col == "n" else "left")
        for rec in rc.to_dict("records"):
            style = "red" if rec["severity"] == "failure" else "yellow"
            rules.add_row(f"[{style}]{rec['severity']}[/{style}]", rec["rule"], str(rec["n"]))
        console.print(rules)
    if len(result.failures):
        shown = result.failures.head(first)
        fails = Table(title=f"First {len(shown)} of {len(result.failures)} failure(s)", title_justify="left")
        for col in ("file", "source row", "column", "value", "rule", "message"):
            fails.add_column(col, overflow="fold")
        for rec in shown.to_dict("records"):
            fails.add_row(*[("" if v is None or v != v else str(v)) for v in (
                rec["file"], rec["source_row"], rec["column"], rec["value"], rec["rule"], rec["message"])])
        console.print(fails)
    if len(result.identifying_columns):
        for rec in result.identifying_columns.to_dict("records"):
            console.print(f"[yellow]identifying column[/yellow] {rec['file']}:{rec['column']} ({rec['reason']}): "
                          f"{rec['action']}")
    unexpected = result.warnings[result.warnings["rule"] == "unexpected_column"]
    if len(unexpected):
        console.print("Unexpected columns (kept as text): " + ", ".join(
            f"{f}:{c}" for f, c in zip(unexpected["file"], unexpected["column"], strict=True)))
    for note in result.notes:
        console.print(f"[dim]note: {note}[/dim]")
    console.print("Wrote: " + ", ".join(str(p) for p in paths.values()))
    status = "clean" if result.ok else "rows quarantined or failures found"
    console.print(f"[bold]Result: {status}; {len(result.warnings)} warning(s).[/bold]")


def run_validate(study_yaml: Path | None = None, out: Path | None = None, *, strict: bool = False,
                 console: Console | None = None) -> int:
    """Validate, write the outputs, print the summary; return the exit status (0 clean, 1 quarantined
    rows or failures, or warnings with ``strict``). Unusable inputs raise (the CLI exits 2)."""
    from mentor_eval.study import load_study
    from mentor_eval.validation import validate_study

    study = load_study(study_yaml, check_files=False)
    result = validate_study(study)
    paths = result.write(default_out(study, "validation", out))
    print_summary(result, paths, console or Console(width=140))
    if not result.ok or (strict and len(result.warnings)):
        return 1
    return 0


def register(app: typer.Typer) -> None:
    @app.command("validate")
    def validate_cmd(
        study_yaml: Path | None = STUDY_ARG,
        out: Path | None = typer.Option(None, "--out", "-o",
                                        help="Output folder (default: reports/<study>/validation/)."),
        strict: bool = typer.Option(False, "--strict", help="Exit 1 on warnings too."),
    ) -> None:
        """Validate a study's data: clean data, quarantine.csv and validation.json; exit 1 if rows were
        quarantined (or, with --strict, on warnings), 2 if an input is unusable."""
        status = run_validate(study_path_or_sample(study_yaml), out, strict=strict)
        if status:
            raise typer.Exit(status)
