"""Portfolio runs: portfolio.yaml, every study through the pipeline, pooling by model, exclusions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mentor_eval import meta_analysis
from mentor_eval.cli import main
from mentor_eval.errors import ParameterError, StudyConfigError
from mentor_eval.portfolio import (
    load_portfolio,
    load_portfolio_result,
    models_table,
    program_table,
    run_portfolio,
    simulate_portfolio,
)

# Three programs of one model (enough for leave-one-out), one of another, and a broken one.
TINY_MODELS = ["narrative_weaving", "narrative_weaving", "narrative_weaving", "storytelling_circles"]


@pytest.fixture(scope="session")
def tiny_portfolio(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("portfolio")
    return simulate_portfolio(out, n_programs=5, min_participants=80, max_participants=120, models=TINY_MODELS,
                              heterogeneity=0.15, seed=3)


@pytest.fixture(scope="session")
def tiny_result(tiny_portfolio):
    return run_portfolio(tiny_portfolio, scheduler="serial")


def test_sample_portfolio_files(tiny_portfolio, tmp_path):
    cfg = load_portfolio(tiny_portfolio)
    assert len(cfg.programs) == 5 and cfg.group_by == "model" and cfg.test == "knha"
    assert all(p.path.name == "study.yaml" for p in cfg.programs)
    # same seed, same programs (the first program does not depend on how many follow)
    again = simulate_portfolio(tmp_path, n_programs=2, min_participants=80, max_participants=120,
                               models=TINY_MODELS, heterogeneity=0.15, seed=3, broken=False)
    first = "programs/01-narrative-weaving"
    for name in ("participants.csv", "responses.csv", "truth.json"):
        assert (tiny_portfolio.parent / first / name).read_bytes() == (again.parent / first / name).read_bytes()


def test_broken_study_is_listed_with_its_reason(tiny_result):
    progs = tiny_result.programs
    assert list(progs["status"]) == ["included"] * 4 + ["excluded"]
    reason = progs["reason"].iloc[-1]
    assert "failed validation" in reason and "item_in_range" in reason and "quarantined" in reason
    assert not (tiny_result.effects["program"] == progs["program"].iloc[-1]).any()
    assert "left out" in tiny_result.summary()


def test_pooling_equals_meta_analysis_of_the_programs_effects(tiny_result):
    eff = tiny_result.effects
    assert set(eff["status"]) == {"included"}
    np.testing.assert_allclose(eff["variance"], eff["g_se"] ** 2)
    direct = meta_analysis(eff, effect="g", variance="variance", by=["model", "outcome"], study="row_label",
                           method="REML", test="knha")
    ran = tiny_result.random().sort_values(["group", "outcome"]).reset_index(drop=True)
    exp = direct.random().sort_values(["model", "outcome"]).reset_index(drop=True)
    np.testing.assert_allclose(ran["estimate"], exp["estimate"], atol=1e-12)
    np.testing.assert_allclose(ran["tau2"], exp["tau2"], atol=1e-12)
    assert list(ran["k"]) == [3, 3, 1, 1]  # narrative weaving x 2 outcomes, storytelling circles x 2
    assert set(tiny_result.leave_one_out["group"]) == {"narrative_weaving"}
    assert len(tiny_result.leave_one_out) == 6


def test_effects_carry_model_attributes_and_design_quality(tiny_result):
    eff = tiny_result.effects
    assert set(eff["format"]) == {"dyad", "group"}
    assert eff.loc[eff["family"] == "belonging", "targeted"].all()
    d = tiny_result.design
    assert len(d) == 4 and d["attrition_verdict"].notna().all()
    assert d["baseline_category"].str.len().gt(0).all()
    # the programs' tables hold only aggregates: no participant identifiers anywhere
    for t in tiny_result.tables().values():
        assert "participant_id" not in t.columns
    table = program_table(tiny_result)
    assert len(table) == len(eff) and table["g (95% CI)"].str.contains(" to ").all()
    assert len(models_table(tiny_result)) == 4
    # format (dyad vs group) varies, whether the model targets the outcome does not
    assert set(tiny_result.regression["term"]) == {"intercept", "format[group]"}
    assert "targeted" not in tiny_result.regression_fit["moderators"].iloc[0]


def test_write_and_load_round_trip(tiny_result, tmp_path):
    tiny_result.write(tmp_path)
    back = load_portfolio_result(tmp_path)
    for name, t in tiny_result.tables().items():
        got = back.tables()[name]
        assert len(got) == len(t), name
    pd.testing.assert_frame_equal(back.pooled, tiny_result.pooled, check_dtype=False)
    assert back.provenance["name"] == tiny_result.name


def _write(tmp_path: Path, cfg: dict) -> Path:
    p = tmp_path / "portfolio.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


@pytest.mark.parametrize("cfg,match", [
    ({"studies": []}, "'studies' must list"),
    ({"studies": ["nowhere/*"]}, "matches no study"),
    ({"studies": ["missing"]}, "neither a study.yaml"),
    ({"studies": ["programs/*"], "method": "ML"}, "'method' must be one of REML, DL"),
    ({"studies": ["programs/*"], "colour": 1}, "'colour' is not a portfolio key"),
    ({"studies": ["programs/*"], "moderators": ["age"]}, "'moderators' must list"),
    ({"studies": ["programs/*"], "privacy": {"min_cell": 0}}, "privacy.min_cell"),
])
def test_config_errors_name_the_key(tiny_portfolio, cfg, match):
    (tiny_portfolio.parent / "bad").mkdir(exist_ok=True)
    # globs and folders are relative to the portfolio file's folder: point the bad files at the sample
    cfg = {**cfg, "studies": [f"../{s}" for s in cfg["studies"]]} if cfg["studies"] else cfg
    path = _write(tiny_portfolio.parent / "bad", cfg)
    with pytest.raises(StudyConfigError, match=match):
        load_portfolio(path)


def test_run_portfolio_argument_errors(tiny_portfolio):
    with pytest.raises(ParameterError, match="'workers' parameter"):
        run_portfolio(tiny_portfolio, scheduler="serial", workers=0)


def test_cli_runs_without_report_lists_exclusions_and_keeps_disclosure_control(tiny_portfolio, tmp_path, capsys):
    cfg = yaml.safe_load(tiny_portfolio.read_text())
    cfg["studies"] = [str(tiny_portfolio.parent / "programs" / "04-storytelling-circles"),
                      str(tiny_portfolio.parent / "programs" / "05-narrative-weaving")]
    cfg["privacy"] = {"min_cell": 1000}  # above every arm: the program's effects must be held back
    path = _write(tmp_path, cfg)
    rc = main(["portfolio", str(path), "--out", str(tmp_path / "out"), "--scheduler", "serial", "--no-report"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "1 of 2 programs analysed" in out.out and "left out: Program 05" in out.out
    back = load_portfolio_result(tmp_path / "out" / "tables")
    assert (tmp_path / "out" / "tables" / "pooled.csv").is_file() and len(back.pooled) == 0
    eff = back.effects
    assert len(eff) == 2 and (eff["status"] == "left out").all() and eff["g"].isna().all()
    assert eff["reason"].str.contains("disclosure control").all()
    assert back.programs["min_cell"].iloc[0] == 1000
    assert main(["portfolio", str(tmp_path / "nope.yaml")]) == 2


def _program(name: str, model: str, fmt: str, g: float, se: float, *, status: str = "included"):
    from mentor_eval.portfolio import ProgramResult

    eff = pd.DataFrame([{"program": name, "arm": model, "arm_label": model.title(), "model": model,
                         "model_name": model.title(), "format": fmt, "population": None, "outcome": "o.total",
                         "outcome_label": "O: total", "family": "hope", "targeted": True, "g": g, "g_se": se,
                         "variance": se**2, "g_ci_low": g - 2 * se, "g_ci_high": g + 2 * se, "estimate": g,
                         "ci_low": g - 2 * se, "ci_high": g + 2 * se, "p": 0.01, "n_arm": 50.0,
                         "n_ref": 50.0, "status": status, "reason": "" if status == "included" else "hidden"}])
    return ProgramResult(name, f"{name}/study.yaml", "included", "", eff, pd.DataFrame(), {"design": "randomized"})


def test_pool_programs_by_format_with_meta_regression_by_hand():
    from mentor_eval.portfolio import PortfolioConfig, pool_programs

    progs = [_program("A", "m1", "dyad", 0.2, 0.1), _program("B", "m2", "dyad", 0.4, 0.12),
             _program("C", "m3", "group", 0.1, 0.1), _program("D", "m3", "group", 0.3, 0.15),
             _program("E", "m3", "group", 9.9, 0.1, status="left out")]
    cfg = PortfolioConfig(name="p", path=None, programs=(), group_by="format", method="DL", test="z",
                          moderators=("format",))
    res = pool_programs(progs, cfg)
    ran = res.random().set_index("group")
    assert set(ran.index) == {"dyad", "group"} and list(ran.loc[:, "k"]) == [2, 2]
    # DerSimonian-Laird by hand for the dyad pair
    y, v = np.array([0.2, 0.4]), np.array([0.01, 0.0144])
    w = 1 / v
    mu_fe = (w * y).sum() / w.sum()
    q = (w * (y - mu_fe) ** 2).sum()
    tau2 = max(0.0, (q - 1) / (w.sum() - (w**2).sum() / w.sum()))
    wr = 1 / (v + tau2)
    assert ran.loc["dyad", "tau2"] == pytest.approx(tau2, abs=1e-12)
    assert ran.loc["dyad", "estimate"] == pytest.approx((wr * y).sum() / wr.sum(), abs=1e-12)
    assert ran.loc["dyad", "group_label"] == "Dyad"
    # the left-out effect is not pooled; the regression compares group with dyad
    assert list(res.regression["term"]) == ["intercept", "format[group]"]
    assert res.notes["reason"].str.contains("only 2 program").sum() == 2


def test_duplicate_program_names_are_told_apart_by_path():
    from mentor_eval.portfolio import PortfolioConfig, pool_programs

    progs = [_program("Same", "m1", "dyad", 0.2, 0.1), _program("Same", "m1", "dyad", 0.3, 0.1)]
    progs[1] = progs[1].__class__("Same", "other/study.yaml", "included", "", progs[1].effects, pd.DataFrame(), {})
    res = pool_programs(progs, PortfolioConfig(name="p", path=None, programs=()))
    assert res.programs["program"].is_unique
    assert res.weights["study"].is_unique


def test_words_for_an_empty_portfolio_and_consistency_in_plain_words():
    from mentor_eval.portfolio import (
        PortfolioConfig,
        consistency_sentence,
        pool_programs,
        portfolio_summary,
        standout_sentences,
    )

    res = pool_programs([_program("A", "m1", "dyad", 0.2, 0.1, status="left out")],
                        PortfolioConfig(name="p", path=None, programs=()))
    assert "nothing can be said" in portfolio_summary(res)[-1]
    assert "No model has three" in standout_sentences(res)[0]
    row = {"k": 6, "i2": 80.0, "tau": 0.2, "pi_low": 0.05, "pi_high": 0.6}
    text = consistency_sentence(row)
    assert "differ a lot" in text and "very likely also help" in text
    assert "could do better or worse" in consistency_sentence({**row, "pi_low": -0.1})
    assert consistency_sentence({"k": 1}).startswith("Only one program")


def test_regression_table_names_the_reference_level(tiny_result):
    from mentor_eval.portfolio import regression_table

    t = regression_table(tiny_result)
    assert "format: group (vs dyad)" in set(t["Term"])
    assert not t["Outcome"].str.contains(r"\.total").any()  # labels, not ids
