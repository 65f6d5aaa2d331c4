"""The ONNX patch-feature model: its metadata (what the model says about itself) and an inference session.

The model contract (README "Preparing a model"): input "images" [B, S, S, 3] uint8 RGB, output "features"
[B, h*w, dim] float32 unit vectors; metadata_props give backbone, input_size, grid ("hxw"), dim and a
fingerprint. Grid and dim are read from the metadata and never guessed from the backbone name. A model may
also give "fine_features" [B, cells, fine_dim] unit vectors, the fine grid's cells (metadata fine_grid,
fine_dim: patchcore/fine.py).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from patchcore.errors import InvalidInput, ModelError

INPUT_NAME = "images"
OUTPUT_NAME = "features"
FINE_OUTPUT_NAME = "fine_features"
_REQUIRED_KEYS = ("backbone", "input_size", "grid", "dim", "weights_sha256", "fingerprint")
# A model run takes at most this many input pixels (32 inputs of 224): EfficientNet-Lite0 holds about 17 MB of
# activations per 224 input, so the 64 tiles of a frame on a 448 model in one run would need over 4 GB.
MAX_PIXELS_PER_RUN = 32 * 224 * 224
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
    fine_grid: tuple[int, int] | None = (
        None  # (h, w) cells of the "fine_features" output; None: no such output
    )
    fine_dim: int = 0

    @property
    def patch_count(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def fine_cell_count(self) -> int:
        return 0 if self.fine_grid is None else self.fine_grid[0] * self.fine_grid[1]

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
            fine_grid=_parse_grid(metadata["fine_grid"]) if "fine_grid" in metadata else None,
            fine_dim=int(metadata.get("fine_dim", 0)),
        )
    except ValueError as error:
        raise ModelError(f"model {path} has malformed size metadata: {error}") from error
    if min(info.input_size, *info.grid, info.dim, *(info.fine_grid or ())) <= 0 or info.fine_dim < 0:
        raise ModelError(f"model {path} declares a non-positive size in its metadata")
    if (info.fine_grid is None) != (info.fine_dim == 0):
        raise ModelError(f"model {path} declares only one of fine_grid and fine_dim in its metadata")
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
        needed = [OUTPUT_NAME, *([FINE_OUTPUT_NAME] if self.info.fine_grid else [])]
        if INPUT_NAME not in inputs or not set(needed) <= set(outputs):
            raise ModelError(
                f"model {path} must have input '{INPUT_NAME}' and outputs {needed}, "
                f"has inputs {inputs} and outputs {outputs}"
            )

    def extract(self, images: np.ndarray) -> np.ndarray:
        """images: [B, S, S, 3] uint8 RGB at the model's input size -> [B, h*w, dim] float32 unit vectors."""
        (features,) = self._run(images, [OUTPUT_NAME])
        return features

    def extract_with_fine(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """As extract, and the fine cells [B, cells, fine_dim] float32 from the same model run (ModelError for
        a model without them)."""
        if self.info.fine_grid is None:
            raise ModelError(f"model {self.info.path} has no '{FINE_OUTPUT_NAME}' output")
        features, fine = self._run(images, [OUTPUT_NAME, FINE_OUTPUT_NAME])
        return features, fine

    def _run(self, images: np.ndarray, outputs: list[str]) -> list[np.ndarray]:
        size = self.info.input_size
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (size, size, 3):
            raise InvalidInput(
                f"the model needs a batch of {size}x{size} RGB uint8 images, got shape {images.shape} "
                f"dtype {images.dtype}"
            )
        per_run = max(1, MAX_PIXELS_PER_RUN // (size * size))
        runs = [
            self._session.run(outputs, {INPUT_NAME: np.ascontiguousarray(images[start : start + per_run])})
            for start in range(0, max(len(images), 1), per_run)
        ]
        found = [np.concatenate(parts) for parts in zip(*runs, strict=True)] if len(runs) > 1 else runs[0]
        expected = {
            OUTPUT_NAME: (images.shape[0], self.info.patch_count, self.info.dim),
            FINE_OUTPUT_NAME: (images.shape[0], self.info.fine_cell_count, self.info.fine_dim),
        }
        for name, array in zip(outputs, found, strict=True):
            if array.shape != expected[name]:
                raise ModelError(
                    f"model {self.info.path} returned {name} {array.shape}, expected {expected[name]}"
                )
        return [array.astype(np.float32, copy=False) for array in found]
