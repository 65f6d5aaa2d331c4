"""Performance benchmark: `make bench` (or `python -m tests.benchmarks.perf --help`).

For each exported backbone at 224: raw ONNX Runtime throughput at batch 1 and 8, then a real server on the
same model, driven by the Python client: Teach of 8 images, Inspect latency on a 640x480 frame (JPEG and raw
RGB8), InspectStream throughput with 1 and 4 concurrent streams of JPEG frames and 2 of raw frames, the
server's CPU per frame and its stages, peak server RSS, and (for one model) RSS growth over 10,000 frames,
the idle RSS after bursts of 100 streams of raw frames, and what idle streams cost. With --baseline, an
earlier version's server is measured in the same rounds. Then products that learn, with EfficientNet-Lite0:
AddImages against Teach, and the rebuild of 10 products after a model change while another product is
inspected (perf_learn.py); and 2048x1536 frames tiled at 512 and 256 against resized whole
(perf_highres.py). Prints Markdown tables with the issues' targets checked, and writes them to
bench-results/perf.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import onnxruntime

from tests.benchmarks.perf_highres import highres_lines, measure_highres
from tests.benchmarks.perf_learn import measure_learning
from tests.benchmarks.perf_model_run import BenchSettings, measure_model
from tests.benchmarks.perf_models import BENCH_MODELS, BenchModel
from tests.benchmarks.perf_report import (
    baseline_table,
    batch_cost_table,
    learn_lines,
    markdown_table,
    stages_table,
    target_lines,
)

NOTES = """Notes:
- Rounds: raw, Inspect and stream measurements alternate (--rounds, default 3), because the speed of this
  machine changes by up to 2x from minute to minute with other tenants of its host. Throughputs are over all
  rounds; "stream / raw b8" is the median of the rounds' own ratios.
- raw: FeatureExtractor.extract in a loop with the server's own ONNX Runtime settings (intra-op threads,
  from the server's flags), no server. b8 = one loop of batch 8, raw ONNX Runtime throughput (the issues'
  reference); xW = the model as the server runs it under load: batches of the server's --max-batch in as
  many loops at once as it has model workers (--model-workers), each on a worker's share of the threads,
  the most the model gives that way; b1 (ms) = median wall time of one lone batch-1 call. CPU ms/img =
  process CPU time per image at batch 8: it stays meaningful when other work shares the cores, wall-clock
  numbers do not.
- Inspect: sequential unary calls from the Python client, 640x480 frame, no heatmap; JPEG encoded once
  up front, raw = RGB8 pixels. Round trip as the client sees it.
- stream: InspectStream, one channel per stream, the same JPEG frame, for a fixed time; "stream / raw b8"
  and "stream ms/img" use the better of x1 and x4 in each round. server CPU ms/img: CPU time of the whole
  server process (decode, gRPC, model, scoring) per frame of the 4-stream runs - compare with raw CPU ms/img.
  raw x2: 2 streams of the frame as raw RGB8 pixels; "raw x2 / raw b8" and "raw x2 / raw xW" are the
  medians of the rounds' ratios.
- Server stages (second table), per raw frame of the 2-stream runs: server CPU, the model's CPU (raw xW
  CPU ms/img), overhead = the difference (median of the rounds' own differences); then each stage timed alone
  in this process, single-threaded as in the server (protobuf: parse the request and take its pixels, build
  and serialize the answer; prepare, and in brackets for a product taught with align, the frame's part
  turned 3 degrees and shifted; search: a good frame's image score searched as the server does (bounded
  from 2 million patch-bank pairs), per frame of a batch of 8, and in brackets every patch searched, as for
  a heatmap); "rest" = server - model - the stages: gRPC's
  transport, the event loop, thread hand-offs, Python glue (and, as a CPU-time difference, any noise).
  "a bare gRPC server": the CPU per frame of a grpc.aio server of the same contract that answers each of
  the same raw frames over 2 streams with an empty response, in the same rounds (perf_floor.py): the part
  of "rest" that belongs to gRPC and protobuf themselves.
- By batch size (third table): process CPU time per image of one loop at batch 1, 2, 4 and 8 on the session
  a model worker uses beside another (a worker's share of the threads; with one worker, every thread),
  about --raw-seconds / 4 each: a model run costs less per image the fewer images it holds there, which is
  why --max-batch defaults to 1.
- Idle streams: a server of its own, taught only, holds 1,000 InspectStream calls that send nothing (8
  connections); the RSS they add; then Inspect p50 (20 calls) alone and beside 256 idle streams, 3 rounds.
- Baseline (fourth table, with --baseline): the same stream runs against the earlier version's server in
  every round, right after this one's; "raw x2 this / baseline" is each round's own ratio.
- Teach 8 s: one Teach call with 8 JPEG frames (decode, extract, coreset, held-out threshold).
- peak RSS: the server process over its whole life for that model (sampled every 0.1 s). RSS growth: peak
  over the soak (4 streams, windows of 1,000 frames): median of the last three windows' peaks against the
  median of windows 2-4 (window 1 is the warm-up); the report lists every window's peak.
- Bursts: for the model with the soak, after it, on the same server: 2 bursts of 100 InspectStream calls at
  once (a connection each), 10 raw 640x480 frames each; idle RSS (the server idle and its periodic
  malloc_trim run since) before the first and after each, and each burst's peak.
- page open: for the model with the soak, the 4 streams run once more in each round with the operator's page
  of the product open in a headless Chromium on the same machine (live: frames recorded, thumbnails drawn
  and pushed twice a second, the histogram redrawn); the order of the two alternates between rounds, and
  the ratio is taken within each round. The browser's own CPU is part of what it costs.
- DINOv2-S runs with random-initialised weights (weights_source=random): speed only, its accuracy cannot be
  measured on this machine.
- Products that learn: Teach of 8 JPEG frames and AddImages of one more to that product, one pair per round
  (--learn-rounds), ratio within each round. Rebuild: 10 products taught with Lite2, the server restarted
  with Lite0; time from the log's first product_rebuild_started to its last product_rebuilt, while one client
  inspects another product with sequential unary calls (640x480 JPEG); the same number of calls (at most
  300) once the rebuild is done gives the idle p50."""


LEARN_MODELS = ("efficientnet_lite0", "efficientnet_lite2")  # the model learning runs on, the one before it
CPU_FEATURES = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_vnni": "VNNI", "amx_int8": "AMX"}


def machine_description() -> str:
    model_name = platform.processor() or platform.machine()
    features = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            lines = cpuinfo.readlines()
        names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
        model_name = names[0] if names else model_name
        flags_lines = [line.split(":", 1)[1] for line in lines if line.startswith("flags")]
        flags = set(flags_lines[0].split()) if flags_lines else set()
        features = " (" + ", ".join(name for flag, name in CPU_FEATURES.items() if flag in flags) + ")"
    except OSError:
        pass
    return (
        f"{model_name}{features}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"onnxruntime {onnxruntime.__version__}"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.perf",
        description="Raw model throughput, server latency, stream throughput, teach time and memory, "
        "one table for every exported backbone at 224.",
    )
    parser.add_argument("--out", type=Path, default=Path("bench-results/perf.md"), help="report file")
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=Path("bench-results/models"),
        help="where the bench exports its models (kept apart from models/: DINOv2 here has random weights)",
    )
    parser.add_argument("--only", help="measure only models whose label contains this text")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="raw and server measurements alternate this many times; the times and calls below are split "
        "over the rounds (default 3)",
    )
    parser.add_argument("--raw-seconds", type=float, default=9.0, help="per raw batch size (default 9)")
    parser.add_argument("--unary-calls", type=int, default=60, help="Inspect calls per format (default 60)")
    parser.add_argument("--stream-seconds", type=float, default=15.0, help="per stream count (default 15)")
    parser.add_argument(
        "--soak-frames", type=int, default=10_000, help="frames for the memory run, 0 = skip (default 10000)"
    )
    parser.add_argument(
        "--idle-streams",
        type=int,
        default=1000,
        help="idle streams whose memory is measured, for EfficientNet-Lite0; 0 = skip (default 1000)",
    )
    parser.add_argument(
        "--burst-streams",
        type=int,
        default=100,
        help="for EfficientNet-Lite0, after the soak: two bursts of this many streams at once, 10 raw "
        "640x480 frames each, and the server's idle RSS before and after them; 0 = skip (default 100)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a checkout of an earlier version (e.g. `git worktree add /tmp/before main`; one that takes "
        "--web-port), whose server is measured in the same rounds for comparison (Python 3.11+)",
    )
    parser.add_argument(
        "--no-page",
        dest="page",
        action="store_false",
        help="skip the 4 streams with the operator's page open in headless Chromium (EfficientNet-Lite0)",
    )
    parser.add_argument(
        "--learn-rounds",
        type=int,
        default=4,
        help="AddImages-against-Teach rounds with EfficientNet-Lite0; half as many model changes (Lite2 -> "
        "Lite0, 10 products rebuilt while another is inspected); 0 = skip (default 4)",
    )
    parser.add_argument(
        "--highres-seconds",
        type=float,
        default=30.0,
        help="streaming per run for 2048x1536 frames, tiled at 512 and 256 and resized whole, and a "
        "scratched frame at 512 (EfficientNet-Lite0), split over the rounds; 0 = skip (default 30)",
    )
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        metavar="FLAG",
        help="extra server flag, repeatable, e.g. --server-arg=--max-wait-ms=5",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.baseline is not None and sys.version_info < (3, 11):
        raise SystemExit("--baseline needs Python 3.11+ (PYTHONSAFEPATH keeps this tree's server out)")
    settings = BenchSettings(
        args.rounds,
        args.raw_seconds,
        args.unary_calls,
        args.stream_seconds,
        args.soak_frames,
        tuple(args.server_arg),
        args.page,
        args.idle_streams,
        args.baseline,
        args.burst_streams,
    )
    models = [model for model in BENCH_MODELS if not args.only or args.only in model.label]
    log_dir = args.out.parent / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    runs = []
    for model in models:
        print(f"exporting {model.label}", flush=True)
        path = model.export(args.models_dir)
        runs.append(measure_model(model, path, settings, log_dir, lambda text: print(text, flush=True)))
    learning = []
    if args.learn_rounds:
        lite0, lite2 = (BenchModel(name).export(args.models_dir) for name in LEARN_MODELS)
        run = measure_learning(lite0, lite2, args.learn_rounds, log_dir, lambda text: print(text, flush=True))
        learning = ["", "Products that learn (EfficientNet-Lite0, issue 12):", *learn_lines(run)]
    highres = []
    if args.highres_seconds:
        lite0 = BenchModel(LEARN_MODELS[0]).export(args.models_dir)
        runs_highres = measure_highres(
            lite0, args.rounds, args.highres_seconds, log_dir, lambda text: print(text, flush=True)
        )
        highres = ["", *highres_lines(runs_highres)]
    minutes = (time.perf_counter() - started) / 60
    server_flags = " ".join(settings.server_args) or "defaults"
    report = "\n".join(
        [
            f"Performance benchmark, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
            f"{machine_description()}; server flags: {server_flags}; {minutes:.1f} min; load average "
            f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after.",
            "",
            markdown_table(runs),
            "",
            "Server CPU per raw 640x480 frame and its stages, ms:",
            "",
            stages_table(runs),
            "",
            "The model's CPU per image by batch size, one loop of the session a model worker runs under load "
            "(--max-batch trades these):",
            "",
            batch_cost_table(runs),
            "",
            *(
                [f"This server vs the baseline ({args.baseline}), same rounds:", "", baseline_table(runs), ""]
                if args.baseline
                else []
            ),
            "Targets:",
            *target_lines(runs),
            *learning,
            *highres,
            "",
            NOTES,
            "",
        ]
    )
    print(report)
    args.out.write_text(report)


if __name__ == "__main__":
    main()
