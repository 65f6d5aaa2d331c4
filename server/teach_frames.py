"""Teach images, as a call carries them, -> the prepared frames the engine's teach() takes."""

from __future__ import annotations

from collections.abc import Sequence

from patchcore_edge.v1 import inspection_pb2 as pb

from patchcore.geometry import FrameView
from patchcore.prepare import PreparedFrame, prepare_teach_set
from server.convert import decode_image


def prepare_teach_images(images: Sequence[pb.Image], view: FrameView, max_pixels: int) -> list[PreparedFrame]:
    """Every image decoded and prepared as the product's inspected frames will be (errors name the image)."""
    return prepare_teach_set(
        images, lambda image, shrink_for: decode_image(image, max_pixels, shrink_for), view
    )
