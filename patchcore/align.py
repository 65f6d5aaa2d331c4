"""Alignment: each frame of a product taught with `align` is turned and shifted back onto its first teach
frame before anything else, so a part that sits a few pixels off or a few degrees turned in its fixture is
compared with the bank where it was taught, and its region of interest follows it.

The pose (a rotation and a shift) is found by ECC (OpenCV's findTransformECC, Euclidean motion) between
small, blurred grey copies of the two frames, REFERENCE_SIDE pixels on their longer side, started from the
turn and shift that phase correlation finds: the frame's copy is turned back by each of START_TURNS about
its centre and phase-correlated with the reference's, and the turn that correlates best, with its shift, is
the start. So shifts of up to a fifth of the frame are found together with turns of up to about 10 degrees:
phase correlation of the copy as it came finds no shift once it is turned by more than a few degrees, and
ECC started from a wrong shift fails or settles on a wrong pose. ECC compares zero-mean, unit-variance
intensities, so a change of gain or offset does not move it. A frame it cannot align (ECC does not
converge, or the result correlates less than MIN_CORRELATION with the reference: another part, an empty
fixture) is inspected as it came.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from patchcore.errors import InvalidInput

REFERENCE_SIDE = 128  # pixels on the longer side of the copies the pose is estimated on
# ... unless that leaves the shorter side under MIN_SHORT_SIDE (an elongated frame): then the copy is larger,
# up to MAX_LONG_SIDE; either way one scale for both sides, so a turn stays a turn.
MIN_SHORT_SIDE = 32
MAX_LONG_SIDE = 1024
_MIN_SIDE = 8  # phase correlation's window needs more than 1 pixel each way (frames thinner than 8 px)
_BLUR_SIGMA = 1.0  # in those pixels: smooths away sensor noise and JPEG blocks
_ECC_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-4)
# The turns (degrees) the pose search starts from, 2 degrees apart: the copy turned back by the nearest one
# is at most a degree off (about a pixel at the copy's edge), where phase correlation still finds the shift.
START_TURNS = tuple(range(-12, 13, 2))
# Below this correlation between the turned frame and the reference, the pose is not trusted: the part moved
# frames correlate at 0.95 or more, another part or an empty fixture near 0.
MIN_CORRELATION = 0.5

Pose = np.ndarray  # [2, 3] float64 affine: reference frame pixels (x, y) -> this frame's pixels


@dataclass(frozen=True, eq=False)
class Reference:
    """The first teach frame as alignment sees it: a small grey copy and the frame's own size."""

    grey: np.ndarray  # [h, w] uint8, the frame's aspect, REFERENCE_SIDE on the longer side (see _small_size)
    frame_size: tuple[int, int]  # (H, W) of the teach frame

    @classmethod
    def of(cls, rgb: np.ndarray, frame_size: tuple[int, int]) -> Reference:
        """rgb: the decoded teach frame (possibly shrunk); frame_size: its own (H, W)."""
        return cls(_small_grey(rgb, _small_size(frame_size)), frame_size)

    @cached_property
    def _template(self) -> np.ndarray:
        return _blurred(self.grey)

    @cached_property
    def _window(self) -> np.ndarray:
        return cv2.createHanningWindow(self.grey.shape[::-1], cv2.CV_32F)

    def pose_of(self, rgb: np.ndarray, frame_size: tuple[int, int]) -> Pose:
        """The pose of a frame (decoded as rgb, its own size frame_size) relative to this reference, in frame
        pixels. InvalidInput when the frame's size is not the teach frame's."""
        if tuple(frame_size) != self.frame_size:
            height, width = self.frame_size
            raise InvalidInput(
                f"the frame is {frame_size[1]}x{frame_size[0]}; this product aligns frames to its "
                f"{width}x{height} teach frames, so every frame must have that size"
            )
        small = _blurred(_small_grey(rgb, self.grey.shape))
        warp = self._start(small)  # ECC then refines the pose from near the answer
        try:
            correlation, warp = cv2.findTransformECC(
                self._template, small, warp, cv2.MOTION_EUCLIDEAN, _ECC_CRITERIA, None, 1
            )
        except cv2.error:
            return np.eye(2, 3)
        if not correlation >= MIN_CORRELATION:
            return np.eye(2, 3)
        small_height, small_width = self.grey.shape
        return scaled_pose(
            warp.astype(np.float64), (frame_size[1] / small_width, frame_size[0] / small_height)
        )

    def _start(self, small: np.ndarray) -> np.ndarray:
        """[2, 3] float32, reference pixels -> small's (the frame's blurred grey copy): the turn of
        START_TURNS whose turned-back copy phase-correlates best with the reference, with the shift found
        there."""
        height, width = small.shape
        centre = ((width - 1) / 2, (height - 1) / 2)
        best, start = -np.inf, np.eye(2, 3)
        for turn in START_TURNS:
            turning = cv2.getRotationMatrix2D(centre, turn, 1.0)  # turned-back pixels -> small's
            turned_back = cv2.warpAffine(
                small,
                turning,
                (width, height),
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REPLICATE,
            )
            # phaseCorrelate applies its window to its inputs in place: the template gets a copy.
            shift, response = cv2.phaseCorrelate(self._template.copy(), turned_back, self._window)
            if response > best:
                # a reference pixel x is turned_back's x + shift, which is small's turning @ (x + shift)
                best, start = response, turning.copy()
                start[:, 2] = turning @ [shift[0], shift[1], 1.0]
        return start.astype(np.float32)

    def to_json(self) -> dict:
        return {
            "frame_size": list(self.frame_size),
            "shape": list(self.grey.shape),
            "grey": base64.b64encode(self.grey.tobytes()).decode(),
        }

    @classmethod
    def from_json(cls, fields: dict) -> Reference:
        grey = np.frombuffer(base64.b64decode(fields["grey"]), np.uint8).reshape(fields["shape"])
        return cls(grey.copy(), tuple(fields["frame_size"]))


def scaled_pose(pose: Pose, factors: tuple[float, float]) -> Pose:
    """A pose between images of one size -> the same pose between images (fx, fy) times larger (pixel
    centres kept: a pixel's centre x maps to (x + 0.5) * fx - 0.5, y likewise)."""
    scale = np.diag([*factors, 1.0])
    scale[:2, 2] = 0.5 * np.asarray(factors) - 0.5
    homogeneous = np.vstack([pose, [0.0, 0.0, 1.0]])
    return (scale @ homogeneous @ np.linalg.inv(scale))[:2]


def aligned(
    rgb: np.ndarray, pose: Pose, frame_size: tuple[int, int], region: tuple[int, int, int, int]
) -> np.ndarray:
    """rgb (a frame decoded at its size or shrunk) turned and shifted onto the reference, only within
    region (x, y, width, height in frame pixels: what the model will see; 0 elsewhere); where the reference
    saw beyond this frame's edge, the edge pixels are repeated."""
    height, width = rgb.shape[:2]
    scale_x, scale_y = width / frame_size[1], height / frame_size[0]
    x, y, region_width, region_height = region
    left, top = max(math.floor(x * scale_x), 0), max(math.floor(y * scale_y), 0)
    right = min(math.ceil((x + region_width) * scale_x), width)
    bottom = min(math.ceil((y + region_height) * scale_y), height)
    local = scaled_pose(pose, (scale_x, scale_y))
    local[:, 2] += local[:, :2] @ [left, top]  # the output starts at (left, top) of the reference
    out = np.zeros_like(rgb)
    out[top:bottom, left:right] = cv2.warpAffine(
        rgb,
        local,
        (right - left, bottom - top),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return out


def to_frame(heatmap: np.ndarray, pose: Pose) -> np.ndarray:
    """A frame-sized map in reference pixels -> the same map on the frame as it came (0 where the frame
    shows what the reference did not)."""
    height, width = heatmap.shape
    return cv2.warpAffine(heatmap, pose, (width, height), flags=cv2.INTER_LINEAR, borderValue=0.0)


def rect_on_reference(x: int, y: int, width: int, height: int, pose: Pose) -> tuple[int, int, int, int]:
    """A rectangle in the pixels of the frame as it came -> the rectangle around it on the reference (x, y,
    width, height), for pictures of what the model saw."""
    corners = np.array([[x, y], [x + width, y], [x, y + height], [x + width, y + height]], dtype=np.float64)
    inverse = cv2.invertAffineTransform(pose)
    moved = corners @ inverse[:, :2].T + inverse[:, 2]
    low, high = np.floor(moved.min(axis=0)), np.ceil(moved.max(axis=0))
    return int(low[0]), int(low[1]), int(high[0] - low[0]), int(high[1] - low[1])


def _small_size(frame_size: tuple[int, int]) -> tuple[int, int]:
    height, width = frame_size
    longer, shorter = max(height, width), min(height, width)
    scale = min(max(REFERENCE_SIDE / longer, MIN_SHORT_SIDE / shorter), MAX_LONG_SIDE / longer)
    return max(round(height * scale), _MIN_SIDE), max(round(width * scale), _MIN_SIDE)


def _small_grey(rgb: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def _blurred(grey: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(grey.astype(np.float32), (0, 0), _BLUR_SIGMA)
