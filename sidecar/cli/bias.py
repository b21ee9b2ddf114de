"""`driftcar bias`: fairness metrics per protected attribute from one CSV or Parquet file."""

from __future__ import annotations

import argparse
import json

from pydantic import ValidationError

from detectors.errors import DetectorError
from detectors.fairness import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    AttributeFairness,
    FairnessOptions,
    FairnessReport,
    GroupStats,
    compute_fairness,
    disparity_names,
)
from sidecar.cli import CliError
from sidecar.cli.tables import read_table, require_columns

_SHORT = {
    "selection_rate": "sel.rate",
    "accuracy": "accuracy",
    "true_positive_rate": "TPR",
    "false_positive_rate": "FPR",
    "precision": "precision",
    "mean_prediction": "mean pred",
    "mean_absolute_error": "MAE",
}


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of `driftcar bias`."""
    parser.add_argument(
        "data", metavar="DATA", help="CSV or Parquet file: protected attributes, predictions, labels"
    )
    parser.add_argument(
        "--protected",
        action="append",
        required=True,
        metavar="COL",
        help="protected attribute column (repeatable)",
    )
    parser.add_argument("--prediction", required=True, metavar="COL", help="prediction column")
    parser.add_argument("--label", metavar="COL", help="ground-truth label column, when known")
    parser.add_argument(
        "--favorable", metavar="VALUE", help='favourable outcome value (default 1; "1" matches 1/1.0/True)'
    )
    parser.add_argument(
        "--intersections", action="store_true", help="also judge combinations of protected attributes"
    )
    parser.add_argument(
        "--min-group-size", type=int, default=30, metavar="N", help="smaller groups are not compared"
    )
    parser.add_argument("--task", choices=("classification", "regression"), default="classification")
    parser.add_argument("--json", action="store_true", help="print a JSON document instead of a table")


def _options(args: argparse.Namespace) -> FairnessOptions:
    """FairnessOptions from the arguments; a validation failure becomes a one-line CliError."""
    fields = {
        "protected": args.protected,
        "min_group_size": args.min_group_size,
        "intersections": args.intersections,
        "task": args.task,
    }
    if args.favorable is not None:
        fields["favorable"] = args.favorable
    try:
        return FairnessOptions.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}" for e in exc.errors())
        raise CliError(problems.replace("_", "-")) from None


def _metric_names(report: FairnessReport) -> tuple[str, ...]:
    return REGRESSION_METRICS if report.task == "regression" else CLASSIFICATION_METRICS


def _group_document(group: GroupStats, metrics: tuple[str, ...]) -> dict[str, object]:
    """One group as JSON-ready values."""
    return {
        "count": group.count,
        "n_labelled": group.n_labelled,
        "too_small": group.too_small,
        **{name: group.metric(name) for name in metrics},
        "undefined": dict(group.undefined),
    }


def _attribute_document(attribute: AttributeFairness, report: FairnessReport) -> dict[str, object]:
    """One attribute's groups and parity metrics as JSON-ready values."""
    metrics = _metric_names(report)
    disparities = [getattr(attribute, name) for name in disparity_names(report.task)]
    return {
        "columns": list(attribute.columns),
        "groups": {g.label: _group_document(g, metrics) for g in attribute.groups},
        "excluded_groups": list(attribute.excluded_groups),
        **{d.name: d.value for d in disparities},
        "four_fifths_rule_violated": attribute.four_fifths_rule_violated,
        "extremes": {
            d.name: {"lowest": d.lowest, "highest": d.highest} for d in disparities if d.value is not None
        },
        "undefined": {d.name: d.reason for d in disparities if d.reason is not None},
    }


def report_document(report: FairnessReport) -> dict[str, object]:
    """The whole report as a JSON-ready document keyed by attribute name."""
    return {
        "task": report.task,
        "prediction": report.prediction,
        "label": report.label,
        "favorable": report.favorable,
        "min_group_size": report.min_group_size,
        "n_rows": report.n_rows,
        "n_without_prediction": report.n_without_prediction,
        "n_labelled": report.n_labelled,
        "overall": _group_document(report.overall, _metric_names(report)),
        "attributes": {a.name: _attribute_document(a, report) for a in report.attributes},
    }


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _attribute_table(attribute: AttributeFairness, report: FairnessReport) -> list[str]:
    """Readable lines for one attribute: a row per group, then the parity metrics."""
    metrics = _metric_names(report)
    rows = [("group", "n", *(_SHORT[m] for m in metrics))]
    for g in (*attribute.groups, report.overall):
        label = f"{g.label} (too small)" if g.too_small else g.label
        rows.append((label, str(g.count), *(_number(g.metric(m)) for m in metrics)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    cells = ("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)
    lines = [attribute.name, *(f"  {line}".rstrip() for line in cells)]
    for name in disparity_names(report.task):
        d = getattr(attribute, name)
        detail = f"(lowest {d.lowest}, highest {d.highest})" if d.value is not None else f"({d.reason})"
        if name == "demographic_parity_ratio" and attribute.four_fifths_rule_violated is not None:
            detail += " four-fifths rule: " + ("VIOLATED" if attribute.four_fifths_rule_violated else "ok")
        lines.append(f"  {name:<32} {_number(d.value):>8}  {detail}")
    if attribute.excluded_groups:
        lines.append(f"  excluded (< {report.min_group_size} rows): {', '.join(attribute.excluded_groups)}")
    return lines


def render_table(report: FairnessReport) -> str:
    """The report as readable text, one block per attribute."""
    label = f"label {report.label!r}" if report.label else "no label"
    head = (
        f"prediction {report.prediction!r} (favourable = {report.favorable!r}), {label}, {report.n_rows} rows"
        f" ({report.n_without_prediction} without prediction), min group size {report.min_group_size}"
    )
    blocks = [head, *("\n".join(_attribute_table(a, report)) for a in report.attributes)]
    return "\n\n".join(blocks)


def run(args: argparse.Namespace) -> int:
    """Read the file, compute fairness metrics and print them."""
    frame = read_table(args.data)
    wanted = [*args.protected, args.prediction, *([args.label] if args.label else [])]
    require_columns(frame, wanted, str(args.data))
    options = _options(args)
    try:
        report = compute_fairness(frame, args.prediction, args.label, options)
    except DetectorError as exc:
        raise CliError(f"{args.data}: {exc}") from None
    print(json.dumps(report_document(report), indent=2) if args.json else render_table(report))
    return 0
