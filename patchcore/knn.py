"""Nearest-neighbour distance of query patches to a memory bank: exact search with a FAISS IndexFlatIP.

Bank and queries are unit vectors, so the nearest bank vector is the one with the largest inner product and
the cosine distance is 1 - that product. The index is exact (flat): with 8 good images a bank holds a few
hundred to a few thousand vectors, where approximate indexes gain nothing and cost recall.

Three settings make FAISS as fast as a plain BLAS product here (the figures: README "Performance"):
- faiss-cpu bundles OpenBLAS 0.3.15, which does not recognise CPUs newer than about 2020 and falls back to
  its slow SSE3 "Prescott" kernels. OPENBLAS_CORETYPE is set from the CPU's flags before FAISS loads (unless
  already set).
- FAISS 1.15 answers up to a few hundred queries with a slower per-pair loop instead of BLAS, so BLAS is
  used from BLAS_FROM_QUERIES queries (one frame has hundreds of patches).
- FAISS's OpenBLAS parallelises with OpenMP, whose thread limit belongs to each calling thread: a limit set
  on one thread (threadpoolctl) does not reach the server's batcher thread, where a second OpenMP thread
  took part of each search and then spun. OMP_NUM_THREADS=1 is set before FAISS loads (unless already
  set), so a search runs on the thread that asks for it.
"""

import os
import platform

import numpy as np

BLAS_FROM_QUERIES = 20


def openblas_core_type() -> str | None:
    """The OpenBLAS kernel family that fits this x86-64 Linux CPU, None where OpenBLAS should decide."""
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        return None
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags_line = next((line for line in cpuinfo if line.startswith("flags")), "")
    except OSError:
        return None
    flags = set(flags_line.partition(":")[2].split())
    if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= flags:
        return "SkylakeX"
    if {"avx2", "fma"} <= flags:
        return "Haswell"
    return None


if "OPENBLAS_CORETYPE" not in os.environ and (_core := openblas_core_type()):
    os.environ["OPENBLAS_CORETYPE"] = _core
os.environ.setdefault("OMP_NUM_THREADS", "1")

import faiss  # noqa: E402  (OpenBLAS and OpenMP read their variables when FAISS loads them)

faiss.cvar.distance_compute_blas_threshold = BLAS_FROM_QUERIES


class NearestNeighbours:
    """bank: [M, D] float32 unit vectors. Distances are cosine distances 1 - max inner product, >= 0."""

    def __init__(self, bank: np.ndarray) -> None:
        if bank.ndim != 2 or bank.shape[0] == 0:
            raise ValueError(f"the memory bank must be a non-empty [M, D] matrix, got shape {bank.shape}")
        self.dim = bank.shape[1]
        self._index = faiss.IndexFlatIP(self.dim)
        self._index.add(np.ascontiguousarray(bank, dtype=np.float32))

    def __len__(self) -> int:
        return self._index.ntotal

    def distances(self, queries: np.ndarray) -> np.ndarray:
        """queries: [N, D] float32 unit vectors -> [N] float32 distance to the nearest bank vector."""
        return self.search(queries, 1)[0][:, 0]

    def search(self, queries: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        """queries: [N, D] unit vectors -> the count nearest bank vectors of each, nearest first:
        ([N, count] float32 distances, [N, count] int64 their rows in the bank)."""
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise ValueError(f"queries must be [N, {self.dim}], got shape {queries.shape}")
        similarities, rows = self._index.search(np.ascontiguousarray(queries, dtype=np.float32), count)
        return np.maximum(1.0 - similarities, 0.0), rows
