"""The model fingerprint: a function of what makes features differ, and of nothing else."""

import re

import pytest

from exporter.metadata import model_metadata

MODEL = {
    "backbone": "dinov2_vits14",
    "weights_source": "file:dinov2_vits14_pretrain.pth",
    "weights_sha256": "ab" * 32,
    "size": 224,
    "grid": 16,
    "dim": 384,
    "quantization": "none",
    "parity_max_abs": 5e-7,
    "graph_version": "1",
}


def fingerprint_of(**changes: object) -> str:
    return model_metadata(**{**MODEL, **changes})["fingerprint"]


def test_is_64_hex_digits_and_the_same_for_the_same_model():
    assert re.fullmatch(r"[0-9a-f]{64}", fingerprint_of())
    assert fingerprint_of() == fingerprint_of()


@pytest.mark.parametrize(
    "change",
    [{"backbone": "efficientnet_lite0"}, {"weights_sha256": "cd" * 32}, {"size": 448}, {"grid": 32},
     {"dim": 768}, {"quantization": "int8"}, {"graph_version": "2"}],
    ids=lambda change: next(iter(change)),
)  # fmt: skip
def test_changes_with_everything_that_changes_the_features(change):
    assert fingerprint_of(**change) != fingerprint_of()


@pytest.mark.parametrize(
    "change", [{"weights_source": "hub:timm/vit_small_patch14_dinov2.lvd142m"}, {"parity_max_abs": 1e-5}]
)
def test_ignores_where_the_same_weights_came_from_and_the_parity_figure(change):
    """The same weights from a file or the hub make the same model: banks stay usable across them."""
    assert fingerprint_of(**change) == fingerprint_of()
