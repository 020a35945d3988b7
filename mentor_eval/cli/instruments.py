"""``mentor-eval instruments list`` and ``mentor-eval instruments show ID``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from mentor_eval.instruments import list_instruments, load_instrument

_DIR_HELP = "A directory of your own instrument definitions (searched before the bundled library)."


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="Browse the instrument library.", no_args_is_help=True)

    @sub.command("list")
    def list_cmd(
        instruments_dir: Path | None = typer.Option(None, "--instruments-dir", help=_DIR_HELP),
    ) -> None:
        """List every instrument definition."""
        table = Table(title="Instruments", show_lines=False)
        for col in ("id", "name", "construct", "items", "scales", "range", "licence"):
            table.add_column(col, overflow="fold")
        for inst in list_instruments(instruments_dir):
            row = inst.summary()
            table.add_row(*(str(row[c]) for c in ("id", "name", "construct", "items", "scales", "range",
                                                  "licence")))
        Console(width=160).print(table)

    @sub.command("show")
    def show_cmd(
        instrument_id: str = typer.Argument(..., metavar="ID", help="Instrument id, e.g. adult_hope_scale."),
        instruments_dir: Path | None = typer.Option(None, "--instruments-dir", help=_DIR_HELP),
    ) -> None:
        """Show one instrument: citation, forms, items (gists) and scales."""
        inst = load_instrument(instrument_id, directory=instruments_dir)
        con = Console(width=120)
        c = inst.citation
        con.print(f"[bold]{inst.name}[/bold] ({inst.id}) - construct: {inst.construct}")
        con.print(f"Citation: {', '.join(c.authors)} ({c.year}). {c.title or ''}. {c.journal or ''}."
                  + (f" doi:{c.doi}" if c.doi else ""), markup=False)
        con.print(f"Licence: {inst.licence}", markup=False)
        if inst.age_range:
            lo, hi = inst.age_range
            con.print(f"Ages: {lo if lo is not None else '?'}-{hi if hi is not None else '?'}")
        for name, form in inst.forms.items():
            rs = form.response_scale
            labels = "; ".join(f"{k} {v}" for k, v in sorted(rs.labels.items()))
            default = " (default)" if name == inst.form else ""
            con.print(f"Form {name}{default}: {rs.min}-{rs.max}" + (f" [{labels}]" if labels else ""),
                      markup=False)
        items = Table(title="Items (gists in mentor-eval's words; administer the published form)")
        for col in ("id", "gist", "scale", "reverse", "filler"):
            items.add_column(col)
        for it in inst.items:
            items.add_row(it.id, it.gist, it.subscale or "", "yes" if it.reverse else "",
                          "yes" if it.filler else "")
        con.print(items)
        scales = Table(title="Scales")
        for col in ("id", "items", "method", "min answered", "range"):
            scales.add_column(col)
        for sc in inst.scales:
            lo, hi = inst.scale_range(sc.id)
            scales.add_row(sc.id, " ".join(sc.item_ids), sc.method, str(sc.min_answered), f"{lo:g}-{hi:g}")
        con.print(scales)
        for note in inst.notes:
            con.print(f"Note: {note}", markup=False)

    app.add_typer(sub, name="instruments")
