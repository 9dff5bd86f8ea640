"""Real mouth detail from the actor's own footage (issue 22).

The generator decides a mouth's shape and timing from the sound, but a pixel loss on a
minute of speech settles on the average of the mouths a sound allows: soft lips, teeth as
a dark blur. The actor's training frames hold the real mouths, registered to one another
in the canonical lip box. Here each generated mouth keeps its own low frequencies (shape,
opening, shading) and takes its high frequencies (lip lines, teeth edges) from the
training mouths it is nearest to, as per-speaker systems built on their own footage did
before neural rendering (Synthesizing Obama, 2017).

Pure tensor functions: the bank is built once per actor, the transfer runs per batch.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F


@dataclasses.dataclass(frozen=True)
class DetailConfig:
    neighbours: int = 4
    """Training mouths whose detail is blended into each generated one."""
    sigma_px: float = 2.0
    """Gaussian sigma (lip-box pixels) separating shape (below) from detail (above)."""
    match_px: int = 24
    """Width the mouths are compared at: detail must not decide the match."""
    temperature: float = 0.5
    """Softness of the neighbours' weights, relative to the nearest one's distance."""
    strength: float = 1.0
    """Share of the borrowed detail added (0: the generator's mouth as it was)."""


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with reflected borders, (B, C, H, W)."""
    radius = max(1, int(round(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    kernel = kernel / kernel.sum()
    c = images.shape[1]
    padded = F.pad(images, (radius, radius, radius, radius), mode="reflect")
    out = F.conv2d(padded, kernel.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(out, kernel.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def match_features(lips: torch.Tensor, mask: torch.Tensor, sigma: float, width: int) -> torch.Tensor:
    """The low-frequency mouth inside the lip mask, small and flat: what neighbours are chosen by."""
    low = gaussian_blur(lips, sigma) * mask
    height = max(4, round(width * lips.shape[-2] / lips.shape[-1]))
    return F.interpolate(low, size=(height, width), mode="area").flatten(1)


@dataclasses.dataclass
class DetailBank:
    """Registered real mouths of the actor: their match features and their detail layers."""

    features: torch.Tensor
    """(N, D) low-frequency mouths, as ``match_features`` makes them."""
    detail: torch.Tensor
    """(N, 3, h, w) float16: each mouth minus its own blur."""
    config: DetailConfig

    @classmethod
    def build(cls, lips: torch.Tensor, mask: torch.Tensor, config: DetailConfig = DetailConfig(),
              chunk: int = 256) -> "DetailBank":
        """``lips``: (N, 3, h, w) true canonical mouths in [0, 1]; ``mask``: (1, 1, h, w) the lip mask."""
        features, detail = [], []
        for start in range(0, len(lips), chunk):
            part = lips[start:start + chunk].float()
            features.append(match_features(part, mask, config.sigma_px, config.match_px))
            detail.append((part - gaussian_blur(part, config.sigma_px)).half())
        return cls(torch.cat(features), torch.cat(detail), config)

    def transfer(self, generated: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``generated`` mouths (B, 3, h, w) with the detail of their nearest real mouths."""
        config = self.config
        if config.strength <= 0 or len(self.features) == 0:
            return generated
        query = match_features(generated, mask, config.sigma_px, config.match_px)
        distance = torch.cdist(query, self.features.to(query))
        k = min(config.neighbours, len(self.features))
        nearest, index = distance.topk(k, largest=False)
        scale = nearest[:, :1].clamp(min=1e-6) * config.temperature
        weights = torch.softmax(-(nearest - nearest[:, :1]) / scale, dim=1)
        borrowed = (self.detail[index].to(generated) * weights[:, :, None, None, None]).sum(1)
        return (gaussian_blur(generated, config.sigma_px) + config.strength * borrowed).clamp(0, 1)


DEFAULT_DETAIL: DetailConfig | None = None
"""What renders, the main job and eval use unless told otherwise (BENCHMARKS.md, issue 22)."""

MAX_BANK_FRAMES = 4000
"""Mouths kept in the bank at most, evenly spread over the footage: memory stays flat (about
60 MB at the sample anchor's lip box) however many minutes an actor has."""


@torch.no_grad()
def build_bank(model, data, frames: torch.Tensor, config: DetailConfig = DetailConfig(),
               max_frames: int = MAX_BANK_FRAMES, batch_size: int = 64) -> DetailBank:
    """The true mouths of ``frames`` (training frames, never the ones being judged), registered
    into the canonical lip box with the model's own learned depth; mouths the warp does not
    fully cover (turned away, at the crop's edge) are left out."""
    from ..train.data import canonical_lips

    if len(frames) > max_frames:
        frames = frames[torch.linspace(0, len(frames) - 1, max_frames).round().long()]
    depth = model.depth().detach()
    mask = data.lip_mask[None, None]
    lips = []
    for index in frames.split(batch_size):
        crops = data.batch(index)["crops"]
        images, inside = canonical_lips(data, crops, index, depth, model.config.warp_interpolation)
        covered = (inside * mask).flatten(1).sum(1) / mask.sum()
        lips.append(images[covered > 0.98])
    lips = torch.cat(lips) if lips else torch.zeros(0, 3, *mask.shape[-2:])
    return DetailBank.build(lips, mask, config)
