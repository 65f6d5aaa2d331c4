"""`make demo`: export a model if there is none, start a server, teach a product from generated good parts,
stream good and defective frames, print a line per frame, write heatmap overlays, keep streaming for a while
so a person can watch the frames on the operator's page (its address is printed), stop the server.

Uses only the client library and subprocesses (`python -m exporter`, `python -m server`); needs numpy and
OpenCV for the generated parts.
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from patchcore_client.client import InspectionClient
from patchcore_client.help_format import HelpFormatter
from patchcore_client.local_server import LocalServer

PRODUCT = "demo-flange"
TEACH_IMAGES = 8
# A margin over the highest held-out score, wider than the server's default: generated parts vary little,
# so a handful of them underestimates the spread of good scores.
THRESHOLD_SCALE = 1.5
MODEL_PREFERENCE = ("dinov2_vits14_224.onnx", "efficientnet_lite0_224.onnx")
WATCH_FRAMES_PER_SECOND = 4


def find_or_export_model(models: Path) -> Path:
    """The model to run: an exported DINOv2-S or EfficientNet-Lite0 at 224, exported now if neither exists."""
    for name in MODEL_PREFERENCE:
        if (models / name).is_file():
            return models / name
    print(f"no model in {models}/ yet: exporting one (python -m exporter) ...", flush=True)
    subprocess.run([sys.executable, "-m", "exporter", "--out-dir", str(models)], check=True)
    return find_or_export_model(models)


def run_demo(model: Path, out: Path, frame_count: int, seed: int, watch_seconds: float) -> int:
    import numpy as np

    from patchcore_client.synthetic import good_part, inspection_sequence

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(prefix="patchcore-demo-store-") as store:
        server = LocalServer(model, store, log_path=out / "server.log", web=True).start()
        try:
            with InspectionClient(server.target) as client:
                info = client.server_info()
                model_info = info.model
                print(
                    f"server {server.target}: model {model_info.backbone} {model_info.input_size}px "
                    f"(fingerprint {model_info.fingerprint[:12]}), log in {out / 'server.log'}"
                )
                page = f"{server.page_url}products/{PRODUCT}"
                print(f"operator's page: {page}", flush=True)
                product = client.teach(
                    PRODUCT, [good_part(rng) for _ in range(TEACH_IMAGES)], threshold_scale=THRESHOLD_SCALE
                )
                print(
                    f"taught {PRODUCT} from {TEACH_IMAGES} good images in "
                    f"{product.teach_stats.teach_seconds:.1f} s: threshold {product.threshold:.4f} "
                    f"({THRESHOLD_SCALE} x the highest held-out score)"
                )
                correct = stream_frames(client, inspection_sequence(rng, frame_count, defect_every=3), out)
                keep_streaming(client, inspection_sequence(rng, 24, defect_every=3), watch_seconds, page)
        finally:
            exit_code = server.stop()
    print(
        f"{correct}/{frame_count} verdicts as expected; overlays in {out}/; server stopped (exit {exit_code})"
    )
    return 0 if correct == frame_count and exit_code == 0 else 1


def stream_frames(client: InspectionClient, frames: list, out: Path) -> int:
    """Streams (image, expected) frames with PNG heatmaps; prints a line each; returns how many were right."""
    print(f"{'frame':>5}  {'score':>7}  {'verdict':9}  {'expected':8}  {'regions':>7}  {'ms':>6}")
    correct = 0
    started = time.perf_counter()
    results = client.inspect_stream(
        PRODUCT, ((i, image) for i, (image, _) in enumerate(frames)), heatmap="png"
    )
    for result in results:
        expected = frames[result.frame_id][1]
        right = result.anomalous == (expected != "good") and result.error is None
        correct += right
        print(
            f"{result.frame_id:5d}  {result.score:7.4f}  {result.verdict:9}  {expected:8}  "
            f"{len(result.regions):7d}  {result.timings_ms['total']:6.1f}  {'ok' if right else 'WRONG'}"
        )
        (out / f"frame_{result.frame_id:03d}_{expected}.png").write_bytes(result.overlay_png or b"")
    seconds = time.perf_counter() - started
    print(
        f"streamed {len(frames)} frames in {seconds:.1f} s "
        f"({len(frames) / seconds:.1f} frames/s with PNG overlays)"
    )
    return correct


def keep_streaming(client: InspectionClient, frames: list, seconds: float, page: str) -> None:
    """Streams `frames` again and again at WATCH_FRAMES_PER_SECOND for `seconds`, for a person at `page`."""
    if seconds <= 0:
        return
    print(f"streaming for {seconds:.0f} s more: watch at {page} (--watch 0 skips this)", flush=True)
    deadline = time.monotonic() + seconds

    def paced() -> Iterator[tuple[int, object]]:
        for frame_id in itertools.count():
            if time.monotonic() >= deadline:
                return
            yield frame_id, frames[frame_id % len(frames)][0]
            time.sleep(1 / WATCH_FRAMES_PER_SECOND)

    answered = sum(1 for _ in client.inspect_stream(PRODUCT, paced()))
    print(f"streamed {answered} more frames")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m patchcore_client.demo",
        description="End-to-end demo on generated parts: teach, stream good and defective frames, overlays.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--model", type=Path, help="ONNX model; default: the one in --models, exported if none"
    )
    parser.add_argument("--models", type=Path, default=Path("models"), help="folder of exported models")
    parser.add_argument("--out", type=Path, default=Path("demo-out"), help="folder for overlays and the log")
    parser.add_argument("--frames", type=int, default=24, help="frames to stream (every third is defective)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated parts")
    parser.add_argument(
        "--watch",
        type=float,
        default=30.0,
        help="seconds to keep streaming afterwards, to watch on the operator's page; 0 = none",
    )
    args = parser.parse_args(argv)
    model = args.model or find_or_export_model(args.models)
    return run_demo(model, args.out, args.frames, args.seed, args.watch)


if __name__ == "__main__":
    sys.exit(main())
