"""Dense head depth from the fitted 3D landmark shape.

The 68 landmarks are extended with a forehead and cheek ring so the mesh covers the
whole lower head and brow, triangulated once in model space, and rasterised with a
z-buffer under any pose. Outside the mesh the canonical map is filled from its
nearest measured pixel; the model later refines this map (the paper's learnable
full-head depth), and the ``measured`` mask says which pixels came from the mesh.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import distance_transform_edt
from scipy.spatial import Delaunay

from .geometry import IOD_M, project, rotation_matrices


def head_mesh(shape: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (N, 3) and triangles (M, 3) of a face-and-forehead mesh around the landmarks."""
    unit = IOD_M
    brows = shape[17:27]
    centre_x = shape[[0, 16], 0].mean()
    forehead = brows + np.array([0, -0.55 * unit, 0.12 * unit])
    forehead[:, 0] = centre_x + (brows[:, 0] - centre_x) * 0.95
    crown = brows + np.array([0, -1.1 * unit, 0.35 * unit])
    crown[:, 0] = centre_x + (brows[:, 0] - centre_x) * 0.8
    cheeks = shape[0:17].copy()
    outward = np.sign(cheeks[:, 0] - centre_x)[:, None] * np.array([0.18 * unit, 0, 0])
    cheeks = cheeks + outward + np.array([0, 0.05 * unit, 0.35 * unit])
    vertices = np.concatenate([shape, forehead, crown, cheeks])
    triangles = Delaunay(vertices[:, :2]).simplices.astype(np.int32)
    return vertices, triangles


def render_depth(vertices: np.ndarray, triangles: np.ndarray, rvec: np.ndarray, tvec: np.ndarray, K: np.ndarray,
                 box: tuple[float, float, float, float], size: tuple[int, int]) -> np.ndarray:
    """Camera-z depth (H, W) float32 of the mesh over ``box`` = (x0, y0, w, h) sampled at ``size`` = (W, H).

    NaN where no triangle covers the pixel.
    """
    x0, y0, w, h = box
    out_w, out_h = size
    R = rotation_matrices(np.asarray(rvec, np.float64))
    cam_z = (vertices @ R.T + tvec)[:, 2]
    uv = project(vertices, R, np.asarray(tvec, np.float64), K)
    # Into output-pixel units so the raster loop works on integer grids.
    px = (uv[:, 0] - x0 + 0.5) * (out_w / w) - 0.5
    py = (uv[:, 1] - y0 + 0.5) * (out_h / h) - 0.5
    depth = np.full((out_h, out_w), np.inf)
    for tri in triangles:
        xs, ys, zs = px[tri], py[tri], cam_z[tri]
        lo_x, hi_x = max(int(np.ceil(xs.min())), 0), min(int(np.floor(xs.max())), out_w - 1)
        lo_y, hi_y = max(int(np.ceil(ys.min())), 0), min(int(np.floor(ys.max())), out_h - 1)
        if lo_x > hi_x or lo_y > hi_y:
            continue
        gx, gy = np.meshgrid(np.arange(lo_x, hi_x + 1), np.arange(lo_y, hi_y + 1))
        den = (ys[1] - ys[2]) * (xs[0] - xs[2]) + (xs[2] - xs[1]) * (ys[0] - ys[2])
        if abs(den) < 1e-9:
            continue
        a = ((ys[1] - ys[2]) * (gx - xs[2]) + (xs[2] - xs[1]) * (gy - ys[2])) / den
        b = ((ys[2] - ys[0]) * (gx - xs[2]) + (xs[0] - xs[2]) * (gy - ys[2])) / den
        c = 1 - a - b
        inside = (a >= -1e-6) & (b >= -1e-6) & (c >= -1e-6)
        if not inside.any():
            continue
        z = a * zs[0] + b * zs[1] + c * zs[2]
        region = depth[lo_y:hi_y + 1, lo_x:hi_x + 1]
        np.minimum(region, np.where(inside, z, np.inf), out=region)
    depth[np.isinf(depth)] = np.nan
    return depth.astype(np.float32)


def fill_outside(depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fill NaNs with the nearest measured depth; returns (filled, measured mask)."""
    measured = np.isfinite(depth)
    if not measured.any():
        return depth, measured
    _, (iy, ix) = distance_transform_edt(~measured, return_indices=True)
    return depth[iy, ix], measured
