"""High-resolution frames (issue 11): 2048x1536 JPEG frames of a fine-grained surface on one Lite0 server,
products tiled at 512 (12 tiles a frame) and at 256 (48 tiles, each searched cell by cell too: the fine
channel) and one resized whole: Teach of 8 frames, InspectStream frames/s with 2 streams and the server's
CPU per frame, the products alternating in rounds."""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from patchcore_client.local_server import LocalServer
from patchcore_client.synthetic import machined_surface

from tests.benchmarks.perf_calls import stream_frames, timed_teach
from tests.benchmarks.perf_frames import encoded_image
from tests.benchmarks.perf_process import ProcessMonitor

FRAME_SIZE = (1536, 2048)  # (H, W)
TEACH_IMAGES = 8
STREAMS = 2
VIEWS = {"tile 512": 512, "tile 256": 256, "whole frame": 0}


@dataclass(frozen=True)
class HighresRun:
    """One product's figures: teach seconds and, per round, frames/s and server CPU ms per frame."""

    view: str
    teach_seconds: float
    frames_per_second: list[float]
    cpu_ms_per_frame: list[float]

    def line(self) -> str:
        fps = self.frames_per_second
        return (
            f"| {self.view} | {self.teach_seconds:.1f} | {statistics.median(fps):.2f} "
            f"[{min(fps):.2f}-{max(fps):.2f}] | {statistics.median(self.cpu_ms_per_frame):.0f} |"
        )


def measure_highres(
    model: Path, rounds: int, stream_seconds: float, log_dir: Path, say: Callable[[str], None]
) -> list[HighresRun]:
    """All products on one server; `stream_seconds` of streaming per product, split over `rounds`."""
    teach_set = [encoded_image(_surface(seed)) for seed in range(TEACH_IMAGES)]
    frame = encoded_image(_surface(TEACH_IMAGES))
    with (
        tempfile.TemporaryDirectory() as store,
        LocalServer(model, Path(store), log_path=log_dir / "highres.log") as server,
    ):
        monitor = ProcessMonitor(server.process.pid)
        teach_seconds = {}
        for view, tile_size in VIEWS.items():
            say(f"high-resolution frames: teaching {view}")
            teach_seconds[view] = timed_teach(server.target, _product(view), teach_set, tile_size=tile_size)
        fps: dict[str, list[float]] = {view: [] for view in VIEWS}
        cpu: dict[str, list[float]] = {view: [] for view in VIEWS}
        for round_index in range(rounds):
            order = list(VIEWS) if round_index % 2 == 0 else list(reversed(VIEWS))
            for view in order:
                monitor.wait_until_idle()
                before = monitor.cpu_seconds()
                run = stream_frames(
                    server.target, _product(view), frame, STREAMS, seconds=stream_seconds / rounds
                )
                fps[view].append(run.frames_per_second)
                cpu[view].append((monitor.cpu_seconds() - before) * 1000 / max(run.frames, 1))
            say(f"high-resolution frames: round {round_index + 1} of {rounds}")
        monitor.stop()
    return [HighresRun(view, teach_seconds[view], fps[view], cpu[view]) for view in VIEWS]


def _surface(seed: int) -> np.ndarray:
    return machined_surface(np.random.default_rng(seed), *FRAME_SIZE)


def _product(view: str) -> str:
    return f"highres-tile-{VIEWS[view]}" if VIEWS[view] else "highres-whole"


def highres_lines(runs: list[HighresRun]) -> list[str]:
    return [
        f"High-resolution frames ({FRAME_SIZE[1]}x{FRAME_SIZE[0]} JPEG q90, EfficientNet-Lite0 224, "
        f"{STREAMS} streams; frames/s median [range] over the rounds):",
        "",
        "| product | Teach 8 s | frames/s | server CPU ms/frame |",
        "|---|---|---|---|",
        *(run.line() for run in runs),
    ]
