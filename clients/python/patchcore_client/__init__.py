"""Python client for patchcore-edge: teach products, inspect frames, read verdicts and heatmaps.

Depends on grpcio and protobuf only; numpy (arrays in, heatmaps out) and OpenCV (the demo) are optional.
"""

from patchcore_client.client import InspectionClient
from patchcore_client.results import FrameError, InspectionResult, Region

__all__ = ["FrameError", "InspectionClient", "InspectionResult", "Region"]
