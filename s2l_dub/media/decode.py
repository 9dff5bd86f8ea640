"""Stream decoded RGB frames from ffmpeg without holding the clip in memory."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from typing import Iterator

import ffmpeg
import numpy as np

from ..errors import MediaDecodeError
from .probe import VideoInfo


def frame_shape(info: VideoInfo, pix_fmt: str) -> tuple[int, ...]:
    if pix_fmt == "rgb24":
        return (info.height, info.width, 3)
    if pix_fmt == "yuv420p":
        # I420 planes stacked: Y (H rows), then U and V (H/2 rows of W/2, two to a row).
        return (info.height * 3 // 2, info.width)
    raise ValueError(f"unsupported pixel format {pix_fmt}")


def iter_frames(info: VideoInfo, start: int = 0, stop: int | None = None, pix_fmt: str = "rgb24") -> Iterator[np.ndarray]:
    """Yield frames ``start..stop-1`` (display order) as HxWx3 uint8 RGB arrays (or I420 planes).

    Seeks half a frame before the wanted frame so ffmpeg's accurate seek lands on it,
    and passes timestamps through so no frame is duplicated or dropped.
    """
    stop = info.frame_count if stop is None else stop
    wanted = stop - start
    if wanted <= 0:
        return
    input_args = {}
    if start > 0:
        half_step = Fraction(int(info.frame_pts[start] - info.frame_pts[start - 1]), 2) * info.time_base
        input_args["ss"] = float(info.frame_time(start) - half_step)
    # swscale's default YUV->RGB path is off by about one code value in luma; accurate
    # rounding makes RGB an exact function of the source planes (see render.yuv).
    output_args = {"vf": "scale=flags=accurate_rnd+full_chroma_int"} if pix_fmt == "rgb24" else {}
    cmd = (
        ffmpeg.input(str(info.path), **input_args)
        .output("pipe:", format="rawvideo", pix_fmt=pix_fmt, fps_mode="passthrough", map="0:v:0", **output_args)
        .global_args("-nostdin", "-v", "error")
        .compile()
    )
    shape = frame_shape(info, pix_fmt)
    frame_bytes = int(np.prod(shape))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=frame_bytes * 2)
    produced = 0
    ended_early = False
    try:
        while produced < wanted:
            buf = proc.stdout.read(frame_bytes)
            if len(buf) < frame_bytes:
                ended_early = True
                break
            produced += 1
            yield np.frombuffer(buf, np.uint8).reshape(shape)
    finally:
        # A consumer that stops early closes the generator; only a short stream is an error.
        proc.stdout.close()
        if ended_early:
            proc.wait()
            err = proc.stderr.read().decode(errors="replace").strip().splitlines()
            proc.stderr.close()
            detail = err[-1] if err else "stream ended early"
            raise MediaDecodeError(
                f"{info.path}: decoded {produced} of {wanted} frames from frame {start} ({detail})"
            )
        proc.kill()
        proc.wait()
        proc.stderr.close()
