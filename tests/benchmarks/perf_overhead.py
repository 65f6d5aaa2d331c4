"""What the server does to a raw 640x480 frame besides running the model, stage by stage: each stage timed
here alone, single-threaded as in the server, in CPU ms per frame. The server's whole overhead (its CPU per
frame minus the model's) is measured on the running server; what the stages below do not explain is gRPC's
transport, the event loop, thread hand-offs and Python glue."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from patchcore_edge.v1 import inspection_pb2 as pb
from threadpoolctl import threadpool_limits

from patchcore.align import Reference
from patchcore.bank import TeachOptions
from patchcore.model import FeatureExtractor
from patchcore.prepare import prepare
from patchcore.scoring import PatchScores, Scorer
from patchcore.teach import teach
from patchcore.verdict import verdict
from server.convert import decode_image

MAX_PIXELS = 50_000_000
REPEATS_SECONDS = 1.0  # per stage
SEARCH_BATCH = 8


@dataclass(frozen=True)
class StageCosts:
    """CPU ms per frame of each stage."""

    protobuf: float  # parse the request, take its pixels, build and serialize the response
    decode: float  # raw pixels -> RGB frame
    prepare: float  # the frame -> the model input
    search: float  # a good frame's image score, searched as the server does (per frame of 8)
    verdict: float  # patch scores -> score, verdict
    search_every_patch: float  # what the search would be for every patch (a heatmap's); not in total
    prepare_aligned: float  # prepare for a product taught with align, the part turned 3 degrees; not in total

    @property
    def total(self) -> float:
        return self.protobuf + self.decode + self.prepare + self.search + self.verdict


def cpu_ms(stage: Callable[[], object]) -> float:
    """CPU ms of one call of `stage`, over about REPEATS_SECONDS of calls after one warm-up."""
    stage()
    calls = 0
    cpu_started, started = time.process_time(), time.perf_counter()
    while time.perf_counter() - started < REPEATS_SECONDS or calls < 5:
        stage()
        calls += 1
    return (time.process_time() - cpu_started) * 1000 / calls


def search_frames(scorer: Scorer, features: np.ndarray) -> None:
    """The search of each frame of features [B, h*w, D] as the server runs it for a frame answered without
    a heatmap."""
    for frame in features:
        scorer.frame_scores(frame[None]).image_score(scorer.bank.options.top_k)


def _turned(rgb: np.ndarray) -> np.ndarray:
    """rgb turned 3 degrees about its centre and shifted by 5 and -3 pixels: a part that moved in its
    fixture, so alignment does the work a line gives it."""
    height, width = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), 3.0, 1.0)
    matrix[:, 2] += (5.0, -3.0)
    return cv2.warpAffine(rgb, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)


def stage_costs(extractor: FeatureExtractor, image: pb.Image, teach_set: list[pb.Image]) -> StageCosts:
    """The stages for `image` (a raw frame) against a product taught from `teach_set`, as the server
    runs them."""
    options = TeachOptions()
    view = options.view(extractor.info.input_size)
    taught = [prepare(decode_image(each, MAX_PIXELS, view.shrink_for), view) for each in teach_set]
    bank = teach(extractor, taught, "bench", options)
    scorer = Scorer(bank, extractor.info)
    request = pb.InspectRequest(product_id="bench", frame_id=1, image=image).SerializeToString()
    scaled = decode_image(image, MAX_PIXELS, view.shrink_for)
    prepared = prepare(scaled, view)
    features = extractor.extract(np.repeat(prepared.inputs, SEARCH_BATCH, axis=0))
    searched = PatchScores.known(scorer.patch_scores(features[:1]))
    aligned_view = dataclasses.replace(
        view, align=True, reference=Reference.of(_turned(scaled.rgb), scaled.size)
    )

    def protobuf() -> bytes:
        pb.InspectRequest.FromString(request).image.raw.pixels  # noqa: B018  (the copy the server makes)
        response = pb.InspectResponse(frame_id=1, score=0.1, threshold=0.2, product_version=1)
        response.timings.CopyFrom(pb.Timings(decode_ms=1.0, queue_ms=1.0, inference_ms=1.0, total_ms=1.0))
        return response.SerializeToString()

    opencv_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        with threadpool_limits(limits=1):
            return StageCosts(
                protobuf=cpu_ms(protobuf),
                decode=cpu_ms(lambda: decode_image(image, MAX_PIXELS, view.shrink_for)),
                prepare=cpu_ms(lambda: prepare(scaled, view)),
                search=cpu_ms(lambda: search_frames(scorer, features)) / SEARCH_BATCH,
                verdict=cpu_ms(lambda: verdict(searched, prepared.plan, bank.options, want_heatmap=False)),
                search_every_patch=cpu_ms(lambda: scorer.patch_scores(features)) / SEARCH_BATCH,
                prepare_aligned=cpu_ms(lambda: prepare(scaled, aligned_view)),
            )
    finally:
        cv2.setNumThreads(opencv_threads)
