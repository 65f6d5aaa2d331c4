"""A prototype, not in the engine: a second, fine score for tiled high-resolution frames, measured beside the
engine's on the 2048x1536 set (`python -m tests.benchmarks.fine_channel --seeds 3`; README, "High-resolution
frames and regions of interest").

Why: at tile_size 512 the engine finds scratches and cracks but not dots 2-5 pixels across; its patch vector
averages the stride-4 map over 3x3 cells and then 2x2 onto the stride-8 grid, so a dot that lights one or two
stride-4 cells is diluted before the search. The fine score searches EfficientNet-Lite0's stride-4 map
unaveraged: every 4x4-pixel cell of every tile's model input against a greedy coreset (a thirtieth) of the
teach tiles' cells, Euclidean, the frame's score the farthest cell. Its threshold comes from the teach frames
alone, as the engine's does: FINE_THRESHOLD_SCALE x the highest leave-one-out score (each teach frame against
a coreset of the other seven). "either" flags a frame when either score is over its threshold: image score =
max(engine score / engine threshold, fine score / fine threshold).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import faiss
import numpy as np
import torch
from tqdm import tqdm

from patchcore.coreset import greedy_coreset
from patchcore.geometry import FrameView
from patchcore.images import ScaledImage
from patchcore.model import FeatureExtractor
from patchcore.prepare import prepare
from patchcore.teach import teach_images
from tests.benchmarks.accuracy import reference_extractor
from tests.benchmarks.accuracy_configs import DEFAULTS
from tests.benchmarks.accuracy_protocol import score_frames
from tests.benchmarks.line_defects import DEFECTS
from tests.benchmarks.line_sets import HIGHRES_CASE, HIGHRES_SURFACES, make_highres_product
from tests.benchmarks.metrics import auroc
from tests.benchmarks.traced_features import lite0_features_only

TILE_SIZE = 512
FINE_BANK_FRACTION = 30  # the fine bank keeps 1 in this many teach cells
FINE_THRESHOLD_SCALE = 1.15  # as the engine's default threshold scale
SCORES = ("engine", "fine", "either")


class FineCells:
    """Frames -> [cells, 24] float32: the unaveraged stride-4 map of each tile's model input."""

    def __init__(self, input_size: int) -> None:
        self._net = lite0_features_only((4,))
        self._view = FrameView(input_size=input_size, tile_size=TILE_SIZE)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        inputs = prepare(ScaledImage.full(frame), self._view).inputs
        with torch.no_grad():
            (stride4,) = self._net(torch.from_numpy(inputs).permute(0, 3, 1, 2).float() / 127.5 - 1.0)
        return stride4.permute(0, 2, 3, 1).reshape(-1, stride4.shape[1]).numpy().astype(np.float32)


class FineBank:
    def __init__(self, cells: Sequence[np.ndarray]) -> None:
        pooled = np.concatenate(cells)
        kept = pooled[greedy_coreset(pooled, len(pooled) // FINE_BANK_FRACTION, projection_dim=None)]
        self._index = faiss.IndexFlatL2(kept.shape[1])
        self._index.add(kept)

    def frame_score(self, cells: np.ndarray) -> float:
        squared, _ = self._index.search(cells, 1)
        return float(np.sqrt(squared.max()))


def fine_threshold(teach_cells: Sequence[np.ndarray]) -> float:
    held_out = [
        FineBank([*teach_cells[:index], *teach_cells[index + 1 :]]).frame_score(cells)
        for index, cells in enumerate(teach_cells)
    ]
    return FINE_THRESHOLD_SCALE * max(held_out)


@dataclass(frozen=True)
class SurfaceRun:
    """Each score of one surface and seed over its threshold (1 = at it), per test frame; kinds as the
    test frames' ("" = good)."""

    relative: dict[str, np.ndarray]
    kinds: np.ndarray

    def image_auroc(self, score: str, kind: str | None = None) -> float:
        good = self.kinds == ""
        defective = ~good if kind is None else self.kinds == kind
        return auroc(self.relative[score][good], self.relative[score][defective])


def run_surface(extractor: FeatureExtractor, fine: FineCells, surface: str, seed: int) -> SurfaceRun:
    product = make_highres_product(surface, seed)
    test = product.cases[HIGHRES_CASE]
    options = DEFAULTS.options(seed)
    bank = teach_images(
        extractor, list(product.teach), f"fine-{surface}", replace(options, tile_size=TILE_SIZE)
    )
    engine = score_frames(extractor, bank, test.frames, False).scores / bank.options.threshold
    teach_cells = [fine(frame) for frame in product.teach]
    fine_bank = FineBank(teach_cells)
    threshold = fine_threshold(teach_cells)
    fine_scores = np.array([fine_bank.frame_score(fine(frame)) for frame in test.frames]) / threshold
    relative = {"engine": engine, "fine": fine_scores, "either": np.maximum(engine, fine_scores)}
    return SurfaceRun(relative, np.array(test.kinds))


def markdown_table(runs: dict[str, list[SurfaceRun]]) -> str:
    """Image AUROC per surface and defect kind, mean over seeds, and the false alarms and misses at the
    thresholds over all runs, for each score."""
    header = ["2048x1536, tile 512", *runs, *DEFECTS, "false alarms %", "misses %"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    every_run = [run for surface in runs.values() for run in surface]
    for score in SCORES:
        per_surface = [np.mean([run.image_auroc(score) for run in surface]) for surface in runs.values()]
        per_kind = [np.mean([run.image_auroc(score, kind) for run in every_run]) for kind in DEFECTS]
        flagged = np.concatenate([run.relative[score] > 1 for run in every_run])
        good = np.concatenate([run.kinds == "" for run in every_run])
        rates = [100 * flagged[good].mean(), 100 * (~flagged[~good]).mean()]
        cells = [f"{value:.3f}" for value in per_surface + per_kind] + [f"{rate:.0f}" for rate in rates]
        lines.append("| " + " | ".join([score, *cells]) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds (products) per surface")
    parser.add_argument(
        "--models", type=Path, default=Path("models"), help="where exported models are cached"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    extractor = reference_extractor(args.models)
    fine = FineCells(extractor.info.input_size)
    runs = {surface: [] for surface in HIGHRES_SURFACES}
    for surface in HIGHRES_SURFACES:
        for seed in tqdm(range(args.seeds), desc=surface, unit="seed"):
            runs[surface].append(run_surface(extractor, fine, surface, seed))
    print(markdown_table(runs))


if __name__ == "__main__":
    main()
