"""Dialogue segments: where on the timeline a shot's mouth must speak the dub.

Speech comes from the new language's subtitle cues (SRT, WebVTT, TTML...) or, without
them, from speech detection on the dub stem. Each speech interval is cut to the frames
where a shot is visible, padded so lips can part before the first sound, merged with
close neighbours, and stretched to the shot's edge when only a sliver would remain, so
that the cut between original and dubbed picture falls on an edit or in a pause.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

from ..artifacts import atomic_path
from ..errors import TimelineError
from .shots import Shot
from .speakers import script_speakers, split_label


@dataclasses.dataclass(frozen=True)
class SegmentConfig:
    pad_s: float = 0.2
    """Lead-in and tail around speech: lips move before the sound starts and after it ends."""
    merge_gap_s: float = 0.6
    """Two segments of one shot closer than this become one (no cut in a short pause)."""
    snap_to_edit_s: float = 0.5
    """A segment ending this close to its shot's edge extends to the edge."""
    min_speech_s: float = 0.08
    """Speech overlapping a shot by less than this (a word across a cut) is ignored."""
    cue_snap_s: float = 0.4
    """Cue edges move to detected speech edges this close, correcting drifted subtitles."""


@dataclasses.dataclass(frozen=True)
class Speech:
    start_s: float
    end_s: float
    text: str = ""
    speaker: str = ""
    """The character the dub script gives the line to (``""``: not named)."""


@dataclasses.dataclass(frozen=True)
class Segment:
    shot: Shot
    start: int
    stop: int
    """Timeline frames [start, stop) at the shot's rate."""
    text: str = ""
    speakers: tuple[str, ...] = ()
    """The characters the script gives this segment's lines to (empty: not named)."""
    by_script: bool = False
    """The script gives a line of it to this segment's actor (through ``[characters]`` or their name)."""

    @property
    def frames(self) -> int:
        return self.stop - self.start


def load_cues(path: Path, offset_s: float = 0.0) -> list[Speech]:
    """Subtitle cues as timeline-time speech (``offset_s``: where the dub stem starts)."""
    import pysubs2

    path = Path(path)
    if not path.is_file():
        raise TimelineError(f"{path}: subtitle file not found")
    try:
        _check_srt_times(path)
        subs = pysubs2.load(str(path))
    except (pysubs2.exceptions.Pysubs2Error, UnicodeDecodeError, ValueError) as e:
        raise TimelineError(f"{path}: unreadable subtitles ({type(e).__name__}: {e})") from e
    except OSError as e:
        raise TimelineError(f"{path}: cannot read the subtitles ({e.strerror or e})") from e
    dialogue = [event for event in subs if not event.is_comment]
    for number, event in enumerate(dialogue, 1):
        if event.end < event.start or event.start < 0:
            raise TimelineError(f"{path}: cue {number} ({event.plaintext[:40]!r}) ends before it starts "
                                f"({event.start / 1000:.3f} s to {event.end / 1000:.3f} s)")
    speakers = script_speakers(path, dialogue)
    cues = [Speech(event.start / 1000 + offset_s, event.end / 1000 + offset_s,
                   _without_label(event.plaintext, speaker).replace("\n", " "), speaker)
            for event, speaker in zip(dialogue, speakers) if event.end > event.start]
    if not cues:
        raise TimelineError(f"{path}: no subtitle cues found")
    return sorted(cues, key=lambda c: c.start_s)


def _without_label(text: str, speaker: str) -> str:
    """The cue's words, less a speaker label written into them (``ANNA: ...``, ``[Anna] ...``)."""
    label, rest = split_label(text)
    return rest if speaker and label == speaker else text


_SRT_TIMING = re.compile(r"^\s*(-?)\s*\d+:\d+:\d+[,.]\d+\s*-->\s*(-?)\s*\d+:\d+:\d+[,.]\d+")


def _check_srt_times(path: Path) -> None:
    """Refuse negative SRT times, which pysubs2 reads as positive ones (-00:00:01,000 as +1 s)."""
    if path.suffix.lower() != ".srt":
        return
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        for number, line in enumerate(fh, 1):
            found = _SRT_TIMING.match(line)
            if found and (found.group(1) or found.group(2)):
                raise TimelineError(f"{path}: line {number}: negative cue time ({line.strip()})")


def write_srt(cues: list[Speech], target: Path, offset_s: float = 0.0) -> Path:
    """Cues (timeline time) as SRT in the stem's time, for the editor to correct and re-use."""
    import pysubs2

    subs = pysubs2.SSAFile()
    for cue in cues:
        subs.append(pysubs2.SSAEvent(start=round((cue.start_s - offset_s) * 1000),
                                     end=round((cue.end_s - offset_s) * 1000), text=cue.text))
    with atomic_path(target) as tmp:
        subs.save(str(tmp), format_="srt")
    return target


def snap_cues_to_speech(cues: list[Speech], detected: list[Speech], tolerance_s: float) -> list[Speech]:
    """Move each cue edge to the nearest detected speech edge within ``tolerance_s``."""
    starts = [d.start_s for d in detected]
    ends = [d.end_s for d in detected]

    def nearest(value: float, candidates: list[float]) -> float:
        best = min(candidates, key=lambda c: abs(c - value), default=value)
        return best if abs(best - value) <= tolerance_s else value

    snapped = []
    for cue in cues:
        start, end = nearest(cue.start_s, starts), nearest(cue.end_s, ends)
        snapped.append(dataclasses.replace(cue, start_s=start, end_s=end) if end > start else cue)
    return snapped


def sounds_over(item: Speech, lo: int, hi: int, rate: float, config: SegmentConfig) -> bool:
    """Whether ``item`` sounds over frames [lo, hi) long enough to be spoken there (a word across a
    cut is not)."""
    core_a, core_b = math.floor(item.start_s * rate), math.ceil(item.end_s * rate)
    return min(core_b, hi) - max(core_a, lo) >= max(1, round(config.min_speech_s * rate))


def plan_segments(speech: list[Speech], shots: list[Shot], config: SegmentConfig = SegmentConfig()) -> list[Segment]:
    segments: list[Segment] = []
    for shot in shots:
        rate = shot.rate
        pad = round(config.pad_s * rate)
        snap = round(config.snap_to_edit_s * rate)
        for lo, hi in shot.visible:
            spans: list[list] = []
            for item in speech:
                if not sounds_over(item, lo, hi, rate, config):
                    continue
                core_a, core_b = math.floor(item.start_s * rate), math.ceil(item.end_s * rate)
                a, b = max(lo, core_a - pad), min(hi, core_b + pad)
                named = (item.speaker,) if item.speaker else ()
                if spans and a - spans[-1][1] < round(config.merge_gap_s * rate):
                    spans[-1][1] = max(spans[-1][1], b)
                    spans[-1][2] = f"{spans[-1][2]} {item.text}".strip()
                    spans[-1][3] += tuple(n for n in named if n not in spans[-1][3])
                else:
                    spans.append([a, b, item.text, named])
            for a, b, text, speakers in spans:
                a = lo if a - lo <= snap else a
                b = hi if hi - b <= snap else b
                segments.append(Segment(shot, a, b, text, speakers))
    return sorted(segments, key=lambda s: (s.start, s.shot.track_index))
