"""Timelines in and out through OpenTimelineIO's adapters, chosen by file extension."""

from __future__ import annotations

import json
from pathlib import Path

import opentimelineio as otio

from ..artifacts import atomic_folder, atomic_path
from ..errors import BackendUnavailableError, TimelineError
from .aaf_insert import insert_dub as insert_aaf_dub
from .aaf_insert import restore_s2l_metadata as restore_aaf_s2l_metadata
from .aaf_insert import write_dub_aaf
from .fcp7 import insert_dub as insert_fcp7_dub
from .fcp7 import restore_s2l_metadata, target_sequence
from .fcpxml import fcpxml_project_names, read_fcpxml, write_fcpxml
from .fcpxml_insert import insert_dub as insert_fcpxml_dub
from .xmlsplice import parse_positions

ADAPTERS = {
    ".otio": ("otio_json", "opentimelineio"),
    ".xml": ("fcp_xml", "otio-fcp-adapter"),
    ".fcpxml": ("s2l_fcpxml", "s2l-dub"),
    ".fcpxmld": ("s2l_fcpxml", "s2l-dub"),
    ".edl": ("cmx_3600", "otio-cmx3600-adapter"),
    ".aaf": ("AAF", "otio-aaf-adapter"),
}


BUNDLE_SUFFIX = ".fcpxmld"
BUNDLE_DOCUMENT = "Info.fcpxml"
"""Final Cut Pro 10.6 and later export FCPXML 1.10+ as a bundle: a folder with this document at its
root, and whatever files it refers to beside it."""


def timeline_document(path: Path) -> Path:
    """The file that holds the timeline: a Final Cut bundle's ``Info.fcpxml``, else ``path`` itself."""
    path = Path(path)
    return path / BUNDLE_DOCUMENT if path.suffix.lower() == BUNDLE_SUFFIX else path


def timeline_exists(path: Path) -> bool:
    return timeline_document(path).is_file()


def adapter_for(path: Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in ADAPTERS:
        raise TimelineError(f"{path}: unknown timeline format {suffix or '(no extension)'}; "
                            f"use one of {', '.join(ADAPTERS)}")
    name, package = ADAPTERS[suffix]
    if name != "s2l_fcpxml" and name not in otio.adapters.available_adapter_names():
        raise BackendUnavailableError(f"{path}: reading {suffix} needs the {package} package (pip install {package})")
    return name


INSERTERS = {"fcp_xml": insert_fcp7_dub, "s2l_fcpxml": insert_fcpxml_dub, "AAF": insert_aaf_dub}
"""Formats whose write-back adds the dub to the editor's own document (same format in and out)."""


def read_timeline(path: Path, rate: float | None = None, sequence: str | None = None) -> otio.schema.Timeline:
    """The timeline named ``sequence`` in ``path``, else its first. ``rate`` is needed by EDLs,
    which do not carry one."""
    path = Path(path)
    document = timeline_document(path)
    if not document.is_file():
        if document != path and path.is_dir():
            raise TimelineError(f"{path}: not a Final Cut bundle (no {BUNDLE_DOCUMENT} inside)")
        raise TimelineError(f"{path}: timeline file not found")
    adapter = adapter_for(path)
    if adapter == "s2l_fcpxml":
        return read_fcpxml(document, sequence)
    timeline = choose_sequence(_read_all(path, adapter, rate), sequence, path)
    if adapter == "fcp_xml":
        apply_fcp7_enabled(timeline, path, sequence)
        restore_s2l_metadata(timeline)
    if adapter == "AAF":
        restore_aaf_s2l_metadata(timeline)
    return timeline


def sequence_names(path: Path, rate: float | None = None) -> list[str]:
    """The names of every timeline (sequence, project) ``path`` holds, in order."""
    path = Path(path)
    adapter = adapter_for(path)
    if adapter == "s2l_fcpxml":
        return fcpxml_project_names(timeline_document(path))
    return [t.name or "" for t in _read_all(path, adapter, rate)]


def choose_sequence(timelines: list[otio.schema.Timeline], name: str | None, path: Path) -> otio.schema.Timeline:
    if not timelines:
        raise TimelineError(f"{path}: holds no timeline")
    if name is None:
        return timelines[0]
    for timeline in timelines:
        if (timeline.name or "") == name:
            return timeline
    names = ", ".join(repr(t.name or "") for t in timelines)
    raise TimelineError(f"{path}: no sequence named {name!r}; it holds {names}")


def _read_all(path: Path, adapter: str, rate: float | None) -> list[otio.schema.Timeline]:
    options = {"rate": rate} if adapter == "cmx_3600" and rate else {}
    if adapter == "otio_json":
        _refuse_what_crashes_otio(path)
    try:
        result = otio.adapters.read_from_file(str(path), adapter_name=adapter, **options)
    except Exception as e:  # adapters raise anything from XML, JSON or their own errors
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise TimelineError(f"{path}: cannot read as {adapter}: {reason}") from e
    if isinstance(result, otio.schema.Timeline):
        return [result]
    return list(result.find_children(descended_from_type=otio.schema.Timeline)) \
        if hasattr(result, "find_children") else []


def _refuse_what_crashes_otio(path: Path) -> None:
    """Refuse, in a line, the damage that kills the process inside OpenTimelineIO's reader.

    OTIO 0.18 upgrades an old clip (``Clip.0``/``Clip.1``) by replacing its media references in
    place; one that already holds the new ``media_references`` crashes the interpreter (SIGSEGV), taking
    a batch or a watch folder down with it; so does JSON nested some ten thousand deep. Found by
    tests/test_fuzz.py. Anything else malformed is left to OTIO's reader, which reports it.
    """
    def check(obj: dict) -> dict:
        schema = obj.get("OTIO_SCHEMA")
        if isinstance(schema, str) and "media_references" in obj:
            name, _, version = schema.rpartition(".")
            if name == "Clip" and version in ("0", "1"):
                raise TimelineError(f"{path}: a {schema} clip ({obj.get('name')!r}) holds media_references, "
                                    f"which only Clip.2 has: the file is damaged or hand-edited")
        return obj

    try:
        json.loads(path.read_bytes(), object_hook=check)
    except RecursionError:
        # Python stops near a thousand levels; an editor's timeline nests a few dozen.
        raise TimelineError(f"{path}: nested too deep to be a timeline (damaged?)") from None
    except ValueError:
        pass  # not JSON: OTIO's own reader says what is wrong, and where


def apply_fcp7_enabled(timeline: otio.schema.Timeline, path: Path, sequence_name: str | None = None) -> None:
    """Disable the tracks and clips the editor disabled (``<enabled>FALSE</enabled>``).

    The FCP7 adapter reads every clip and track as enabled, so a disabled clip was planned for
    dubbing and the clip the viewer really sees was called covered. Items are matched to the
    XML in order, track by track; a track whose clips do not match by name is left as read.
    """
    try:
        _, root = parse_positions(path)
    except (TimelineError, OSError):
        return
    sequence = target_sequence(root, sequence_name)
    media = sequence.find("media") if sequence is not None else None
    if media is None:
        return
    xml_tracks = {otio.schema.TrackKind.Video: media.find("video"), otio.schema.TrackKind.Audio: media.find("audio")}
    for kind, section in xml_tracks.items():
        elements = section.findall("track") if section is not None else []
        tracks = [t for t in timeline.tracks if t.kind == kind]
        if len(tracks) != len(elements):
            continue
        for track, element in zip(tracks, elements):
            if _disabled(element):
                track.enabled = False
            items = [child for child in element.children if child.tag in ("clipitem", "generatoritem")]
            clips = [item for item in track if not isinstance(item, (otio.schema.Gap, otio.schema.Transition))]
            if len(items) != len(clips) or any((c.name or "") != _child_text(e, "name")
                                               for c, e in zip(clips, items)):
                continue
            for clip, item in zip(clips, items):
                if _disabled(item):
                    clip.enabled = False


def _child_text(element, tag: str) -> str:
    child = element.find(tag)
    return child.text if child is not None else ""


def _disabled(element) -> bool:
    return _child_text(element, "enabled").strip().upper() == "FALSE"


def write_timeline(timeline: otio.schema.Timeline, path: Path, protect: tuple[Path, ...] = (),
                   source: Path | None = None, sequence: str | None = None) -> Path:
    """Write atomically in the format ``path``'s extension names; never onto a ``protect`` path.

    ``source``: the editor's file ``timeline`` was read from. When it is FCP7 XML or FCPXML and
    ``path`` is too, the tracks the dub added are spliced into a copy of it instead of the
    whole timeline being regenerated, which would lose what the adapter does not model;
    ``sequence`` names the sequence or project it was read from (default: the first).
    """
    path = Path(path)
    for other in protect:
        if Path(other).resolve() == path.resolve():
            raise TimelineError(f"{path}: refusing to overwrite the input timeline")
    adapter_for(path)
    if path.suffix.lower() == BUNDLE_SUFFIX:
        with atomic_folder(path) as staging:
            if source is not None and Path(source).suffix.lower() == BUNDLE_SUFFIX:
                _copy_bundle_files(Path(source), staging)
            _write_file(timeline, staging / BUNDLE_DOCUMENT, source, sequence, path.parent)
        return path
    return _write_file(timeline, path, source, sequence, path.parent)


def _copy_bundle_files(bundle: Path, into: Path) -> None:
    """Everything in the editor's bundle but its document, as new files of ours (read-only source
    modes are not copied: the bundle must stay writable and removable by its user)."""
    import shutil

    for file in sorted(p for p in bundle.rglob("*") if p.is_file()):
        relative = file.relative_to(bundle)
        if relative == Path(BUNDLE_DOCUMENT):
            continue
        (into / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, into / relative)


def _write_file(timeline: otio.schema.Timeline, path: Path, source: Path | None, sequence: str | None,
                base: Path) -> Path:
    """``write_timeline`` into one file; ``base``: the folder the timeline's relative media paths are in."""
    adapter = adapter_for(path)
    splice_into = INSERTERS.get(adapter) if source is not None and adapter_for(source) == adapter else None
    if splice_into is not None:
        from .shots import timeline_rate

        with atomic_path(path) as tmp:
            splice_into(timeline_document(source), added_tracks(timeline), tmp, timeline_rate(timeline), base,
                        sequence)
        return path
    options = {}
    if adapter == "fcp_xml":
        timeline = _distinct_clips(timeline)
    if adapter == "cmx_3600":
        timeline = dub_layer(timeline)
        options = {"style": "nucoda"}  # writes FROM FILE lines, which conform tools relink by
    with atomic_path(path) as tmp:
        if adapter == "AAF":
            from .shots import timeline_rate

            write_dub_aaf(timeline, added_tracks(timeline), tmp, timeline_rate(timeline), base)
            return path
        if adapter == "s2l_fcpxml":
            write_fcpxml(timeline, tmp, _picture_size(timeline, base), base)
            return path
        try:
            otio.adapters.write_to_file(timeline, str(tmp), adapter_name=adapter, **options)
        except Exception as e:
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise TimelineError(f"{path}: cannot write as {adapter}: {reason}") from e
        if adapter == "fcp_xml":
            _finish_fcp7(tmp, _picture_size(timeline, base), base)
    return path


def added_tracks(timeline: otio.schema.Timeline) -> list[otio.schema.Track]:
    """The tracks this run's dub added (``dubbed_timeline`` marks them), not ones read from a file."""
    return [t for t in timeline.tracks if hasattr(t.metadata.get("s2l"), "get") and t.metadata["s2l"].get("added")]


def dub_layer(timeline: otio.schema.Timeline) -> otio.schema.Timeline:
    """The dub's picture track alone, for formats with one picture track (CMX 3600 EDL).

    The editor's EDL stays as it is; the dub comes beside it as its own EDL, on the same record
    timecode, to be laid on a track above the cut. A timeline with no dub track is returned as is.
    """
    from .shots import DUB_TRACK_PREFIX

    dubs = [t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Video and t.name.startswith(DUB_TRACK_PREFIX)]
    if not dubs:
        return timeline
    layer = otio.schema.Timeline(name=timeline.name, global_start_time=timeline.global_start_time,
                                 metadata=timeline.metadata)
    layer.tracks.append(dubs[-1].deepcopy())
    # The adapter would make each reel from the first 8 letters of the render's file name, which all
    # renders of a sequence share ("sq001_s001.mov" and "sq001_s002.mov" both become "sq001s00"):
    # a conform by reel and timecode would then link every event to one render.
    for number, clip in enumerate(layer.find_clips(), start=1):
        clip.metadata.setdefault("cmx_3600", {})["reel"] = f"S2L{number:05d}"
    return layer


def check_writable(timeline: otio.schema.Timeline, path: Path, source: Path, sequence: str | None = None) -> None:
    """Raise now, before any work, what ``write_timeline(timeline, path)`` would raise at the end.

    The trial goes to a scratch folder that is removed at once, so a dry run writes nothing
    beside the user's files; media paths are made absolute against ``path``'s folder first.
    """
    import os
    import tempfile

    path = Path(path)
    folder = path.parent.resolve()
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise TimelineError(f"{path}: cannot write here ({existing or folder} is not a writable folder)")
    if path.is_dir() and path.suffix.lower() != BUNDLE_SUFFIX:
        raise TimelineError(f"{path}: is a folder; name the output timeline file")
    trial = timeline.deepcopy()
    from .shots import DUB_TRACK_PREFIX, file_url, frame_range, local_path, timeline_rate

    rate = timeline_rate(trial)
    for track in trial.tracks:
        if track.kind == otio.schema.TrackKind.Video and track.name.startswith(DUB_TRACK_PREFIX) and not len(track):
            # A stand-in for the renders to come: adapters treat an empty track differently from a used one.
            track.append(otio.schema.Clip(
                name="render", source_range=frame_range(0, 1, rate),
                media_reference=otio.schema.ExternalReference(target_url=file_url(folder / "render.mov"),
                                                              available_range=frame_range(0, 1, rate))))

    for clip in trial.find_clips():
        ref = clip.media_reference
        if isinstance(ref, otio.schema.ExternalReference) and ref.target_url:
            local = local_path(ref.target_url, folder)
            if local is not None:
                ref.target_url = file_url(local.resolve())
    with tempfile.TemporaryDirectory(prefix="s2l-write-check-") as scratch:
        try:
            write_timeline(trial, Path(scratch) / path.name, protect=(Path(source),), source=Path(source),
                           sequence=sequence)
        except TimelineError as e:
            raise TimelineError(f"{path}: the dubbed timeline could not be written in this format "
                                f"({str(e).split(': ', 1)[-1]}); choose another -o format") from e


def _finish_fcp7(xml_path: Path, size: tuple[int, int], base: Path) -> None:
    """Make the FCP7 XML importable by Resolve and Premiere.

    Resolve rejects a sequence whose ``<format>`` is empty (OTIO issue #839), so it gets
    the sequence's rate and picture size; editors relink by absolute ``file://`` URL, so
    relative paths are resolved against the timeline's folder.
    """
    import xml.etree.ElementTree as ET
    from urllib.parse import urlparse

    from .shots import file_url, local_path

    tree = ET.parse(xml_path)
    for sequence in tree.getroot().iter("sequence"):
        video, rate = sequence.find("media/video"), sequence.find("rate")
        if video is None or rate is None:
            continue
        fmt = video.find("format")
        if fmt is None:
            fmt = ET.Element("format")
            video.insert(0, fmt)
        if fmt.find("samplecharacteristics") is None:
            chars = ET.SubElement(fmt, "samplecharacteristics")
            chars.append(ET.fromstring(ET.tostring(rate)))
            for tag, value in (("width", size[0]), ("height", size[1]), ("anamorphic", "FALSE"),
                               ("pixelaspectratio", "square"), ("fielddominance", "none")):
                ET.SubElement(chars, tag).text = str(value)
    for url in tree.getroot().iter("pathurl"):
        text = (url.text or "").strip()
        if text and not urlparse(text).scheme:
            url.text = file_url(local_path(text, base), host="localhost")
    ET.indent(tree)
    body = ET.tostring(tree.getroot(), encoding="unicode")
    xml_path.write_text(f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE xmeml>\n{body}\n')


def _distinct_clips(timeline: otio.schema.Timeline) -> otio.schema.Timeline:
    """A copy whose clips all serialise differently.

    The FCP7 XML writer writes a clip whose OTIO JSON equals an earlier one's as a mere
    reference to that earlier ``clipitem``, timing included; the picture and sync-sound
    copies of one shot, or a shot used twice, then collapse onto the first one's timing
    (and a reference to a clip cut by a transition does not read back at all). The tag
    is not written to the XML: that writer only emits its own metadata namespace.
    """
    timeline = timeline.deepcopy()
    for number, clip in enumerate(timeline.find_clips()):
        clip.metadata["s2l_xml_item"] = number
    return timeline


def _picture_size(timeline: otio.schema.Timeline, base: Path) -> tuple[int, int]:
    """The first readable picture clip's size (FCPXML formats carry one); HD when none reads."""
    from .shots import media_path, picture_size

    sizes = (picture_size(media_path(clip.media_reference, base)) for clip in timeline.find_clips())
    return next((size for size in sizes if size is not None), (1920, 1080))
