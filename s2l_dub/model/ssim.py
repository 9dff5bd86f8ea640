"""Image similarity for losses and metrics: SSIM with a Gaussian window (offline, no weights), and PSNR."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _gaussian(size: int, sigma: float, device) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 11, sigma: float = 1.5, reduce: bool = True) -> torch.Tensor:
    """Mean SSIM of images in [0, 1], (B, C, H, W); per image when ``reduce`` is False."""
    c = a.shape[1]
    g = _gaussian(window, sigma, a.device)
    kernel_h = g.reshape(1, 1, 1, -1).repeat(c, 1, 1, 1)
    kernel_v = g.reshape(1, 1, -1, 1).repeat(c, 1, 1, 1)

    def blur(x):
        return F.conv2d(F.conv2d(x, kernel_h, groups=c), kernel_v, groups=c)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a ** 2
    var_b = blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    value = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return value.mean() if reduce else value.flatten(1).mean(1)


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """PSNR (dB) per image of images in [0, 1], (B, C, H, W)."""
    mse = ((a - b) ** 2).flatten(1).mean(1).clamp(min=1e-10)
    return 10 * torch.log10(1 / mse)
