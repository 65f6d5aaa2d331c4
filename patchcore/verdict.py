"""Verdict: a frame's patch scores + its geometry + the product's options -> score, verdict, heatmap and
defect regions."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from patchcore.bank import ProductOptions
from patchcore.geometry import FramePlan
from patchcore.heatmap import frame_heatmap, meeting_on_the_map
from patchcore.regions import Region, find_regions
from patchcore.scoring import PatchScores

# The longest side of the map a frame's regions are found on: a larger frame's map is made a whole step
# smaller (a frame-sized float map of a 49-megapixel frame holds 196 MB, and finding regions on it as much
# again), so its boxes are exact to that step.
REGION_MAP_SIDE = 2048


@dataclass(frozen=True)
class Verdict:
    score: float
    anomalous: bool
    threshold: float
    heatmap: np.ndarray | None  # [H, W] float32 at the frame's size in patch-score units, when asked for
    regions: list[Region]  # in frame pixels, at least min_region_area each; empty unless anomalous


def verdict(scores: PatchScores, plan: FramePlan, options: ProductOptions, want_heatmap: bool) -> Verdict:
    """scores: the patch scores of the frame's T model inputs (all its tiles) -> the frame's Verdict.

    The image score is taken over every patch of every tile, each location of the frame counted once where
    tiles overlap (FramePlan.patch_locations). Every patch's score is searched only when a heatmap is asked
    for; an anomalous frame's regions need those of the patches that draw its areas above the threshold
    (_region_grids). The frame-sized heatmap is made only when asked for or for the regions of
    an anomalous frame of at most REGION_MAP_SIDE pixels a side (a larger one's come from a map a whole step
    smaller).
    """
    if want_heatmap:
        scores.grids()  # searched in full anyway: the image score comes from them
    # The highest patch is the highest location: only a mean of several needs to know where patches lie.
    locations = plan.patch_locations(scores.grid) if options.top_k > 1 else None
    score = scores.image_score(options.top_k, locations)
    anomalous = score > options.threshold
    heatmap = frame_heatmap(scores.grids(), plan) if want_heatmap else None
    regions = []
    if anomalous:
        regions = _regions(heatmap, _region_grids(scores, plan, options.threshold), plan, options)
    return Verdict(
        score=score,
        anomalous=anomalous,
        threshold=options.threshold,
        heatmap=heatmap,
        regions=regions,
    )


def _region_grids(scores: PatchScores, plan: FramePlan, threshold: float) -> np.ndarray:
    """Patch scores that draw the heatmap's areas above the threshold exactly: where a patch could score above
    it, its score and that of every patch it meets on the map; elsewhere upper bounds under the threshold,
    which leave the map there under it too (a map pixel is never above every score it is made of). The
    highest of them is the frame's highest patch, exact."""
    return scores.region_grids(threshold, lambda marked: meeting_on_the_map(marked, plan))


def _region_map_step(frame_size: tuple[int, int]) -> int:
    """The whole step by which the map regions are found on is smaller than a frame of frame_size (H, W)."""
    return -(-max(frame_size) // REGION_MAP_SIDE)


def _regions(
    heatmap: np.ndarray | None, grids: np.ndarray, plan: FramePlan, options: ProductOptions
) -> list[Region]:
    """The areas above the threshold of the heatmap (the frame-sized one when given and the frame is at
    most REGION_MAP_SIDE pixels a side, else one made a _region_map_step smaller, whose regions are scaled
    back to frame pixels); when smoothing has pulled every pixel below it (a defect smaller than a patch),
    the highest patch: that patch made the frame anomalous, while the smoothed heatmap's highest point may
    lie anywhere (a broad area of moderate scores keeps its level). Regions smaller than min_region_area
    are left out."""
    step = _region_map_step(plan.frame_size)
    region_map = heatmap if heatmap is not None and step == 1 else frame_heatmap(grids, plan, step)
    regions = find_regions(region_map, options.threshold) or _highest_patch(grids, plan, step)
    in_frame = [_in_frame_pixels(region, step, plan.frame_size) for region in regions]
    return [region for region in in_frame if region.area >= options.min_region_area]


def _highest_patch(grids: np.ndarray, plan: FramePlan, step: int) -> list[Region]:
    """The highest-scoring patch as a region on the map a step smaller than the frame: its footprint on a
    heatmap of that patch alone (so tiles, the ROI and alignment place it as they place every score), its
    pixels as the area; none when an aligned frame's pose puts the patch outside the frame."""
    alone = np.zeros(grids.shape, np.float32)
    alone.flat[int(np.argmax(grids))] = 1.0
    footprint = frame_heatmap(alone, plan, step)
    regions = find_regions(footprint, 0.5 * float(footprint.max())) if footprint.any() else []
    return [dataclasses.replace(region, peak_score=float(grids.max())) for region in regions[:1]]


def _in_frame_pixels(region: Region, step: int, frame_size: tuple[int, int]) -> Region:
    """A region found on a map step times smaller than the frame -> the same region in frame pixels (its box
    clipped to the frame, each map pixel counted as step x step frame pixels)."""
    if step == 1:
        return region
    height, width = frame_size
    x, y = region.x * step, region.y * step
    box_width, box_height = min(region.width * step, width - x), min(region.height * step, height - y)
    area = min(region.area * step * step, box_width * box_height)
    return dataclasses.replace(region, x=x, y=y, width=box_width, height=box_height, area=area)
