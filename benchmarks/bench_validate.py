"""Benchmark: read + validate + quarantine a 1,000,000-row long responses file (30 items).

Target: under 4 s wall and 1.5 GB peak memory (resident set size) for reading, validating and
quarantining; the data are generated first (not timed) into a temporary folder.

Run: ``python benchmarks/bench_validate.py [--rows N]``.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

# 30 items: Adult Hope Scale (12, 1-8), General Belongingness Scale (12), Children's Hope Scale (6)
INSTRUMENTS = [
    {"id": "adult_hope_scale", "form": "8-point", "columns": "ahs_{item}"},
    {"id": "general_belongingness_scale", "columns": "gbs_{item}"},
    {"id": "childrens_hope_scale", "columns": "chs_{item}"},
]


def make_study(folder: Path, n_rows: int, seed: int = 0) -> Path:
    from mentor_eval.instruments import load_instrument

    rng = np.random.default_rng(seed)
    waves = ["baseline", "midpoint", "post", "followup"]
    n_people = n_rows // len(waves)
    pids = np.array([f"P{i:07d}" for i in range(n_people)])
    arms = np.where(np.arange(n_people) % 2 == 0, "ctrl", "nw")
    pd.DataFrame({"participant_id": pids, "arm": arms, "site_id": [f"S{i % 40}" for i in range(n_people)],
                  "age": rng.integers(12, 19, n_people)}).to_csv(folder / "participants.csv", index=False)
    cols: dict[str, object] = {
        "participant_id": np.repeat(pids, len(waves)),
        "wave": np.tile(waves, n_people),
        "completed_at": np.tile(["2024-01-15", "2024-04-15", "2024-07-15", "2024-12-15"], n_people),
    }
    for spec in INSTRUMENTS:
        inst = load_instrument(spec["id"], form=spec.get("form"))
        rs = inst.response_scale
        for col in inst.column_names(spec["columns"]).values():
            v = rng.integers(rs.min, rs.max + 1, n_people * len(waves)).astype(object)
            v[rng.random(len(v)) < 0.02] = ""  # 2% unanswered
            cols[col] = v
    frame = pd.DataFrame(cols)
    # 0.1% of rows with an out-of-range code, so the quarantine path is exercised
    bad = rng.choice(len(frame), size=max(1, len(frame) // 1000), replace=False)
    frame.loc[bad, "ahs_1"] = 99
    frame.to_csv(folder / "responses.csv", index=False)
    study = {
        "name": "Benchmark study", "design": "randomized",
        "arms": [{"key": "ctrl", "label": "Control", "model": "control"},
                 {"key": "nw", "label": "Narrative Weaving", "model": "narrative_weaving"}],
        "waves": [{"key": w, "week": 12 * i} for i, w in enumerate(waves)],
        "instruments": INSTRUMENTS,
        "outcomes": {"primary": ["adult_hope_scale.total"]},
        "covariates": ["age"], "clusters": ["site_id"],
        "files": {"participants": "participants.csv", "responses": "responses.csv"},
    }
    (folder / "study.yaml").write_text(yaml.safe_dump(study, sort_keys=False), encoding="utf-8")
    return folder / "study.yaml"


def measure(study_path: Path) -> int:
    """Validate in this (fresh) process and print wall time and peak resident memory."""
    from mentor_eval.study import load_study
    from mentor_eval.validation import validate_study

    study = load_study(study_path)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    result = validate_study(study)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    c = result.counts
    assert (c["rows_read"] == c["clean"] + c["quarantined"]).all()
    print(c.to_string(index=False))
    print(f"read + validate + quarantine: {wall:.2f} s wall (target < 4 s); peak RSS {peak:.0f} MB "
          f"(after imports: {rss0:.0f} MB; target < 1500 MB)")
    return 0 if wall < 4 and peak < 1500 else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--study", type=Path, help="Only validate this generated study (used internally).")
    args = ap.parse_args(argv)
    if args.study is not None:
        return measure(args.study)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        path = make_study(Path(tmp), args.rows)
        size = (Path(tmp) / "responses.csv").stat().st_size / 1e6
        print(f"generated {args.rows:,} rows ({size:.0f} MB) in {time.perf_counter() - t0:.1f} s")
        # a fresh process, so that peak memory is validation's own
        return subprocess.run([sys.executable, __file__, "--study", str(path)], check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
