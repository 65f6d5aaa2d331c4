"""A defective part sent among the good teach images: does Teach name it (TeachStats.outlier_images), and
what does it do to the threshold? (`make bench-accuracy`, section "outliers".)

Each teach set is a product's 8 teach frames with one of them (the fourth) replaced: by a good frame of the
test half (the clean set, the control) or by a defective one. The line set's products (256x256, steady
frames, each defect kind) and the elpv cells (8 random good cells; the replacement a good cell or a cell
labelled defective; 4 of each per seed) are taught with the engine's defaults, as the server's Teach does.
The threshold columns compare each set's threshold with that of its clean set (the same 7 frames and a good
one): what the bad frame did to the product.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from patchcore.bank import MemoryBank, TeachOptions
from tests.benchmarks.accuracy_protocol import teach_product
from tests.benchmarks.cached_features import CachedFeatureExtractor
from tests.benchmarks.elpv_data import ProductImages, split_teach_test
from tests.benchmarks.line_defects import DEFECTS
from tests.benchmarks.line_sets import LOSSLESS_CASE, TEACH_COUNT, make_line_product
from tests.benchmarks.line_surfaces import SURFACES

REPLACED = 3  # the teach frame that is replaced
CLEAN = "a good frame (the clean set)"
ELPV_SETS_PER_SEED = 4  # clean sets and sets with a defective cell, each with another cell added


@dataclass
class Tally:
    """Teach sets of one kind: whether the replaced frame was named, whether another was, and each set's
    threshold over its clean set's."""

    replaced_named: list[bool] = field(default_factory=list)
    other_named: list[bool] = field(default_factory=list)
    threshold_ratios: list[float] = field(default_factory=list)

    def add(self, bank: MemoryBank, clean_threshold: float) -> None:
        named = bank.stats.outlier_images
        self.replaced_named.append(REPLACED in named)
        self.other_named.append(any(index != REPLACED for index in named))
        self.threshold_ratios.append(bank.options.threshold / clean_threshold)

    def cells(self) -> list[str]:
        named, ratios = np.array(self.replaced_named), np.array(self.threshold_ratios)
        return [
            str(len(named)),
            f"{100 * named.mean():.0f}",
            f"{100 * np.mean(self.other_named):.0f}",
            _median_range(ratios[named]),
            _median_range(ratios[~named]),
        ]


def _median_range(values: np.ndarray) -> str:
    return f"{np.median(values):.2f} [{values.min():.2f}-{values.max():.2f}]" if values.size else "-"


def _taught(extractor: CachedFeatureExtractor, frames: np.ndarray, replacement: np.ndarray, seed: int):
    teach = frames.copy()
    teach[REPLACED] = replacement
    return teach_product(extractor, teach, TeachOptions(seed=seed), "outliers")


def _line_tallies(extractor: CachedFeatureExtractor, seeds: Sequence[int]) -> dict[str, Tally]:
    tallies = {CLEAN: Tally(), **{kind: Tally() for kind in DEFECTS}}
    with tqdm(total=len(seeds) * len(SURFACES), desc="teach sets with a bad part", unit="product") as bar:
        for seed in seeds:
            for surface in SURFACES:
                product = make_line_product(surface, seed)
                test = product.cases[LOSSLESS_CASE]
                kinds = np.array(test.kinds)
                clean = _taught(extractor, product.teach, test.frames[kinds == ""][0], seed)
                tallies[CLEAN].add(clean, clean.options.threshold)
                for kind in DEFECTS:
                    bank = _taught(extractor, product.teach, test.frames[kinds == kind][0], seed)
                    tallies[kind].add(bank, clean.options.threshold)
                bar.update()
    return tallies


def _elpv_tallies(
    extractor: CachedFeatureExtractor, products: Sequence[ProductImages], seeds: Sequence[int]
) -> dict[str, Tally]:
    tallies = {}
    for product in products:
        good, bad = Tally(), Tally()
        for seed in seeds:
            chosen, _ = split_teach_test(len(product.good), TEACH_COUNT + ELPV_SETS_PER_SEED, seed)
            frames = product.good[chosen[:TEACH_COUNT]]
            for index, cell in enumerate(chosen[TEACH_COUNT:]):
                clean = _taught(extractor, frames, product.good[cell], seed)
                good.add(clean, clean.options.threshold)
                defective = product.defective[(seed * ELPV_SETS_PER_SEED + index) % len(product.defective)]
                bad.add(_taught(extractor, frames, defective, seed), clean.options.threshold)
        tallies[f"elpv {product.name}: a good cell (the clean set)"] = good
        tallies[f"elpv {product.name}: a defective cell"] = bad
    return tallies


def outlier_table(
    extractor: CachedFeatureExtractor, elpv: Sequence[ProductImages], seeds: Sequence[int]
) -> str:
    """The Markdown table of the section: one row per replacement (the line set's rows over all surfaces)."""
    tallies = {
        **{f"line set: {kind}": tally for kind, tally in _line_tallies(extractor, seeds).items()},
        **_elpv_tallies(extractor, elpv, seeds),
    }
    lines = [
        "### Teach sets with one bad frame: is it named? (TeachStats.outlier_images)",
        "",
        "| 7 good teach frames + | teach sets | the added frame named % | another frame named % "
        "| threshold / the clean set's where it is named, median [min-max] | where it is not |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {name} | " + " | ".join(tally.cells()) + " |" for name, tally in tallies.items()]
    return "\n".join(lines)
