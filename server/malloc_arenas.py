"""glibc malloc tuning for a long-running server with many threads.

glibc hands threads that allocate at the same time their own malloc arenas (up to 8 per core), and each arena
keeps what is freed into it: with dozens of gRPC, stream-reader and ONNX Runtime threads the server's RSS
crept up, and 2 arenas stop that. Freed memory inside a heap (not at its top) still stays resident, so the
server's main loop hands it back every 10 s (release_free_memory). The soak figures: README "Performance".
"""

import contextlib
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


def release_free_memory() -> None:
    """Hands the pages malloc holds free, in every arena and inside the heaps too, back to the kernel
    (glibc malloc_trim). A no-op where malloc is not glibc's."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)
