"""Final Cut Pro X XML (FCPXML 1.9) in and out, with exact rational time.

The community OTIO adapter counts in whole frames per second and truncates times
(23.976 fps becomes 23, and 113/25 s reads back as 112 frames), so s2l-dub reads and
writes FCPXML itself. Mapping: the first video track is the primary storyline (spine);
every other track's clips are connected clips, video on lanes 1, 2, ... and audio on
lanes -1, -2, ...; a connected clip's offset is in its parent's local time. Supported:
asset-clips, clips and sync-clips wrapping one picture file (read as that file), gaps,
transitions (read as centred on the cut), markers, and s2l metadata (kept as an ``md``
entry). Compound, multicam and secondary-storyline items are read as clips without media,
so they keep their place but are not dubbed (the plan says what each is).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path
from urllib.parse import unquote, urlparse

import opentimelineio as otio

from ..errors import TimelineError
from .shots import DUB_TRACK_PREFIX, file_url, frame_range, local_path, plain_metadata

VERSION = "1.9"
METADATA_KEY = "com.s2l-dub.metadata"
_NTSC = {23.976: Fraction(24000, 1001), 29.97: Fraction(30000, 1001), 59.94: Fraction(60000, 1001)}


def exact_rate(rate: float) -> Fraction:
    """The rational frame rate behind a float one (23.976... -> 24000/1001)."""
    for label, exact in _NTSC.items():
        if abs(rate - float(exact)) < 1e-3 and abs(rate - label) < 0.01:
            return exact
    return Fraction(rate).limit_denominator(1001)


def _seconds(frames: int, rate: Fraction) -> str:
    return time_text(Fraction(frames) / rate)


def time_text(value: Fraction) -> str:
    """FCPXML's rational time: ``3s``, ``1001/30000s``."""
    return f"{value.numerator}s" if value.denominator == 1 else f"{value.numerator}/{value.denominator}s"


def parse_time(text: str | None) -> Fraction:
    if not text:
        return Fraction(0)
    body = text.strip().rstrip("s")
    num, _, den = body.partition("/")
    return Fraction(int(num), int(den or 1))


def _frames(seconds: Fraction, rate: Fraction) -> int:
    """``seconds`` conformed to the nearest frame at ``rate``.

    Real exports hold times off the sequence's frame grid: asset and clip-start times in the
    media's own clock (29.97 media in a 25 fps project), sample-accurate connected audio,
    markers in media time. Final Cut itself shows them on the nearest frame.
    """
    return int(round(seconds * rate))


# ---------------------------------------------------------------- writing

def write_fcpxml(timeline: otio.schema.Timeline, path: Path, size: tuple[int, int] = (1920, 1080),
                 media_base: Path | None = None) -> None:
    """``media_base``: the folder relative media paths are relative to (default: ``path``'s)."""
    path = Path(path)
    media_base = Path(media_base) if media_base is not None else path.parent
    tracks = list(timeline.tracks)
    video = [t for t in tracks if t.kind == otio.schema.TrackKind.Video]
    audio = [t for t in tracks if t.kind == otio.schema.TrackKind.Audio]
    if not video:
        raise TimelineError(f"{path}: FCPXML needs a video track")
    float_rate = next((c.source_range.duration.rate for c in timeline.find_clips() if c.source_range), 25.0)
    rate = exact_rate(float_rate)
    total = timeline.tracks.duration().rescaled_to(float_rate).to_frames()

    root = ET.Element("fcpxml", version=VERSION)
    resources = ET.SubElement(root, "resources")
    ET.SubElement(resources, "format", id="r1", frameDuration=_seconds(1, rate), width=str(size[0]),
                  height=str(size[1]))
    assets: dict[str, str] = {}

    def asset_for(clip: otio.schema.Clip, picture: bool) -> str | None:
        ref = clip.media_reference
        if not isinstance(ref, otio.schema.ExternalReference) or not ref.target_url:
            return None
        url = _absolute_url(ref.target_url, media_base)
        if url not in assets:
            assets[url] = f"r{len(assets) + 2}"
            available = ref.available_range
            element = ET.SubElement(resources, "asset", id=assets[url], name=Path(unquote(urlparse(url).path)).name,
                                    start=_seconds(_at(available.start_time, float_rate), rate) if available else "0s",
                                    duration=_seconds(_at(available.duration, float_rate), rate) if available else "0s",
                                    hasVideo="0", hasAudio="1")
            ET.SubElement(element, "media-rep", kind="original-media", src=url)
        if picture:
            element = resources.find(f"asset[@id='{assets[url]}']")
            element.set("hasVideo", "1")
            element.set("format", "r1")
        return assets[url]

    library = ET.SubElement(root, "library")
    event = ET.SubElement(library, "event", name="s2l-dub")
    project = ET.SubElement(event, "project", name=timeline.name or "timeline")
    tc_start = timeline.global_start_time.rescaled_to(float_rate).to_frames() if timeline.global_start_time else 0
    sequence = ET.SubElement(project, "sequence", format="r1", duration=_seconds(total, rate),
                             tcStart=_seconds(tc_start, rate), tcFormat=_tc_format(timeline))
    spine = ET.SubElement(sequence, "spine")

    # The primary storyline: items in order, ended by a gap so connected clips always have a parent.
    primary = video[0]
    parents: list[tuple[int, int, int, ET.Element]] = []  # (timeline first frame, frames, local start, element)
    cursor = 0
    primary_spans = primary.range_of_all_children()
    for item in primary:
        span = primary_spans[item]
        first = _at(span.start_time, float_rate)
        if isinstance(item, otio.schema.Transition):
            ET.SubElement(spine, "transition", name=item.name or "Cross Dissolve",
                          offset=_seconds(tc_start + first, rate), duration=_seconds(_at(span.duration, float_rate), rate))
            continue
        frames = _at(span.duration, float_rate)
        element, local = _item_element(spine, item, tc_start + first, frames, rate, float_rate, asset_for, lane=None)
        parents.append((first, frames, local, element))
        cursor = first + frames
    if cursor < total or not parents:
        gap = ET.SubElement(spine, "gap", name="Gap", offset=_seconds(tc_start + cursor, rate), start="0s",
                            duration=_seconds(max(1, total - cursor), rate))
        parents.append((cursor, max(1, total - cursor), 0, gap))

    lanes = [(i + 1, t) for i, t in enumerate(video[1:])] + [(-(i + 1), t) for i, t in enumerate(audio)]
    for lane, track in lanes:
        track_spans = track.range_of_all_children()
        for item in track:
            if isinstance(item, (otio.schema.Gap, otio.schema.Transition)):
                continue
            if not isinstance(item, otio.schema.Clip) or asset_for(item, lane > 0) is None:
                # A connected item must be media (FCPXML has no connected gap): an offline or
                # generated clip on an upper track cannot be regenerated here.
                continue
            span = track_spans[item]
            first = _at(span.start_time, float_rate)
            parent_first, _, parent_local, parent = next(
                p for p in reversed(parents) if p[0] <= first)
            local_offset = parent_local + (first - parent_first)
            _item_element(parent, item, local_offset, _at(span.duration, float_rate), rate, float_rate, asset_for,
                          lane=lane)

    for element in spine.iter():
        # Apple's DTD wants a clip's connected clips before its markers, and its metadata last;
        # connected clips were added after their parent's markers.
        element[:] = sorted(element, key=lambda child: _CHILD_RANK.get(child.tag, 0))
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    path.write_text(f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE fcpxml>\n{body}\n')


_CHILD_RANK = {"marker": 1, "chapter-marker": 1, "keyword": 1, "metadata": 2}


def _item_element(parent: ET.Element, item, offset: int, frames: int, rate: Fraction, float_rate: float,
                  asset_for, lane: int | None) -> tuple[ET.Element, int]:
    """Write one item; returns its element and its local start frame."""
    attrs = {"name": item.name or "", "offset": _seconds(offset, rate), "duration": _seconds(frames, rate)}
    if lane is not None:
        attrs["lane"] = str(lane)
    asset = asset_for(item, lane is None or lane > 0) if isinstance(item, otio.schema.Clip) else None
    if asset is None:
        element = ET.SubElement(parent, "gap", start="0s", **attrs)
        local = 0
    else:
        local = _at(item.source_range.start_time, float_rate) if item.source_range else 0
        element = ET.SubElement(parent, "asset-clip", ref=asset, start=_seconds(local, rate), format="r1", **attrs)
        if lane is not None and lane < 0:
            element.set("srcEnable", "audio")
        if not item.enabled:
            element.set("enabled", "0")
    for marker in getattr(item, "markers", []):
        ET.SubElement(element, "marker", start=_seconds(_at(marker.marked_range.start_time, float_rate), rate),
                      duration=_seconds(max(1, _at(marker.marked_range.duration, float_rate)), rate),
                      value=marker.name)
    s2l = item.metadata.get("s2l")
    if s2l:
        metadata = ET.SubElement(element, "metadata")
        ET.SubElement(metadata, "md", key=METADATA_KEY, value=json.dumps(plain_metadata(s2l), sort_keys=True))
    return element, local


def _tc_format(timeline: otio.schema.Timeline) -> str:
    """The timecode format the project was read with (drop-frame stays drop-frame), else NDF."""
    stored = timeline.metadata.get("fcpxml", {})
    value = stored.get("tcFormat") if hasattr(stored, "get") else None
    return value if value in ("DF", "NDF") else "NDF"


def _at(time: otio.opentime.RationalTime, rate: float) -> int:
    return time.rescaled_to(rate).to_frames()


def _absolute_url(target: str, base: Path) -> str:
    """FCP relinks by absolute file URL only."""
    path = local_path(target, base)
    return target if path is None else file_url(path.resolve())


# ---------------------------------------------------------------- reading

def _document(path: Path) -> ET.Element:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise TimelineError(f"{path}: not valid XML ({e})") from e
    if root.tag != "fcpxml":
        raise TimelineError(f"{path}: not an FCPXML document")
    return root


def fcpxml_project_names(path: Path) -> list[str]:
    """The projects of a library, event or project file, in order."""
    return [p.get("name", "") for p in _document(Path(path)).iter("project")]


def read_fcpxml(path: Path, name: str | None = None) -> otio.schema.Timeline:
    """The project called ``name`` (else the first; else the document's first sequence)."""
    path = Path(path)
    root = _document(path)
    formats = {f.get("id"): f for f in root.iter("format")}
    assets = {a.get("id"): a for a in root.iter("asset")}
    projects = list(root.iter("project"))
    project = next((p for p in projects if name is None or p.get("name") == name), None)
    if name is not None and project is None:
        names = ", ".join(repr(p.get("name", "")) for p in projects) or "no projects"
        raise TimelineError(f"{path}: no project named {name!r}; it holds {names}")
    sequence = project.find("sequence") if project is not None else next(root.iter("sequence"), None)
    if sequence is None or sequence.find("spine") is None:
        raise TimelineError(f"{path}: no project sequence to read")
    fmt = formats.get(sequence.get("format"))
    if fmt is None or not fmt.get("frameDuration"):
        raise TimelineError(f"{path}: the sequence has no frame rate (format frameDuration)")
    rate = 1 / parse_time(fmt.get("frameDuration"))
    float_rate = float(rate)

    timeline = otio.schema.Timeline(name=(project.get("name") if project is not None else None) or path.stem)
    # Spine offsets count from the sequence's start timecode: a project starting at 01:00:00:00
    # has its first clip at offset 3600s, which is the timeline's first frame, not an hour in.
    tc_start = _frames(parse_time(sequence.get("tcStart")), rate)
    timeline.global_start_time = otio.opentime.RationalTime(tc_start, float_rate)
    if sequence.get("tcFormat"):
        timeline.metadata["fcpxml"] = {"tcFormat": sequence.get("tcFormat")}
    placed: dict[int, list[tuple[int, object]]] = {0: []}
    for element in sequence.find("spine"):
        if element.tag == "transition":
            half = _frames(parse_time(element.get("duration")), rate) // 2
            start = _frames(parse_time(element.get("offset")), rate) - tc_start
            placed[0].append((start + half, otio.schema.Transition(
                name=element.get("name", ""), transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                in_offset=otio.opentime.RationalTime(half, float_rate),
                out_offset=otio.opentime.RationalTime(half, float_rate))))
            continue
        first = _frames(parse_time(element.get("offset")), rate) - tc_start
        local = _frames(parse_time(element.get("start")), rate)
        placed[0].append((first, _read_item(element, assets, rate, float_rate, path)))
        for child in element:
            if child.get("lane") is None or child.tag == "transition":
                continue
            lane = int(child.get("lane"))
            at = first + _frames(parse_time(child.get("offset")), rate) - local
            placed.setdefault(lane, []).append((at, _read_item(child, assets, rate, float_rate, path)))

    for lane in [0, *sorted(k for k in placed if k > 0), *sorted((k for k in placed if k < 0), reverse=True)]:
        kind = otio.schema.TrackKind.Audio if lane < 0 else otio.schema.TrackKind.Video
        name = f"V{lane + 1}" if lane >= 0 else f"A{-lane}"
        track = otio.schema.Track(name=name, kind=kind)
        cursor = 0
        for at, item in sorted(placed[lane], key=lambda p: p[0]) if lane else placed[lane]:
            if isinstance(item, otio.schema.Transition):
                track.append(item)
                continue
            if at > cursor:
                track.append(otio.schema.Gap(source_range=frame_range(0, at - cursor, float_rate)))
            if isinstance(item, otio.schema.Gap) and lane:
                continue
            track.append(item)
            cursor = at + item.source_range.duration.to_frames()
        timeline.tracks.append(track)
    for track in timeline.tracks[1:]:
        track.name = _dub_lane_name(track) or track.name
    return timeline


def _dub_lane_name(track: otio.schema.Track) -> str | None:
    """``S2L <lang>`` for a lane holding only an earlier dub's clips: FCPXML has no lane names, and
    a second language must know the first one's renders from the editor's pictures."""
    languages = {c.metadata["s2l"].get("lang") if hasattr(c.metadata.get("s2l"), "get") else None
                 for c in track.find_clips()}
    if len(languages) != 1 or None in languages:
        return None
    suffix = " dub" if track.kind == otio.schema.TrackKind.Audio else ""
    return f"{DUB_TRACK_PREFIX}{languages.pop()}{suffix}"


def _inner_picture(element: ET.Element, assets: dict, rate: Fraction, local: int):
    """The asset a ``clip`` or ``sync-clip`` shows, and the media frame at the item's first frame.

    Final Cut wraps a camera file's picture in ``<clip><video ref=.../>`` (1.8 and before) or a
    ``sync-clip`` around an ``asset-clip``; the wrapped item sits at ``offset`` in the wrapper's
    local time and starts at ``start`` in the media's, so the media frame the wrapper shows
    first is ``start + (wrapper start - offset)``. None when nothing inside is one picture file.
    """
    for child in element:
        asset = assets.get(child.get("ref"))
        if child.tag not in ("video", "asset-clip") or child.get("lane") is not None or asset is None \
                or asset.get("hasVideo") == "0":
            continue
        inner_start = _frames(parse_time(child.get("start")), rate)
        inner_offset = _frames(parse_time(child.get("offset")), rate)
        return asset, inner_start + local - inner_offset
    return None, local


def _read_item(element: ET.Element, assets: dict, rate: Fraction, float_rate: float, path: Path):
    frames = _frames(parse_time(element.get("duration")), rate)
    local = _frames(parse_time(element.get("start")), rate)
    name = element.get("name", "")
    if element.tag == "gap":
        return otio.schema.Gap(source_range=frame_range(0, frames, float_rate))
    reference = otio.schema.MissingReference()
    asset = assets.get(element.get("ref")) if element.tag == "asset-clip" else None
    if element.tag in ("clip", "sync-clip"):
        asset, local = _inner_picture(element, assets, rate, local)
    if asset is not None:
        rep = asset.find("media-rep")
        url = rep.get("src") if rep is not None else asset.get("src")
        reference = otio.schema.ExternalReference(
            target_url=url, available_range=frame_range(_frames(parse_time(asset.get("start")), rate),
                                                   _frames(parse_time(asset.get("duration")), rate), float_rate))
    clip = otio.schema.Clip(name=name, media_reference=reference, source_range=frame_range(local, frames, float_rate))
    if element.get("enabled") == "0":
        clip.enabled = False
    if element.tag not in ("asset-clip", "clip"):
        clip.metadata["fcpxml"] = {"element": element.tag}
    for marker in element.findall("marker"):
        clip.markers.append(otio.schema.Marker(
            name=marker.get("value", ""),
            marked_range=frame_range(_frames(parse_time(marker.get("start")), rate),
                                _frames(parse_time(marker.get("duration")), rate), float_rate),
            color=otio.schema.MarkerColor.RED))
    for md in element.iter("md"):
        if md.get("key") == METADATA_KEY:
            try:
                clip.metadata["s2l"] = json.loads(md.get("value", "{}"))
            except json.JSONDecodeError as e:
                raise TimelineError(f"{path}: clip {name!r} has unreadable s2l metadata ({e})") from e
    return clip
