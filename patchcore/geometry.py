"""Where on a frame the model looks: the region of interest and the squares cut from it, in frame pixels.

Without tiling the ROI (by default the whole frame) is resized to one model input, squashed to a square as
it always was. With a tile size, the ROI is covered by square tiles of that side (the ROI's shorter side when
it is smaller), each resized to one model input, so a defect keeps its size in model pixels however large
the frame is and the aspect ratio is kept. Along each axis the tiles are spread evenly from edge to edge:
the first starts at the ROI's edge, the last ends at the opposite one, and the overlap the ROI size leaves
is shared between neighbours, so no tile is padded and every pixel is seen by at least one tile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from patchcore.align import Pose, Reference
from patchcore.errors import InvalidInput, TooLarge

# The shortest side of what one model input is cut from (an ROI, a whole frame, a tile), in frame pixels. It
# is resized to the model's input (224 pixels), where the finest patch grid of our backbones is 28x28
# (EfficientNet-Lite, stride 8; DINOv2 is 16x16, stride 14). Under 28 pixels a side, one frame pixel spans
# more than a patch: neighbouring patches see the same pixel enlarged, and the bank learns the interpolation
# blur, not the part. At 32 (7 model pixels per frame pixel) each stride-8 patch still covers a frame pixel
# of its own; a 16x16 image would be 14 model pixels per frame pixel, one DINOv2 patch per frame pixel.
MIN_REGION_SIDE = 32
MIN_TILE_SIZE = MIN_REGION_SIDE
MAX_TILE_SIZE = 8192
MAX_TILES_PER_FRAME = 64
SHRINK_FACTORS = (8, 4, 2)  # the scales libjpeg decodes at; larger ones first
# Of each side of an aligned frame without an ROI, left out: the line set's parts shifted up to 6 pixels and
# turned up to 4 degrees in 256x256 frames are covered (README "Accuracy", alignment).
ALIGNED_MARGIN = 0.08


@dataclass(frozen=True)
class Rect:
    """A rectangle in frame pixels: x, y of the top-left corner, width and height (both at least 1)."""

    x: int
    y: int
    width: int
    height: int

    def __post_init__(self) -> None:
        if min(self.x, self.y) < 0 or min(self.width, self.height) < 1:
            raise InvalidInput(
                f"the region {self.describe()} is empty or starts outside the frame: x and y must be 0 or "
                "more, width and height 1 or more"
            )

    @property
    def right(self) -> int:
        return self.x + self.width

    @property
    def bottom(self) -> int:
        return self.y + self.height

    def describe(self) -> str:
        return f"x={self.x} y={self.y} {self.width}x{self.height}"


def check_region_side(width: int, height: int, what: str, remedy: str) -> None:
    """InvalidInput naming `what` (the ROI, the image), its size and the minimum when a width x height region
    the model would see has a side under MIN_REGION_SIDE; `remedy` says what to send instead."""
    if min(width, height) < MIN_REGION_SIDE:
        side = MIN_REGION_SIDE
        raise InvalidInput(
            f"{what} is {width}x{height} pixels, smaller than the {side}x{side} the model needs at least: "
            f"enlarged to the model's input it shows blur, not the part; {remedy}"
        )


def check_roi(roi: Rect) -> None:
    """InvalidInput when a region of interest is too small for the model (check_region_side)."""
    check_region_side(
        roi.width,
        roi.height,
        f"the region of interest at x={roi.x} y={roi.y}",
        f"choose one of at least {MIN_REGION_SIDE} pixels a side",
    )


def check_tile_size(tile_size: int) -> None:
    """InvalidInput unless tile_size is 0 (no tiling) or within MIN_TILE_SIZE..MAX_TILE_SIZE."""
    if tile_size != 0 and not MIN_TILE_SIZE <= tile_size <= MAX_TILE_SIZE:
        raise InvalidInput(
            f"tile_size {tile_size} is out of range: use 0 (the whole frame or ROI as one model input) or "
            f"{MIN_TILE_SIZE} to {MAX_TILE_SIZE} frame pixels"
        )


@dataclass(frozen=True)
class FramePlan:
    """How one frame becomes model inputs.

    tiles: the squares (or, without tiling, the one ROI rectangle) each resized to one model input, in frame
    pixels; shrink: the power of two the frame may be shrunk by before cropping, keeping every tile at least
    the model's input size (a JPEG is decoded at it).
    """

    frame_size: tuple[int, int]  # (H, W)
    roi: Rect
    tiles: tuple[Rect, ...]
    tiled: bool
    input_size: int
    shrink: int
    pose: Pose | None = field(default=None, compare=False)  # an aligned frame's pose (patchcore.align)

    def patch_cells(self, grid: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """([T, h, w] rows, [T, h, w] columns) int: the cell of each patch of each tile's (h, w) patch grid in
        a grid of patch-sized cells laid over the ROI from its top-left corner. A tile's grid is placed at the
        cells nearest to it, so where tiles overlap, the patches of two tiles that see the same part of the
        frame share a cell; elsewhere (and without tiling) each patch has a cell of its own."""
        grid_h, grid_w = grid
        tile_h, tile_w = self.tiles[0].height, self.tiles[0].width
        tops = np.array([math.floor((tile.y - self.roi.y) * grid_h / tile_h + 0.5) for tile in self.tiles])
        lefts = np.array([math.floor((tile.x - self.roi.x) * grid_w / tile_w + 0.5) for tile in self.tiles])
        rows = tops[:, None, None] + np.arange(grid_h)[None, :, None]
        cols = lefts[:, None, None] + np.arange(grid_w)[None, None, :]
        shape = (len(self.tiles), grid_h, grid_w)
        return np.broadcast_to(rows, shape), np.broadcast_to(cols, shape)

    def patch_locations(self, grid: tuple[int, int]) -> np.ndarray:
        """[T, h, w] int: where on the ROI each patch lies, as the index of its cell (patch_cells)."""
        rows, cols = self.patch_cells(grid)
        return rows * (int(cols.max()) + 1) + cols

    def near(self, marked: np.ndarray, cells: int) -> np.ndarray:
        """marked: [T, h, w] bool over the patches of each tile -> [T, h, w] bool: the patches whose cell
        (patch_cells) lies within `cells` cells of a marked patch's, across tiles, along both axes."""
        rows, cols = self.patch_cells(marked.shape[1:])
        board = np.zeros((int(rows.max()) + 1, int(cols.max()) + 1), np.uint8)
        board[rows[marked], cols[marked]] = 1
        kernel = np.ones((2 * cells + 1, 2 * cells + 1), np.uint8)
        return cv2.dilate(board, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)[rows, cols] > 0


@dataclass(frozen=True)
class FrameView:
    """What a product's model sees of a frame: its ROI (None = the whole frame), tile size (0 = none),
    contrast stretch and alignment, for a model with input_size x input_size inputs. An aligning view's
    reference, and a view in frame pixels' frame_size, are None only until the first teach frame is seen
    (patchcore.prepare.prepare_teach_set)."""

    input_size: int
    roi: Rect | None = None
    tile_size: int = 0
    contrast_stretch: bool = False
    align: bool = False
    reference: Reference | None = field(default=None, compare=False)
    frame_size: tuple[int, int] | None = field(default=None, compare=False)  # (H, W): see in_frame_pixels

    def __post_init__(self) -> None:
        check_tile_size(self.tile_size)

    @property
    def in_frame_pixels(self) -> bool:
        """Whether what the model sees is set in the teach frames' pixels (an ROI, tiles, alignment): a frame
        of another size would be cut elsewhere or at another scale, so every frame must have their size."""
        return self.roi is not None or bool(self.tile_size) or self.align

    def region(self, width: int, height: int) -> Rect:
        """The part of a width x height frame the model sees: the ROI; without one the whole frame, or, when
        the view aligns, the frame without ALIGNED_MARGIN of each side (where a turned frame shows its edge
        pixels repeated instead of the part)."""
        if self.roi is not None:
            return self.roi
        if not self.align:
            return Rect(0, 0, width, height)
        left, top = round(width * ALIGNED_MARGIN), round(height * ALIGNED_MARGIN)
        return Rect(left, top, width - 2 * left, height - 2 * top)

    def shrink_for(self, width: int, height: int) -> int:
        """The largest of 8, 4, 2 by which a width x height frame can be shrunk with each tile (or the ROI,
        or the frame) keeping at least input_size pixels on its shorter side; else 1."""
        region = self.region(width, height)
        side = min(region.width, region.height)
        if self.tile_size:
            side = min(side, self.tile_size)
        return next((factor for factor in SHRINK_FACTORS if side // factor >= self.input_size), 1)

    def plan(self, frame_size: tuple[int, int], pose: Pose | None = None) -> FramePlan:
        """The plan for a frame of frame_size (H, W), aligned with pose when the view aligns. InvalidInput
        when the ROI is not inside the frame or, without an ROI, the frame is under MIN_REGION_SIDE a side;
        TooLarge when the frame needs more than MAX_TILES_PER_FRAME tiles."""
        height, width = frame_size
        if self.frame_size is not None and (height, width) != tuple(self.frame_size):
            raise InvalidInput(
                f"the frame is {width}x{height} but this product was taught on {self.frame_size[1]}x"
                f"{self.frame_size[0]} frames, with {self._in_pixels()} in their pixels: send frames of that "
                "size, or teach the product again with frames of this size"
            )
        roi = self.region(width, height)
        if roi.right > width or roi.bottom > height:
            raise InvalidInput(
                f"the region of interest ({roi.describe()}) is not inside the {width}x{height} frame"
            )
        if self.roi is None:
            self._check_frame_side(roi)
        tiles = _tiles(roi, self.tile_size) if self.tile_size else (roi,)
        return FramePlan(
            frame_size=(height, width),
            roi=roi,
            tiles=tiles,
            tiled=bool(self.tile_size),
            input_size=self.input_size,
            shrink=self.shrink_for(width, height),
            pose=pose,
        )

    def _check_frame_side(self, region: Rect) -> None:
        """InvalidInput when the part of a frame a product without an ROI sees is too small for the model
        (an ROI is checked when the product's options are made: patchcore.bank.TeachOptions)."""
        what = "the image"
        if self.align:
            what += f" without the margins alignment leaves out ({ALIGNED_MARGIN:.0%} of each side)"
        check_region_side(region.width, region.height, what, "send larger images")

    def _in_pixels(self) -> str:
        """What of the product is set in frame pixels, for messages (an aligning product's frames of another
        size are refused before, by the alignment: patchcore.align)."""
        parts = [f"a region of interest ({self.roi.describe()})"] if self.roi is not None else []
        parts += [f"{self.tile_size}-pixel tiles"] if self.tile_size else []
        return " and ".join(parts)


def _starts(length: int, side: int) -> list[int]:
    """Start offsets of ceil(length / side) windows of `side` spread evenly over [0, length]."""
    count = math.ceil(length / side)
    if count == 1:
        return [0]
    return [round(index * (length - side) / (count - 1)) for index in range(count)]


def _tiles(roi: Rect, tile_size: int) -> tuple[Rect, ...]:
    """Square tiles covering roi (TooLarge beyond MAX_TILES_PER_FRAME)."""
    side = min(tile_size, roi.width, roi.height)
    count = math.ceil(roi.width / side) * math.ceil(roi.height / side)
    if count > MAX_TILES_PER_FRAME:
        remedy = (
            "use a larger tile_size or a smaller region of interest"
            if side == tile_size
            else f"tiles are at most as large as the region's short side ({side} pixels): use tile_size 0 "
            "or a less elongated region of interest"
        )
        raise TooLarge(
            f"the {roi.width}x{roi.height} region needs {count} tiles of {side} pixels; at most "
            f"{MAX_TILES_PER_FRAME} per frame: {remedy}"
        )
    return tuple(
        Rect(roi.x + left, roi.y + top, side, side)
        for top in _starts(roi.height, side)
        for left in _starts(roi.width, side)
    )
