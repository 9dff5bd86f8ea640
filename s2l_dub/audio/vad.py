"""Speech/silence per frame with Silero VAD (its model ships inside the silero-vad package)."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import BackendUnavailableError


@dataclasses.dataclass(frozen=True)
class VadConfig:
    threshold: float = 0.5
    min_silence_s: float = 0.1
    """Pauses shorter than this stay inside a speech segment."""
    speech_pad_s: float = 0.03


def speech_segments(samples: np.ndarray, sample_rate: int, config: VadConfig) -> list[tuple[float, float]]:
    """(start_s, end_s) of each speech segment in 16 kHz mono samples."""
    try:
        import torch

        threads = torch.get_num_threads()
        from silero_vad import get_speech_timestamps, load_silero_vad
    except ImportError as e:
        raise BackendUnavailableError(f"speech detection needs silero-vad and torch ({e})") from e
    # Importing silero_vad sets torch to one thread for the whole process, which would
    # halve training and rendering speed in any job that detects speech first.
    torch.set_num_threads(threads)
    model = load_silero_vad()
    stamps = get_speech_timestamps(
        torch.from_numpy(np.ascontiguousarray(samples, np.float32)), model, threshold=config.threshold,
        sampling_rate=sample_rate, min_silence_duration_ms=int(config.min_silence_s * 1000),
        speech_pad_ms=int(config.speech_pad_s * 1000),
    )
    return [(s["start"] / sample_rate, s["end"] / sample_rate) for s in stamps]


def speech_flags(times_s: np.ndarray, segments: list[tuple[float, float]]) -> np.ndarray:
    """(T,) bool: is each frame time inside a speech segment."""
    flags = np.zeros(len(times_s), bool)
    for start, end in segments:
        flags |= (times_s >= start) & (times_s < end)
    return flags
