"""Teaching a product again from the images stored with its current version: AddImages (with new images)
and the rebuild for a new model (without) share this."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from patchcore.bank import MemoryBank
from patchcore.errors import InspectionError, ProductUnusable
from patchcore.model import FeatureExtractor
from patchcore.teach import teach
from patchcore.teach_images import TeachImages

# (index, stored image file bytes) -> the image as teach() takes it, decoded exactly as Teach decodes a
# received image (InspectionService.decode_stored_image).
DecodeStored = Callable[[int, bytes], np.ndarray]


def teach_again(
    extractor: FeatureExtractor,
    bank: MemoryBank,
    stored: TeachImages,
    decode_stored: DecodeStored,
    new_inputs: Sequence[np.ndarray] = (),
    progress: Callable[[int, int], None] | None = None,
) -> MemoryBank:
    """A new bank of bank's product from its stored images and new_inputs (already decoded), with the
    product's own TeachOptions: the threshold is recomputed, the operator's min_region_area is kept.

    The version number is left to the caller. ProductUnusable when a stored image cannot be decoded.
    """
    inputs = []
    for index, data in enumerate(stored.files):
        try:
            inputs.append(decode_stored(index, data))
        except InspectionError as error:
            raise ProductUnusable(f"a stored teach image cannot be used: {error}") from error
    taught = teach(extractor, [*inputs, *new_inputs], bank.product_id, bank.teach_options, progress=progress)
    options = dataclasses.replace(taught.options, min_region_area=bank.options.min_region_area)
    return dataclasses.replace(taught, options=options)
