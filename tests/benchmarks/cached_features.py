"""A FeatureExtractor stand-in that extracts each distinct image once and serves repeats from memory.

The benchmark teaches the same product many times (seeds x configurations) and scores the same test images
against each bank. Features depend only on the pixels and the model, so caching them by pixel content does
not change the method: teach() and the scorer see exactly the features the server would compute.
With a cache folder the features are also kept on disk (float32, one .npy per image, under the model's
fingerprint), so a second run of the benchmark skips the extraction; delete the folder to start cold.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from tqdm import tqdm

from patchcore.model import FeatureExtractor


class CachedFeatureExtractor:
    """Same interface as FeatureExtractor (.info, .extract); remembers features by image content."""

    def __init__(
        self, extractor: FeatureExtractor, cache_dir: Path | None = None, batch_size: int = 16
    ) -> None:
        self.info = extractor.info
        self._extractor = extractor
        self._batch_size = batch_size
        self._features: dict[bytes, np.ndarray] = {}
        self._disk = None if cache_dir is None else cache_dir / extractor.info.fingerprint[:16]
        if self._disk is not None:
            self._disk.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def _key(image: np.ndarray) -> bytes:
        return hashlib.blake2b(repr(image.shape).encode() + image.tobytes(), digest_size=16).digest()

    def extract(self, images: np.ndarray) -> np.ndarray:
        """images: [B, S, S, 3] uint8 RGB -> [B, h*w, dim] float32, extracting only the unseen images."""
        keys = [self._key(image) for image in images]
        self._extract_missing(images, keys, progress=None)
        return np.stack([self._features[key] for key in keys])

    def extract_with_fine(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """As FeatureExtractor.extract_with_fine, not cached (the fine cells are 4x the patches)."""
        return self._extractor.extract_with_fine(images)

    def warm(self, images: Iterable[np.ndarray], description: str) -> None:
        """Extract every unseen image of a [N, S, S, 3] set, with a progress bar."""
        images = np.asarray(images)
        keys = [self._key(image) for image in images]
        unseen = {key for key in keys if key not in self._features and not self._from_disk(key)}
        with tqdm(total=len(unseen), desc=description, unit="img") as progress:
            self._extract_missing(images, keys, progress)

    def _from_disk(self, key: bytes) -> bool:
        """Load key's features from the disk cache into memory; False if they are not there."""
        if self._disk is None:
            return False
        path = self._disk / f"{key.hex()}.npy"
        if not path.exists():
            return False
        self._features[key] = np.load(path)
        return True

    def _remember(self, key: bytes, features: np.ndarray) -> None:
        self._features[key] = features
        if self._disk is not None:
            np.save(self._disk / f"{key.hex()}.npy", features)

    def _extract_missing(self, images: np.ndarray, keys: list[bytes], progress: tqdm | None) -> None:
        missing: dict[bytes, int] = {}
        for position, key in enumerate(keys):
            if key not in self._features and key not in missing and not self._from_disk(key):
                missing[key] = position
        pending = list(missing.items())
        for start in range(0, len(pending), self._batch_size):
            chunk = pending[start : start + self._batch_size]
            features = self._extractor.extract(np.stack([images[position] for _, position in chunk]))
            for (key, _), patch_features in zip(chunk, features, strict=True):
                self._remember(key, patch_features)
            if progress is not None:
                progress.update(len(chunk))
