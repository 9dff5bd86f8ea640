"""A test edit of who speaks, built from a real anchor's footage and real speech (issue 25).

One actor (the German anchor by default), five 5 s shots, each with the picture's own kind of original sound:

- ``speaks_1`` and ``speaks_2``: her own footage with her own voice: dubbed;
- ``reaction``: her face (moving: she talks) over another person's voice, the hardest reaction
  shot: left alone;
- ``off_screen``: her face over a silent original sound (the line is someone's off screen): left alone;
- ``no_sound``: her face from a file with no audio stream: nothing to check, dubbed as the face on
  screen, and the summary says so.

The dub stem is continuous real speech, so every shot has a line to dub.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import numpy as np
import opentimelineio as otio
import soundfile as sf

from ..artifacts import atomic_path
from ..errors import S2LError
from ..media import load_audio
from .io import write_timeline
from .shots import frame_range, relative_url

RATE = 25
SHOT_FRAMES = 125
ACTORS = {  # name -> (footage, its frames, first frame of the part the listener shots show, own shots' first frames)
    "anchor_de": ("actors/anchor_de_20s.mp4", 500, 250, (0, 375)),
    "anchor_en": ("actors/anchor_en_71s.mp4", 1780, 900, (0, 1600)),
}
OTHER_VOICE = ("dub_audio/english_60s.wav", 12.0)
"""Another person's real speech (file, first second) under the reaction shot."""
STEM = ("dub_audio/english_60s.wav", 30.0)

SHOTS = (  # (clip name, media kind, does the face speak the original line)
    ("speaks_1", "own", True),
    ("reaction", "other_voice", False),
    ("off_screen", "silent", False),
    ("no_sound", "no_audio", None),
    ("speaks_2", "own", True),
)


@dataclasses.dataclass(frozen=True)
class SpeakerEdit:
    timeline: Path
    stem: Path
    actors: Path
    truth: dict[str, bool | None]
    """Clip name -> whether its face speaks the original line (None: no original sound to tell)."""


def build_speaker_edit(samples: Path, target: Path, actor: str = "anchor_de") -> SpeakerEdit:
    samples, target = Path(samples), Path(target)
    footage, footage_frames, borrowed, own_starts = ACTORS[actor]
    source = samples / footage
    if not source.is_file():
        raise S2LError(f"{source}: sample footage not found (set S2L_SAMPLES or pass the folder)")
    target.mkdir(parents=True, exist_ok=True)
    # The listener shots show a part of the footage the "own" shots do not use.
    media = {"own": source}
    part = f"trim=start_frame={borrowed}:end_frame={borrowed + SHOT_FRAMES},setpts=PTS-STARTPTS"
    voice = load_audio(samples / OTHER_VOICE[0], 48000)
    first = int(OTHER_VOICE[1] * 48000)
    voice_path = target / "other_voice.wav"
    _write_wav(voice_path, voice[first:first + SHOT_FRAMES * 48000 // RATE])
    silent_path = target / "silence.wav"
    _write_wav(silent_path, np.zeros(SHOT_FRAMES * 48000 // RATE, np.float32))
    for kind, sound in (("other_voice", voice_path), ("silent", silent_path), ("no_audio", None)):
        media[kind] = target / f"{actor}_{kind}.mp4"
        _mux(source, part, sound, media[kind])

    timeline = otio.schema.Timeline(name="who speaks")
    picture = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    starts = iter(own_starts)
    for name, kind, _ in SHOTS:
        start = next(starts) if kind == "own" else 0
        reference = otio.schema.ExternalReference(target_url=relative_url(media[kind], target),
                                                  available_range=frame_range(0, footage_frames if kind == "own"
                                                                              else SHOT_FRAMES, RATE))
        picture.append(otio.schema.Clip(name=name, media_reference=reference,
                                        source_range=frame_range(start, SHOT_FRAMES, RATE)))
    timeline.tracks.append(picture)
    edit = SpeakerEdit(target / "who_speaks.otio", target / "stem.wav", target / "actors.toml",
                       {name: speaks for name, _, speaks in SHOTS})
    write_timeline(timeline, edit.timeline)
    stem = load_audio(samples / STEM[0], 48000)
    first = int(STEM[1] * 48000)
    _write_wav(edit.stem, stem[first:first + len(SHOTS) * SHOT_FRAMES * 48000 // RATE])
    with atomic_path(edit.actors) as tmp:
        tmp.write_text(f'[tracks]\nV1 = "{actor}"\n')
    return edit


def _write_wav(path: Path, samples: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        sf.write(tmp, samples, 48000, subtype="PCM_16", format="WAV")


def _mux(video: Path, picture_filter: str, sound: Path | None, target: Path) -> None:
    with atomic_path(target) as tmp:
        cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(video)]
        cmd += ["-i", str(sound)] if sound else []
        cmd += ["-map", "0:v", "-vf", picture_filter, "-c:v", "libx264", "-crf", "14", "-pix_fmt", "yuv420p"]
        cmd += ["-map", "1:a", "-c:a", "aac", "-b:a", "128k", "-shortest"] if sound else ["-an"]
        cmd += ["-f", "mp4", str(tmp)]
        proc = subprocess.run(cmd, capture_output=True, check=False)
        if proc.returncode != 0:
            raise S2LError(f"{video}: could not build a test shot ({proc.stderr.decode()[-200:]})")


TWO_SHOT_FRAMES = 250
TWO_SHOT_TURN_S = (4.6, 5.4)
"""The two-shot's original sound: the left actor speaks until 4.6 s, the right one from 5.4 s."""


def build_two_shot_edit(samples: Path, target: Path) -> SpeakerEdit:
    """Two actors, each in a single shot of their own, then side by side in a two-shot whose
    original sound is the left one's line, a pause, then the right one's line (both faces move
    throughout: both anchors talk). ``truth`` keys are ``"clip/actor/line"``."""
    samples, target = Path(samples), Path(target)
    left, right = (samples / ACTORS["anchor_en"][0]).resolve(), (samples / ACTORS["anchor_de"][0]).resolve()
    for path in (left, right):
        if not path.is_file():
            raise S2LError(f"{path}: sample footage not found (set S2L_SAMPLES or pass the folder)")
    target.mkdir(parents=True, exist_ok=True)
    seconds = TWO_SHOT_FRAMES / RATE
    rate = 48000
    left_voice, right_voice = load_audio(left, rate)[:int(seconds * rate)], load_audio(right, rate)[:int(seconds * rate)]
    turn = [int(t * rate) for t in TWO_SHOT_TURN_S]
    sound = np.concatenate([left_voice[:turn[0]], np.zeros(turn[1] - turn[0], np.float32), right_voice[turn[1]:]])
    sound_path = target / "two_shot_sound.wav"
    _write_wav(sound_path, sound)
    two_shot = target / "two_shot.mp4"
    with atomic_path(two_shot) as tmp:
        cut = f"trim=end_frame={TWO_SHOT_FRAMES},setpts=PTS-STARTPTS"
        cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(left), "-i", str(right), "-i", str(sound_path),
               "-filter_complex", f"[0:v]{cut}[l];[1:v]{cut}[r];[l][r]hstack=inputs=2[v]", "-map", "[v]",
               "-map", "2:a", "-c:v", "libx264", "-crf", "14", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k",
               "-shortest", "-f", "mp4", str(tmp)]
        proc = subprocess.run(cmd, capture_output=True, check=False)
        if proc.returncode != 0:
            raise S2LError(f"{two_shot}: could not build the two-shot ({proc.stderr.decode()[-200:]})")

    shots = (("en_single", left, 500, ACTORS["anchor_en"][1]), ("two_shot", two_shot, 0, TWO_SHOT_FRAMES),
             ("de_single", right, 250, ACTORS["anchor_de"][1]))
    timeline = otio.schema.Timeline(name="who speaks: a two-shot")
    picture = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    for name, media, start, available in shots:
        reference = otio.schema.ExternalReference(target_url=relative_url(media, target),
                                                  available_range=frame_range(0, available, RATE))
        picture.append(otio.schema.Clip(name=name, media_reference=reference,
                                        source_range=frame_range(start, TWO_SHOT_FRAMES, RATE)))
    timeline.tracks.append(picture)
    edit = SpeakerEdit(target / "two_shot.otio", target / "stem.wav", target / "actors.toml", {
        "en_single/anchor_en/1": True, "de_single/anchor_de/1": True,
        "two_shot/anchor_en/1": True, "two_shot/anchor_de/1": False,
        "two_shot/anchor_en/2": False, "two_shot/anchor_de/2": True})
    write_timeline(timeline, edit.timeline)
    stem = load_audio(samples / STEM[0], rate)
    first = int(STEM[1] * rate)
    stem = stem[first:first + 3 * TWO_SHOT_FRAMES * rate // RATE].copy()
    # The dub's two lines in the two-shot, with a pause between them where the original has one.
    pause = [int((TWO_SHOT_FRAMES / RATE + t) * rate) for t in (4.4, 5.6)]
    stem[pause[0]:pause[1]] = 0
    _write_wav(edit.stem, stem)
    with atomic_path(edit.actors) as tmp:
        tmp.write_text(f'[media]\n"{left}" = "anchor_en"\n"{right}" = "anchor_de"\n'
                       f'"two_shot.mp4" = ["anchor_en", "anchor_de"]\n\n'
                       '[faces]\nanchor_en = "left"\nanchor_de = "right"\n')
    return edit


def two_shot_truth_key(shot_name: str, actor: str, start: int) -> str:
    """The ``truth`` key of a segment of :func:`build_two_shot_edit`'s timeline starting at ``start``."""
    line = 2 if shot_name == "two_shot" and start >= TWO_SHOT_FRAMES + TWO_SHOT_FRAMES // 2 else 1
    return f"{shot_name}/{actor}/{line}"
