"""Defects as a line sees them, planted into a frame with an exact mask: scratches, cracks, spots, dents,
contamination and missing material. Faint and small on purpose: lines one or two pixels wide, spots a few
pixels across (sizes in frame pixels, from a DefectScale), and scratches, cracks, spots and dents only 1.5 to
4 times as strong as the surface's own texture (its typical local contrast), so a defect on a busy surface
is as hard to see as one on a smooth surface.

Each shape is drawn anti-aliased at 4x in a window around the defect; its coverage (0..1) sets how much the
defect changes each pixel, and the mask is coverage >= 0.5, so the mask holds exactly the pixels the defect
mostly covers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import cv2
import numpy as np

SUPERSAMPLE = 4


@dataclass(frozen=True)
class DefectScale:
    """Ranges in frame pixels: lengths of scratches and cracks, radii of round defects, line widths; and
    strength, a factor on the contrast of scratches, cracks, spots and dents."""

    length: tuple[float, float]
    radius: tuple[float, float]
    line_width: tuple[int, int]
    strength: float = 1.0

    def times(self, factor: float) -> DefectScale:
        """Every size multiplied by factor (line widths rounded)."""
        return replace(
            self,
            length=(self.length[0] * factor, self.length[1] * factor),
            radius=(self.radius[0] * factor, self.radius[1] * factor),
            line_width=(round(self.line_width[0] * factor), round(self.line_width[1] * factor)),
        )


FRAME_SCALE = DefectScale(length=(20, 60), radius=(3.0, 8.0), line_width=(1, 3))
# A defect of a few pixels in a 2048x1536 frame matters when it stands out: pores and scratches with a
# clear contrast (a faint one of that size is beyond any camera setup's intent).
HIGHRES_SCALE = DefectScale(length=(12, 40), radius=(1.0, 2.5), line_width=(2, 3), strength=2.5)


@dataclass(frozen=True)
class Window:
    """The part of a frame around a defect, clipped to the frame: rows top..bottom, columns left..right."""

    top: int
    left: int
    bottom: int
    right: int

    @classmethod
    def around(cls, points: np.ndarray, reach: float, frame: np.ndarray) -> Window:
        """The window holding every (x, y) of points [N, 2] with reach pixels around them."""
        low = np.floor(points.min(axis=0) - reach).astype(int)
        high = np.ceil(points.max(axis=0) + reach).astype(int) + 1
        height, width = frame.shape[:2]
        return cls(
            max(int(low[1]), 0), max(int(low[0]), 0), min(int(high[1]), height), min(int(high[0]), width)
        )

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.top, self.bottom), slice(self.left, self.right)

    @property
    def shape(self) -> tuple[int, int]:
        return self.bottom - self.top, self.right - self.left

    def local(self, points: np.ndarray) -> np.ndarray:
        """(x, y) frame coordinates [N, 2] -> window coordinates."""
        return points - [self.left, self.top]

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """Frame coordinates (x, y) of the window's pixels, each [h, w] float32."""
        rows, cols = np.mgrid[self.top : self.bottom, self.left : self.right].astype(np.float32)
        return cols, rows


def _coverage(
    window: Window, draw: Callable[[np.ndarray, Callable[[np.ndarray], np.ndarray]], None]
) -> np.ndarray:
    """[h, w] float32 coverage (0..1) of a shape in the window. draw(canvas, to_canvas) paints 255 on a uint8
    canvas SUPERSAMPLE times the window's size; to_canvas maps frame (x, y) points [N, 2] to int32 canvas
    points."""
    height, width = window.shape
    canvas = np.zeros((height * SUPERSAMPLE, width * SUPERSAMPLE), np.uint8)

    def to_canvas(points: np.ndarray) -> np.ndarray:
        return np.round(window.local(points) * SUPERSAMPLE).astype(np.int32)

    draw(canvas, to_canvas)
    return (cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA) / 255.0).astype(np.float32)


def _planted(
    frame: np.ndarray, window: Window, weight: np.ndarray, painted: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A copy of frame whose window becomes frame * (1 - weight) + painted * weight (weight [h, w], painted
    [h, w, 3] or broadcastable), and the frame's mask [H, W] bool holding the window's mask [h, w]."""
    out = frame.copy()
    region = out[window.slices]
    region += (painted - region) * weight[..., None]
    full_mask = np.zeros(frame.shape[:2], dtype=bool)
    full_mask[window.slices] = mask
    return out, full_mask


def _added(
    frame: np.ndarray, window: Window, coverage: np.ndarray, grey_levels: float
) -> tuple[np.ndarray, np.ndarray]:
    """frame + coverage * grey_levels on every channel; mask = coverage >= 0.5."""
    return _planted(frame, window, coverage, frame[window.slices] + grey_levels, coverage >= 0.5)


def _point(rng: np.random.Generator, frame: np.ndarray, margin: float) -> np.ndarray:
    """A random (x, y) at least margin from the frame's border."""
    height, width = frame.shape[:2]
    return np.array([rng.uniform(margin, width - margin), rng.uniform(margin, height - margin)])


def _sign(rng: np.random.Generator) -> float:
    return 1.0 if rng.random() < 0.5 else -1.0


Planter = Callable[[np.ndarray, np.random.Generator, DefectScale], tuple[np.ndarray, np.ndarray]]
MIN_CONTRAST = 12.0  # grey levels: the floor of texture_contrast, for nearly flat surfaces
CONTRAST_BLOCK = 16


def texture_contrast(frame: np.ndarray) -> float:
    """The surface's typical local contrast in grey levels: the median standard deviation over 16x16 blocks
    of frame [H, W, 3] (edges of a part's layout fall in few blocks and do not count), at least
    MIN_CONTRAST."""
    grey = frame.mean(axis=2)
    rows = grey.shape[0] // CONTRAST_BLOCK * CONTRAST_BLOCK
    cols = grey.shape[1] // CONTRAST_BLOCK * CONTRAST_BLOCK
    blocks = grey[:rows, :cols].reshape(rows // CONTRAST_BLOCK, CONTRAST_BLOCK, cols // CONTRAST_BLOCK, -1)
    return max(float(np.median(blocks.std(axis=(1, 3)))), MIN_CONTRAST)


def _strength(
    frame: np.ndarray, rng: np.random.Generator, scale: DefectScale, low: float, high: float
) -> float:
    """Grey levels of a defect: low..high times the texture contrast, times the scale's strength."""
    return rng.uniform(low, high) * scale.strength * texture_contrast(frame)


def _draw_lines(lines: list[np.ndarray], width: int) -> Callable[[np.ndarray, Callable], None]:
    def draw(canvas: np.ndarray, to_canvas: Callable[[np.ndarray], np.ndarray]) -> None:
        polylines = [to_canvas(points) for points in lines]
        cv2.polylines(canvas, polylines, False, 255, thickness=width * SUPERSAMPLE, lineType=cv2.LINE_AA)

    return draw


def scratch(frame: np.ndarray, rng: np.random.Generator, scale: DefectScale) -> tuple[np.ndarray, np.ndarray]:
    """A slightly curved scratch, brighter (a polished groove) or darker, 2-4 x the texture contrast."""
    length = rng.uniform(*scale.length)
    start = _point(rng, frame, length / 2 + 4)
    direction = rng.uniform(0, 2 * np.pi)
    end = start + length * np.array([np.cos(direction), np.sin(direction)])
    bend = rng.uniform(-0.15, 0.15) * length * np.array([-np.sin(direction), np.cos(direction)])
    steps = np.linspace(0, 1, 24)[:, None]
    points = (1 - steps) ** 2 * start + 2 * (1 - steps) * steps * ((start + end) / 2 + bend) + steps**2 * end
    line_width = int(rng.integers(scale.line_width[0], scale.line_width[1] + 1))
    window = Window.around(points, line_width + 2, frame)
    coverage = _coverage(window, _draw_lines([points], line_width))
    return _added(frame, window, coverage, _sign(rng) * _strength(frame, rng, scale, 2.0, 4.0))


def _wander(rng: np.random.Generator, start: np.ndarray, heading: float, steps: int) -> np.ndarray:
    """[steps, 2] points of a walk from start in 2-pixel steps whose heading drifts randomly."""
    headings = heading + np.cumsum(rng.normal(0, 0.35, steps))
    return start + np.cumsum(2 * np.stack([np.cos(headings), np.sin(headings)], axis=1), axis=0)


def crack(frame: np.ndarray, rng: np.random.Generator, scale: DefectScale) -> tuple[np.ndarray, np.ndarray]:
    """A dark crack wandering in short steps, sometimes with a branch, 2.5-4.5 x the texture contrast
    darker."""
    length = rng.uniform(*scale.length)
    steps = max(int(length / 2), 4)
    heading = rng.uniform(0, 2 * np.pi)
    trunk = _wander(rng, _point(rng, frame, length / 2 + 4), heading, steps)
    lines = [trunk]
    if rng.random() < 0.5:
        lines.append(
            _wander(rng, trunk[steps // 2], heading + _sign(rng) * rng.uniform(0.5, 1.0), steps // 3)
        )
    window = Window.around(np.concatenate(lines), scale.line_width[0] + 2, frame)
    coverage = _coverage(window, _draw_lines(lines, scale.line_width[0]))
    return _added(frame, window, coverage, -_strength(frame, rng, scale, 2.5, 4.5))


def _blob(rng: np.random.Generator, centre: np.ndarray, radius: float, wobble: float) -> Callable:
    """A filled round shape whose outline wanders +-wobble (a fraction of the radius) around it."""
    angles = np.linspace(0, 2 * np.pi, 18, endpoint=False)
    radii = radius * (1 + rng.uniform(-wobble, wobble, angles.size))
    outline = centre + np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)

    def draw(canvas: np.ndarray, to_canvas: Callable[[np.ndarray], np.ndarray]) -> None:
        cv2.fillPoly(canvas, [to_canvas(outline)], 255, lineType=cv2.LINE_AA)

    return draw


def spot(frame: np.ndarray, rng: np.random.Generator, scale: DefectScale) -> tuple[np.ndarray, np.ndarray]:
    """A small round spot, 2-4 x the texture contrast darker or brighter."""
    radius = rng.uniform(*scale.radius)
    centre = _point(rng, frame, radius + 4)
    window = Window.around(centre[None], radius + 3, frame)
    coverage = _coverage(window, _blob(rng, centre, radius, wobble=0.0))
    return _added(frame, window, coverage, _sign(rng) * _strength(frame, rng, scale, 2.0, 4.0))


def dent(frame: np.ndarray, rng: np.random.Generator, scale: DefectScale) -> tuple[np.ndarray, np.ndarray]:
    """A shallow dent lit from one side: one flank brighter, the other darker, peaking at 2-3.5 x the texture
    contrast. The mask is the dent's rim (radius)."""
    radius = rng.uniform(*scale.radius) * 1.5
    centre = _point(rng, frame, radius + 4)
    window = Window.around(centre[None], radius * 2, frame)
    cols, rows = window.grid()
    dx, dy = cols - centre[0], rows - centre[1]
    light = rng.uniform(0, 2 * np.pi)
    slope = (dx * np.cos(light) + dy * np.sin(light)) * np.exp(-(dx**2 + dy**2) / (2 * (radius / 2) ** 2))
    shading = slope / max(float(np.abs(slope).max()), 1e-6) * _strength(frame, rng, scale, 2.0, 3.5)
    region = frame[window.slices]
    return _planted(
        frame,
        window,
        np.ones(window.shape, np.float32),
        region + shading[..., None],
        dx**2 + dy**2 <= radius**2,
    )


def contamination(
    frame: np.ndarray, rng: np.random.Generator, scale: DefectScale
) -> tuple[np.ndarray, np.ndarray]:
    """A blot of oil (dark brown) or dust (pale grey), semi-transparent (opacity 0.35-0.7)."""
    radius = rng.uniform(*scale.radius) * 1.3
    centre = _point(rng, frame, radius * 1.3 + 4)
    window = Window.around(centre[None], radius * 1.3 + 3, frame)
    coverage = _coverage(window, _blob(rng, centre, radius, wobble=0.25))
    colour = (
        np.array([55, 40, 25], np.float32) if rng.random() < 0.5 else np.array([205, 205, 195], np.float32)
    )
    return _planted(frame, window, coverage * rng.uniform(0.35, 0.7), colour, coverage >= 0.5)


def missing_material(
    frame: np.ndarray, rng: np.random.Generator, scale: DefectScale
) -> tuple[np.ndarray, np.ndarray]:
    """A chip or pore: an irregular hole, dark inside, with a bright edge where the light catches it."""
    radius = rng.uniform(*scale.radius)
    centre = _point(rng, frame, radius * 1.3 + 4)
    window = Window.around(centre[None], radius * 1.3 + 3, frame)
    coverage = _coverage(window, _blob(rng, centre, radius, wobble=0.25))
    rim = cv2.dilate(coverage, np.ones((3, 3), np.uint8)) - coverage
    cols, rows = window.grid()
    light = rng.uniform(0, 2 * np.pi)
    lit = ((cols - centre[0]) * np.cos(light) + (rows - centre[1]) * np.sin(light)) > 0
    region = frame[window.slices]
    painted = region * (1 - coverage[..., None]) + rng.uniform(20, 45) * coverage[..., None]
    painted += (rim * lit * 40.0)[..., None]
    return _planted(frame, window, np.ones(window.shape, np.float32), painted, coverage >= 0.5)


def swarf(frame: np.ndarray, rng: np.random.Generator, scale: DefectScale) -> tuple[np.ndarray, np.ndarray]:
    """A bright metal chip lying on the surface (debris rather than a defect of the part itself)."""
    radius = rng.uniform(*scale.radius)
    centre = _point(rng, frame, radius * 1.3 + 4)
    window = Window.around(centre[None], radius * 1.3 + 3, frame)
    coverage = _coverage(window, _blob(rng, centre, radius, wobble=0.4))
    return _planted(frame, window, coverage, np.float32(rng.uniform(170, 220)), coverage >= 0.5)


DEFECTS: dict[str, Planter] = {
    "scratch": scratch,
    "crack": crack,
    "spot": spot,
    "dent": dent,
    "contamination": contamination,
    "missing material": missing_material,
}
