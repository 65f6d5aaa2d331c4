"""Prepare: a decoded frame -> (aligned to the product's first teach frame, when it is taught with alignment:
patchcore.align) -> the model inputs of its region of interest (one, or one per tile).

Each region is cut from the frame and shrunk in two steps: first by the plan's power of two (a JPEG
arrives already shrunk by it, decoded that way: see patchcore.images.decode_scaled), then with INTER_AREA to
the model's input size; enlarging is bilinear. A frame sent raw, as PNG or as JPEG thus reaches the model
through the same steps, and looks alike to it whichever way it came (README "Performance").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import cv2
import numpy as np

from patchcore.align import Pose, Reference, aligned
from patchcore.errors import InspectionError, InvalidInput
from patchcore.geometry import FramePlan, FrameView, Rect
from patchcore.images import ScaledImage, ShrinkRule, stretch_contrast

Source = TypeVar("Source")
TEACH_IMAGE = "teach image"  # how errors name a teach image (with its 1-based number)


@dataclass(frozen=True)
class PreparedFrame:
    """inputs: [T, S, S, 3] uint8 RGB, one model input per tile of plan (T = 1 without tiling); reference:
    what the frame was aligned to, for a product taught with alignment."""

    inputs: np.ndarray
    plan: FramePlan
    reference: Reference | None = None
    frame_size: tuple[int, int] | None = None  # the size every frame of the product must have (FrameView)


def prepare(image: ScaledImage, view: FrameView) -> PreparedFrame:
    """The model inputs of a decoded frame as `view` sees it, aligned first when the view aligns. InvalidInput
    when the ROI is not inside the frame or an aligned frame is not the teach frames' size, TooLarge over
    the tile cap (FrameView.plan)."""
    rgb = image.rgb
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or 0 in rgb.shape:
        raise InvalidInput(f"the frame is not an RGB image (shape {rgb.shape}, {rgb.dtype})")
    pose = None
    if view.align:
        image, pose = _aligned(image, view)
    plan = view.plan(image.size, pose)
    further = max(1, plan.shrink // image.shrink)  # what the decoder did not shrink yet
    inputs = np.stack([_model_input(_crop(image, tile), further, view.input_size) for tile in plan.tiles])
    inputs = stretch_contrast(inputs) if view.contrast_stretch else inputs
    return PreparedFrame(inputs, plan, view.reference, view.frame_size)


def _aligned(image: ScaledImage, view: FrameView) -> tuple[ScaledImage, Pose]:
    """The frame turned and shifted onto view's reference, and its pose. The turn is done at the size the
    plan shrinks the frame to (shrunk first with INTER_AREA, as _model_input would) and only within the
    region the model sees, so a large frame costs no more than its model inputs need."""
    height, width = image.size
    rgb = _shrunk(image.rgb, max(1, view.shrink_for(width, height) // image.shrink))
    pose = view.reference.pose_of(rgb, image.size)
    region = view.region(width, height)
    box = (region.x, region.y, region.width, region.height)
    return ScaledImage(aligned(rgb, pose, image.size, box), image.size), pose


def _shrunk(rgb: np.ndarray, factor: int) -> np.ndarray:
    """rgb shrunk by factor as libjpeg would (sizes rounded up)."""
    if factor == 1:
        return rgb
    height, width = rgb.shape[:2]
    return cv2.resize(rgb, (-(-width // factor), -(-height // factor)), interpolation=cv2.INTER_AREA)


def _crop(image: ScaledImage, rect: Rect) -> np.ndarray:
    """rect (frame pixels) of the decoded frame, which may be smaller than the frame."""
    height, width = image.rgb.shape[:2]
    frame_height, frame_width = image.size
    left, right = (round(edge * width / frame_width) for edge in (rect.x, rect.right))
    top, bottom = (round(edge * height / frame_height) for edge in (rect.y, rect.bottom))
    return image.rgb[top : max(bottom, top + 1), left : max(right, left + 1)]


def _model_input(region: np.ndarray, shrink: int, size: int) -> np.ndarray:
    """region [h, w, 3] -> [size, size, 3]: shrunk by `shrink` as libjpeg would (sizes rounded up), then to
    the model's size."""
    height, width = region.shape[:2]
    if (height, width) == (size, size):
        return region
    if height < size or width < size:
        return cv2.resize(region, (size, size), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(_shrunk(region, shrink), (size, size), interpolation=cv2.INTER_AREA)


def prepare_teach_set(
    sources: Sequence[Source],
    decode: Callable[[Source, ShrinkRule], ScaledImage],
    view: FrameView,
    noun: str = TEACH_IMAGE,
    names: Sequence[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[PreparedFrame]:
    """Each teach image decoded with decode(source, view.shrink_for) and prepared; an error names the image
    (by names, when given: file names; else noun and its 1-based number), and the first bad image fails the
    set. An aligning view without a reference takes the first image as the reference; a view in frame pixels
    (FrameView.in_frame_pixels) without a frame size takes the first image's, so every other must have it.
    progress(done, total) is called after each image; an exception it raises stops the set before the next
    one is decoded (a Teach whose call ended).

    One image is decoded at a time and only its model inputs are kept, so a teach set of many large frames
    never holds them all decoded (64 MiB of well-compressed PNGs can declare hundreds of 50-megapixel
    images).
    """
    frames = []
    size_of_first = view.in_frame_pixels and view.frame_size is None
    for index, source in enumerate(sources):
        try:
            image = decode(source, view.shrink_for)
            if size_of_first and index > 0 and image.size != view.frame_size:
                _refuse_other_size(image.size, view.frame_size)
            if view.align and view.reference is None:
                view = dataclasses.replace(view, reference=Reference.of(image.rgb, image.size))
            if view.in_frame_pixels and view.frame_size is None:
                view = dataclasses.replace(view, frame_size=image.size)
            frames.append(prepare(image, view))
        except InspectionError as error:
            name = names[index] if names is not None else f"{noun} {index + 1}"
            raise type(error)(f"{name}: {error}") from error
        if progress is not None:
            progress(index + 1, len(sources))
    return frames


def _refuse_other_size(size: tuple[int, int], first: tuple[int, int]) -> None:
    """InvalidInput for a teach image of size (H, W) in a set whose first image, which sets the product's
    frame size, is of size first."""
    raise InvalidInput(
        f"the frame is {size[1]}x{size[0]}, the first teach image {first[1]}x{first[0]}: this product's "
        "region of interest, tiles or alignment are in its first image's pixels, so every teach image must "
        "have its size"
    )
