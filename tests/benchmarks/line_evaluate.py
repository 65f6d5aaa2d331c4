"""Runs the line-variation products through the engine (and through the plain PatchCore reference) and
collects one SeedOutcome per (method, case, surface, seed) for the accuracy table.

Loop order is product first: a product's frames are generated once, every method is taught and tested on
them, then their features are dropped (line frames are new for every seed, so there is nothing to keep).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from tqdm import tqdm

from patchcore.geometry import Rect
from patchcore.model import FeatureExtractor
from tests.benchmarks.accuracy_configs import DEFAULTS, REFERENCE_MODEL, TeachConfig
from tests.benchmarks.accuracy_evaluate import ProductRun, SeedOutcome, Taught, masked_outcome
from tests.benchmarks.accuracy_protocol import score_frames, teach_product
from tests.benchmarks.accuracy_report import Row
from tests.benchmarks.accuracy_timing import timed_teach
from tests.benchmarks.cached_features import CachedFeatureExtractor
from tests.benchmarks.line_roi import ROI, ROI_CASES, ROI_SURFACES, make_roi_product
from tests.benchmarks.line_sets import (
    CASES,
    CROPS_CASE,
    HIGHRES_CASE,
    HIGHRES_JPEG_CASE,
    HIGHRES_SURFACES,
    LOSSLESS_CASE,
    POSE_LIGHT_CASE,
    LineProduct,
    make_highres_crops_product,
    make_highres_product,
    make_line_product,
)
from tests.benchmarks.line_surfaces import DEVELOPMENT, HELD_OUT, SURFACES
from tests.benchmarks.plain_patchcore import NAME as PLAIN_NAME
from tests.benchmarks.plain_patchcore import plain_score, plain_teach, timed_plain_teach
from tests.benchmarks.traced_features import TracedFeatures

PLAIN_REFERENCE = TeachConfig(PLAIN_NAME)
Extractor = FeatureExtractor | TracedFeatures


@dataclass(frozen=True)
class LineSet:
    """A family of generated products: make(surface, seed) -> LineProduct whose cases are `cases`, run with
    the engine configurations `configs` and, where with_plain, the plain PatchCore reference. Heatmaps
    (pixel AUROC) only where with_heatmaps: at 2048x1536 they would cost more than the rest."""

    name: str
    make: Callable[[str, int], LineProduct]
    surfaces: tuple[str, ...]
    cases: tuple[str, ...]
    configs: tuple[TeachConfig, ...]
    with_plain: bool = True
    with_heatmaps: bool = True


LINE_SET = LineSet("line", make_line_product, tuple(SURFACES), CASES, (DEFAULTS,))
HIGHRES_SET = LineSet(
    "line",
    make_highres_product,
    HIGHRES_SURFACES,
    (HIGHRES_CASE, HIGHRES_JPEG_CASE),
    (
        replace(DEFAULTS, name="engine defaults (whole frame squashed to 224)"),
        replace(DEFAULTS, name="engine defaults, tile_size 512", tile_size=512),
        replace(DEFAULTS, name="engine defaults, tile_size 256", tile_size=256),
    ),
    with_heatmaps=False,
)
# The same defects on 640x480 crops of the frames: what the reference figure measured.
HIGHRES_CROPS_SET = LineSet(
    "line",
    make_highres_crops_product,
    HIGHRES_SURFACES,
    (CROPS_CASE,),
    (replace(DEFAULTS, name="engine defaults (640x480 crop resized whole to 224)"),),
    with_plain=False,
    with_heatmaps=False,
)
ROI_SET = LineSet(
    "line",
    make_roi_product,
    ROI_SURFACES,
    ROI_CASES,
    (
        replace(DEFAULTS, name="engine defaults, no ROI (whole frame)"),
        replace(DEFAULTS, name=f"engine defaults, roi {ROI.describe()}", roi=ROI),
    ),
    with_plain=False,
)

# Parts held loosely in a fixture: the line set's structured parts (its textures have nothing to align on).
# Aligned without an ROI, the engine leaves out 8 % of each side (20 pixels of the 256x256 frames), so the
# plain engine is run both on the whole frame and with that region as its ROI.
ALIGN_ROI = Rect(20, 20, 216, 216)
ALIGN_SET = LineSet(
    "line",
    make_line_product,
    ("pcb", "machined_flange"),
    (POSE_LIGHT_CASE, LOSSLESS_CASE),
    (
        replace(DEFAULTS, name="engine defaults (whole frame)"),
        replace(DEFAULTS, name=f"engine defaults, roi {ALIGN_ROI.describe()}", roi=ALIGN_ROI),
        replace(DEFAULTS, name="align (no roi: 8 % margins), no line views", align=True, line_views=0),
        replace(DEFAULTS, name="align (no roi: 8 % margins), 4 line views", align=True),
    ),
    with_plain=False,
)


def engine_outcomes(
    extractor: CachedFeatureExtractor,
    product: LineProduct,
    config: TeachConfig,
    seed: int,
    with_heatmaps: bool,
) -> dict[str, SeedOutcome]:
    """Teach the engine with the product's frames, then test every case: case name -> outcome."""
    bank = teach_product(extractor, product.teach, config.options(seed), f"line-{product.surface}")
    taught = Taught.of(bank)
    return {
        case: masked_outcome(
            score_frames(extractor, bank, test.frames, with_heatmaps), test.masks, taught, test.kinds
        )
        for case, test in product.cases.items()
    }


def plain_outcomes(
    extractor: CachedFeatureExtractor, product: LineProduct, seed: int, with_heatmaps: bool
) -> dict[str, SeedOutcome]:
    """The same for the plain PatchCore reference."""
    bank = plain_teach(extractor, product.teach, seed)
    taught = Taught(bank.threshold, bank.leave_one_out_scores, bank.vectors.shape[0])
    return {
        case: masked_outcome(
            plain_score(extractor, bank, test.frames, with_heatmaps), test.masks, taught, test.kinds
        )
        for case, test in product.cases.items()
    }


@dataclass
class LineRuns:
    """ProductRuns keyed by (configuration name, case, surface), filled seed by seed."""

    runs: dict[tuple[str, str, str], ProductRun] = field(default_factory=dict)

    def add(
        self, config: TeachConfig, surface: str, outcomes: dict[str, SeedOutcome], seconds: float
    ) -> None:
        for case, outcome in outcomes.items():
            key = (config.name, case, surface)
            if key not in self.runs:
                self.runs[key] = ProductRun(surface, REFERENCE_MODEL, config, teach_seconds=seconds)
            self.runs[key].seeds.append(outcome)

    def rows(self, line_set: LineSet, configs: Sequence[TeachConfig], surfaces: Sequence[str]) -> list[Row]:
        """One row per configuration, case and surface group (development, held-out) present."""
        rows = []
        for config in configs:
            for group_name, group in (("development", DEVELOPMENT), ("held-out", HELD_OUT)):
                members = [surface for surface in group if surface in surfaces]
                if not members:
                    continue
                for case in line_set.cases:
                    label = f"{line_set.name} {case}, {group_name} ({', '.join(members)})"
                    rows.append(Row(label, [self.runs[config.name, case, surface] for surface in members]))
        return rows


def teach_timings(
    product: LineProduct, configs: Sequence[TeachConfig], engine: Extractor, plain: Extractor | None
) -> dict[str, float]:
    """Configuration name -> seconds of one real teach (extraction included) of the product's frames."""
    seconds = {config.name: timed_teach(engine, product.teach, config.options(0))[1] for config in configs}
    if plain is not None:
        seconds[PLAIN_NAME] = timed_plain_teach(plain, product.teach)
    return seconds


def run_line_set(
    line_set: LineSet,
    engine: Extractor,
    plain: Extractor | None,
    surfaces: Sequence[str],
    seeds: Sequence[int],
) -> list[Row]:
    """The set's configurations (and the plain reference when given) on every surface of the set and seed;
    features are cached per product, shared by its configurations. The teach time in the table is one real
    teach of the first product."""
    configs = line_set.configs
    surfaces = [surface for surface in line_set.surfaces if surface in surfaces]
    results = LineRuns()
    teach_seconds: dict[str, float] = {}
    methods = len(configs) + (plain is not None)
    with tqdm(
        total=len(seeds) * len(surfaces) * methods, desc=f"{line_set.name} set", unit="run"
    ) as progress:
        for seed in seeds:
            for surface in surfaces:
                product = line_set.make(surface, seed)
                teach_seconds = teach_seconds or teach_timings(product, configs, engine, plain)
                cached = CachedFeatureExtractor(engine)
                for config in configs:
                    outcomes = engine_outcomes(cached, product, config, seed, line_set.with_heatmaps)
                    results.add(config, surface, outcomes, teach_seconds[config.name])
                    progress.update()
                if plain is not None:
                    outcomes = plain_outcomes(
                        CachedFeatureExtractor(plain), product, seed, line_set.with_heatmaps
                    )
                    results.add(PLAIN_REFERENCE, surface, outcomes, teach_seconds[PLAIN_NAME])
                    progress.update()
    all_configs = [*configs, *([PLAIN_REFERENCE] if plain is not None else [])]
    return results.rows(line_set, all_configs, surfaces)
