"""A tiny ONNX model that follows the model contract (shared by the engine and reliability tests).

Random 8x8 stride-8 convolution, tanh, 3x3 average aggregation, L2 norm: it runs in milliseconds, so tests
of behaviour (storage, crashes, concurrency) do not wait for a real backbone.
"""

import hashlib
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

TINY_SIZE = 64
TINY_STRIDE = 8
TINY_DIM = 32
TINY_FINE_STRIDE = 4
TINY_FINE_DIM = 8


def _fine_branch(rng: np.random.Generator) -> tuple[list, list, onnx.ValueInfoProto]:
    """Nodes, initialisers and output of "fine_features": a random 4x4 stride-4 convolution, tanh, L2 norm."""
    weights = rng.standard_normal((TINY_FINE_DIM, 3, TINY_FINE_STRIDE, TINY_FINE_STRIDE)).astype(np.float32)
    initializers = [
        numpy_helper.from_array(weights * 0.1, "fine_w"),
        numpy_helper.from_array(np.array([0, TINY_FINE_DIM, -1], dtype=np.int64), "fine_shape"),
    ]
    nodes = [
        helper.make_node("Conv", ["scaled", "fine_w"], ["fine_conv"], strides=[TINY_FINE_STRIDE] * 2),
        helper.make_node("Tanh", ["fine_conv"], ["fine_activated"]),
        helper.make_node("Reshape", ["fine_activated", "fine_shape"], ["fine_flat"]),
        helper.make_node("Transpose", ["fine_flat"], ["fine_cells"], perm=[0, 2, 1]),
        helper.make_node("LpNormalization", ["fine_cells"], ["fine_features"], axis=-1, p=2),
    ]
    cells = (TINY_SIZE // TINY_FINE_STRIDE) ** 2
    output = helper.make_tensor_value_info(
        "fine_features", TensorProto.FLOAT, ["batch", cells, TINY_FINE_DIM]
    )
    return nodes, initializers, output


def _tiny_graph(seed: int, fine: bool) -> onnx.GraphProto:
    rng = np.random.default_rng(seed)
    weights = rng.standard_normal((TINY_DIM, 3, TINY_STRIDE, TINY_STRIDE)).astype(np.float32) * 0.1
    bias = rng.standard_normal(TINY_DIM).astype(np.float32) * 0.1
    initializers = [
        numpy_helper.from_array(weights, "conv_w"),
        numpy_helper.from_array(bias, "conv_b"),
        numpy_helper.from_array(np.array(1 / 255, dtype=np.float32), "inv_255"),
        numpy_helper.from_array(np.array([0, TINY_DIM, -1], dtype=np.int64), "grid_shape"),
    ]
    nodes = [
        helper.make_node("Cast", ["images"], ["as_float"], to=TensorProto.FLOAT),
        helper.make_node("Transpose", ["as_float"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Mul", ["nchw", "inv_255"], ["scaled"]),
        helper.make_node("Conv", ["scaled", "conv_w", "conv_b"], ["conv"], strides=[TINY_STRIDE] * 2),
        helper.make_node("Tanh", ["conv"], ["activated"]),
        helper.make_node("AveragePool", ["activated"], ["pooled"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Reshape", ["pooled", "grid_shape"], ["flat"]),
        helper.make_node("Transpose", ["flat"], ["patches"], perm=[0, 2, 1]),
        helper.make_node("LpNormalization", ["patches"], ["features"], axis=-1, p=2),
    ]
    grid = TINY_SIZE // TINY_STRIDE
    outputs = [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", grid * grid, TINY_DIM])]
    if fine:
        fine_nodes, fine_initializers, fine_output = _fine_branch(rng)
        nodes, initializers, outputs = (
            nodes + fine_nodes,
            initializers + fine_initializers,
            [*outputs, fine_output],
        )
    return helper.make_graph(
        nodes,
        "tiny_patch_features",
        [helper.make_tensor_value_info("images", TensorProto.UINT8, ["batch", TINY_SIZE, TINY_SIZE, 3])],
        outputs,
        initializers,
    )


def write_tiny_model(
    path: Path,
    seed: int = 0,
    drop_key: str | None = None,
    weights_source: str | None = None,
    fine: bool = False,
) -> Path:
    """Write the tiny model with contract metadata to path; drop_key leaves one metadata key out;
    weights_source is what the metadata says the weights came from ("random": as the exporter marks a model
    from random weights); fine: with the "fine_features" output too (16x16 cells of 8 dimensions)."""
    graph = _tiny_graph(seed, fine)
    grid = TINY_SIZE // TINY_STRIDE
    weights_sha256 = hashlib.sha256(b"".join(init.raw_data for init in graph.initializer)).hexdigest()
    metadata = {
        "backbone": "tiny_test",
        "weights_source": weights_source or f"random seed {seed}",
        "weights_sha256": weights_sha256,
        "input_size": str(TINY_SIZE),
        "grid": f"{grid}x{grid}",
        "dim": str(TINY_DIM),
        "exporter_version": "test",
        "quantization": "none",
        "parity_max_abs": "0",
    }
    if fine:
        fine_grid = TINY_SIZE // TINY_FINE_STRIDE
        metadata |= {"fine_grid": f"{fine_grid}x{fine_grid}", "fine_dim": str(TINY_FINE_DIM)}
    metadata["fingerprint"] = hashlib.sha256(f"tiny_test {weights_sha256}".encode()).hexdigest()  # unique
    metadata.pop(drop_key, None)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, metadata)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
