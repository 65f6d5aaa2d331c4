"""`python -m exporter` on a machine without DINOv2 weights and without the model hub."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from exporter.__main__ import main
from exporter.metadata import read_metadata
from patchcore.model import FeatureExtractor

pytestmark = pytest.mark.slow


def run_exporter(*arguments: str, hub_cache: Path) -> subprocess.CompletedProcess:
    """The hub endpoint points at a closed local port and the cache at an empty folder, so the run is
    offline and finds no DINOv2 weights, whatever this machine has."""
    environment = {**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_CACHE": str(hub_cache)}
    return subprocess.run(
        [sys.executable, "-m", "exporter", *arguments],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
        check=False,
    )


def test_no_arguments_fall_back_to_lite0_and_say_so(tmp_path):
    result = run_exporter("--out-dir", str(tmp_path / "models"), hub_cache=tmp_path / "hub")

    assert result.returncode == 0, result.stderr
    assert "DINOv2 weights could not be obtained" in result.stdout
    assert "--weights" in result.stdout
    assert "Exporting efficientnet_lite0 instead" in result.stdout
    model = tmp_path / "models" / "efficientnet_lite0_224.onnx"
    assert f"Model: {model}" in result.stdout
    assert sorted(p.name for p in model.parent.iterdir()) == [model.name]
    assert read_metadata(model)["backbone"] == "efficientnet_lite0"
    assert FeatureExtractor(model).info.grid == (28, 28)


def test_explicit_dinov2_without_weights_fails_without_falling_back(tmp_path):
    out_dir = tmp_path / "models"
    result = run_exporter(
        "--backbone", "dinov2_vits14", "--out-dir", str(out_dir), hub_cache=tmp_path / "hub"
    )

    assert result.returncode != 0
    assert "error: DINOv2 weights could not be obtained" in result.stderr
    assert "make export WEIGHTS=" in result.stderr
    assert "efficientnet_lite0" not in result.stdout + result.stderr
    assert not out_dir.exists() or not any(out_dir.iterdir())


def test_a_bad_weights_file_is_named_in_the_error(tmp_path, capsys):
    bad = tmp_path / "dinov2_vits14_pretrain.pth"
    bad.write_bytes(b"truncated download")

    exit_code = main(["--weights", str(bad), "--out-dir", str(tmp_path / "models")])

    assert exit_code != 0
    assert f"Cannot read weights file {bad}" in capsys.readouterr().err


def test_an_out_dir_that_cannot_be_made_is_one_error_line(tmp_path, capsys):
    in_the_way = tmp_path / "models"
    in_the_way.write_text("a file where the folder should be")

    exit_code = main(["--backbone", "efficientnet_lite0", "--out-dir", str(in_the_way)])

    assert exit_code == 1
    assert capsys.readouterr().err.startswith(f"error: Cannot write model files to {in_the_way}")
