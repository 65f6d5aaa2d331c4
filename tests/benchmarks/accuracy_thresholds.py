"""Alternative threshold rules, each from the 8 held-out scores of good images only (never defects),
compared with the engine's default (max of the held-out scores x threshold_scale)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tests.benchmarks.accuracy_evaluate import ProductRun, SeedOutcome
from tests.benchmarks.accuracy_report import Row, ThresholdRule


def _scaled_max(scale: float) -> ThresholdRule:
    def threshold_of(seed: SeedOutcome) -> float:
        return scale * max(seed.leave_one_out_scores)

    return ThresholdRule(f"{scale:g} x max held-out", threshold_of)


def _mean_plus_std(count: float) -> ThresholdRule:
    def threshold_of(seed: SeedOutcome) -> float:
        scores = np.asarray(seed.leave_one_out_scores)
        return float(scores.mean() + count * scores.std(ddof=1))

    return ThresholdRule(f"held-out mean + {count:g} std", threshold_of)


RULES = (_scaled_max(1.0), _scaled_max(1.25), _scaled_max(1.5), _mean_plus_std(2.0), _mean_plus_std(3.0))


def threshold_rows(elpv_runs: Sequence[ProductRun]) -> list[Row]:
    """One row per rule and product: the run's AUROC, false alarms and misses at the rule's threshold."""
    return [Row(f"elpv {run.product}", [run], rule) for rule in RULES for run in elpv_runs]
