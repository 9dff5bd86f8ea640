import subprocess
from fractions import Fraction

import numpy as np
import pytest

from s2l_dub.errors import MediaDecodeError, MediaError, NoAudioError, RangeError
from s2l_dub.media import iter_frames, load_audio, parse_range, probe_video


def ffprobe_frame_count(path) -> int:
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                          "stream=nb_read_frames", "-of", "csv=p=0", str(path)], capture_output=True, text=True)
    return int(out.stdout.strip())


def ffprobe_frame_times(path) -> list[Fraction]:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "frame=best_effort_timestamp", "-of", "csv=p=0", str(path)], capture_output=True, text=True)
    tb = probe_video(path).time_base
    return [int(line.strip().rstrip(",")) * tb for line in out.stdout.split()]


def all_sample_videos(samples):
    return sorted((samples / "actors").glob("*.mp4")) + sorted((samples / "clips").glob("*.mp4"))


def test_frame_count_matches_ffprobe_for_every_sample(samples):
    for path in all_sample_videos(samples):
        assert probe_video(path).frame_count == ffprobe_frame_count(path), path.name


@pytest.mark.parametrize("name,rate", [("actors/anchor_de_20s.mp4", 25), ("clips/retalking_face_4.mp4", 30)])
def test_timestamps_are_exact_on_constant_rate_clips(samples, name, rate):
    info = probe_video(samples / name)
    assert info.frame_rate == rate
    start = info.frame_time(0)
    for i in range(info.frame_count):
        assert info.frame_time(i) - start == Fraction(i, rate)


def test_variable_rate_clip_keeps_its_real_timestamps(samples):
    path = samples / "clips" / "retalking_face_1.mp4"
    info = probe_video(path)
    assert info.is_variable_rate
    assert [info.frame_time(i) for i in range(info.frame_count)] == ffprobe_frame_times(path)


def test_seeking_decode_matches_sequential_decode(samples):
    info = probe_video(samples / "actors" / "may_en_5s.mp4")
    frames = list(iter_frames(info))
    assert len(frames) == info.frame_count
    for start in (1, 37, 124):
        seeked = next(iter_frames(info, start, start + 1))
        assert np.array_equal(seeked, frames[start]), start


def test_portrait_hevc_probes_with_display_size(samples):
    info = probe_video(samples / "clips" / "portrait_1080x1920_demo1.mp4")
    assert (info.width, info.height, info.codec) == (1080, 1920, "hevc")
    frame = next(iter_frames(info))
    assert frame.shape == (1920, 1080, 3)


def test_ranges_in_seconds_timecode_and_frames(samples):
    info = probe_video(samples / "actors" / "may_en_5s.mp4")
    assert (lambda r: (r.start, r.stop))(parse_range("1-2", info)) == (25, 50)
    assert (lambda r: (r.start, r.stop))(parse_range("00:00:01:00-00:00:02:05", info)) == (25, 55)
    assert (lambda r: (r.start, r.stop))(parse_range("f10-f20", info)) == (10, 20)
    with pytest.raises(RangeError, match="ends after"):
        parse_range("2-9", info)
    with pytest.raises(RangeError, match="outside"):
        parse_range("f100-f200", info)
    with pytest.raises(RangeError, match="not IN-OUT"):
        parse_range("2", info)


def test_audio_loads_at_16k_mono(samples):
    samples_16k = load_audio(samples / "actors" / "may_en_5s.mp4")
    assert samples_16k.dtype == np.float32
    assert abs(len(samples_16k) / 16000 - 5.0) < 0.05


def test_corrupt_and_missing_files_are_named(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x01not a video" * 1000)
    with pytest.raises(MediaDecodeError, match="broken.mp4"):
        probe_video(bad)
    with pytest.raises(MediaError, match="not found"):
        probe_video(tmp_path / "absent.mov")


def test_truncated_file_reports_missing_frames(samples, tmp_path):
    source = (samples / "actors" / "may_en_5s.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(source[: len(source) // 2])
    with pytest.raises(MediaDecodeError, match="cut.mp4"):
        info = probe_video(cut)
        list(iter_frames(info))


def test_audio_of_silent_video_is_refused(samples, tmp_path):
    mute = tmp_path / "mute.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(samples / "actors" / "may_en_5s.mp4"), "-an", "-c", "copy",
                    str(mute)], check=True)
    with pytest.raises(NoAudioError, match="mute.mp4: no audio"):
        load_audio(mute)


@pytest.mark.parametrize("rate", [Fraction(24000, 1001), Fraction(24), Fraction(30000, 1001)])
def test_timestamps_are_exact_at_ntsc_and_film_rates(samples, tmp_path, rate):
    """The samples are 25/30 fps; make 23.976, 24 and 29.97 fps copies of a real clip."""
    target = tmp_path / f"rate_{float(rate):.3f}.mov"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(samples / "actors" / "may_en_5s.mp4"), "-t", "2",
                    "-vf", f"fps={rate}", "-c:v", "libx264", "-preset", "ultrafast", str(target)], check=True)
    info = probe_video(target)
    assert info.frame_rate == rate
    assert info.frame_count == ffprobe_frame_count(target)
    start = info.frame_time(0)
    assert [info.frame_time(i) - start for i in range(info.frame_count)] == [i / rate for i in range(info.frame_count)]
