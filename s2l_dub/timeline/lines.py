"""Which actor's shots speak each line: never a listener's (issue 25).

Without a speaker, a line is spoken by whatever face is on screen while it sounds. Where the
dub script names the line's character and the actors file (``[characters]``, or an actor of
that name) says who plays them, the line goes to that actor's shots alone: a reaction shot of
someone else stays untouched, and a line whose speaker is not on screen is dubbed nowhere.
"""

from __future__ import annotations

import dataclasses

from ..render.original_sync import LISTENS, SILENT, SPEAKS, UNKNOWN, UNSURE, OriginalSync

from .actors import ActorMapping, speaking_actor
from .segments import Segment, SegmentConfig, Speech, plan_segments, sounds_over
from .shots import Shot


@dataclasses.dataclass(frozen=True)
class LineLeftAlone:
    """A line heard over a shot whose face does not speak it, or a line no visible face speaks."""

    start_s: float
    end_s: float
    speaker: str
    reason: str
    shot: str = ""
    track: str = ""

    def describe(self) -> str:
        where = f"{self.shot} ({self.track}) " if self.shot else ""
        return f"{where}{self.start_s:.2f}-{self.end_s:.2f} s: {self.reason}"


def segments_by_speaker(speech: list[Speech], by_actor: dict[str, list[Shot]], mapping: ActorMapping,
                        config: SegmentConfig = SegmentConfig()):
    """``(segments, left_alone, unknown_speakers)``: each actor's segments from the lines they may speak
    (their own and the unattributed), the lines kept off listeners and off screen, and the script's
    speaker names no actor is given for (their lines go to any face on screen, as unnamed ones do)."""
    actors = set(by_actor)
    owner = [speaking_actor(line.speaker, mapping, actors) for line in speech]
    segments: list[tuple[Segment, str]] = []
    for actor, shots in by_actor.items():
        theirs = [line for line, who in zip(speech, owner) if who is None or who == actor]
        for segment in plan_segments(theirs, shots, config):
            named = any(speaking_actor(name, mapping, actors) == actor for name in segment.speakers)
            segments.append((dataclasses.replace(segment, by_script=named), actor))
    segments.sort(key=lambda pair: (pair[0].start, pair[0].shot.track_index))

    left: list[LineLeftAlone] = []
    for line, who in zip(speech, owner):
        if who is None:
            continue
        heard_over = [(actor, shot) for actor, shots in by_actor.items() for shot in shots
                      if _overlaps(line, shot, config)]
        speaks = [shot for actor, shot in heard_over if actor == who]
        for actor, shot in heard_over:
            if actor != who:
                left.append(LineLeftAlone(line.start_s, line.end_s, line.speaker,
                                          f"{actor} listens: the script gives this line to {line.speaker}"
                                          f"{'' if who == '-' else f' ({who})'}", shot.name, shot.track_name))
        if not speaks:
            reason = (f"{line.speaker}'s line is off screen" if who != "-"
                      else f"{line.speaker} is a voice no one on screen speaks ([characters] maps them to '-')")
            left.append(LineLeftAlone(line.start_s, line.end_s, line.speaker, reason))
    unknown = sorted({line.speaker for line, who in zip(speech, owner) if line.speaker and who is None})
    return segments, left, unknown


def _overlaps(line: Speech, shot: Shot, config: SegmentConfig) -> bool:
    """Whether ``line`` sounds over ``shot``'s visible frames long enough to be planned there."""
    return any(sounds_over(line, lo, hi, shot.rate, config) for lo, hi in shot.visible)


@dataclasses.dataclass(frozen=True)
class SpeakerDecision:
    """Whether a planned segment is dubbed, on what evidence, and whether the editor must decide."""

    dub: bool
    spoken_by: str
    unsure: bool = False


def decide_speaker(original: OriginalSync, by_script: bool) -> SpeakerDecision:
    """The segment's face speaks its line: from the original sync sound first, the script second.

    Where the two disagree, or the sound is unclear and the script silent, nothing is dubbed and
    the editor is asked (``unsure``). Without original sound to check, the script or the face on
    screen decides, as before the check existed, and the plan says so.
    """
    if original.verdict == SPEAKS:
        return SpeakerDecision(True, "the original sync sound" + (" and the script" if by_script else ""))
    if original.verdict in (LISTENS, SILENT):
        if by_script:
            return SpeakerDecision(False, f"unsure: the script gives the line to this actor, but {original.reason}",
                                   unsure=True)
        return SpeakerDecision(False, original.reason)
    if original.verdict == UNSURE:
        if by_script:
            return SpeakerDecision(True, f"the script ({original.reason})")
        return SpeakerDecision(False, f"unsure: {original.reason}", unsure=True)
    assert original.verdict == UNKNOWN, original.verdict
    return SpeakerDecision(True, f"{'the script' if by_script else 'the face on screen'} ({original.reason})")
