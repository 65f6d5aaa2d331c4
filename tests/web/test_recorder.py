"""The page's memory of the line: scores always, frames only while a page watches, everything bounded."""

from __future__ import annotations

import numpy as np
import pytest
from patchcore_edge.v1 import inspection_pb2 as pb

from patchcore.geometry import FrameView
from patchcore.prepare import PreparedFrame
from patchcore.scoring import PatchScores
from patchcore.verdict import Verdict
from server.web import recorder as recorder_module
from server.web.recorder import FRAMES_KEPT, SCORES_KEPT, FrameRecorder, _RateMeter

PRODUCT = "flange"
IMAGE = pb.Image(encoded=b"\xff\xd8" + bytes(1000))  # stands for a received frame; never decoded here


def _prepared() -> PreparedFrame:
    plan = FrameView(input_size=64).plan((48, 64))
    return PreparedFrame(inputs=np.full((1, 64, 64, 3), 90, np.uint8), plan=plan)


def _record(recorder: FrameRecorder, score: float, threshold: float = 0.5) -> None:
    verdict = Verdict(score=score, anomalous=score > threshold, threshold=threshold, heatmap=None, regions=[])
    scores = PatchScores.known(np.zeros((1, 8, 8), np.float32))
    recorder.record(PRODUCT, 1, _prepared(), scores, verdict, IMAGE)


def test_scores_are_kept_without_a_page_and_bounded():
    recorder = FrameRecorder()
    for index in range(SCORES_KEPT + 10):
        _record(recorder, index / 10_000)
    scores, count = recorder.scores_since(PRODUCT, 0)
    assert count == SCORES_KEPT + 10
    assert scores == [index / 10_000 for index in range(10, SCORES_KEPT + 10)]
    _record(recorder, 0.25)
    assert recorder.scores_since(PRODUCT, count) == ([0.25], count + 1)
    assert recorder.frames_since(PRODUCT, 0) == []  # no page: no frames


def test_frames_are_kept_only_while_watched_and_the_ring_keeps_the_newest():
    recorder = FrameRecorder()
    recorder.watch(PRODUCT)
    for index in range(FRAMES_KEPT + 5):
        _record(recorder, index / 1000)
    frames = recorder.frames_since(PRODUCT, 0)
    assert [frame.seq for frame in frames] == list(range(6, FRAMES_KEPT + 6))
    assert frames[-1].score == (FRAMES_KEPT + 4) / 1000
    assert frames[-1].picture.shape == (64, 64, 3)  # the model input, kept as it is
    assert [frame.seq for frame in recorder.frames_since(PRODUCT, FRAMES_KEPT + 3)] == [
        FRAMES_KEPT + 4,
        FRAMES_KEPT + 5,
    ]
    recorder.unwatch(PRODUCT)
    assert recorder.frames_since(PRODUCT, 0) == []


def test_only_flagged_frames_keep_their_image_and_within_the_budget(monkeypatch):
    monkeypatch.setattr(recorder_module, "IMAGES_KEPT_BYTES", 3 * IMAGE.ByteSize())
    recorder = FrameRecorder()
    recorder.watch(PRODUCT)
    for score in (0.9, 0.1, 0.9, 0.9, 0.9):  # threshold 0.5: frames 1, 3, 4, 5 flagged
        _record(recorder, score)
    kept = {frame.seq: frame.image is not None for frame in recorder.frames_since(PRODUCT, 0)}
    assert kept == {1: False, 2: False, 3: True, 4: True, 5: True}  # frame 1's image made room for frame 5's


def test_deleted_products_are_forgotten_unless_watched():
    recorder = FrameRecorder()
    _record(recorder, 0.1)
    recorder.watch("other")
    recorder.keep_only(set())
    assert recorder.scores_since(PRODUCT, 0) == ([], 0)
    recorder.unwatch("other")  # still known: the page kept it


@pytest.mark.parametrize(("now", "rate"), [(102.0, 8 / 5), (106.0, 6 / 5), (107.0, 1 / 5), (108.0, 0.0)])
def test_frames_per_second_counts_the_last_whole_seconds(now, rate):
    meter = _RateMeter()
    for moment in (100.1, 100.2, 100.9, *([101.5] * 5), 102.3):  # 102.3: the second still open at 102.0
        meter.count(moment)
    assert meter.per_second(now) == pytest.approx(rate)
