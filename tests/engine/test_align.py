"""Alignment: a frame's pose against the first teach frame, the frame turned back before inspection, and its
verdict in the pixels of the frame as it came."""

import cv2
import numpy as np
import pytest

from patchcore.align import Reference, aligned, rect_on_reference, to_frame
from patchcore.bank import TeachOptions, load_bank, save_bank
from patchcore.errors import InvalidInput
from patchcore.geometry import Rect
from patchcore.images import ScaledImage
from patchcore.prepare import prepare_teach_set
from patchcore.teach import teach_images

ANGLE_DEG = 3.0  # counter-clockwise, about the frame's centre
SHIFT = (6.0, -4.0)  # x, y in frame pixels


def placed(part: np.ndarray, angle: float = ANGLE_DEG, shift: tuple[float, float] = SHIFT) -> np.ndarray:
    """part turned by angle about its centre and shifted, as a fixture that holds it loosely would show it."""
    height, width = part.shape[:2]
    return cv2.warpAffine(
        part, part_pose(part.shape, angle, shift), (width, height), borderMode=cv2.BORDER_REFLECT
    )


def part_pose(
    shape: tuple[int, ...], angle: float = ANGLE_DEG, shift: tuple[float, float] = SHIFT
) -> np.ndarray:
    """[2, 3]: where a pixel (x, y) of the part lands in the frame."""
    matrix = cv2.getRotationMatrix2D((shape[1] / 2, shape[0] / 2), angle, 1.0)
    matrix[:, 2] += shift
    return matrix


@pytest.fixture(scope="module")
def part(brick_crops) -> np.ndarray:
    return brick_crops[0]


def test_the_pose_of_a_turned_and_shifted_part_is_found(part):
    reference = Reference.of(part, part.shape[:2])
    pose = reference.pose_of(placed(part), part.shape[:2])
    corners = np.array([[0, 0, 1], [255, 0, 1], [0, 255, 1], [255, 255, 1]], dtype=np.float64).T
    np.testing.assert_allclose(pose @ corners, part_pose(part.shape) @ corners, atol=0.5)


def test_the_pose_of_a_part_in_an_elongated_frame_is_found(part):
    """A 120x1536 strip (a line-scan-like frame): its small grey copy keeps its aspect, so a turn and a
    shift are found in frame pixels on both axes."""
    strip = cv2.resize(part, (1536, 120 + 32), interpolation=cv2.INTER_LINEAR)[16:-16]
    pose = Reference.of(strip, strip.shape[:2]).pose_of(placed(strip, angle=1.0), strip.shape[:2])
    corners = np.array([[0, 0, 1], [1535, 0, 1], [0, 119, 1], [1535, 119, 1]], dtype=np.float64).T
    np.testing.assert_allclose(pose @ corners, part_pose(strip.shape, angle=1.0) @ corners, atol=1.0)


def test_gain_and_offset_do_not_move_the_pose(part):
    reference = Reference.of(part, part.shape[:2])
    darker = np.clip(placed(part) * 0.7 + 20, 0, 255).astype(np.uint8)
    corners = np.array([[0, 0, 1], [255, 255, 1]], dtype=np.float64).T
    np.testing.assert_allclose(
        reference.pose_of(darker, part.shape[:2]) @ corners, part_pose(part.shape) @ corners, atol=0.5
    )


def test_an_aligned_frame_shows_the_reference(part):
    frame = placed(part)
    pose = Reference.of(part, part.shape[:2]).pose_of(frame, part.shape[:2])
    back = aligned(frame, pose, part.shape[:2], (0, 0, 256, 256)).astype(np.float64)
    inner = slice(24, -24)  # the edges show what the turned frame did not
    assert np.abs(back[inner, inner] - part[inner, inner]).mean() < 6.0


def test_only_the_region_the_model_sees_is_turned(part):
    frame = placed(part)
    pose = Reference.of(part, part.shape[:2]).pose_of(frame, part.shape[:2])
    whole = aligned(frame, pose, part.shape[:2], (0, 0, 256, 256))
    region = aligned(frame, pose, part.shape[:2], (40, 30, 100, 120))
    np.testing.assert_array_equal(region[30:150, 40:140], whole[30:150, 40:140])
    region[30:150, 40:140] = 0
    assert not region.any()


def test_a_shrunk_decode_is_aligned_at_its_own_scale(part):
    """A JPEG decoded at half size is turned back with the same pose, halved."""
    frame = placed(part)
    pose = Reference.of(part, part.shape[:2]).pose_of(frame, part.shape[:2])
    half = cv2.resize(frame, (128, 128), interpolation=cv2.INTER_AREA)
    back = aligned(half, pose, part.shape[:2], (0, 0, 256, 256)).astype(np.float64)
    expected = cv2.resize(part, (128, 128), interpolation=cv2.INTER_AREA)
    assert np.abs(back[12:-12, 12:-12] - expected[12:-12, 12:-12]).mean() < 6.0


def test_a_heatmap_in_reference_pixels_lands_where_the_part_is(part):
    heatmap = np.zeros(part.shape[:2], np.float32)
    heatmap[100, 180] = 1.0  # reference pixel (x 180, y 100)
    on_frame = to_frame(heatmap, part_pose(part.shape))
    row, col = np.unravel_index(np.argmax(on_frame), on_frame.shape)
    x, y = part_pose(part.shape) @ [180, 100, 1]
    assert abs(col - x) <= 1 and abs(row - y) <= 1


def test_a_frame_of_another_size_is_refused(part):
    reference = Reference.of(part, part.shape[:2])
    with pytest.raises(InvalidInput, match=r"the frame is 300x256; .* 256x256 teach frames"):
        reference.pose_of(np.zeros((256, 300, 3), np.uint8), (256, 300))


def test_a_frame_that_cannot_be_aligned_is_inspected_as_it_came(part):
    flat = np.full_like(part, 128)
    np.testing.assert_array_equal(
        Reference.of(part, part.shape[:2]).pose_of(flat, part.shape[:2]), np.eye(2, 3)
    )


@pytest.fixture(scope="module")
def aligned_bank(tiny_extractor, part):
    rng = np.random.default_rng(3)
    good = [np.clip(part + rng.normal(0, 2, part.shape), 0, 255).astype(np.uint8) for _ in range(8)]
    options = TeachOptions(align=True, line_views=0, roi=Rect(24, 24, 208, 208))
    return teach_images(tiny_extractor, good, "fixture", options)


def test_teaching_keeps_the_first_image_as_the_reference(aligned_bank, part, tmp_path):
    assert aligned_bank.reference.frame_size == (256, 256)
    save_bank(aligned_bank, tmp_path / "v.bank")
    loaded = load_bank(tmp_path / "v.bank")
    assert loaded.teach_options.align
    np.testing.assert_array_equal(loaded.reference.grey, aligned_bank.reference.grey)
    assert loaded.reference.frame_size == (256, 256)


def test_a_moved_part_is_good_and_its_defect_is_found_where_it_is(
    aligned_bank, tiny_extractor, frame_scorer, part, plant_blob
):
    score_frame = frame_scorer(tiny_extractor, aligned_bank)
    assert not score_frame(placed(part)).anomalous

    x, y = (round(float(value)) for value in part_pose(part.shape) @ [170, 80, 1])
    result = score_frame(plant_blob(placed(part), (y, x), 7))
    assert result.anomalous
    assert any(r.x <= x < r.x + r.width and r.y <= y < r.y + r.height for r in result.regions)
    assert np.unravel_index(np.argmax(result.heatmap), result.heatmap.shape) == pytest.approx((y, x), abs=4)


def test_frames_added_to_a_product_are_aligned_to_its_first_teach_image(aligned_bank, tiny_extractor, part):
    view = aligned_bank.view(tiny_extractor.info.input_size)
    (frame,) = prepare_teach_set([placed(part)], lambda image, _: ScaledImage.full(image), view)
    assert frame.reference is aligned_bank.reference
    corner = np.array([0, 0, 1.0])
    np.testing.assert_allclose(frame.plan.pose @ corner, part_pose(part.shape) @ corner, atol=0.5)


def test_a_region_on_the_frame_is_drawn_around_the_same_place_of_the_reference(part):
    """The page's picture of an aligned frame is the reference's view: a region found on the frame is
    boxed there around where the part shows it."""
    x, y = part_pose(part.shape) @ [100, 60, 1]
    box = rect_on_reference(round(float(x)), round(float(y)), 20, 10, part_pose(part.shape))
    left, top, width, height = box
    assert left <= 100 < left + width and top <= 60 < top + height
    assert 20 <= width <= 24 and 10 <= height <= 14


def test_a_part_shifted_by_a_fifth_of_the_frame_is_found(part):
    """Far beyond where ECC alone, started from no move, finds it: the shift is found first."""
    shift = (51.0, -30.0)
    reference = Reference.of(part, part.shape[:2])
    pose = reference.pose_of(placed(part, angle=2.0, shift=shift), part.shape[:2])
    corners = np.array([[0, 0, 1], [255, 255, 1]], dtype=np.float64).T
    np.testing.assert_allclose(pose @ corners, part_pose(part.shape, 2.0, shift) @ corners, atol=0.5)


@pytest.mark.parametrize(
    ("angle", "shift"),
    [
        (8.0, (0.0, 0.0)),
        (6.0, (25.0, 15.0)),
        (6.0, (51.0, -30.0)),
        (-8.0, (-40.0, 30.0)),
        (10.0, (10.0, -8.0)),
    ],
)
def test_a_part_turned_by_up_to_ten_degrees_and_shifted_is_found(part, angle, shift):
    """Turns the README promises (up to about 10 degrees) together with a shift: the phase correlation of
    an unturned copy finds no shift there, so the turn is looked for first."""
    reference = Reference.of(part, part.shape[:2])
    pose = reference.pose_of(placed(part, angle=angle, shift=shift), part.shape[:2])
    corners = np.array([[0, 0, 1], [255, 0, 1], [0, 255, 1], [255, 255, 1]], dtype=np.float64).T
    np.testing.assert_allclose(pose @ corners, part_pose(part.shape, angle, shift) @ corners, atol=0.5)


def test_another_part_is_inspected_as_it_came(part, brick_crops):
    reference = Reference.of(part, part.shape[:2])
    np.testing.assert_array_equal(reference.pose_of(brick_crops[5], part.shape[:2]), np.eye(2, 3))


def test_a_tiled_product_aligns_every_tile(tiny_extractor, frame_scorer, brick, plant_blob):
    """Alignment happens once per frame, before the tiles are cut: a pit on a moved 512x512 part, inspected in
    4 tiles of 256, is reported where it is in the frame."""
    rng = np.random.default_rng(4)
    held = [placed(brick, rng.uniform(-0.5, 0.5), tuple(rng.uniform(-1, 1, 2))) for _ in range(8)]
    options = TeachOptions(align=True, line_views=0, tile_size=256, roi=Rect(64, 64, 384, 384))
    bank = teach_images(tiny_extractor, held, "tiled-fixture", options)
    score_frame = frame_scorer(tiny_extractor, bank)
    far = (40.0, -30.0)  # farther than the pit's patch is wide, so a heatmap left unturned misses it
    good = score_frame(placed(brick, shift=far))

    x, y = (round(float(value)) for value in part_pose(brick.shape, shift=far) @ [330, 150, 1])
    result = score_frame(plant_blob(placed(brick, shift=far), (y, x), 9))
    assert result.anomalous and result.score > 1.5 * good.score
    assert any(r.x <= x < r.x + r.width and r.y <= y < r.y + r.height for r in result.regions)
    assert np.unravel_index(np.argmax(result.heatmap), result.heatmap.shape) == pytest.approx((y, x), abs=20)
