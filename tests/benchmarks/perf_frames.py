"""The frames the performance benchmark sends: 640x480 pictures of good parts, encoded (JPEG) and raw."""

from __future__ import annotations

import cv2
import numpy as np
from patchcore_client.images import to_image
from patchcore_client.synthetic import good_part
from patchcore_edge.v1 import inspection_pb2 as pb

FRAME_WIDTH, FRAME_HEIGHT = 640, 480
JPEG_QUALITY = 90


def good_frame(seed: int) -> np.ndarray:
    """[480, 640, 3] uint8 RGB: a good part centred on a 640x480 conveyor frame."""
    part = good_part(np.random.default_rng(seed), size=FRAME_HEIGHT)
    margin = (FRAME_WIDTH - FRAME_HEIGHT) // 2
    return cv2.copyMakeBorder(part, 0, 0, margin, margin, cv2.BORDER_REPLICATE)


def encoded_image(rgb: np.ndarray) -> pb.Image:
    """The frame as a JPEG, encoded once here so the client's encoding is not part of any measurement."""
    ok, jpeg = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    )
    if not ok:
        raise RuntimeError("OpenCV could not encode the benchmark frame as JPEG")
    return pb.Image(encoded=jpeg.tobytes())


def raw_image(rgb: np.ndarray) -> pb.Image:
    """The frame as tightly packed RGB8 pixels, as a camera SDK hands them out."""
    return to_image(rgb, "rgb")
