"""Teach images, as a call carries them or as they are kept with a product version, -> the prepared frames
the engine's teach() takes."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from patchcore_edge.v1 import inspection_pb2 as pb

from patchcore.geometry import FrameView
from patchcore.prepare import TEACH_IMAGE, PreparedFrame, prepare_teach_set
from patchcore.teach_images import TeachImages
from server.convert import decode_image


def prepare_teach_images(
    images: Sequence[pb.Image],
    view: FrameView,
    max_pixels: int,
    noun: str = TEACH_IMAGE,
    progress: Callable[[int, int], None] | None = None,
) -> list[PreparedFrame]:
    """Every image decoded and prepared as the product's inspected frames will be (errors name the image:
    noun and its 1-based number; progress as prepare_teach_set's)."""
    return prepare_teach_set(
        images,
        lambda image, shrink_for: decode_image(image, max_pixels, shrink_for),
        view,
        noun,
        progress=progress,
    )


def prepare_teach_files(
    images: TeachImages,
    view: FrameView,
    max_pixels: int,
    noun: str = TEACH_IMAGE,
    progress: Callable[[int, int], None] | None = None,
) -> list[PreparedFrame]:
    """Teach images as kept with a product version (image files: as received, raw buffers as PNG), prepared
    by the same function as the images of a call, so a rebuild or AddImages sees them as Teach saw them."""
    files = [pb.Image(encoded=data) for data in images.files]
    return prepare_teach_images(files, view, max_pixels, noun, progress)
