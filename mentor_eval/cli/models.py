"""``mentor-eval models list`` and ``mentor-eval models show KEY``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from mentor_eval.models import MentorshipModel, get_model, list_models

_STUDY_HELP = "A study.yaml whose custom models (its 'models:' list) are shown too."


def _custom(study: Path | None) -> tuple[MentorshipModel, ...]:
    if study is None:
        return ()
    from mentor_eval.study import load_study

    return load_study(study, check_files=False).custom_models


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="Browse the mentorship models an arm can implement.", no_args_is_help=True)

    @sub.command("list")
    def list_cmd(study: Path | None = typer.Option(None, "--study", help=_STUDY_HELP)) -> None:
        """List every mentorship model: key, name, format and targeted outcome families."""
        table = Table(title="Mentorship models")
        for col in ("key", "name", "format", "targets"):
            table.add_column(col, overflow="fold")
        for m in list_models(_custom(study)):
            name = f"{m.name} (custom)" if m.custom else m.name
            table.add_row(m.key, name, m.format, ", ".join(m.targets) or "-")
        Console(width=120).print(table)

    @sub.command("show")
    def show_cmd(
        key: str = typer.Argument(..., metavar="KEY", help="Model key, e.g. storytelling_circles."),
        study: Path | None = typer.Option(None, "--study", help=_STUDY_HELP),
    ) -> None:
        """Show every field of one model."""
        m = get_model(key, _custom(study))
        con = Console(width=110)
        table = Table(title=m.name, show_header=False)
        table.add_column("field", style="bold")
        table.add_column("value", overflow="fold")
        for fld, value in m.as_dict().items():
            shown = ", ".join(value) if isinstance(value, list) else ("yes" if value is True else
                                                                      "no" if value is False else str(value))
            table.add_row(fld, shown or "-")
        con.print(table)

    app.add_typer(sub, name="models")
