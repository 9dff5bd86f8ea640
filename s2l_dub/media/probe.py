"""Probe a video: geometry, colour metadata and the exact presentation time of every frame.

Frame times come from the stream's own packet timestamps, so variable-frame-rate
footage keeps its real timing; nothing is resampled onto a nominal grid.
"""

from __future__ import annotations

import dataclasses
import shutil
from fractions import Fraction
from pathlib import Path

import ffmpeg
import numpy as np

from ..errors import MediaDecodeError, MediaError

# Broadcast rates an editor expects to see named exactly.
STANDARD_RATES = {
    Fraction(24000, 1001): "23.976",
    Fraction(24): "24",
    Fraction(25): "25",
    Fraction(30000, 1001): "29.97",
    Fraction(30): "30",
    Fraction(50): "50",
    Fraction(60000, 1001): "59.94",
    Fraction(60): "60",
}


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int
    """Displayed width in pixels (after the container's rotation is applied)."""
    height: int
    rotation_deg: int
    codec: str
    pix_fmt: str
    time_base: Fraction
    frame_pts: np.ndarray
    """Presentation timestamp of each frame, in ``time_base`` units, in display order."""
    frame_rate: Fraction
    """Nominal rate (r_frame_rate); ``frame_pts`` is the truth for variable-rate files."""
    color: dict[str, str]
    timecode: str | None
    has_audio: bool
    audio_start_s: Fraction | None

    @property
    def frame_count(self) -> int:
        return int(len(self.frame_pts))

    def frame_time(self, index: int) -> Fraction:
        return Fraction(int(self.frame_pts[index])) * self.time_base

    @property
    def frame_times_s(self) -> np.ndarray:
        """Frame times in seconds as float64 (exact values live in ``frame_pts``)."""
        return self.frame_pts.astype(np.float64) * float(self.time_base)

    @property
    def frame_durations_s(self) -> np.ndarray:
        """How long each frame shows, in seconds; the last frame lasts as long as the one before it."""
        pts = self.frame_pts
        last_step = pts[-1] - pts[-2] if len(pts) > 1 else 1
        return np.diff(np.append(pts, pts[-1] + last_step)) * float(self.time_base)

    @property
    def duration_s(self) -> float:
        return float(self.frame_durations_s.sum())

    @property
    def start_s(self) -> Fraction:
        return self.frame_time(0)

    @property
    def is_variable_rate(self) -> bool:
        steps = np.diff(self.frame_pts)
        return bool(len(steps) and steps.min() != steps.max())

    @property
    def rate_label(self) -> str:
        return STANDARD_RATES.get(self.frame_rate, f"{float(self.frame_rate):.3f}")


def require_ffmpeg() -> None:
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            raise MediaError(f"{tool} not found on PATH; install ffmpeg (e.g. apt-get install ffmpeg)")


def probe_streams(path: Path) -> dict:
    """ffprobe's description of every stream and the container (``-show_format -show_streams``)."""
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path}: file not found")
    require_ffmpeg()
    try:
        return ffmpeg.probe(str(path))
    except ffmpeg.Error as e:
        raise MediaDecodeError(f"{path}: unreadable media ({ffmpeg_complaint(e.stderr)})") from e


def probe_video(path: Path) -> VideoInfo:
    path = Path(path)
    meta = probe_streams(path)
    try:
        packets = ffmpeg.probe(str(path), select_streams="v:0", show_entries="packet=pts,dts")
    except ffmpeg.Error as e:
        raise MediaDecodeError(f"{path}: unreadable media ({ffmpeg_complaint(e.stderr)})") from e
    streams = meta.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video" and not _is_cover_art(s)), None)
    if video is None:
        raise MediaDecodeError(f"{path}: no video stream")
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)

    time_base = Fraction(video["time_base"])
    frame_rate = _parse_rate(video.get("r_frame_rate")) or _parse_rate(video.get("avg_frame_rate"))
    if not frame_rate:
        raise MediaDecodeError(f"{path}: unknown frame rate")
    pts = _frame_pts(packets.get("packets", []), time_base, frame_rate)
    if len(pts) == 0:
        raise MediaDecodeError(f"{path}: video stream has no frames (corrupt or empty file)")

    rotation = _rotation(video)
    width, height = int(video["width"]), int(video["height"])
    if rotation % 180:
        width, height = height, width
    tags = {**meta.get("format", {}).get("tags", {}), **video.get("tags", {})}
    color = {k: video[k] for k in ("color_range", "color_space", "color_transfer", "color_primaries") if k in video}
    audio_start = Fraction(audio["start_time"]) if audio is not None and "start_time" in audio else None
    return VideoInfo(
        path=path,
        width=width,
        height=height,
        rotation_deg=rotation,
        codec=video.get("codec_name", "?"),
        pix_fmt=video.get("pix_fmt", "?"),
        time_base=time_base,
        frame_pts=pts,
        frame_rate=frame_rate,
        color=color,
        timecode=tags.get("timecode"),
        has_audio=audio is not None,
        audio_start_s=audio_start if audio is not None else None,
    )


def _frame_pts(packets: list[dict], time_base: Fraction, frame_rate: Fraction) -> np.ndarray:
    """Display-order frame timestamps from packets (B-frames make decode order differ)."""
    stamps = [p.get("pts", p.get("dts")) for p in packets]
    if stamps and all(s not in (None, "N/A") for s in stamps):
        pts = np.sort(np.array([int(s) for s in stamps], dtype=np.int64))
        # Edit lists can leave pre-roll packets before zero that the decoder discards.
        return pts[pts >= 0] if (pts >= 0).any() else pts
    # Streams without timestamps (raw or some AVI): frames are on the nominal grid.
    step = 1 / (frame_rate * time_base)
    return np.round(np.arange(len(stamps)) * float(step)).astype(np.int64)


def _parse_rate(value: str | None) -> Fraction | None:
    if not value or value in ("0/0", "N/A"):
        return None
    rate = Fraction(value)
    return rate if rate > 0 else None


def _rotation(stream: dict) -> int:
    for side in stream.get("side_data_list", []) or []:
        if "rotation" in side:
            return int(round(float(side["rotation"]))) % 360
    rotate = stream.get("tags", {}).get("rotate")
    return int(rotate) % 360 if rotate else 0


def _is_cover_art(stream: dict) -> bool:
    return bool(stream.get("disposition", {}).get("attached_pic"))


def ffmpeg_complaint(stderr: bytes | None) -> str:
    """ffmpeg's or ffprobe's last complaint, without the file name it repeats."""
    text = (stderr or b"").decode(errors="replace").strip().splitlines()
    if not text:
        return "ffmpeg failed"
    return text[-1].rsplit(": ", 1)[-1]
