"""Score: patch features -> patch scores, the cosine distance of each patch to its nearest memory-bank
vector."""

from __future__ import annotations

import numpy as np

from patchcore.bank import MemoryBank
from patchcore.errors import InvalidInput, ProductUnusable
from patchcore.knn import NearestNeighbours
from patchcore.model import ModelInfo


class Scorer:
    """Scores frames of one product with one model (ProductUnusable if the bank is for another model)."""

    def __init__(self, bank: MemoryBank, model: ModelInfo) -> None:
        if bank.model_fingerprint != model.fingerprint:
            raise ProductUnusable(
                f"product {bank.product_id!r} was taught with another model (fingerprint "
                f"{bank.model_fingerprint[:12]}); the loaded model {model.backbone} has "
                f"{model.fingerprint[:12]}. Teach the product again with this model."
            )
        if bank.vectors.ndim != 2 or bank.vectors.shape[1] != model.dim:
            raise ProductUnusable(
                f"product {bank.product_id!r} has {bank.vectors.shape[-1]}-dim vectors, "
                f"the model gives {model.dim}"
            )
        self.bank = bank
        self.model = model
        self.view = bank.teach_options.view(model.input_size)
        self._neighbours = NearestNeighbours(bank.vectors)

    def patch_scores(self, features: np.ndarray) -> np.ndarray:
        """features: [B, h*w, D] float32 -> [B, h, w] float32 patch scores (one search for the batch)."""
        grid_h, grid_w = self.model.grid
        if features.ndim != 3 or features.shape[1:] != (grid_h * grid_w, self.model.dim):
            raise InvalidInput(
                f"features must be [B, {grid_h * grid_w}, {self.model.dim}], got shape {features.shape}"
            )
        distances = self._neighbours.distances(features.reshape(-1, self.model.dim))
        return distances.reshape(features.shape[0], grid_h, grid_w)
