"""Nearest-neighbour distance of query patches to a memory bank (exact search, FAISS inner product)."""

import faiss
import numpy as np


class NearestNeighbours:
    """bank: [M, D] float32 unit vectors. Distances are cosine distances 1 - max inner product, >= 0."""

    def __init__(self, bank: np.ndarray) -> None:
        if bank.ndim != 2 or bank.shape[0] == 0:
            raise ValueError(f"the memory bank must be a non-empty [M, D] matrix, got shape {bank.shape}")
        self.dim = bank.shape[1]
        self._index = faiss.IndexFlatIP(self.dim)
        self._index.add(np.ascontiguousarray(bank, dtype=np.float32))

    def distances(self, queries: np.ndarray) -> np.ndarray:
        """queries: [N, D] float32 unit vectors -> [N] float32 distance to the nearest bank vector."""
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise ValueError(f"queries must be [N, {self.dim}], got shape {queries.shape}")
        similarities, _ = self._index.search(np.ascontiguousarray(queries, dtype=np.float32), 1)
        return np.maximum(1.0 - similarities[:, 0], 0.0)
