"""The ``mentor-eval`` command line.

Thin by design: each command group lives in its own module under
``mentor_eval.cli`` and exposes ``register(app)``; the work is done by the
library. User errors (:class:`~mentor_eval.errors.MentorEvalError`) are printed
without a traceback and exit with status 2; any other failure (a bug) is printed in
one line and exits with status 3; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer

from mentor_eval import __version__
from mentor_eval.errors import MentorEvalError

__all__ = ["app", "main"]

# Command modules, in the order their commands appear in --help.
_COMMAND_MODULES = (
    "instruments",
    "score",
    "models",
    "simulate",
    "validate",
    "psychometrics",
    "analyze",
    "report",
    "portfolio",
)

app = typer.Typer(
    name="mentor-eval",
    help="Evaluate whether mentorship programs raise belonging and hope.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_state = {"debug": False}


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"mentor-eval {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Show the version and exit."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks for errors."),
    allow_outside_paths: bool = typer.Option(
        False, "--allow-outside-paths",
        help="Let a study file name data files outside its own folder (only for study files you trust)."),
) -> None:
    _state["debug"] = debug
    if allow_outside_paths:
        import os

        from mentor_eval.study import OUTSIDE_PATHS_ENV

        # An environment variable, so that report notebooks (run in a kernel) load the study the same way.
        os.environ[OUTSIDE_PATHS_ENV] = "1"


for _name in _COMMAND_MODULES:
    try:
        _mod = importlib.import_module(f"mentor_eval.cli.{_name}")
    except ModuleNotFoundError as exc:  # a command group not built yet
        if exc.name != f"mentor_eval.cli.{_name}":
            raise
        continue
    _mod.register(app)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit status instead of raising ``SystemExit``."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        # Without standalone mode click returns a command's exit code instead of raising.
        rv = app(args=args, prog_name="mentor-eval", standalone_mode=False)
    except MentorEvalError as exc:
        if debug:
            raise
        typer.secho(f"Error: {exc}", err=True, fg=typer.colors.RED)
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        return 130
    except KeyboardInterrupt:
        if debug:
            raise
        typer.echo("Interrupted.", err=True)
        return 130
    except Exception as exc:
        import click

        if isinstance(exc, click.exceptions.ClickException):  # usage errors
            exc.show()
            return 2
        if debug:
            raise
        # A bug, not a user mistake: still no traceback for the user, but say what to do.
        typer.secho(f"Error: mentor-eval could not finish ({type(exc).__name__}: {_short(exc)}). This is a "
                    "problem in mentor-eval, not in your files; run the same command with --debug for the "
                    "details and report them.", err=True, fg=typer.colors.RED)
        return 3
    return rv if isinstance(rv, int) else 0


def _short(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def entry_point() -> None:
    """Console-script entry: ``mentor-eval``."""
    sys.exit(main())
