"""`make bundle` refuses, before building anything, a model it must not ship."""

from __future__ import annotations

import onnx
from bundle_tools import make_bundle
from tiny_model import write_tiny_model


def with_weights_source(path, weights_source: str):
    model = onnx.load(str(path))
    for prop in model.metadata_props:
        if prop.key == "weights_source":
            prop.value = weights_source
    onnx.save(model, str(path))
    return path


def test_a_model_exported_from_random_weights_is_refused(tmp_path):
    model = with_weights_source(write_tiny_model(tmp_path / "dinov2_vits14_224.onnx"), "random")
    result = make_bundle([model], tmp_path / "dist")
    assert result.returncode == 1
    assert "random weights" in result.stderr and str(model) in result.stderr
    assert not list((tmp_path / "dist").glob("*.tar.gz"))


def test_a_file_without_the_model_contract_is_refused(tmp_path):
    model = write_tiny_model(tmp_path / "model.onnx", drop_key="fingerprint")
    result = make_bundle([model], tmp_path / "dist")
    assert result.returncode == 1
    assert "not a model `make export` wrote" in result.stderr


def test_two_models_of_one_file_name_are_refused(tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    models = [write_tiny_model(tmp_path / folder / "model.onnx", seed=i) for i, folder in enumerate("ab")]
    result = make_bundle(models, tmp_path / "dist")
    assert result.returncode == 1
    assert "share a file name" in result.stderr
