"""Write data.csv: a seeded two-arm trial with one-sided non-compliance (kept for the R reference)."""

import numpy as np
import pandas as pd

rng = np.random.default_rng(31)
n = 300
treat = np.repeat([0, 1], n // 2)
age = rng.integers(16, 30, n).astype(float)
pre = rng.normal(40, 7, n)
# mentors of 5 in the treated arm; a mentor effect on attendance and outcome
mentor = np.where(treat == 1, np.arange(n) // 5, -1)
u = np.where(treat == 1, rng.normal(0, 1, n // 5 + 100)[np.maximum(mentor, 0)], 0.0)
sessions = np.where(treat == 1, np.clip(np.round(15 + 4 * rng.normal(size=n) + 2 * u), 0, 24), np.nan)
complied = np.where(treat == 1, (sessions >= 18).astype(float), 0.0)
post = 10 + 0.7 * pre - 0.1 * age + 4.0 * complied + 1.5 * u + rng.normal(0, 5, n)
pd.DataFrame({"participant_id": [f"P{i:03d}" for i in range(n)], "arm": np.where(treat, "nw", "control"),
              "treat": treat, "mentor_id": np.where(treat == 1, "M" + mentor.astype(str), ""),
              "cluster": np.where(treat == 1, "M" + mentor.astype(str), [f"solo{i}" for i in range(n)]),
              "age": age, "sessions": sessions, "complied": complied, "pre": pre.round(4),
              "post": post.round(4)}).to_csv("data.csv", index=False)
