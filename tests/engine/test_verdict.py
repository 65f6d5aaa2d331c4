import tracemalloc

import numpy as np
import pytest

from patchcore.bank import ProductOptions
from patchcore.geometry import FrameView, Rect
from patchcore.heatmap import frame_heatmap
from patchcore.regions import find_regions
from patchcore.scoring import PatchScores, image_score
from patchcore.verdict import verdict


def grids_with_hot_patch(count: int, hot_tile: int, row: int, col: int, size: int = 8) -> np.ndarray:
    grids = np.zeros((count, size, size), np.float32)
    grids[hot_tile, row, col] = 1.0
    return grids


def peak(heatmap: np.ndarray) -> tuple[int, int]:
    return np.unravel_index(np.argmax(heatmap), heatmap.shape)


def test_image_score_is_the_max_or_the_mean_of_the_top_k():
    scores = np.array([[0.1, 0.9], [0.5, 0.7]])
    assert image_score(scores, 1) == pytest.approx(0.9)
    assert image_score(scores, 2) == pytest.approx(0.8)
    assert image_score(scores, 10) == pytest.approx(0.55)


def test_the_heatmap_has_the_frame_size_and_peaks_where_the_hot_patch_is():
    plan = FrameView(64).plan((300, 500))
    heatmap = frame_heatmap(grids_with_hot_patch(1, 0, 2, 6), plan)
    assert heatmap.shape == (300, 500) and heatmap.dtype == np.float32
    peak_y, peak_x = peak(heatmap)
    assert 2 / 8 * 300 <= peak_y < 3 / 8 * 300 and 6 / 8 * 500 <= peak_x < 7 / 8 * 500
    assert heatmap.max() < 1.0  # smoothed


def test_the_heatmap_is_zero_outside_the_roi_and_peaks_inside_it():
    plan = FrameView(64, roi=Rect(100, 40, 160, 80)).plan((300, 500))
    heatmap = frame_heatmap(grids_with_hot_patch(1, 0, 4, 4), plan)
    assert heatmap.shape == (300, 500)
    outside = heatmap.copy()
    outside[40:120, 100:260] = 0
    assert not outside.any()
    peak_y, peak_x = peak(heatmap)
    assert 40 + 4 / 8 * 80 <= peak_y < 40 + 5 / 8 * 80 and 100 + 4 / 8 * 160 <= peak_x < 100 + 5 / 8 * 160


def test_tiles_are_stitched_where_they_were_cut():
    plan = FrameView(64, tile_size=256).plan((256, 768))  # three tiles side by side
    heatmap = frame_heatmap(grids_with_hot_patch(3, 2, 1, 5), plan)
    peak_y, peak_x = peak(heatmap)
    assert 256 / 8 <= peak_y < 2 * 256 / 8 and 512 + 5 * 32 <= peak_x < 512 + 6 * 32


def test_where_tiles_overlap_the_higher_score_wins():
    plan = FrameView(64, tile_size=256).plan((256, 384))  # tiles at x = 0 and x = 128
    grids = np.zeros((2, 8, 8), np.float32)
    grids[0, :, 4:] = 0.2  # frame x 128..256 as the first tile sees it
    grids[1, :, :4] = 0.6  # the same frame pixels as the second tile sees them
    heatmap = frame_heatmap(grids, plan)
    assert heatmap[128, 150:230].min() > 0.55


def test_regions_are_sorted_by_peak():
    heatmap = np.zeros((100, 100), np.float32)
    heatmap[10:20, 10:30] = 0.6  # 200 pixels, lower peak
    heatmap[50:55, 50:55] = 0.9  # 25 pixels, higher peak
    heatmap[80, 80] = 0.7  # 1 pixel
    regions = find_regions(heatmap, threshold=0.5)
    assert [(region.peak_score, region.area) for region in regions] == [
        pytest.approx((0.9, 25)),
        pytest.approx((0.7, 1)),
        pytest.approx((0.6, 200)),
    ]
    assert (regions[2].x, regions[2].y, regions[2].width, regions[2].height) == (10, 10, 20, 10)


def test_heatmap_only_when_asked_and_regions_only_when_anomalous():
    plan = FrameView(64).plan((120, 80))
    options = ProductOptions(threshold=0.2)
    quiet = np.full((1, 8, 8), 0.1, np.float32)
    assert verdict(PatchScores.known(quiet), plan, options, want_heatmap=False).heatmap is None
    result = verdict(PatchScores.known(quiet), plan, options, want_heatmap=True)
    assert result.heatmap.shape == (120, 80) and not result.anomalous and result.regions == []
    hot = quiet.copy()
    hot[0, 3:5, 3:5] = 0.6
    result = verdict(PatchScores.known(hot), plan, options, want_heatmap=False)
    assert result.anomalous and result.heatmap is None and len(result.regions) == 1
    assert result.score == pytest.approx(0.6) and result.threshold == pytest.approx(0.2)


def test_the_image_score_and_regions_cover_every_tile_in_frame_pixels():
    plan = FrameView(64, tile_size=256).plan((512, 512))  # 2 x 2 tiles
    grids = np.full((4, 8, 8), 0.05, np.float32)
    grids[3, 2:4, 2:4] = 0.9  # bottom-right tile, frame pixels 256 + 64..128 on both axes
    result = verdict(PatchScores.known(grids), plan, ProductOptions(threshold=0.3), want_heatmap=True)
    assert result.score == pytest.approx(0.9)
    (region,) = result.regions
    assert 256 + 32 <= region.x <= 256 + 96 and 256 + 32 <= region.y <= 256 + 96
    assert region.x + region.width <= 256 + 160 and region.y + region.height <= 256 + 160


def test_small_regions_are_left_out_of_the_verdict():
    plan = FrameView(64).plan((64, 64))
    grids = np.full((1, 8, 8), 0.05, np.float32)
    grids[0, 4, 4] = 0.9
    scores = PatchScores.known(grids)
    assert len(verdict(scores, plan, ProductOptions(threshold=0.3), want_heatmap=False).regions) == 1
    options = ProductOptions(threshold=0.3, min_region_area=64 * 64)
    assert verdict(scores, plan, options, want_heatmap=False).regions == []


def test_a_defect_smaller_than_min_region_area_above_the_threshold_is_not_reported_from_a_lower_cut():
    plan = FrameView(64).plan((256, 256))
    grids = np.zeros((1, 8, 8), np.float32)
    grids[0, 3, 4] = 1.0
    scores = PatchScores.known(grids)
    (region,) = verdict(scores, plan, ProductOptions(threshold=0.3), want_heatmap=True).regions
    options = ProductOptions(threshold=0.3, min_region_area=region.area + 1)
    result = verdict(scores, plan, options, want_heatmap=True)
    assert result.anomalous and result.regions == []


def test_an_anomalous_frame_whose_smoothed_peak_is_below_the_threshold_gets_the_region_around_it():
    plan = FrameView(64).plan((64, 64))
    grids = np.full((1, 8, 8), 0.05, np.float32)
    grids[0, 2, 5] = 0.5  # one hot patch: smoothing lowers its peak well below 0.45
    result = verdict(PatchScores.known(grids), plan, ProductOptions(threshold=0.45), want_heatmap=True)
    assert result.anomalous and result.heatmap.max() < 0.45
    (region,) = result.regions
    assert region.x <= 5.5 * 8 < region.x + region.width and region.y <= 2.5 * 8 < region.y + region.height
    assert region.width < 32 and region.height < 32


def test_the_region_of_a_frame_anomalous_by_one_patch_is_that_patch_not_the_smoothed_peak_elsewhere():
    plan = FrameView(64).plan((512, 512))  # 64 frame pixels per patch
    grids = np.full((1, 8, 8), 0.05, np.float32)
    grids[0, 0:4, 5:8] = 0.40  # a broad raised area at the top right: smoothing keeps it near 0.40
    grids[0, 6, 1] = 0.50  # one hot patch at the bottom left: smoothing pulls it below 0.40
    result = verdict(PatchScores.known(grids), plan, ProductOptions(threshold=0.45), want_heatmap=True)
    assert result.anomalous and result.heatmap.max() < 0.45
    (region,) = result.regions
    assert region.x <= 1.5 * 64 < region.x + region.width and region.y <= 6.5 * 64 < region.y + region.height
    assert region.width <= 2 * 64 and region.height <= 2 * 64
    assert region.peak_score == pytest.approx(0.50)
    assert region.area >= 32 * 32  # the patch's pixels (above the threshold before smoothing)


def test_the_one_patch_region_is_found_in_the_tile_and_roi_it_came_from():
    plan = FrameView(64, roi=Rect(100, 50, 512, 256), tile_size=256).plan((400, 700))  # 2 tiles
    grids = np.full((2, 8, 8), 0.05, np.float32)
    grids[0, 0:3, 0:3] = 0.40
    grids[1, 5, 6] = 0.50  # second tile (frame x 356..612): frame x 356 + 6.5 * 32, y 50 + 5.5 * 32
    result = verdict(PatchScores.known(grids), plan, ProductOptions(threshold=0.45), want_heatmap=False)
    (region,) = result.regions
    assert region.x <= 356 + 6.5 * 32 < region.x + region.width
    assert region.y <= 50 + 5.5 * 32 < region.y + region.height


def test_a_one_patch_region_that_an_aligned_frames_pose_puts_outside_the_frame_is_left_out():
    pose = np.array([[1.0, 0.0, 300.0], [0.0, 1.0, 0.0]])  # the part sits 300 px right of where it was taught
    plan = FrameView(64, align=True).plan((512, 512), pose=pose)
    grids = np.full((1, 8, 8), 0.05, np.float32)
    grids[0, 3, 7] = 0.5  # at the part's right edge: outside this frame once shifted back
    result = verdict(PatchScores.known(grids), plan, ProductOptions(threshold=0.45), want_heatmap=False)
    assert result.anomalous and result.regions == []


def test_regions_of_a_high_resolution_heatmap_need_little_memory_beyond_their_labels():
    """A high-resolution frame's heatmap: the threshold mask (1 byte a pixel) and the component labels (4) are
    all the regions need; the peaks are read in each region's box, not by sorting every pixel of the frame
    (8 bytes a pixel for the order alone, 21 in all before)."""
    heatmap = np.zeros((3000, 4000), np.float32)  # a 12 MP frame keeps the test quick; the bound is per pixel
    heatmap[1000:1200, 2000:2300] = np.linspace(0.6, 0.9, 300, dtype=np.float32)
    heatmap[100:110, 100:120] = 0.7
    heatmap[2500:2600, 50:60] = 0.4  # below the threshold
    tracemalloc.start()
    try:
        regions = find_regions(heatmap, 0.5)
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [(r.x, r.y, r.width, r.height, r.area) for r in regions] == [
        (2000, 1000, 300, 200, 60000),
        (100, 100, 20, 10, 200),
    ]
    assert [r.peak_score for r in regions] == pytest.approx([0.9, 0.7])
    assert peak_bytes < 8 * heatmap.size


def test_where_tiles_overlap_a_part_of_the_frame_counts_once_in_the_top_k_mean():
    plan = FrameView(64, tile_size=256).plan((256, 384))  # tiles at x = 0 and x = 128: 32-pixel patches
    grids = np.full((2, 8, 8), 0.1, np.float32)
    grids[0, 3, 5] = 0.9  # frame x 160..192, y 96..128, as the first tile sees it
    grids[1, 3, 1] = 0.9  # the same frame pixels, as the second tile sees them
    grids[0, 6, 0] = 0.5  # frame x 0..32, seen by the first tile only
    options = ProductOptions(threshold=1.0, top_k=2)
    for want_heatmap in (False, True):
        result = verdict(PatchScores.known(grids), plan, options, want_heatmap)
        assert result.score == pytest.approx((0.9 + 0.5) / 2)
    top_1 = ProductOptions(threshold=1.0, top_k=1)
    assert verdict(PatchScores.known(grids), plan, top_1, want_heatmap=False).score == pytest.approx(0.9)


def test_tiles_that_do_not_overlap_keep_every_patch_in_the_top_k_mean():
    plan = FrameView(64, tile_size=256).plan((256, 512))  # tiles at x = 0 and x = 256
    grids = np.full((2, 8, 8), 0.1, np.float32)
    grids[0, 3, 7] = 0.9
    grids[1, 3, 0] = 0.7  # the neighbouring patch, in the other tile
    result = verdict(PatchScores.known(grids), plan, ProductOptions(threshold=1.0, top_k=2), False)
    assert result.score == pytest.approx(0.8)


@pytest.mark.parametrize(
    ("view", "pose", "patch_box"),
    [
        # patch (2, 6) of an 8x8 grid over the whole 5000x3000 frame: x 3750..4375, y 750..1125
        (FrameView(64), None, (3750, 750, 625, 375)),
        # the same patch over a 2400x1600 ROI at (2000, 1000): x 3800..4100, y 1400..1600
        (FrameView(64, roi=Rect(2000, 1000, 2400, 1600)), None, (3800, 1400, 300, 200)),
        # an aligned part 400 px right of and 200 px below where it was taught (8 % margins left out)
        (FrameView(64, align=True), np.array([[1.0, 0.0, 400.0], [0.0, 1.0, 200.0]]), None),
    ],
)
def test_a_large_frames_regions_lie_on_its_hot_patch_without_a_map_of_the_frames_size(view, pose, patch_box):
    plan = view.plan((3000, 5000), pose=pose)
    if patch_box is None:  # the aligned case: the patch of the region the model saw, moved by the pose
        roi = plan.roi
        x, y = roi.x + roi.width * 6 / 8 + 400, roi.y + roi.height * 2 / 8 + 200
        patch_box = (x, y, roi.width / 8, roi.height / 8)
    grids = grids_with_hot_patch(1, 0, 2, 6)
    tracemalloc.start()
    try:
        result = verdict(PatchScores.known(grids), plan, ProductOptions(threshold=0.2), want_heatmap=False)
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.anomalous and result.regions
    region = result.regions[0]
    left, top, width, height = patch_box
    centre_x, centre_y = left + width / 2, top + height / 2
    assert region.x <= centre_x < region.x + region.width and region.y <= centre_y < region.y + region.height
    assert region.width < 3 * width and region.height < 3 * height  # around the patch, not the frame
    assert region.x + region.width <= 5000 and region.y + region.height <= 3000
    assert 0 < region.area <= region.width * region.height
    assert peak_bytes < 4 * 5000 * 3000 / 2  # half a float32 map of the frame's size (60 MB)
