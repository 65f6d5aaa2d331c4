"""The models `make bench` times: every exported backbone at 224, plus DINOv2-S int8 at 168 px (the
fewer-tokens option), exported into the bench's own folder.

DINOv2-S gets random-initialised weights (metadata weights_source=random): this machine has no DINOv2
checkpoint, and speed does not depend on the weights' values. Its files live apart from models/ so that
`make serve` never picks them up. The EfficientNet-Lite models carry their real ImageNet weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from exporter.export import export_model

BENCH_SIZE = 224


@dataclass(frozen=True)
class BenchModel:
    backbone: str
    quantize: str | None = None
    size: int = BENCH_SIZE
    random_weights: bool = False
    soak: bool = False  # the 10,000-frame memory run happens for this model only
    idle_streams: bool = False  # and the idle-streams run (memory and latency beside them)

    @property
    def label(self) -> str:
        weights = " (random weights)" if self.random_weights else ""
        return f"{self.backbone}{weights} {self.size} {self.quantize or 'fp32'}"

    def export(self, out_dir: Path) -> Path:
        return export_model(
            self.backbone, self.size, out_dir, quantize=self.quantize, random_init=self.random_weights
        )


BENCH_MODELS = (
    BenchModel("dinov2_vits14", random_weights=True),
    BenchModel("dinov2_vits14", quantize="int8", random_weights=True),
    BenchModel("dinov2_vits14", quantize="int8", size=168, random_weights=True),
    BenchModel("efficientnet_lite0", soak=True, idle_streams=True),
    BenchModel("efficientnet_lite2"),
)
