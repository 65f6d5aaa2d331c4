"""The gRPC inspection server: product store, request validation, batching, health, metrics, config, main."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("patchcore-edge")
except PackageNotFoundError:
    __version__ = "0+unknown"
