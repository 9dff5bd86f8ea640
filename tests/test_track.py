"""Face tracking coverage on every real sample clip."""

import subprocess

import pytest

from s2l_dub.face.backends import load_landmarker
from s2l_dub.face.track import FaceHint, FaceTracker, TrackConfig, run_tracker
from s2l_dub.errors import S2LError, UnknownBackendError, BackendUnavailableError
from s2l_dub.media import iter_frames, probe_video

from .test_media import all_sample_videos


@pytest.fixture(scope="module")
def landmarker():
    return load_landmarker("dlib")


def test_landmarks_on_at_least_98_percent_of_frames_of_every_clip(samples, landmarker):
    for path in all_sample_videos(samples):
        info = probe_video(path)
        tracker = FaceTracker(landmarker, TrackConfig(), float(info.frame_rate))
        result = run_tracker(tracker, iter_frames(info), info.frame_count)
        assert result.landmarks.shape == (info.frame_count, 68, 2)
        assert result.found.mean() >= 0.98, f"{path.name}: {result.found.mean():.1%}"


def test_unknown_backend_lists_the_available_ones():
    with pytest.raises(UnknownBackendError, match=r"available: \['dlib', 'fan'"):
        load_landmarker("nope")


def test_fan_backend_names_its_missing_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(BackendUnavailableError, match="2DFAN4-cd938726ad.zip"):
        load_landmarker("fan")


def test_face_hint_parsing():
    assert FaceHint.parse("left").point == (0.25, 0.5)
    assert FaceHint.parse("0.7,0.4").point == (0.7, 0.4)
    with pytest.raises(S2LError, match="--face"):
        FaceHint.parse("nowhere")


def two_face_clip(samples, tmp_path):
    """May (large, left) beside a smaller Katie Hill (right), 1 s, from the real samples."""
    path = tmp_path / "two_faces.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(samples / "actors" / "may_en_5s.mp4"), "-i",
                    str(samples / "clips" / "WDA_KatieHill_000.mp4"), "-filter_complex",
                    "[1:v]scale=320:320,pad=512:512:96:96[b];[0:v][b]hstack=inputs=2[v]", "-map", "[v]", "-t", "1",
                    "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def test_two_faces_follow_the_largest_or_the_hint(samples, tmp_path, landmarker):
    info = probe_video(two_face_clip(samples, tmp_path))
    default = run_tracker(FaceTracker(landmarker, TrackConfig(), 25.0), iter_frames(info), info.frame_count)
    hinted = run_tracker(FaceTracker(landmarker, TrackConfig(), 25.0, FaceHint.parse("right")), iter_frames(info),
                         info.frame_count)
    assert default.found.all() and hinted.found.all()
    assert (default.faces_in_shot == 2).all()
    assert (default.landmarks[:, :, 0] < 512).all()  # May, on the left half
    assert (hinted.landmarks[:, :, 0] > 512).all()  # the hinted face, on the right half
