"""Media stage: probe, decode and audio extraction through ffmpeg, with exact frame timing."""

from .probe import VideoInfo, probe_video
from .decode import iter_frames
from .audio_io import load_audio
from .ranges import FrameRange, parse_range

__all__ = ["VideoInfo", "probe_video", "iter_frames", "load_audio", "FrameRange", "parse_range"]
