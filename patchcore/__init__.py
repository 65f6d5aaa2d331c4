"""PatchCore engine: plain functions and small classes over numpy arrays. No gRPC, no torch."""

import os

# ONNX Runtime's builds queue usage telemetry (a device id, the OS, the program's path) under
# $HOME/.cache/Microsoft and send it to Microsoft unless this is set before onnxruntime is imported. An
# inspection box on a plant network must not call out; every program here imports the engine first.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
