"""The demo's closing summary: drift and fairness of the captured traffic, straight from the store."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd


def captured_frame(database: Path) -> pd.DataFrame:
    """Every captured record's features and prediction, in arrival order."""
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "select features, prediction from records where error is null and features is not null order by id"
        ).fetchall()
    frame = pd.DataFrame([json.loads(f) for f, _ in rows])
    frame["prediction"] = [json.loads(p) if p is not None else None for _, p in rows]
    return frame


def summary(database: Path) -> str:
    """Drift of the last 40% of traffic against the first 40%, and approval parity by sex."""
    from detectors import DetectorError
    from detectors.drift import DriftOptions, detect_drift
    from detectors.fairness import FairnessOptions, compute_fairness
    from sidecar.cli.drift import table

    frame = captured_frame(database)
    cut = int(len(frame) * 0.4)
    reference, current = frame.iloc[:cut], frame.iloc[-cut:]
    drift = detect_drift(reference, current, DriftOptions(prediction="prediction"))
    lines = [
        f"drift: last {cut} captured rows against the first {cut} (driftcar's detectors, auto methods)",
        table(drift),
        "",
    ]
    options = FairnessOptions(protected=["sex"], favorable=1)
    for name, part in (("first", reference), ("last", current)):
        try:
            report = compute_fairness(part, "prediction", None, options)
        except DetectorError as exc:
            lines.append(f"approval rate by sex, {name} {cut} rows: not computable ({exc})")
            continue
        attribute = report.attributes[0]
        rates = ", ".join(
            f"{g.label}: {g.selection_rate:.2f}" for g in attribute.groups if g.selection_rate is not None
        )
        ratio = attribute.demographic_parity_ratio.value
        lines.append(
            f"approval rate by sex, {name} {cut} rows: {rates}; disparate impact "
            f"{'-' if ratio is None else f'{ratio:.2f}'}"
        )
    return "\n".join(lines)
