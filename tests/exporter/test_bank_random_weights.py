"""The offline builder warns when its model was exported from random weights (its verdicts mean nothing)."""

import cv2
import numpy as np
import pytest

from exporter.bank import main
from tests.tiny_model import write_tiny_model


@pytest.fixture
def good_folder(tmp_path):
    folder = tmp_path / "good"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for index in range(3):
        cv2.imwrite(str(folder / f"part_{index}.png"), rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    return folder


def build(model, good_folder, store) -> int:
    return main(["--model", str(model), "--images", str(good_folder), "--product", "part", "--store", store])


def test_a_model_from_random_weights_is_one_warning_line(tmp_path, good_folder, capsys):
    model = write_tiny_model(tmp_path / "random.onnx", weights_source="random")

    assert build(model, good_folder, str(tmp_path / "store")) == 0

    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert str(model) in warnings[0] and "random weights" in warnings[0]


def test_a_model_from_real_weights_is_no_warning(tmp_path, good_folder, capsys):
    model = write_tiny_model(tmp_path / "real.onnx", weights_source="file:dinov2_vits14_pretrain.pth")

    assert build(model, good_folder, str(tmp_path / "store")) == 0

    assert "warning:" not in capsys.readouterr().err
