import numpy as np

from patchcore.overlay import BOX_COLOUR, render_overlay


def test_overlay_is_an_rgb_frame_with_the_hot_region_boxed():
    rgb = np.full((100, 120, 3), 128, np.uint8)
    heatmap = np.zeros((100, 120), np.float32)
    heatmap[40:60, 50:80] = 1.0
    overlay = render_overlay(rgb, heatmap, threshold=0.5)
    assert overlay.shape == rgb.shape and overlay.dtype == np.uint8
    assert tuple(overlay[40, 65]) == BOX_COLOUR  # top edge of the box
    assert tuple(overlay[10, 10]) != tuple(overlay[50, 65])  # cold and hot areas get different colours
    assert overlay[50, 65, 0] > overlay[50, 65, 2]  # hot is red-ish in RGB


def test_nothing_is_boxed_below_the_threshold():
    rgb = np.zeros((50, 50, 3), np.uint8)
    overlay = render_overlay(rgb, np.full((50, 50), 0.2, np.float32), threshold=0.5)
    assert not (overlay == 255).all(axis=2).any()
