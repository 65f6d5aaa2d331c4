"""Graph variants of the EfficientNet-Lite0 patch features, tried in the benchmark before a winner goes into
exporter/backbones.py. Each is a torch module with the model contract (uint8 NHWC in, [B, h*w, D] out),
run through TracedFeatures, so the engine teaches and scores with it exactly as with an exported model.

What a variant can change: where the 3x3 (or 5x5) neighbourhood averaging happens (each layer at its own
grid, or after the stride-16 map is brought onto the stride-8 grid), whether each layer is scaled to unit
length before the concatenation, and which layers take part.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from exporter.backbones import lifted_onto_sphere
from tests.benchmarks.traced_features import TracedFeatures, lite0_features_only

INPUT_SIZE = 224
LAYER_CHANNELS = {4: 24, 8: 40, 16: 112}
# Median per-patch length of each layer after the 3x3 averaging, over 8 scikit-image photos and textures
# (astronaut, coffee, chelsea, rocket, brick, grass, gravel, camera) at 224: a layer divided by it has a
# typical length of 1, whatever its activations' scale. Stride 4: after its 2x2 pooling, by pooling.
LAYER_MEDIAN_NORM = {8: 29.0, 16: 47.0}
STRIDE4_MEDIAN_NORM = {"max": 27.6, "avg": 25.4}


@dataclass(frozen=True)
class FeatureVariant:
    """aggregate_at: "own grid" (each layer averaged at its stride, then the coarse one upsampled: the
    exported graph before this benchmark) or "fine grid" (upsampled first, then averaged on the stride-8
    grid); kernel: the averaging window in patches of that grid; unit_layers: each layer L2-normalised before
    the concatenation; strides: the layers used; padding_counted: the averaging counts the zero padding
    at the border (torch's default, anomalib's) instead of averaging the patches that exist; unit: the
    whole vector L2-normalised (the model contract; False only for the Euclidean comparison); mirror_px:
    the image is extended by this many mirrored pixels on each side before the backbone (a multiple of 16),
    and the features of the extension are cut off after the averaging, so edge patches see mirrored
    surroundings instead of the backbone's zero padding."""

    name: str
    aggregate_at: str = "own grid"
    kernel: int = 3
    unit_layers: bool = False
    strides: tuple[int, ...] = (8, 16)
    padding_counted: bool = False
    unit: bool = True
    mirror_px: int = 0
    magnitude_kept: bool = False
    stride4_pool: str = "max"
    stride4_weight: float = 1.0

    def median_norm(self, stride: int) -> float:
        return STRIDE4_MEDIAN_NORM[self.stride4_pool] if stride == 4 else LAYER_MEDIAN_NORM[stride]

    def extractor(self) -> TracedFeatures:
        dim = sum(LAYER_CHANNELS[stride] for stride in self.strides) + self.magnitude_kept
        return TracedFeatures(VariantFeatures(self), f"variant {self}", INPUT_SIZE, INPUT_SIZE // 8, dim)


class VariantFeatures(nn.Module):
    """images [B, S, S, 3] uint8 RGB -> [B, (S/8)^2, D] float32 patch features, as the variant says."""

    def __init__(self, variant: FeatureVariant) -> None:
        super().__init__()
        self.variant = variant
        self.net_strides = tuple(sorted({*variant.strides, 8}))  # the stride-8 grid is the output's
        self.net = lite0_features_only(self.net_strides)

    def _average(self, feature_map: torch.Tensor) -> torch.Tensor:
        kernel = self.variant.kernel
        return F.avg_pool2d(
            feature_map, kernel, stride=1, padding=kernel // 2, count_include_pad=self.variant.padding_counted
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pixels = images.permute(0, 3, 1, 2).float() / 127.5 - 1.0
        mirror = self.variant.mirror_px
        if mirror:
            pixels = F.pad(pixels, (mirror, mirror, mirror, mirror), mode="reflect")
        maps = dict(zip(self.net_strides, self.net(pixels), strict=True))
        fine_size = maps[8].shape[-2:]
        layers = []
        for stride in self.variant.strides:
            feature_map = maps[stride]
            if stride == 4:
                pool = F.max_pool2d if self.variant.stride4_pool == "max" else F.avg_pool2d
                feature_map = pool(self._average(feature_map), 2) * self.variant.stride4_weight
            elif self.variant.aggregate_at == "own grid":
                feature_map = self._average(feature_map)
            if feature_map.shape[-2:] != fine_size:
                feature_map = F.interpolate(feature_map, size=fine_size, mode="bilinear", align_corners=False)
            if self.variant.aggregate_at == "fine grid" and stride != 4:
                feature_map = self._average(feature_map)
            if self.variant.unit_layers:
                feature_map = F.normalize(feature_map, dim=1)
            if self.variant.magnitude_kept:
                feature_map = feature_map / self.variant.median_norm(stride)
            layers.append(feature_map)
        features = torch.cat(layers, dim=1)
        if mirror:
            cut = mirror // 8
            features = features[:, :, cut:-cut, cut:-cut]
        patches = features.flatten(2).transpose(1, 2)
        if self.variant.magnitude_kept:
            return lifted_onto_sphere(patches / (2.0 * len(self.variant.strides) ** 0.5))
        return F.normalize(patches, dim=-1) if self.variant.unit else patches
