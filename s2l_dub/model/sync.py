"""The sync expert: audio and mouth-window encoders whose cosine similarity says "in sync".

No pretrained SyncNet can be downloaded, so the expert is trained on the actor's own
footage first (positives: audio and lips at the same time; negatives: other times),
then frozen and used for the contrastive sync loss (paper Eq. 6).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SYNC_LIPS_HW = (32, 48)
"""Low-resolution canonical lip frames the expert looks at."""
SYNC_FRAMES = 5


def sync_windows(lips: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """(B, SYNC_FRAMES, ...) windows of ``lips`` rows centred on ``centres``."""
    offsets = torch.arange(SYNC_FRAMES) - SYNC_FRAMES // 2
    return lips[centres[:, None] + offsets[None]]


class SyncExpert(nn.Module):
    def __init__(self, mel_bins: int = 80, mel_steps: int = 20, dim: int = 128):
        super().__init__()
        self.visual = nn.Sequential(
            nn.Conv2d(3 * SYNC_FRAMES, 64, 3, padding=1), nn.LeakyReLU(0.1), nn.MaxPool2d(2),
            nn.Conv2d(64, 96, 3, padding=1), nn.LeakyReLU(0.1), nn.MaxPool2d(2),
            nn.Conv2d(96, 128, 3, padding=1), nn.LeakyReLU(0.1), nn.AdaptiveAvgPool2d((2, 3)),
            nn.Flatten(), nn.Linear(128 * 6, dim),
        )
        self.audio = nn.Sequential(
            nn.Conv1d(mel_bins, 128, 3, padding=1), nn.LeakyReLU(0.1),
            nn.Conv1d(128, 128, 3, stride=2, padding=1), nn.LeakyReLU(0.1),
            nn.AdaptiveAvgPool1d(2), nn.Flatten(), nn.Linear(256, dim),
        )

    def embed_lips(self, lips: torch.Tensor) -> torch.Tensor:
        """(B, SYNC_FRAMES, 3, h, w) in [0, 1] -> unit vectors (B, dim)."""
        return F.normalize(self.visual(lips.flatten(1, 2) - 0.5), dim=-1)

    def embed_audio(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, steps, bins) -> unit vectors (B, dim)."""
        return F.normalize(self.audio(mel.transpose(1, 2) / 10.0), dim=-1)


def contrastive_sync_loss(audio: torch.Tensor, lips: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """InfoNCE over the batch: row i's positive is column i, the others are negatives."""
    logits = audio @ lips.T / temperature
    target = torch.arange(len(audio), device=audio.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
