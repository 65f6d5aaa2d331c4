"""Everything `make bench` measures for one model: raw throughput and a real server on it (and an earlier
version's server, when given), alternating."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from patchcore_client.local_server import LocalServer
from patchcore_edge.v1 import inspection_pb2 as pb

from patchcore.model import FeatureExtractor
from server.config import ServerConfig, parse_config
from server.model_sessions import open_model
from tests.benchmarks.perf_burst import BurstResult, measure_bursts
from tests.benchmarks.perf_calls import (
    StreamRun,
    stream_frames,
    streamed_with_cpu,
    timed_teach,
    unary_durations_ms,
)
from tests.benchmarks.perf_floor import floor_server
from tests.benchmarks.perf_frames import encoded_image, good_frame, raw_image
from tests.benchmarks.perf_idle import IdleStreamsResult, measure_idle_streams
from tests.benchmarks.perf_models import BenchModel
from tests.benchmarks.perf_overhead import StageCosts, stage_costs
from tests.benchmarks.perf_page import PageViewer
from tests.benchmarks.perf_process import ProcessMonitor
from tests.benchmarks.perf_raw import RawThroughput, raw_throughput

PRODUCT = "bench-part"
TEACH_IMAGES = 8
SOAK_WINDOW_FRAMES = 1000


@dataclass(frozen=True)
class BenchSettings:
    """Seconds and calls are totals per measurement, split evenly over the rounds."""

    rounds: int = 3
    raw_seconds: float = 9.0
    unary_calls: int = 60
    stream_seconds: float = 15.0
    soak_frames: int = 10_000
    server_args: tuple[str, ...] = ()
    page: bool = True  # 4 streams also with the operator's page open, for the models with a soak
    idle_streams: int = 1000
    baseline: Path | None = None  # a checkout of an earlier version whose server is measured beside this one
    burst_streams: int = 100  # raw-frame streams at once in the bursts, for the models with a soak; 0 = none


@dataclass(frozen=True)
class SoakResult:
    """The RSS peak of each window of SOAK_WINDOW_FRAMES frames. A single window's peak swings by +-5% with
    the frames in flight and with when glibc hands memory back, so growth compares the median peak of the
    three windows after the first (the warm-up) with the median peak of the last three."""

    frames: int
    window_peaks_mib: tuple[float, ...]

    @property
    def early_mib(self) -> float:
        return float(np.median(self.window_peaks_mib[1:4]))

    @property
    def late_mib(self) -> float:
        return float(np.median(self.window_peaks_mib[-3:]))

    @property
    def growth(self) -> float:
        return self.late_mib / self.early_mib - 1.0


@dataclass(frozen=True)
class PageOpenRun:
    """4 streams with the operator's page open: throughput, and the CPU seconds of the server and of the
    browser meanwhile."""

    stream4: StreamRun
    server_cpu_seconds: float
    browser_cpu_seconds: float


@dataclass(frozen=True)
class ServerRound:
    """One server's calls in one round: unary latency, InspectStream throughput and the server's CPU."""

    unary_ms: dict[str, list[float]]  # round-trip ms of each Inspect call, by image format "jpeg" / "raw"
    stream1: StreamRun
    stream4: StreamRun
    stream4_server_cpu_seconds: float
    raw2: StreamRun  # 2 streams of raw RGB8 frames
    raw2_server_cpu_seconds: float

    @property
    def best_stream_fps(self) -> float:
        return max(self.stream1.frames_per_second, self.stream4.frames_per_second)


@dataclass(frozen=True)
class Round:
    """One pass of every throughput and latency measurement, raw and through the server(s), back to back."""

    raw_batch1: RawThroughput
    raw_batch8: RawThroughput  # one loop: raw ONNX Runtime batch-8 throughput, the issues' reference
    raw_workers: RawThroughput  # the model as the server runs it under load (_one_round)
    server: ServerRound
    baseline: ServerRound | None
    page_open: PageOpenRun | None  # this server's 4 streams again, with the operator's page open and updating
    floor_cpu_ms: float  # CPU ms per raw frame of a bare gRPC server, 2 streams (perf_floor.py)

    @property
    def stream_share(self) -> float:
        """Best JPEG stream throughput over raw batch-8 throughput of this round."""
        return self.server.best_stream_fps / self.raw_batch8.images_per_second

    @property
    def page_open_share(self) -> float:
        """4-stream throughput with the page open over the same without it, in this round."""
        return self.page_open.stream4.frames_per_second / self.server.stream4.frames_per_second

    @property
    def raw2_share(self) -> float:
        """Throughput of 2 streams of raw frames over raw batch-8 throughput (one loop) of this round."""
        return self.server.raw2.frames_per_second / self.raw_batch8.images_per_second

    @property
    def raw2_share_of_workers(self) -> float:
        """The same over the model run as the server runs it (raw_workers): the most the model gives that
        way."""
        return self.server.raw2.frames_per_second / self.raw_workers.images_per_second

    @property
    def overhead_cpu_ms(self) -> float:
        """Server CPU per raw frame (2 streams) beyond the model's CPU per image, run as the server runs it
        (raw_workers)."""
        return _cpu_ms_per_frame(self.server.raw2_server_cpu_seconds, self.server.raw2) - (
            self.raw_workers.cpu_ms_per_image
        )


def _cpu_ms_per_frame(cpu_seconds: float, run: StreamRun) -> float:
    return cpu_seconds * 1000 / run.frames


def _median(values: list[float]) -> float:
    return float(np.median(values))


@dataclass(frozen=True)
class ModelRun:
    """Everything measured for one model; throughput and latency as medians or pools over the rounds."""

    model: BenchModel
    rounds: tuple[Round, ...]
    teach_seconds: float
    peak_rss_mib: float
    soak: SoakResult | None
    stages: StageCosts
    idle: IdleStreamsResult | None
    burst: BurstResult | None
    batch_costs: dict[int, float]  # batch size -> CPU ms per image of one worker's session (batch_costs)
    max_batch: int  # the server's --max-batch

    def raw_images_per_second(self, batch: int) -> float:
        """batch: 1 (one lone call at a time) or 8 (one loop)."""
        return _median([self._raw(one, batch).images_per_second for one in self.rounds])

    def raw_batch_ms(self, batch: int) -> float:
        return _median([self._raw(one, batch).batch_ms_median for one in self.rounds])

    def raw_cpu_ms_per_image(self, batch: int) -> float:
        return _median([self._raw(one, batch).cpu_ms_per_image for one in self.rounds])

    def raw_workers_images_per_second(self) -> float:
        """The model run as the server runs it under load (Round.raw_workers)."""
        return _median([one.raw_workers.images_per_second for one in self.rounds])

    def raw_workers_cpu_ms_per_image(self) -> float:
        return _median([one.raw_workers.cpu_ms_per_image for one in self.rounds])

    @staticmethod
    def _raw(one: Round, batch: int) -> RawThroughput:
        return one.raw_batch1 if batch == 1 else one.raw_batch8

    def unary_ms(self, image_format: str) -> tuple[float, float]:
        """(p50, p99) of every Inspect call of all rounds, image_format "jpeg" or "raw"."""
        durations = [ms for one in self.rounds for ms in one.server.unary_ms[image_format]]
        p50, p99 = np.percentile(durations, [50, 99])
        return float(p50), float(p99)

    def stream_fps(self, streams: int, baseline: bool = False) -> float:
        """JPEG frames/s over all rounds with 1 or 4 streams; raw frames with 2."""
        servers = [one.baseline if baseline else one.server for one in self.rounds]
        runs = [{1: server.stream1, 4: server.stream4, 2: server.raw2}[streams] for server in servers]
        return sum(run.frames for run in runs) / sum(run.seconds for run in runs)

    @property
    def best_stream_fps(self) -> float:
        return _median([one.server.best_stream_fps for one in self.rounds])

    @property
    def stream_share(self) -> float:
        return _median([one.stream_share for one in self.rounds])

    @property
    def raw2_share(self) -> float:
        return _median([one.raw2_share for one in self.rounds])

    @property
    def raw2_share_of_workers(self) -> float:
        return _median([one.raw2_share_of_workers for one in self.rounds])

    @property
    def overhead_cpu_ms(self) -> float:
        return _median([one.overhead_cpu_ms for one in self.rounds])

    @property
    def floor_cpu_ms(self) -> float:
        return _median([one.floor_cpu_ms for one in self.rounds])

    @property
    def page_open_share(self) -> float | None:
        """Median over the rounds of 4-stream throughput with the page open over without; None if not run."""
        if self.rounds[0].page_open is None:
            return None
        return _median([one.page_open_share for one in self.rounds])

    def page_open_cpu_ms_per_frame(self) -> tuple[float, float]:
        """(server, browser) CPU ms per frame over all 4-stream runs with the page open."""
        runs = [one.page_open for one in self.rounds]
        frames = sum(run.stream4.frames for run in runs)
        server = sum(run.server_cpu_seconds for run in runs)
        return server * 1000 / frames, sum(run.browser_cpu_seconds for run in runs) * 1000 / frames

    def server_cpu_ms_per_frame(self, streams: int = 4, baseline: bool = False) -> float:
        """Server process CPU per frame over all runs with 4 JPEG or 2 raw streams."""
        servers = [one.baseline if baseline else one.server for one in self.rounds]
        if streams == 4:
            cpu, runs = [s.stream4_server_cpu_seconds for s in servers], [s.stream4 for s in servers]
        else:
            cpu, runs = [s.raw2_server_cpu_seconds for s in servers], [s.raw2 for s in servers]
        return sum(cpu) * 1000 / sum(run.frames for run in runs)


def _soak(target: str, image: pb.Image, monitor: ProcessMonitor, frames: int) -> SoakResult:
    """Streams `frames` frames over 4 streams in windows of SOAK_WINDOW_FRAMES (at least 7 windows)."""
    window = min(SOAK_WINDOW_FRAMES, frames // 7)
    peaks = []
    for _ in range(frames // window):
        monitor.start_window()
        stream_frames(target, PRODUCT, image, streams=4, total_frames=window)
        peaks.append(monitor.window_peak_mib)
    return SoakResult(window * len(peaks), tuple(peaks))


def _server_round(
    target: str, images: Mapping[str, pb.Image], settings: BenchSettings, monitor: ProcessMonitor
) -> ServerRound:
    share = 1.0 / settings.rounds
    calls = max(1, round(settings.unary_calls * share))
    unary_ms = {name: unary_durations_ms(target, PRODUCT, image, calls) for name, image in images.items()}
    seconds = settings.stream_seconds * share
    stream1 = stream_frames(target, PRODUCT, images["jpeg"], streams=1, seconds=seconds)
    stream4, stream4_cpu = streamed_with_cpu(target, PRODUCT, images["jpeg"], 4, seconds, monitor)
    raw2, raw2_cpu = streamed_with_cpu(target, PRODUCT, images["raw"], 2, seconds, monitor)
    return ServerRound(unary_ms, stream1, stream4, stream4_cpu, raw2, raw2_cpu)


@dataclass(frozen=True)
class _Served:
    target: str
    monitor: ProcessMonitor


def _page_open_run(
    target: str, image: pb.Image, settings: BenchSettings, monitor: ProcessMonitor, viewer: PageViewer
) -> PageOpenRun:
    monitor.wait_until_idle()
    with viewer.watching():
        server_before, browser_before = monitor.cpu_seconds(), viewer.cpu_seconds()
        run = stream_frames(
            target, PRODUCT, image, streams=4, seconds=settings.stream_seconds / settings.rounds
        )
        return PageOpenRun(run, monitor.cpu_seconds() - server_before, viewer.cpu_seconds() - browser_before)


def _one_round(
    extractor: FeatureExtractor,
    beside: FeatureExtractor,
    server_config: ServerConfig,
    served: _Served,
    baseline: _Served | None,
    floor: _Served,
    images: Mapping[str, pb.Image],
    settings: BenchSettings,
    viewer: PageViewer | None,
    page_first: bool,
) -> Round:
    """viewer: measure the 4 streams also with the page open (before this server's calls when page_first,
    after them otherwise, so the order alternates between rounds). Raw batch 8 runs as one loop on
    extractor; then the model as the server runs it under load: batches of its max batch, in as many loops
    at once as it has model workers, on beside when there are several; raw batch 1 is one lone call at a
    time."""
    served.monitor.wait_until_idle()
    seconds = settings.raw_seconds / settings.rounds
    raw1 = raw_throughput(extractor, 1, seconds)
    raw8 = raw_throughput(extractor, 8, seconds)
    workers, batch = server_config.model_workers, server_config.max_batch
    raw_workers = (
        raw8
        if (workers, batch) == (1, 8)
        else raw_throughput(beside if workers > 1 else extractor, batch, seconds, runs=workers)
    )

    def page_open() -> PageOpenRun | None:
        return (
            None
            if viewer is None
            else _page_open_run(served.target, images["jpeg"], settings, served.monitor, viewer)
        )

    opened_first = page_open() if page_first else None
    server = _server_round(served.target, images, settings, served.monitor)
    opened = opened_first if page_first else page_open()
    floor_run, floor_cpu = streamed_with_cpu(
        floor.target, PRODUCT, images["raw"], 2, settings.stream_seconds / settings.rounds, floor.monitor
    )
    floor_ms = _cpu_ms_per_frame(floor_cpu, floor_run)
    if baseline is None:
        return Round(raw1, raw8, raw_workers, server, None, opened, floor_ms)
    baseline.monitor.wait_until_idle()
    return Round(
        raw1,
        raw8,
        raw_workers,
        server,
        _server_round(baseline.target, images, settings, baseline.monitor),
        opened,
        floor_ms,
    )


@contextlib.contextmanager
def _maybe_baseline(
    path: Path, store: str, settings: BenchSettings, log_dir: Path
) -> Iterator[LocalServer | None]:
    """The earlier version's server on the same model when settings.baseline names a checkout of it.

    PYTHONPATH puts the checkout's server/ and patchcore/ first, and PYTHONSAFEPATH (Python 3.11+) keeps
    this working directory's off sys.path.
    """
    if settings.baseline is None:
        yield None
        return
    env = {"PYTHONPATH": str(settings.baseline.resolve()), "PYTHONSAFEPATH": "1"}
    log_path = log_dir / f"baseline-{path.stem}.log"
    with LocalServer(path.resolve(), store, settings.server_args, log_path, env=env) as server:
        yield server


def _idle_streams(
    path: Path, teach_set: list[pb.Image], image: pb.Image, settings: BenchSettings, log_dir: Path
) -> IdleStreamsResult:
    """On a server of its own that has only been taught, so that its heap holds nothing freed by frames."""
    with (
        tempfile.TemporaryDirectory() as store,
        LocalServer(path, store, settings.server_args, log_dir / f"idle-{path.stem}.log") as server,
    ):
        timed_teach(server.target, PRODUCT, teach_set)
        monitor = ProcessMonitor(server.process.pid)
        request = pb.InspectRequest(product_id=PRODUCT, image=image)
        result = measure_idle_streams(
            server.target, server.metrics_port, monitor, request, settings.idle_streams
        )
        monitor.stop()
    return result


COST_BATCHES = (1, 2, 4, 8)


def batch_costs(session: FeatureExtractor, seconds: float) -> dict[int, float]:
    """CPU ms per image of one loop of `session` at each of COST_BATCHES: what --max-batch trades. With two
    model workers, session is the one a run beside another uses (a worker's share of the threads)."""
    return {batch: raw_throughput(session, batch, seconds).cpu_ms_per_image for batch in COST_BATCHES}


def measure_model(model: BenchModel, path: Path, settings: BenchSettings, log_dir: Path, say) -> ModelRun:
    """say(text) reports progress. The server gets an empty store of its own and the flags in settings.

    Raw model throughput and the server calls alternate in settings.rounds rounds, so that a change in the
    machine's speed (other tenants of the host) hits both sides of each ratio alike.
    """
    frame = good_frame(seed=0)
    images = {"jpeg": encoded_image(frame), "raw": raw_image(frame)}
    teach_set = [encoded_image(good_frame(seed)) for seed in range(1, TEACH_IMAGES + 1)]
    server_config = parse_config(["--model", str(path), "--store", "unused", *settings.server_args])
    extractor, beside = open_model(server_config)
    idle = None
    if model.idle_streams and settings.idle_streams:
        say(f"{model.label}: {settings.idle_streams} idle streams")
        idle = _idle_streams(path, teach_set, images["raw"], settings, log_dir)
    say(f"{model.label}: server stages")
    stages = stage_costs(extractor, images["raw"], teach_set)
    say(f"{model.label}: model cost by batch size")
    costs = batch_costs(beside or extractor, settings.raw_seconds / len(COST_BATCHES))
    with (
        tempfile.TemporaryDirectory() as store,
        tempfile.TemporaryDirectory() as baseline_store,
        LocalServer(
            path, store, settings.server_args, log_dir / f"server-{path.stem}.log", web=True
        ) as server,
        _maybe_baseline(path, baseline_store, settings, log_dir) as baseline_server,
        floor_server() as (floor_target, floor_pid),
    ):
        monitor = ProcessMonitor(server.process.pid)
        served = _Served(server.target, monitor)
        floor = _Served(floor_target, ProcessMonitor(floor_pid))
        baseline = None
        if baseline_server is not None:
            baseline = _Served(baseline_server.target, ProcessMonitor(baseline_server.process.pid))
            timed_teach(baseline.target, PRODUCT, teach_set)
        say(f"{model.label}: Teach")
        teach_seconds = timed_teach(server.target, PRODUCT, teach_set)
        viewer = PageViewer(f"{server.page_url}products/{PRODUCT}") if model.soak and settings.page else None
        rounds = []
        for number in range(1, settings.rounds + 1):
            say(f"{model.label}: round {number} of {settings.rounds}: raw, Inspect, InspectStream")
            rounds.append(
                _one_round(
                    extractor,
                    beside or extractor,
                    server_config,
                    served,
                    baseline,
                    floor,
                    images,
                    settings,
                    viewer,
                    number % 2 == 0,
                )
            )
        if viewer is not None:
            viewer.close()
        soak = None
        if model.soak and settings.soak_frames:
            say(f"{model.label}: {settings.soak_frames} frames for memory growth")
            soak = _soak(server.target, images["jpeg"], monitor, settings.soak_frames)
        burst = None
        if model.soak and settings.burst_streams:
            say(f"{model.label}: bursts of {settings.burst_streams} streams of raw frames")
            burst = measure_bursts(server.target, monitor, PRODUCT, images["raw"], settings.burst_streams)
        monitor.stop()
        floor.monitor.stop()
        if baseline is not None:
            baseline.monitor.stop()
    return ModelRun(
        model,
        tuple(rounds),
        teach_seconds,
        monitor.peak_mib,
        soak,
        stages,
        idle,
        burst,
        costs,
        server_config.max_batch,
    )
