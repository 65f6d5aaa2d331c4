"""Runs one configuration on one product over several seeds and collects what the table reports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from patchcore.bank import MemoryBank
from tests.benchmarks.accuracy_configs import ModelChoice, TeachConfig
from tests.benchmarks.accuracy_protocol import FrameScores, score_frames, teach_product
from tests.benchmarks.cached_features import CachedFeatureExtractor
from tests.benchmarks.elpv_data import ProductImages, split_teach_test
from tests.benchmarks.metrics import auroc, operating_point, pixel_auroc
from tests.benchmarks.textures import make_texture_product

TEACH_COUNT = 8


@dataclass(frozen=True)
class SeedOutcome:
    """One teach + test run. good_scores: [G] held-out good frames; defect_scores: [D] defective frames."""

    image_auroc: float
    pixel_auroc: float | None
    threshold: float
    leave_one_out_scores: tuple[float, ...]
    good_scores: np.ndarray
    defect_scores: np.ndarray
    bank_size: int
    defect_kinds: tuple[str, ...] = ()  # the kind of each defective frame, where the data set names them


@dataclass
class ProductRun:
    """All seeds of one (product, model, configuration)."""

    product: str
    model: ModelChoice
    config: TeachConfig
    seeds: list[SeedOutcome] = field(default_factory=list)
    teach_seconds: float = float("nan")  # wall time of a real teach of 8 frames (extraction included)
    ms_per_image: float = float("nan")  # single-frame latency: resize, extract, score, heatmap, regions

    def image_aurocs(self) -> np.ndarray:
        return np.array([seed.image_auroc for seed in self.seeds])

    def pixel_aurocs(self) -> np.ndarray:
        return np.array([seed.pixel_auroc for seed in self.seeds if seed.pixel_auroc is not None])

    def rates(self, threshold_of: Callable[[SeedOutcome], float] | None = None) -> tuple[float, float]:
        """Mean false-alarm and miss rate over seeds, at the bank's threshold or at threshold_of(seed)."""
        points = [
            operating_point(
                seed.good_scores,
                seed.defect_scores,
                seed.threshold if threshold_of is None else threshold_of(seed),
            )
            for seed in self.seeds
        ]
        return (
            float(np.mean([point.false_alarm_rate for point in points])),
            float(np.mean([point.miss_rate for point in points])),
        )


def run_elpv_seed(
    extractor: CachedFeatureExtractor, product: ProductImages, config: TeachConfig, seed: int
) -> SeedOutcome:
    """Teach with 8 random good cells, test on every other good cell and every defective cell."""
    teach_indices, test_indices = split_teach_test(len(product.good), TEACH_COUNT, seed)
    bank = teach_product(extractor, product.good[teach_indices], config.options(seed), f"elpv-{product.name}")
    good = score_frames(extractor, bank, product.good[test_indices], want_heatmaps=False).scores
    defective = score_frames(extractor, bank, product.defective, want_heatmaps=False).scores
    return SeedOutcome(
        image_auroc=auroc(good, defective),
        pixel_auroc=None,
        threshold=bank.options.threshold,
        leave_one_out_scores=tuple(bank.stats.leave_one_out_scores),
        good_scores=good,
        defect_scores=defective,
        bank_size=bank.vectors.shape[0],
    )


@dataclass(frozen=True)
class Taught:
    """What a test needs of a taught product besides its scores."""

    threshold: float
    leave_one_out_scores: tuple[float, ...]
    bank_size: int

    @classmethod
    def of(cls, bank: MemoryBank) -> Taught:
        return cls(bank.options.threshold, tuple(bank.stats.leave_one_out_scores), bank.vectors.shape[0])


def masked_outcome(
    frames: FrameScores, masks: np.ndarray, taught: Taught, kinds: tuple[str, ...] = ()
) -> SeedOutcome:
    """Image AUROC of scored frames, and pixel AUROC when they have heatmaps, against their defect masks
    [N, H, W] bool (a frame is defective when its mask has a pixel set); kinds: [N] each frame's defect kind
    ("" for good frames), or () where the data set does not name them."""
    defective = masks.any(axis=(1, 2))
    return SeedOutcome(
        image_auroc=auroc(frames.scores[~defective], frames.scores[defective]),
        pixel_auroc=None if frames.heatmaps is None else pixel_auroc(frames.heatmaps, masks),
        threshold=taught.threshold,
        leave_one_out_scores=taught.leave_one_out_scores,
        good_scores=frames.scores[~defective],
        defect_scores=frames.scores[defective],
        bank_size=taught.bank_size,
        defect_kinds=tuple(np.asarray(kinds)[defective].tolist()) if kinds else (),
    )


def run_texture_seed(
    extractor: CachedFeatureExtractor, name: str, config: TeachConfig, seed: int
) -> SeedOutcome:
    """Teach with 8 good crops of one texture, test on good crops and crops with planted defects."""
    product = make_texture_product(name, seed)
    bank = teach_product(extractor, product.teach, config.options(seed), f"texture-{name}")
    frames = score_frames(extractor, bank, product.test, want_heatmaps=True)
    return masked_outcome(frames, product.masks, Taught.of(bank))
