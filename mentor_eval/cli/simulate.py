"""``mentor-eval simulate``: write a synthetic study with a known truth."""

from __future__ import annotations

from pathlib import Path

import typer

from mentor_eval.errors import ParameterError


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    def simulate_cmd(
        out: Path = typer.Option(..., "--out", help="Directory to write study.yaml, participants.csv, "
                                                    "responses.csv and truth.json into."),
        participants: int = typer.Option(1200, "--participants", "-n", help="Number of participants."),
        seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same data)."),
        arms: list[str] | None = typer.Option(
            None, "--arms", help="Model keys of the arms, comma-separated or repeated; include 'control'. "
                                 "Default: control and five models."),
        sites: int = typer.Option(3, "--sites", help="Number of sites."),
        attrition: float = typer.Option(0.20, "--attrition", help="Share of mentored participants missing "
                                                                  "at the final wave."),
        differential_attrition: float = typer.Option(0.05, "--differential-attrition",
                                                     help="Extra attrition in the control arm."),
        item_missing: float = typer.Option(0.02, "--item-missing", help="Probability an item is skipped."),
        icc_site: float = typer.Option(0.05, "--icc-site", help="Latent ICC between sites."),
        icc_mentor: float = typer.Option(0.10, "--icc-mentor", help="Latent ICC between mentors/groups."),
        dosage: bool = typer.Option(True, "--dosage/--no-dosage", help="Simulate sessions attended."),
        name: str | None = typer.Option(None, "--name", help="Study name written to study.yaml."),
        cluster_onset: str = typer.Option("after_matching", "--cluster-onset",
                                          help="When mentor/group effects begin: after_matching (no effect at "
                                               "baseline) or baseline (constant at every wave, as before 0.2)."),
        clustered_arms: list[str] | None = typer.Option(
            None, "--clustered-arms", help="Arms whose mentors/groups carry a cluster effect, comma-separated "
                                           "or repeated. Default: every arm except control."),
        icc_group: float | None = typer.Option(None, "--icc-group", help="Latent ICC of group and community "
                                                                         "formats (default: --icc-mentor)."),
        mechanism: bool = typer.Option(False, "--mechanism/--no-mechanism",
                                       help="Generate each model's mechanism (belonging <-> hope through the middle "
                                            "wave) and its fidelity indicators; truth in truth.json 'mechanism'."),
        noncompliance: float = typer.Option(0.0, "--noncompliance",
                                            help="Share of each mentored arm who never take part."),
    ) -> None:
        """Simulate a multi-site mentoring study and write it as a loadable study."""
        from mentor_eval.simulate import simulate_study

        arm_list = None
        if arms:
            arm_list = [a.strip() for spec in arms for a in spec.split(",") if a.strip()]
            if not arm_list:
                raise ParameterError("--arms lists no model keys.")
        from mentor_eval.cli._common import progress

        with progress(f"Simulating {participants:,} participants ..."):
            sim = simulate_study(
                participants, arms=arm_list, sites=sites, attrition=attrition,
                differential_attrition=differential_attrition, item_missing=item_missing, icc_site=icc_site,
                icc_mentor=icc_mentor, dosage=dosage, seed=seed, cluster_onset=cluster_onset,
                clustered_arms=([a.strip() for spec in clustered_arms for a in spec.split(",") if a.strip()]
                                if clustered_arms else None),
                icc_group=icc_group, mechanism=mechanism, noncompliance=noncompliance,
            )
            path = sim.write(out, name=name)
        n_rows = len(sim.responses)
        typer.echo(f"Wrote {len(sim.participants)} participants ({n_rows} response rows) to {path.parent}.")
        typer.echo(f"Study file: {path}  (truth in {path.parent / 'truth.json'})")
