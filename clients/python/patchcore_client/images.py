"""Turns what a caller has - a file path, file bytes or a numpy array - into the API's Image message."""

from __future__ import annotations

import os
from typing import Any

from patchcore_edge.v1 import inspection_pb2 as pb

# An image as callers pass it: a file path, file bytes, or an [H, W] / [H, W, 3] uint8 array
ImageLike = Any

CHANNEL_ORDERS = {"rgb": pb.PIXEL_FORMAT_RGB8, "bgr": pb.PIXEL_FORMAT_BGR8}


def to_image(image: ImageLike, channel_order: str = "rgb") -> pb.Image:
    """The Image message for `image`.

    Paths and bytes travel encoded (the server decodes JPEG, PNG, BMP, TIFF). Arrays travel raw: [H, W] uint8
    as GRAY8, [H, W, 3] uint8 as RGB8 or BGR8 by `channel_order` ("bgr" for arrays from OpenCV).
    """
    if isinstance(image, pb.Image):
        return image
    if isinstance(image, (str, os.PathLike)):
        with open(image, "rb") as file:
            return pb.Image(encoded=file.read())
    if isinstance(image, (bytes, bytearray, memoryview)):
        return pb.Image(encoded=bytes(image))
    if hasattr(image, "__array_interface__"):
        return pb.Image(raw=_raw_image(image, channel_order))
    raise TypeError(
        f"cannot send {type(image).__name__} as an image: pass a path, file bytes or a numpy array"
    )


def _raw_image(array: Any, channel_order: str) -> pb.RawImage:
    import numpy as np

    if channel_order not in CHANNEL_ORDERS:
        raise ValueError(f"channel_order must be one of {sorted(CHANNEL_ORDERS)}, got {channel_order!r}")
    if array.dtype != np.uint8:
        raise ValueError(f"image arrays must be uint8, got {array.dtype}")
    if array.ndim == 2:
        pixel_format = pb.PIXEL_FORMAT_GRAY8
    elif array.ndim == 3 and array.shape[2] == 3:
        pixel_format = CHANNEL_ORDERS[channel_order]
    else:
        raise ValueError(f"image arrays must be [H, W] gray or [H, W, 3] colour, got shape {array.shape}")
    height, width = array.shape[:2]
    return pb.RawImage(
        width=width, height=height, format=pixel_format, pixels=np.ascontiguousarray(array).tobytes()
    )
