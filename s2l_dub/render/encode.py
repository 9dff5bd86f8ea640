"""Encoding rendered frames with ffmpeg: ProRes 422 HQ for editors, H.264 for review.

Frames arrive as RGB and go to ffmpeg through a pipe, so memory does not grow with
clip length. The frame rate is written as the source's exact fraction, and colour
tags and timecode are carried over from the source.
"""

from __future__ import annotations

import dataclasses
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import MediaError, S2LError
from ..media.probe import ffmpeg_complaint

CODECS = {
    # ProRes 422 HQ, 10-bit 4:2:2: the intermediate editors expect.
    "prores": ["-c:v", "prores_ks", "-profile:v", "3", "-vendor", "apl0", "-pix_fmt", "yuv422p10le"],
    "h264": ["-c:v", "libx264", "-preset", "medium", "-crf", "{crf}", "-pix_fmt", "yuv420p"],
}
AUDIO = {"prores": ["-c:a", "pcm_s24le"], "h264": ["-c:a", "aac", "-b:a", "192k"]}
SUFFIXES = {"prores": {".mov"}, "h264": {".mp4", ".mov", ".mkv"}}


@dataclasses.dataclass(frozen=True)
class EncodeSettings:
    codec: str = "prores"
    crf: int = 14
    """H.264 quality (lower is better); ignored for ProRes."""

    def validate(self, target: Path) -> None:
        if self.codec not in CODECS:
            raise S2LError(f"unknown codec {self.codec!r}; choose one of {sorted(CODECS)}")
        if Path(target).suffix.lower() not in SUFFIXES[self.codec]:
            raise S2LError(f"{target}: {self.codec} goes in {' or '.join(sorted(SUFFIXES[self.codec]))}")


def add_frames_to_timecode(timecode: str, frames: int, rate: Fraction) -> str:
    """Non-drop timecode plus a number of frames (drop-frame codes are returned unchanged)."""
    if ";" in timecode:
        return timecode
    h, m, s, f = (int(v) for v in timecode.split(":"))
    fps = round(rate)
    total = ((h * 60 + m) * 60 + s) * fps + f + frames
    f, total = total % fps, total // fps
    s, total = total % 60, total // 60
    m, h = total % 60, total // 60
    return f"{h:02d}:{m:02d}:{s:02d}:{f:02d}"


class FrameEncoder:
    """Feed frames (RGB or I420 planes) in order; ``close`` muxes the audio and finishes the file."""

    def __init__(self, target: Path, width: int, height: int, rate: Fraction, settings: EncodeSettings,
                 audio: Path, color: dict[str, str], timecode: str | None, input_pix_fmt: str = "rgb24"):
        self.target = Path(target)
        self.frames = 0
        video = [a.format(crf=settings.crf) for a in CODECS[settings.codec]]
        colour_args = []
        for key, flag in (("color_primaries", "-color_primaries"), ("color_transfer", "-color_trc"),
                          ("color_space", "-colorspace"), ("color_range", "-color_range")):
            if color.get(key) and color[key] != "unknown":
                colour_args += [flag, color[key]]
        # RGB input goes back to YUV with the matrix ffmpeg used to decode the source; I420
        # input is the source's own planes and needs no conversion.
        matrix = "bt709" if color.get("color_space") == "bt709" else "bt601"
        out_range = "pc" if color.get("color_range") == "pc" else "tv"
        scale = (f"scale=flags=accurate_rnd+full_chroma_int:out_color_matrix={matrix}:out_range={out_range}"
                 if input_pix_fmt == "rgb24" else "null")
        self.cmd = [
            "ffmpeg", "-nostdin", "-v", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", input_pix_fmt, "-s", f"{width}x{height}", "-r", str(rate), "-i", "pipe:",
            "-i", str(audio), "-map", "0:v", "-map", "1:a", "-vf", scale, *video, *colour_args,
            # No -shortest: the audio is cut to the video's length beforehand, and a rounding
            # difference there must never cost a video frame.
            *AUDIO[settings.codec],
            *(["-timecode", timecode] if timecode else []),
            str(self.target),
        ]
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)

    def write(self, frame: np.ndarray) -> None:
        try:
            self.proc.stdin.write(np.ascontiguousarray(frame, np.uint8).tobytes())
        except BrokenPipeError:
            self.close()
        self.frames += 1

    def close(self) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        code = self.proc.wait()
        err = self.proc.stderr.read()
        self.proc.stderr.close()
        if code != 0:
            raise MediaError(f"{self.target}: encoding failed ({ffmpeg_complaint(err)})")
