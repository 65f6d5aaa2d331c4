"""Micro-batching with a fake model: batch sizes, routing of features, a full queue, a failing model."""

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
        self.batches: list[list[int]] = []  # the first pixel of each image, batch by batch
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
        self.batches.append([int(value) for value in images[:, 0, 0, 0]])
        features = np.zeros((len(images), GRID * GRID, 1), np.float32)
        features[:, :, 0] = images[:, 0, 0, 0, None]
        return features


def image(value: int, tiles: int = 1) -> np.ndarray:
    """A frame's model inputs: `tiles` inputs whose first pixels are value, value + 1, ..."""
    inputs = np.zeros((tiles, 4, 4, 3), np.uint8)
    inputs[:, 0, 0, 0] = value + np.arange(tiles)
    return inputs


def test_each_frame_gets_its_own_features():
    gate = threading.Event()
    extractor = FakeExtractor(gate)
    batcher = InferenceBatcher(extractor, ServerMetrics(), max_batch=4, max_wait_ms=50)
    futures = [batcher.submit(image(i)) for i in range(10)]
    gate.set()
    features = [future.result(timeout=10).frame.features for future in futures]
    batcher.close()

    assert [frame.shape for frame in features] == [(1, GRID * GRID, 1)] * 10
    assert [frame[0, 0, 0] for frame in features] == list(range(10))
    assert max(extractor.batch_sizes) <= 4 and sum(extractor.batch_sizes) == 10
    assert len(extractor.batch_sizes) < 10  # frames that waited were batched together


def test_a_tiled_frame_brings_all_its_inputs_into_one_batch_and_gets_features_for_each():
    gate = threading.Event()
    extractor = FakeExtractor(gate)
    batcher = InferenceBatcher(extractor, ServerMetrics(), max_batch=4, max_wait_ms=50)
    first = batcher.submit(image(0))
    extractor.entered.wait(10)  # frame 0 runs alone while the others queue
    tiled = [batcher.submit(image(10 * frame, tiles=3)) for frame in (1, 2, 3)]
    large = batcher.submit(image(100, tiles=6))
    gate.set()
    outputs = [future.result(timeout=10) for future in [first, *tiled, large]]
    batcher.close()

    assert [list(output.frame.features[:, 0, 0]) for output in outputs[1:4]] == [
        [10, 11, 12],
        [20, 21, 22],
        [30, 31, 32],
    ]
    assert list(outputs[4].frame.features[:, 0, 0]) == [100, 101, 102, 103, 104, 105]
    # frames join a batch while it holds fewer than max_batch inputs; a frame's inputs are never split
    assert extractor.batch_sizes == [1, 6, 9]


def test_a_full_queue_refuses_with_server_busy():
    gate = threading.Event()
    extractor = FakeExtractor(gate)
    batcher = InferenceBatcher(extractor, ServerMetrics(), max_batch=1, queue_size=2)
    first = batcher.submit(image(0))
    extractor.entered.wait(10)  # the worker holds frame 0 at the gate; the queue is empty again
    batcher.submit(image(1))
    batcher.submit(image(2))
    with pytest.raises(ServerBusy):
        batcher.submit(image(3))
    gate.set()
    first.result(timeout=10)
    batcher.close()


def test_a_model_error_fails_every_frame_of_the_batch_and_the_worker_goes_on():
    batcher = InferenceBatcher(FakeExtractor(fail=True), ServerMetrics(), max_batch=8)
    future = batcher.submit(image(0))
    with pytest.raises(ModelError):
        future.result(timeout=10)
    with pytest.raises(ModelError):
        batcher.submit(image(1)).result(timeout=10)
    batcher.close()


def test_a_closed_batcher_refuses_with_shutting_down():
    batcher = InferenceBatcher(FakeExtractor(), ServerMetrics())
    batcher.close()
    with pytest.raises(ShuttingDown):
        batcher.submit(image(0))


def test_frames_whose_caller_cancelled_are_dropped_unscored():
    gate = threading.Event()
    extractor = FakeExtractor(gate)
    metrics = ServerMetrics()
    batcher = InferenceBatcher(extractor, metrics, max_batch=8, max_wait_ms=0)
    first = batcher.submit(image(0))
    extractor.entered.wait(10)  # the worker holds frame 0 at the gate while the others queue
    queued = [batcher.submit(image(value)) for value in range(1, 7)]
    for future in queued[1:5]:
        assert future.cancel()
    gate.set()
    kept = [first.result(timeout=10), queued[0].result(timeout=10), queued[5].result(timeout=10)]
    batcher.close()

    assert [output.frame.features[0, 0, 0] for output in kept] == [0, 1, 6]
    assert sum(extractor.batch_sizes) == 3
    assert metrics.pending_requests._value.get() == 0


def test_calls_take_turns_so_a_backlog_does_not_hold_back_another_calls_frames():
    gate = threading.Event()
    extractor = FakeExtractor(gate)
    batcher = InferenceBatcher(extractor, ServerMetrics(), max_batch=2)
    first = batcher.submit(image(0))
    extractor.entered.wait(10)  # the worker holds frame 0 at the gate while the others queue
    futures = [batcher.submit(image(value), source="camera-1") for value in range(10, 16)]
    futures += [batcher.submit(image(value), source="camera-2") for value in (20, 21)]
    futures.append(batcher.submit(image(30)))  # a unary call: a source of its own
    gate.set()
    for future in [first, *futures]:
        future.result(timeout=10)
    batcher.close()

    # camera-1's six frames were queued first, yet camera-2's and the unary call's come in turn with them
    assert extractor.batches == [[0], [10, 20], [30, 11], [21, 12], [13, 14], [15]]


class RendezvousExtractor(FakeExtractor):
    """A model run that returns only once `runs` runs are inside it at the same time (BrokenBarrierError
    after 10 s otherwise)."""

    def __init__(self, runs: int) -> None:
        super().__init__()
        self._barrier = threading.Barrier(runs, timeout=10)

    def extract(self, images: np.ndarray) -> np.ndarray:
        self._barrier.wait()
        return super().extract(images)


def test_model_workers_run_batches_at_once():
    batcher = InferenceBatcher(RendezvousExtractor(runs=2), ServerMetrics(), max_batch=1, workers=2)
    futures = [batcher.submit(image(value)) for value in (3, 4)]
    features = [future.result(timeout=20).frame.features[0, 0, 0] for future in futures]
    batcher.close()

    assert features == [3, 4]


def test_close_stops_every_worker_after_the_queued_frames():
    gate = threading.Event()
    extractor = FakeExtractor(gate)
    batcher = InferenceBatcher(extractor, ServerMetrics(), max_batch=1, workers=3)
    futures = [batcher.submit(image(value)) for value in range(5)]
    gate.set()
    batcher.close()

    assert [future.result(timeout=0).frame.features[0, 0, 0] for future in futures] == list(range(5))


class HeldExtractor(FakeExtractor):
    """A model run that holds the frames whose first pixel is in `held` until `release` is set."""

    def __init__(self, held: set[int]) -> None:
        super().__init__()
        self.release = threading.Event()
        self._held = held

    def extract(self, images: np.ndarray) -> np.ndarray:
        if int(images[0, 0, 0, 0]) in self._held:
            self.entered.set()
            self.release.wait(10)
        return super().extract(images)


def test_a_calls_frames_are_released_in_the_order_they_came_whichever_run_ends_first():
    extractor = HeldExtractor(held={0})
    batcher = InferenceBatcher(extractor, ServerMetrics(), max_batch=1, workers=2)
    released: list[int] = []
    first = batcher.submit(image(0), source="camera")
    extractor.entered.wait(10)  # one worker holds frame 0 in the model
    second = batcher.submit(image(1), source="camera")
    other = batcher.submit(image(2), source="another call")
    for value, future in enumerate((first, second, other)):
        future.add_done_callback(lambda _, value=value: released.append(value))
    other.result(timeout=10)  # the free worker ran frame 1, then the other call's frame

    assert not second.done()  # its run is over, but the call's frame 0 is not out yet
    extractor.release.set()
    assert [future.result(timeout=10).frame.features[0, 0, 0] for future in (first, second)] == [0, 1]
    batcher.close()
    assert released == [2, 0, 1]


def test_a_cancelled_frame_does_not_hold_back_the_calls_later_frames():
    extractor = HeldExtractor(held={0})
    batcher = InferenceBatcher(extractor, ServerMetrics(), max_batch=1)
    first = batcher.submit(image(0), source="camera")
    extractor.entered.wait(10)
    dropped, last = (batcher.submit(image(value), source="camera") for value in (1, 2))
    assert dropped.cancel()
    extractor.release.set()

    assert [future.result(timeout=10).frame.features[0, 0, 0] for future in (first, last)] == [0, 2]
    batcher.close()


def test_a_run_alone_uses_the_full_model_and_a_run_beside_another_the_shared_one():
    full = HeldExtractor(held={0})
    beside = FakeExtractor()
    batcher = InferenceBatcher(full, ServerMetrics(), max_batch=1, workers=2, beside=beside)
    first = batcher.submit(image(0))
    full.entered.wait(10)  # frame 0's run is in flight
    assert batcher.submit(image(1)).result(timeout=10).frame.features[0, 0, 0] == 1
    full.release.set()
    first.result(timeout=10)
    batcher.submit(image(2)).result(timeout=10)  # nothing else in flight now
    batcher.close()

    assert beside.batches == [[1]]
    assert full.batches == [[0], [2]]
