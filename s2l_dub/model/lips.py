"""Speech-driven implicit lip generator in canonical space: F(x, a, t) -> colour (paper Eq. 1-2).

LIIF-style: a small decoder turns the audio code and time features into a coarse
feature grid over the lip box; a small MLP reads the grid at any continuous
coordinate (bilinear local feature + Fourier features of the position + cell size).
Training uses the paper's continuous sampling: each pixel is the area-weighted mix of
four queries at the corners of a random rectangle around it.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn


@dataclasses.dataclass(frozen=True)
class LipModelConfig:
    mel_bins: int = 80
    mel_steps: int = 20
    audio_dim: int = 64
    audio_context: int = 2
    """Neighbouring frames either side whose audio codes are blended (temporal smoothing)."""
    time_frequencies: int = 4
    use_time: bool = True
    grid_hw: tuple[int, int] = (12, 18)
    """Feature grid over the lip box before upsampling x2 twice (48 x 72 features)."""
    feature_dim: int = 32
    position_frequencies: int = 6
    hidden: int = 96
    audio_noise: float = 0.0
    """Training only: std of Gaussian noise on the standardised log-mel (regularises 1-5 min of speech)."""
    audio_freq_mask: int = 0
    """Training only: up to this many adjacent mel bins zeroed per window (SpecAugment-style)."""
    audio_dropout: float = 0.0
    """Training only: dropout on the audio code."""


class AudioEncoder(nn.Module):
    """A mel window (steps x bins) -> a code; neighbouring frames' codes blended by learned attention.

    Log-mel values sit around -8 with a spread of a few units that differs per bin; the
    encoder standardises each bin with the actor's training statistics (``set_statistics``),
    kept as buffers so a saved model carries them. Measured on anchor_en (generator
    alone, 400 steps): +0.8 dB on training frames, +0.2 dB held out.
    """

    def __init__(self, config: LipModelConfig):
        super().__init__()
        self.register_buffer("mel_mean", torch.zeros(config.mel_bins))
        self.register_buffer("mel_std", torch.ones(config.mel_bins))
        self.conv = nn.Sequential(
            nn.Conv1d(config.mel_bins, 96, 3, padding=1), nn.LeakyReLU(0.1),
            nn.Conv1d(96, 96, 3, stride=2, padding=1), nn.LeakyReLU(0.1),
            nn.Conv1d(96, config.audio_dim, 3, stride=2, padding=1), nn.LeakyReLU(0.1),
        )
        self.head = nn.Linear(config.audio_dim * math.ceil(config.mel_steps / 4), config.audio_dim)
        self.attention = nn.Linear(config.audio_dim, 1)
        self.noise = config.audio_noise
        self.freq_mask = config.audio_freq_mask
        self.dropout = nn.Dropout(config.audio_dropout)

    @torch.no_grad()
    def set_statistics(self, mel: torch.Tensor) -> None:
        """Per-bin mean and spread of training windows (N, steps, bins)."""
        flat = mel.reshape(-1, mel.shape[-1]).float()
        self.mel_mean.copy_(flat.mean(0))
        self.mel_std.copy_(flat.std(0).clamp(min=1e-3))

    def encode(self, mel: torch.Tensor) -> torch.Tensor:
        """(..., steps, bins) -> (..., audio_dim)."""
        lead = mel.shape[:-2]
        mel = (mel - self.mel_mean) / self.mel_std
        if self.training:
            mel = augment_mel(mel, self.noise, self.freq_mask)
        x = self.conv(mel.reshape(-1, *mel.shape[-2:]).transpose(1, 2))
        return self.head(x.flatten(1)).reshape(*lead, -1)

    def forward(self, mel_context: torch.Tensor) -> torch.Tensor:
        """(B, 2k+1, steps, bins) windows of frames t-k..t+k -> (B, audio_dim)."""
        codes = self.encode(mel_context)
        weights = torch.softmax(self.attention(codes), dim=1)
        return self.dropout((weights * codes).sum(1))


def augment_mel(mel: torch.Tensor, noise: float, freq_mask: int) -> torch.Tensor:
    """Standardised log-mel windows (..., steps, bins) with noise and a random band of bins zeroed."""
    if noise > 0:
        mel = mel + noise * torch.randn_like(mel)
    if freq_mask > 0:
        bins = mel.shape[-1]
        lead = mel.shape[:-2]
        width = torch.randint(0, freq_mask + 1, (*lead, 1, 1), device=mel.device)
        start = (torch.rand(*lead, 1, 1, device=mel.device) * (bins - width + 1)).floor()
        index = torch.arange(bins, device=mel.device)
        mel = mel * ~((index >= start) & (index < start + width))
    return mel


def fourier(x: torch.Tensor, frequencies: int) -> torch.Tensor:
    scales = (2.0 ** torch.arange(frequencies, device=x.device, dtype=x.dtype)) * math.pi
    angles = x[..., None] * scales
    return torch.cat([torch.sin(angles), torch.cos(angles)], -1).flatten(-2)


class LipGenerator(nn.Module):
    def __init__(self, config: LipModelConfig):
        super().__init__()
        self.config = config
        self.audio = AudioEncoder(config)
        gh, gw = config.grid_hw
        cond = config.audio_dim + 2 * config.time_frequencies
        self.to_grid = nn.Linear(cond, 64 * gh * gw)
        self.decoder = nn.Sequential(
            nn.LeakyReLU(0.1),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(64, 48, 3, padding=1), nn.LeakyReLU(0.1),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(48, config.feature_dim, 3, padding=1),
        )
        # The last timestamp seen in training. Later frames (the held-out tail, the end of a
        # clip rendered after training on its start) hold it rather than extrapolate the
        # time code into values the generator never saw; inf (no limit) for older models.
        self.register_buffer("time_limit", torch.tensor(float("inf")))
        position_dim = 4 * config.position_frequencies + 2
        self.mlp = nn.Sequential(
            nn.Linear(config.feature_dim + position_dim, config.hidden), nn.LeakyReLU(0.1),
            nn.Linear(config.hidden, config.hidden), nn.LeakyReLU(0.1),
            nn.Linear(config.hidden, 3),
        )

    def features(self, mel_context: torch.Tensor, time_s: torch.Tensor) -> torch.Tensor:
        """The per-frame feature grid (B, feature_dim, 4*gh, 4*gw)."""
        code = self.audio(mel_context)
        t = fourier(torch.minimum(time_s, self.time_limit)[:, None], self.config.time_frequencies)
        if not self.config.use_time:
            t = torch.zeros_like(t)
        gh, gw = self.config.grid_hw
        grid = self.to_grid(torch.cat([code, t], -1)).reshape(-1, 64, gh, gw)
        return self.decoder(grid)

    def query(self, features: torch.Tensor, coords: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        """Colours (B, Q, 3) in [0, 1] at ``coords`` (B, Q, 2) in [-1, 1] over the lip box."""
        # Coordinates and their Fourier features need fp32: bf16 would round them to half a pixel.
        with torch.autocast(device_type=coords.device.type, enabled=False):
            local = F.grid_sample(features.float(), coords.float()[:, :, None, :], mode="bilinear",
                                  align_corners=False, padding_mode="border")[..., 0].transpose(1, 2)
            position = fourier(coords.float(), self.config.position_frequencies)
        cells = cell.expand(coords.shape[0], coords.shape[1], 2).float()
        return torch.sigmoid(self.mlp(torch.cat([local, position, cells], -1)))

    def render(self, features: torch.Tensor, height: int, width: int, continuous: bool = False) -> torch.Tensor:
        """The lip box image (B, 3, height, width) at pixel centres.

        With ``continuous``, each pixel is the area-weighted average of four queries at
        the corners of a random rectangle around its centre (paper Eq. 2); otherwise
        the centre is queried directly.
        """
        b = features.shape[0]
        device = features.device
        ys = (torch.arange(height, device=device) + 0.5) / height * 2 - 1
        xs = (torch.arange(width, device=device) + 0.5) / width * 2 - 1
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        centre = torch.stack([gx, gy], -1).reshape(1, -1, 2).expand(b, -1, -1)
        pixel = torch.tensor([2.0 / width, 2.0 / height], device=device)
        cell = pixel.reshape(1, 1, 2)
        if not continuous:
            return self.query(features, centre, cell).transpose(1, 2).reshape(b, 3, height, width)
        # Corners at random distances (up to one pixel) left/up and right/down of the centre.
        lo = torch.rand_like(centre) * pixel
        hi = torch.rand_like(centre) * pixel
        corners = [centre + torch.stack([sx, sy], -1) for sy in (-lo[..., 1], hi[..., 1]) for sx in (-lo[..., 0], hi[..., 0])]
        # Each corner is weighted by the area of the sub-rectangle diagonally opposite it.
        area = {0: hi[..., 0] * hi[..., 1], 1: lo[..., 0] * hi[..., 1], 2: hi[..., 0] * lo[..., 1], 3: lo[..., 0] * lo[..., 1]}
        total = (lo[..., 0] + hi[..., 0]) * (lo[..., 1] + hi[..., 1])
        colour = sum(self.query(features, c, cell) * (area[k] / total)[..., None] for k, c in enumerate(corners))
        return colour.transpose(1, 2).reshape(b, 3, height, width)

    def forward(self, mel_context, time_s, height: int, width: int, continuous: bool = False) -> torch.Tensor:
        return self.render(self.features(mel_context, time_s), height, width, continuous)
