"""Procedurally drawn parts for the demo and test rigs: a machined flange on a conveyor background, and a
plain machined surface.

Good parts look alike (small jitter in position, lighting and sensor noise); defective ones carry one planted
scratch or spot on the flange. Needs numpy and OpenCV.
"""

from __future__ import annotations

import numpy as np

DEFECT_KINDS = ("scratch", "spot")


def good_part(rng: np.random.Generator, size: int = 256) -> np.ndarray:
    """One good part: [size, size, 3] uint8 RGB."""
    import cv2

    image = np.empty((size, size, 3), np.uint8)
    image[:] = (62, 66, 70)
    stripes = (np.arange(size) // 8 % 2 * 6).astype(np.uint8)  # conveyor belt texture
    image += stripes[:, None, None]
    centre = (size // 2 + int(rng.integers(-3, 4)), size // 2 + int(rng.integers(-3, 4)))
    radius = int(size * 0.36)
    cv2.circle(image, centre, radius, (176, 178, 182), -1, cv2.LINE_AA)
    for ring in range(radius - 8, radius // 3, -9):  # turning marks
        cv2.circle(image, centre, ring, (160, 162, 166), 1, cv2.LINE_AA)
    cv2.circle(image, centre, radius // 3, (96, 98, 102), -1, cv2.LINE_AA)  # bore
    for angle in np.deg2rad([45, 135, 225, 315]):  # bolt holes
        hole = (
            int(centre[0] + 0.68 * radius * np.cos(angle)),
            int(centre[1] + 0.68 * radius * np.sin(angle)),
        )
        cv2.circle(image, hole, size // 28, (84, 86, 90), -1, cv2.LINE_AA)
    lighting = rng.uniform(0.96, 1.04)
    noise = rng.normal(0.0, 2.5, image.shape)
    return np.clip(image * lighting + noise, 0, 255).astype(np.uint8)


def machined_surface(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """[height, width, 3] uint8: a grey surface with fine grain and slow shading, like machined metal."""
    import cv2

    fine = cv2.GaussianBlur(rng.standard_normal((height, width)).astype(np.float32), (0, 0), 1.5)
    shading = cv2.GaussianBlur(rng.standard_normal((height, width)).astype(np.float32), (0, 0), 12)
    grey = 128 + 8 * fine / fine.std() + 10 * shading / shading.std()
    return np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)


def defective_part(rng: np.random.Generator, kind: str, size: int = 256) -> np.ndarray:
    """A part with one planted defect of `kind` ("scratch" or "spot") on the flange."""
    import cv2

    if kind not in DEFECT_KINDS:
        raise ValueError(f"kind must be one of {DEFECT_KINDS}, got {kind!r}")
    image = good_part(rng, size)
    angle = rng.uniform(0, 2 * np.pi)
    distance = rng.uniform(0.45, 0.58) * size * 0.36  # between the bore and the bolt holes' ring
    x, y = size / 2 + distance * np.cos(angle), size / 2 + distance * np.sin(angle)
    if kind == "scratch":
        direction = rng.uniform(0, np.pi)
        half = rng.uniform(0.07, 0.1) * size
        dx, dy = half * np.cos(direction), half * np.sin(direction)
        start, end = (int(x - dx), int(y - dy)), (int(x + dx), int(y + dy))
        cv2.line(image, start, end, (40, 36, 34), max(2, size // 100), cv2.LINE_AA)
    else:
        cv2.circle(
            image, (int(x), int(y)), int(rng.uniform(0.025, 0.035) * size), (120, 74, 40), -1, cv2.LINE_AA
        )
    return image


def inspection_sequence(
    rng: np.random.Generator, count: int, defect_every: int, size: int = 256
) -> list[tuple[np.ndarray, str]]:
    """`count` (frame, expected) pairs: every `defect_every`-th frame has a defect, kinds alternating."""
    frames = []
    for index in range(count):
        if index % defect_every == defect_every - 1:
            kind = DEFECT_KINDS[(index // defect_every) % len(DEFECT_KINDS)]
            frames.append((defective_part(rng, kind, size), kind))
        else:
            frames.append((good_part(rng, size), "good"))
    return frames
