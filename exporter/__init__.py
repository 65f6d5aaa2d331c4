# The engine first: it keeps ONNX Runtime, which the exporter imports too, from sending telemetry
# (patchcore/__init__.py).
import patchcore  # noqa: F401
