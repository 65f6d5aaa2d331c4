"""The model and teach configurations the accuracy benchmark compares.

PLAIN is the issue's reference PatchCore on the exported model's features: 10% coreset, image score = max
patch score, no augmentation (no line views). On efficientnet_lite0 at 224 the ablations change one thing
each and run on elpv only (to keep the run short on 2 cores), the engine's defaults (line views included)
on elpv and the textures; lite0 at 320 also runs the contrast stretch (the best combination found); the
other models run the plain configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from patchcore.bank import TeachOptions
from patchcore.geometry import Rect


@dataclass(frozen=True)
class ModelChoice:
    backbone: str
    size: int

    @property
    def short_name(self) -> str:
        return self.backbone.replace("efficientnet_", "")


@dataclass(frozen=True)
class TeachConfig:
    """A named set of teach options, the engine's defaults where not given; `options()` builds the engine's
    TeachOptions for one seed, which is also the engine's seed (a Teach over gRPC always has 0)."""

    name: str
    coreset_ratio: float = TeachOptions.coreset_ratio
    augment_rotations: bool = TeachOptions.augment_rotations
    top_k: int = TeachOptions.top_k
    with_textures: bool = False
    contrast_stretch: bool = TeachOptions.contrast_stretch
    line_views: int = TeachOptions.line_views
    tile_size: int = TeachOptions.tile_size
    roi: Rect | None = None
    align: bool = TeachOptions.align

    def options(self, seed: int) -> TeachOptions:
        return TeachOptions(
            coreset_ratio=self.coreset_ratio,
            augment_rotations=self.augment_rotations,
            line_views=self.line_views,
            contrast_stretch=self.contrast_stretch,
            top_k=self.top_k,
            seed=seed,
            roi=self.roi,
            tile_size=self.tile_size,
            align=self.align,
        )


PLAIN = TeachConfig("plain: 10% coreset, max", with_textures=True, line_views=0)
ABLATIONS = (
    replace(PLAIN, name="coreset 25%", with_textures=False, coreset_ratio=0.25),
    # 8 dihedral views per image; the engine sizes the bank from the images' own patches (10% of 8 x 784)
    replace(PLAIN, name="rot/flip aug", with_textures=False, augment_rotations=True),
    replace(PLAIN, name="per-frame contrast stretch", with_textures=False, contrast_stretch=True),
)
STRETCH = ABLATIONS[-1]
DEFAULTS = TeachConfig("engine defaults", with_textures=True)

REFERENCE_MODEL = ModelChoice("efficientnet_lite0", 224)
MODELS = (
    REFERENCE_MODEL,
    ModelChoice("efficientnet_lite2", 224),
    ModelChoice("efficientnet_lite0", 320),
    ModelChoice("efficientnet_lite2", 320),
)


def configs_for(model: ModelChoice) -> tuple[TeachConfig, ...]:
    """The reference model runs the plain configuration, every ablation and the engine's defaults; lite0 at
    320 also the contrast stretch (the best combination found); the others the plain one."""
    if model == REFERENCE_MODEL:
        return (PLAIN, *ABLATIONS, DEFAULTS)
    if model == ModelChoice("efficientnet_lite0", 320):
        return (PLAIN, STRETCH)
    return (PLAIN,)


def find_model(label: str) -> ModelChoice:
    """The model of MODELS named like "lite0@224" (ValueError naming the choices otherwise)."""
    for model in MODELS:
        if f"{model.short_name}@{model.size}" == label:
            return model
    choices = ", ".join(f"{model.short_name}@{model.size}" for model in MODELS)
    raise ValueError(f"unknown model {label!r}; choose from {choices}")
