"""GAMEM in torch: mapping pixels between the canonical and observed views (paper Eq. 3-5).

Everything works in crop space: each lower-face crop is treated as its own pinhole
camera (intrinsics shifted by the crop's origin and scaled by its resolution), so the
same maths maps a canonical crop pixel into any observed crop. Pixel centres sit at
integer coordinates, matching ``grid_sample(align_corners=True)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def crop_intrinsics(K, origin_xy, region_px: int, crop_px: int):
    """Intrinsics of a square crop of side ``region_px`` at ``origin_xy`` resampled to ``crop_px``.

    Works on NumPy or torch, with ``K`` (..., 3, 3) and ``origin_xy`` (..., 2).
    """
    s = crop_px / region_px
    out = K * 1.0
    out[..., 0, 0] = K[..., 0, 0] * s
    out[..., 1, 1] = K[..., 1, 1] * s
    out[..., 0, 2] = (K[..., 0, 2] - origin_xy[..., 0] + 0.5) * s - 0.5
    out[..., 1, 2] = (K[..., 1, 2] - origin_xy[..., 1] + 0.5) * s - 0.5
    return out


def pixel_grid(x0: float, y0: float, width: int, height: int, device=None) -> torch.Tensor:
    """(H, W, 2) pixel-centre coordinates of a width x height block starting at (x0, y0)."""
    ys = torch.arange(height, dtype=torch.float32, device=device) + y0
    xs = torch.arange(width, dtype=torch.float32, device=device) + x0
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy], -1)


def map_pixels(uv, depth, K_src, K_dst, rotation, translation):
    """Pixels (B, H, W, 2) with depth (B, H, W) in the source view -> pixels in the destination view.

    ``X_dst = R @ X_src + t``; K (B, 3, 3), R (B, 3, 3), t (B, 3).
    """
    fx, fy = K_src[:, 0, 0, None, None], K_src[:, 1, 1, None, None]
    cx, cy = K_src[:, 0, 2, None, None], K_src[:, 1, 2, None, None]
    points = torch.stack([(uv[..., 0] - cx) / fx * depth, (uv[..., 1] - cy) / fy * depth, depth], -1)
    moved = torch.einsum("bij,bhwj->bhwi", rotation, points) + translation[:, None, None, :]
    z = moved[..., 2].clamp(min=1e-4)
    u = K_dst[:, 0, 0, None, None] * moved[..., 0] / z + K_dst[:, 0, 2, None, None]
    v = K_dst[:, 1, 1, None, None] * moved[..., 1] / z + K_dst[:, 1, 2, None, None]
    return torch.stack([u, v], -1)


def invert(rotation, translation):
    r_inv = rotation.transpose(-1, -2)
    return r_inv, -torch.einsum("bij,bj->bi", r_inv, translation)


def sample(image, uv, box=None, mode: str = "bilinear"):
    """Sample ``image`` (B, C, H, W) at pixel coordinates ``uv`` (B, h, w, 2).

    ``box`` = (x0, y0, width, height) says which pixel coordinates the image covers
    (default: the image itself at the origin). Bilinear samples outside it are zero;
    bicubic ones repeat the edge, since a zero beside the edge would ring into it.
    Bicubic keeps edges: each bilinear warp widens them by up to a pixel, and the lips
    go through two (O2C for the targets, C2O into the frame).
    """
    _, _, height, width = image.shape
    x0, y0 = (0.0, 0.0) if box is None else (box[0], box[1])
    gx = (uv[..., 0] - x0) / max(width - 1, 1) * 2 - 1
    gy = (uv[..., 1] - y0) / max(height - 1, 1) * 2 - 1
    padding = "border" if mode == "bicubic" else "zeros"
    return F.grid_sample(image, torch.stack([gx, gy], -1), mode=mode, padding_mode=padding, align_corners=True)


class CanonicalDepth(nn.Module):
    """The learnable full-head depth of the canonical crop, initialised from the prepared mesh."""

    def __init__(self, initial: torch.Tensor):
        super().__init__()
        self.register_buffer("initial", initial.float().clone())
        self.offset = nn.Parameter(torch.zeros_like(self.initial))

    def forward(self) -> torch.Tensor:
        return self.initial + self.offset
