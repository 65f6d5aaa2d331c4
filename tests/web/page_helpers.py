"""Helpers of the web page tests: tokens, generated good parts, a fresh taught product per test."""

from __future__ import annotations

import itertools

import numpy as np
from patchcore_client import InspectionClient
from patchcore_client.local_server import LocalServer
from patchcore_client.synthetic import good_part

ADMIN_TOKEN = "admin-secret-4f2a"
INSPECT_TOKEN = "inspect-secret-9c1d"
BROKEN_PRODUCT = "broken"
_product_numbers = itertools.count(1)


def good_parts(count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [good_part(rng) for _ in range(count)]


def new_product(server: LocalServer, token: str | None = None) -> str:
    """A product id no other test uses, taught from 8 good parts."""
    product_id = f"part-{next(_product_numbers)}"
    with InspectionClient(server.target, token=token) as client:
        client.teach(product_id, good_parts(8, seed=1), threshold_scale=1.5)
    return product_id
