"""glibc malloc tuning for a long-running server with many threads.

glibc hands threads that allocate at the same time their own malloc arenas (up to 8 per core), and each arena
keeps what is freed into it. With dozens of gRPC, stream-reader and ONNX Runtime threads the server's RSS
crept up: EfficientNet-Lite0, 10,000 frames over 4 streams, peak RSS +5.1% from frames 1,001-2,000 to the
last 1,000 (471 -> 495 MiB). With 2 arenas: -0.4% over 6,000 frames, peak 441 MiB.
"""

import ctypes
import os

M_ARENA_MAX = -8  # mallopt parameter number, from glibc's malloc.h
SERVER_ARENAS = 2


def limit_malloc_arenas(arenas: int = SERVER_ARENAS) -> bool:
    """Caps glibc's malloc arenas for threads started from now on; call it before starting any thread.

    Leaves the setting alone when MALLOC_ARENA_MAX is set in the environment (the operator's choice wins).
    False when nothing was changed (not glibc, or left to the environment).
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        return bool(ctypes.CDLL(None).mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):  # not glibc: no mallopt
        return False
