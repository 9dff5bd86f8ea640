"""Face tracking coverage on every real sample clip."""

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
