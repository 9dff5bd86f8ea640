"""The dub added to the editor's own FCP7 XML (Premiere, Resolve, Final Cut 7), nothing rewritten.

Read through OpenTimelineIO and written again, a Premiere export loses its nested sequences,
its picture-to-sound links and half of each exploded stereo pair (issue 23). Here the dub's
tracks are spliced into the original document's sequence as new ``<track>`` elements, so
every byte the editor's application wrote stays where it was.

Each added clip item carries its ``metadata["s2l"]`` as JSON in an ``<s2l>`` element, and
each added track is named ``S2L <lang>``: a second language over the dubbed XML leaves the
first dub alone. Applications that do not know ``<s2l>`` ignore it.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import opentimelineio as otio

from ..errors import TimelineError
from .shots import file_url, local_path, picture_size, plain_metadata
from .xmlsplice import Node, append_children, declared_encoding, parse_positions, splice

S2L_ELEMENT = "s2l"
"""Clip-item child holding the clip's ``metadata["s2l"]`` as JSON."""


def target_sequence(root: Node, name: str | None = None) -> Node | None:
    """The sequence OpenTimelineIO's reader returns first (a top-level one, else the first in a
    project or bin), or the one called ``name``; a reference by id (``<sequence id="x"/>``) is
    followed to its definition."""
    candidates = [c for c in root.children if c.tag == "sequence"]
    candidates += [s for s in root.iter("sequence") if s.parent is not None and s.parent.tag == "children"]
    resolved = []
    for sequence in candidates:
        if not sequence.children and sequence.attrs.get("id"):
            sequence = next((s for s in root.iter("sequence")
                             if s.attrs.get("id") == sequence.attrs["id"] and s.children), sequence)
        resolved.append(sequence)
    if name is not None:
        resolved = [s for s in resolved if s.find("name") is not None and s.find("name").text == name]
    return resolved[0] if resolved else None


def insert_dub(source: Path, added: list[otio.schema.Track], out: Path, rate: float, base: Path,
               sequence_name: str | None = None) -> None:
    """Write ``source`` to ``out`` with the ``added`` tracks appended to the sequence that was read.

    ``base``: the folder relative media URLs in ``added`` are relative to (the output's).
    """
    data, root = parse_positions(source)
    if root.tag != "xmeml":
        raise TimelineError(f"{source}: not an FCP7 XML document (root <{root.tag}>)")
    sequence = target_sequence(root, sequence_name)
    media = sequence.find("media") if sequence is not None else None
    if media is None:
        raise TimelineError(f"{source}: the sequence has no <media> to add the dub's tracks to")
    encoding = declared_encoding(data, source)
    timebase, ntsc = _sequence_rate(sequence, rate)
    ids = {n.attrs["id"] for n in root.iter() if "id" in n.attrs}
    insertions = []
    for kind, tag in ((otio.schema.TrackKind.Video, "video"), (otio.schema.TrackKind.Audio, "audio")):
        tracks = [_track_element(t, rate, timebase, ntsc, base, ids) for t in added if t.kind == kind]
        if not tracks:
            continue
        section = media.find(tag)
        if section is None:
            holder = ET.Element(tag)
            holder.extend(tracks)
            insertions.append(append_children(data, media, [holder]))
        else:
            insertions.append(append_children(data, section, tracks))
    Path(out).write_bytes(splice(data, insertions, encoding))


def _sequence_rate(sequence: Node, rate: float) -> tuple[int, bool]:
    element = sequence.find("rate")
    timebase = element.find("timebase") if element is not None else None
    if timebase is not None and timebase.text.strip().isdigit():
        ntsc = element.find("ntsc")
        return int(timebase.text.strip()), ntsc is not None and ntsc.text.strip().upper() == "TRUE"
    return round(rate), abs(rate - round(rate)) > 1e-3


def _rate(parent: ET.Element, timebase: int, ntsc: bool) -> None:
    element = ET.SubElement(parent, "rate")
    ET.SubElement(element, "timebase").text = str(timebase)
    ET.SubElement(element, "ntsc").text = "TRUE" if ntsc else "FALSE"


def _new_id(prefix: str, ids: set[str]) -> str:
    number = len(ids) + 1
    while f"{prefix}-{number}" in ids:
        number += 1
    ids.add(f"{prefix}-{number}")
    return f"{prefix}-{number}"


def _track_element(track: otio.schema.Track, rate: float, timebase: int, ntsc: bool, base: Path,
                   ids: set[str]) -> ET.Element:
    element = ET.Element("track")
    ET.SubElement(element, "name").text = track.name
    picture = track.kind == otio.schema.TrackKind.Video
    spans = track.range_of_all_children()
    for item in track:
        if not isinstance(item, otio.schema.Clip):
            continue
        element.append(_clip_item(item, spans[item], rate, timebase, ntsc, base, picture, ids))
    ET.SubElement(element, "enabled").text = "TRUE" if track.enabled else "FALSE"
    ET.SubElement(element, "locked").text = "FALSE"
    if not picture:
        ET.SubElement(element, "outputchannelindex").text = "1"
    return element


def _clip_item(clip: otio.schema.Clip, span: otio.opentime.TimeRange, rate: float, timebase: int, ntsc: bool,
               base: Path, picture: bool, ids: set[str]) -> ET.Element:
    def frames(time: otio.opentime.RationalTime) -> int:
        return time.rescaled_to(rate).to_frames()

    reference = clip.media_reference
    if not isinstance(reference, otio.schema.ExternalReference) or not reference.target_url:
        raise TimelineError(f"clip {clip.name!r}: the dub's clips must point at their media")
    available = reference.available_range or clip.source_range
    media_start, media_frames = frames(available.start_time), frames(available.duration)
    start = frames(span.start_time)
    length = frames(span.duration)
    first = frames(clip.source_range.start_time) - media_start if clip.source_range else 0

    item = ET.Element("clipitem", id=_new_id("s2l-clipitem", ids))
    ET.SubElement(item, "name").text = clip.name
    ET.SubElement(item, "enabled").text = "TRUE" if clip.enabled else "FALSE"
    ET.SubElement(item, "duration").text = str(media_frames)
    _rate(item, timebase, ntsc)
    for tag, value in (("start", start), ("end", start + length), ("in", first), ("out", first + length)):
        ET.SubElement(item, tag).text = str(value)
    path = local_path(reference.target_url, base)
    item.append(_file_element(path, reference.target_url, media_start, media_frames, timebase, ntsc, picture, ids))
    if not picture:
        track = ET.SubElement(item, "sourcetrack")
        ET.SubElement(track, "mediatype").text = "audio"
        ET.SubElement(track, "trackindex").text = "1"
    for marker in clip.markers:
        element = ET.SubElement(item, "marker")
        ET.SubElement(element, "name").text = marker.name
        ET.SubElement(element, "comment")
        ET.SubElement(element, "in").text = str(frames(marker.marked_range.start_time) - media_start)
        ET.SubElement(element, "out").text = "-1"
    s2l = clip.metadata.get("s2l")
    if s2l:
        ET.SubElement(item, S2L_ELEMENT).text = json.dumps(plain_metadata(s2l), sort_keys=True)
    return item


def _file_element(path: Path | None, url: str, media_start: int, media_frames: int, timebase: int, ntsc: bool,
                  picture: bool, ids: set[str]) -> ET.Element:
    element = ET.Element("file", id=_new_id("s2l-file", ids))
    name = path.name if path is not None else url.rsplit("/", 1)[-1]
    ET.SubElement(element, "name").text = name
    # Premiere and Resolve relink by absolute file://localhost URL.
    ET.SubElement(element, "pathurl").text = file_url(path.resolve(), host="localhost") if path is not None else url
    _rate(element, timebase, ntsc)
    ET.SubElement(element, "duration").text = str(media_frames)
    if media_start:
        timecode = ET.SubElement(element, "timecode")
        _rate(timecode, timebase, ntsc)
        # Non-drop-frame timecode counts the nominal rate's frames, NTSC or not.
        ET.SubElement(timecode, "string").text = otio.opentime.to_timecode(
            otio.opentime.RationalTime(media_start, timebase), timebase, drop_frame=False)
        ET.SubElement(timecode, "frame").text = str(media_start)
        ET.SubElement(timecode, "displayformat").text = "NDF"
    media = ET.SubElement(element, "media")
    if picture:
        video = ET.SubElement(media, "video")
        size = picture_size(path)
        if size:
            chars = ET.SubElement(video, "samplecharacteristics")
            _rate(chars, timebase, ntsc)
            ET.SubElement(chars, "width").text = str(size[0])
            ET.SubElement(chars, "height").text = str(size[1])
    audio = ET.SubElement(media, "audio")
    ET.SubElement(audio, "channelcount").text = "1"
    return element


def restore_s2l_metadata(timeline: otio.schema.Timeline) -> None:
    """``metadata["s2l"]`` back from the ``<s2l>`` elements the reader left under ``fcp_xml``."""
    for clip in timeline.find_clips():
        stored = clip.metadata.get("fcp_xml", {})
        text = stored.get(S2L_ELEMENT) if hasattr(stored, "get") else None
        if isinstance(text, str) and "s2l" not in clip.metadata:
            try:
                clip.metadata["s2l"] = json.loads(text)
            except json.JSONDecodeError:
                continue
