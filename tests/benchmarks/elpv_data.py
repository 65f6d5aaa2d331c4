"""The elpv solar-cell data set (PyPI `elpv-dataset`) as two products with good and defective cells.

The package ships 2624 electroluminescence cells, 300x300 gray, each with a defect probability
(0, 1/3, 2/3, 1) and a cell type (mono, poly). The benchmark keeps only the certain labels: 0 = good,
1 = defective.
Images are read from the installed package and are never copied into the repository.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PRODUCTS = ("mono", "poly")


@dataclass(frozen=True)
class ProductImages:
    """One cell type. good: [G, 300, 300, 3] uint8 RGB; defective: [D, 300, 300, 3] uint8 RGB."""

    name: str
    good: np.ndarray
    defective: np.ndarray


def load_elpv_products() -> list[ProductImages]:
    """Good and defective cells per cell type, gray replicated to RGB as the server's GRAY8 decode does."""
    from elpv_dataset.utils import load_dataset

    images, probabilities, cell_types = load_dataset()
    products = []
    for name in PRODUCTS:
        of_type = cell_types == name
        good = images[of_type & (probabilities == 0.0)]
        defective = images[of_type & (probabilities == 1.0)]
        products.append(ProductImages(name=name, good=_gray_to_rgb(good), defective=_gray_to_rgb(defective)))
    return products


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    """gray: [N, H, W] uint8 -> [N, H, W, 3] uint8."""
    return np.repeat(gray[..., None], 3, axis=-1)


def split_teach_test(good_count: int, teach_count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random indices of `teach_count` good images to teach with and the remaining good ones to test on."""
    order = np.random.default_rng(seed).permutation(good_count)
    return np.sort(order[:teach_count]), np.sort(order[teach_count:])
