"""Everything `make bench` measures for one model: raw throughput, then a real server on it."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from patchcore_client.local_server import LocalServer
from patchcore_edge.v1 import inspection_pb2 as pb

from patchcore.model import FeatureExtractor
from tests.benchmarks.perf_calls import Latency, StreamRun, stream_frames, timed_teach, unary_latency
from tests.benchmarks.perf_frames import encoded_image, good_frame, raw_image
from tests.benchmarks.perf_models import BenchModel
from tests.benchmarks.perf_process import ProcessMonitor
from tests.benchmarks.perf_raw import RawThroughput, raw_throughput

PRODUCT = "bench-part"
TEACH_IMAGES = 8
SOAK_WINDOW_FRAMES = 1000


@dataclass(frozen=True)
class BenchSettings:
    raw_seconds: float = 8.0
    unary_calls: int = 60
    stream_seconds: float = 15.0
    soak_frames: int = 10_000
    server_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class SoakResult:
    """RSS while streaming: the instantaneous value swings with the frames in flight, so growth compares the
    peak of an early window of SOAK_WINDOW_FRAMES (right after a warm-up of as many frames) with the peak of
    the last window."""

    frames: int
    early_peak_mib: float
    late_peak_mib: float

    @property
    def growth(self) -> float:
        return self.late_peak_mib / self.early_peak_mib - 1.0


@dataclass(frozen=True)
class ModelRun:
    model: BenchModel
    raw_batch1: RawThroughput
    raw_batch8: RawThroughput
    teach_seconds: float
    unary_jpeg: Latency
    unary_raw: Latency
    stream1: StreamRun
    stream4: StreamRun
    stream4_cpu_ms_per_frame: float  # server process CPU time per frame during the 4-stream run
    peak_rss_mib: float
    soak: SoakResult | None


def _raw(path: Path, settings: BenchSettings) -> tuple[RawThroughput, RawThroughput]:
    extractor = FeatureExtractor(path)
    return tuple(raw_throughput(extractor, batch, settings.raw_seconds) for batch in (1, 8))


def _soak(target: str, image: pb.Image, monitor: ProcessMonitor, frames: int) -> SoakResult:
    """Streams `frames` frames over 4 streams: warm-up window, early window, the middle, late window."""
    window = min(SOAK_WINDOW_FRAMES, frames // 4)

    def stream(count: int) -> None:
        stream_frames(target, PRODUCT, image, streams=4, total_frames=count)

    stream(window)
    monitor.start_window()
    stream(window)
    early_peak = monitor.window_peak_mib
    stream(frames - 3 * window)
    monitor.start_window()
    stream(window)
    return SoakResult(frames, early_peak, monitor.window_peak_mib)


def measure_model(model: BenchModel, path: Path, settings: BenchSettings, log_dir: Path, say) -> ModelRun:
    """say(text) reports progress. The server gets an empty store of its own and the flags in settings."""
    say(f"{model.label}: raw ONNX Runtime throughput")
    raw1, raw8 = _raw(path, settings)
    frame = good_frame(seed=0)
    jpeg, raw = encoded_image(frame), raw_image(frame)
    teach_set = [encoded_image(good_frame(seed)) for seed in range(1, TEACH_IMAGES + 1)]
    log_path = log_dir / f"server-{path.stem}.log"
    with (
        tempfile.TemporaryDirectory() as store,
        LocalServer(path, store, settings.server_args, log_path) as server,
    ):
        monitor = ProcessMonitor(server.process.pid)
        say(f"{model.label}: Teach, Inspect, InspectStream")
        teach_seconds = timed_teach(server.target, PRODUCT, teach_set)
        unary_jpeg = unary_latency(server.target, PRODUCT, jpeg, settings.unary_calls)
        unary_raw = unary_latency(server.target, PRODUCT, raw, settings.unary_calls)
        stream1 = stream_frames(server.target, PRODUCT, jpeg, streams=1, seconds=settings.stream_seconds)
        cpu_before = monitor.cpu_seconds()
        stream4 = stream_frames(server.target, PRODUCT, jpeg, streams=4, seconds=settings.stream_seconds)
        stream4_cpu_ms = (monitor.cpu_seconds() - cpu_before) * 1000 / stream4.frames
        soak = None
        if model.soak and settings.soak_frames:
            say(f"{model.label}: {settings.soak_frames} frames for memory growth")
            soak = _soak(server.target, jpeg, monitor, settings.soak_frames)
        monitor.stop()
    return ModelRun(
        model,
        raw1,
        raw8,
        teach_seconds,
        unary_jpeg,
        unary_raw,
        stream1,
        stream4,
        stream4_cpu_ms,
        monitor.peak_mib,
        soak,
    )
