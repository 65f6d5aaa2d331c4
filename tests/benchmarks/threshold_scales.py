"""False alarms and misses of products taught with the engine's defaults, at several threshold scales: the
evidence for the default `threshold_scale` (`make bench-accuracy` section "thresholds"; alone:
`python -m tests.benchmarks.accuracy --sections thresholds`).

Each product is taught once per seed; its held-out scores give the threshold at every scale (threshold =
scale x their highest), so the scales are compared on the same banks and test scores. Groups: elpv mono and
poly (8 cells taught, every other cell tested), the textures, and each case of the line-variation set on its
development and held-out surfaces. The last lines average the groups, each group weighing the same.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from patchcore.model import FeatureExtractor
from tests.benchmarks.accuracy_configs import DEFAULTS
from tests.benchmarks.accuracy_evaluate import SeedOutcome, run_elpv_seed, run_texture_seed
from tests.benchmarks.cached_features import CachedFeatureExtractor
from tests.benchmarks.elpv_data import load_elpv_products
from tests.benchmarks.line_evaluate import engine_outcomes
from tests.benchmarks.line_sets import make_line_product
from tests.benchmarks.line_surfaces import DEVELOPMENT, SURFACES
from tests.benchmarks.metrics import operating_point
from tests.benchmarks.textures import TEXTURES

SCALES = (1.0, 1.05, 1.1, 1.15, 1.2, 1.3, 1.5)


def outcomes(
    extractor: FeatureExtractor, feature_cache: Path, seeds: Sequence[int]
) -> Iterator[tuple[str, SeedOutcome]]:
    """(group, outcome) of every product and seed, taught with the engine's defaults. elpv features are
    kept in feature_cache; line frames are new for every seed, so theirs are not kept."""
    cached = CachedFeatureExtractor(extractor, feature_cache)
    for product in load_elpv_products():
        for seed in seeds:
            yield f"elpv {product.name}", run_elpv_seed(cached, product, DEFAULTS, seed)
    for name in TEXTURES:
        for seed in seeds:
            yield "textures", run_texture_seed(cached, name, DEFAULTS, seed)
    for seed in seeds:
        for surface in SURFACES:
            product = make_line_product(surface, seed)
            group = "development" if surface in DEVELOPMENT else "held-out"
            for case, outcome in engine_outcomes(
                CachedFeatureExtractor(extractor), product, DEFAULTS, seed, False
            ).items():
                yield f"line {case}, {group}", outcome


def rates(group: Sequence[SeedOutcome], scale: float) -> tuple[float, float]:
    """Mean false-alarm and miss rate (%) of the group's runs at scale x their highest held-out score."""
    points = [
        operating_point(run.good_scores, run.defect_scores, scale * max(run.leave_one_out_scores))
        for run in group
    ]
    return (
        100 * float(np.mean([point.false_alarm_rate for point in points])),
        100 * float(np.mean([point.miss_rate for point in points])),
    )


def threshold_scale_table(extractor: FeatureExtractor, feature_cache: Path, seeds: Sequence[int]) -> str:
    """The markdown table: a row per group, a column per scale, and the groups' means."""
    groups: dict[str, list[SeedOutcome]] = {}
    for name, outcome in tqdm(outcomes(extractor, feature_cache, seeds), desc="threshold scales", unit="run"):
        groups.setdefault(name, []).append(outcome)
    return table(groups)


def table(groups: dict[str, list[SeedOutcome]]) -> str:
    header = (
        "| group | runs | " + " | ".join(f"x{scale:g} false alarms / misses %" for scale in SCALES) + " |"
    )
    lines = [header, "|" + "---|" * (len(SCALES) + 2)]
    by_scale = {scale: [rates(group, scale) for group in groups.values()] for scale in SCALES}
    for index, (name, group) in enumerate(groups.items()):
        cells = [f"{by_scale[scale][index][0]:.1f} / {by_scale[scale][index][1]:.1f}" for scale in SCALES]
        lines.append(f"| {name} | {len(group)} | " + " | ".join(cells) + " |")
    means = [np.mean(by_scale[scale], axis=0) for scale in SCALES]
    lines.append(
        "| mean of the groups | | " + " | ".join(f"**{fa:.1f} / {miss:.1f}**" for fa, miss in means) + " |"
    )
    lines.append(
        "| mean false alarms + misses | | " + " | ".join(f"{fa + miss:.1f}" for fa, miss in means) + " |"
    )
    highest = [max(fa for fa, _ in by_scale[scale]) for scale in SCALES]
    lines.append("| highest group's false alarms | | " + " | ".join(f"{fa:.1f}" for fa in highest) + " |")
    return "\n".join(lines)
