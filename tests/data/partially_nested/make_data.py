"""Write the partially nested and fully nested test datasets (numpy only; run once).

Partially nested (data.csv): 150 control participants with no mentor, 150 mentees of 15 mentors
(10 each, arm "mentor") and 120 members of 10 groups (12 each, arm "group"). The mentor/group
effect enters the post-test only (it begins after matching); the pre-test is a covariate.
Fully nested (fully_nested.csv): two arms of 12 clusters x 8, every participant in a cluster.

    python tests/data/partially_nested/make_data.py
"""

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def partially_nested(seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arms = ["control"] * 150 + ["mentor"] * 150 + ["group"] * 120
    mentor = [None] * 150 + [f"M{i:02d}" for i in range(15) for _ in range(10)] + [None] * 120
    group = [None] * 300 + [f"G{i:02d}" for i in range(10) for _ in range(12)]
    n = len(arms)
    pre = rng.normal(40.0, 8.0, n)
    effect = np.select([np.array(arms) == "mentor", np.array(arms) == "group"], [2.0, 1.0], 0.0)
    u_m = dict(zip([f"M{i:02d}" for i in range(15)], rng.normal(0.0, 3.0, 15), strict=True))
    u_g = dict(zip([f"G{i:02d}" for i in range(10)], rng.normal(0.0, 3.0, 10), strict=True))
    u = np.array([u_m.get(m, 0.0) + u_g.get(g, 0.0) for m, g in zip(mentor, group, strict=True)])
    post = 12.0 + 0.7 * pre + effect + u + rng.normal(0.0, 5.5, n)
    return pd.DataFrame({
        "participant_id": [f"P{i:03d}" for i in range(n)], "arm": arms, "mentor_id": mentor,
        "group_id": group, "age": rng.integers(14, 19, n), "pre": pre.round(4), "post": post.round(4),
    })


def fully_nested(seed: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arms = ["control"] * 96 + ["mentor"] * 96
    cluster = [f"C{i:02d}" for i in range(24) for _ in range(8)]
    n = len(arms)
    pre = rng.normal(40.0, 8.0, n)
    u = np.repeat(rng.normal(0.0, 2.5, 24), 8)
    post = 12.0 + 0.7 * pre + 1.5 * (np.array(arms) == "mentor") + u + rng.normal(0.0, 5.5, n)
    return pd.DataFrame({"participant_id": [f"F{i:03d}" for i in range(n)], "arm": arms,
                         "mentor_id": cluster, "pre": pre.round(4), "post": post.round(4)})


if __name__ == "__main__":
    partially_nested().to_csv(HERE / "data.csv", index=False)
    fully_nested().to_csv(HERE / "fully_nested.csv", index=False)
