"""Reliability and security fixtures: models for servers started per test module.

Most tests here check behaviour under stress, faults and attack, which does not depend on the backbone, so
they run the tiny contract model (milliseconds per frame). The fuzz test runs EfficientNet-Lite0, the
model a line really serves.
"""

from pathlib import Path

import pytest
from tiny_model import write_tiny_model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("tiny_model") / "tiny_test_64.onnx")
