"""The page's pictures of a frame: the region of interest as the model saw it, and its overlay."""

from __future__ import annotations

import cv2
import numpy as np

from patchcore.geometry import FrameView, Rect
from patchcore.prepare import PreparedFrame
from patchcore.regions import Region
from server.web.pictures import overlay_jpeg, roi_picture
from server.web.recorder import FrameRecord

COLOURS = [(200, 0, 0), (0, 200, 0), (0, 0, 200), (200, 200, 0)]


def _tiled() -> PreparedFrame:
    """A 128x256 frame in 64-pixel tiles (2 rows of 4), each tile's model input one flat colour."""
    plan = FrameView(input_size=32, tile_size=64).plan((128, 256))
    inputs = np.stack(
        [np.full((32, 32, 3), COLOURS[index % 4], np.uint8) for index in range(len(plan.tiles))]
    )
    return PreparedFrame(inputs=inputs, plan=plan)


def test_a_tiled_frame_is_put_back_together_tile_by_tile():
    prepared = _tiled()
    picture = roi_picture(prepared, side=256)
    assert picture.shape == (128, 256, 3)
    for index, tile in enumerate(prepared.plan.tiles):
        centre = picture[tile.y + tile.height // 2, tile.x + tile.width // 2]
        assert tuple(centre) == COLOURS[index % 4]


def test_an_untiled_roi_gets_its_aspect_ratio_back_in_the_overlay():
    plan = FrameView(input_size=64, roi=Rect(10, 20, 300, 100)).plan((480, 640))
    prepared = PreparedFrame(inputs=np.zeros((1, 64, 64, 3), np.uint8), plan=plan)
    frame = FrameRecord(
        seq=1, version=1, unix=0.0, score=0.0, anomalous=False, threshold=0.2, regions=[], plan=plan,
        grids=np.zeros((1, 8, 8), np.float32), picture=roi_picture(prepared), image=None,
    )  # fmt: skip
    assert cv2.imdecode(np.frombuffer(overlay_jpeg(frame, 150), np.uint8), 1).shape == (50, 150, 3)


def test_the_overlay_shows_the_hot_patch_and_boxes_the_region_at_its_size():
    view = FrameView(input_size=64, roi=Rect(100, 0, 200, 200))
    plan = view.plan((200, 400))
    grids = np.zeros((1, 8, 8), np.float32)
    grids[0, 1, 6] = 1.0  # hot patch: ROI pixels x 150-175, y 25-50
    picture = np.full((256, 256, 3), 128, np.uint8)
    region = Region(x=240, y=20, width=40, height=40, area=1600, peak_score=1.0)  # frame pixels
    frame = FrameRecord(
        seq=1, version=1, unix=0.0, score=1.0, anomalous=True, threshold=0.2, regions=[region], plan=plan,
        grids=grids, picture=picture, image=None,
    )  # fmt: skip
    overlay = cv2.cvtColor(
        cv2.imdecode(np.frombuffer(overlay_jpeg(frame, 100), np.uint8), 1), cv2.COLOR_BGR2RGB
    )
    assert overlay.shape == (100, 100, 3)  # the 200x200 ROI at 100 pixels
    hot, cold = overlay[18, 81].astype(int), overlay[80, 20].astype(int)
    assert hot[0] - hot[2] > 60 and cold[2] - cold[0] > 30  # red where the patch scored, blue elsewhere
    assert overlay[10, 70:90].min() > 200  # the region's top edge (frame y 20 -> 10) is boxed in white
