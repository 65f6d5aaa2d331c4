"""Teach time and memory as the number of teach images grows (part of `make bench-accuracy`; alone:
`python -m tests.benchmarks.teach_scaling`).

- Real teaches, as a Teach call runs them (efficientnet_lite0 at 224, real weights, extraction uncached),
  of 8, 64 and 256 elpv cells; 8 and 64 alternate REPEATS times, so CPU drift hits both alike.
- Tiled teaches, fed with features directly: each teach image is TILES tiles, the features of TILES different
  good cells (a 2048x1536 frame in 512-pixel tiles gives 12), through the coreset and threshold stages only.

Peak memory: the highest total of the numpy arrays alive during the case (tracemalloc, in a run of its own
so the tracing does not slow the timed runs), the features included (the tiled rows' given beforehand).
The model's and FAISS's own buffers are not counted: the model's do not grow with the image count, FAISS's
hold one bank copy and one search.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from exporter.export import export_model
from patchcore.bank import TeachOptions
from patchcore.coreset import bank_size, greedy_coreset
from patchcore.model import FeatureExtractor
from patchcore.teach import teach_images
from patchcore.threshold import threshold_scores
from tests.benchmarks.accuracy_configs import REFERENCE_MODEL
from tests.benchmarks.accuracy_protocol import prepared_frames
from tests.benchmarks.cached_features import CachedFeatureExtractor
from tests.benchmarks.elpv_data import load_elpv_products

IMAGE_COUNTS = (8, 64, 256)
TILED_IMAGE_COUNTS = (8, 64)
TILES = 12
REPEATS = 3
MIB = 1024 * 1024


@dataclass(frozen=True)
class TeachRun:
    label: str
    images: int
    patches: int
    bank: int
    seconds: float
    stages: dict[str, float]
    peak_mib: float


@dataclass(frozen=True)
class Outcome:
    """What one teach (or its coreset and threshold stages) gives: patches, bank size, stage seconds."""

    patches: int
    bank: int
    stages: dict[str, float]


def peak_mib(run: Callable[[], object]) -> float:
    """The highest total of traced allocations (numpy arrays included) while run() runs, in MiB."""
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1] / MIB
    finally:
        tracemalloc.stop()


def measured(label: str, images: int, run: Callable[[], Outcome], held_bytes: int = 0) -> TeachRun:
    """run() timed, then run again under tracemalloc for its peak memory (plus held_bytes of arrays it
    works on that exist before it starts)."""
    started = time.perf_counter()
    outcome = run()
    seconds = time.perf_counter() - started
    peak = peak_mib(run) + held_bytes / MIB
    return TeachRun(label, images, outcome.patches, outcome.bank, seconds, outcome.stages, peak)


def real_teach(extractor: FeatureExtractor, cells: np.ndarray) -> Outcome:
    """A teach of cells [n, H, W, 3] uint8 as a Teach call runs it."""
    bank = teach_images(extractor, list(cells), "scaling", TeachOptions())
    return Outcome(bank.stats.patch_count, bank.stats.bank_size, bank.stats.timings)


def tiled_stages(features: np.ndarray) -> Outcome:
    """The coreset and threshold stages of a teach of features [n, T, P, D] (n images of T tiles each),
    as teach() runs them."""
    images, tiles, patches_per_tile, dim = features.shape
    options = TeachOptions()
    patches = features.reshape(-1, dim)
    owners = np.repeat(np.arange(images), tiles * patches_per_tile)
    scored = np.ones(len(patches), dtype=bool)
    started = time.perf_counter()
    count = bank_size(len(patches), images, options.coreset_ratio)
    indices = greedy_coreset(patches, count, seed=options.seed)
    middle = time.perf_counter()
    threshold_scores(patches, owners, scored, indices, options.top_k)
    stages = {"coreset_seconds": middle - started, "threshold_seconds": time.perf_counter() - middle}
    return Outcome(len(patches), len(indices), stages)


def _row(run: TeachRun) -> str:
    stages = ", ".join(f"{name.removesuffix('_seconds')} {value:.2f}" for name, value in run.stages.items())
    return (
        f"| {run.label} | {run.images} | {run.patches} | {run.bank} | {run.seconds:.2f} ({stages}) "
        f"| {run.peak_mib:.0f} |"
    )


def scaling_table(extractor: FeatureExtractor, cached: CachedFeatureExtractor, good: np.ndarray) -> str:
    """Markdown table of the teach runs. good: [G, H, W, 3] uint8 good elpv cells (G >= 64 x TILES)."""
    small, large = IMAGE_COUNTS[:2]
    runs: list[TeachRun] = []
    ratios = []
    for _ in range(REPEATS):
        pair = [
            measured("whole frame", count, lambda count=count: real_teach(extractor, good[:count]))
            for count in (small, large)
        ]
        ratios.append(pair[1].seconds / pair[0].seconds)
        runs += pair
    for count in IMAGE_COUNTS[2:]:
        runs.append(measured("whole frame", count, lambda count=count: real_teach(extractor, good[:count])))
    size = extractor.info.input_size
    for count in TILED_IMAGE_COUNTS:
        cells = prepared_frames(good[: count * TILES], TeachOptions().view(size))
        features = cached.extract(np.concatenate([cell.inputs for cell in cells]))
        tiled = features.reshape(count, TILES, *features.shape[1:])
        runs.append(measured(f"{TILES} tiles", count, lambda tiled=tiled: tiled_stages(tiled), tiled.nbytes))
    lines = [
        f"Teach scaling ({extractor.info.backbone} {size}, elpv good cells, default options; "
        f"tiled rows: coreset + threshold of {TILES} cells' features per image, extraction not included). "
        f"Teach of {large} / teach of {small} images, per alternating pair: "
        + ", ".join(f"{ratio:.1f}x" for ratio in ratios),
        "",
        "| frames | images | patches | bank | seconds (stages) | peak numpy MiB |",
        "|---|---|---|---|---|---|",
        *(_row(run) for run in runs),
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.teach_scaling",
        description="Teach time, stage split and peak memory for 8, 64 and 256 images, whole and tiled.",
    )
    parser.add_argument(
        "--models", type=Path, default=Path("models"), help="where exported models are cached"
    )
    parser.add_argument(
        "--feature-cache",
        type=Path,
        default=Path("bench-results/feature-cache"),
        help="where extracted features are kept between runs",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    extractor = FeatureExtractor(export_model(REFERENCE_MODEL.backbone, REFERENCE_MODEL.size, args.models))
    good = np.concatenate([product.good for product in load_elpv_products()])
    print(scaling_table(extractor, CachedFeatureExtractor(extractor, args.feature_cache), good))


if __name__ == "__main__":
    main()
