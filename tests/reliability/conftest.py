"""Reliability and security fixtures: the model the servers started by these tests run.

The tests check behaviour under attack, faults, crashes and load, which does not depend on the backbone, so
they run the tiny contract model (milliseconds per frame): thousands of requests fit in seconds.
"""

from pathlib import Path

import pytest
from tiny_model import write_tiny_model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("tiny_model") / "tiny_test_64.onnx")
