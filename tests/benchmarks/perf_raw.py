"""Raw model throughput: FeatureExtractor.extract in a loop, no server, no scoring - the ceiling the server is
measured against. `runs` loops may go at once, as the server's model workers do."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from patchcore.model import FeatureExtractor


@dataclass(frozen=True)
class RawThroughput:
    batch: int
    images_per_second: float
    batch_ms_median: float  # wall time of one extract call
    cpu_ms_per_image: float  # process CPU time per image: robust when other work shares the cores


def raw_throughput(extractor: FeatureExtractor, batch: int, seconds: float, runs: int = 1) -> RawThroughput:
    """Runs extract on [batch, S, S, 3] noise images for about `seconds` after two warm-up calls, in `runs`
    threads at once."""
    size = extractor.info.input_size
    images = np.random.default_rng(batch).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
    for _ in range(2):
        extractor.extract(images)
    durations: list[float] = []
    cpu_started, started = time.process_time(), time.perf_counter()

    def loop() -> None:
        while time.perf_counter() - started < seconds or len(durations) < 3:
            call_started = time.perf_counter()
            extractor.extract(images)
            durations.append(time.perf_counter() - call_started)

    threads = [threading.Thread(target=loop) for _ in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    image_count = batch * len(durations)
    return RawThroughput(
        batch=batch,
        images_per_second=image_count / elapsed,
        batch_ms_median=float(np.median(durations) * 1000),
        cpu_ms_per_image=cpu * 1000 / image_count,
    )
