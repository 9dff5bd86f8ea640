"""Blend-Net: a residual U-Net that harmonises pasted lips with the frame (paper Sec. 4.4)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.LeakyReLU(0.1),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.LeakyReLU(0.1))


class BlendNet(nn.Module):
    """Input: the pasted image and its paste mask; output: the image plus a predicted residual."""

    def __init__(self, width: int = 24):
        super().__init__()
        self.enc1 = _block(4, width)
        self.enc2 = _block(width, width * 2)
        self.enc3 = _block(width * 2, width * 4)
        self.dec2 = _block(width * 4 + width * 2, width * 2)
        self.dec1 = _block(width * 2 + width, width)
        self.out = nn.Conv2d(width, 3, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, pasted: torch.Tensor, mask: torch.Tensor, reach: torch.Tensor | None = None) -> torch.Tensor:
        """``reach`` (B, 1, h, w) in [0, 1] scales the residual where given: where Blend-Net may act."""
        x1 = self.enc1(torch.cat([pasted, mask], 1))
        x2 = self.enc2(F.avg_pool2d(x1, 2))
        x3 = self.enc3(F.avg_pool2d(x2, 2))
        up2 = F.interpolate(x3, size=x2.shape[-2:], mode="bilinear", align_corners=False)
        d2 = self.dec2(torch.cat([up2, x2], 1))
        up1 = F.interpolate(d2, size=x1.shape[-2:], mode="bilinear", align_corners=False)
        d1 = self.dec1(torch.cat([up1, x1], 1))
        residual = self.out(d1)
        if reach is not None:
            residual = residual * reach
        return (pasted + residual).clamp(0, 1)


def black_hole_mask(mask: torch.Tensor, probability: float = 0.5, generator=None) -> torch.Tensor:
    """Random black holes (B, 1, h, w) inside the paste region of a random share of the batch.

    Punched into Blend-Net's training inputs, they teach it to fill the gaps forward warping
    leaves in pose-controlled synthesis.
    """
    b, _, h, w = mask.shape
    holes = torch.zeros(b, 1, h, w, device=mask.device)
    chosen = torch.rand(b, generator=generator) < probability
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    for i in torch.nonzero(chosen).flatten().tolist():
        inside = torch.nonzero(mask[i, 0] > 0.5)
        if len(inside) == 0:
            continue
        for _ in range(int(torch.randint(1, 6, (1,), generator=generator))):
            cy, cx = inside[torch.randint(len(inside), (1,), generator=generator)][0].tolist()
            ry, rx = (float(v) for v in torch.rand(2, generator=generator) * torch.tensor([h, w]) * 0.08 + 1)
            holes[i, 0, ((ys - cy) / ry) ** 2 + ((xs - cx) / rx) ** 2 <= 1] = 1
    return holes
