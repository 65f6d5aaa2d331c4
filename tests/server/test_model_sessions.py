"""Which ONNX Runtime sessions the server opens for its model workers, and what it says of the model."""

import logging

import pytest

from server.config import parse_config
from server.model_sessions import open_model
from tests.tiny_model import write_tiny_model


@pytest.mark.parametrize(
    ("cores", "flags", "second_session"),
    [
        (2, [], True),  # two workers on two cores: a run beside another gets one thread
        (2, ["--model-workers", "1"], False),  # no runs side by side
        (1, [], False),  # a worker's share would be the one thread a run alone has
        (8, ["--intra-op-threads", "1"], False),
    ],
)
def test_a_second_session_only_when_runs_side_by_side_get_fewer_threads(
    tmp_path, monkeypatch, cores, flags, second_session
):
    monkeypatch.setattr("os.cpu_count", lambda: cores)
    model = write_tiny_model(tmp_path / "tiny.onnx")
    alone, beside = open_model(parse_config(["--model", str(model), "--store", str(tmp_path), *flags]))

    assert (beside is not None) == second_session
    if beside is not None:
        assert beside is not alone and beside.info.fingerprint == alone.info.fingerprint


def test_a_model_from_random_weights_is_a_warning_at_start(tmp_path, caplog):
    model = write_tiny_model(tmp_path / "tiny.onnx", weights_source="random")

    with caplog.at_level(logging.WARNING, logger="patchcore.server"):
        open_model(parse_config(["--model", str(model), "--store", str(tmp_path)]))

    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.fields["weights_source"] == "random"
    assert record.fields["model"] == str(model)


def test_a_model_from_real_weights_is_no_warning(tmp_path, caplog):
    model = write_tiny_model(tmp_path / "tiny.onnx", weights_source="file:dinov2_vits14_pretrain.pth")

    with caplog.at_level(logging.WARNING, logger="patchcore.server"):
        open_model(parse_config(["--model", str(model), "--store", str(tmp_path)]))

    assert caplog.records == []
