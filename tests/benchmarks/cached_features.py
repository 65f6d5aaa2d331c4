"""A FeatureExtractor stand-in that extracts each distinct image once and serves repeats from memory.

The benchmark teaches the same product many times (seeds x configurations) and scores the same test images
against each bank. Features depend only on the pixels and the model, so caching them by pixel content does
not change the method: teach() and the scorer see exactly the features the server would compute.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
from tqdm import tqdm

from patchcore.model import FeatureExtractor


class CachedFeatureExtractor:
    """Same interface as FeatureExtractor (.info, .extract); remembers features by image content."""

    def __init__(self, extractor: FeatureExtractor, batch_size: int = 16) -> None:
        self.info = extractor.info
        self._extractor = extractor
        self._batch_size = batch_size
        self._features: dict[bytes, np.ndarray] = {}

    @staticmethod
    def _key(image: np.ndarray) -> bytes:
        return hashlib.blake2b(image.tobytes(), digest_size=16).digest() + repr(image.shape).encode()

    def extract(self, images: np.ndarray) -> np.ndarray:
        """images: [B, S, S, 3] uint8 RGB -> [B, h*w, dim] float32, extracting only the unseen images."""
        keys = [self._key(image) for image in images]
        self._extract_missing(images, keys, progress=None)
        return np.stack([self._features[key] for key in keys])

    def warm(self, images: Iterable[np.ndarray], description: str) -> None:
        """Extract every unseen image of a [N, S, S, 3] set, with a progress bar."""
        images = np.asarray(images)
        keys = [self._key(image) for image in images]
        with tqdm(total=len(set(keys) - self._features.keys()), desc=description, unit="img") as progress:
            self._extract_missing(images, keys, progress)

    def _extract_missing(self, images: np.ndarray, keys: list[bytes], progress: tqdm | None) -> None:
        missing: dict[bytes, int] = {}
        for position, key in enumerate(keys):
            if key not in self._features and key not in missing:
                missing[key] = position
        pending = list(missing.items())
        for start in range(0, len(pending), self._batch_size):
            chunk = pending[start : start + self._batch_size]
            features = self._extractor.extract(np.stack([images[position] for _, position in chunk]))
            for (key, _), patch_features in zip(chunk, features, strict=True):
                self._features[key] = patch_features
            if progress is not None:
                progress.update(len(chunk))
