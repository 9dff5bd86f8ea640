"""Write the dub into a copy of the editor's own AAF: their mobs untouched, the dub's tracks added.

The OTIO adapter regenerates an AAF from the timeline and needs an Avid mob ID for every
clip, which a render never has; and a regenerated file loses what the adapter does not
model. Here the editor's file is copied and opened for writing with pyaaf2, and the dub
is added to its composition: each render and the stem become linked media (master, file
and tape mobs with a locator to the file, as Media Composer's AMA link makes them), and
the composition gets a new picture track (inside its nested scope when the editor has
several, as Avid writes them) and a new sound slot. Nothing of the editor's is rewritten.
From any other format, the dub alone is written as a new AAF composition on the timeline's
start timecode, to lay over the cut as the dub EDL is.
"""

from __future__ import annotations

import json
import shutil
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from ..errors import TimelineError
from .fcpxml import exact_rate

LINKABLE = (".mov", ".mp4", ".m4v", ".wav")
"""Media pyaaf2 links as Media Composer's AMA does, from ffprobe's description."""

S2L_COMMENT = "s2l"
"""Master-mob comment holding a dub clip's ``metadata["s2l"]`` as JSON, so a second language
pass over the dubbed AAF knows its renders (the AAF reader keeps mob comments)."""


def _aaf2():
    import aaf2

    return aaf2


def top_composition(aaf_file, sequence_name: str | None = None):
    """The top-level composition named ``sequence_name``, else the first, as the OTIO reader orders them."""
    compositions = list(aaf_file.content.compositionmobs())
    tops = [m for m in compositions if m.usage == "Usage_TopLevel"] or compositions
    if sequence_name is not None:
        tops = [m for m in tops if (m.name or "") == sequence_name]
    return tops[0] if tops else None


def insert_dub(source: Path, added: list[otio.schema.Track], out: Path, rate: float, base: Path,
               sequence_name: str | None = None) -> None:
    """Write ``source`` to ``out`` with the clips of the ``added`` tracks on new tracks of the composition read."""
    aaf2 = _aaf2()
    shutil.copyfile(source, out)
    try:
        with aaf2.open(str(out), "rw") as aaf_file:
            composition = top_composition(aaf_file, sequence_name)
            if composition is None:
                raise TimelineError(f"{source}: holds no composition to add the dub to")
            _add_tracks(aaf_file, composition, added, rate, base)
    except TimelineError:
        raise
    except Exception as e:  # pyaaf2 raises its own and plain errors for files it cannot model
        raise TimelineError(f"{source}: cannot add the dub to this AAF: {e}") from e


def write_dub_aaf(timeline: otio.schema.Timeline, added: list[otio.schema.Track], out: Path, rate: float,
                  base: Path) -> None:
    """A new AAF holding one composition: the dub's tracks, on ``timeline``'s start timecode."""
    aaf2 = _aaf2()
    try:
        with aaf2.open(str(out), "w") as aaf_file:
            composition = aaf_file.create.CompositionMob()
            composition.name = timeline.name or "dub"
            composition.usage = "Usage_TopLevel"
            aaf_file.content.mobs.append(composition)
            edit_rate = exact_rate(rate)
            start = timeline.global_start_time
            length = max([_frames(t.duration(), edit_rate) for t in added] + [1])
            timecode = aaf_file.create.Timecode(round(float(edit_rate)), drop=False, length=length)
            timecode.start = _frames(start, edit_rate) if start is not None else 0
            slot = composition.create_timeline_slot(edit_rate)
            slot.segment = timecode
            slot["PhysicalTrackNumber"].value = 1  # Avid's (and the reader's) start timecode
            _add_tracks(aaf_file, composition, added, rate, base)
    except TimelineError:
        raise
    except Exception as e:
        raise TimelineError(f"{out}: cannot write the dub as AAF: {e}") from e


def _frames(time: otio.opentime.RationalTime, edit_rate: Fraction) -> int:
    return round(time.value * float(edit_rate) / time.rate)


def _add_tracks(aaf_file, composition, added: list[otio.schema.Track], rate: float, base: Path) -> None:
    slots = list(composition.slots)
    picture = next((s for s in slots if s.media_kind == "Picture"), None)
    edit_rate = picture.edit_rate if picture is not None else exact_rate(rate)
    links: dict[Path, object] = {}
    next_slot_id = max([s.slot_id for s in slots] + [0]) + 1
    for track in added:
        is_picture = track.kind == otio.schema.TrackKind.Video
        kind = "picture" if is_picture else "sound"
        sequence = aaf_file.create.Sequence(media_kind=kind)
        spans = track.range_of_all_children()
        cursor = 0
        for item in track:
            if not isinstance(item, otio.schema.Clip):
                continue
            at = _frames(spans[item].start_time, edit_rate)
            if at > cursor:
                sequence.components.append(_filler(aaf_file, kind, at - cursor))
            master = _linked_master(aaf_file, item, base, links, kind)
            slot = next((s for s in master.slots if s.media_kind == ("Picture" if is_picture else "Sound")), None)
            if slot is None:
                raise TimelineError(f"{item.media_reference.target_url}: has no "
                                    f"{'picture' if is_picture else 'sound'} to place on the dub track")
            available = item.media_reference.available_range
            offset = item.source_range.start_time - (available.start_time if available else item.source_range.start_time)
            length = _frames(item.source_range.duration, edit_rate)
            clip = master.create_source_clip(slot_id=slot.slot_id, start=_frames(offset, edit_rate), length=length,
                                             media_kind=kind)
            sequence.components.append(clip)
            cursor = at + length
        nested = picture.segment if is_picture and picture is not None else None
        if nested is not None and type(nested).__name__ == "NestedScope":
            # Avid keeps all picture tracks of a sequence as the layers of one nested scope,
            # each as long as the scope: pad (or trim the trailing filler of) the dub to it.
            if cursor < nested.length:
                sequence.components.append(_filler(aaf_file, kind, nested.length - cursor))
            elif cursor > nested.length:
                raise TimelineError(f"dub track {track.name}: runs past the end of the sequence")
            nested["Slots"].append(sequence)
            continue
        new_slot = composition.create_timeline_slot(edit_rate, slot_id=next_slot_id)
        next_slot_id += 1
        new_slot.segment = sequence
        new_slot.name = track.name
        same_kind = [s for s in composition.slots if s.media_kind == new_slot.media_kind and s is not new_slot]
        new_slot["PhysicalTrackNumber"].value = len(same_kind) + 1


def _filler(aaf_file, kind: str, length: int):
    filler = aaf_file.create.Filler(media_kind=kind)
    filler.length = length
    return filler


def _linked_master(aaf_file, clip: otio.schema.Clip, base: Path, links: dict, kind: str):
    """The master mob linking the clip's file: one per file, made on first use."""
    from ..media.probe import probe_streams
    from .shots import local_path

    reference = clip.media_reference
    url = getattr(reference, "target_url", "") or ""
    path = local_path(url, base)
    if path is None:
        raise TimelineError(f"{clip.name}: its media {url!r} is not a file AAF can link")
    path = path.resolve()
    if path in links:
        return links[path]
    aaf2 = _aaf2()
    linked = aaf2.ama.create_media_link(aaf_file, str(path), probe_streams(path)) if path.is_file() and \
        path.suffix.lower() in LINKABLE else None
    if linked is None:
        master, tape = _located_master(aaf_file, clip, path, kind), None
    else:
        master, _, tape = linked
    master.name = clip.name or path.stem
    available = reference.available_range
    picture = next((s for s in tape.slots if s.media_kind == "Picture"), None) if tape is not None else None
    if available is not None and available.start_time.value > 0 and picture is not None:
        # Renders start at their source's timecode; Avid shows and relinks by the tape's timecode.
        timecode = tape.create_timecode_slot(picture.edit_rate, round(float(picture.edit_rate)))
        timecode.segment.start = _frames(available.start_time, picture.edit_rate)
        timecode.segment.length = picture.segment.length
        timecode["PhysicalTrackNumber"].value = 1
    s2l = clip.metadata.get("s2l")
    if hasattr(s2l, "get"):
        master.comments[S2L_COMMENT] = json.dumps(dict(s2l), default=str)
    links[path] = master
    return master


def _located_master(aaf_file, clip: otio.schema.Clip, path: Path, kind: str):
    """A master mob over a file mob that only locates ``path``: for media ffprobe-based linking
    does not describe (not .mov, .mp4 or .wav), or not written yet (the trial write before any
    work). Avid relinks it by the locator, as it does the adapter's own."""
    available = clip.media_reference.available_range or clip.source_range
    edit_rate = exact_rate(available.duration.rate)
    length = _frames(available.start_time + available.duration, edit_rate)
    source = aaf_file.create.SourceMob()
    source.name = path.name
    source.descriptor = aaf_file.create.ImportDescriptor()
    locator = aaf_file.create.NetworkLocator()
    locator["URLString"].value = path.as_uri()
    source.descriptor["Locator"].append(locator)
    slot = source.create_empty_sequence_slot(edit_rate, media_kind=kind)
    slot.segment.components.append(_filler(aaf_file, kind, length))
    aaf_file.content.mobs.append(source)
    master = aaf_file.create.MasterMob()
    aaf_file.content.mobs.append(master)
    master_slot = master.create_empty_sequence_slot(edit_rate, media_kind=kind)
    master_slot.segment.components.append(source.create_source_clip(slot_id=slot.slot_id, length=length,
                                                                    media_kind=kind))
    return master


def restore_s2l_metadata(timeline: otio.schema.Timeline) -> None:
    """Give the clips and tracks a dubbed AAF brings back their ``metadata["s2l"]`` and dub track names."""
    from .shots import DUB_TRACK_PREFIX

    for clip in timeline.find_clips():
        comments = clip.metadata.get("AAF", {}).get("UserComments", {}) if hasattr(clip.metadata.get("AAF"), "get") \
            else {}
        text = comments.get(S2L_COMMENT) if hasattr(comments, "get") else None
        if not isinstance(text, str) or "s2l" in clip.metadata:
            continue
        try:
            restored = json.loads(text)
        except ValueError:
            continue
        if isinstance(restored, dict):
            clip.metadata["s2l"] = restored
    for track in timeline.tracks:
        dubbed = [c for c in track.find_clips() if hasattr(c.metadata.get("s2l"), "get")]
        lang = next((c.metadata["s2l"].get("lang") for c in dubbed if c.metadata["s2l"].get("lang")), None)
        if lang and not track.name.startswith(DUB_TRACK_PREFIX):
            track.name = f"{DUB_TRACK_PREFIX}{lang}" + (" dub" if track.kind == otio.schema.TrackKind.Audio else "")
