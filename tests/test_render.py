"""`s2l-dub render` on real footage with tiny trained models."""

import json
import subprocess

import numpy as np
import pytest
import soundfile as sf

from s2l_dub.errors import RangeError, S2LError
from s2l_dub.face.backends import FaceBox, load_landmarker
from s2l_dub.face.landmark_sets import mouth_aperture
from s2l_dub.media import iter_frames, probe_video
from s2l_dub.render.encode import EncodeSettings, add_frames_to_timecode
from s2l_dub.progress import NullProgress
from s2l_dub.render.engine import ActorRenderer, RenderConfig, render_clip


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255 ** 2 / max(mse, 1e-12))


@pytest.fixture(scope="module")
def may_video(samples):
    return samples / "actors" / "may_en_5s.mp4"


@pytest.fixture(scope="module")
def rendered(may_dataset, may_model, may_video, samples, tmp_path_factory):
    """The 5 s clip re-rendered with German, as ProRes."""
    target = tmp_path_factory.mktemp("render") / "may_de.mov"
    render_clip(may_dataset.root, may_model, may_video, samples / "dub_audio" / "German1.wav", target,
                RenderConfig(fit="trim"))
    return target


def test_prores_output_is_frame_exact_with_the_right_codec(rendered, may_video):
    source, out = probe_video(may_video), probe_video(rendered)
    assert out.frame_count == source.frame_count
    assert out.frame_rate == source.frame_rate and (out.width, out.height) == (source.width, source.height)
    assert [out.frame_time(i) - out.start_s for i in range(out.frame_count)] == \
        [source.frame_time(i) - source.start_s for i in range(source.frame_count)]
    tags = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                           "stream=codec_name,codec_tag_string,profile", "-of", "csv=p=0", str(rendered)],
                          capture_output=True, text=True).stdout
    assert "prores" in tags and "apch" in tags and "HQ" in tags
    sidecar = json.loads(rendered.with_suffix(".mov.json").read_text())
    assert sidecar["frames"] == source.frame_count and sidecar["codec"] == "prores"


def test_pixels_outside_the_face_match_the_source(rendered, may_video, may_dataset):
    g = may_dataset.geometry
    size = int(g["lower_face_size"])
    outside, inside = [], []
    for i, (a, b) in enumerate(zip(iter_frames(probe_video(may_video)), iter_frames(probe_video(rendered)))):
        keep = np.ones(a.shape[:2], bool)
        x, y = g["lower_face_origins"][i]
        keep[y:y + size, x:x + size] = False
        outside.append(psnr(a[keep], b[keep]))
        inside.append(psnr(a[~keep], b[~keep]))
    assert np.mean(outside) > 45, np.mean(outside)
    assert np.mean(inside) < np.mean(outside) - 10  # the mouth really was re-rendered


def test_thirty_fps_clip_is_frame_exact(thirty_fps, samples, tmp_path):
    video, dataset_root, model = thirty_fps
    target = tmp_path / "r4.mp4"
    sidecar = render_clip(dataset_root, model, video, samples / "dub_audio" / "french1.wav", target,
                          RenderConfig(encode=EncodeSettings(codec="h264"), fit="trim"))
    source, out = probe_video(video), probe_video(target)
    assert out.frame_count == source.frame_count == sidecar["frames"] == 199
    assert out.frame_rate == 30
    assert abs(float(out.frame_time(out.frame_count - 1) - source.frame_time(source.frame_count - 1))) < 1e-6


def mouth_crops(path, g, frames):
    """Each frame's mouth (landmarks 48-67 and a 10 px margin)."""
    out = []
    for i, frame in enumerate(iter_frames(probe_video(path))):
        if i in frames:
            x0, y0 = (g["landmarks"][i, 48:68].min(0) - 10).astype(int)
            out.append(frame[y0:y0 + 100, x0:x0 + 130].astype(np.float64))
    return np.stack(out)


def test_different_audio_gives_different_mouths(rendered, may_dataset, may_model, may_video, samples, tmp_path):
    other = tmp_path / "may_fr.mov"
    render_clip(may_dataset.root, may_model, may_video, samples / "dub_audio" / "french1.wav", other,
                RenderConfig(fit="trim"))
    frames = set(range(20, 100, 10))
    difference = np.abs(mouth_crops(rendered, may_dataset.geometry, frames) -
                        mouth_crops(other, may_dataset.geometry, frames)).mean()
    assert difference > 1.0, difference


def test_silent_audio_gives_a_closed_mouth(may_dataset, may_model, may_video, tmp_path):
    silence = tmp_path / "silence.wav"
    sf.write(silence, np.zeros(5 * 16000, np.float32), 16000)
    target = tmp_path / "silent.mov"
    sidecar = render_clip(may_dataset.root, may_model, may_video, silence, target)
    assert sidecar["silent_frames"] == sidecar["frames"]
    g = may_dataset.geometry
    landmarker = load_landmarker("dlib")
    apertures = []
    for i, frame in enumerate(iter_frames(probe_video(target))):
        if i % 10 == 0:
            apertures.append(mouth_aperture(landmarker.landmarks(frame, FaceBox(*g["landmarks"][i].min(0),
                                                                                 *g["landmarks"][i].max(0)))))
    source_apertures = mouth_aperture(g["landmarks"])
    # She speaks throughout the source; rendered from silence the mouth rests near closed.
    assert np.mean(apertures) < np.percentile(source_apertures, 25), (np.mean(apertures), np.median(source_apertures))


def test_silence_sounds_like_a_closed_mouth_of_the_actor_not_the_clip_edge(may_dataset):
    import torch
    from s2l_dub.render.engine import resting_window
    from s2l_dub.train.data import build_training_data

    data = build_training_data(may_dataset)
    rest = resting_window(may_dataset, data)
    [frame] = [i for i in range(len(data.mel)) if torch.equal(data.mel[i], rest)]
    # The clip's edges have windows padded with made-up silence; the quietest of them was chosen before
    # (on the sample anchor, with the mouth open mid-sentence).
    assert 3 <= frame < len(data.mel) - 3 and frame in data.train_index.tolist()
    apertures = mouth_aperture(may_dataset.geometry["landmarks"])
    assert apertures[frame] < np.median(apertures[data.train_index.numpy()])
    quietest = int(torch.argmin(data.mel.mean(dim=(1, 2))))
    assert quietest != frame


def test_length_mismatch_is_an_error_naming_both_durations(may_dataset, may_model, may_video, samples, tmp_path):
    with pytest.raises(S2LError, match=r"German1.wav: audio is 8.71 s but the video range is 5.00 s"):
        render_clip(may_dataset.root, may_model, may_video, samples / "dub_audio" / "German1.wav", tmp_path / "x.mov")
    assert not (tmp_path / "x.mov").exists()


class RecordingProgress(NullProgress):
    def __init__(self):
        self.lines = []

    def log(self, message):
        self.lines.append(message)


@pytest.fixture(scope="module")
def unprepared_copy(may_video, tmp_path_factory):
    """The actor's clip re-encoded: the same person and motion, but not a file the actor was prepared on."""
    target = tmp_path_factory.mktemp("copy") / "may_copy.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(may_video), "-c:v", "libx264", "-crf", "12", "-c:a", "copy",
                    str(target)], check=True)
    return target


def test_a_clip_that_was_not_prepared_is_tracked_and_rendered(may_dataset, may_model, may_video, unprepared_copy,
                                                            samples, tmp_path):
    audio = samples / "dub_audio" / "french1.wav"
    prepared, tracked = tmp_path / "prepared.mov", tmp_path / "tracked.mov"
    renderer = ActorRenderer(may_dataset.root, may_model)
    renderer.render(may_video, audio, prepared, RenderConfig(fit="trim"), "f0-f50")
    progress = RecordingProgress()
    sidecar = renderer.render(unprepared_copy, audio, tracked, RenderConfig(fit="trim"), "f0-f50", progress)
    assert sidecar["source"]["prepared"] is False and sidecar["frames"] == 50
    assert sidecar["scores"]["identity_distance"] < 0.2
    assert not any("someone other" in line for line in progress.lines)
    # Tracked with the actor's own head model, the copy's mouth lands where the prepared one does.
    frames = set(range(0, 50, 5))
    a = mouth_crops(prepared, may_dataset.geometry, frames)
    b = mouth_crops(tracked, may_dataset.geometry, frames)
    assert psnr(a, b) > 30, psnr(a, b)
    # ...and everything outside the face is still the decoded copy.
    size = int(may_dataset.geometry["lower_face_size"])
    outside = []
    for i, (x, y) in enumerate(zip(iter_frames(probe_video(unprepared_copy), 0, 50), iter_frames(probe_video(tracked)))):
        keep = np.ones(x.shape[:2], bool)
        ox, oy = may_dataset.geometry["lower_face_origins"][i]
        keep[max(0, oy - 20):oy + size + 20, max(0, ox - 20):ox + size + 20] = False
        outside.append(psnr(x[keep], y[keep]))
    assert np.mean(outside) > 45, np.mean(outside)


def test_a_clip_of_someone_else_renders_with_a_warning(may_dataset, may_model, samples, tmp_path):
    progress = RecordingProgress()
    sidecar = ActorRenderer(may_dataset.root, may_model).render(
        samples / "clips" / "retalking_face_2.mp4", samples / "dub_audio" / "french1.wav", tmp_path / "x.mov",
        RenderConfig(fit="trim"), "f0-f10", progress)
    assert sidecar["scores"]["identity_distance"] > 0.6
    warnings = [line for line in progress.lines if "someone other than actor 'may'" in line]
    assert len(warnings) == 1 and "retalking_face_2.mp4" in warnings[0], progress.lines


def test_range_outside_the_clip(may_dataset, may_model, may_video, samples, tmp_path):
    with pytest.raises(RangeError, match="outside the clip"):
        render_clip(may_dataset.root, may_model, may_video, samples / "dub_audio" / "french1.wav", tmp_path / "x.mov",
                    range_text="f100-f200")


def test_the_source_is_never_overwritten(may_dataset, may_model, may_video, samples):
    with pytest.raises(S2LError, match="(refusing to overwrite|goes in)"):
        render_clip(may_dataset.root, may_model, may_video, samples / "dub_audio" / "french1.wav", may_video,
                    RenderConfig(encode=EncodeSettings(codec="h264")))


def test_timecode_advances_by_the_range_start():
    assert add_frames_to_timecode("01:00:00:00", 30, 25) == "01:00:01:05"
    assert add_frames_to_timecode("00:59:59:24", 1, 25) == "01:00:00:00"


def test_batch_size_does_not_change_the_result(may_dataset, may_model, may_video, samples, tmp_path):
    """Each frame's audio context reaches across batch boundaries, so batching is invisible."""
    outputs = []
    for batch_size in (4, 7):
        target = tmp_path / f"b{batch_size}.mov"
        render_clip(may_dataset.root, may_model, may_video, samples / "dub_audio" / "french1.wav", target,
                    RenderConfig(fit="trim", batch_size=batch_size), range_text="f0-f20")
        outputs.append(np.stack(list(iter_frames(probe_video(target)))))
    assert outputs[0].shape[0] == 20
    assert np.array_equal(outputs[0], outputs[1])


def test_the_clip_carries_the_dub_audio_at_its_own_rate_and_channels(may_dataset, may_model, may_video, samples,
                                                                   tmp_path):
    """A 48 kHz stereo dub stays 48 kHz stereo in the rendered clip (24-bit PCM beside ProRes)."""
    mono, rate = sf.read(samples / "dub_audio" / "German1.wav", dtype="float32")
    mono = mono if mono.ndim == 1 else mono.mean(1)
    import librosa

    resampled = librosa.resample(mono[: rate * 2], orig_sr=rate, target_sr=48000)
    stereo = np.stack([resampled, -resampled], 1)
    stem = tmp_path / "stereo48k.wav"
    sf.write(stem, stereo, 48000, subtype="PCM_24")
    target = tmp_path / "may_48k.mov"
    render_clip(may_dataset.root, may_model, may_video, stem, target, RenderConfig(fit="trim"), "f0-f40")
    audio = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                            "stream=codec_name,sample_rate,channels", "-of", "csv=p=0", str(target)],
                           capture_output=True, text=True).stdout.strip()
    assert audio == "pcm_s24le,48000,2"
    back, back_rate = sf.read(_extract(target, tmp_path / "back.wav"))
    assert back_rate == 48000 and back.shape == (round(40 / 25 * 48000), 2)
    assert np.allclose(back[:, 0], stereo[: len(back), 0], atol=1e-4) and np.allclose(back[:, 1], -back[:, 0],
                                                                                        atol=1e-4)


def _extract(video, target):
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(video), "-vn", "-c:a", "pcm_f32le", str(target)],
                   check=True)
    return target


def test_real_mouth_detail_changes_only_the_mouth(may_dataset, may_model, may_video, samples, tmp_path):
    """With the detail bank the mouth differs from the plain render; nothing outside the lower face does."""
    from s2l_dub.model.detail import DetailConfig

    renderer = ActorRenderer(may_dataset.root, may_model)
    plain, detailed = tmp_path / "plain.mp4", tmp_path / "detailed.mp4"
    audio = samples / "dub_audio" / "German1.wav"
    for target, detail in ((plain, None), (detailed, DetailConfig())):
        renderer.render(may_video, audio, target, RenderConfig(encode=EncodeSettings("h264", 10), fit="trim",
                                                               detail=detail), "f0-f30")
    g = may_dataset.geometry
    size = int(g["lower_face_size"])
    changed_inside = []
    for i, (a, b) in enumerate(zip(iter_frames(probe_video(plain)), iter_frames(probe_video(detailed)))):
        keep = np.ones(a.shape[:2], bool)
        x, y = g["lower_face_origins"][i]
        keep[y:y + size, x:x + size] = False
        assert np.array_equal(a[keep], b[keep]) or psnr(a[keep], b[keep]) > 45
        changed_inside.append(psnr(a[~keep], b[~keep]))
    assert np.mean(changed_inside) < 60  # the mouth did change
    sidecar = json.loads(detailed.with_suffix(".mp4.json").read_text())
    assert sidecar["detail"]["neighbours"] == DetailConfig().neighbours
