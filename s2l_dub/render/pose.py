"""Pose-controllable synthesis (paper Sec. 5.4): the head re-rendered at another pose.

Each observed pixel is lifted to 3D with the actor's full-head depth (the prepared mesh
plus the offset the model learned), turned to the new pose about the head's own origin,
and forward-warped into the frame. Pixels the old view never saw come out as holes.
Around the head the motion fades out over a band, so hair, neck and background bend
instead of tearing. Holes in the mouth window are left for Blend-Net, which learned to
fill them from black-hole augmentation; the rest are inpainted.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import torch
from scipy.ndimage import distance_transform_edt

from ..face.depth import render_depth
from ..face.geometry import project, rotation_matrices
from ..face.warp import map_points
from ..model.gamem import invert, map_pixels, pixel_grid, sample


@dataclasses.dataclass(frozen=True)
class PoseConfig:
    yaw_deg: float = 0.0
    """Turn the head about its vertical axis, added to every frame's own pose."""
    pitch_deg: float = 0.0
    """Nod the head (positive: chin down), added to every frame's own pose."""
    max_change_deg: float = 20.0
    """Larger changes are capped: beyond this, forward warping leaves more hole than face."""
    falloff: float = 0.35
    """Width of the band around the head where motion fades out, in lower-face widths."""

    @property
    def offsets_active(self) -> bool:
        return self.yaw_deg != 0 or self.pitch_deg != 0


def offset_rotation(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """Camera-frame rotation turning a head by ``yaw_deg`` then ``pitch_deg`` (OpenCV axes, y down)."""
    yaw, pitch = np.radians(yaw_deg), np.radians(pitch_deg)
    about_y = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    about_x = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
    return about_x @ about_y


HEAD_PIVOT_M = np.array([0.0, 0.04, 0.08])
"""Where a head turns about, in model space (metres from the brows: down, and back into the
skull). Turning about the brows instead would barely move the face."""


def target_poses(rvecs: np.ndarray, tvecs: np.ndarray, config: PoseConfig,
                 driving: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """(n, 3, 3) rotations and (n, 3) translations to render each frame at, and how many were capped.

    ``driving`` (m, 3) takes over each frame's rotation from another clip (its last pose
    held when it is shorter); the yaw/pitch offsets then apply on top. The head turns
    about ``HEAD_PIVOT_M``, so it stays where it was in the frame.
    """
    own = rotation_matrices(np.nan_to_num(rvecs))
    translations = np.nan_to_num(tvecs)
    wanted = own.copy()
    if driving is not None:
        held = np.minimum(np.arange(len(rvecs)), len(driving) - 1)
        chosen = driving[held]
        usable = np.isfinite(chosen).all(-1)
        wanted[usable] = rotation_matrices(chosen[usable])
    wanted = offset_rotation(config.yaw_deg, config.pitch_deg)[None] @ wanted
    capped = 0
    limit = np.radians(config.max_change_deg)
    for i in range(len(wanted)):
        axis_angle = cv2.Rodrigues(wanted[i] @ own[i].T)[0].ravel()
        angle = float(np.linalg.norm(axis_angle))
        if angle > limit:
            wanted[i] = cv2.Rodrigues(axis_angle * (limit / angle))[0] @ own[i]
            capped += 1
    pivot_moves = np.einsum("nij,j->ni", own, HEAD_PIVOT_M) - np.einsum("nij,j->ni", wanted, HEAD_PIVOT_M)
    return wanted, translations + pivot_moves, capped


@dataclasses.dataclass
class Reposed:
    image: np.ndarray
    """(h, w, 3) uint8 the box re-rendered at the new pose, holes filled by inpainting."""
    holes: np.ndarray
    """(h, w) bool: pixels the old view never saw (before filling)."""
    changed: np.ndarray
    """(h, w) float32 in 0..1: how much each pixel differs from the source (the compositing weight)."""
    box: tuple[int, int, int, int]
    """(x0, y0, w, h) in source pixels."""


def head_box(vertices: np.ndarray, poses: list[tuple[np.ndarray, np.ndarray]], K: np.ndarray, margin_px: float,
             frame_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """Box around the head at every pose in ``poses`` ((R, t) pairs) plus the fade-out band, inside the frame."""
    points = np.concatenate([project(vertices, R, t, K) for R, t in poses])
    x0, y0 = np.floor(points.min(0) - margin_px).astype(int)
    x1, y1 = np.ceil(points.max(0) + margin_px).astype(int)
    height, width = frame_hw
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(width, x1), min(height, y1)
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def repose(frame: np.ndarray, depth: np.ndarray, K: np.ndarray, pose_from: tuple[np.ndarray, np.ndarray],
           pose_to: tuple[np.ndarray, np.ndarray], box: tuple[int, int, int, int], falloff_px: float) -> Reposed:
    """Forward-warp the head in ``box`` of ``frame`` from one pose (R, t) to another.

    ``depth`` (h, w) is the camera depth over the box, NaN off the head.
    """
    x0, y0, w, h = box
    on_head = np.isfinite(depth)
    grid = np.stack(np.meshgrid(np.arange(x0, x0 + w, dtype=np.float64), np.arange(y0, y0 + h, dtype=np.float64)), -1)
    # Camera -> head model -> camera at the new pose: X' = R_to R_from^T (X - t_from) + t_to.
    (r_from, t_from), (r_to, t_to) = pose_from, pose_to
    turn = r_to @ r_from.T
    moved, _ = map_points(grid, np.where(on_head, depth, 1.0), K, K, turn, t_to - turn @ t_from)
    flow = np.where(on_head[..., None], moved - grid, 0.0)
    if on_head.any():
        distance, (iy, ix) = distance_transform_edt(~on_head, return_indices=True)
        weight = np.clip(1 - distance / max(falloff_px, 1.0), 0, 1)
        flow = flow[iy, ix] * weight[..., None]
        # The mesh ends abruptly where the real head does not (temples, jaw line); a smooth
        # motion field bends the hair there instead of folding the skin over it.
        sigma = max(falloff_px / 6, 1.0)
        flow = np.stack([cv2.GaussianBlur(flow[..., k].astype(np.float32), (0, 0), sigma) for k in range(2)], -1)
        depth_everywhere = np.where(on_head, depth, np.nanmax(depth) * 1.5)
    else:
        depth_everywhere = np.ones((h, w))
    landing = grid + flow - [x0, y0]
    source = frame[y0:y0 + h, x0:x0 + w]
    # Each pixel also lands on the four pixels around its new position: a surface stretched
    # by the turn (up to 2x) then leaves no cracks, and only real disocclusions stay holes.
    sy, sx, ty, tx = [], [], [], []
    for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
        tx_k = np.floor(landing[..., 0]).astype(np.int64) + dx
        ty_k = np.floor(landing[..., 1]).astype(np.int64) + dy
        inside = (tx_k >= 0) & (tx_k < w) & (ty_k >= 0) & (ty_k < h)
        ys, xs = np.nonzero(inside)
        sy.append(ys), sx.append(xs), ty.append(ty_k[ys, xs]), tx.append(tx_k[ys, xs])
    sy, sx, ty, tx = (np.concatenate(v) for v in (sy, sx, ty, tx))
    # Write worst to best so the last write to each pixel is the one that shows: landings on
    # the nearest pixel beat the crack-filling neighbours, then the nearer surface wins, then
    # the closer landing.
    miss = np.abs(landing[sy, sx, 0] - tx) + np.abs(landing[sy, sx, 1] - ty)
    nearest = (np.round(landing[sy, sx, 0]) == tx) & (np.round(landing[sy, sx, 1]) == ty)
    order = np.lexsort((-miss, -np.round(depth_everywhere[sy, sx], 3), nearest))
    sy, sx, ty, tx = sy[order], sx[order], ty[order], tx[order]
    out = np.zeros_like(source)
    hit = np.zeros((h, w), bool)
    out[ty, tx] = source[sy, sx]
    hit[ty, tx] = True
    holes = ~hit
    filled = cv2.inpaint(out, holes.astype(np.uint8), 3, cv2.INPAINT_TELEA) if holes.any() else out
    moved_px = np.linalg.norm(flow, axis=-1)
    changed = np.clip(np.maximum(moved_px * 4, holes.astype(np.float64)), 0, 1).astype(np.float32)
    changed = cv2.dilate(changed, np.ones((3, 3), np.uint8))
    return Reposed(image=filled, holes=holes, changed=changed, box=box)


def head_depth(vertices: np.ndarray, triangles: np.ndarray, rvec: np.ndarray, tvec: np.ndarray, K: np.ndarray,
               box: tuple[int, int, int, int], learned_offset: torch.Tensor | None = None, crop=None) -> np.ndarray:
    """Camera depth over ``box`` (source pixels): the actor's head mesh refined by the learned depth.

    ``learned_offset`` (C, C) is the model's correction of the canonical crop depth; ``crop``
    = (origin_xy, scale, K_crop, K_canonical, rel_R, rel_t) maps box pixels into the
    canonical crop to look it up. The correction is taken along the observed camera's z,
    a close approximation for the moderate turns pose control allows.
    """
    x0, y0, w, h = box
    depth = render_depth(vertices, triangles, rvec, tvec, K, (x0, y0, w, h), (w, h))
    if learned_offset is None or crop is None:
        return depth
    origin, scale, K_crop, K_canonical, rel_R, rel_t = crop
    grid = pixel_grid(x0, y0, w, h)
    crop_uv = (grid - torch.as_tensor(origin, dtype=torch.float32) + 0.5) * scale - 0.5
    inv_R, inv_t = invert(rel_R[None], rel_t[None])
    known = torch.from_numpy(np.nan_to_num(depth, nan=1.0)).float()
    canonical_uv = map_pixels(crop_uv[None], known[None], K_crop[None], K_canonical[None], inv_R, inv_t)
    offset = sample(learned_offset[None, None].float(), canonical_uv)[0, 0].numpy()
    return np.where(np.isfinite(depth), depth + offset, np.nan).astype(np.float32)
