"""Compositing in the source's own 4:2:0 planes, so untouched pixels stay bit-exact.

Converting a whole frame to RGB and back costs about 44 dB of PSNR before any codec
runs; here only the rendered patch is converted, with the matrix and range ffmpeg
used to decode the source to RGB.
"""

from __future__ import annotations

import numpy as np

# (Kr, Kb) of each matrix.
MATRICES = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}


def decoding_matrix(color: dict[str, str]) -> tuple[str, bool]:
    """The matrix and full-range flag ffmpeg assumes when it turns this source into RGB."""
    return ("bt709" if color.get("color_space") == "bt709" else "bt601"), color.get("color_range") == "pc"


def rgb_to_yuv(rgb: np.ndarray, matrix: str, full_range: bool) -> np.ndarray:
    """(..., 3) RGB in 0..255 -> (..., 3) Y, Cb, Cr in 0..255 code values."""
    kr, kb = MATRICES[matrix]
    r, g, b = (rgb[..., k] / 255.0 for k in range(3))
    y = kr * r + (1 - kr - kb) * g + kb * b
    cb = (b - y) / (2 * (1 - kb))
    cr = (r - y) / (2 * (1 - kr))
    if full_range:
        return np.stack([255 * y, 128 + 255 * cb, 128 + 255 * cr], -1)
    return np.stack([16 + 219 * y, 128 + 224 * cb, 128 + 224 * cr], -1)


def split_i420(frame: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    flat = frame.reshape(-1)
    y = flat[: width * height].reshape(height, width)
    c = (width // 2) * (height // 2)
    u = flat[width * height: width * height + c].reshape(height // 2, width // 2)
    v = flat[width * height + c:].reshape(height // 2, width // 2)
    return y, u, v


def composite_i420(frame: np.ndarray, width: int, height: int, patch_rgb: np.ndarray, alpha: np.ndarray,
                   x0: int, y0: int, matrix: str, full_range: bool) -> np.ndarray:
    """Blend an RGB patch (h, w, 3) with weights ``alpha`` (h, w) into an I420 frame at (x0, y0)."""
    out = frame.copy()
    y_plane, u_plane, v_plane = split_i420(out, width, height)
    # Align the patch to the 2x2 chroma grid by padding it with zero weight.
    ex0, ey0 = x0 - x0 % 2, y0 - y0 % 2
    h, w = alpha.shape
    ex1, ey1 = x0 + w + (x0 + w) % 2, y0 + h + (y0 + h) % 2
    full_alpha = np.zeros((ey1 - ey0, ex1 - ex0), np.float64)
    full_rgb = np.zeros((ey1 - ey0, ex1 - ex0, 3), np.float64)
    full_alpha[y0 - ey0:y0 - ey0 + h, x0 - ex0:x0 - ex0 + w] = alpha
    full_rgb[y0 - ey0:y0 - ey0 + h, x0 - ex0:x0 - ex0 + w] = patch_rgb
    yuv = rgb_to_yuv(full_rgb, matrix, full_range)

    region = y_plane[ey0:ey1, ex0:ex1].astype(np.float64)
    blended = region * (1 - full_alpha) + yuv[..., 0] * full_alpha
    y_plane[ey0:ey1, ex0:ex1] = np.where(full_alpha > 0, np.clip(np.round(blended), 0, 255), region)

    def pool(a):
        return a.reshape(a.shape[0] // 2, 2, a.shape[1] // 2, 2).mean(axis=(1, 3))

    chroma_alpha = pool(full_alpha)
    # Chroma of the patch, weighted by where it is actually drawn.
    weight = np.maximum(pool(full_alpha), 1e-9)
    for plane, k in ((u_plane, 1), (v_plane, 2)):
        region = plane[ey0 // 2:ey1 // 2, ex0 // 2:ex1 // 2].astype(np.float64)
        patch = pool(yuv[..., k] * full_alpha) / weight
        blended = region * (1 - chroma_alpha) + patch * chroma_alpha
        plane[ey0 // 2:ey1 // 2, ex0 // 2:ex1 // 2] = np.where(chroma_alpha > 0, np.clip(np.round(blended), 0, 255),
                                                                 region)
    return out
