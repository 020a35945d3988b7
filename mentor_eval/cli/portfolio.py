"""``mentor-eval portfolio`` and ``simulate-portfolio``: pool many programs' evaluations by model."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "portfolio"


def register(app: typer.Typer) -> None:
    @app.command("portfolio")
    def portfolio_cmd(
        portfolio_path: Annotated[Path, typer.Argument(help="portfolio.yaml (or the folder holding it).")],
        out: Annotated[
            Path | None, typer.Option("--out", "-o", help="Output folder (default reports/<portfolio name>/).")
        ] = None,
        scheduler: Annotated[
            str, typer.Option("--scheduler", help="auto, serial, local (Dask worker processes on this machine) "
                                                  "or the address of a Dask scheduler, e.g. tcp://host:8786.")
        ] = "auto",
        workers: Annotated[
            int | None, typer.Option("--workers", "-w", help="Worker processes of the local Dask cluster.")
        ] = None,
        report: Annotated[bool, typer.Option("--report/--no-report", help="Render the HTML report.")] = True,
        audience: Annotated[
            str, typer.Option("--audience", "-a", help="funder (code hidden) or researcher (code shown).")
        ] = "funder",
        timeout: Annotated[int, typer.Option("--timeout", help="Seconds a single report cell may run.")] = 600,
        progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress.")] = True,
    ) -> None:
        """Run every study of a portfolio, pool the effects by mentorship model and render the report.

        Each study goes through validation, scoring and ANCOVA and its own disclosure control;
        a study that cannot be used is listed with its reason and left out.
        """
        from mentor_eval.portfolio import load_portfolio, run_portfolio

        cfg = load_portfolio(portfolio_path)  # configuration mistakes surface before any work
        folder = out if out is not None else Path("reports") / _slug(cfg.name)
        result = run_portfolio(cfg, scheduler=scheduler, workers=workers, progress=False)
        tables = folder / "tables"
        result.write(tables)
        progs = result.programs
        n_in = int((progs["status"] == "included").sum())
        typer.echo(f"{cfg.name}: {n_in} of {len(progs)} programs analysed "
                   f"({result.provenance['run']['seconds']:.1f} s, scheduler {result.provenance['run']['scheduler']}).")
        for r in progs[progs["status"] != "included"].itertuples():
            typer.secho(f"  left out: {r.program} ({r.path}): {r.reason}", fg=typer.colors.YELLOW)
        typer.echo(f"Tables: {tables}")
        if not report:
            return
        from mentor_eval.cli.report import _notebook_path
        from mentor_eval.report import render

        params = {"portfolio_path": str(Path(cfg.path).resolve()) if cfg.path else None,
                  "results_dir": str(tables.resolve()), "audience": audience}
        res = render(_notebook_path("portfolio_report"), params, folder, audience=audience, progress=progress,
                     timeout=timeout, html_name="portfolio_report.html")
        typer.echo(f"Report: {res.html} ({res.html.stat().st_size / 1e6:.1f} MB, {res.seconds:.1f} s)")

    @app.command("simulate-portfolio")
    def simulate_portfolio_cmd(
        out: Annotated[Path, typer.Option("--out", help="Folder to write portfolio.yaml and programs/ into.")],
        programs: Annotated[int, typer.Option("--programs", "-k", help="Number of programs.")] = 12,
        min_participants: Annotated[int, typer.Option("--min-participants", help="Smallest enrolment.")] = 300,
        max_participants: Annotated[int, typer.Option("--max-participants", help="Largest enrolment.")] = 1000,
        heterogeneity: Annotated[
            float, typer.Option("--heterogeneity", help="SD of true effects between programs of one model.")
        ] = 0.10,
        broken: Annotated[
            bool, typer.Option("--broken/--no-broken", help="Give one program a data problem.")
        ] = True,
        seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same portfolio).")] = 0,
    ) -> None:
        """Write a folder of simulated programs (several models, varying sizes) and its portfolio.yaml."""
        from mentor_eval.portfolio import simulate_portfolio

        path = simulate_portfolio(out, n_programs=programs, min_participants=min_participants,
                                  max_participants=max_participants, heterogeneity=heterogeneity, broken=broken,
                                  seed=seed)
        typer.echo(f"Wrote {programs} simulated programs and {path}.")
        typer.echo(f"Render its report with: mentor-eval portfolio {path}")
