"""A synthetic loan-approval data set (seeded, so every run and every machine sees the same rows)."""

from __future__ import annotations

import numpy as np
import pandas as pd

FEATURES = [
    "age",
    "income",
    "debt_ratio",
    "credit_lines",
    "late_payments",
    "employment_years",
    "loan_amount",
    "region",
    "sex",
]
NUMERIC = FEATURES[:7]
REGIONS = ["north", "south", "east", "west"]


def make_loans(n: int, seed: int = 7, *, shift: float = 0.0) -> pd.DataFrame:
    """`n` applicants with an `approved` label; `shift` in [0, 1] moves income down (women's most) and debt up
    (drift)."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["female", "male"], size=n)
    age = rng.integers(21, 70, size=n).astype(float)
    # Incomes are alike for both sexes in the training population, so the model approves both alike; in the
    # drifted one women's incomes fall much further, and a model that never sees `sex` turns biased. (The
    # demo's windows are a few hundred rows, so approval-rate ratios are noisy: the gap must be wide.)
    cut = np.where(sex == "female", 0.45, 0.1) * shift
    income = rng.lognormal(mean=10.8, sigma=0.4, size=n) * (1.0 - cut)
    debt_ratio = np.clip(rng.beta(2, 5, size=n) + 0.08 * shift, 0, 1.5)
    credit_lines = rng.poisson(4, size=n).astype(float)
    late_payments = rng.poisson(0.6 + 0.5 * shift, size=n).astype(float)
    employment_years = np.clip(rng.normal(8, 5, size=n), 0, 45).round(1)
    loan_amount = rng.lognormal(9.5, 0.6, size=n).round(-1)
    region_p = np.array([0.3, 0.3, 0.2, 0.2]) if shift == 0 else np.array([0.15, 0.45, 0.2, 0.2])
    region = rng.choice(REGIONS, size=n, p=region_p)
    score = (
        0.9 * (np.log(income) - 10.8)
        - 2.5 * debt_ratio
        - 0.5 * late_payments
        + 0.03 * employment_years
        - 0.4 * (np.log(loan_amount) - 9.5)
        + rng.normal(0, 0.5, size=n)
    )
    approved = (score > -0.7).astype(int)
    return pd.DataFrame(
        {
            "age": age,
            "income": income.round(2),
            "debt_ratio": debt_ratio.round(4),
            "credit_lines": credit_lines,
            "late_payments": late_payments,
            "employment_years": employment_years,
            "loan_amount": loan_amount,
            "region": region,
            "sex": sex,
            "approved": approved,
        }
    )
