import numpy as np

from patchcore.overlay import BOX_COLOUR, render_overlay
from patchcore.regions import Region


def test_overlay_is_an_rgb_frame_with_the_verdicts_regions_boxed():
    rgb = np.full((100, 120, 3), 128, np.uint8)
    heatmap = np.zeros((100, 120), np.float32)
    heatmap[40:60, 50:80] = 1.0
    region = Region(x=50, y=40, width=30, height=20, area=600, peak_score=1.0)
    overlay = render_overlay(rgb, heatmap, 0.5, [region])
    assert overlay.shape == rgb.shape and overlay.dtype == np.uint8
    assert tuple(overlay[40, 65]) == BOX_COLOUR  # top edge of the box
    assert tuple(overlay[10, 10]) != tuple(overlay[50, 65])  # cold and hot areas get different colours
    assert overlay[50, 65, 0] > overlay[50, 65, 2]  # hot is red-ish in RGB


def test_only_the_regions_given_are_boxed():
    rgb = np.zeros((50, 50, 3), np.uint8)
    heatmap = np.zeros((50, 50), np.float32)
    heatmap[10:20, 10:20] = 1.0  # above the threshold, but left out of the verdict (min_region_area)
    overlay = render_overlay(rgb, heatmap, 0.5, [])
    assert not (overlay == 255).all(axis=2).any()
