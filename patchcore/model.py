"""The ONNX patch-feature model: its metadata (what the model says about itself) and an inference session.

The model contract (README "Preparing a model"): input "images" [B, S, S, 3] uint8 RGB, output "features"
[B, h*w, dim] float32 unit vectors; metadata_props give backbone, input_size, grid ("hxw"), dim and a
fingerprint. Grid and dim are read from the metadata and never guessed from the backbone name.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from patchcore.errors import InvalidInput, ModelError

INPUT_NAME = "images"
OUTPUT_NAME = "features"
_REQUIRED_KEYS = ("backbone", "input_size", "grid", "dim", "weights_sha256", "fingerprint")
RANDOM_SOURCE = "random"  # metadata weights_source of a model exported from random weights (speed tests)


@dataclass(frozen=True)
class ModelInfo:
    path: str
    backbone: str
    input_size: int
    grid: tuple[int, int]  # (h, w) patches
    dim: int
    weights_sha256: str
    fingerprint: str
    metadata: dict[str, str]

    @property
    def patch_count(self) -> int:
        return self.grid[0] * self.grid[1]

    def random_weights_warning(self) -> str | None:
        """What to tell whoever loads a model exported from random weights, None for real weights: such a
        model runs and teaches like any other, but its scores and verdicts mean nothing."""
        if self.metadata.get("weights_source") != RANDOM_SOURCE:
            return None
        return (
            f"{self.path} was exported from random weights (weights_source={RANDOM_SOURCE}), for speed "
            "measurements only: its scores and verdicts mean nothing; export a model from real weights with "
            "`make export`"
        )


def _parse_grid(text: str) -> tuple[int, int]:
    height, _, width = text.partition("x")
    return int(height), int(width)


def model_info_from_metadata(path: str, metadata: dict[str, str]) -> ModelInfo:
    """Build ModelInfo from the metadata_props of the model at path (ModelError if keys are missing/bad)."""
    missing = [key for key in _REQUIRED_KEYS if key not in metadata]
    if missing:
        raise ModelError(
            f"model {path} lacks the metadata {', '.join(missing)}; re-export it with `make export`"
        )
    try:
        info = ModelInfo(
            path=path,
            backbone=metadata["backbone"],
            input_size=int(metadata["input_size"]),
            grid=_parse_grid(metadata["grid"]),
            dim=int(metadata["dim"]),
            weights_sha256=metadata["weights_sha256"],
            fingerprint=metadata["fingerprint"],
            metadata=dict(metadata),
        )
    except ValueError as error:
        raise ModelError(f"model {path} has malformed size metadata: {error}") from error
    if min(info.input_size, *info.grid, info.dim) <= 0:
        raise ModelError(f"model {path} declares a non-positive size in its metadata")
    return info


def read_model_info(path: str | Path) -> ModelInfo:
    """ModelInfo from the ONNX file's metadata_props, without starting an inference session."""
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as error:  # OSError for a missing file, protobuf DecodeError for a damaged one
        raise ModelError(f"cannot read model {path}: {error}") from error
    metadata = {prop.key: prop.value for prop in proto.metadata_props}
    return model_info_from_metadata(str(path), metadata)


class FeatureExtractor:
    """One ONNX Runtime session for one model file; turns a batch of model-sized images into patch features.

    intra_op_threads: threads inside one operator (0 = ONNX Runtime picks, usually one per core).
    inter_op_threads: threads across independent operators (only used by a parallel executor; we run the
    sequential one, so 1 is right). Graph optimisation is at level ALL. run() is thread-safe.
    Idle intra-op threads sleep instead of spinning: in the server they share the cores with the threads
    decoding the next frames, which spinning slows down (README "Performance").
    """

    def __init__(self, path: str | Path, intra_op_threads: int = 0, inter_op_threads: int = 1) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = inter_op_threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types for missing/corrupt files
            raise ModelError(f"cannot load model {path}: {error}") from error
        metadata = self._session.get_modelmeta().custom_metadata_map
        self.info = model_info_from_metadata(str(path), metadata)
        self._check_io_names(path)

    def _check_io_names(self, path: str | Path) -> None:
        inputs = [node.name for node in self._session.get_inputs()]
        outputs = [node.name for node in self._session.get_outputs()]
        if INPUT_NAME not in inputs or OUTPUT_NAME not in outputs:
            raise ModelError(
                f"model {path} must have input '{INPUT_NAME}' and output '{OUTPUT_NAME}', "
                f"has inputs {inputs} and outputs {outputs}"
            )

    def extract(self, images: np.ndarray) -> np.ndarray:
        """images: [B, S, S, 3] uint8 RGB at the model's input size -> [B, h*w, dim] float32 unit vectors."""
        size = self.info.input_size
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (size, size, 3):
            raise InvalidInput(
                f"the model needs a batch of {size}x{size} RGB uint8 images, got shape {images.shape} "
                f"dtype {images.dtype}"
            )
        (features,) = self._session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(images)})
        expected = (images.shape[0], self.info.patch_count, self.info.dim)
        if features.shape != expected:
            raise ModelError(
                f"model {self.info.path} returned features {features.shape}, expected {expected}"
            )
        return features.astype(np.float32, copy=False)
