"""Write data.csv: a seeded two-arm study with a mediator at midpoint (run once; kept for the R reference)."""

import numpy as np
import pandas as pd

rng = np.random.default_rng(20261202)
n = 240
treat = np.repeat([0, 1], n // 2)
age = rng.integers(16, 30, n).astype(float)
female = rng.integers(0, 2, n).astype(float)
m_pre = rng.normal(3.5, 0.8, n)
y_pre = 0.3 * (m_pre - 3.5) * 6 + rng.normal(40, 7, n)
m_mid = 1.0 + 0.6 * m_pre + 0.01 * y_pre + 0.35 * treat + 0.01 * age + rng.normal(0, 0.6, n)
y_post = 8.0 + 0.6 * y_pre + 2.5 * m_mid + 1.2 * treat - 0.05 * age + 0.5 * female + rng.normal(0, 5, n)
# mentors: treated participants in groups of 3, control participants unclustered
mentor = np.where(treat == 1, "M" + (np.arange(n) // 3).astype(str), "")
pd.DataFrame({"participant_id": [f"P{i:03d}" for i in range(n)], "arm": np.where(treat, "nw", "control"),
              "treat": treat, "mentor_id": mentor, "age": age, "female": female,
              "m_pre": m_pre.round(4), "y_pre": y_pre.round(4), "m_mid": m_mid.round(4),
              "y_post": y_post.round(4)}).to_csv("data.csv", index=False)
