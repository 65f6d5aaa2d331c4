"""Accuracy benchmark: `make bench-accuracy` (or `python -m tests.benchmarks.accuracy --help`).

Teaches each product with 8 good images as the server's Teach does (the seed is also the engine's seed, which
a Teach over gRPC always sets to 0), and scores held-out good and defective frames as Inspect does. Sections
(--sections): "elpv" = the elpv solar cells (mono, poly: real defects, image AUROC) and three scikit-image
textures with planted defects (exact masks: pixel AUROC) for every model; "line" = the generated
line-variation set (pose, light, encoding) and "highres" = its 2048x1536 frames, both with the reference model
and beside a plain PatchCore reference; "roi" = parts in a region of interest of larger frames; "align" = the
line set's structured parts held loosely, with and without alignment; "outliers" = teach sets with one bad
frame, whether Teach names it (teach_outliers.py); "thresholds" = false alarms and misses of default-taught
products at several threshold scales (threshold_scales.py). Prints one Markdown table per section and writes
them, with the coreset timings and the teach scaling table (tests/benchmarks/teach_scaling.py), to
bench-results/accuracy.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from exporter.export import export_model
from patchcore.bank import TeachOptions
from patchcore.model import FeatureExtractor
from tests.benchmarks.accuracy_configs import (
    MODELS,
    PLAIN,
    REFERENCE_MODEL,
    ModelChoice,
    TeachConfig,
    configs_for,
    find_model,
)
from tests.benchmarks.accuracy_evaluate import ProductRun, run_elpv_seed, run_texture_seed
from tests.benchmarks.accuracy_protocol import prepared_frames
from tests.benchmarks.accuracy_report import Row, defect_kind_table, markdown_table
from tests.benchmarks.accuracy_thresholds import threshold_rows
from tests.benchmarks.accuracy_timing import coreset_table, frame_latency_ms, timed_teach
from tests.benchmarks.cached_features import CachedFeatureExtractor
from tests.benchmarks.elpv_data import ProductImages, load_elpv_products
from tests.benchmarks.line_evaluate import (
    ALIGN_SET,
    HIGHRES_CROPS_SET,
    HIGHRES_SET,
    LINE_SET,
    ROI_SET,
    LineSet,
    run_line_set,
)
from tests.benchmarks.line_surfaces import SURFACES
from tests.benchmarks.plain_patchcore import plain_extractor
from tests.benchmarks.teach_outliers import outlier_table
from tests.benchmarks.teach_scaling import scaling_table
from tests.benchmarks.textures import TEXTURES
from tests.benchmarks.threshold_scales import threshold_scale_table

SECTIONS = ("elpv", "line", "highres", "roi", "align", "outliers", "thresholds")
ELPV_TITLE = "elpv solar cells and textures with planted defects"
LINE_TITLE = "Line-variation set (256x256 frames: pose, light, encoding)"
HIGHRES_TITLE = "Line-variation set, 2048x1536 frames with 2-5 px defects"
HIGHRES_CROPS_TITLE = "The same defects on 640x480 crops of those frames"
KIND_TABLE_TITLE = "image AUROC by defect kind (each kind against the good frames of its run, mean over runs)"
ROI_TITLE = "Line-variation set, a part in a region of interest of 640x480 frames"
ALIGN_TITLE = "Line-variation set, parts held loosely in a fixture: alignment"
NOTES = """Notes:
- Protocol: per seed, 8 random good images teach the product (teach() -> MemoryBank -> Scorer, as the server
  runs them); every other good image and every defective image of that product is tested. Image AUROC is the
  mean over seeds, ± its standard deviation, [min-max]. Textures: brick, grass, gravel (scikit-image), 8 good
  crops to teach, 20 good and 40 defective test crops (scratches, spots, colour/brightness patches, cut-outs
  from another texture) per texture and seed; one row averages the three textures.
- False alarms / misses: at the product's default threshold (the engine's threshold_scale x the highest
  held-out score of the 8 teach images, each scored against the bank without its own vectors), on the test
  good images / defective images. Rows "threshold = ..." show other rules from the same 8 good images
  (never from defects).
- "per-frame contrast stretch": the engine's TeachOptions.contrast_stretch (every frame, taught and
  inspected, has its 1st..99th percentile stretched to 0..255 after the resize to the model's size).
- teach s: one real Teach of 8 elpv frames (feature extraction, coreset, held-out threshold scores);
  ms / image: median single-frame latency (resize, extract with batch 1, score, heatmap), 2 cores.
- DINOv2-S is not benchmarked: only random-initialised weights exist on this air-gapped machine, and they
  say nothing about accuracy."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.accuracy",
        description="Few-shot accuracy of the engine on elpv solar cells and textures with planted defects.",
    )
    parser.add_argument(
        "--seeds", type=int, default=3, help="teach/test splits per configuration (default 3)"
    )
    parser.add_argument(
        "--models", type=Path, default=Path("models"), help="where exported models are cached"
    )
    parser.add_argument("--out", type=Path, default=Path("bench-results/accuracy.md"), help="report file")
    parser.add_argument(
        "--feature-cache",
        type=Path,
        default=Path("bench-results/feature-cache"),
        help="where extracted features are kept between runs (delete it for a cold run)",
    )
    parser.add_argument(
        "--only", type=find_model, nargs="+", help="run only these models, e.g. lite0@224 lite2@320"
    )
    parser.add_argument(
        "--quick", action="store_true", help="reference model, plain configuration only (smoke run)"
    )
    parser.add_argument(
        "--sections",
        nargs="+",
        choices=SECTIONS,
        default=list(SECTIONS),
        help="which tables to run (default all): elpv = elpv cells and textures for every model, "
        "line = the line-variation set, highres = its 2048x1536 frames, roi = parts in a region of interest, "
        "align = its structured parts held loosely, with and without alignment, outliers = teach sets with "
        "one bad frame: is it named, thresholds = false alarms and misses of default-taught products at "
        "several threshold scales",
    )
    parser.add_argument(
        "--line-surfaces",
        nargs="+",
        choices=list(SURFACES),
        default=list(SURFACES),
        metavar="SURFACE",
        help=f"surfaces of the line sections (default all: {', '.join(SURFACES)})",
    )
    return parser.parse_args(argv)


def run_model(
    model: ModelChoice,
    configs: Sequence[TeachConfig],
    products: Sequence[ProductImages],
    seeds: Sequence[int],
    models_dir: Path,
    feature_cache: Path,
) -> list[Row]:
    """Every configuration of one model on the elpv products and the textures, one table row per product."""
    extractor = FeatureExtractor(export_model(model.backbone, model.size, models_dir))
    cached = CachedFeatureExtractor(extractor, feature_cache)
    for stretch in sorted({config.contrast_stretch for config in configs}):
        for product in products:
            frames = np.concatenate([product.good, product.defective])
            prepared = prepared_frames(frames, TeachOptions(contrast_stretch=stretch).view(model.size))
            cached.warm(
                np.concatenate([frame.inputs for frame in prepared]),
                f"{model.short_name}@{model.size} {product.name} {'stretched ' if stretch else ''}features",
            )
    rows = []
    for config in configs:
        bank, teach_seconds = timed_teach(extractor, products[0].good[:8], config.options(seed=0))
        latency = frame_latency_ms(extractor, bank, products[0].defective)
        product_count = len(products) + (len(TEXTURES) if config.with_textures else 0)
        progress = tqdm(
            desc=f"{model.short_name}@{model.size} {config.name}",
            total=len(seeds) * product_count,
            unit="run",
        )
        elpv_runs = []
        for product in products:
            run = ProductRun(product.name, model, config, teach_seconds=teach_seconds, ms_per_image=latency)
            for seed in seeds:
                run.seeds.append(run_elpv_seed(cached, product, config, seed))
                progress.update()
            elpv_runs.append(run)
        texture_runs = []
        for name in TEXTURES if config.with_textures else ():
            run = ProductRun(name, model, config, teach_seconds=teach_seconds, ms_per_image=latency)
            for seed in seeds:
                run.seeds.append(run_texture_seed(cached, name, config, seed))
                progress.update()
            texture_runs.append(run)
        progress.close()
        rows += [Row(f"elpv {run.product}", [run]) for run in elpv_runs]
        if texture_runs:
            rows.append(Row("textures (" + ", ".join(TEXTURES) + ")", texture_runs))
        if model == REFERENCE_MODEL and config == PLAIN:
            rows += threshold_rows(elpv_runs)
    return rows


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = os.getloadavg()[1]
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, load average {load:.1f}"


def reference_extractor(models_dir: Path) -> FeatureExtractor:
    return FeatureExtractor(export_model(REFERENCE_MODEL.backbone, REFERENCE_MODEL.size, models_dir))


def run_line_section(
    line_set: LineSet, surfaces: Sequence[str], seeds: Sequence[int], models_dir: Path
) -> list[Row]:
    """The reference model's configurations of one line set, and the plain PatchCore reference where the set
    has it."""
    extractor = reference_extractor(models_dir)
    plain = plain_extractor() if line_set.with_plain else None
    return run_line_set(line_set, extractor, plain, surfaces, seeds)


def write_report(
    path: Path, tables: dict[str, list[Row]], appendix: str, seeds: int, started: float, done: bool
) -> None:
    """The tables, notes and the appendix (timings, teach scaling, teach outliers) as Markdown; rewritten
    after each part so a cut run still reports."""
    minutes = (time.perf_counter() - started) / 60
    status = "" if done else " PARTIAL (run still going or cut short)"
    header = (
        f"Accuracy benchmark{status}, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"{machine_description()}; {seeds} seeds; {minutes:.1f} min.\n"
        "Command: `make bench-accuracy`"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{header}\n\n{markdown_tables(tables)}\n\n{NOTES}\n\n{appendix}\n")


def markdown_tables(tables: dict[str, list[Row]]) -> str:
    return "\n\n".join(f"### {title}\n\n{markdown_table(rows)}" for title, rows in tables.items() if rows)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    seeds = list(range(args.seeds))
    tables: dict[str, list[Row]] = {}
    appendix = ""
    if "elpv" in args.sections:
        products = load_elpv_products()
        models = (REFERENCE_MODEL,) if args.quick else tuple(args.only or MODELS)
        if REFERENCE_MODEL in models:
            reference = reference_extractor(args.models)
            appendix = coreset_table(reference, products[0].good[:8])
            if not args.quick:
                cached = CachedFeatureExtractor(reference, args.feature_cache)
                good = np.concatenate([product.good for product in products])
                appendix += "\n\n" + scaling_table(reference, cached, good)
        tables[ELPV_TITLE] = []
        for model in models:
            configs = (PLAIN,) if args.quick else configs_for(model)
            tables[ELPV_TITLE] += run_model(model, configs, products, seeds, args.models, args.feature_cache)
            write_report(args.out, tables, appendix, len(seeds), started, done=False)
    for section, title, line_set in (
        ("line", LINE_TITLE, LINE_SET),
        ("highres", HIGHRES_TITLE, HIGHRES_SET),
        ("highres", HIGHRES_CROPS_TITLE, HIGHRES_CROPS_SET),
        ("roi", ROI_TITLE, ROI_SET),
        ("align", ALIGN_TITLE, ALIGN_SET),
    ):
        if section in args.sections:
            tables[title] = run_line_section(line_set, args.line_surfaces, seeds, args.models)
            if section == "highres":
                appendix += f"\n\n{title}, {KIND_TABLE_TITLE}:\n\n{defect_kind_table(tables[title])}"
            write_report(args.out, tables, appendix, len(seeds), started, done=False)
    if "outliers" in args.sections:
        cached = CachedFeatureExtractor(reference_extractor(args.models), args.feature_cache)
        appendix += "\n\n" + outlier_table(cached, load_elpv_products(), seeds)
    if "thresholds" in args.sections:
        extractor = reference_extractor(args.models)
        appendix += "\n\n" + threshold_scale_table(extractor, args.feature_cache, seeds)
    write_report(args.out, tables, appendix, len(seeds), started, done=True)
    print(f"\n{markdown_tables(tables)}\n\n{appendix}\n\nwritten to {args.out}")


if __name__ == "__main__":
    main()
