"""High-resolution frames (issue 11): 2048x1536 JPEG frames of a fine-grained surface on one Lite0 server,
products tiled at 512 (12 tiles a frame) and at 256 (48 tiles, each searched cell by cell too: the fine
channel) and one resized whole: Teach of 8 frames, InspectStream frames/s with 2 streams and the server's
CPU per frame, the products alternating in rounds. Every product streams a good frame; the product tiled at
512 also a scratched one, whose regions need more of its patches searched than a good frame's score."""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from patchcore_client.local_server import LocalServer
from patchcore_client.synthetic import machined_surface

from tests.benchmarks.perf_calls import streamed_with_cpu, timed_teach
from tests.benchmarks.perf_frames import encoded_image
from tests.benchmarks.perf_process import ProcessMonitor

FRAME_SIZE = (1536, 2048)  # (H, W)
TEACH_IMAGES = 8
STREAMS = 2
VIEWS = {"tile 512": 512, "tile 256": 256, "whole frame": 0}
SCRATCHED = "tile 512, a scratched frame"
RUNS = {"tile 512": "tile 512", SCRATCHED: "tile 512", "tile 256": "tile 256", "whole frame": "whole frame"}


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
    """All products on one server; `stream_seconds` of streaming per run (RUNS), split over `rounds`."""
    teach_set = [encoded_image(_surface(seed)) for seed in range(TEACH_IMAGES)]
    good = _surface(TEACH_IMAGES)
    frames = dict.fromkeys(RUNS, encoded_image(good))
    frames[SCRATCHED] = encoded_image(_scratched(good))
    with (
        tempfile.TemporaryDirectory() as store,
        LocalServer(model, Path(store), log_path=log_dir / "highres.log") as server,
    ):
        monitor = ProcessMonitor(server.process.pid)
        teach_seconds = {}
        for view, tile_size in VIEWS.items():
            say(f"high-resolution frames: teaching {view}")
            teach_seconds[view] = timed_teach(server.target, _product(view), teach_set, tile_size=tile_size)
        fps: dict[str, list[float]] = {run: [] for run in RUNS}
        cpu: dict[str, list[float]] = {run: [] for run in RUNS}
        for round_index in range(rounds):
            order = list(RUNS) if round_index % 2 == 0 else list(reversed(RUNS))
            for run in order:
                streamed, cpu_seconds = streamed_with_cpu(
                    server.target, _product(RUNS[run]), frames[run], STREAMS, stream_seconds / rounds, monitor
                )
                fps[run].append(streamed.frames_per_second)
                cpu[run].append(cpu_seconds * 1000 / max(streamed.frames, 1))
            say(f"high-resolution frames: round {round_index + 1} of {rounds}")
        monitor.stop()
    return [HighresRun(run, teach_seconds[RUNS[run]], fps[run], cpu[run]) for run in RUNS]


def _surface(seed: int) -> np.ndarray:
    return machined_surface(np.random.default_rng(seed), *FRAME_SIZE)


def _scratched(frame: np.ndarray) -> np.ndarray:
    """The frame with a dark scratch 3 pixels wide and 60 long (a few tiles' patches score above any
    threshold taught on the good surface)."""
    scratched = frame.copy()
    cv2.line(scratched, (900, 700), (950, 733), (70, 70, 70), 3, cv2.LINE_AA)
    return scratched


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
