"""A sample edit built from the shared sample footage, for the README's first command and tests.

Two actors (the German anchor and May), five shots with a gap and a dissolve, on one
picture track and its sync-sound track; French and German dub stems laid under it, and
their SRTs.
The 23.976 fps variant re-times the footage to 24000/1001 (every frame kept) so the
same edit can be cut at an NTSC rate.
"""

from __future__ import annotations

import dataclasses
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import soundfile as sf

from ..artifacts import atomic_path
from ..errors import S2LError
from ..media import load_audio, probe_video
from .io import write_timeline
from .shots import frame_range, relative_url

STEM_RATE = 48000


@dataclasses.dataclass(frozen=True)
class SampleShot:
    name: str
    actor: str
    source_start: int
    """Frame of the media at the clip's in point."""
    frames: int


ACTOR_MEDIA = {"anchor_de": "actors/anchor_de_20s.mp4", "may": "actors/may_en_5s.mp4"}

# Frames are counted at the edit's rate; at 23.976 the footage is re-timed so its frames
# are the same pictures, and the same frame counts hold.
SHOTS = (
    SampleShot("de_1", "anchor_de", 0, 125),
    SampleShot("may_1", "may", 0, 62),
    None,  # a 25-frame gap
    SampleShot("de_2", "anchor_de", 150, 113),
    "dissolve",  # 10 frames each side of the cut
    SampleShot("may_2", "may", 63, 62),
    SampleShot("de_3", "anchor_de", 300, 113),
)
GAP_FRAMES = 25
DISSOLVE_FRAMES = 10

# Lines of each dub stem: (file, first second, last second, timeline frame it starts at).
DUB_LINES = {
    "fr": (("french1.wav", 1.03, 6.53, 10), ("french2.wav", 0.51, 5.09, 220), ("sadtalker_fayu.wav", 0.35, 3.80, 397)),
    "de": (("German2.wav", 0.71, 5.98, 10), ("German1.wav", 0.64, 4.90, 220), ("sadtalker_deyu.wav", 1.28, 4.60, 397)),
}


@dataclasses.dataclass(frozen=True)
class SampleProject:
    timeline: Path
    stem: Path
    """The French stem; ``stems`` has every language's."""
    subtitles: Path
    rate: Fraction
    stems: dict[str, Path] = dataclasses.field(default_factory=dict)
    subtitle_files: dict[str, Path] = dataclasses.field(default_factory=dict)


def build_sample_project(samples: Path, target: Path, rate: Fraction = Fraction(25)) -> SampleProject:
    samples, target = Path(samples), Path(target)
    for relative in ACTOR_MEDIA.values():
        if not (samples / relative).is_file():
            raise S2LError(f"{samples / relative}: sample footage not found (set S2L_SAMPLES or pass the folder)")
    target.mkdir(parents=True, exist_ok=True)
    media = {actor: samples / relative for actor, relative in ACTOR_MEDIA.items()}
    if rate != 25:
        media = {actor: _retimed(path, target / "media", rate) for actor, path in media.items()}

    timeline = otio.schema.Timeline(name=f"s2l sample edit ({float(rate):.3f} fps)")
    picture = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    sound = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
    r = float(rate)
    for item in SHOTS:
        if item is None:
            for track in (picture, sound):
                track.append(otio.schema.Gap(source_range=frame_range(0, GAP_FRAMES, r)))
        elif item == "dissolve":
            picture.append(otio.schema.Transition(
                name="Cross Dissolve", transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                in_offset=otio.opentime.RationalTime(DISSOLVE_FRAMES, r),
                out_offset=otio.opentime.RationalTime(DISSOLVE_FRAMES, r)))
        else:
            info = probe_video(media[item.actor])
            reference = otio.schema.ExternalReference(
                target_url=relative_url(media[item.actor], target),
                available_range=frame_range(0, info.frame_count, r))
            for track in (picture, sound):
                track.append(otio.schema.Clip(name=item.name, media_reference=reference.deepcopy(),
                                              source_range=frame_range(item.source_start, item.frames, r)))
    timeline.tracks.extend([picture, sound])
    total_frames = picture.duration().to_frames()

    stems, subtitles = {}, {}
    for lang, lines in DUB_LINES.items():
        stems[lang], subtitles[lang] = target / f"dub_{lang}.wav", target / f"dub_{lang}.srt"
        _write_stem(samples, lines, total_frames, r, stems[lang], subtitles[lang], lang)
    project = SampleProject(target / "project.otio", stems["fr"], subtitles["fr"], rate, stems, subtitles)
    write_timeline(timeline, project.timeline)
    return project


def _write_stem(samples: Path, lines, total_frames: int, rate: float, stem_path: Path, srt_path: Path,
                lang: str) -> None:
    stem = np.zeros(int(round(total_frames / rate * STEM_RATE)), np.float32)
    cues = []
    for name, first_s, last_s, at_frame in lines:
        line = load_audio(samples / "dub_audio" / name, STEM_RATE)[int(first_s * STEM_RATE):int(last_s * STEM_RATE)]
        fade = np.minimum(1, np.minimum(np.arange(len(line)), np.arange(len(line))[::-1]) / (0.03 * STEM_RATE))
        at = int(round(at_frame / rate * STEM_RATE))
        stem[at:at + len(line)] += (line * fade)[: len(stem) - at]
        cues.append((at / STEM_RATE, (at + len(line)) / STEM_RATE))
    with atomic_path(stem_path) as tmp:
        sf.write(tmp, stem, STEM_RATE, subtype="PCM_24", format="WAV")
    with atomic_path(srt_path) as tmp:
        tmp.write_text("".join(f"{i}\n{_srt_time(a)} --> {_srt_time(b)}\n({lang} line {i})\n\n"
                               for i, (a, b) in enumerate(cues, 1)))




def _srt_time(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def _retimed(source: Path, folder: Path, rate: Fraction) -> Path:
    """``source`` with every frame kept at ``rate`` (audio tempo-matched), cached by name."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{source.stem}_{float(rate):.3f}.mp4".replace(".", "_", 1)
    if target.exists():
        return target
    info = probe_video(source)
    tempo = float(rate / info.frame_rate)
    with atomic_path(target) as tmp:
        cmd = ["ffmpeg", "-v", "error", "-y", "-r", f"{rate.numerator}/{rate.denominator}", "-i", str(source),
               "-af", f"atempo={tempo:.6f}", "-c:v", "libx264", "-crf", "12", "-pix_fmt", "yuv420p",
               "-c:a", "aac", "-b:a", "192k", str(tmp)]
        proc = subprocess.run(cmd, capture_output=True, check=False)
        if proc.returncode != 0:
            raise S2LError(f"{source}: could not re-time to {rate} fps ({proc.stderr.decode()[-200:]})")
    return target
