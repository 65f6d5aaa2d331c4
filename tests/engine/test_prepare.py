import cv2
import numpy as np
import pytest

from patchcore.errors import InvalidInput
from patchcore.geometry import FrameView, Rect
from patchcore.images import ScaledImage, decode_scaled
from patchcore.prepare import prepare, prepare_teach_set

RED, BLUE, GREY = (200, 30, 30), (30, 30, 200), (90, 90, 90)


def frame_of(height: int, width: int, colour=GREY) -> np.ndarray:
    return np.full((height, width, 3), colour, np.uint8)


@pytest.mark.parametrize("shape", [(300, 500), (100, 60), (224, 224), (480, 640)])
def test_a_whole_frame_becomes_one_input_of_the_model_size(shape):
    prepared = prepare(ScaledImage.full(frame_of(*shape)), FrameView(224))
    assert prepared.inputs.shape == (1, 224, 224, 3) and prepared.inputs.dtype == np.uint8
    assert (prepared.inputs == GREY).all()


def test_only_the_roi_reaches_the_model():
    frame = frame_of(480, 640, RED)
    frame[100:300, 200:500] = BLUE
    prepared = prepare(ScaledImage.full(frame), FrameView(64, roi=Rect(200, 100, 300, 200)))
    assert (prepared.inputs == BLUE).all()


def test_each_tile_shows_its_own_part_of_the_frame():
    frame = frame_of(512, 1024, RED)
    frame[:, 512:] = BLUE
    prepared = prepare(ScaledImage.full(frame), FrameView(224, tile_size=512))
    assert prepared.inputs.shape == (2, 224, 224, 3)
    assert (prepared.inputs[0] == RED).all() and (prepared.inputs[1] == BLUE).all()


def test_the_contrast_stretch_spans_all_tiles_so_a_dark_tile_stays_darker():
    frame = frame_of(256, 512, (60, 60, 60))
    frame[:, 256:] = (120, 120, 120)
    frame[::16, ::16] = (30, 30, 30)  # some texture for the percentiles
    prepared = prepare(ScaledImage.full(frame), FrameView(64, tile_size=256, contrast_stretch=True))
    left, right = (tile.mean() for tile in prepared.inputs)
    assert right - left > 100


def test_a_frame_reaches_the_model_alike_whether_sent_raw_or_as_jpeg():
    frame = np.full((480, 640, 3), 90, np.uint8)
    cv2.circle(frame, (320, 240), 150, (200, 180, 60), -1)  # hard edges, where one-step resizing differs
    cv2.circle(frame, (320, 240), 60, (20, 20, 20), -1)
    cv2.rectangle(frame, (40, 40), (130, 420), (250, 250, 250), 3)
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 100])
    assert ok
    for view in (FrameView(224), FrameView(112, tile_size=256), FrameView(112, roi=Rect(40, 40, 400, 300))):
        decoded = decode_scaled(jpeg.tobytes(), view.shrink_for)
        assert decoded.shrink == 2
        via_jpeg = prepare(decoded, view).inputs.astype(int)
        via_raw = prepare(ScaledImage.full(frame), view).inputs.astype(int)
        assert np.abs(via_raw - via_jpeg).max() <= 8
        assert np.abs(via_raw - via_jpeg).mean() < 0.5


def test_a_frame_that_is_not_rgb_is_invalid():
    with pytest.raises(InvalidInput, match="not an RGB image"):
        prepare(ScaledImage.full(np.zeros((10, 10), np.uint8)), FrameView(64))


def test_a_teach_set_error_names_the_image():
    frames = [frame_of(40, 40), frame_of(100, 100)]
    view = FrameView(64, roi=Rect(0, 0, 50, 50))
    with pytest.raises(InvalidInput, match=r"teach image 1: .*50x50.*40x40"):
        prepare_teach_set(frames, lambda frame, _: ScaledImage.full(frame), view)


@pytest.mark.parametrize(
    "view",
    [FrameView(64, roi=Rect(0, 0, 50, 50)), FrameView(64, tile_size=64), FrameView(64, align=True)],
    ids=["roi", "tiles", "align"],
)
def test_every_teach_image_of_a_product_in_frame_pixels_must_have_the_first_ones_size(view):
    frames = [frame_of(100, 100), frame_of(100, 100), frame_of(120, 100)]
    with pytest.raises(InvalidInput, match=r"teach image 3: .*100x120.*100x100"):
        prepare_teach_set(frames, lambda frame, _: ScaledImage.full(frame), view)


def test_a_whole_frame_teach_set_may_mix_sizes():
    frames = [frame_of(100, 100), frame_of(80, 120)]
    prepared = prepare_teach_set(frames, lambda frame, _: ScaledImage.full(frame), FrameView(64))
    assert [frame.frame_size for frame in prepared] == [None, None]


def test_a_view_with_a_frame_size_refuses_other_sizes_naming_both():
    view = FrameView(64, tile_size=64, frame_size=(100, 200))
    assert view.plan((100, 200)).frame_size == (100, 200)
    with pytest.raises(InvalidInput, match=r"frame is 100x200 .* 200x100 frames, with 64-pixel tiles"):
        view.plan((200, 100))
