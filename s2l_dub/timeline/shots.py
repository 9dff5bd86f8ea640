"""The picture clips of an edit that can be dubbed, and where each is actually seen.

A *shot* is one video clip with a file behind it. Its *visible* frames are those not
under a transition (a dissolve mixes two pictures, so a new mouth there would show
through) and not covered by a clip on a higher video track. Everything is counted in
frames at the clip's rate, which must be the timeline's rate.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

import opentimelineio as otio

from ..errors import TimelineError
from .relink import MediaIndex

DUB_TRACK_PREFIX = "S2L "
"""Tracks s2l-dub adds; they are never read back as shots."""


@dataclasses.dataclass(frozen=True)
class Shot:
    index: int
    name: str
    track_name: str
    track_index: int
    media: Path
    rate: float
    start: int
    """First timeline frame of the clip (timeline start = frame 0)."""
    stop: int
    source_first_frame: int
    """Frame of the media file (counted from its first frame) shown at ``start``."""
    visible: tuple[tuple[int, int], ...]
    """Timeline frame ranges [a, b) where this clip is what the viewer sees, outside transitions."""
    metadata: dict
    marker_names: tuple[str, ...]
    relinked: str = ""
    """How offline media was found again (``--media``), when it was."""

    def source_frame(self, timeline_frame: int) -> int:
        return self.source_first_frame + (timeline_frame - self.start)

    @property
    def duration_frames(self) -> int:
        return self.stop - self.start


@dataclasses.dataclass(frozen=True)
class Skipped:
    name: str
    track_name: str
    reason: str


def frame_range(start: int, duration: int, rate: float) -> otio.opentime.TimeRange:
    """Whole frames at ``rate`` as an OTIO range."""
    return otio.opentime.TimeRange(otio.opentime.RationalTime(start, rate), otio.opentime.RationalTime(duration, rate))


def timeline_rate(timeline: otio.schema.Timeline) -> float:
    """The sequence's own frame rate where the file states one, else its first clip's.

    A retimed clip's rate is not the sequence's: one 15 fps clip first in a 30 fps Premiere
    sequence must not make every other shot "a different rate". Adapters write the declared
    rate rounded (23.976); a clip's exact form of the same rate is preferred.
    """
    clip_rates = [clip.source_range.duration.rate for clip in timeline.find_clips() if clip.source_range is not None]
    declared = timeline.global_start_time.rate if timeline.global_start_time is not None else None
    if declared and declared > 1:
        for rate in (*clip_rates, 24000 / 1001, 30000 / 1001, 60000 / 1001):
            if abs(rate - declared) < 1e-3 * max(1.0, declared / 24):
                return rate
        return declared
    if clip_rates:
        return clip_rates[0]
    return timeline.duration().rate


def media_path(reference, base_dir: Path) -> Path | None:
    """The local file behind an ExternalReference (absolute, file:// or relative to the timeline)."""
    if not isinstance(reference, otio.schema.ExternalReference) or not reference.target_url:
        return None
    return local_path(reference.target_url, base_dir)


def local_path(url: str, base_dir: Path) -> Path | None:
    """The local file a media URL names: a path, a file:// URL, or a path relative to ``base_dir``
    (resolved); None for http(s) and other remote references, which have nothing local to read, and
    for a URL holding a NUL character, which no file name can (a damaged timeline)."""
    if "\x00" in url or "%00" in url:
        return None
    if re.match(r"^([A-Za-z]:[\\/]|\\\\)", url):
        # A Windows path (S:\rushes\A001.MOV, \\server\share\...): offline here, never under the
        # timeline's folder; kept absolute so its name can be relinked (--media).
        return Path("/" + url.replace("\\", "/").lstrip("/"))
    parsed = urlparse(url)
    if parsed.scheme == "file":
        path = Path(unquote(parsed.path))
    elif parsed.scheme and len(parsed.scheme) > 1:
        return None
    else:
        path = Path(unquote(url))
    return path if path.is_absolute() else (Path(base_dir) / path).resolve()


def relative_url(path: Path, base_dir: Path) -> str:
    """``path`` relative to ``base_dir`` with forward slashes, as a timeline or page links to it."""
    return Path(os.path.relpath(Path(path).resolve(), Path(base_dir).resolve())).as_posix()


def file_url(path: Path, host: str = "") -> str:
    """``file://`` URL of an absolute path (``host="localhost"`` is the form FCP7 XML uses)."""
    return f"file://{host}" + quote(str(path))


def picture_size(path: Path | None) -> tuple[int, int] | None:
    """Width and height of the picture in ``path``; None when it is missing or unreadable."""
    from ..errors import MediaError
    from ..media import probe_video

    if path is None or not path.is_file():
        return None
    try:
        info = probe_video(path)
    except MediaError:
        return None
    return info.width, info.height


def plain_metadata(value):
    """OTIO's metadata containers as plain dicts and lists, for JSON."""
    if hasattr(value, "items"):
        return {str(k): plain_metadata(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or type(value).__name__ == "AnyVector":
        return [plain_metadata(v) for v in value]
    return value


def is_dub_track(track: otio.schema.Track) -> bool:
    return track.name.startswith(DUB_TRACK_PREFIX)


def is_rendered_clip(item) -> bool:
    """A clip s2l-dub rendered (it names its actor), wherever an editor moved it."""
    s2l = item.metadata.get("s2l")
    return hasattr(s2l, "get") and "actor" in s2l and "source_clip" in s2l


def collect_shots(timeline: otio.schema.Timeline, base_dir: Path,
                  media: MediaIndex | None = None) -> tuple[list[Shot], list[Skipped]]:
    """Every dubbable picture clip, and every clip left alone with its reason; offline media is
    looked for in ``media`` (``--media`` folders) when given."""
    rate = timeline_rate(timeline)
    shots: list[Shot] = []
    skipped: list[Skipped] = []
    video_tracks = [t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Video]
    # One pass per track: asking a track for one child's range walks every child before it.
    spans = [_laid_out(track) for track in video_tracks]
    covered_above: list[list[tuple[int, int]]] = []
    for track, track_spans in zip(video_tracks, spans):
        # An earlier language's dub lies over the actor's own pictures, which a new language dubs again.
        covered_above.append([] if is_dub_track(track) else
                             [_frames(track_spans[item], rate) for item in track
                              if isinstance(item, (otio.schema.Clip, otio.schema.Stack)) and item.enabled
                              and not is_rendered_clip(item)])

    for t_index, track in enumerate(video_tracks):
        if is_dub_track(track):
            continue
        if not track.enabled:
            skipped.extend(Skipped(clip.name or f"{track.name} item {n + 1}", track.name,
                                   "on a track disabled in the edit; not dubbed")
                           for n, clip in enumerate(track) if isinstance(clip, otio.schema.Clip))
            continue
        higher = [span for above in covered_above[t_index + 1:] for span in above]
        items = list(track)
        for position, item in enumerate(items):
            name = item.name or f"{track.name} item {position + 1}"
            if isinstance(item, (otio.schema.Gap, otio.schema.Transition)):
                continue
            if isinstance(item, (otio.schema.Stack, otio.schema.Track)):
                skipped.append(Skipped(name, track.name, "nested sequence (compound clip); not dubbed"))
                continue
            if not isinstance(item, otio.schema.Clip):
                continue
            if not item.enabled:
                skipped.append(Skipped(name, track.name, "disabled in the edit; not dubbed"))
                continue
            if is_rendered_clip(item):
                skipped.append(Skipped(name, track.name, "an earlier s2l-dub render; not dubbed again"))
                continue
            if any(isinstance(effect, otio.schema.TimeEffect) for effect in item.effects):
                skipped.append(Skipped(name, track.name, "speed change or freeze frame; not dubbed"))
                continue
            path = media_path(item.media_reference, base_dir)
            relinked = ""
            if (path is None or not path.is_file()) and media is not None:
                found, how = media.find(path, (item.name, _reel(item)))
                if found is None:
                    what = f"media offline: {path} not found" if path is not None else "no media reference"
                    skipped.append(Skipped(name, track.name, f"{what}; {how}"))
                    continue
                path, relinked = found, how
            if path is None:
                skipped.append(Skipped(name, track.name, _container_reason(item)
                                       or "no media reference (offline or generated clip)"))
                continue
            if not path.is_file():
                skipped.append(Skipped(name, track.name, f"media offline: {path} not found"))
                continue
            s2l_metadata = item.metadata.get("s2l", {}) or {}
            if not hasattr(s2l_metadata, "items"):
                skipped.append(Skipped(name, track.name, "its metadata[\"s2l\"] is not a table of settings "
                                       f"({type(s2l_metadata).__name__}); fix or remove it to dub this clip"))
                continue
            try:
                trimmed = item.trimmed_range()
            except Exception:  # OTIO raises its own error type when neither range is set
                skipped.append(Skipped(name, track.name, "no source range and no media range; not dubbed"))
                continue
            clip_rate = trimmed.duration.rate
            if abs(clip_rate - rate) > 1e-6:
                skipped.append(Skipped(name, track.name, f"clip at {clip_rate:g} fps in a {rate:g} fps timeline"))
                continue
            start, stop = _frames(spans[t_index][item], rate)
            lo, hi = start, stop
            if position > 0 and isinstance(items[position - 1], otio.schema.Transition):
                lo = start + items[position - 1].out_offset.rescaled_to(rate).to_frames()
            if position + 1 < len(items) and isinstance(items[position + 1], otio.schema.Transition):
                hi = stop - items[position + 1].in_offset.rescaled_to(rate).to_frames()
            visible = _subtract([(lo, hi)] if hi > lo else [], higher)
            shots.append(Shot(
                index=len(shots), name=name, track_name=track.name, track_index=t_index, media=path.resolve(),
                rate=rate, start=start, stop=stop,
                source_first_frame=_source_first_frame(item, trimmed, rate, path),
                visible=tuple(visible), metadata=dict(s2l_metadata),
                marker_names=tuple(m.name for m in item.markers), relinked=relinked,
            ))
    return shots, skipped


def _laid_out(track: otio.schema.Track) -> dict:
    """Each item's range in the track; a clip with no duration at all is named, not a traceback."""
    try:
        return track.range_of_all_children()
    except otio.exceptions.CannotComputeAvailableRangeError:
        for item in track:
            try:
                item.trimmed_range()
            except otio.exceptions.CannotComputeAvailableRangeError:
                raise TimelineError(f"clip {item.name!r} on track {track.name!r}: no source range and no media "
                                    "range, so it has no duration; give it a source range in the editor") from None
        raise


FCPXML_CONTAINERS = {
    "ref-clip": "compound clip; not dubbed (open it in Final Cut or dub its own project)",
    "mc-clip": "multicam clip; not dubbed (pick the angle's clip into the storyline to dub it)",
    "sync-clip": "synchronized clip; not dubbed (its picture clip can be dubbed on its own)",
    "title": "title (generated picture); nothing to dub",
    "clip": "clip holding other clips; not dubbed",
    "video": "still or generated picture; nothing to dub",
    "audition": "audition; not dubbed (finalise it first)",
    "spine": "secondary storyline; its clips are not dubbed yet (break it apart in Final Cut to dub them)",
}
"""Why a Final Cut item read without one file behind it is left alone, by its element."""


def _container_reason(clip: otio.schema.Clip) -> str | None:
    stored = clip.metadata.get("fcpxml")
    element = stored.get("element") if hasattr(stored, "get") else None
    return FCPXML_CONTAINERS.get(element)


def _reel(clip: otio.schema.Clip) -> str:
    """The EDL reel name, which conform tools relink by when the clip name does not match."""
    edl = clip.metadata.get("cmx_3600")
    return str(edl.get("reel") or "") if hasattr(edl, "get") else ""


def _frames(time_range: otio.opentime.TimeRange, rate: float) -> tuple[int, int]:
    start = time_range.start_time.rescaled_to(rate).to_frames()
    return start, start + time_range.duration.rescaled_to(rate).to_frames()


def _source_first_frame(clip: otio.schema.Clip, trimmed: otio.opentime.TimeRange, rate: float,
                        path: Path) -> int:
    """The media frame (from the file's first frame) at the clip's in point.

    Source times are in the media's own clock, which starts at its timecode: the one the
    editor reports (available_range), else, as conform tools do for an EDL, the timecode the
    file itself carries (an EDL's 01:00:00:00 source in is a file's first frame when the file
    starts at 01:00:00:00). Our decoder counts from the first frame.
    """
    source = trimmed.start_time.rescaled_to(rate).to_frames()
    available = clip.media_reference.available_range if clip.media_reference else None
    if available is not None:
        return source - available.start_time.rescaled_to(rate).to_frames()
    return source - media_start_frame(path, rate)


def media_start_frame(path: Path, rate: float) -> int:
    """The frame number the file's own start timecode names (0 when it carries none)."""
    from ..errors import MediaError
    from ..media import probe_video

    try:
        timecode = probe_video(path).timecode
    except MediaError:
        return 0
    if not timecode:
        return 0
    try:
        return otio.opentime.from_timecode(timecode, rate).to_frames()
    except ValueError:
        return 0


def _subtract(spans: list[tuple[int, int]], holes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    for h0, h1 in holes:
        kept = []
        for a, b in spans:
            if h1 <= a or h0 >= b:
                kept.append((a, b))
                continue
            if a < h0:
                kept.append((a, h0))
            if h1 < b:
                kept.append((h1, b))
        spans = kept
    return spans
