"""``mentor-eval score INPUT --instrument ID``: score a data file of item responses."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

import typer

from mentor_eval.errors import DataValidationError

if TYPE_CHECKING:
    import pandas as pd


def register(app: typer.Typer) -> None:
    @app.command("score")
    def score_cmd(
        input: Path = typer.Argument(..., help="CSV, Excel or SPSS file, one row per respondent."),
        instrument: str = typer.Option(..., "--instrument", "-i", help="Instrument id or definition file."),
        columns: str = typer.Option("{item}", "--columns", help="Item column pattern, e.g. 'ahs_{item}'."),
        form: str | None = typer.Option(None, "--form", help="Instrument form, e.g. 4-point."),
        sheet: str | None = typer.Option(None, "--sheet", help="Excel sheet name."),
        file_format: str | None = typer.Option(None, "--format",
                                               help="csv, xlsx, sav, qualtrics or redcap (default: from the "
                                                    "extension)."),
        encoding: str | None = typer.Option(None, "--encoding", help="Text encoding (default: detected)."),
        delimiter: str | None = typer.Option(None, "--delimiter", help="Field delimiter (default: detected)."),
        out: Path | None = typer.Option(None, "--out", "-o", help="Output CSV (default: print)."),
        keep: list[str] = typer.Option([], "--keep", help="Input columns to copy to the output (e.g. an id)."),
        instruments_dir: Path | None = typer.Option(None, "--instruments-dir"),
    ) -> None:
        """Score the scales of an instrument for every row of INPUT.

        INPUT is read like every study file (mentor_eval.io.read_file: encoding and delimiter
        detected, cells kept as typed), so a bad cell is reported with its row and column.
        """
        # imported here: the CLI starts every command, and only this one needs the readers
        import pandas as pd

        from mentor_eval.instruments import load_instrument
        from mentor_eval.io import read_file
        from mentor_eval.scoring import score

        inst = load_instrument(instrument, directory=instruments_dir, form=form)
        items = list(inst.column_names(columns, inst.scored_item_ids).values())
        spec = SimpleNamespace(path=input, format=file_format, sheet=sheet, encoding=encoding, delimiter=delimiter)
        raw = read_file(spec, compact=items)
        # Index by the file's own row numbers (header = row 1) so that a bad cell is reported where
        # the user sees it.
        frame = raw.data.set_axis(pd.Index(raw.provenance["_source_row"].to_numpy(), name="row"))
        missing = [k for k in keep if k not in frame.columns]
        if missing:
            raise DataValidationError(f"{input.name}: --keep column(s) not found: {', '.join(missing)}.")
        try:
            scores = score(frame, inst, columns)
        except DataValidationError as exc:
            raise DataValidationError(f"{input.name}: {exc}") from None
        result = pd.concat([frame[keep].astype(object), scores], axis=1) if keep else scores
        if out is None:
            typer.echo(result.to_csv(index=False), nl=False)
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            _write_csv(result, out)
            typer.echo(f"Scored {len(result)} row(s) of {input.name} with {inst.id}; wrote {out}.")


def _write_csv(frame: pd.DataFrame, out: Path) -> None:
    """Write the scores quickly: pyarrow's CSV writer (pandas' is ~10x slower on a million rows)."""
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        table = pa.Table.from_pandas(frame, preserve_index=False)
        try:  # unquoted like pandas' output, unless a kept text holds a delimiter or quote
            pacsv.write_csv(table, out, pacsv.WriteOptions(quoting_style="none"))
        except pa.ArrowInvalid:
            pacsv.write_csv(table, out, pacsv.WriteOptions(quoting_style="needed"))
    except (ImportError, TypeError, ValueError):  # pragma: no cover - exotic column types
        frame.to_csv(out, index=False)
