"""Formats benchmark runs as Markdown tables (one row per product, model and configuration)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tests.benchmarks.accuracy_evaluate import ProductRun, SeedOutcome
from tests.benchmarks.metrics import auroc


@dataclass(frozen=True)
class ThresholdRule:
    """An alternative to the bank's threshold, computed from the seed's held-out scores only."""

    name: str
    threshold_of: Callable[[SeedOutcome], float]


HEADER = (
    "| dataset / product | backbone | size | configuration | image AUROC mean ± std [min-max] "
    "| pixel AUROC | false alarms % | misses % | teach s (8 imgs) | ms / image |"
)
RULE = "|---|---|---|---|---|---|---|---|---|---|"


@dataclass(frozen=True)
class Row:
    """One line of the accuracy table; runs holds one ProductRun per product merged into the row (several for
    the texture row: brick, grass, gravel)."""

    label: str
    runs: Sequence[ProductRun]
    threshold_rule: ThresholdRule | None = None


def _spread(values: np.ndarray) -> str:
    if values.size == 0:
        return "-"
    return f"{values.mean():.3f} ± {values.std():.3f} [{values.min():.3f}-{values.max():.3f}]"


def _measured(value: float, decimals: int) -> str:
    """A timing cell: "-" where the row has no such measurement."""
    return "-" if np.isnan(value) else f"{value:.{decimals}f}"


def _per_seed_mean(row: Row, metric: str) -> np.ndarray:
    """The metric averaged over the row's products for each seed: [seeds]."""
    per_run = [getattr(run, metric)() for run in row.runs]
    if any(values.size == 0 for values in per_run):
        return np.array([])
    return np.mean(np.stack(per_run), axis=0)


def format_row(row: Row) -> str:
    first = row.runs[0]
    rule = row.threshold_rule
    rates = np.array([run.rates(rule.threshold_of if rule else None) for run in row.runs])
    false_alarm, miss = rates.mean(axis=0) * 100
    pixel = _per_seed_mean(row, "pixel_aurocs")
    config = first.config.name + (f", threshold = {rule.name}" if rule else "")
    cells = (
        row.label,
        first.model.short_name,
        str(first.model.size),
        config,
        _spread(_per_seed_mean(row, "image_aurocs")),
        f"{pixel.mean():.3f}" if pixel.size else "-",
        f"{false_alarm:.1f}",
        f"{miss:.1f}",
        _measured(np.mean([run.teach_seconds for run in row.runs]), 2),
        _measured(np.mean([run.ms_per_image for run in row.runs]), 1),
    )
    return "| " + " | ".join(cells) + " |"


def markdown_table(rows: Sequence[Row]) -> str:
    return "\n".join([HEADER, RULE, *(format_row(row) for row in rows)])


def defect_kind_table(rows: Sequence[Row]) -> str:
    """Image AUROC of each defect kind against the good frames of the same run (product and seed), the mean
    over the row's runs: one line per row, one column per kind ("" where the rows' data sets name none)."""
    kinds = list(
        dict.fromkeys(
            kind for row in rows for run in row.runs for seed in run.seeds for kind in seed.defect_kinds
        )
    )
    if not kinds:
        return ""
    lines = [
        "| row | configuration | " + " | ".join(kinds) + " |",
        "|---|---|" + "---|" * len(kinds),
    ]
    for row in rows:
        seeds = [seed for run in row.runs for seed in run.seeds]
        cells = []
        for kind in kinds:
            values = [
                auroc(seed.good_scores, seed.defect_scores[np.asarray(seed.defect_kinds) == kind])
                for seed in seeds
                if kind in seed.defect_kinds
            ]
            cells.append(f"{np.mean(values):.2f}" if values else "-")
        lines.append(f"| {row.label} | {row.runs[0].config.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
