"""Write clustered.csv: a seeded two-arm study whose mentored arm has 14 mentor groups with real
mentor effects on the mediator and the outcome (run once; kept for the clubSandwich reference)."""

import numpy as np
import pandas as pd

rng = np.random.default_rng(20261214)
n_c, sizes = 90, rng.integers(4, 9, 14)  # control unclustered; 14 mentors of 4-8 mentees
n_t = int(sizes.sum())
treat = np.r_[np.zeros(n_c), np.ones(n_t)]
mentor = np.r_[np.full(n_c, ""), np.repeat([f"M{k:02d}" for k in range(len(sizes))], sizes)]
u_m = np.r_[np.zeros(n_c), np.repeat(rng.normal(0, 0.45, len(sizes)), sizes)]  # mentor effect on the mediator
u_y = np.r_[np.zeros(n_c), np.repeat(rng.normal(0, 2.5, len(sizes)), sizes)]   # ... and on the outcome
n = n_c + n_t
age = rng.integers(16, 30, n).astype(float)
m_pre = rng.normal(3.5, 0.8, n)
y_pre = 1.8 * (m_pre - 3.5) + rng.normal(40, 7, n)
m_mid = 1.0 + 0.6 * m_pre + 0.01 * y_pre + 0.4 * treat + u_m + rng.normal(0, 0.6, n)
y_post = 8.0 + 0.6 * y_pre + 2.5 * m_mid + 1.0 * treat - 0.05 * age + u_y + rng.normal(0, 5, n)
pd.DataFrame({"participant_id": [f"P{i:03d}" for i in range(n)], "arm": np.where(treat == 1, "nw", "control"),
              "treat": treat.astype(int), "mentor_id": mentor, "age": age, "m_pre": m_pre.round(4),
              "y_pre": y_pre.round(4), "m_mid": m_mid.round(4), "y_post": y_post.round(4)}
             ).to_csv("clustered.csv", index=False)
