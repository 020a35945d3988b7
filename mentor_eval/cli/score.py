"""``mentor-eval score INPUT --instrument ID``: score a CSV or Excel file of item responses."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer

from mentor_eval.errors import DataValidationError
from mentor_eval.instruments import load_instrument
from mentor_eval.scoring import score


def _read_table(path: Path, sheet: str | None) -> pd.DataFrame:
    if not path.is_file():
        raise DataValidationError(f"Input file {path} does not exist.")
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            return pd.read_excel(path, sheet_name=sheet or 0)
        if suffix == ".csv":
            # sep=None sniffs comma, semicolon or tab; utf-8-sig accepts a BOM.
            return pd.read_csv(path, sep=None, engine="python", encoding="utf-8-sig")
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataValidationError(f"{path.name}: cannot be read as a table ({exc}).") from None
    raise DataValidationError(f"{path.name}: unsupported file type {suffix!r}; use .csv or .xlsx.")


def register(app: typer.Typer) -> None:
    @app.command("score")
    def score_cmd(
        input: Path = typer.Argument(..., help="CSV or Excel file, one row per respondent."),
        instrument: str = typer.Option(..., "--instrument", "-i", help="Instrument id."),
        columns: str = typer.Option("{item}", "--columns", help="Item column pattern, e.g. 'ahs_{item}'."),
        form: str | None = typer.Option(None, "--form", help="Instrument form, e.g. 4-point."),
        sheet: str | None = typer.Option(None, "--sheet", help="Excel sheet name."),
        out: Path | None = typer.Option(None, "--out", "-o", help="Output CSV (default: print)."),
        keep: list[str] = typer.Option([], "--keep", help="Input columns to copy to the output (e.g. an id)."),
        instruments_dir: Path | None = typer.Option(None, "--instruments-dir"),
    ) -> None:
        """Score the scales of an instrument for every row of INPUT."""
        inst = load_instrument(instrument, directory=instruments_dir, form=form)
        frame = _read_table(input, sheet)
        missing = [k for k in keep if k not in frame.columns]
        if missing:
            raise DataValidationError(f"{input.name}: --keep column(s) not found: {', '.join(missing)}.")
        scores = score(frame, inst, columns)
        result = pd.concat([frame[keep], scores], axis=1) if keep else scores
        if out is None:
            typer.echo(result.to_csv(index=False), nl=False)
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            result.to_csv(out, index=False)
            typer.echo(f"Scored {len(result)} row(s) of {input.name} with {inst.id}; wrote {out}.")

