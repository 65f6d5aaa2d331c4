"""Teach time and memory as the number of teach images grows (part of `make bench-accuracy`; alone:
`python -m tests.benchmarks.teach_scaling`).

- Real teaches, as a Teach call runs them (efficientnet_lite0 at 224, real weights, extraction uncached),
  of 8, 64 and 256 elpv cells; 8 and 64 alternate REPEATS times, so CPU drift hits both alike.
- Tiled teaches, fed with features directly: each teach image is TILES tiles, the features of TILES different
  good cells (a 2048x1536 frame in 512-pixel tiles gives 12), through the coreset and threshold stages only.

Peak memory: the growth of the process's peak resident set (VmHWM, reset before each case) over its size
before the case: the features, the coreset's working arrays, the search indexes, the model's buffers.
"""

from __future__ import annotations

import argparse
import time
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


@dataclass(frozen=True)
class TeachRun:
    label: str
    images: int
    patches: int
    bank: int
    seconds: float
    stages: dict[str, float]
    peak_mib: float | None


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field))


def peak_growth_mib(run: Callable[[], object]) -> tuple[object, float | None]:
    """run()'s result and how far the process's peak resident set rose above its size before, in MiB
    (None where the kernel does not let the peak be reset)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")  # resets VmHWM to the current resident set
        before = _status_kib("VmRSS")
    except OSError:
        return run(), None
    result = run()
    return result, (_status_kib("VmHWM") - before) / 1024


def real_teach(extractor: FeatureExtractor, cells: np.ndarray) -> TeachRun:
    """One teach of cells [n, H, W, 3] uint8 as a Teach call runs it."""
    started = time.perf_counter()
    bank, peak = peak_growth_mib(lambda: teach_images(extractor, list(cells), "scaling", TeachOptions()))
    seconds = time.perf_counter() - started
    return TeachRun(
        "whole frame",
        len(cells),
        bank.stats.patch_count,
        bank.stats.bank_size,
        seconds,
        bank.stats.timings,
        peak,
    )


def tiled_teach(features: np.ndarray) -> TeachRun:
    """The coreset and threshold stages of a teach of features [n, T, P, D] (n images of T tiles)."""
    images, tiles, patches_per_tile, dim = features.shape
    options = TeachOptions()

    def stages() -> tuple[np.ndarray, dict[str, float]]:
        patches = features.reshape(-1, dim)
        owners = np.repeat(np.arange(images), tiles * patches_per_tile)
        scored = np.ones(len(patches), dtype=bool)
        started = time.perf_counter()
        indices = greedy_coreset(patches, bank_size(len(patches), images, options.coreset_ratio))
        middle = time.perf_counter()
        threshold_scores(patches, owners, scored, indices, options.top_k)
        timings = {"coreset_seconds": middle - started, "threshold_seconds": time.perf_counter() - middle}
        return indices, timings

    started = time.perf_counter()
    (indices, timings), peak = peak_growth_mib(stages)
    seconds = time.perf_counter() - started
    return TeachRun(
        f"{tiles} tiles", images, images * tiles * patches_per_tile, len(indices), seconds, timings, peak
    )


def _row(run: TeachRun) -> str:
    stages = ", ".join(f"{name.removesuffix('_seconds')} {value:.2f}" for name, value in run.stages.items())
    peak = "-" if run.peak_mib is None else f"{run.peak_mib:.0f}"
    return (
        f"| {run.label} | {run.images} | {run.patches} | {run.bank} | {run.seconds:.2f} ({stages}) | {peak} |"
    )


def scaling_table(extractor: FeatureExtractor, cached: CachedFeatureExtractor, good: np.ndarray) -> str:
    """Markdown table of the teach runs. good: [G, H, W, 3] uint8 good elpv cells (G >= 64 x TILES)."""
    runs: list[TeachRun] = []
    small, large = IMAGE_COUNTS[0], IMAGE_COUNTS[1]
    pairs = []
    for _ in range(REPEATS):
        pair = [real_teach(extractor, good[:count]) for count in (small, large)]
        pairs.append(pair[1].seconds / pair[0].seconds)
        runs += pair
    runs += [real_teach(extractor, good[:count]) for count in IMAGE_COUNTS[2:]]
    size = extractor.info.input_size
    for count in TILED_IMAGE_COUNTS:
        cells = good[: count * TILES]
        inputs = np.concatenate([frame.inputs for frame in prepared_frames(cells, TeachOptions(), size)])
        features = cached.extract(inputs)
        runs.append(tiled_teach(features.reshape(count, TILES, *features.shape[1:])))
    lines = [
        f"Teach scaling ({extractor.info.backbone} {size}, elpv good cells, default options; tiled rows: "
        f"coreset + threshold of {TILES} cells' features per image, extraction not included). "
        f"Teach of {large} / teach of {small} images, per alternating pair: "
        + ", ".join(f"{ratio:.1f}x" for ratio in pairs),
        "",
        "| frames | images | patches | bank | seconds (stages) | peak memory MiB |",
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
        "--feature-cache", type=Path, default=Path("bench-results/feature-cache"), help="extracted features"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    extractor = FeatureExtractor(export_model(REFERENCE_MODEL.backbone, REFERENCE_MODEL.size, args.models))
    good = np.concatenate([product.good for product in load_elpv_products()])
    print(scaling_table(extractor, CachedFeatureExtractor(extractor, args.feature_cache), good))


if __name__ == "__main__":
    main()
