"""Real editors' exports (../shared/timelines): read at their own rate and start, or refused in one line.

The expected rates are the sequences' own, as the files state them; the refused files are the
ones OpenTimelineIO's adapters cannot read (they stay listed here until they read).
"""


import opentimelineio as otio
import pytest

from s2l_dub.errors import TimelineError
from s2l_dub.timeline.io import read_timeline, write_timeline
from s2l_dub.timeline.shots import DUB_TRACK_PREFIX, frame_range, timeline_rate

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
        media_reference=otio.schema.ExternalReference(target_url="edl_25fps.fr.media/shot_a.mov",
                                                      available_range=frame_range(0, 20, 25))))
    timeline.tracks.append(dub)
    written = write_timeline(timeline, tmp_path / "edl_25fps.fr.edl")
    text = written.read_text()
    assert text.count("\n001 ") == 1 and "\n002 " not in text
    assert "FROM FILE: edl_25fps.fr.media/shot_a.mov" in text
    assert "00:00:00:10 00:00:01:05" in text  # record in and out: frames 10 to 30
