"""Micro-batching with a fake model: batch sizes, routing of results, a full queue, a failing model."""

import threading

import numpy as np
import pytest

from patchcore.errors import ModelError
from server.batcher import InferenceBatcher
from server.errors import ServerBusy, ShuttingDown
from server.metrics import ServerMetrics

GRID = 2


class FakeExtractor:
    """Features whose first value is the image's first pixel, so results can be traced to their frame."""

    def __init__(self, gate: threading.Event | None = None, fail: bool = False) -> None:
        self.batch_sizes: list[int] = []
        self.entered = threading.Event()  # set once a batch is being extracted
        self._gate = gate
        self._fail = fail

    def extract(self, images: np.ndarray) -> np.ndarray:
        self.entered.set()
        if self._gate is not None:
            self._gate.wait()
        if self._fail:
            raise ModelError("model broke")
        self.batch_sizes.append(len(images))
        features = np.zeros((len(images), GRID * GRID, 1), np.float32)
        features[:, :, 0] = images[:, 0, 0, 0, None]
        return features


class FakeScorer:
    def __init__(self, offset: float) -> None:
        self.offset = offset

    def patch_scores(self, features: np.ndarray) -> np.ndarray:
        return features[:, :, 0].reshape(-1, GRID, GRID) + self.offset


def image(value: int) -> np.ndarray:
    return np.full((4, 4, 3), value, np.uint8)


def test_each_frame_gets_its_own_result_from_its_own_product():
    gate = threading.Event()
    extractor = FakeExtractor(gate)
    batcher = InferenceBatcher(extractor, ServerMetrics(), max_batch=4, max_wait_ms=50)
    scorers = [FakeScorer(0.0), FakeScorer(1000.0)]
    futures = [batcher.submit(image(i), scorers[i % 2]) for i in range(10)]
    gate.set()
    grids = [future.result(timeout=10).patch_grid for future in futures]
    batcher.close()

    assert [grid[0, 0] for grid in grids] == [i + 1000.0 * (i % 2) for i in range(10)]
    assert max(extractor.batch_sizes) <= 4 and sum(extractor.batch_sizes) == 10
    assert len(extractor.batch_sizes) < 10  # frames that waited were batched together


def test_a_full_queue_refuses_with_server_busy():
    gate = threading.Event()
    extractor = FakeExtractor(gate)
    batcher = InferenceBatcher(extractor, ServerMetrics(), max_batch=1, queue_size=2)
    scorer = FakeScorer(0.0)
    first = batcher.submit(image(0), scorer)
    extractor.entered.wait(10)  # the worker holds frame 0 at the gate; the queue is empty again
    batcher.submit(image(1), scorer)
    batcher.submit(image(2), scorer)
    with pytest.raises(ServerBusy):
        batcher.submit(image(3), scorer)
    gate.set()
    first.result(timeout=10)
    batcher.close()


def test_a_model_error_fails_every_frame_of_the_batch_and_the_worker_goes_on():
    batcher = InferenceBatcher(FakeExtractor(fail=True), ServerMetrics(), max_batch=8)
    future = batcher.submit(image(0), FakeScorer(0.0))
    with pytest.raises(ModelError):
        future.result(timeout=10)
    with pytest.raises(ModelError):
        batcher.submit(image(1), FakeScorer(0.0)).result(timeout=10)
    batcher.close()


def test_a_closed_batcher_refuses_with_shutting_down():
    batcher = InferenceBatcher(FakeExtractor(), ServerMetrics())
    batcher.close()
    with pytest.raises(ShuttingDown):
        batcher.submit(image(0), FakeScorer(0.0))


def test_frames_whose_caller_cancelled_are_dropped_unscored():
    gate = threading.Event()
    extractor = FakeExtractor(gate)
    metrics = ServerMetrics()
    batcher = InferenceBatcher(extractor, metrics, max_batch=8, max_wait_ms=0)
    scorer = FakeScorer(0.0)
    first = batcher.submit(image(0), scorer)
    extractor.entered.wait(10)  # the worker holds frame 0 at the gate while the others queue
    queued = [batcher.submit(image(value), scorer) for value in range(1, 7)]
    for future in queued[1:5]:
        assert future.cancel()
    gate.set()
    kept = [first.result(timeout=10), queued[0].result(timeout=10), queued[5].result(timeout=10)]
    batcher.close()

    assert [output.patch_grid[0, 0] for output in kept] == [0, 1, 6]
    assert sum(extractor.batch_sizes) == 3
    assert metrics.pending_requests._value.get() == 0
