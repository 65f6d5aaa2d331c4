"""The engine's choices, measured side by side: `python -m tests.benchmarks.accuracy_choices --help`.

Each choice changes one thing against the baseline (the graph, a teach option, the heatmap smoothing) and
runs on the line-variation set (development surfaces; held-out ones with --held-out), the elpv cells and
the textures together, so a choice that helps one data set and hurts another shows. Graph variants run
as torch modules traced to ONNX (feature_variants.py); teach options go through the engine's teach().
One Markdown table, one row per choice; README "Accuracy" quotes it.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from unittest import mock

import numpy as np
from tqdm import tqdm

from patchcore import augment, heatmap, teach
from patchcore.augment import LineVariation
from patchcore.bank import TeachOptions
from tests.benchmarks.accuracy_configs import DEFAULTS, TeachConfig
from tests.benchmarks.accuracy_evaluate import SeedOutcome, run_elpv_seed, run_texture_seed
from tests.benchmarks.accuracy_protocol import prepared_frames
from tests.benchmarks.cached_features import CachedFeatureExtractor
from tests.benchmarks.elpv_data import load_elpv_products
from tests.benchmarks.feature_variants import FeatureVariant
from tests.benchmarks.line_evaluate import engine_outcomes
from tests.benchmarks.line_sets import LOSSLESS_CASE, POSE_LIGHT_CASE, jpeg_case, make_line_product
from tests.benchmarks.line_surfaces import DEVELOPMENT, HELD_OUT
from tests.benchmarks.textures import TEXTURES

BASELINE = FeatureVariant("3x3 at each layer's own grid (exported before)")


@dataclass(frozen=True)
class Choice:
    """One configuration of the engine: graph variant, teach options, and two engine constants tried
    before one is chosen: the heatmap sigma (pixels at the model's input size) and the ranges of the line
    views (None = the engine's own)."""

    name: str
    variant: FeatureVariant = BASELINE
    config: TeachConfig = DEFAULTS
    heatmap_sigma: float | None = None
    line_variation: LineVariation | None = None


def _views(count: int) -> TeachConfig:
    return TeachConfig(f"{count} line views", line_views=count)


NO_POSE = dict(shift_px=0.0, rotation_deg=0.0)
NO_LIGHT = dict(gain=0.0, offset=0.0, gradient=0.0)
NO_JPEG = dict(jpeg_quality=(0, 0))


FINE_GRID = FeatureVariant("3x3 on the stride-8 grid, after upsampling", aggregate_at="fine grid")
FINE_UNIT = FeatureVariant(
    "3x3 on the stride-8 grid, after upsampling, unit layers", aggregate_at="fine grid", unit_layers=True
)
FINE_MAGNITUDE = FeatureVariant(
    "3x3 on the stride-8 grid, after upsampling, magnitude kept",
    aggregate_at="fine grid",
    magnitude_kept=True,
)
FINE_MAGNITUDE_PADDED = replace(
    FINE_MAGNITUDE, name="fine, magnitude kept, padding counted", padding_counted=True
)
STRIDE4_MAX = replace(FINE_MAGNITUDE_PADDED, name="+ stride 4, 2x2 max", strides=(4, 8, 16))
STRIDE4_AVG = replace(STRIDE4_MAX, name="+ stride 4, 2x2 average, own median", stride4_pool="avg")
STRIDE4_AVG_HALF = replace(STRIDE4_AVG, name="+ stride 4 at half weight, 2x2 average", stride4_weight=0.5)
CHOICES = {
    choice.name: choice
    for choice in (
        Choice("graph v1, the teach defaults (4 line views)"),
        Choice("graph v1, no line views (as it was measured)", config=_views(0)),
        Choice("aggregate after upsampling", FINE_GRID),
        Choice(
            "aggregate after upsampling, 5x5", FeatureVariant("5x5 fine", aggregate_at="fine grid", kernel=5)
        ),
        Choice("aggregate after upsampling, unit layers", FINE_UNIT),
        Choice("after upsampling, heatmap sigma 2", FINE_GRID, heatmap_sigma=2.0),
        Choice("after upsampling, heatmap sigma 6", FINE_GRID, heatmap_sigma=6.0),
        Choice("after upsampling, unit layers, 4 line views", FINE_UNIT, _views(4)),
        Choice("after upsampling, unit layers, 8 line views", FINE_UNIT, _views(8)),
        Choice("after upsampling, magnitude kept", FINE_MAGNITUDE),
        Choice("after upsampling, magnitude kept, padding counted", FINE_MAGNITUDE_PADDED),
        Choice("magnitude kept, padding counted, 4 line views", FINE_MAGNITUDE_PADDED, _views(4)),
        Choice("magnitude kept, padding counted, 8 line views", FINE_MAGNITUDE_PADDED, _views(8)),
        Choice("+ stride-4 layer, 2x2 max, 4 line views", STRIDE4_MAX, _views(4)),
        Choice("+ stride-4 layer, 2x2 average, 4 line views", STRIDE4_AVG, _views(4)),
        Choice("+ stride-4 layer, 2x2 average, no line views", STRIDE4_AVG, _views(0)),
        Choice("+ stride-4 layer at half weight, 2x2 average, 4 line views", STRIDE4_AVG_HALF, _views(4)),
        Choice(
            "+ stride-4 layer, 2x2 average, 4 line views, coreset 20%",
            STRIDE4_AVG,
            TeachConfig("4 line views, coreset 20%", line_views=4, coreset_ratio=0.2),
        ),
        Choice(
            "+ stride-4 layer, 2x2 average, no line views, coreset 20%",
            STRIDE4_AVG,
            TeachConfig("no line views, coreset 20%", line_views=0, coreset_ratio=0.2),
        ),
        Choice(
            "+ stride-4 layer, 2x2 average, 4 line views: JPEG only",
            STRIDE4_AVG,
            _views(4),
            line_variation=LineVariation(**NO_POSE, **NO_LIGHT),
        ),
        Choice(
            "+ stride-4 layer, 2x2 average, 4 line views: half the shifts and turns",
            STRIDE4_AVG,
            _views(4),
            line_variation=LineVariation(shift_px=2.0, rotation_deg=2.0),
        ),
        Choice(
            "+ stride-4 layer, 2x2 average, 4 line views: shifts, no turns",
            STRIDE4_AVG,
            _views(4),
            line_variation=LineVariation(rotation_deg=0.0),
        ),
        Choice(
            "+ stride-4 layer, 2x2 average, 4 line views: pose and JPEG, no light",
            STRIDE4_AVG,
            _views(4),
            line_variation=LineVariation(**NO_LIGHT),
        ),
        Choice(
            "+ stride-4 layer, 2x2 average, 4 line views: light and JPEG, no pose",
            STRIDE4_AVG,
            _views(4),
            line_variation=LineVariation(**NO_POSE),
        ),
        Choice(
            "after upsampling, unit layers, 8 line views: pose only",
            FINE_UNIT,
            _views(8),
            line_variation=LineVariation(**NO_LIGHT, **NO_JPEG),
        ),
        Choice(
            "after upsampling, unit layers, 8 line views: light only",
            FINE_UNIT,
            _views(8),
            line_variation=LineVariation(**NO_POSE, **NO_JPEG),
        ),
        Choice(
            "after upsampling, unit layers, 8 line views: JPEG only",
            FINE_UNIT,
            _views(8),
            line_variation=LineVariation(**NO_POSE, **NO_LIGHT),
        ),
    )
}


@dataclass
class Outcomes:
    """SeedOutcomes of one choice by data set key: ("line", case, surface), ("elpv", product), ("texture",
    name)."""

    by_key: dict[tuple[str, ...], list[SeedOutcome]] = field(default_factory=dict)

    def add(self, key: tuple[str, ...], outcome: SeedOutcome) -> None:
        self.by_key.setdefault(key, []).append(outcome)

    def select(self, kind: str, *rest: str) -> list[SeedOutcome]:
        return [
            outcome
            for key, outcomes in self.by_key.items()
            if key[0] == kind and key[1 : 1 + len(rest)] == rest
            for outcome in outcomes
        ]


def _mean(values: Sequence[float | None]) -> str:
    present = [value for value in values if value is not None]
    return f"{np.mean(present):.3f}" if present else "-"


def _image_pixel(outcomes: list[SeedOutcome]) -> str:
    return f"{_mean([o.image_auroc for o in outcomes])} / {_mean([o.pixel_auroc for o in outcomes])}"


def _false_alarms(outcomes: list[SeedOutcome]) -> str:
    if not outcomes:
        return "-"
    return f"{100 * float(np.mean([np.mean(o.good_scores > o.threshold) for o in outcomes])):.0f}"


def line_cells(outcomes: Outcomes, surfaces: Sequence[str]) -> list[str]:
    """Pose/light image / pixel AUROC, steady PNG image / pixel AUROC, false alarms PNG -> JPEG q90."""

    def of(case: str) -> list[SeedOutcome]:
        return [o for surface in surfaces for o in outcomes.select("line", case, surface)]

    return [
        _image_pixel(of(POSE_LIGHT_CASE)),
        _image_pixel(of(LOSSLESS_CASE)),
        f"{_false_alarms(of(LOSSLESS_CASE))} -> {_false_alarms(of(jpeg_case(90)))}",
    ]


def table(results: dict[str, Outcomes], held_out: bool) -> str:
    header = [
        "choice",
        "line dev pose/light img / pix",
        "line dev steady img / pix",
        "line dev FA % PNG -> q90",
    ]
    if held_out:
        header += [
            "line held-out pose/light img / pix",
            "held-out steady img / pix",
            "held-out FA PNG -> q90",
        ]
    header += ["elpv mono / poly img", "textures img / pix"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, outcomes in results.items():
        cells = [name, *line_cells(outcomes, DEVELOPMENT)]
        if held_out:
            cells += line_cells(outcomes, HELD_OUT)
        mono, poly = (_mean([o.image_auroc for o in outcomes.select("elpv", p)]) for p in ("mono", "poly"))
        cells += [f"{mono} / {poly}", _image_pixel(outcomes.select("texture"))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@contextlib.contextmanager
def engine_constants(choice: Choice) -> Iterator[None]:
    """The engine's heatmap sigma and line-view ranges replaced by the choice's for the duration."""
    with contextlib.ExitStack() as stack:
        if choice.heatmap_sigma is not None:
            stack.enter_context(mock.patch.object(heatmap, "HEATMAP_SIGMA", choice.heatmap_sigma))
        if choice.line_variation is not None:
            views = functools.partial(augment.line_views, variation=choice.line_variation)
            stack.enter_context(mock.patch.object(teach, "line_views", views))
        yield


def run(
    choices: Sequence[Choice],
    seeds: Sequence[int],
    held_out: bool,
    with_line: bool,
    with_elpv: bool,
    cache: Path,
) -> str:
    results = {choice.name: Outcomes() for choice in choices}
    variants = {choice.variant for choice in choices}
    extractors = {variant: variant.extractor() for variant in variants}
    surfaces = [*DEVELOPMENT, *(HELD_OUT if held_out else ())] if with_line else []
    with tqdm(total=len(seeds) * len(surfaces), desc="line products", unit="product") as progress:
        for seed in seeds:
            for surface in surfaces:
                product = make_line_product(surface, seed)
                cached = {
                    variant: CachedFeatureExtractor(extractor) for variant, extractor in extractors.items()
                }
                for choice in choices:
                    with engine_constants(choice):
                        outcomes = engine_outcomes(cached[choice.variant], product, choice.config, seed, True)
                    for case, outcome in outcomes.items():
                        results[choice.name].add(("line", case, surface), outcome)
                progress.update()
    elpv = load_elpv_products() if with_elpv else []
    for variant, extractor in extractors.items():
        cached = CachedFeatureExtractor(extractor, cache)
        for product in elpv:
            frames = np.concatenate([product.good, product.defective])
            prepared = prepared_frames(frames, TeachOptions().view(extractor.info.input_size))
            cached.warm(
                np.concatenate([frame.inputs for frame in prepared]), f"elpv {product.name} {variant.name}"
            )
        for choice in (choice for choice in choices if choice.variant == variant):
            with engine_constants(choice):
                for seed in seeds:
                    for product in elpv:
                        results[choice.name].add(
                            ("elpv", product.name), run_elpv_seed(cached, product, choice.config, seed)
                        )
                    for name in TEXTURES:
                        results[choice.name].add(
                            ("texture", name), run_texture_seed(cached, name, choice.config, seed)
                        )
    return table(results, held_out)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.accuracy_choices",
        description="The engine's choices side by side on the line-variation set, elpv and textures.",
    )
    parser.add_argument(
        "--choices",
        nargs="+",
        choices=list(CHOICES),
        default=list(CHOICES),
        metavar="CHOICE",
        help="which rows to run (default all): " + "; ".join(CHOICES).replace("%", "%%"),
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds per product (default 3)")
    parser.add_argument("--held-out", action="store_true", help="also the held-out surfaces (report only)")
    parser.add_argument("--no-elpv", action="store_true", help="line set and textures only")
    parser.add_argument("--no-line", action="store_true", help="elpv and textures only")
    parser.add_argument(
        "--feature-cache",
        type=Path,
        default=Path("bench-results/feature-cache"),
        help="where elpv features are kept between runs",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("bench-results/accuracy-choices.md"), help="report file"
    )
    args = parser.parse_args(argv)
    chosen = [CHOICES[name] for name in args.choices]
    report = run(
        chosen, list(range(args.seeds)), args.held_out, not args.no_line, not args.no_elpv, args.feature_cache
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report + "\n")
    print(f"\n{report}\n\nwritten to {args.out}")


if __name__ == "__main__":
    main()
