"""Teach a product from good frames: features -> coreset memory bank + threshold from held-out scores.

The frames are prepared with the same `prepare` as inspected frames, so a product sees teach and line frames
alike. The server's Teach call and the offline builder (exporter/bank.py) both run this function, so a
product built offline is the same as one taught over gRPC.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from patchcore.augment import dihedral_views, line_views
from patchcore.bank import MemoryBank, ProductOptions, TeachOptions, TeachStats
from patchcore.coreset import bank_size, greedy_coreset
from patchcore.errors import InvalidInput, TooLarge
from patchcore.fine import wants_fine_bank
from patchcore.fine_teach import teach_fine_bank
from patchcore.images import ScaledImage
from patchcore.model import FeatureExtractor
from patchcore.prepare import PreparedFrame, prepare_teach_set
from patchcore.store import ProductStore
from patchcore.threshold import threshold_from_scores, threshold_scores

EXTRACT_BATCH_SIZE = 8
# The teach patches are held at once (float16), so a request of a few MB (many images x many tiles x views)
# could otherwise ask for tens of GB: 4 GiB is ~15,000 model inputs of EfficientNet-Lite0 at 224 (e.g. 256
# images x 12 tiles x 5 views).
MAX_TEACH_FEATURE_BYTES = 4 << 30
MIN_IMAGES = 2  # a held-out score needs one image to score and at least one other in the bank

Progress = Callable[[str, int, int], None]  # (stage, done, total), stages as in TEACH_STAGES
# Counting images decoded and prepared (prepare_teach_set, run by the caller of teach()), model inputs, bank
# rows picked, patches scored, fine bank rows picked (a product with a fine bank only: patchcore/fine.py).
TEACH_STAGES = ("prepare", "extract", "coreset", "threshold", "fine")


@dataclass(frozen=True)
class TeachFeatures:
    """Every patch extracted from the teach frames. patches: [N, D] float16 unit vectors, augmented views
    included (half the memory of float32, for the same banks and thresholds: README, "Many images");
    owners: [N] int, the index of the teach frame each patch came from; scored: [N] bool, True for patches
    of the frames as they are (not augmented), the ones a threshold estimate scores. fine_cells: [C,
    fine_dim] float16, the fine cells of the frames as they are, and fine_owners: [C] their frames, for a
    product with a fine bank (empty otherwise)."""

    patches: np.ndarray
    owners: np.ndarray
    scored: np.ndarray
    fine_cells: np.ndarray
    fine_owners: np.ndarray


def stage_progress(progress: Progress | None, stage: str) -> Callable[[int, int], None] | None:
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


def _views(inputs: np.ndarray, options: TeachOptions, rng: np.random.Generator) -> np.ndarray:
    """inputs: [T, S, S, 3] -> [V * T, S, S, 3]: the inputs as they are first, then their other 7 dihedral
    views when augmenting rotations, then options.line_views line views of each
    (V = 1 or 8, + line_views)."""
    groups = [inputs]
    if options.augment_rotations:
        per_input = [dihedral_views(image) for image in inputs]  # T lists of 8
        groups.append(np.stack([views[view] for view in range(1, 8) for views in per_input]))
    if options.line_views:
        groups.append(
            np.stack([view for image in inputs for view in line_views(image, options.line_views, rng)])
        )
    return np.concatenate(groups)


def _extract(
    extractor: FeatureExtractor,
    frames: Sequence[PreparedFrame],
    options: TeachOptions,
    progress: Callable[[int, int], None] | None,
    with_fine: bool = False,
) -> TeachFeatures:
    """Features of every model input of frames (augmented views included), and the fine cells of the frames
    as they are when with_fine; progress(done, total) in model inputs after each batch."""
    views_per_input = (8 if options.augment_rotations else 1) + options.line_views
    originals = sum(len(frame.inputs) for frame in frames)
    total = originals * views_per_input
    info = extractor.info
    per_input, per_original = info.patch_count, info.fine_cell_count if with_fine else 0
    half = np.dtype(np.float16).itemsize
    needed = total * per_input * info.dim * half + originals * per_original * info.fine_dim * half
    _check_feature_bytes(needed, total, len(frames), views_per_input)
    # Filled in place, batch by batch: collecting the batches and concatenating them would hold every
    # patch twice at the end (hundreds of MB for a teach of 256 images with line views).
    patches = np.empty((total * per_input, info.dim), dtype=np.float16)
    owners = np.empty(total * per_input, dtype=np.int32)
    scored = np.empty(total * per_input, dtype=bool)
    fine_cells = np.empty((originals * per_original, info.fine_dim), dtype=np.float16)
    fine_owners = np.empty(originals * per_original, dtype=np.int32)
    rng = np.random.default_rng(options.seed)
    extracted = fine_extracted = 0
    for owner, frame in enumerate(frames):
        views = _views(frame.inputs, options, rng)
        for start in range(0, len(views), EXTRACT_BATCH_SIZE):
            batch = views[start : start + EXTRACT_BATCH_SIZE]
            is_original = np.arange(start, start + len(batch)) < len(frame.inputs)
            rows = slice(extracted * per_input, (extracted + len(batch)) * per_input)
            if with_fine and is_original.any():
                features, fine = extractor.extract_with_fine(batch)
                fine = fine[is_original].reshape(-1, info.fine_dim)
                fine_cells[fine_extracted : fine_extracted + len(fine)] = fine
                fine_owners[fine_extracted : fine_extracted + len(fine)] = owner
                fine_extracted += len(fine)
            else:
                features = extractor.extract(batch)
            patches[rows] = features.reshape(-1, patches.shape[1])  # [b * P, D]
            owners[rows] = owner
            scored[rows] = np.repeat(is_original, per_input)
            extracted += len(batch)
            if progress is not None:
                progress(extracted, total)
    return TeachFeatures(patches, owners, scored, fine_cells, fine_owners)


def _check_feature_bytes(needed: int, inputs: int, images: int, views_per_input: int) -> None:
    """TooLarge, saying what to change, when the teach's features (needed bytes) would exceed
    MAX_TEACH_FEATURE_BYTES."""
    if needed > MAX_TEACH_FEATURE_BYTES:
        raise TooLarge(
            f"this teach set needs {inputs:,} model inputs ({images} images, their tiles, {views_per_input} "
            f"views of each) = {needed / 2**30:.1f} GiB of patch features; at most "
            f"{MAX_TEACH_FEATURE_BYTES / 2**30:.0f} GiB: teach fewer images, use a larger tile_size or fewer "
            "line_views"
        )


def _unit_rows(rows: np.ndarray) -> np.ndarray:
    """rows: [M, D] float16 -> [M, D] float32 unit vectors (float16 rounding leaves norms off 1 by ~1e-3)."""
    vectors = rows.astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def teach(
    extractor: FeatureExtractor,
    frames: Sequence[PreparedFrame],
    product_id: str,
    options: TeachOptions,
    version: int = 1,
    progress: Progress | None = None,
) -> MemoryBank:
    """Build the memory bank of product_id from good frames, each prepared with options.view(model size).

    progress(stage, done, total) is called as each of TEACH_STAGES after "prepare" advances; an exception it
    raises stops the build. InvalidInput if fewer than MIN_IMAGES frames are given or the product id is
    invalid.
    """
    ProductStore.validate_product_id(product_id)
    if len(frames) < MIN_IMAGES:
        raise InvalidInput(
            f"teaching needs at least {MIN_IMAGES} good images (8 recommended), got {len(frames)}"
        )
    _check_one_frame_size(frames)
    started = time.perf_counter()
    timings: dict[str, float] = {}

    with_fine = wants_fine_bank(extractor.info, frames[0].plan)
    with _timed(timings, "extract_seconds"):
        features = _extract(extractor, frames, options, stage_progress(progress, "extract"), with_fine)
    with _timed(timings, "coreset_seconds"):
        count = bank_size(int(features.scored.sum()), len(frames), options.coreset_ratio)
        indices = greedy_coreset(
            features.patches, count, seed=options.seed, progress=stage_progress(progress, "coreset")
        )
    with _timed(timings, "threshold_seconds"):
        scores = threshold_scores(
            features.patches,
            features.owners,
            features.scored,
            indices,
            options.top_k,
            stage_progress(progress, "threshold"),
            frames[0].plan.patch_locations(extractor.info.grid).ravel(),
        )
    fine = None
    if with_fine:
        with _timed(timings, "fine_seconds"):
            fine = teach_fine_bank(
                features.fine_cells,
                features.fine_owners,
                scores,
                options.seed,
                stage_progress(progress, "fine"),
            )

    stats = TeachStats(
        image_count=len(frames),
        patch_count=len(features.patches),
        bank_size=len(indices),
        teach_seconds=time.perf_counter() - started,
        leave_one_out_scores=scores,
        timings=timings,
    )
    return MemoryBank(
        product_id=product_id,
        version=version,
        model_fingerprint=extractor.info.fingerprint,
        vectors=_unit_rows(features.patches[indices]),
        options=ProductOptions(
            threshold=threshold_from_scores(scores, options.threshold_scale), top_k=options.top_k
        ),
        teach_options=options,
        stats=stats,
        created_unix=int(time.time()),
        reference=frames[0].reference,
        frame_size=frames[0].frame_size,
        fine=fine,
    )


def _check_one_frame_size(frames: Sequence[PreparedFrame]) -> None:
    """InvalidInput unless every frame has the first one's size, where the product's geometry is in frame
    pixels (frames prepared with views of their own: a product's stored images and images added to it)."""
    size = frames[0].frame_size
    for number, frame in enumerate(frames, 1):
        if size is not None and frame.plan.frame_size != size:
            height, width = frame.plan.frame_size
            raise InvalidInput(
                f"image {number} of the teach set is {width}x{height}, the first {size[1]}x{size[0]}: this "
                "product's region of interest, tiles or alignment are in its first image's pixels"
            )


def teach_images(
    extractor: FeatureExtractor,
    images: Sequence[np.ndarray],
    product_id: str,
    options: TeachOptions,
    version: int = 1,
    progress: Progress | None = None,
) -> MemoryBank:
    """teach() on full-size frames ([H, W, 3] uint8 RGB arrays), each prepared with the product's view
    (progress's "prepare" stage)."""
    frames = prepare_teach_set(
        images,
        lambda image, _: ScaledImage.full(image),
        options.view(extractor.info.input_size),
        progress=stage_progress(progress, "prepare"),
    )
    return teach(extractor, frames, product_id, options, version, progress)
