"""Write the dub into a copy of the edit: every original item untouched, two tracks added.

``S2L <lang>`` (video) sits above the picture and holds each rendered segment at exactly
its timeline frames; ``S2L <lang> dub`` (audio) holds the dub stem. Each rendered clip
carries ``metadata["s2l"]`` (actor, model, scores) and, when a check failed, a red QC
marker an editor can jump to.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import opentimelineio as otio

from .. import __version__
from .segments import Segment
from .shots import DUB_TRACK_PREFIX, frame_range, relative_url


@dataclasses.dataclass(frozen=True)
class QcConfig:
    max_sync_offset_frames: int = 2
    """The sync expert's best audio offset further than this from 0 is flagged."""
    min_sync_confidence: float = 0.02
    """Below this margin over the median offset the expert cannot tell sync at all."""
    max_head_turn_deg: float = 30.0
    """Head turned further than this from the canonical pose: warping quality drops."""


@dataclasses.dataclass(frozen=True)
class RenderedSegment:
    segment: Segment
    actor: str
    media: Path
    sidecar: dict


def qc_reasons(sidecar: dict, config: QcConfig) -> list[str]:
    scores = sidecar.get("scores", {})
    reasons = []
    offset, confidence = scores.get("sync_offset_frames"), scores.get("sync_confidence")
    speaking = sidecar.get("frames", 0) - sidecar.get("silent_frames", 0) >= 5
    if speaking and offset is not None and abs(offset) > config.max_sync_offset_frames:
        reasons.append(f"lips {offset:+d} frames off the audio")
    if speaking and confidence is not None and confidence == confidence and confidence < config.min_sync_confidence:
        reasons.append(f"weak sync ({confidence:.3f})")
    if scores.get("face_lost_share"):
        reasons.append(f"face lost on {scores['face_lost_share']:.0%} of frames (left untouched)")
    if sidecar.get("frames") and sidecar.get("silent_frames") == sidecar.get("frames"):
        reasons.append("no speech in the stem under this segment (cue or offset wrong?)")
    turn = scores.get("max_head_turn_deg")
    if turn is not None and turn > config.max_head_turn_deg:
        reasons.append(f"head turned {turn:.0f} deg from the learned pose")
    return reasons


def dubbed_timeline(original: otio.schema.Timeline, renders: list[RenderedSegment], stem: Path,
                    stem_seconds: float, audio_offset_s: float, lang: str, output_dir: Path, rate: float,
                    qc: QcConfig = QcConfig(), unsure: list[tuple[Segment, str]] = ()
                    ) -> tuple[otio.schema.Timeline, int]:
    """A copy of ``original`` with the dub tracks; also returns how many clips got QC markers.

    ``unsure``: segments left undubbed for the editor to decide, each with its marker's text; the
    marker sits on the dub track's gap over the segment's frames."""
    timeline = original.deepcopy()
    timeline.name = f"{original.name or 'timeline'} ({lang})"
    for track in timeline.tracks:
        if hasattr(track.metadata.get("s2l"), "get"):  # an earlier language's dub is now the editor's
            track.metadata["s2l"].pop("added", None)
    video = otio.schema.Track(name=f"{DUB_TRACK_PREFIX}{lang}", kind=otio.schema.TrackKind.Video,
                              metadata={"s2l": {"role": "dub_picture", "lang": lang, "added": True}})
    flagged = 0
    cursor = 0
    items = [(r.segment, r) for r in renders] + [(seg, text) for seg, text in unsure]
    for seg, item in sorted(items, key=lambda pair: (pair[0].start, isinstance(pair[1], str))):
        if seg.start < cursor:
            continue  # overlaps an earlier segment (stacked shots): the higher one was rendered first
        if seg.start > cursor:
            video.append(otio.schema.Gap(source_range=frame_range(0, seg.start - cursor, rate)))
        if isinstance(item, str):
            gap = otio.schema.Gap(source_range=frame_range(0, seg.frames, rate))
            gap.markers.append(otio.schema.Marker(name=item, marked_range=frame_range(0, seg.frames, rate),
                                                  color=otio.schema.MarkerColor.RED,
                                                  metadata={"s2l": {"qc": ["speaker unsure"],
                                                                    "source_clip": seg.shot.name}}))
            video.append(gap)
            flagged += 1
        else:
            clip, reasons = _rendered_clip(item, output_dir, rate, qc, lang)
            flagged += bool(reasons)
            video.append(clip)
        cursor = seg.stop
    timeline.tracks.append(video)

    audio = otio.schema.Track(name=f"{DUB_TRACK_PREFIX}{lang} dub", kind=otio.schema.TrackKind.Audio,
                              metadata={"s2l": {"role": "dub_sound", "lang": lang, "added": True}})
    offset_frames = round(audio_offset_s * rate)
    if offset_frames > 0:
        audio.append(otio.schema.Gap(source_range=frame_range(0, offset_frames, rate)))
    stem_frames = int(stem_seconds * rate)
    audio.append(otio.schema.Clip(
        name=f"dub stem ({lang})",
        media_reference=otio.schema.ExternalReference(target_url=relative_url(stem, output_dir),
                                                      available_range=frame_range(0, stem_frames, rate)),
        source_range=frame_range(max(0, -offset_frames), stem_frames - max(0, -offset_frames), rate),
        metadata={"s2l": {"role": "dub_stem", "lang": lang}},
    ))
    timeline.tracks.append(audio)
    timeline.metadata["s2l"] = {"s2l_dub_version": __version__, "lang": lang, "segments": len(renders),
                                "qc_flagged": flagged}
    return timeline, flagged


def _rendered_clip(render: RenderedSegment, output_dir: Path, rate: float, qc: QcConfig, lang: str):
    seg, sidecar = render.segment, render.sidecar
    frames = seg.frames
    # The rendered file starts at the source range's timecode when the source had one;
    # editors place media by its timecode, so the clip's times are in that clock.
    origin = 0
    if sidecar["source"].get("timecode"):
        origin = otio.opentime.from_timecode(sidecar["source"]["timecode"], rate).to_frames()
    reference = otio.schema.ExternalReference(target_url=relative_url(render.media, output_dir),
                                              available_range=frame_range(origin, frames, rate))
    reasons = qc_reasons(sidecar, qc)
    clip = otio.schema.Clip(
        name=f"{seg.shot.name} [{render.actor}]",
        media_reference=reference,
        source_range=frame_range(origin, frames, rate),
        metadata={"s2l": {
            "lang": lang,
            "actor": render.actor,
            "model": sidecar["model"].get("id"),
            "source_clip": seg.shot.name,
            "source_media": str(seg.shot.media),
            "source_frames": [seg.shot.source_frame(seg.start), seg.shot.source_frame(seg.stop)],
            "text": seg.text,
            "scores": sidecar.get("scores", {}),
            "qc": reasons,
        }},
    )
    if reasons:
        clip.markers.append(otio.schema.Marker(
            name="S2L QC: " + "; ".join(reasons),
            marked_range=frame_range(origin, frames, rate),
            color=otio.schema.MarkerColor.RED,
            metadata={"s2l": {"qc": reasons}},
        ))
    return clip, reasons
