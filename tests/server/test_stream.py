"""server/stream.py alone, with a stand-in for the frame processor: the frames of all streams share the
pipeline's slots (--queue-size), and a stream gives its slots back however it ends."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from patchcore_edge.v1 import inspection_pb2 as pb

from server.config import ServerConfig
from server.frames import FrameProcessor, PendingFrame
from server.logs import LOGGER_NAME
from server.service import InspectionService
from server.stream import answer_stream


class HeldFrames:
    """Answers the frames whose ids are in `answered` at once; the others stay on their way for ever."""

    def __init__(self, answered: set[int]) -> None:
        self.answered = answered
        self.submitted: list[PendingFrame] = []

    def submit(self, request: pb.InspectRequest, source: object) -> PendingFrame:
        answer = asyncio.get_running_loop().create_future()
        if request.frame_id in self.answered:
            answer.set_result(pb.InspectResponse(frame_id=request.frame_id))
        pending = PendingFrame(request.frame_id, request.product_id, 0.0, source, answer)
        pending.entry = object()
        self.submitted.append(pending)
        return pending

    answer = FrameProcessor.answer
    abandon = staticmethod(FrameProcessor.abandon)


async def requests(count: int):
    for frame_id in range(count):
        yield pb.InspectRequest(product_id="part", frame_id=frame_id)


async def slots_free(pipeline: asyncio.Semaphore, count: int) -> bool:
    """Takes `count` slots of `pipeline`; fails the test if they are not all given back."""
    await asyncio.wait_for(asyncio.gather(*(pipeline.acquire() for _ in range(count))), timeout=10)
    return True


def test_a_stream_closed_with_frames_on_their_way_gives_their_slots_back():
    async def run() -> tuple[list[int], bool]:
        pipeline = asyncio.Semaphore(4)
        frames = HeldFrames(answered={0})
        stream = answer_stream(requests(8), frames, 8, 0, set(), pipeline)
        first = await anext(stream)
        while len(frames.submitted) < 4:  # the reader fills the pipeline
            await asyncio.sleep(0)
        await stream.aclose()  # the call ended with frames still on their way
        return [first.frame_id], await slots_free(pipeline, 4)

    assert asyncio.run(run()) == ([0], True)


class EndedCall:
    """The servicer context of a call that ended: by its deadline (no time remaining) or cancelled."""

    def __init__(self, deadline_passed: bool) -> None:
        self.deadline_passed = deadline_passed

    def time_remaining(self) -> float | None:
        return 0.0 if self.deadline_passed else None


def stream_ended_after_one_answer(caplog, deadline_passed: bool) -> dict:
    """The stream_ended fields of a stream whose call ends while its answer to frame 0 waits to be sent
    (the client reads slowly, then cancels or its deadline passes): grpc.aio closes the handler there."""
    service = InspectionService(
        ServerConfig(Path("model"), Path("store")), None, None, HeldFrames({0}), None, None
    )

    async def run() -> None:
        stream = service.InspectStream(requests(1), EndedCall(deadline_passed))
        assert (await anext(stream)).frame_id == 0
        await stream.aclose()

    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        asyncio.run(run())
    (ended,) = [record.fields for record in caplog.records if record.getMessage() == "stream_ended"]
    return ended


def test_a_stream_cancelled_while_an_answer_waits_to_be_sent_is_logged_as_cancelled(caplog):
    ended = stream_ended_after_one_answer(caplog, deadline_passed=False)

    assert (ended["code"], ended["cancelled"], ended["frames"]) == ("CANCELLED", True, 1)


def test_a_stream_whose_deadline_passed_is_logged_with_deadline_exceeded(caplog):
    ended = stream_ended_after_one_answer(caplog, deadline_passed=True)

    assert (ended["code"], ended["cancelled"]) == ("DEADLINE_EXCEEDED", True)
