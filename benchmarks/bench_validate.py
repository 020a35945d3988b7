"""Benchmark: read + validate + quarantine a 1,000,000-row long responses file (30 items).

Target: under 4 s wall and 1.5 GB peak memory (resident set size) for reading, validating and
quarantining. The data are generated first (not timed) into a temporary folder; then, each in a
fresh process, interleaved and repeated (median wall time, peak memory):

* ``cli``   - ``mentor-eval validate study.yaml -o out/`` (what users run: also writes the clean
              data, quarantine.csv and validation.json);
* ``api``   - ``validate_study(load_study(...))``, the documented API (also prints its CPU time,
              steadier than wall time on a shared machine);
* ``floor`` - ``pandas.read_csv`` of both files + vectorised range / key checks, no reporting
              (what the work costs at least).

Run: ``python benchmarks/bench_validate.py [--rows N] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

# 30 items: Adult Hope Scale (12, 1-8), General Belongingness Scale (12), Children's Hope Scale (6)
INSTRUMENTS = [
    {"id": "adult_hope_scale", "form": "8-point", "columns": "ahs_{item}"},
    {"id": "general_belongingness_scale", "columns": "gbs_{item}"},
    {"id": "childrens_hope_scale", "columns": "chs_{item}"},
]


def _write_csv(columns: dict[str, object], path: Path) -> None:
    """Write columns (pyarrow or numpy arrays) as a plain CSV: unquoted header, empty = missing."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = pa.table({k: v if isinstance(v, (pa.Array, pa.ChunkedArray)) else pa.array(v) for k, v in columns.items()})
    with path.open("wb") as fh:
        fh.write((",".join(table.column_names) + "\n").encode())
        pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=False, quoting_style="none"))


def make_study(folder: Path, n_rows: int, seed: int = 0) -> Path:
    """Generate the benchmark study (column-wise with numpy and pyarrow, a few seconds)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from mentor_eval.instruments import load_instrument

    rng = np.random.default_rng(seed)
    waves = ["baseline", "midpoint", "post", "followup"]
    n_people = n_rows // len(waves)
    n = n_people * len(waves)
    pids = pc.binary_join_element_wise(
        "P", pc.utf8_lpad(pc.cast(pa.array(np.arange(n_people)), pa.string()), 7, "0"), "")
    person = np.arange(n_people)
    _write_csv({"participant_id": pids, "arm": pc.take(pa.array(["ctrl", "nw"]), pa.array(person % 2)),
                "site_id": pc.take(pa.array([f"S{i}" for i in range(40)]), pa.array(person % 40)),
                "age": rng.integers(12, 19, n_people)}, folder / "participants.csv")
    wave_index = pa.array(np.tile(np.arange(len(waves)), n_people))
    cols: dict[str, object] = {
        "participant_id": pc.take(pids, pa.array(np.repeat(person, len(waves)))),
        "wave": pc.take(pa.array(waves), wave_index),
        "completed_at": pc.take(pa.array(["2024-01-15", "2024-04-15", "2024-07-15", "2024-12-15"]), wave_index),
    }
    codes: dict[str, np.ndarray] = {}
    unanswered: dict[str, np.ndarray] = {}
    for spec in INSTRUMENTS:
        inst = load_instrument(spec["id"], form=spec.get("form"))
        rs = inst.response_scale
        for col in inst.column_names(spec["columns"]).values():
            codes[col] = rng.integers(rs.min, rs.max + 1, n)
            unanswered[col] = rng.random(n) < 0.02  # 2% unanswered
    # 0.1% of rows with an out-of-range code, so the quarantine path is exercised
    bad = rng.choice(n, size=max(1, n // 1000), replace=False)
    codes["ahs_1"][bad] = 99
    unanswered["ahs_1"][bad] = False
    for col, v in codes.items():
        cols[col] = pa.array(v, mask=unanswered[col])
    _write_csv(cols, folder / "responses.csv")
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


def _peak_rss_mb() -> float:
    """Peak resident memory of this process in MB.

    Linux's ``VmHWM`` belongs to the running program only; ``ru_maxrss`` survives ``exec`` and
    can still hold the peak of the parent that forked this process (the data generator).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(study_path: Path) -> int:
    """Validate in this (fresh) process and print wall time and peak resident memory."""
    from mentor_eval.study import load_study
    from mentor_eval.validation import validate_study

    study = load_study(study_path)
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    rss0 = _peak_rss_mb()
    t0 = time.perf_counter()
    result = validate_study(study)
    wall = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak = _peak_rss_mb()
    # CPU time (all threads) depends less on other jobs sharing the machine than wall time
    cpu_user, cpu_sys = usage.ru_utime - usage0.ru_utime, usage.ru_stime - usage0.ru_stime
    c = result.counts
    assert (c["rows_read"] == c["clean"] + c["quarantined"]).all()
    print(c.to_string(index=False))
    print(f"read + validate + quarantine: {wall:.2f} s wall (target < 4 s); CPU {cpu_user + cpu_sys:.2f} s "
          f"(user {cpu_user:.2f} + sys {cpu_sys:.2f}); peak RSS {peak:.0f} MB "
          f"(after imports: {rss0:.0f} MB; target < 1500 MB)")
    return 0 if wall < 4 and peak < 1500 else 1


FLOOR = """
import sys
import numpy as np, pandas as pd
folder = sys.argv[1]
p = pd.read_csv(folder + "/participants.csv")
r = pd.read_csv(folder + "/responses.csv")
items = [c for c in r.columns if c.startswith(("ahs_", "gbs_", "chs_"))]
x = r[items].to_numpy(dtype=float)
hi = np.array([8 if c.startswith("ahs_") else 7 if c.startswith("gbs_") else 6 for c in items])
bad = ((x < 1) | (x > hi) | (x != np.round(x))) & ~np.isnan(x)
bad_rows = bad.any(axis=1) | ~r["participant_id"].isin(p["participant_id"]).to_numpy()
clean = r[~bad_rows]
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--study", type=Path, help="Only validate this generated study (used internally).")
    args = ap.parse_args(argv)
    if args.study is not None:
        return measure(args.study)
    from bench_scoring import _env, _table, interleaved

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        path = make_study(Path(tmp), args.rows)
        size = (Path(tmp) / "responses.csv").stat().st_size / 1e6
        print(f"generated {args.rows:,} rows ({size:.0f} MB) in {time.perf_counter() - t0:.1f} s; "
              f"{args.repeats} interleaved repeats, fresh process each")
        py = sys.executable
        res = interleaved({
            "cli": [py, "-m", "mentor_eval", "validate", str(path), "-o", str(Path(tmp) / "out")],
            "api": [py, __file__, "--study", str(path)],
            "floor": [py, "-c", FLOOR, tmp],
        }, args.repeats, ok_codes=(0, 1))
        _table(f"validate {args.rows:,} long rows x 30 items (target: <= 4 s, <= 1500 MB)", res, {
            "cli": "mentor-eval validate (CLI, writes clean data + quarantine)",
            "api": "validate_study (documented API)",
            "floor": "pandas read_csv + numpy checks, no reporting (floor)"})
        # one more API run in the foreground for its counts and CPU time
        subprocess.run([py, __file__, "--study", str(path)], check=False, env=_env())
        print(f"\nload average during the run: {os.getloadavg()[0]:.1f} (2 cores: above 2 the times are inflated)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
