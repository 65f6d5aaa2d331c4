"""What callers pass as an image becomes the right Image message."""

import numpy as np
import pytest
from patchcore_client.images import to_image
from patchcore_edge.v1 import inspection_pb2 as pb


def test_paths_and_bytes_travel_encoded(tmp_path):
    path = tmp_path / "frame.png"
    path.write_bytes(b"\x89PNG fake")
    assert to_image(path).encoded == b"\x89PNG fake"
    assert to_image(str(path)).encoded == b"\x89PNG fake"
    assert to_image(b"jpeg bytes").encoded == b"jpeg bytes"


def test_gray_array_travels_raw_as_gray8():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    raw = to_image(gray).raw
    assert (raw.width, raw.height, raw.format) == (4, 3, pb.PIXEL_FORMAT_GRAY8)
    assert raw.pixels == gray.tobytes()


@pytest.mark.parametrize(
    ("order", "pixel_format"), [("rgb", pb.PIXEL_FORMAT_RGB8), ("bgr", pb.PIXEL_FORMAT_BGR8)]
)
def test_colour_array_travels_raw_in_the_given_channel_order(order, pixel_format):
    colour = np.arange(2 * 5 * 3, dtype=np.uint8).reshape(2, 5, 3)
    raw = to_image(colour[:, ::-1], channel_order=order).raw  # a non-contiguous view is packed
    assert (raw.width, raw.height, raw.format) == (5, 2, pixel_format)
    assert raw.pixels == np.ascontiguousarray(colour[:, ::-1]).tobytes()


@pytest.mark.parametrize(
    "array",
    [np.zeros((4, 4), np.float32), np.zeros((4, 4, 4), np.uint8), np.zeros(4, np.uint8)],
    ids=["float", "four-channels", "one-dimensional"],
)
def test_arrays_the_server_cannot_take_are_refused(array):
    with pytest.raises(ValueError):
        to_image(array)


def test_other_types_are_refused():
    with pytest.raises(TypeError):
        to_image(12)
