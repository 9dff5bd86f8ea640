"""Log-mel feature windows sampled at each video frame's own timestamp.

The mel spectrogram runs on a fine, fixed hop; each frame's window is then read by
linear interpolation at times centred on that frame's presentation time, so 23.976,
29.97 and variable-rate footage get features aligned to their real frames rather
than to a 25 fps grid.
"""

from __future__ import annotations

import dataclasses

import librosa
import numpy as np


@dataclasses.dataclass(frozen=True)
class AudioFeatureConfig:
    sample_rate: int = 16000
    n_mels: int = 80
    hop_s: float = 0.01
    """Spacing of mel frames inside a window."""
    win_s: float = 0.025
    window_frames: int = 20
    """Mel frames per video frame's window (20 x 10 ms = 200 ms centred on the frame)."""
    fmin_hz: float = 55.0
    fmax_hz: float = 7600.0

    @property
    def hop_samples(self) -> int:
        return int(round(self.hop_s * self.sample_rate))


def log_mel(samples: np.ndarray, config: AudioFeatureConfig) -> np.ndarray:
    """(n_steps, n_mels) float32 log-mel, step i centred at ``i * hop_s`` seconds."""
    mel = librosa.feature.melspectrogram(
        y=samples, sr=config.sample_rate, n_fft=int(round(config.win_s * config.sample_rate)),
        hop_length=config.hop_samples, n_mels=config.n_mels, fmin=config.fmin_hz, fmax=config.fmax_hz,
        center=True, power=2.0,
    )
    return np.log(np.maximum(mel, 1e-10)).T.astype(np.float32)


def in_another_voice(samples: np.ndarray, sample_rate: int, speed: float = 1.0, semitones: float = 0.0) -> np.ndarray:
    """The same speech ``semitones`` higher, then played ``speed`` times as fast (tempo and pitch together).

    A moment at t seconds of the original sounds at t / speed in the result.
    """
    samples = samples.astype(np.float32)
    if semitones:
        samples = librosa.effects.pitch_shift(samples, sr=sample_rate, n_steps=semitones)
    if speed != 1.0:
        samples = librosa.resample(samples, orig_sr=sample_rate, target_sr=sample_rate / speed)
    return samples


def windows_at(mel: np.ndarray, times_s: np.ndarray, config: AudioFeatureConfig) -> np.ndarray:
    """(T, window_frames, n_mels) windows centred at ``times_s`` (seconds from the first sample).

    Outside the audio the spectrogram's quietest level is used, i.e. silence.
    """
    offsets = (np.arange(config.window_frames) - (config.window_frames - 1) / 2) * config.hop_s
    pos = (times_s[:, None] + offsets[None, :]) / config.hop_s
    lo = np.floor(pos).astype(np.int64)
    frac = (pos - lo)[..., None].astype(np.float32)
    silence = mel.min()
    padded = np.concatenate([mel, np.full((1, mel.shape[1]), silence, np.float32)])
    outside = len(mel)

    def take(i):
        return padded[np.where((i >= 0) & (i < len(mel)), i, outside)]

    return ((1 - frac) * take(lo) + frac * take(lo + 1)).astype(np.float32)
