"""Per-frame contrast stretch, measured as a preprocessing candidate for the engine (not in it yet).

elpv cells, poly ones above all, differ a lot in overall brightness and contrast between cells; stretching
each frame's 1st..99th percentile to 0..255 before the model removes that nuisance from the features.
"""

from __future__ import annotations

import numpy as np

LOW_PERCENTILE = 1.0
HIGH_PERCENTILE = 99.0


def stretch_contrast(frame: np.ndarray) -> np.ndarray:
    """frame: [H, W, 3] uint8 -> [H, W, 3] uint8 with its 1st..99th percentile mapped to 0..255."""
    low, high = np.percentile(frame, (LOW_PERCENTILE, HIGH_PERCENTILE))
    scaled = (frame.astype(np.float32) - low) * (255.0 / max(high - low, 1.0))
    return np.clip(scaled, 0, 255).astype(np.uint8)


def stretch_all(frames: np.ndarray) -> np.ndarray:
    """frames: [N, H, W, 3] uint8 -> the same, each frame stretched on its own."""
    return np.stack([stretch_contrast(frame) for frame in frames])
