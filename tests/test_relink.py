"""Offline media relinked with --media, and EDL source timecode read against the file's own start."""

import subprocess

import pytest

from s2l_dub.cli.main import main
from s2l_dub.errors import TimelineError
from s2l_dub.timeline.io import read_timeline
from s2l_dub.timeline.relink import MediaIndex
from s2l_dub.timeline.shots import collect_shots

from .conftest import samples_dir

EDL = """TITLE: relink test
FCM: NON-DROP FRAME

001  {reel}  V     C        {src_in} {src_out} 00:00:00:00 00:00:02:00
* FROM CLIP NAME: {name}
* FROM FILE: {path}
"""


@pytest.fixture(scope="module")
def rushes(tmp_path_factory):
    """Four seconds of a sample actor, as a camera file starting at 01:00:00:00, in a rushes folder."""
    folder = tmp_path_factory.mktemp("rushes") / "day1"
    folder.mkdir()
    media = folder / "A001C003.mov"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(samples_dir() / "actors" / "anchor_de_20s.mp4"),
                    "-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-r", "25", "-c:a", "aac",
                    "-timecode", "01:00:00:00", str(media)], check=True)
    return folder


def _edl(tmp_path, path, name="A001C003", reel="A001C003", src_in="01:00:00:10", src_out="01:00:02:10"):
    edl = tmp_path / "cut.edl"
    edl.write_text(EDL.format(reel=reel, name=name, path=path, src_in=src_in, src_out=src_out))
    return edl


@pytest.mark.parametrize("moved_path", [r"S:\rushes\day1\A001C003.mov", "/Volumes/Media/day1/A001C003.mov",
                                        "file://localhost/D%3a/rushes/A001C003.mov"])
def test_offline_media_is_relinked_by_file_name(rushes, tmp_path, moved_path):
    timeline = read_timeline(_edl(tmp_path, moved_path), 25)
    shots, skipped = collect_shots(timeline, tmp_path)
    assert not shots and "media offline" in skipped[0].reason
    # A Windows path is offline, never a file under the timeline's folder.
    assert str(tmp_path) not in skipped[0].reason

    shots, skipped = collect_shots(timeline, tmp_path, MediaIndex.scan([rushes.parent]))
    assert not skipped and shots[0].media == (rushes / "A001C003.mov").resolve()
    assert shots[0].relinked.startswith("relinked by file name")
    # Source 01:00:00:10 is the file's 11th frame: the file itself starts at 01:00:00:00.
    assert shots[0].source_first_frame == 10


def test_relink_by_clip_name_and_never_between_two_candidates(rushes, tmp_path):
    timeline = read_timeline(_edl(tmp_path, "/elsewhere/renamed.mov"), 25)
    shots, _ = collect_shots(timeline, tmp_path, MediaIndex.scan([rushes]))
    assert shots[0].relinked.startswith("relinked by clip name")

    twin = tmp_path / "copy"
    twin.mkdir()
    (twin / "A001C003.mov").write_bytes((rushes / "A001C003.mov").read_bytes())
    shots, skipped = collect_shots(timeline, tmp_path, MediaIndex.scan([rushes, twin]))
    assert not shots and "2 files in --media match" in skipped[0].reason and "not guessed" in skipped[0].reason


def test_a_link_is_found_by_its_own_name(rushes, tmp_path):
    """A conform folder of links named as the edit names its media, all to one transcode: each
    clip is relinked to its own link, not to the target's name or to nothing."""
    links = tmp_path / "conform"
    links.mkdir()
    (links / "B002C007.mov").symlink_to(rushes / "A001C003.mov")
    timeline = read_timeline(_edl(tmp_path, "/elsewhere/renamed.mov", name="B002C007", reel="B002C007"), 25)
    shots, skipped = collect_shots(timeline, tmp_path, MediaIndex.scan([links]))
    assert not skipped and shots[0].media == (rushes / "A001C003.mov").resolve()
    assert shots[0].relinked == f"relinked by clip name to {links.resolve() / 'B002C007.mov'}"


def test_media_option_in_the_main_job(rushes, tmp_path, capsys):
    edl = _edl(tmp_path, r"S:\rushes\day1\A001C003.mov")
    stem = samples_dir() / "dub_audio" / "french1.wav"
    assert main([str(edl), "--audio", str(stem), "--rate", "25", "--media", str(rushes), "--dry-run"]) == 0
    plan = capsys.readouterr().err  # the console writes to stderr, keeping stdout for data
    assert "relinked:" in plan and "A001C003.mov" in plan
    assert main([str(edl), "--audio", str(stem), "--rate", "25", "--media", str(tmp_path / "nope"),
                 "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "--media" in err and "not a folder" in err and "Traceback" not in err
    with pytest.raises(TimelineError):
        MediaIndex.scan([tmp_path / "nope"])
