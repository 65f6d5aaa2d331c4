"""Teach a product from good images: features -> coreset memory bank + threshold from held-out scores.

The server's Teach call and the offline builder (exporter/bank.py) both run this function, so a product built
offline is the same as one taught over gRPC.
"""

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from patchcore.augment import dihedral_views
from patchcore.bank import MemoryBank, ProductOptions, TeachOptions, TeachStats
from patchcore.coreset import bank_size, greedy_coreset
from patchcore.errors import InvalidInput
from patchcore.images import model_input
from patchcore.model import FeatureExtractor
from patchcore.store import ProductStore
from patchcore.threshold import threshold_from_scores, threshold_scores

EXTRACT_BATCH_SIZE = 8
MIN_IMAGES = 2  # a held-out score needs one image to score and at least one other in the bank


StageProgress = Callable[[str, int, int], None]  # (stage, done, total), stages as in TEACH_STAGES
TEACH_STAGES = ("extract", "coreset", "threshold")  # views extracted, bank rows picked, images scored


def _stage(progress: StageProgress | None, stage: str) -> Callable[[int, int], None] | None:
    """progress as the (done, total) callback of one stage."""
    if progress is None:
        return None
    return lambda done, total: progress(stage, done, total)


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    """Record the seconds the with-block takes as timings[name]."""
    start = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - start


def _training_views(images: Sequence[np.ndarray], size: int, options: TeachOptions) -> np.ndarray:
    """[n, V, size, size, 3] uint8: each image as the model sees it, with its 8 dihedral views if
    options.augment_rotations (V = 8 or 1)."""
    for index, image in enumerate(images):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
            raise InvalidInput(
                f"teach image {index} is not an RGB image (shape {image.shape}, {image.dtype})"
            )
    inputs = [model_input(image, size, options.contrast_stretch) for image in images]
    return np.stack([dihedral_views(image) if options.augment_rotations else [image] for image in inputs])


def _extract(
    extractor: FeatureExtractor, views: np.ndarray, progress: Callable[[int, int], None] | None
) -> np.ndarray:
    """views: [n, V, S, S, 3] -> features [n, V, P, D], in batches of EXTRACT_BATCH_SIZE images;
    progress(done, total) in views after each batch."""
    flat = views.reshape(-1, *views.shape[2:])
    batches = []
    for start in range(0, len(flat), EXTRACT_BATCH_SIZE):
        batch = flat[start : start + EXTRACT_BATCH_SIZE]
        batches.append(extractor.extract(batch))
        if progress is not None:
            progress(start + len(batch), len(flat))
    features = np.concatenate(batches)
    return features.reshape(*views.shape[:2], *features.shape[1:])


def teach(
    extractor: FeatureExtractor,
    images: Sequence[np.ndarray],
    product_id: str,
    options: TeachOptions,
    version: int = 1,
    progress: StageProgress | None = None,
) -> MemoryBank:
    """Build the memory bank of product_id from good images ([H, W, 3] uint8 RGB, any size).

    progress(stage, done, total) is called as each of TEACH_STAGES advances.
    InvalidInput if fewer than MIN_IMAGES images are given or the product id is invalid.
    """
    ProductStore.validate_product_id(product_id)
    if len(images) < MIN_IMAGES:
        raise InvalidInput(
            f"teaching needs at least {MIN_IMAGES} good images (8 recommended), got {len(images)}"
        )
    started = time.perf_counter()
    timings: dict[str, float] = {}
    views = _training_views(images, extractor.info.input_size, options)

    with _timed(timings, "extract_seconds"):
        features = _extract(extractor, views, _stage(progress, "extract"))
    patches = features.reshape(-1, features.shape[-1])
    owners = np.repeat(np.arange(len(images)), features.shape[1] * features.shape[2])
    scored = np.zeros(features.shape[:3], dtype=bool)
    scored[:, 0] = True  # view 0 is the image itself, the others its augmented copies
    scored = scored.ravel()
    with _timed(timings, "coreset_seconds"):
        count = bank_size(int(scored.sum()), len(images), options.coreset_ratio)
        indices = greedy_coreset(patches, count, seed=options.seed, progress=_stage(progress, "coreset"))
    with _timed(timings, "threshold_seconds"):
        scores = threshold_scores(
            patches, owners, scored, indices, options.top_k, _stage(progress, "threshold")
        )

    stats = TeachStats(
        image_count=len(images),
        patch_count=len(patches),
        bank_size=len(indices),
        teach_seconds=time.perf_counter() - started,
        leave_one_out_scores=scores,
        timings=timings,
    )
    return MemoryBank(
        product_id=product_id,
        version=version,
        model_fingerprint=extractor.info.fingerprint,
        vectors=np.ascontiguousarray(patches[indices]),
        options=ProductOptions(
            threshold=threshold_from_scores(scores, options.threshold_scale), top_k=options.top_k
        ),
        teach_options=options,
        stats=stats,
        created_unix=int(time.time()),
    )
