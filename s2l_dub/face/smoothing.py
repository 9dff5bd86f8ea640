"""Temporal landmark smoothing that removes jitter but keeps lip motion.

Rigid points get a long Savitzky-Golay window (they only move with the head, and
their jitter becomes pose jitter); mouth and jaw points get a short one, because a
plosive closes the lips in one or two frames. Savitzky-Golay keeps peaks where a
moving average would flatten them. Windows are in seconds so every frame rate gets
the same smoothing, and runs are smoothed separately so nothing bleeds over gaps.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.signal import savgol_filter

from .landmark_sets import RIGID, SPEECH


@dataclasses.dataclass(frozen=True)
class SmoothingConfig:
    rigid_window_s: float = 0.33
    """Savitzky-Golay window for head-rigid points (brows, eyes, nose, upper jaw)."""
    speech_window_s: float = 0.17
    """Window for mouth and lower-jaw points."""
    polyorder: int = 2
    max_gap_s: float = 0.2
    """Gaps where the face was missed for at most this long are interpolated."""


def _odd_window(window_s: float, frame_rate: float, polyorder: int) -> int:
    n = int(round(window_s * frame_rate))
    n = n if n % 2 else n + 1
    return max(n, polyorder + 2 if (polyorder + 2) % 2 else polyorder + 3)


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open (start, stop) runs where ``mask`` is true."""
    padded = np.concatenate([[False], mask.astype(bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[::2], edges[1::2]))


def fill_short_gaps(landmarks: np.ndarray, found: np.ndarray, max_gap: int) -> np.ndarray:
    """Linearly interpolate landmarks over interior gaps of at most ``max_gap`` frames."""
    out = landmarks.copy()
    filled = found.copy()
    for start, stop in runs(~found):
        if start == 0 or stop == len(found) or stop - start > max_gap:
            continue
        a, b = landmarks[start - 1], landmarks[stop]
        for k, i in enumerate(range(start, stop), 1):
            w = k / (stop - start + 1)
            out[i] = (1 - w) * a + w * b
        filled[start:stop] = True
    return out, filled


def smooth_landmarks(landmarks: np.ndarray, found: np.ndarray, frame_rate: float, config: SmoothingConfig) -> np.ndarray:
    out = landmarks.copy()
    for start, stop in runs(found):
        seg = landmarks[start:stop]
        for idx, window_s in ((RIGID, config.rigid_window_s), (SPEECH, config.speech_window_s)):
            window = _odd_window(window_s, frame_rate, config.polyorder)
            if len(seg) < window:
                continue
            out[start:stop, idx] = savgol_filter(seg[:, idx], window, config.polyorder, axis=0, mode="interp")
    return out
