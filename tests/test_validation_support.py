"""Builders for small studies written to a temporary folder (used by the ingest/validation tests).

Kept in a test-named module so that pytest puts it on the path; it holds no tests itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

AHS_ITEMS = [str(i) for i in range(1, 13)]
AHS_COLS = [f"ahs_{i}" for i in AHS_ITEMS]


def study_yaml(**overrides: Any) -> dict[str, Any]:
    """A two-arm, two-wave study of the Adult Hope Scale (8-point), as a YAML mapping."""
    base: dict[str, Any] = {
        "name": "Ingest test study",
        "design": "randomized",
        "arms": [{"key": "ctrl", "label": "Waitlist", "model": "control"},
                 {"key": "nw", "label": "Narrative Weaving", "model": "narrative_weaving"}],
        "waves": [{"key": "baseline", "week": 0}, {"key": "post", "week": 24}],
        "instruments": [{"id": "adult_hope_scale", "form": "8-point", "columns": "ahs_{item}"}],
        "outcomes": {"primary": ["adult_hope_scale.total"]},
        "covariates": ["age"],
        "clusters": ["site_id"],
        "files": {"participants": "participants.csv", "responses": "responses.csv"},
    }
    base.update(overrides)
    return base


def participants_csv(n: int = 6, *, extra: dict[str, list[str]] | None = None) -> str:
    rows = ["participant_id,arm,site_id,age"]
    for i in range(n):
        rows.append(f"p{i + 1},{'ctrl' if i % 2 == 0 else 'nw'},s{i % 2 + 1},{14 + i % 4}")
    text = "\n".join(rows) + "\n"
    if extra:
        lines = text.strip().split("\n")
        lines[0] += "," + ",".join(extra)
        for j in range(1, len(lines)):
            lines[j] += "," + ",".join(v[j - 1] for v in extra.values())
        text = "\n".join(lines) + "\n"
    return text


def response_rows(n: int = 6, waves: tuple[str, ...] = ("baseline", "post"), seed: int = 1) -> list[dict[str, str]]:
    """Clean long response rows (mixed answers, no straight-lining)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        for w, wave in enumerate(waves):
            row = {"participant_id": f"p{i + 1}", "wave": wave, "completed_at": f"2024-0{1 + 5 * w}-1{i % 9}"}
            vals = rng.integers(1, 9, len(AHS_COLS))
            vals[0], vals[1] = 2, 7  # never all equal
            row.update({c: str(v) for c, v in zip(AHS_COLS, vals, strict=True)})
            out.append(row)
    return out


def rows_to_csv(rows: list[dict[str, str]], sep: str = ",") -> str:
    cols = list(rows[0])
    for r in rows:
        for c in r:
            if c not in cols:
                cols.append(c)
    lines = [sep.join(cols)] + [sep.join(r.get(c, "") for c in cols) for r in rows]
    return "\n".join(lines) + "\n"


def write_study(tmp: Path, *, participants: str | bytes | None = None, responses: str | bytes | None = None,
                **overrides: Any) -> Path:
    """Write study.yaml (+ the two files unless given as None-by-choice) into ``tmp``; return its path."""
    tmp.mkdir(parents=True, exist_ok=True)
    cfg = study_yaml(**overrides)
    (tmp / "study.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    files = cfg["files"]
    p_name = files["participants"] if isinstance(files["participants"], str) else files["participants"]["path"]
    r_name = files["responses"] if isinstance(files["responses"], str) else files["responses"]["path"]
    if participants is None:
        participants = participants_csv()
    if responses is None:
        responses = rows_to_csv(response_rows())
    for name, content in ((p_name, participants), (r_name, responses)):
        if content is False:
            continue
        p = tmp / name
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8")
    return tmp / "study.yaml"
