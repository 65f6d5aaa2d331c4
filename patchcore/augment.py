"""Opt-in augmentation of training images for parts that can appear rotated or mirrored on the line."""

import numpy as np


def dihedral_views(rgb: np.ndarray) -> list[np.ndarray]:
    """The 8 rotations/reflections of a square image [S, S, 3]: itself first, then 90/180/270 degree
    rotations, then the mirror image and its three rotations."""
    mirrored = rgb[:, ::-1]
    rotations = [np.rot90(rgb, turns) for turns in range(4)]
    mirrored_rotations = [np.rot90(mirrored, turns) for turns in range(4)]
    return [np.ascontiguousarray(view) for view in rotations + mirrored_rotations]
