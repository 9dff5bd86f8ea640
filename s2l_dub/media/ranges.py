"""Parse ``--range IN-OUT`` into frame indices of a probed video.

IN and OUT accept seconds (``12.5``), clock time (``00:01:02.5``), SMPTE timecode
(``00:01:02:12``, frames at the clip's nominal rate) or frame numbers (``f310``). Both
are relative to the clip's first frame; a frame belongs to the range when its time
is in [IN, OUT).
"""

from __future__ import annotations

import dataclasses
import re
from fractions import Fraction

import numpy as np

from ..errors import RangeError
from .probe import VideoInfo

_CLOCK = re.compile(r"^(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)$")
_TIMECODE = re.compile(r"^(\d+):(\d+):(\d+)[:;](\d+)$")


@dataclasses.dataclass(frozen=True)
class FrameRange:
    start: int
    stop: int

    def __len__(self) -> int:
        return self.stop - self.start


def parse_range(text: str | None, info: VideoInfo) -> FrameRange:
    if not text:
        return FrameRange(0, info.frame_count)
    parts = _split(text)
    if parts is None:
        raise RangeError(f"{info.path}: range {text!r} is not IN-OUT (e.g. 2.5-10, 00:00:02:12-00:00:10:00, f50-f250)")
    bounds = [_to_frame(p, info, text) for p in parts]
    start, stop = bounds
    if not 0 <= start < stop <= info.frame_count:
        raise RangeError(
            f"{info.path}: range {text!r} is frames {start}-{stop}, outside the clip's 0-{info.frame_count}"
        )
    return FrameRange(start, stop)


def _split(text: str) -> list[str] | None:
    # '-' separates IN and OUT; a leading '-' would be a negative time, which we reject.
    pieces = text.strip().split("-")
    if len(pieces) != 2 or not all(p.strip() for p in pieces):
        return None
    return [p.strip() for p in pieces]


def _to_frame(token: str, info: VideoInfo, text: str) -> int:
    if token.lower().startswith("f") and token[1:].isdigit():
        return int(token[1:])
    seconds = _to_seconds(token, info)
    if seconds is None:
        raise RangeError(f"{info.path}: cannot read {token!r} in range {text!r}")
    if seconds > _duration_s(info):
        raise RangeError(f"{info.path}: range {text!r} ends after the clip's {float(_duration_s(info)):.2f} s")
    # Frames whose offset from the first frame is below `seconds` lie before the bound.
    offsets = (info.frame_pts - info.frame_pts[0]).astype(object) * info.time_base
    return int(np.searchsorted(np.array([float(o) for o in offsets]), float(seconds) - 1e-9, side="left"))


def _duration_s(info: VideoInfo) -> Fraction:
    last_step = info.frame_pts[-1] - info.frame_pts[-2] if info.frame_count > 1 else 1
    return Fraction(int(info.frame_pts[-1] - info.frame_pts[0] + last_step)) * info.time_base


def _to_seconds(token: str, info: VideoInfo) -> Fraction | None:
    try:
        return Fraction(token)
    except ValueError:
        pass
    m = _TIMECODE.match(token)
    if m:
        h, mi, s, f = (int(g) for g in m.groups())
        nominal = round(info.frame_rate)
        return Fraction((h * 3600 + mi * 60 + s) * nominal + f, 1) / info.frame_rate
    m = _CLOCK.match(token)
    if m:
        h = int(m.group(1) or 0)
        return Fraction(h * 3600 + int(m.group(2)) * 60) + Fraction(m.group(3))
    return None
