"""Torch modules that implement the model contract: a batch of uint8 NHWC RGB images in, unit-length patch
embeddings [B, h*w, dim] out ("features"), and for EfficientNet-Lite a second output, the stride-4 cells
unaveraged ("fine_features"; patchcore/fine.py says why). Everything the server must not know about
(normalisation, which layers, the 3x3 neighbourhood aggregation of PatchCore, L2 normalisation) live
inside these modules, so in the graph.

The EfficientNet-Lite graph was chosen by measurement (README "Accuracy", the choices table): the stride-16
map is brought onto the stride-8 grid before the 3x3 averaging (averaging it at its own grid first mixed
48-pixel windows into every patch); the stride-4 map, 3x3-averaged at its own grid and 2x2-averaged onto
the stride-8 grid, adds detail of a few pixels that the deeper maps dilute; the averaging counts the zero
border as plain PatchCore does; each layer is divided by its median patch length, so all weigh the same;
and instead of an L2 normalisation, which drops how strongly a patch activates (the cause of most of the
gap to plain PatchCore), the patch is lifted onto the unit sphere by an inverse stereographic projection:
unit vectors as the contract asks, whose cosine distance stays close to a scaled Euclidean distance.
"""

import math
from dataclasses import dataclass

import timm
import torch
import torch.nn.functional as F
from timm.layers import resample_abs_pos_embed
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The TF-ported EfficientNet-Lite weights expect pixels scaled to [-1, 1].
SYMMETRIC_MEAN = (0.5, 0.5, 0.5)
SYMMETRIC_STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class BackboneSpec:
    """What the exporter knows about one backbone. `stride` is the input pixels per output patch, so a valid
    input size is a multiple of it and the grid is size // stride on each side."""

    name: str
    family: str  # "dinov2" or "efficientnet_lite": which module and weight sources apply
    timm_name: str
    stride: int
    dim: int
    # Goes into the fingerprint: bump it when the module gives other features for the same weights and size,
    # so banks taught with the older graph are never scored with the new one.
    graph_version: str
    # EfficientNet-Lite only: median patch length of the stride-4, stride-8 and stride-16 maps as they enter
    # the concatenation, over 8 scikit-image photos and textures (astronaut, coffee, chelsea, rocket, brick,
    # grass, gravel, camera) at 224.
    layer_norms: tuple[float, float, float] = (1.0, 1.0, 1.0)
    # Dimensions of the graph's "fine_features" output (the stride-4 cells, lifted), 0 for none.
    fine_dim: int = 0


BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        BackboneSpec(
            "dinov2_vits14", "dinov2", "vit_small_patch14_dinov2", stride=14, dim=384, graph_version="1"
        ),
        BackboneSpec(
            "efficientnet_lite0",
            "efficientnet_lite",
            "tf_efficientnet_lite0",
            stride=8,
            dim=24 + 40 + 112 + 1,
            graph_version="5",
            layer_norms=(25.4, 28.9, 47.3),
            fine_dim=24 + 1,
        ),
        BackboneSpec(
            "efficientnet_lite2",
            "efficientnet_lite",
            "tf_efficientnet_lite2",
            stride=8,
            dim=24 + 48 + 120 + 1,
            graph_version="5",
            layer_norms=(32.4, 37.4, 54.7),
            fine_dim=24 + 1,
        ),
    )
}
DEFAULT_BACKBONE = "dinov2_vits14"
FALLBACK_BACKBONE = "efficientnet_lite0"
FINE_STRIDE = 4  # input pixels per cell of the "fine_features" output
# The stride-4 cells are divided by this many times their layer norm before the lift, which keeps a typical
# cell as near the origin as a typical patch (where the lift is close to linear).
FINE_CELL_SPREAD = 4.0


class ImageNormalisation(nn.Module):
    """images: [B, S, S, 3] uint8 RGB -> [B, 3, S, S] float32, (x / 255 - mean) / std."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pixels = images.permute(0, 3, 1, 2).float() / 255.0
        return (pixels - self.mean) / self.std


def aggregate_neighbourhood(feature_map: torch.Tensor) -> torch.Tensor:
    """PatchCore's local aggregation: each patch becomes the mean of its 3x3 neighbourhood (borders average
    only the patches that exist). feature_map: [B, C, h, w] -> [B, C, h, w]."""
    return F.avg_pool2d(feature_map, kernel_size=3, stride=1, padding=1, count_include_pad=False)


def to_unit_patches(feature_map: torch.Tensor) -> torch.Tensor:
    """feature_map: [B, C, h, w] -> [B, h*w, C], each row L2-normalised (row-major patch order)."""
    patches = feature_map.flatten(2).transpose(1, 2)
    return F.normalize(patches, dim=-1)


class DinoV2PatchFeatures(nn.Module):
    """Last-layer DINOv2 patch tokens (after the final norm; class token dropped), aggregated and normalised.
    vit: a timm VisionTransformer built for the fixed export size."""

    def __init__(self, vit: nn.Module) -> None:
        super().__init__()
        self.normalise = ImageNormalisation(IMAGENET_MEAN, IMAGENET_STD)
        self.vit = vit
        self.grid = tuple(vit.patch_embed.grid_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        tokens = self.vit.forward_features(self.normalise(images))
        patch_tokens = tokens[:, self.vit.num_prefix_tokens :]
        feature_map = patch_tokens.transpose(1, 2).reshape(images.shape[0], -1, *self.grid)
        return to_unit_patches(aggregate_neighbourhood(feature_map))


class EfficientNetLitePatchFeatures(nn.Module):
    """EfficientNet-Lite features at strides 4, 8 and 16 on the stride-8 grid: the stride-4 map is
    3x3-averaged and then 2x2-averaged, the stride-16 map upsampled bilinearly and then 3x3-averaged like the
    stride-8 map (zero border counted); each is divided by its median patch length (layer_norms), and the
    concatenation x is lifted onto the unit sphere as x / (2 sqrt 3): one dimension more than the channels.
    A typical patch has |x| = 1 before the lift.
    Second output: every stride-4 cell as it is, divided by FINE_CELL_SPREAD x its layer norm and lifted the
    same way: [B, (S/4)^2, 24 + 1].
    net: a timm tf_efficientnet_lite* classifier (its later blocks and head are not part of the graph)."""

    def __init__(self, net: nn.Module, layer_norms: tuple[float, float, float]) -> None:
        super().__init__()
        last_block = {info["reduction"]: int(info["module"].split(".")[1]) for info in net.feature_info}
        self.normalise = ImageNormalisation(SYMMETRIC_MEAN, SYMMETRIC_STD)
        self.stem = nn.Sequential(net.conv_stem, net.bn1)
        self.to_stride4 = net.blocks[: last_block[4] + 1]
        self.to_stride8 = net.blocks[last_block[4] + 1 : last_block[8] + 1]
        self.to_stride16 = net.blocks[last_block[8] + 1 : last_block[16] + 1]
        self.layer_norms = layer_norms

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        stride4 = self.to_stride4(self.stem(self.normalise(images)))
        stride8 = self.to_stride8(stride4)
        stride16 = self.to_stride16(stride8)
        fine = F.avg_pool2d(_averaged(stride4), kernel_size=2)
        coarse = F.interpolate(stride16, size=stride8.shape[-2:], mode="bilinear", align_corners=False)
        maps = (fine, _averaged(stride8), _averaged(coarse))
        layers = [layer / norm for layer, norm in zip(maps, self.layer_norms, strict=True)]
        patches = torch.cat(layers, dim=1).flatten(2).transpose(1, 2)
        cells = stride4.flatten(2).transpose(1, 2) / (FINE_CELL_SPREAD * self.layer_norms[0])
        return lifted_onto_sphere(patches / (2.0 * math.sqrt(len(layers)))), lifted_onto_sphere(cells)


def _averaged(feature_map: torch.Tensor) -> torch.Tensor:
    """3x3 mean of each patch's neighbourhood, the zero border counted."""
    return F.avg_pool2d(feature_map, kernel_size=3, stride=1, padding=1)


def lifted_onto_sphere(points: torch.Tensor) -> torch.Tensor:
    """[..., D] -> [..., D + 1] unit vectors by the inverse stereographic projection
    ([2y, |y|^2 - 1] / (|y|^2 + 1)). Near the origin the chordal distance of two lifted points is twice
    their Euclidean distance; it shrinks smoothly for points far out, so no patch is clipped."""
    squared = (points * points).sum(dim=-1, keepdim=True)
    return torch.cat([2.0 * points, squared - 1.0], dim=-1) / (squared + 1.0)


def fit_position_embedding(state_dict: dict[str, torch.Tensor], grid: int) -> dict[str, torch.Tensor]:
    """A copy of a DINOv2 state dict whose pos_embed [1, 1 + n*n, D] (n = 37 in the 518 px checkpoints) is
    resampled bicubically to grid x grid, so the exported graph has a fixed size and needs no runtime
    interpolation."""
    position = state_dict["pos_embed"]
    side = math.isqrt(position.shape[1] - 1)
    if side == grid:
        return dict(state_dict)
    resampled = resample_abs_pos_embed(
        position, new_size=[grid, grid], old_size=[side, side], num_prefix_tokens=1
    )
    return {**state_dict, "pos_embed": resampled}


def build_patch_features(spec: BackboneSpec, state_dict: dict[str, torch.Tensor], size: int) -> nn.Module:
    """The contract module for `spec` at input `size`, in eval mode. state_dict: timm layout for
    `spec.timm_name` (DINOv2's position embedding at any square grid)."""
    if spec.family == "dinov2":
        net = timm.create_model(spec.timm_name, pretrained=False, img_size=size, dynamic_img_size=False)
        net.load_state_dict(fit_position_embedding(state_dict, size // spec.stride))
        module: nn.Module = DinoV2PatchFeatures(net)
    else:
        net = timm.create_model(spec.timm_name, pretrained=False)
        net.load_state_dict(state_dict)
        module = EfficientNetLitePatchFeatures(net, spec.layer_norms)
    return module.eval()
