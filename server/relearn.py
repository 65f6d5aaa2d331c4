"""Teaching a product again from the images kept with its current version: AddImages (with new images)
and the rebuild for a new model (without) share this."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Protocol

from patchcore.bank import MemoryBank
from patchcore.errors import InspectionError, ProductUnusable
from patchcore.geometry import FrameView
from patchcore.model import FeatureExtractor
from patchcore.prepare import PreparedFrame
from patchcore.teach import Progress, stage_progress, teach
from patchcore.teach_images import TeachImages


class PrepareFiles(Protocol):
    """(teach images as kept, the product's view) -> their prepared frames, through the same preparation as
    the images of a Teach call (server/teach_frames.py); errors name an image as noun and its number;
    progress as patchcore.prepare.prepare_teach_set's."""

    def __call__(
        self,
        images: TeachImages,
        view: FrameView,
        noun: str = ...,
        progress: Callable[[int, int], None] | None = ...,
    ) -> list[PreparedFrame]: ...


def teach_again(
    extractor: FeatureExtractor,
    bank: MemoryBank,
    stored: TeachImages,
    prepare_files: PrepareFiles,
    new_frames: Sequence[PreparedFrame] = (),
    progress: Progress | None = None,
) -> MemoryBank:
    """A new bank of bank's product from its stored images and new_frames (prepared with its view), with the
    product's own TeachOptions: the threshold is recomputed, the operator's min_region_area is kept.

    The version number is left to the caller. ProductUnusable when a stored image cannot be prepared.
    """
    view = bank.view(extractor.info.input_size)
    try:
        frames = prepare_files(stored, view, progress=stage_progress(progress, "prepare"))
    except InspectionError as error:
        raise ProductUnusable(f"a stored teach image cannot be used: {error}") from error
    taught = teach(extractor, [*frames, *new_frames], bank.product_id, bank.teach_options, progress=progress)
    options = dataclasses.replace(taught.options, min_region_area=bank.options.min_region_area)
    return dataclasses.replace(taught, options=options)
