"""Surfaces and parts a line camera looks at, generated at run time for the line-variation benchmark.

A Surface makes part instances: [H, W, 3] float32 images (0..255) of one product in its nominal pose. Each
call is a new physical part: stochastic surfaces (cast, brushed, woven, wood) get a new realisation, the
scikit-image textures a new crop (teach crops from one half of the texture, test crops from the other, so a
test part is never a shifted copy of a teach part), and the parts with a layout (PCB, machined flange) the
same design with the instance's own surface noise and small manufacturing spread. The design of a product
(layout, colours, brushing direction) comes from the product rng, so each seed is another product.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from skimage import data as skimage_data

Instance = Callable[[np.random.Generator, int, int, bool], np.ndarray]

# scikit-image's 512x512 textures are enlarged by this factor so that one half still holds a frame with the
# margin that shifts and rotations need.
TEXTURE_ZOOM = 1.25
FABRIC_COLOURS = np.array([[52, 72, 120], [175, 160, 130], [90, 95, 100], [120, 40, 45]], dtype=np.float64)


def smooth_noise(rng: np.random.Generator, height: int, width: int, sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise with unit standard deviation, [H, W] float32. Wide filters run on a
    coarser grid that is then enlarged (the result is as smooth, and a 2048x1536 frame takes milliseconds)."""
    step = max(int(sigma // 3), 1)
    noise = rng.standard_normal((height // step + 2, width // step + 2), dtype=np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), sigma / step, borderType=cv2.BORDER_REFLECT)
    if step > 1:
        smooth = cv2.resize(smooth, (width + 2 * step, height + 2 * step), interpolation=cv2.INTER_CUBIC)
    smooth = smooth[:height, :width]
    return smooth / max(float(smooth.std()), 1e-6)


def _grey(image: np.ndarray) -> np.ndarray:
    return np.repeat(image[..., None], 3, axis=-1).astype(np.float32)


def _tint(intensity: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """intensity: [H, W] around 1.0 -> [H, W, 3] float32 in colour's hue."""
    return (intensity[..., None] * colour[None, None, :]).astype(np.float32)


def skimage_texture(name: str) -> Instance:
    texture = getattr(skimage_data, name)().astype(np.float32)
    zoomed = cv2.resize(texture, None, fx=TEXTURE_ZOOM, fy=TEXTURE_ZOOM, interpolation=cv2.INTER_CUBIC)

    def instance(rng: np.random.Generator, height: int, width: int, test_half: bool) -> np.ndarray:
        half = zoomed.shape[0] // 2
        region = zoomed[half:] if test_half else zoomed[:half]
        if height > region.shape[0] or width > region.shape[1]:
            raise ValueError(f"{name}: a {height}x{width} instance does not fit the texture's half")
        top = rng.integers(0, region.shape[0] - height + 1)
        left = rng.integers(0, region.shape[1] - width + 1)
        return _grey(region[top : top + height, left : left + width])

    return instance


def cast_metal(product: np.random.Generator, frame_size: tuple[int, int]) -> Instance:
    """Sand-blasted cast metal: fine grain, mottling at several scales, sparse tiny pits."""
    base = product.uniform(105, 150)

    def instance(rng: np.random.Generator, height: int, width: int, test_half: bool) -> np.ndarray:
        surface = (
            base
            + 14 * smooth_noise(rng, height, width, 0.7)
            + 7 * smooth_noise(rng, height, width, 3.0)
            + 6 * smooth_noise(rng, height, width, 16.0)
        )
        pits = rng.random((height, width)) < 0.002
        surface[cv2.dilate(pits.astype(np.uint8), np.ones((2, 2), np.uint8)).astype(bool)] -= 30
        return _grey(surface)

    return instance


def brushed_metal(product: np.random.Generator, frame_size: tuple[int, int]) -> Instance:
    """Brushed steel: long streaks along the brushing direction and a soft sheen across it."""
    base = product.uniform(140, 185)
    angle = product.uniform(0, 180)

    def instance(rng: np.random.Generator, height: int, width: int, test_half: bool) -> np.ndarray:
        side = int(np.ceil(np.hypot(height, width))) + 2
        noise = rng.standard_normal((side, side), dtype=np.float32)
        streaks = cv2.GaussianBlur(noise, (0, 0), sigmaX=18.0, sigmaY=0.6, borderType=cv2.BORDER_REFLECT)
        streaks /= streaks.std()
        turn = cv2.getRotationMatrix2D((side / 2, side / 2), angle, 1.0)
        streaks = cv2.warpAffine(streaks, turn, (side, side), flags=cv2.INTER_LINEAR)
        top, left = (side - height) // 2, (side - width) // 2
        streaks = streaks[top : top + height, left : left + width]
        sheen = 8 * smooth_noise(rng, height, width, 40.0)
        return _grey(base + 12 * streaks + sheen + 3 * rng.standard_normal((height, width)))

    return instance


def fabric_weave(product: np.random.Generator, frame_size: tuple[int, int]) -> Instance:
    """Plain-weave fabric: warp and weft threads alternately on top, uneven threads, fuzz."""
    period = float(product.integers(7, 11))
    colour = product.choice(FABRIC_COLOURS) * product.uniform(0.85, 1.15)

    def instance(rng: np.random.Generator, height: int, width: int, test_half: bool) -> np.ndarray:
        rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
        wobble = 0.8 * smooth_noise(rng, height, width, 12.0)
        u, v = (cols + wobble) / period, (rows - wobble) / period
        warp_profile = np.clip(np.cos(np.pi * (u - np.floor(u) - 0.5)), 0, 1) ** 0.7
        weft_profile = np.clip(np.cos(np.pi * (v - np.floor(v) - 0.5)), 0, 1) ** 0.7
        warp_on_top = (np.floor(u) + np.floor(v)) % 2 == 0
        along_warp = np.cos(np.pi * (v - np.floor(v) - 0.5))
        along_weft = np.cos(np.pi * (u - np.floor(u) - 0.5))
        shade = np.where(warp_on_top, warp_profile * (0.75 + 0.25 * along_warp), weft_profile * along_weft)
        thread_gain = 1 + 0.08 * smooth_noise(rng, height, width, period * 1.5)
        intensity = (0.55 + 0.5 * shade) * thread_gain + 0.05 * smooth_noise(rng, height, width, 0.8)
        return _tint(intensity, colour)

    return instance


def wood_grain(product: np.random.Generator, frame_size: tuple[int, int]) -> Instance:
    """Sawn wood: growth rings as long gentle curves, darker late wood, pores along the grain, brown."""
    period = product.uniform(12, 20)
    light = product.uniform([170, 120, 70], [215, 160, 105])

    def instance(rng: np.random.Generator, height: int, width: int, test_half: bool) -> np.ndarray:
        rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
        bend = 14 * smooth_noise(rng, height, width, 45.0) + 1.5 * smooth_noise(rng, height, width, 15.0)
        phase = (rows + bend + 0.05 * cols) / period
        ring = phase - np.floor(phase)
        late_wood = np.clip((ring - 0.7) / 0.2, 0, 1) ** 1.5
        pores = cv2.GaussianBlur(
            rng.standard_normal((height, width), dtype=np.float32), (0, 0), sigmaX=5.0, sigmaY=0.5
        )
        intensity = 1.0 - 0.3 * late_wood + 0.06 * pores / pores.std()
        return _tint(intensity, light)

    return instance


def _pcb_layout(seed: int, height: int, width: int) -> dict[str, np.ndarray]:
    """The board's copper traces, pads, drill holes and silkscreen as [H, W] uint8 masks, the same for the
    same seed and size. Feature density is per area, so a larger view shows more of the same kind."""
    rng = np.random.default_rng(seed)
    layers = {name: np.zeros((height, width), np.uint8) for name in ("traces", "pads", "holes", "silk")}
    area = height * width / 2048**2
    for _ in range(int(2500 * area) + 1):
        x, y = (int(value) for value in rng.integers(0, (width, height)))
        for _ in range(rng.integers(2, 5)):
            length = int(rng.integers(20, 160))
            dx, dy = [(1, 0), (0, 1), (1, 1), (1, -1)][rng.integers(4)]
            x2, y2 = x + dx * length, y + dy * length
            cv2.line(layers["traces"], (x, y), (x2, y2), 1, int(rng.integers(3, 7)))
            x, y = x2, y2
        cv2.rectangle(layers["pads"], (x - 5, y - 4), (x + 5, y + 4), 1, -1)
    for _ in range(int(1500 * area) + 1):
        x, y = (int(value) for value in rng.integers(0, (width, height)))
        cv2.circle(layers["pads"], (x, y), 6, 1, -1)
        cv2.circle(layers["holes"], (x, y), 2, 1, -1)
    for _ in range(int(500 * area) + 1):
        x, y = (int(value) for value in rng.integers(0, (width, height)))
        box_width, box_height = (int(value) for value in rng.integers(6, 40, 2))
        cv2.rectangle(layers["silk"], (x, y), (x + box_width, y + box_height), 1, 1)
    return layers


def pcb(product: np.random.Generator, frame_size: tuple[int, int]) -> Instance:
    """A small printed circuit board lying on a dark tray, filling most of the frame: solder mask with copper
    traces under it, pads, vias, silkscreen and a bare edge. The layout is the product's; each board has its
    own mask texture, plating tone and a little registration spread of the silkscreen."""
    mask_colour = product.uniform([20, 90, 40], [45, 130, 70])
    board_height, board_width = (int(side * 0.86) for side in frame_size)
    layout = _pcb_layout(int(product.integers(2**32)), board_height, board_width)

    def instance(rng: np.random.Generator, height: int, width: int, test_half: bool) -> np.ndarray:
        top, left = (height - board_height) // 2, (width - board_width) // 2
        inside = (slice(top, top + board_height), slice(left, left + board_width))
        on_board = np.zeros((height, width), bool)
        on_board[inside] = True
        image = np.empty((height, width, 3), np.float32)
        image[:] = (30 + 6 * smooth_noise(rng, height, width, 2.0))[..., None]
        board = image[inside]
        board[:] = mask_colour * (1 + 0.05 * smooth_noise(rng, board_height, board_width, 2.0))[..., None]
        board[layout["traces"].astype(bool)] *= 1.35
        board[layout["pads"].astype(bool)] = rng.uniform([175, 150, 90], [215, 190, 130])
        board[layout["holes"].astype(bool)] = 25
        shift = np.float32([[1, 0, rng.uniform(-0.7, 0.7)], [0, 1, rng.uniform(-0.7, 0.7)]])
        silk = cv2.warpAffine(layout["silk"].astype(np.float32), shift, (board_width, board_height))
        board += silk[..., None] * (np.array([225, 225, 215], np.float32) - board)
        edge = on_board & ~cv2.erode(on_board.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
        image[edge] = np.array([190, 175, 120], np.float32)
        return image + 2.5 * rng.standard_normal((height, width, 1), dtype=np.float32)

    return instance


def machined_flange(product: np.random.Generator, frame_size: tuple[int, int]) -> Instance:
    """A turned flange seen from above, filling most of the frame: concentric tool marks on the face, a
    bright chamfer, bolt holes and a dark fixture around it. Bolt holes are at the product's angles; each
    part has its own tool-mark phase and a light spread in where it sits."""
    holes = int(product.integers(4, 9))
    hole_angle = product.uniform(0, 2 * np.pi)
    face_grey = product.uniform(135, 175)
    scale = min(frame_size)
    outer, bore, pitch, hole_radius = 0.46 * scale, 0.12 * scale, 0.32 * scale, 0.045 * scale

    def instance(rng: np.random.Generator, height: int, width: int, test_half: bool) -> np.ndarray:
        rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
        centre_y, centre_x = height / 2 + rng.normal(0, 0.3), width / 2 + rng.normal(0, 0.3)
        radius = np.hypot(rows - centre_y, cols - centre_x)
        marks = np.sin(2 * np.pi * radius / 2.6 + rng.uniform(0, 2 * np.pi))
        face = face_grey + 9 * marks + 5 * smooth_noise(rng, height, width, 1.0)
        face += 10 * np.cos(np.arctan2(rows - centre_y, cols - centre_x) - rng.uniform(-0.2, 0.2))
        fixture = 45 + 8 * smooth_noise(rng, height, width, 3.0)
        image = np.where(radius < outer, face, fixture)
        image = np.where((np.abs(radius - outer) < 3.0) | (np.abs(radius - bore) < 2.5), 225.0, image)
        image = np.where(radius < bore - 2.5, 20.0, image)
        for index in range(holes):
            angle = hole_angle + 2 * np.pi * index / holes
            distance = np.hypot(
                rows - centre_y - pitch * np.sin(angle), cols - centre_x - pitch * np.cos(angle)
            )
            image = np.where(distance < hole_radius, 18.0, image)
            image = np.where(np.abs(distance - hole_radius) < 1.5, 210.0, image)
        return _grey(image)

    return instance


@dataclass(frozen=True)
class Surface:
    """A product family. make(product_rng, frame_size) fixes one product's design for frames of frame_size
    (H, W) and returns its instance maker; parts with a layout scale it to the frame, surfaces ignore it."""

    name: str
    make: Callable[[np.random.Generator, tuple[int, int]], Instance]
    coarseness: float = (
        1.0  # defect sizes are multiplied by this: on a coarse surface only larger ones matter
    )


def _texture(name: str, coarseness: float = 1.0) -> Surface:
    return Surface(name, lambda product, frame_size: skimage_texture(name), coarseness)


SURFACES: dict[str, Surface] = {
    surface.name: surface
    for surface in (
        _texture("brick"),
        _texture("gravel", coarseness=2.0),
        Surface("cast_metal", cast_metal),
        Surface("fabric_weave", fabric_weave),
        Surface("pcb", pcb),
        _texture("grass", coarseness=2.0),
        Surface("brushed_metal", brushed_metal),
        Surface("wood_grain", wood_grain),
        Surface("machined_flange", machined_flange),
    )
}
# Choices are tuned on the development group only; the held-out group is reported beside it.
DEVELOPMENT = ("brick", "gravel", "cast_metal", "fabric_weave", "pcb")
HELD_OUT = ("grass", "brushed_metal", "wood_grain", "machined_flange")
