"""The model's ONNX Runtime sessions as the server's flags ask for them (server/batcher.py says why two)."""

from __future__ import annotations

import logging

from patchcore.model import FeatureExtractor
from server.config import ServerConfig
from server.logs import log_event


def open_model(config: ServerConfig) -> tuple[FeatureExtractor, FeatureExtractor | None]:
    """(the session for a model run alone, a second one for runs that start beside another), the second None
    when there are no model runs side by side or they would get as many threads as a run alone."""
    alone = FeatureExtractor(str(config.model), intra_op_threads=config.onnx_threads())
    if warning := alone.info.random_weights_warning():
        log_event(
            "model_from_random_weights",
            level=logging.WARNING,
            model=alone.info.path,
            weights_source=alone.info.metadata["weights_source"],
            advice=warning,
        )
    if config.onnx_threads_beside() == config.onnx_threads():  # one worker, or a share that is every thread
        return alone, None
    return alone, FeatureExtractor(str(config.model), intra_op_threads=config.onnx_threads_beside())
