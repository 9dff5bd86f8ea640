"""The dub added to the editor's own FCPXML (Final Cut Pro, Resolve), nothing rewritten.

Regenerated from OpenTimelineIO, a Final Cut project loses its titles, compound, multicam
and synchronized clips, keywords, notes and filters (issue 23). Here the dub's clips are
spliced into the original document as connected clips on new lanes above (picture) and
below (sound) everything the editor connected, each anchored to the primary-storyline item
it starts over, with its asset (and, for pictures, a format) added to ``<resources>``.
Element order follows Apple's DTD: connected clips go after a parent's own anchored items
and before its markers, filters and metadata.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from ..errors import TimelineError
from .fcpxml import METADATA_KEY, parse_time, time_text
from .shots import file_url, local_path, picture_size, plain_metadata
from .xmlsplice import Node, append_children, declared_encoding, insert_before, parse_positions, splice

TRAILING = {"marker", "chapter-marker", "rating", "keyword", "analysis-marker", "audio-channel-source",
            "audio-role-source", "sync-source", "filter-video", "filter-video-mask", "filter-audio", "metadata",
            "reserved"}
"""Children that follow a clip's anchored items in every FCPXML DTD: new ones go before these."""


def project_sequence(root: Node, name: str | None = None) -> Node | None:
    """The sequence ``read_fcpxml`` reads: the project called ``name``'s, else the first
    project's, else the document's first."""
    projects = [p for p in root.iter("project") if name is None or p.attrs.get("name") == name]
    if projects:
        sequence = projects[0].find("sequence")
    else:
        sequence = next(root.iter("sequence"), None) if name is None else None
    return sequence if sequence is not None and sequence.find("spine") is not None else None


def insert_dub(source: Path, added: list[otio.schema.Track], out: Path, rate: float, base: Path,
               sequence_name: str | None = None) -> None:
    """Write ``source`` to ``out`` with the clips of the ``added`` tracks connected to the project read."""
    data, root = parse_positions(source)
    if root.tag != "fcpxml":
        raise TimelineError(f"{source}: not an FCPXML document (root <{root.tag}>)")
    sequence = project_sequence(root, sequence_name)
    resources = root.find("resources")
    if sequence is None or resources is None:
        raise TimelineError(f"{source}: no project sequence and resources to add the dub to")
    formats = {n.attrs["id"]: n for n in root.iter("format") if "id" in n.attrs}
    sequence_format = formats.get(sequence.attrs.get("format", ""))
    if sequence_format is None or not sequence_format.attrs.get("frameDuration"):
        raise TimelineError(f"{source}: the sequence has no frame rate (format frameDuration)")
    frame = parse_time(sequence_format.attrs["frameDuration"])
    tc_start = parse_time(sequence.attrs.get("tcStart"))
    anchors = [c for c in sequence.find("spine").children if c.tag != "transition"]
    if not anchors:
        raise TimelineError(f"{source}: the project's storyline is empty; nothing to connect the dub to")
    version = tuple(int(p) for p in root.attrs.get("version", "1.8").split(".")[:2] if p.isdigit())
    writer = _Writer(root, resources, sequence_format, frame, rate, base, version >= (1, 9))
    lanes = [int(c.attrs["lane"]) for a in anchors for c in a.children if c.attrs.get("lane", "").lstrip("-").isdigit()]
    picture_lane, sound_lane = max([0, *lanes]), min([0, *lanes])
    connected: dict[int, tuple[Node, list[ET.Element]]] = {}
    for track in added:
        picture = track.kind == otio.schema.TrackKind.Video
        if picture:
            picture_lane += 1
        else:
            sound_lane -= 1
        spans = track.range_of_all_children()
        for clip in track:
            if not isinstance(clip, otio.schema.Clip):
                continue
            at = tc_start + writer.seconds(spans[clip].start_time)
            parent = next((a for a in reversed(anchors) if parse_time(a.attrs.get("offset")) <= at), anchors[0])
            local = parse_time(parent.attrs.get("start")) + at - parse_time(parent.attrs.get("offset"))
            element = writer.clip(clip, spans[clip], local, picture_lane if picture else sound_lane, picture)
            connected.setdefault(id(parent), (parent, []))[1].append(element)
    edits = [append_children(data, resources, writer.resources)] if writer.resources else []
    for parent, elements in connected.values():
        trailing = next((c for c in parent.children if c.tag in TRAILING), None)
        edits.append(insert_before(data, trailing, elements) if trailing is not None
                     else append_children(data, parent, elements))
    Path(out).write_bytes(splice(data, edits, declared_encoding(data, source)))


class _Writer:
    """New resources and connected clips, with ids the document does not use yet."""

    def __init__(self, root: Node, resources: Node, sequence_format: Node, frame: Fraction, rate: float, base: Path,
                 media_rep: bool):
        self.ids = {n.attrs["id"] for n in root.iter() if "id" in n.attrs}
        self.sequence_format, self.frame, self.rate, self.base = sequence_format, frame, rate, base
        self.media_rep = media_rep
        self.resources: list[ET.Element] = []
        self.assets: dict[str, str] = {}
        self.formats: dict[tuple[int, int], str] = {}

    def seconds(self, time: otio.opentime.RationalTime) -> Fraction:
        return time.rescaled_to(self.rate).to_frames() * self.frame

    def _new_id(self) -> str:
        number = 1
        while f"s2l{number}" in self.ids:
            number += 1
        self.ids.add(f"s2l{number}")
        return f"s2l{number}"

    def _format(self, path: Path | None) -> str:
        size = picture_size(path)
        if size is None or (str(size[0]), str(size[1])) == (self.sequence_format.attrs.get("width"),
                                                             self.sequence_format.attrs.get("height")):
            return self.sequence_format.attrs["id"]
        if size not in self.formats:
            self.formats[size] = self._new_id()
            self.resources.insert(0, ET.Element("format", id=self.formats[size], name=f"s2l-dub {size[0]}x{size[1]}",
                                                frameDuration=time_text(self.frame), width=str(size[0]),
                                                height=str(size[1])))
        return self.formats[size]

    def _asset(self, clip: otio.schema.Clip, picture: bool) -> str:
        reference = clip.media_reference
        if not isinstance(reference, otio.schema.ExternalReference) or not reference.target_url:
            raise TimelineError(f"clip {clip.name!r}: the dub's clips must point at their media")
        path = local_path(reference.target_url, self.base)
        url = file_url(path.resolve()) if path is not None else reference.target_url
        if url in self.assets:
            return self.assets[url]
        asset_id = self.assets[url] = self._new_id()
        available = reference.available_range or clip.source_range
        attrs = {"id": asset_id, "name": Path(path.name if path else url).stem,
                 "start": time_text(self.seconds(available.start_time)),
                 "duration": time_text(self.seconds(available.duration)),
                 "hasVideo": "1" if picture else "0", "hasAudio": "1", "audioSources": "1", "audioChannels": "1"}
        if picture:
            attrs["format"] = self._format(path)
        if not self.media_rep:
            attrs["src"] = url  # FCPXML 1.8 and before name the file on the asset itself
        asset = ET.Element("asset", attrs)
        if self.media_rep:
            ET.SubElement(asset, "media-rep", kind="original-media", src=url)
        self.resources.append(asset)
        return asset_id

    def clip(self, clip: otio.schema.Clip, span: otio.opentime.TimeRange, local: Fraction, lane: int,
             picture: bool) -> ET.Element:
        attrs = {"name": clip.name, "ref": self._asset(clip, picture), "lane": str(lane), "offset": time_text(local),
                 "duration": time_text(self.seconds(span.duration)),
                 "start": time_text(self.seconds(clip.source_range.start_time)) if clip.source_range else "0s"}
        if picture:
            attrs["srcEnable"] = "video"  # the render's own sound is the original's; the dub stem is on its lane
        else:
            attrs.update(srcEnable="audio", audioRole="dialogue")
        if not clip.enabled:
            attrs["enabled"] = "0"
        element = ET.Element("asset-clip", attrs)
        for marker in clip.markers:
            ET.SubElement(element, "marker", start=time_text(self.seconds(marker.marked_range.start_time)),
                          duration=time_text(max(self.frame, self.seconds(marker.marked_range.duration))),
                          value=marker.name)
        s2l = clip.metadata.get("s2l")
        if s2l:
            metadata = ET.SubElement(element, "metadata")
            ET.SubElement(metadata, "md", key=METADATA_KEY, value=json.dumps(plain_metadata(s2l), sort_keys=True))
        return element
