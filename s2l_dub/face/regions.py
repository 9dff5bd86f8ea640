"""Image regions the model works on: the per-frame lower face and the canonical lip box."""

from __future__ import annotations

import dataclasses

import numpy as np

from .landmark_sets import mouth_aperture


@dataclasses.dataclass(frozen=True)
class RegionConfig:
    lower_face_margin: float = 0.15
    """Margin around nose-to-chin, jaw-to-jaw, as a share of the region's side."""
    lip_box_width_factor: float = 1.5
    """Lip box width as a multiple of the mouth's width (95th percentile over the footage)."""
    lip_box_aspect: float = 2 / 3
    """Height over width of the lip box (the reference uses 120x80)."""
    crop_max_px: int = 256
    """Cached lower-face crops are stored at most this size (the lip model is resolution-free)."""
    mask_feather: float = 0.2
    """Soft edge of the lip mask, as a share of the lip box's half-size."""


@dataclasses.dataclass
class LowerFace:
    size_px: int
    """Side of the square lower-face region, constant for the actor."""
    origins: np.ndarray
    """(T, 2) int32 top-left corner of the region per frame, inside the frame."""


def lower_face_regions(landmarks: np.ndarray, valid: np.ndarray, image_sizes: np.ndarray,
                       config: RegionConfig) -> LowerFace:
    lm = landmarks
    # Nose tip to chin and jaw to jaw: everything that moves when the actor speaks.
    top, bottom = lm[:, 30, 1], lm[:, 8, 1]
    left, right = lm[:, 3, 0], lm[:, 13, 0]
    extent = np.maximum(right - left, bottom - top) * (1 + 2 * config.lower_face_margin)
    size = int(np.ceil(np.nanpercentile(extent[valid], 99) / 16) * 16)
    size = int(min(size, image_sizes.min()))
    centre = np.stack([(left + right) / 2, (top + bottom) / 2], -1)
    origins = np.zeros((len(lm), 2), np.int32)
    ok = valid & np.isfinite(centre).all(-1)
    origins[ok] = np.round(centre[ok] - size / 2).astype(np.int32)
    origins = np.clip(origins, 0, image_sizes - size)
    return LowerFace(size_px=size, origins=origins.astype(np.int32))


def lip_box(canonical_mouths: np.ndarray, config: RegionConfig) -> tuple[int, int, int, int]:
    """(x0, y0, w, h) in canonical-frame pixels around all frames' mouths seen in canonical view.

    ``canonical_mouths`` is (T, 20, 2): each frame's mouth landmarks mapped into the canonical view.
    """
    widths = np.linalg.norm(canonical_mouths[:, 6] - canonical_mouths[:, 0], axis=-1)
    width = np.nanpercentile(widths, 95) * config.lip_box_width_factor
    heights = np.nanmax(canonical_mouths[..., 1], 1) - np.nanmin(canonical_mouths[..., 1], 1)
    height = max(width * config.lip_box_aspect, np.nanpercentile(heights, 99) * 1.4)
    w, h = int(np.ceil(width / 2) * 2), int(np.ceil(height / 2) * 2)
    cx, cy = np.nanmedian(canonical_mouths.reshape(-1, 2), axis=0)
    return int(round(cx - w / 2)), int(round(cy - h / 2)), w, h


def lip_mask(width: int, height: int, feather: float) -> np.ndarray:
    """Soft ellipse filling the lip box: 1 inside, falling to 0 at the box edge."""
    ys, xs = np.mgrid[0:height, 0:width]
    r = np.sqrt(((xs + 0.5) / width * 2 - 1) ** 2 + ((ys + 0.5) / height * 2 - 1) ** 2)
    return np.clip((1 - r) / max(feather, 1e-6), 0, 1).astype(np.float32)


def choose_canonical(rvecs: np.ndarray, landmarks: np.ndarray, valid: np.ndarray) -> int:
    """Most frontal frame with the mouth closed (rotation angle in degrees + aperture penalty)."""
    idx = np.flatnonzero(valid & np.isfinite(rvecs).all(-1))
    angle = np.degrees(np.linalg.norm(rvecs[idx], axis=-1))
    aperture = mouth_aperture(landmarks[idx])
    return int(idx[np.argmin(angle + 30.0 * aperture)])




TIGHT_MOUTH_GROWTH = 0.25
"""The tight mouth box is the bounding box of the mouth landmarks (48-67) grown by this share
of its width and height: where a viewer looks, with lips, teeth and little skin."""


def tight_mouth_box(landmarks: np.ndarray, growth: float = TIGHT_MOUTH_GROWTH) -> np.ndarray:
    """(x0, y0, x1, y1) of the mouth landmarks' box grown by ``growth`` about its centre."""
    mouth = np.asarray(landmarks, np.float64)[48:68]
    lo, hi = mouth.min(0), mouth.max(0)
    centre, half = (lo + hi) / 2, (hi - lo) * (1 + growth) / 2
    return np.concatenate([centre - half, centre + half])


def patch_in_source_pixels(image: np.ndarray, box_source: np.ndarray, origin: np.ndarray,
                           scale: float) -> np.ndarray:
    """The part of a lower-face crop under a source-pixel box, resampled to source pixels.

    ``origin`` is the crop's top-left corner in the source frame and ``scale`` crop pixels per
    source pixel; metrics on the patch then count the pixels the viewer has, not the crop's.
    """
    import cv2

    x0, y0, x1, y1 = (np.asarray(box_source, np.float64) - np.tile(origin, 2)) * scale
    height, width = image.shape[:2]
    x0, y0 = int(np.clip(np.floor(x0), 0, width - 1)), int(np.clip(np.floor(y0), 0, height - 1))
    x1, y1 = int(np.clip(np.ceil(x1), x0 + 1, width)), int(np.clip(np.ceil(y1), y0 + 1, height))
    patch = image[y0:y1, x0:x1]
    size = (max(1, round((x1 - x0) / scale)), max(1, round((y1 - y0) / scale)))
    interpolation = cv2.INTER_AREA if scale > 1 else cv2.INTER_CUBIC
    return cv2.resize(patch, size, interpolation=interpolation)
