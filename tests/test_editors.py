"""Real editors' exports (../shared/timelines): read at their own rate and start, or refused in one line.

The expected rates are the sequences' own, as the files state them; the refused files are the
ones OpenTimelineIO's adapters cannot read (they stay listed here until they read).
"""

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import opentimelineio as otio
import pytest
import soundfile as sf
from lxml import etree

from s2l_dub.errors import TimelineError
from s2l_dub.timeline.fcpxml import METADATA_KEY
from s2l_dub.timeline.io import read_timeline, sequence_names, write_timeline
from s2l_dub.timeline.shots import (
    DUB_TRACK_PREFIX,
    collect_shots,
    frame_range,
    timeline_rate,
)
from s2l_dub.timeline.writeback import dubbed_timeline
from s2l_dub.timeline.xmlsplice import newline_of, parse_positions

from .conftest import samples_dir

TIMELINES = samples_dir().parent / "timelines"
RATES = {"aaf_2997fps-DFTC.aaf": 30000 / 1001, "fcp7_empty_name_tags.xml": 24000 / 1001,
         "fcp7_premiere_generators.xml": 24000 / 1001, "fcp7_premiere_example.xml": 30,
         "fcp7_just_track.xml": 30, "fcp7_premiere_enable.xml": 25, "fcp7_hiero_export.xml": 24}
REFUSED = {"edl_dissolve_test_4.edl", "edl_speed_effects.edl", "edl_timecode_mismatch.edl",
           "fcp7_premiere_filter.xml", "otio_premiere_example.otio"}
FILES = sorted(p.name for p in TIMELINES.glob("*.*") if p.suffix in (".otio", ".xml", ".fcpxml", ".edl", ".aaf")) \
    if TIMELINES.is_dir() else []


def _default_rate(name: str) -> float:
    if name.startswith(("off_fcpx", )):
        return 30
    if name.startswith("edl_"):
        return 25
    return 24


@pytest.mark.parametrize("name", FILES)
def test_every_export_reads_at_its_own_rate_or_is_named(name):
    path = TIMELINES / name
    if name in REFUSED:
        with pytest.raises(TimelineError) as error:
            read_timeline(path, 25)
        assert str(error.value).startswith(str(path)) and "\n" not in str(error.value)
        return
    timeline = read_timeline(path, 25 if name.endswith(".edl") else None)
    assert abs(timeline_rate(timeline) - RATES.get(name, _default_rate(name))) < 1e-6
    assert list(timeline.find_clips()) or name == "fcp7_just_track.xml", "no clips read"


def test_final_cut_projects_start_at_their_first_frame():
    """Off-grid media-clock times are conformed, and a spine starting at tcStart has no leading gap."""
    for name in ("off_fcpx_example.fcpxml", "off_fcpx_clips.fcpxml"):
        timeline = read_timeline(TIMELINES / name)
        first = next(iter(timeline.tracks[0]))
        assert not isinstance(first, otio.schema.Gap) or first.duration().to_frames() < 300


def test_final_cut_items_read_as_what_they_are():
    """A <clip> wrapping a camera file is that file from the right frame; compound clips and
    secondary storylines are named as such, not as offline media."""
    timeline = read_timeline(TIMELINES / "off_fcpx_project.fcpxml")
    wrapped = next(c for c in timeline.tracks[0].find_clips() if c.name == "IMG_0687")
    assert wrapped.media_reference.target_url == "file:///Volumes/Media/otio/IMG_0687.MOV"
    assert wrapped.source_range.start_time.to_frames() == 376  # the clip starts 37600/3000 s in, at 30 fps
    _, skipped = collect_shots(timeline, TIMELINES)
    reasons = {s.name: s.reason for s in skipped}
    assert reasons["compound_clip_1"].startswith("compound clip")
    assert any(r.startswith("secondary storyline") for r in reasons.values())
    assert reasons["IMG_0715"].startswith("media offline: /Volumes/Media/otio/IMG_0715.MOV")


def test_premiere_disabled_clips_and_tracks_stay_disabled():
    timeline = read_timeline(TIMELINES / "fcp7_premiere_enable.xml")
    video = [t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Video]
    disabled = {c.name for t in video for c in t.find_clips() if not c.enabled}
    assert {"video_track_1_disabled_1", "video_track_1_disabled_2", "video_track_3_disabled_1"} <= disabled
    assert not video[2].enabled and video[0].enabled


def test_edl_write_back_is_the_dub_layer_beside_the_cut(tmp_path):
    """CMX 3600 holds one picture track: the dub comes back as its own EDL, FROM FILE lines included."""
    timeline = read_timeline(TIMELINES / "edl_25fps.edl", 25)
    dub = otio.schema.Track(name=f"{DUB_TRACK_PREFIX}fr", kind=otio.schema.TrackKind.Video)
    dub.append(otio.schema.Gap(source_range=frame_range(0, 10, 25)))
    dub.append(otio.schema.Clip(
        name="dubbed", source_range=frame_range(0, 20, 25),
        media_reference=otio.schema.ExternalReference(target_url="edl_25fps.fr.media/sq001_s001.mov",
                                                      available_range=frame_range(0, 20, 25))))
    dub.append(otio.schema.Clip(
        name="dubbed too", source_range=frame_range(0, 5, 25),
        media_reference=otio.schema.ExternalReference(target_url="edl_25fps.fr.media/sq001_s002.mov",
                                                      available_range=frame_range(0, 5, 25))))
    timeline.tracks.append(dub)
    written = write_timeline(timeline, tmp_path / "edl_25fps.fr.edl")
    text = written.read_text()
    events = [line.split() for line in text.splitlines() if line[:3].isdigit()]
    assert [e[0] for e in events] == ["001", "002"]
    assert "FROM FILE: edl_25fps.fr.media/sq001_s001.mov" in text
    assert "FROM FILE: edl_25fps.fr.media/sq001_s002.mov" in text
    assert events[0][-2:] == ["00:00:00:10", "00:00:01:05"]  # record in and out: frames 10 to 30
    # Renders of one shot share their first 8 letters; a conform by reel needs one reel each.
    reels = [e[1] for e in events]
    assert len(set(reels)) == 2 and all(len(r) <= 8 and r.isalnum() for r in reels)


SPLICED = [n for n in FILES if n.endswith((".xml", ".fcpxml")) and n not in REFUSED]


def _with_a_dub(original: otio.schema.Timeline, folder: Path, lang: str = "fr") -> otio.schema.Timeline:
    """The editor's timeline with a dub as the main job adds it: a render on the picture lane, the stem below."""
    rate = timeline_rate(original)
    stem = samples_dir() / "dub_audio" / "english_60s.wav"
    dubbed, _ = dubbed_timeline(original, [], stem, 4.0, 0.0, lang, folder, rate)
    picture = next(t for t in dubbed.tracks if t.name == f"{DUB_TRACK_PREFIX}{lang}")
    picture.append(otio.schema.Gap(source_range=frame_range(0, 10, rate)))
    picture.append(otio.schema.Clip(
        name="shot [actor_1]", source_range=frame_range(100, 20, rate),
        media_reference=otio.schema.ExternalReference(target_url=f"cut.{lang}.media/shot.mp4",
                                                      available_range=frame_range(100, 20, rate)),
        metadata={"s2l": {"lang": lang, "actor": "actor_1", "source_clip": "shot", "qc": []}},
        markers=[otio.schema.Marker(name="S2L QC: weak sync", marked_range=frame_range(100, 20, rate))]))
    return dubbed


def _added_nodes(root):
    """What the dub added: FCP7 tracks named S2L, FCPXML connected clips, assets and formats with s2l ids."""
    if root.tag == "xmeml":
        ours = [t for t in root.iter("track") if t.find("name") is not None and t.find("name").text.startswith("S2L ")]
        # A <video> or <audio> holding only the dub's tracks was added whole.
        return list({id(n): n for n in (t.parent if all(c in ours for c in t.parent.children) else t
                                        for t in ours)}.values())
    return [n for n in root.iter() if n.tag in ("asset", "format") and n.attrs.get("id", "").startswith("s2l")] + \
        [n for n in root.iter("asset-clip") if any(m.attrs.get("key") == METADATA_KEY for m in n.iter("md"))]


def _without(data: bytes, nodes) -> bytes:
    """``data`` less each node's element and the line it starts (its indentation and newline)."""
    cuts = []
    newline = newline_of(data).encode()
    for node in nodes:
        line = data.rfind(newline, 0, node.start) + len(newline)
        close = data.index(b">", node.end) + 1
        cuts.append((line, close + len(newline) * data.startswith(newline, close)))
    kept, cursor = [], 0
    for start, stop in sorted(cuts):
        kept.append(data[cursor:start])
        cursor = stop
    return b"".join(kept) + data[cursor:]


def _spans(timeline):
    return [(t.name, t.kind, c.name, t.range_of_child(c), c.enabled) for t in timeline.tracks
            if not t.name.startswith(DUB_TRACK_PREFIX) for c in t.find_clips()]


@pytest.mark.parametrize("name", SPLICED)
def test_write_back_adds_the_dub_to_the_editors_own_file(name, tmp_path):
    """FCP7 XML and FCPXML come back as the editor's document plus the dub: no nest, link, title,
    marker or byte of theirs lost, the dub where it was put, and FCPXML valid against Apple's DTD."""
    source = TIMELINES / name
    original = read_timeline(source)
    out = write_timeline(_with_a_dub(original, tmp_path), tmp_path / name, protect=(source,), source=source)

    data, root = parse_positions(out)
    added = _added_nodes(root)
    assert len(added) == (2 if name.endswith(".xml") else 4)  # FCPXML: two assets, two connected clips
    assert all(n.tag in ("track", "video", "audio", "asset", "asset-clip") for n in added)
    stripped = _without(data, added)
    if name.endswith(".xml"):
        assert stripped == source.read_bytes()
    else:  # an empty-element parent (<gap/>) was opened to take its connected clip
        assert ET.canonicalize(stripped.decode(), strip_text=True) == \
            ET.canonicalize(from_file=str(source), strip_text=True)

    back = read_timeline(out)
    assert _spans(back) == _spans(original)
    rate = timeline_rate(original)
    picture = next(t for t in back.tracks if t.name == f"{DUB_TRACK_PREFIX}fr")
    render = picture.find_clips()[0]
    assert picture.range_of_child(render) == frame_range(10, 20, rate)
    assert render.source_range.start_time.to_frames() == 100 and render.metadata["s2l"]["actor"] == "actor_1"
    assert Path(urlparse(render.media_reference.target_url).path).name == "shot.mp4"
    stem = next(t for t in back.tracks if t.name == f"{DUB_TRACK_PREFIX}fr dub").find_clips()[0]
    assert stem.metadata["s2l"]["role"] == "dub_stem" and stem.source_range.duration.to_frames() == int(4.0 * rate)

    # A second language over the dubbed file dubs the actors' own shots, never the first dub's renders.
    shots, skipped = collect_shots(back, tmp_path)
    assert "shot [actor_1]" not in {s.name for s in shots} | {s.name for s in skipped}

    if name.endswith(".fcpxml"):
        version = ET.parse(out).getroot().get("version").replace(".", "_")
        dtd = etree.DTD(str(TIMELINES / "dtd" / f"FCPXMLv{version}.dtd"))
        assert dtd.validate(etree.parse(str(out))), dtd.error_log.filter_from_errors()


def _aaf_tree(obj, depth=0):
    """Every property of an AAF object and what it owns, as nested lists, in stored order."""
    from aaf2 import properties

    tree = []
    for prop in obj.properties():
        if isinstance(prop, properties.StrongRefProperty):
            tree.append((prop.name, _aaf_tree(prop.value, depth + 1) if prop.value is not None else None))
        elif isinstance(prop, (properties.StrongRefVectorProperty, properties.StrongRefSetProperty)):
            tree.append((prop.name, [_aaf_tree(child, depth + 1) for child in prop.value]))
        elif not isinstance(prop, properties.StreamProperty):
            tree.append((prop.name, re.sub(r" at 0x[0-9a-f]+", "", repr(prop.value))))  # weak refs: by id
    return tree


def _kept(before, after) -> bool:
    """``after`` holds ``before`` unchanged: the same properties and values, where a list of owned
    objects may only have gained items at its end."""
    if isinstance(before, list) and isinstance(after, list):
        if before and isinstance(before[0], tuple):  # an object's properties
            names = dict(after)
            return all(name in names and _kept(value, names[name]) for name, value in before)
        return len(after) >= len(before) and all(_kept(b, a) for b, a in zip(before, after))
    return before == after


AAFS = [n for n in FILES if n.endswith(".aaf")]


@pytest.mark.parametrize("name", AAFS)
def test_aaf_write_back_adds_the_dub_to_the_editors_own_composition(name, tmp_path):
    """Avid AAF comes back as the editor's file plus the dub: every mob of theirs property for
    property (lists may only gain items at their end), the renders and the stem linked as Avid
    links media, the dub where it was put, and a second language leaves the first dub alone."""
    import shutil

    import aaf2

    source = TIMELINES / name
    original = read_timeline(source)
    media = tmp_path / "cut.fr.media"
    media.mkdir()
    shutil.copyfile(samples_dir() / "clips" / "retalking_face_1.mp4", media / "shot.mp4")
    out = write_timeline(_with_a_dub(original, tmp_path), tmp_path / name, protect=(source,), source=source)

    with aaf2.open(str(source)) as before, aaf2.open(str(out)) as after:
        written = {str(m.mob_id): m for m in after.content.mobs}
        for mob in before.content.mobs:
            assert str(mob.mob_id) in written, f"mob {mob.name!r} lost"
            assert _kept(_aaf_tree(mob), _aaf_tree(written[str(mob.mob_id)])), f"mob {mob.name!r} changed"
        linked = {m.name for m in after.content.mastermobs()} - {m.name for m in before.content.mastermobs()}
        assert linked == {"shot [actor_1]", "dub stem (fr)"}

    back = read_timeline(out)
    # The reader names a one-layer nested scope's track after the slot, a two-layer one's
    # after the sequence: the AAF's own objects are compared above, so names are left out.
    assert [span[1:] for span in _spans(back)] == [span[1:] for span in _spans(original)]
    rate = timeline_rate(original)
    picture = next(t for t in back.tracks if t.name == f"{DUB_TRACK_PREFIX}fr")
    render = picture.find_clips()[0]
    assert picture.range_of_child(render) == frame_range(10, 20, rate)
    assert render.metadata["s2l"]["actor"] == "actor_1"
    assert Path(urlparse(render.media_reference.target_url).path) == (media / "shot.mp4").resolve()
    stem = next(t for t in back.tracks if t.name == f"{DUB_TRACK_PREFIX}fr dub").find_clips()[0]
    assert stem.metadata["s2l"]["role"] == "dub_stem"
    assert stem.source_range.duration.rescaled_to(rate).to_frames() == int(4.0 * rate)

    shots, skipped = collect_shots(back, tmp_path)
    assert "shot [actor_1]" not in {s.name for s in shots} | {s.name for s in skipped}


def test_aaf_from_another_format_is_the_dub_alone_on_its_timecode(tmp_path):
    """With no AAF to add to, the dub is written as its own composition on the timeline's start."""
    import shutil

    source = TIMELINES / "otio_simple_cut.otio"
    original = read_timeline(source)
    original.global_start_time = otio.opentime.from_timecode("01:00:00:00", timeline_rate(original))
    media = tmp_path / "cut.fr.media"
    media.mkdir()
    shutil.copyfile(samples_dir() / "clips" / "retalking_face_1.mp4", media / "shot.mp4")
    out = write_timeline(_with_a_dub(original, tmp_path), tmp_path / "cut.fr.aaf", protect=(source,), source=source)
    back = read_timeline(out)
    assert [t.name for t in back.tracks if t.find_clips()] == [f"{DUB_TRACK_PREFIX}fr", f"{DUB_TRACK_PREFIX}fr dub"]
    picture = back.tracks[[t.name for t in back.tracks].index(f"{DUB_TRACK_PREFIX}fr")]
    assert picture.range_of_child(picture.find_clips()[0]) == frame_range(10, 20, timeline_rate(original))
    assert otio.opentime.to_timecode(back.global_start_time, timeline_rate(original)) == "01:00:00:00"


@pytest.mark.parametrize("name", [n for n in FILES if not n.endswith(".fcpxml") and n not in REFUSED
                                  and n not in ("fcp7_just_track.xml", "edl_multi_audio.edl")])  # no picture
def test_fcpxml_regenerated_from_other_formats_validates(name, tmp_path):
    """An FCPXML written from any other editor's timeline (nothing to splice into) is valid 1.9."""
    timeline = _with_a_dub(read_timeline(TIMELINES / name, 25 if name.endswith(".edl") else None), tmp_path)
    out = write_timeline(timeline, tmp_path / (Path(name).stem + ".fcpxml"))
    dtd = etree.DTD(str(TIMELINES / "dtd" / "FCPXMLv1_9.dtd"))
    assert dtd.validate(etree.parse(str(out))), dtd.error_log.filter_from_errors()


def test_a_named_project_is_read_and_dubbed_in_a_library(tmp_path):
    """An event holding two projects: --sequence picks the second; the dub lands in it and nowhere else."""
    source = TIMELINES / "off_fcpx_event.fcpxml"
    assert sequence_names(source) == ["OpenTimeline_Project", "OpenTimeline_Project 1"]
    second = read_timeline(source, sequence="OpenTimeline_Project 1")
    assert second.name == "OpenTimeline_Project 1"
    with pytest.raises(TimelineError, match="no project named 'Nope'; it holds 'OpenTimeline_Project', "):
        read_timeline(source, sequence="Nope")

    out = write_timeline(_with_a_dub(second, tmp_path), tmp_path / source.name, protect=(source,), source=source,
                         sequence="OpenTimeline_Project 1")
    dubbed = read_timeline(out, sequence="OpenTimeline_Project 1")
    assert [t.name for t in dubbed.tracks if t.name.startswith(DUB_TRACK_PREFIX)] == ["S2L fr", "S2L fr dub"]
    first = read_timeline(out)
    assert not [t for t in first.tracks if t.name.startswith(DUB_TRACK_PREFIX)]
    assert _spans(first) == _spans(read_timeline(source))


def _bundle(folder: Path, name: str) -> Path:
    """A Final Cut bundle as 10.6 and later export it: the document as Info.fcpxml, a file beside it."""
    bundle = folder / f"{Path(name).stem}.fcpxmld"
    (bundle / "Thumbnails").mkdir(parents=True)
    (bundle / "Info.fcpxml").write_bytes((TIMELINES / name).read_bytes())
    (bundle / "Thumbnails" / "poster.png").write_bytes(b"\x89PNG editor's own file")
    return bundle


def test_a_final_cut_bundle_is_read_and_written_back_as_a_bundle(tmp_path):
    """A .fcpxmld reads as its Info.fcpxml; the dubbed bundle is the editor's, every file kept, with
    the dub added to its document; written again, it is replaced whole, and it honours the umask."""
    import os
    import stat

    source = _bundle(tmp_path / "in", "off_fcpx_event.fcpxml")
    assert sequence_names(source) == ["OpenTimeline_Project", "OpenTimeline_Project 1"]
    original = read_timeline(source)
    assert _spans(original) == _spans(read_timeline(TIMELINES / "off_fcpx_event.fcpxml"))

    out = tmp_path / "out" / "off_fcpx_event.fr.fcpxmld"
    previous = os.umask(0o022)
    try:
        for _ in range(2):  # the second write replaces the first bundle
            write_timeline(_with_a_dub(original, tmp_path), out, protect=(source,), source=source)
    finally:
        os.umask(previous)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == \
        ["Info.fcpxml", "Thumbnails", "Thumbnails/poster.png"]
    assert (out / "Thumbnails" / "poster.png").read_bytes() == (source / "Thumbnails" / "poster.png").read_bytes()
    assert stat.S_IMODE(out.stat().st_mode) == 0o755 and stat.S_IMODE((out / "Info.fcpxml").stat().st_mode) == 0o644
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging folder left

    data, root = parse_positions(out / "Info.fcpxml")
    assert ET.canonicalize(_without(data, _added_nodes(root)).decode(), strip_text=True) == \
        ET.canonicalize(from_file=str(source / "Info.fcpxml"), strip_text=True)
    back = read_timeline(out)
    assert _spans(back) == _spans(original)
    assert [t.name for t in back.tracks if t.name.startswith(DUB_TRACK_PREFIX)] == ["S2L fr", "S2L fr dub"]
    render = next(t for t in back.tracks if t.name == "S2L fr").find_clips()[0]
    # The render lies beside the bundle, where the job puts the renders, not inside it.
    assert urlparse(render.media_reference.target_url).path == str((out.parent / "cut.fr.media" / "shot.mp4").resolve())

    empty = tmp_path / "empty.fcpxmld"
    empty.mkdir()
    with pytest.raises(TimelineError) as error:
        read_timeline(empty)
    assert str(error.value) == f"{empty}: not a Final Cut bundle (no Info.fcpxml inside)"


def test_a_final_cut_bundle_in_the_main_job(tmp_path, capsys):
    """The main job plans a bundle, relinks its media and checks the bundle it will write, writing nothing."""
    import subprocess

    from s2l_dub.cli.main import main

    source = _bundle(tmp_path, "off_fcpx_project.fcpxml")
    _conform(tmp_path / "conform", "anchor_en_71s.mp4", 11, 30, "00:00:00:00", ["IMG_0715.MOV"])
    stem = tmp_path / "stem.wav"  # the project runs 150 s
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(samples_dir() / "dub_audio" / "english_60s.wav"),
                    "-af", "apad=whole_dur=150", str(stem)], check=True)
    before = sorted(tmp_path.rglob("*"))
    assert main([str(source), "--audio", str(stem), "--media", str(tmp_path / "conform"), "--dry-run"]) == 0
    err = capsys.readouterr().err.replace("\n", "")  # the plan's lines are wrapped to the console
    assert "relinked: IMG_0715 (V1): relinked by file name" in err and "off_fcpx_project.dub.fcpxmld" in err
    assert sorted(tmp_path.rglob("*")) == before


def test_a_named_sequence_in_fcp7_xml_or_otio_is_refused_when_absent():
    for name in ("fcp7_premiere_enable.xml", "otio_simple_cut.otio"):
        with pytest.raises(TimelineError) as error:
            read_timeline(TIMELINES / name, sequence="Reel 9")
        assert str(error.value).startswith(str(TIMELINES / name)) and "no sequence named 'Reel 9'" in str(error.value)
    assert read_timeline(TIMELINES / "fcp7_premiere_enable.xml", sequence="disabled_test_sequence").name == \
        "disabled_test_sequence"


def test_a_real_premiere_export_dubbed_end_to_end(samples, tmp_path):
    """Premiere's XML, its media relinked to the sample actors with --media, dubbed with tiny models:
    the written XML is Premiere's own file plus the dub, which lands on the planned frames."""
    from s2l_dub.timeline.job import DubConfig, plan_dub, run_dub

    from .conftest import tiny_train_config

    conform = tmp_path / "conform"
    conform.mkdir()
    # One actor behind every file: one tiny model to train keeps the test short.
    for name in ("source.mp4", "source3.mp4", "source4.mp4"):
        (conform / name).symlink_to(samples / "actors" / "anchor_de_20s.mp4")
    source = TIMELINES / "fcp7_premiere_enable.xml"
    config = DubConfig(lang="fr", train=tiny_train_config(), codec="h264", media_dirs=(str(conform),))
    output = tmp_path / "out" / "premiere.fr.xml"
    plan = plan_dub(source, samples / "dub_audio" / "english_60s.wav", config, output, tmp_path / "work")
    assert [s.relinked.split(" to ")[0] for s in plan.shots] == ["relinked by file name"] * 3
    summary = run_dub(plan)
    assert not summary["failures"] and summary["segments_rendered"] == len(plan.segments) > 0

    data, root = parse_positions(output)
    assert _without(data, _added_nodes(root)) == source.read_bytes()
    back = read_timeline(output)
    assert _spans(back) == _spans(read_timeline(source))
    picture = next(t for t in back.tracks if t.name == f"{DUB_TRACK_PREFIX}fr")
    rate = timeline_rate(back)
    placed = [(picture.range_of_child(c).start_time.to_frames(), picture.range_of_child(c).duration.to_frames())
              for c in picture.find_clips()]
    assert placed == [(seg.start, seg.frames) for seg, _ in plan.segments]
    for clip in picture.find_clips():
        media = Path(urlparse(clip.media_reference.target_url).path)
        assert media.is_file() and clip.metadata["s2l"]["actor"] in plan.actors
    assert abs(rate - 25) < 1e-9


def _conform(folder: Path, sample: str, seconds: float, rate: float, timecode: str, names: list[str]) -> None:
    """A transcode of a sample actor at the edit's rate and start timecode, linked under each
    name the edit gives its media, as a conform folder for ``--media``."""
    import subprocess

    folder.mkdir(exist_ok=True)
    first = folder / names[0]
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(samples_dir() / "actors" / sample), "-t", str(seconds),
                    "-vf", f"fps={rate}", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-c:a", "aac",
                    "-timecode", timecode, str(first)], check=True)
    for name in names[1:]:
        (folder / name).symlink_to(first.name)


# One real export per format the main job reads, with its media as the edit names it.
REAL_DUBS = {
    "otio_nested_example.otio": ("anchor_de_20s.mp4", 16, 24, "00:00:00:00",
                                 ["Normal Clip 1.mov", "Normal Clip 2.mov", "Normal Clip 3.mov"]),
    "off_fcpx_project.fcpxml": ("anchor_en_71s.mp4", 24, 30, "00:00:00:00",
                                ["IMG_0715.MOV", "IMG_0233.MOV", "IMG_0687.MOV", "IMG_0268.MOV"]),
    "edl_25fps.edl": ("anchor_de_20s.mp4", 20, 25, "01:00:00:00",
                      ["sq001_s001.mov", "sq001_s002.mov", "sq001_s003.mov", "sq001_s004.mov"]),
    "aaf_transitions.aaf": ("anchor_de_20s.mp4", 9, 24, "01:00:00:00",
                            ["tech.fux (loop)-HD.mp4", "t-hawk (loop)-HD.mp4", "brokchrd (loop)-HD.mp4"]),
}


@pytest.mark.parametrize("name", list(REAL_DUBS))
def test_a_real_export_dubbed_end_to_end_in_its_own_format(name, samples, tmp_path):
    """The main job on a real export of each format, its media relinked with --media to a sample
    actor, with tiny models: the file written in the input's format, read back, is the editor's
    edit unchanged plus the dub on the planned frames (EDL: the dub layer beside the cut)."""
    import hashlib
    import subprocess

    from s2l_dub.timeline.job import DubConfig, plan_dub, run_dub

    from .conftest import tiny_train_config

    source = TIMELINES / name
    before = hashlib.sha256(source.read_bytes()).hexdigest()
    conform = tmp_path / "conform"
    _conform(conform, *REAL_DUBS[name])
    if name == "aaf_transitions.aaf":  # the one clip of this edit on media that starts at 00:00:00:00
        _conform(conform, "anchor_de_20s.mp4", 9, 24, "00:00:00:00", ["KOLL-HD.mp4"])
    stem = samples / "dub_audio" / "english_60s.wav"
    if name.endswith(".fcpxml"):  # this project runs 150 s: the stem is laid over it with silence after
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(stem), "-af", "apad=whole_dur=150",
                        str(tmp_path / "stem.wav")], check=True)
        stem = tmp_path / "stem.wav"
    rate = 25 if name.endswith(".edl") else None
    config = DubConfig(lang="fr", train=tiny_train_config(), codec="h264", media_dirs=(str(conform),))
    output = tmp_path / "out" / f"{source.stem}.fr{source.suffix}"
    plan = plan_dub(source, stem, config, output, tmp_path / "work", edl_rate=rate)
    assert plan.segments and all(s.relinked.startswith("relinked by ") for s in plan.shots)
    summary = run_dub(plan)
    assert not summary["failures"] and summary["segments_rendered"] == len(plan.segments)
    assert hashlib.sha256(source.read_bytes()).hexdigest() == before

    back = read_timeline(output, rate)
    if name.endswith(".edl"):  # the reader drops the record time before the first event: read it from the text
        events = [line.split() for line in output.read_text().splitlines() if re.match(r"\d{3} ", line)]
        record = [otio.opentime.from_timecode(e[-2], 25).to_frames() for e in events]
        placed = [(start, otio.opentime.from_timecode(e[-1], 25).to_frames() - start)
                  for start, e in zip(record, events)]
        picture = back.tracks[0]
    else:
        picture = next(t for t in back.tracks if t.name == f"{DUB_TRACK_PREFIX}fr")
        placed = [(picture.range_of_child(c).start_time.to_frames(), picture.range_of_child(c).duration.to_frames())
                  for c in picture.find_clips()]
    assert placed == [(seg.start, seg.frames) for seg, _ in plan.segments]
    for clip in picture.find_clips():
        url = clip.media_reference.target_url
        media = Path(urlparse(url).path) if "://" in url else output.parent / url
        assert media.is_file(), url
    if name.endswith(".edl"):
        assert len(back.tracks) == 1  # the dub layer alone: the editor's EDL is left as it was
        return
    assert all(c.metadata["s2l"]["actor"] in plan.actors for c in picture.find_clips())
    original = read_timeline(source)
    if name.endswith(".aaf"):
        import aaf2

        assert [span[1:] for span in _spans(back)] == [span[1:] for span in _spans(original)]
        with aaf2.open(str(source)) as editor, aaf2.open(str(output)) as dubbed:
            written = {str(m.mob_id): m for m in dubbed.content.mobs}
            assert all(_kept(_aaf_tree(m), _aaf_tree(written[str(m.mob_id)])) for m in editor.content.mobs)
        return
    assert _spans(back) == _spans(original)
    if name.endswith(".fcpxml"):
        data, root = parse_positions(output)
        assert ET.canonicalize(_without(data, _added_nodes(root)).decode(), strip_text=True) == \
            ET.canonicalize(from_file=str(source), strip_text=True)
        version = ET.parse(output).getroot().get("version").replace(".", "_")
        dtd = etree.DTD(str(TIMELINES / "dtd" / f"FCPXMLv{version}.dtd"))
        assert dtd.validate(etree.parse(str(output))), dtd.error_log.filter_from_errors()


@pytest.fixture(scope="module")
def sample_at_rate(tmp_path_factory):
    """A 5 s transcode of the sample May at a given rate, made once per rate."""
    import subprocess

    folder, made = tmp_path_factory.mktemp("rates"), {}

    def at(rate: float) -> Path:
        key = round(rate, 3)
        if key not in made:
            made[key] = folder / f"may_{key:g}.mp4"
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(samples_dir() / "actors" / "may_en_5s.mp4"),
                            "-vf", f"fps={rate}", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
                            str(made[key])], check=True)
        return made[key]
    return at


@pytest.mark.parametrize("name", [n for n in FILES if n not in REFUSED])
def test_every_export_is_planned_with_its_media_relinked(name, sample_at_rate, tmp_path):
    """Each readable export through the main job's plan (a dry run), its media offline here and relinked
    with --media to a conform folder holding every media file it names (a sample at the edit's rate):
    every clip is dubbed or listed with its reason, relinks are reported, and nothing is written."""
    from s2l_dub.timeline.job import DubConfig, plan_dub
    from s2l_dub.timeline.relink import file_name

    rate = RATES.get(name) or _default_rate(name)
    timeline = read_timeline(TIMELINES / name, rate if name.endswith(".edl") else None)
    rate = timeline_rate(timeline)
    clips = [c for t in timeline.tracks if t.kind == otio.schema.TrackKind.Video
             for c in t.find_clips(shallow_search=True)]  # a nest is listed under its own name
    if not clips:
        with pytest.raises(TimelineError, match=f"{name}: no video clips to dub"):
            plan_dub(TIMELINES / name, samples_dir() / "dub_audio" / "french2.wav", DubConfig(), tmp_path / "x.otio",
                     edl_rate=rate if name.endswith(".edl") else None, dry_run=True, strict=False)
        return
    sample = sample_at_rate(rate)
    conform = tmp_path / "conform"
    conform.mkdir()
    names = set()
    for clip in timeline.find_clips():
        reference = clip.media_reference
        if isinstance(reference, otio.schema.ExternalReference) and reference.target_url:
            names.add(Path(urlparse(reference.target_url).path.replace("\\", "/")).name)
    from s2l_dub.timeline.relink import MEDIA_SUFFIXES

    # Image sequences (an EDL's .exr frames) are not video files: they stay offline, with the reason.
    names = {n for n in names if Path(n).suffix.lower() in MEDIA_SUFFIXES}
    for media_name in sorted(names):
        (conform / media_name).symlink_to(sample)
    actors = tmp_path / "actors.toml"
    actors.write_text(f'[media]\n"{sample}" = "may"\n')
    # A second of silence: the plan is what is tested, and a stem shorter than the edit is a listed problem.
    stem = tmp_path / "stem.wav"
    sf.write(stem, np.zeros(16000, np.float32), 16000)
    before = sorted(p.name for p in TIMELINES.iterdir())
    plan = plan_dub(TIMELINES / name, stem, DubConfig(lang="fr", media_dirs=(str(conform),)),
                    output=tmp_path / "out" / f"x.fr{Path(name).suffix}", work=tmp_path / "work", actors_file=actors,
                    edl_rate=rate if name.endswith(".edl") else None, dry_run=True, strict=False)
    assert abs(plan.rate - rate) < 1e-6
    accounted = {s.name for s in plan.shots} | {s.name for s in plan.skipped}
    assert {c.name for c in clips} <= accounted | {""}, sorted({c.name for c in clips} - accounted)
    # A clip whose video file the conform folder holds is never left "offline".
    left_offline = {s.name for s in plan.skipped if "offline" in s.reason}
    linked = {c.name for c in clips if isinstance(c.media_reference, otio.schema.ExternalReference)
              and file_name(urlparse(c.media_reference.target_url or "").path) in names}
    assert not left_offline & linked, [s.reason for s in plan.skipped if s.name in linked]
    assert all(s.reason for s in plan.skipped)
    assert not (tmp_path / "out").exists() and not (tmp_path / "work").exists()
    assert sorted(p.name for p in TIMELINES.iterdir()) == before


@pytest.mark.parametrize("name", [n for n in FILES if n.endswith((".otio", ".edl")) and n not in REFUSED])
def test_otio_and_edl_exports_come_back_with_the_dub(name, tmp_path):
    """OTIO comes back as the editor's timeline, clip for clip, plus the dub tracks; an EDL's dub comes
    back as its own EDL (one picture track) whose events are the renders on their record frames."""
    source = TIMELINES / name
    untouched = source.read_bytes()
    rate = RATES.get(name) or _default_rate(name)
    original = read_timeline(source, rate if name.endswith(".edl") else None)
    rate = timeline_rate(original)
    out = write_timeline(_with_a_dub(original, tmp_path), tmp_path / name, protect=(source,), source=source)
    back = read_timeline(out, rate if name.endswith(".edl") else None)
    if name.endswith(".otio"):
        assert _spans(back) == _spans(original)
        assert [t.name for t in back.tracks][-2:] == [f"{DUB_TRACK_PREFIX}fr", f"{DUB_TRACK_PREFIX}fr dub"]
        picture = next(t for t in back.tracks if t.name == f"{DUB_TRACK_PREFIX}fr")
        [render] = picture.find_clips()
        assert picture.range_of_child(render) == frame_range(10, 20, rate)
    else:
        # The reader drops a leading record gap, so the placement is read from the event itself.
        text = out.read_text()
        assert "FROM FILE: cut.fr.media/shot.mp4" in text
        [event] = [line.split() for line in text.splitlines() if line[:3].isdigit()]
        start = (original.global_start_time or otio.opentime.RationalTime(0, rate)).rescaled_to(rate).to_frames()
        expected = [otio.opentime.to_timecode(otio.opentime.RationalTime(start + f, rate), rate) for f in (10, 30)]
        assert event[-2:] == expected and event[-4:-2] == ["00:00:04:00", "00:00:04:20"]  # source: the render's
    assert source.read_bytes() == untouched
