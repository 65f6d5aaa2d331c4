"""server/stream.py alone, with a stand-in for the frame processor: the frames of all streams share the
pipeline's slots (--queue-size), and a stream gives its slots back however it ends."""

from __future__ import annotations

import asyncio

from patchcore_edge.v1 import inspection_pb2 as pb

from server.frames import FrameProcessor, PendingFrame
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
