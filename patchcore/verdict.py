"""Verdict: a frame's patch scores + its geometry + the product's options -> score, verdict, heatmap and
defect regions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from patchcore.bank import ProductOptions
from patchcore.geometry import FramePlan
from patchcore.heatmap import frame_heatmap
from patchcore.regions import Region, find_regions
from patchcore.scoring import PatchScores


@dataclass(frozen=True)
class Verdict:
    score: float
    anomalous: bool
    threshold: float
    heatmap: np.ndarray | None  # [H, W] float32 at the frame's size in patch-score units, when asked for
    regions: list[Region]  # in frame pixels, at least min_region_area each; empty unless anomalous


def verdict(scores: PatchScores, plan: FramePlan, options: ProductOptions, want_heatmap: bool) -> Verdict:
    """scores: the patch scores of the frame's T model inputs (all its tiles) -> the frame's Verdict.

    The image score is taken over every patch of every tile. The frame-sized heatmap, and with it every
    patch's score, is computed only when asked for or when the frame is anomalous (its regions come from it).
    """
    if want_heatmap:
        scores.grids()  # searched in full anyway: the image score comes from them
    score = scores.image_score(options.top_k)
    anomalous = score > options.threshold
    heatmap = frame_heatmap(scores.grids(), plan) if want_heatmap or anomalous else None
    regions = _regions(heatmap, score, options) if anomalous else []
    return Verdict(
        score=score,
        anomalous=anomalous,
        threshold=options.threshold,
        heatmap=heatmap if want_heatmap else None,
        regions=regions,
    )


def _regions(heatmap: np.ndarray, score: float, options: ProductOptions) -> list[Region]:
    """The heatmap's areas above the threshold; when smoothing has pulled a small defect's peak below it,
    the area around the peak, cut at the same fraction of the peak as the threshold is of the score, so an
    anomalous frame always says where (unless min_region_area leaves it out: the area above the threshold
    is what it is compared with, so a lower cut never makes a too-small defect big enough)."""
    regions = find_regions(heatmap, options.threshold)
    if not regions:
        level = float(heatmap.max()) * options.threshold / score
        regions = find_regions(heatmap, level)[:1]
    return [region for region in regions if region.area >= options.min_region_area]
