"""The models a bundle ships: files `make export` wrote, never one exported from random weights."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from deploy.errors import BundleError
from exporter.metadata import read_metadata
from patchcore.model import RANDOM_SOURCE


def check_models(paths: Sequence[Path]) -> None:
    """Raises BundleError unless every file is an exported model with real weights, named uniquely."""
    if not paths:
        raise BundleError("no model to bundle: run `make export` first, or name the files with MODELS=...")
    if clashes := sorted(name for name, count in Counter(path.name for path in paths).items() if count > 1):
        raise BundleError(f"two models share a file name, and PREFIX/models holds one of each: {clashes}")
    for path in paths:
        metadata = read_metadata(path)
        if "fingerprint" not in metadata:
            raise BundleError(f"{path} is not a model `make export` wrote (it has no contract metadata)")
        if metadata.get("weights_source") == RANDOM_SOURCE:
            raise BundleError(
                f"{path} was exported from random weights (weights_source=random: for speed measurements "
                "only, its verdicts mean nothing); leave it out with MODELS=... or export real weights"
            )
