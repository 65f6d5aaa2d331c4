import numpy as np
import pytest

from patchcore.bank import TeachOptions
from patchcore.errors import InvalidInput, TooLarge
from patchcore.geometry import FrameView, Rect


def corners(plan) -> list[tuple[int, int, int]]:
    return [(tile.x, tile.y, tile.width) for tile in plan.tiles]


@pytest.mark.parametrize("rect", [(-1, 0, 10, 10), (0, -2, 10, 10), (0, 0, 0, 10), (0, 0, 10, 0)])
def test_a_rect_left_of_or_above_the_frame_or_empty_is_invalid(rect):
    with pytest.raises(InvalidInput, match="region"):
        Rect(*rect)


def test_without_tiling_the_whole_frame_is_one_input():
    plan = FrameView(224).plan((480, 640))
    assert plan.tiles == (Rect(0, 0, 640, 480),) and not plan.tiled and plan.roi == Rect(0, 0, 640, 480)


def test_without_tiling_the_roi_is_one_input():
    plan = FrameView(224, roi=Rect(100, 50, 300, 200)).plan((480, 640))
    assert plan.tiles == (Rect(100, 50, 300, 200),)


def test_an_aligned_frame_without_an_roi_leaves_out_8_percent_of_each_side():
    assert FrameView(224, align=True).plan((256, 256)).roi == Rect(20, 20, 216, 216)
    assert FrameView(224, align=True).plan((480, 640)).roi == Rect(51, 38, 538, 404)
    assert FrameView(224, roi=Rect(0, 0, 100, 80), align=True).plan((480, 640)).roi == Rect(0, 0, 100, 80)


def test_tiles_start_and_end_at_the_edges_and_share_the_overlap():
    plan = FrameView(224, tile_size=512).plan((600, 1000))
    assert corners(plan) == [(0, 0, 512), (488, 0, 512), (0, 88, 512), (488, 88, 512)]


def test_tiles_that_fit_exactly_do_not_overlap():
    plan = FrameView(224, tile_size=512).plan((1536, 2048))
    assert len(plan.tiles) == 12
    assert sorted({tile.x for tile in plan.tiles}) == [0, 512, 1024, 1536]
    assert sorted({tile.y for tile in plan.tiles}) == [0, 512, 1024]


def test_tiles_follow_the_roi_and_shrink_to_its_shorter_side():
    plan = FrameView(224, roi=Rect(10, 20, 300, 1000), tile_size=512).plan((1100, 400))
    assert corners(plan) == [(10, 20, 300), (10, 253, 300), (10, 487, 300), (10, 720, 300)]


def test_a_roi_outside_the_frame_is_invalid_and_names_both_sizes():
    view = FrameView(224, roi=Rect(600, 0, 100, 100))
    with pytest.raises(InvalidInput, match=r"x=600 y=0 100x100.*640x480"):
        view.plan((480, 640))


def test_too_many_tiles_are_refused_with_the_count():
    with pytest.raises(TooLarge, match=r"256 tiles.*use a larger tile_size"):
        FrameView(224, tile_size=256).plan((4096, 4096))


def test_too_many_tiles_of_a_thin_region_say_that_its_short_side_limits_them():
    """A larger tile_size cannot help when the region's short side is what sizes the tiles."""
    with pytest.raises(TooLarge, match=r"80 tiles of 100 pixels.*short side \(100 pixels\): use tile_size 0"):
        FrameView(224, tile_size=160).plan((100, 8000))


@pytest.mark.parametrize("tile_size", [1, 31, 8193])
def test_a_tile_size_out_of_range_is_invalid(tile_size):
    with pytest.raises(InvalidInput, match="tile_size"):
        FrameView(224, tile_size=tile_size)


@pytest.mark.parametrize(
    ("view", "frame", "shrink"),
    [
        (FrameView(224), (640, 480), 2),
        (FrameView(224), (4000, 3000), 8),
        (FrameView(224), (640, 447), 1),
        (FrameView(224, roi=Rect(0, 0, 300, 300)), (4000, 3000), 1),
        (FrameView(224, tile_size=512), (2048, 1536), 2),
        (FrameView(224, tile_size=2048), (8000, 6000), 8),
        (FrameView(224, roi=Rect(0, 0, 500, 400), tile_size=512), (2048, 1536), 1),
    ],
)
def test_a_frame_is_shrunk_only_as_far_as_every_input_keeps_the_model_size(view, frame, shrink):
    assert view.shrink_for(*frame) == shrink


@pytest.mark.parametrize("roi", [(0, 0, 1, 1), (10, 10, 31, 200), (10, 10, 200, 16)])
def test_a_region_of_interest_under_32_pixels_a_side_is_invalid_and_named_with_its_size(roi):
    x, y, width, height = roi
    with pytest.raises(InvalidInput) as refused:
        TeachOptions(roi=Rect(*roi))
    message = str(refused.value)
    assert f"region of interest at x={x} y={y}" in message
    assert f"{width}x{height}" in message and "32x32" in message


def test_a_region_of_interest_of_32_pixels_a_side_is_taken():
    assert TeachOptions(roi=Rect(0, 0, 32, 32)).roi == Rect(0, 0, 32, 32)


@pytest.mark.parametrize("frame", [(16, 16), (31, 640), (480, 20)])
def test_a_frame_under_32_pixels_a_side_is_invalid_for_a_product_without_an_roi(frame):
    height, width = frame
    with pytest.raises(InvalidInput, match=f"the image is {width}x{height} pixels.*32x32"):
        FrameView(224).plan(frame)


def test_a_frame_of_32_pixels_a_side_is_taken_whole():
    assert FrameView(224).plan((32, 32)).tiles == (Rect(0, 0, 32, 32),)


def test_an_aligned_frame_is_checked_without_the_margins_it_leaves_out():
    with pytest.raises(InvalidInput, match=r"without the margins alignment leaves out .* 30x30 pixels"):
        FrameView(224, align=True).plan((36, 36))


def test_overlapping_tiles_share_the_patch_locations_of_the_pixels_they_both_see():
    plan = FrameView(224, tile_size=512).plan((600, 1000))  # tiles at x 0, 488 and y 0, 88: 32-pixel patches
    locations = plan.patch_locations((16, 16))
    assert locations.shape == (4, 16, 16)
    # x 488 is 15.25 patches in: the second tile's first column is the first tile's last one
    assert (locations[1, :, 0] == locations[0, :, 15]).all()
    # y 88 is 2.75 patches down: the third tile's first row is the first tile's fourth
    assert (locations[2, 0, :] == locations[0, 3, :]).all()
    # 31 x 19 cells of 32 pixels cover the 1000 x 600 frame, each seen by at least one patch
    assert len(np.unique(locations)) == 31 * 19


def test_without_overlap_every_patch_has_a_location_of_its_own():
    for plan in (FrameView(224).plan((480, 640)), FrameView(224, tile_size=512).plan((1536, 2048))):
        locations = plan.patch_locations((16, 16))
        assert len(np.unique(locations)) == locations.size


def test_patches_near_a_marked_one_are_found_across_the_tiles_border():
    plan = FrameView(64, tile_size=256).plan((256, 512))  # two tiles side by side, 8 x 8 patches each
    marked = np.zeros((2, 8, 8), bool)
    marked[0, 3, 7] = True  # the first tile's right edge

    near = plan.near(marked, 1)

    assert np.argwhere(near[0]).tolist() == [[row, col] for row in (2, 3, 4) for col in (6, 7)]
    assert np.argwhere(near[1]).tolist() == [[row, 0] for row in (2, 3, 4)]
