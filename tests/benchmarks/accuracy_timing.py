"""Wall-clock measurements for the table: a real teach (extraction included), single-frame latency, and the
greedy coreset on the reference case (8 images x 784 patches)."""

from __future__ import annotations

import time

import numpy as np

from patchcore.augment import dihedral_views
from patchcore.bank import MemoryBank, TeachOptions
from patchcore.coreset import coreset_size, greedy_coreset
from patchcore.images import ScaledImage
from patchcore.inspection import inspect
from patchcore.model import FeatureExtractor
from patchcore.scoring import Scorer
from patchcore.teach import teach_images
from tests.benchmarks.accuracy_protocol import prepared_frames

LATENCY_FRAMES = 20


def timed_teach(
    extractor: FeatureExtractor, frames: np.ndarray, options: TeachOptions
) -> tuple[MemoryBank, float]:
    """A teach with the uncached extractor, as a Teach call runs it. frames: [T, H, W, 3] uint8 RGB."""
    start = time.perf_counter()
    bank = teach_images(extractor, list(frames), "timing", options)
    return bank, time.perf_counter() - start


def frame_latency_ms(extractor: FeatureExtractor, bank: MemoryBank, frames: np.ndarray) -> float:
    """Median milliseconds for one frame through the inspection pipeline (prepare, extract with batch 1,
    score, verdict with heatmap). frames: [N, H, W, 3] uint8 RGB; the first LATENCY_FRAMES are used."""
    scorer = Scorer(bank, extractor.info)
    timings = []
    for frame in frames[:LATENCY_FRAMES]:
        start = time.perf_counter()
        inspect(extractor, scorer, ScaledImage.full(frame), want_heatmap=True)
        timings.append(time.perf_counter() - start)
    return float(np.median(timings) * 1000)


def coreset_table(extractor: FeatureExtractor, frames: np.ndarray) -> str:
    """Markdown table: greedy coreset seconds on the teach patches of frames [8, H, W, 3] (plain and with
    the 8 dihedral views), and the stages of a real teach."""
    size = extractor.info.input_size
    inputs = np.concatenate([frame.inputs for frame in prepared_frames(frames, TeachOptions().view(size))])
    plain = extractor.extract(inputs).reshape(-1, extractor.info.dim)
    augmented = np.concatenate([extractor.extract(np.stack(dihedral_views(image))) for image in inputs])
    augmented = augmented.reshape(-1, extractor.info.dim)
    lines = [
        f"Greedy coreset and teach ({extractor.info.backbone} {size}, {len(frames)} elpv frames; "
        "teach = extraction + coreset + held-out scores for the threshold):",
        "",
        "| what | patches | kept | seconds |",
        "|---|---|---|---|",
    ]
    kept = coreset_size(len(plain), 0.1)
    for patches, count, label in (
        (plain, kept, "coreset 10%"),
        (plain, coreset_size(len(plain), 0.25), "coreset 25%"),
        (augmented, kept, "coreset of the rot/flip views, bank as plain"),
    ):
        start = time.perf_counter()
        greedy_coreset(patches, count)
        lines.append(f"| {label} | {len(patches)} | {count} | {time.perf_counter() - start:.2f} |")
    for options in (TeachOptions(), TeachOptions(augment_rotations=True)):
        bank, seconds = timed_teach(extractor, frames, options)
        stages = ", ".join(
            f"{name.removesuffix('_seconds')} {value:.2f}" for name, value in bank.stats.timings.items()
        )
        label = "teach, rot/flip aug" if options.augment_rotations else "teach"
        lines.append(
            f"| {label} ({stages}) | {bank.stats.patch_count} | {bank.stats.bank_size} | {seconds:.2f} |"
        )
    return "\n".join(lines)
