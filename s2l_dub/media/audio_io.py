"""Audio extraction: any ffmpeg-readable file to mono float32 at a fixed sample rate."""

from __future__ import annotations

import subprocess
from pathlib import Path

import ffmpeg
import numpy as np

from ..errors import MediaDecodeError, MediaError, NoAudioError
from .probe import ffmpeg_complaint


def load_audio(path: Path, sample_rate: int = 16000) -> np.ndarray:
    """Decode the first audio stream, downmixed to mono, as float32 in [-1, 1]."""
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path}: file not found")
    try:
        meta = ffmpeg.probe(str(path))
    except ffmpeg.Error as e:
        raise MediaDecodeError(f"{path}: unreadable audio ({ffmpeg_complaint(e.stderr)})") from e
    if not any(s.get("codec_type") == "audio" for s in meta.get("streams", [])):
        raise NoAudioError(f"{path}: no audio stream")
    cmd = (
        ffmpeg.input(str(path))
        .output("pipe:", format="f32le", acodec="pcm_f32le", ac=1, ar=sample_rate, map="0:a:0")
        .global_args("-nostdin", "-v", "error")
        .compile()
    )
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        raise MediaDecodeError(f"{path}: audio decode failed ({ffmpeg_complaint(proc.stderr)})")
    samples = np.frombuffer(proc.stdout, np.float32).copy()
    if samples.size == 0:
        raise NoAudioError(f"{path}: audio stream is empty")
    return samples


def cut_audio(path: Path, start_s: float, duration_s: float, target: Path) -> Path:
    """``duration_s`` of ``path``'s first audio stream from ``start_s``, at its own rate and channels.

    Where the stretch begins before the file or runs past its end, silence fills it, so the
    result lasts exactly ``duration_s``. Written as 32-bit float WAV: the dub's samples pass to
    the rendered clip untouched (a 48 kHz 6-channel stem stays 48 kHz and 6 channels).
    """
    lead_ms = max(0.0, -start_s) * 1000
    filters = [f"atrim=start={max(0.0, start_s):.6f}", "asetpts=PTS-STARTPTS"]
    if lead_ms > 0:
        filters.append(f"adelay=delays={lead_ms:.3f}:all=1")
    filters += [f"apad=whole_dur={duration_s:.6f}", f"atrim=duration={duration_s:.6f}"]
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(path), "-map", "0:a:0", "-af", ",".join(filters),
           "-c:a", "pcm_f32le", "-f", "wav", str(target)]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        raise MediaDecodeError(f"{path}: could not cut the dub audio ({ffmpeg_complaint(proc.stderr)})")
    return Path(target)
