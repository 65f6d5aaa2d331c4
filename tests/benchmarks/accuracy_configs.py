"""The model and teach configurations the accuracy benchmark compares.

PLAIN is the issue's reference PatchCore: stages 2+3 with 3x3 aggregation (inside the exported model), 10%
coreset, image score = max patch score, no augmentation. The other teach configurations change one thing at
a time on efficientnet_lite0 at 224, then the best one runs on every model.
"""

from __future__ import annotations

from dataclasses import dataclass

from patchcore.bank import TeachOptions


@dataclass(frozen=True)
class ModelChoice:
    backbone: str
    size: int

    @property
    def short_name(self) -> str:
        return self.backbone.replace("efficientnet_", "")


@dataclass(frozen=True)
class TeachConfig:
    """A named set of teach options; `options()` builds the engine's TeachOptions for one seed."""

    name: str
    coreset_ratio: float = 0.1
    augment_rotations: bool = False
    top_k: int = 1

    def options(self, seed: int) -> TeachOptions:
        return TeachOptions(
            coreset_ratio=self.coreset_ratio,
            augment_rotations=self.augment_rotations,
            top_k=self.top_k,
            seed=seed,
        )


PLAIN = TeachConfig("plain (10% coreset, max)")
ABLATIONS = (
    TeachConfig("coreset 25%", coreset_ratio=0.25),
    TeachConfig("coreset 100%", coreset_ratio=1.0),
    TeachConfig("top-3 mean", top_k=3),
    TeachConfig("top-10 mean", top_k=10),
    TeachConfig("rot/flip aug", augment_rotations=True),
)
BEST = TeachConfig("best: rot/flip aug, top-3 mean", augment_rotations=True, top_k=3)

REFERENCE_MODEL = ModelChoice("efficientnet_lite0", 224)
MODELS = (
    REFERENCE_MODEL,
    ModelChoice("efficientnet_lite0", 320),
    ModelChoice("efficientnet_lite2", 224),
    ModelChoice("efficientnet_lite2", 320),
)


def configs_for(model: ModelChoice) -> tuple[TeachConfig, ...]:
    """Every model gets the plain and the best configuration; the reference model also the ablations."""
    if model == REFERENCE_MODEL:
        return (PLAIN, *ABLATIONS, BEST)
    return (PLAIN, BEST)
