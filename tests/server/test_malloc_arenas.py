"""glibc malloc tuning: memory freed inside the heap goes back to the kernel when the server asks."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc only")

# Allocates 200 MiB in 64 KiB blocks (below glibc's mmap threshold, so inside the heap), keeps the last
# block so the heap's top cannot shrink, frees the rest: the RSS stays up until the free pages are released.
_SCRIPT = """
import ctypes, psutil
from server.malloc_arenas import release_free_memory
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
rss = lambda: psutil.Process().memory_info().rss >> 20
blocks = [libc.malloc(64 << 10) for _ in range(3200)]
for block in blocks:
    ctypes.memset(block, 1, 64 << 10)
for block in blocks[:-1]:
    libc.free(block)
before = rss()
release_free_memory()
print(before, rss())
"""


def test_release_free_memory_hands_freed_heap_pages_back():
    result = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, check=True)
    before, after = map(int, result.stdout.split())
    assert before - after > 150, (before, after)
