"""GAMEM's geometric mapping between canonical and observed views (NumPy reference).

A pixel in one view, lifted to 3D with that view's depth, moved by the relative head
pose and projected into the other view (paper Eq. 3-5). Backward warping samples the
source image at the mapped positions, so every target pixel gets a value.
"""

from __future__ import annotations

import cv2
import numpy as np


def lift(uv: np.ndarray, depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pixels (..., 2) with camera-z depth (...) -> camera-space points (..., 3)."""
    x = (uv[..., 0] - K[0, 2]) / K[0, 0]
    y = (uv[..., 1] - K[1, 2]) / K[1, 1]
    return np.stack([x * depth, y * depth, depth], -1)


def to_pixels(points: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Camera-space points (..., 3) -> pixels (..., 2) and their depth (...)."""
    z = points[..., 2]
    u = K[0, 0] * points[..., 0] / z + K[0, 2]
    v = K[1, 1] * points[..., 1] / z + K[1, 2]
    return np.stack([u, v], -1), z


def map_points(uv: np.ndarray, depth: np.ndarray, K_src: np.ndarray, K_dst: np.ndarray, rotation: np.ndarray,
               translation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map pixels of the source view into the destination view, ``X_dst = R X_src + t``."""
    moved = lift(uv, depth, K_src) @ rotation.T + translation
    return to_pixels(moved, K_dst)


def invert_pose(rotation: np.ndarray, translation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return rotation.T, -rotation.T @ translation


def pixel_grid(box: tuple[float, float, float, float], size: tuple[int, int]) -> np.ndarray:
    """Image-space pixel centres (H, W, 2) of a ``size`` = (W, H) sampling of box (x0, y0, w, h)."""
    x0, y0, w, h = box
    out_w, out_h = size
    xs = x0 + (np.arange(out_w) + 0.5) * (w / out_w) - 0.5
    ys = y0 + (np.arange(out_h) + 0.5) * (h / out_h) - 0.5
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx, gy], -1)


def backward_warp(source: np.ndarray, target_grid: np.ndarray, target_depth: np.ndarray, K_target: np.ndarray,
                  K_source: np.ndarray, rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """Render the target view by sampling ``source`` where each target pixel lands in it.

    ``rotation``/``translation`` map target-camera points to source-camera points. Pixels
    without depth (NaN) come out black.
    """
    src_uv, _ = map_points(target_grid, target_depth, K_target, K_source, rotation, translation)
    valid = np.isfinite(src_uv).all(-1)
    maps = np.where(valid[..., None], src_uv, -1e4).astype(np.float32)
    return cv2.remap(source, maps[..., 0], maps[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
