"""The Speech2Lip model and its training, with tiny budgets on the real 5 s sample actor."""

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from s2l_dub.errors import ArtifactVersionError
from s2l_dub.model.lips import LipGenerator, LipModelConfig, augment_mel
from s2l_dub.model.speech2lip import Speech2Lip, Speech2LipConfig
from s2l_dub.progress import NullProgress
from s2l_dub.train import checkpoint
from s2l_dub.train.config import TrainConfig
from s2l_dub.train.data import build_training_data, canonical_lips
from s2l_dub.train.evaluate import load_model
from s2l_dub.train.trainer import _footage_report, train_actor

TINY = TrainConfig(steps=30, batch_size=4, expert_steps=20, expert_batch=32, checkpoint_every=10, preview_every=30,
                   log_every=1)


class Recorder(NullProgress):
    """Keeps the log lines training writes."""

    def __init__(self):
        self.lines = []

    def log(self, message: str) -> None:
        self.lines.append(message)


def copy_with_format(folder, target, model_format: str):
    """A copy of a trained model folder whose model.json claims ``model_format``."""
    shutil.copytree(folder, target)
    meta = json.loads((target / "model.json").read_text())
    meta["format"] = model_format
    (target / "model.json").write_text(json.dumps(meta))
    return target


@pytest.fixture(scope="module")
def data(may_dataset):
    return build_training_data(may_dataset)


@pytest.fixture(scope="module")
def tiny_run(may_dataset, tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    meta = train_actor(may_dataset.root, folder, TINY)
    return folder, meta


def test_split_holds_out_the_last_tenth(data):
    n = len(data.mel)
    assert data.held_out_index.min() >= round(0.9 * n)
    assert data.train_index.max() < round(0.9 * n)


def test_loss_falls_over_a_tiny_budget(tiny_run):
    folder, meta = tiny_run
    curve = json.loads((folder / "training_curve.json").read_text())
    first = np.mean([c["total"] for c in curve[:5]])
    last = np.mean([c["total"] for c in curve[-5:]])
    assert last < 0.8 * first, (first, last)
    assert meta["steps"] == 30
    assert (folder / "model.safetensors").exists() and (folder / "previews" / "step_0000030.png").exists()


def test_sync_expert_reports_held_out_accuracy(tiny_run):
    _, meta = tiny_run
    expert = meta["sync_expert"]
    assert 0 <= expert["held_out_top1"] <= 1 and 0 < expert["chance"] < 1


def test_training_reports_how_much_speech_it_learns_from(tiny_run, data):
    _, meta = tiny_run
    training_s = len(data.train_index) / 25
    # May speaks through most of her 4.5 training seconds, with pauses between phrases.
    assert 0.5 * training_s < meta["train_speech_s"] < training_s
    short = _footage_report(meta["train_speech_s"], meta["train_frames"])
    assert f"{meta['train_speech_s']:.0f} s of speech" in short and "give more of this actor" in short
    assert "give more" not in _footage_report(240.0, 6000)


def test_voice_copies_hold_the_same_speech_in_another_voice(may_dataset, data):
    from s2l_dub.train.data import voice_windows

    voices = voice_windows(may_dataset, ((1.0, 0.0), (1.0, 3.0), (1.15, 0.0)))
    assert voices.shape == (4, *data.mel.shape)
    # On disk, mapped, computed once per dataset content and set of copies: memory flat in footage.
    assert isinstance(voices.array, np.memmap)
    stored = Path(voices.array.filename)
    assert stored.parent.resolve() == may_dataset.root.resolve()
    written = stored.stat().st_mtime_ns
    assert voice_windows(may_dataset, ((1.0, 0.0), (1.0, 3.0), (1.15, 0.0))).shape == voices.shape
    assert stored.stat().st_mtime_ns == written
    index = torch.tensor([[0, 2, 1], [3, 3, 3]])
    assert torch.equal(voices[torch.tensor([[1], [2]]), index],
                       torch.stack([voices[1][index[0]], voices[2][index[1]]]))  # batches read as in memory
    assert torch.equal(voices[0], data.mel)
    assert (voices[1] - data.mel).abs().max() < 0.02  # float16 rounding of the prepared windows
    assert (voices[2] - data.mel).abs().mean() > 0.3

    def loudness(windows):
        return windows[:, 8:12].mean(dim=(1, 2))  # the middle 40 ms of each frame's window

    def agreement(a, b, lag=0):
        a, b = (a[lag:], b[:len(b) - lag]) if lag else (a, b)
        return float(torch.corrcoef(torch.stack([a, b]))[0, 1])

    # Played faster, each frame's window is read where its moment now sounds: the loudness
    # contour lines up frame by frame, through to the end of the clip.
    faster, own = loudness(voices[3]), loudness(data.mel)
    assert agreement(faster, own) > 0.9
    assert agreement(faster, own) > agreement(faster, own, lag=3) + 0.1
    assert agreement(faster[-40:], own[-40:]) > 0.8


def test_training_draws_each_frames_audio_from_its_voice(data):
    voices = torch.stack([data.mel, data.mel + 1, data.mel + 2])
    with_voices = dataclasses.replace(data, voices=voices)
    index, voice = data.train_index[:3], torch.tensor([2, 0, 1])
    context = with_voices.batch(index, voice=voice)["mel_context"]
    for i in range(3):
        assert torch.equal(context[i], data.mel[data.context_index[index[i]]] + int(voice[i]))
    assert torch.equal(with_voices.batch(index)["mel_context"], data.mel[data.context_index[index]])


def test_eval_in_another_voice_scores_the_same_frames_beside_the_own_voice_metrics(tiny_run, may_dataset):
    from s2l_dub.train.evaluate import evaluate_actor

    folder, _ = tiny_run
    own = evaluate_actor(may_dataset.root, folder, write_video=False)
    other = evaluate_actor(may_dataset.root, folder, write_video=False, voice_semitones=3)
    assert other["frames"] == own["frames"] and (own["voice_semitones"], other["voice_semitones"]) == (0, 3)
    assert other["mouth_psnr_db"] != own["mouth_psnr_db"]
    assert json.loads((folder / "eval" / "metrics.json").read_text())["voice_semitones"] == 0
    assert json.loads((folder / "eval" / "metrics_voice+3.json").read_text())["mouth_psnr_db"] == other["mouth_psnr_db"]


def test_lips_change_with_audio(tiny_run, data):
    folder, _ = tiny_run
    model, _ = load_model(folder, data.depth0)
    model.eval()
    batch = data.batch(data.held_out_index[:2])
    quiet = int(torch.argmin(data.mel.mean(dim=(1, 2))))
    loud = int(torch.argmax(data.mel.mean(dim=(1, 2))))
    with torch.no_grad():
        a = model.generator(data.mel[data.context_index[[quiet]]], batch["time"][:1], 40, 60)
        b = model.generator(data.mel[data.context_index[[loud]]], batch["time"][:1], 40, 60)
    assert (a - b).abs().mean() > 0.003


def test_the_generator_standardises_audio_with_the_actors_training_statistics(tiny_run, data):
    folder, _ = tiny_run
    model, _ = load_model(folder, data.depth0)
    audio = model.generator.audio
    train_mel = data.mel[data.train_index].reshape(-1, data.mel.shape[-1])
    assert torch.allclose(audio.mel_mean, train_mel.mean(0), atol=1e-3)
    assert torch.allclose(audio.mel_std, train_mel.std(0), rtol=1e-3)
    # The statistics are used: the same window coded with the untrained identity statistics differs.
    window = data.mel[data.context_index[data.held_out_index[:1]]]
    with torch.no_grad():
        coded = audio(window)
        audio.mel_mean.zero_()
        audio.mel_std.fill_(1.0)
        assert (audio(window) - coded).abs().max() > 1e-3


def test_audio_augmentation_zeroes_one_band_and_acts_in_training_only(data):
    torch.manual_seed(0)
    mel = torch.randn(64, 20, 80)
    masked = augment_mel(mel, noise=0.0, freq_mask=16)
    zeroed = (masked == 0).all(1)  # (64, 80): bins zeroed through the whole window
    widths = zeroed.sum(1)
    assert widths.max() <= 16 and widths.max() >= 8
    for row, width in zip(zeroed, widths):  # one contiguous band per window
        bins = row.nonzero().flatten()
        assert width == 0 or bins.max() - bins.min() + 1 == width
    assert torch.equal(masked[~zeroed[:, None, :].expand_as(mel)], mel[~zeroed[:, None, :].expand_as(mel)])
    noisy = augment_mel(mel, noise=0.5, freq_mask=0)
    assert 0.45 < float((noisy - mel).std()) < 0.55

    torch.manual_seed(0)
    config = LipModelConfig(audio_noise=0.5, audio_freq_mask=16, audio_dropout=0.3)
    generator = LipGenerator(config)
    generator.audio.set_statistics(data.mel[data.train_index])
    window = data.mel[data.context_index[data.held_out_index[:4]]]
    with torch.no_grad():
        assert not torch.equal(generator.audio(window), generator.audio(window))
        generator.eval()
        assert torch.equal(generator.audio(window), generator.audio(window))


def test_frames_after_the_training_range_hold_the_last_trained_time(tiny_run, data):
    folder, _ = tiny_run
    model, _ = load_model(folder, data.depth0)
    model.eval()
    last_trained = float(data.time_norm[data.train_index].max())
    assert float(model.generator.time_limit) == pytest.approx(last_trained)
    window = data.mel[data.context_index[data.held_out_index[:1]]]
    with torch.no_grad():
        at_limit = model.generator(window, torch.tensor([last_trained]), 20, 30)
        beyond = model.generator(window, torch.tensor([1.0]), 20, 30)
        earlier = model.generator(window, torch.tensor([0.0]), 20, 30)
    assert torch.equal(at_limit, beyond)
    assert not torch.equal(at_limit, earlier)


def test_o2c_then_c2o_returns_the_input_inside_the_mask(data):
    """Warp real frames into the canonical lip box and back: the mouth comes back."""
    for interpolation in ("bicubic", "bilinear"):
        config = dataclasses.replace(Speech2LipConfig(), use_blend=False, warp_interpolation=interpolation)
        _, pasted, mask, target = _round_trip(data, config)
        core = mask > 0.9
        assert core.sum() > 500
        error = (pasted - target).abs()[core.expand_as(pasted)].mean()
        assert error < 0.03, (interpolation, float(error))


def _round_trip(data, config):
    """Ground-truth lips of six training frames taken O2C then C2O: (output, pasted, mask, target)."""
    model = Speech2Lip(config, data.depth0)
    index = data.train_index[torch.linspace(0, len(data.train_index) - 1, 6).long()]
    batch = data.batch(index)
    with torch.no_grad():
        canonical, _ = canonical_lips(data, batch["crops"], index, data.depth0, config.warp_interpolation)
        return model.compose(data, batch, canonical)


def test_bicubic_warps_keep_the_lips_edges_that_bilinear_ones_soften(data):
    def edges(images, region):
        dx = (images[..., :, 1:] - images[..., :, :-1]).abs()[region[..., :, 1:].expand_as(images[..., :, 1:])]
        dy = (images[..., 1:, :] - images[..., :-1, :]).abs()[region[..., 1:, :].expand_as(images[..., 1:, :])]
        return float(torch.cat([dx, dy]).mean())

    scores = {}
    for interpolation in ("bilinear", "bicubic"):
        config = dataclasses.replace(Speech2LipConfig(), use_blend=False, warp_interpolation=interpolation)
        _, pasted, mask, target = _round_trip(data, config)
        core = mask > 0.9
        scores[interpolation] = (edges(pasted, core), float((pasted - target).abs()[core.expand_as(pasted)].mean()))
    truth_edges = edges(target, core)
    (soft_edges, soft_error), (sharp_edges, sharp_error) = scores["bilinear"], scores["bicubic"]
    assert soft_edges < sharp_edges <= truth_edges * 1.02, (soft_edges, sharp_edges, truth_edges)
    assert sharp_error < soft_error


def test_blend_net_can_learn_from_ground_truth_lips_alone(data):
    """With every Blend-Net input pasted from the truth, the image loss no longer trains the generator."""
    batch = data.batch(data.train_index[:2])
    grads = {}
    for share in (0.0, 1.0):
        torch.manual_seed(0)
        config = dataclasses.replace(Speech2LipConfig(), use_sync_loss=False, blend_truth_share=share,
                                     black_hole_probability=1.0)
        model = Speech2Lip(config, data.depth0)
        model.losses(data, batch)["image"].backward()
        generator = [p.grad for p in model.generator.parameters()]
        grads[share] = (sum(float(g.abs().sum()) for g in generator if g is not None),
                        float(model.blend.out.weight.grad.abs().sum()))
    assert grads[0.0][0] > 0 and grads[1.0][0] == 0
    assert grads[0.0][1] > 0 and grads[1.0][1] > 0


def test_blend_net_mends_holes_and_leaves_the_lips_and_seam_alone(data):
    """Over the lips and the seam it only blurred the contour (BENCHMARKS.md); it still fills holes."""
    batch = data.batch(data.train_index[:2])
    model = Speech2Lip(Speech2LipConfig(), data.depth0)
    torch.nn.init.normal_(model.blend.out.weight, std=0.1)  # trained weights are not zero
    model.eval()
    with torch.no_grad():
        output, pasted, mask, _ = model.render_window(data, batch)
        assert torch.equal(output, pasted)
        holes = torch.zeros_like(mask)
        holes[..., 40:60, 60:90] = 1
        output, pasted, _, _ = model.render_window(data, batch, holes)
    changed = (output - pasted).abs().amax(1, keepdim=True) > 0
    assert changed[holes > 0].float().mean() > 0.2 and not changed[holes == 0].any()
    window = dataclasses.replace(Speech2LipConfig(), blend_reach="window")
    everywhere = Speech2Lip(window, data.depth0)
    everywhere.load_state_dict(model.state_dict())
    everywhere.eval()
    with torch.no_grad():
        output, pasted, _, _ = everywhere.render_window(data, batch)
    assert (output - pasted).abs().amax() > 0.01


def test_gradients_reach_the_depth_map(data):
    model = Speech2Lip(Speech2LipConfig(), data.depth0)
    loss = model.losses(data, data.batch(data.train_index[:4]))
    loss["total"].backward()
    grad = model.depth.offset.grad
    assert grad is not None and grad.abs().sum() > 0
    assert loss["depth"].requires_grad


def test_resume_after_an_interrupted_run_continues_from_the_checkpoint(may_dataset, tmp_path):
    config = dataclasses.replace(TINY, steps=20, checkpoint_every=5)
    whole = train_actor(may_dataset.root, tmp_path / "whole", config)

    interrupted = tmp_path / "interrupted"
    assert train_actor(may_dataset.root, interrupted, config, stop_at_step=12) == {"stopped_at": 12}
    # What a kill -9 during the next checkpoint write leaves behind: a half-written folder.
    (interrupted / "checkpoints" / ".ckpt-0000015.tmp").mkdir()
    (interrupted / "checkpoints" / ".ckpt-0000015.tmp" / "weights.safetensors").write_bytes(b"partial")
    state, _ = checkpoint.load_latest(interrupted / "checkpoints")
    assert state["step"] == 10

    recorder = Recorder()
    log = recorder.lines
    resumed = train_actor(may_dataset.root, interrupted, config, recorder)
    assert "resuming from step 10" in log
    assert resumed["steps"] == 20
    curve_whole = json.loads((tmp_path / "whole" / "training_curve.json").read_text())
    curve_resumed = json.loads((interrupted / "training_curve.json").read_text())
    assert [c["step"] for c in curve_resumed] == [c["step"] for c in curve_whole]
    assert np.allclose([c["total"] for c in curve_resumed], [c["total"] for c in curve_whole], rtol=1e-3)
    assert whole["final_losses"]["step"] == resumed["final_losses"]["step"] == 20


def test_validation_picks_the_best_checkpoint_and_stops_once_it_stops_improving(may_dataset, tmp_path):
    from safetensors.torch import load_file

    config = dataclasses.replace(TINY, steps=40, checkpoint_every=5, validation_share=0.1, patience=2)
    meta = train_actor(may_dataset.root, tmp_path, config)
    scores = meta["validation"]
    assert [v["step"] for v in scores] == list(range(5, meta["steps"] + 1, 5))
    best = max(scores, key=lambda v: v["psnr_db"])
    assert meta["selected_step"] == best["step"]
    assert meta["steps"] == min(config.steps, best["step"] + config.patience * config.checkpoint_every)
    chosen = load_file(str(tmp_path / "model.safetensors"))
    kept = load_file(str(tmp_path / "checkpoints" / "best.safetensors"))
    assert all(torch.equal(chosen[k], kept[k]) for k in kept)

    recorder = Recorder()
    again = train_actor(may_dataset.root, tmp_path, config, recorder)
    assert again["steps"] == meta["steps"] and again["selected_step"] == meta["selected_step"]
    assert not any("starting afresh" in line for line in recorder.lines)


def test_a_checkpoint_must_beat_the_best_by_the_minimum_gain(may_dataset, tmp_path):
    config = dataclasses.replace(TINY, steps=40, checkpoint_every=5, validation_share=0.1, patience=2,
                                 validation_min_gain=1000.0)
    meta = train_actor(may_dataset.root, tmp_path, config)
    assert max(v["psnr_db"] for v in meta["validation"]) > meta["validation"][0]["psnr_db"]
    assert meta["selected_step"] == 5 and meta["steps"] == 15


def test_the_validation_slice_lies_between_training_and_the_unchanged_held_out_test(may_dataset, data):
    from s2l_dub.train.config import patience_spent

    split = build_training_data(may_dataset, validation_share=0.1)
    assert len(split.validation_index) > 0
    assert split.train_index.max() < split.validation_index.min()
    assert split.validation_index.max() < split.held_out_index.min()
    assert torch.equal(split.held_out_index, data.held_out_index)
    assert len(split.train_index) + len(split.validation_index) == len(data.train_index)

    config = TrainConfig(validation_share=0.05, patience=3, checkpoint_every=250)
    assert not patience_spent(config, 1500, 1000) and patience_spent(config, 1750, 1000)
    assert not patience_spent(dataclasses.replace(config, patience=0), 6000, 250)
    assert not patience_spent(dataclasses.replace(config, validation_share=0.0), 6000, 250)

    from s2l_dub.train.trainer import expert_key, training_key

    manifest = {"stages": {"geometry": "g"}}
    # The slice changes what is trained on (a new key); patience only how long, like the steps.
    assert training_key(manifest, config) != training_key(manifest, TrainConfig())
    assert training_key(manifest, config) == training_key(manifest, dataclasses.replace(config, patience=9))
    assert expert_key(manifest, config) != expert_key(manifest, TrainConfig())


def test_the_weight_average_follows_the_weights_and_survives_a_checkpoint():
    from s2l_dub.train.averaging import WeightAverage, averaged_weights

    model = torch.nn.Linear(2, 1)
    model.register_buffer("limit", torch.tensor(float("inf")))
    average = WeightAverage(model, decay=0.9)
    start = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    average.update(model)
    # The first update's decay is 2/11, not 0.9: the initial weights must not dominate a short run.
    assert torch.allclose(average.tensors["weight"], start + 9 / 11)
    assert torch.isinf(average.tensors["limit"])
    with average.applied(model):
        assert torch.allclose(model.weight, start + 9 / 11)
    assert torch.allclose(model.weight, start + 1)

    restored = WeightAverage(model, decay=0.9)
    assert restored.load(average.state()) and restored.updates == 1
    assert torch.equal(restored.tensors["weight"], average.tensors["weight"])
    assert not restored.load({"model.weight": start})
    swapped = averaged_weights({"model.weight": model.weight, **average.state()})
    assert torch.equal(swapped["model.weight"], average.tensors["weight"])


def test_a_run_keeping_a_weight_average_resumes_to_the_same_averaged_model(may_dataset, tmp_path):
    from safetensors.torch import load_file

    config = dataclasses.replace(TINY, steps=12, checkpoint_every=4, weight_average=0.9)
    train_actor(may_dataset.root, tmp_path / "whole", config)
    assert train_actor(may_dataset.root, tmp_path / "cut", config, stop_at_step=6) == {"stopped_at": 6}
    train_actor(may_dataset.root, tmp_path / "cut", config)
    whole, cut = (load_file(str(tmp_path / run / "model.safetensors")) for run in ("whole", "cut"))
    assert all(torch.allclose(whole[k], cut[k], atol=1e-5) for k in whole)

    _, tensors = checkpoint.load_latest(tmp_path / "whole" / "checkpoints")
    # The finished model is the average, not the last step's raw weights.
    assert all(torch.equal(whole[k], tensors["average." + k[len("model."):]]) for k in whole)
    assert any(not torch.equal(whole[k], tensors[k]) for k in whole)


def test_a_model_from_another_version_is_refused(tiny_run, data, tmp_path):
    copy = copy_with_format(tiny_run[0], tmp_path / "old", "s2l-actor-model.0")
    with pytest.raises(ArtifactVersionError, match="retrain"):
        load_model(copy, data.depth0)


def test_checkpoints_of_an_older_format_restart_training(may_dataset, tmp_path):
    config = dataclasses.replace(TINY, steps=6, checkpoint_every=3, expert_steps=2)
    assert train_actor(may_dataset.root, tmp_path, config, stop_at_step=3) == {"stopped_at": 3}
    state_file = tmp_path / "checkpoints" / "ckpt-0000003" / "state.json"
    state = json.loads(state_file.read_text())
    state["format"] = "s2l-actor-model.0"
    state_file.write_text(json.dumps(state))
    recorder = Recorder()
    log = recorder.lines
    meta = train_actor(may_dataset.root, tmp_path, config, recorder)
    assert any("another s2l-dub version; starting afresh" in line for line in log)
    assert meta["steps"] == 6 and not any(line.startswith("resuming") for line in log)


def test_a_format_1_model_still_loads_with_neutral_audio_statistics(tiny_run, data, tmp_path):
    from safetensors.torch import load_file, save_file

    old = copy_with_format(tiny_run[0], tmp_path / "format1", "s2l-actor-model.1")
    weights = load_file(str(old / "model.safetensors"))
    newer = (".mel_mean", ".mel_std", ".time_limit")
    save_file({k: v for k, v in weights.items() if not k.endswith(newer)}, str(old / "model.safetensors"))
    model, _ = load_model(old, data.depth0)
    assert float(model.generator.time_limit) == float("inf")
    assert float(model.generator.audio.mel_mean.abs().max()) == 0.0
    assert torch.all(model.generator.audio.mel_std == 1.0)


def test_the_sync_expert_hears_the_voice_copies_it_is_keyed_by(data):
    from s2l_dub.train.trainer import _expert_sources, expert_key

    voices = torch.stack([data.mel, data.mel + 1, data.mel + 2])
    with_voices = dataclasses.replace(data, voices=voices)
    [source] = _expert_sources(with_voices, [], TrainConfig())
    centres = source.centres[:64]
    heard = source.audio(centres, torch.Generator().manual_seed(0)) - data.mel[centres]
    assert set(heard.mean(dim=(1, 2)).round().tolist()) == {0.0, 1.0, 2.0}
    [alone] = _expert_sources(with_voices, [], TrainConfig(expert_voices=False))
    assert torch.equal(alone.audio(centres, torch.Generator()), data.mel[centres])

    manifest = {"stages": {"geometry": "g"}}
    keys = {expert_key(manifest, config) for config in (
        TrainConfig(), TrainConfig(expert_voices=False), TrainConfig(voice_variants=((1.0, 2.0),)))}
    assert len(keys) == 3
    # Without copies there is nothing more to hear, and the key is that of an expert trained before.
    assert expert_key(manifest, TrainConfig(voice_variants=())) == expert_key(
        manifest, TrainConfig(voice_variants=(), expert_voices=False))


def test_model_variants_share_the_sync_expert_but_not_the_model():
    from s2l_dub.train.trainer import expert_key, training_key

    manifest = {"stages": {"geometry": "g"}}
    base = TrainConfig()
    variant = dataclasses.replace(base, model=dataclasses.replace(base.model, use_blend=False))
    assert expert_key(manifest, base) == expert_key(manifest, variant)
    assert training_key(manifest, base) != training_key(manifest, variant)
    assert expert_key(manifest, base) != expert_key(manifest, dataclasses.replace(base, expert_steps=100))
    assert expert_key(manifest, base) != expert_key({"stages": {"geometry": "other"}}, base)


def test_train_and_eval_from_the_command_line(may_dataset, capsys):
    import subprocess

    from s2l_dub.cli import main

    out = may_dataset.root.parents[2]
    assert main(["train", "--actor", "may", "--budget", "fast", "--steps", "6", "--out", str(out)]) == 0
    assert main(["eval", "--actor", "may", "--out", str(out)]) == 0
    eval_dir = out / "actors" / "may" / "model" / "eval"
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    assert metrics["frames"] == 13 and metrics["steps"] == 6
    assert 5 < metrics["mouth_psnr_db"] < 60 and 0 < metrics["mouth_ssim"] <= 1
    assert metrics["lmd_px"] > 0 and metrics["sync_offset_frames"] in range(-5, 6)
    probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_entries", "stream=codec_type,nb_read_frames",
                            "-of", "csv=p=0", str(eval_dir / "side_by_side.mp4")], capture_output=True, text=True)
    assert "video,13" in probe.stdout and "audio" in probe.stdout


def test_more_steps_continue_a_finished_run(may_dataset, tmp_path):
    config = dataclasses.replace(TINY, steps=6, checkpoint_every=3)
    train_actor(may_dataset.root, tmp_path / "run", config)
    recorder = Recorder()
    log = recorder.lines
    longer = train_actor(may_dataset.root, tmp_path / "run", dataclasses.replace(config, steps=9), recorder)
    assert "resuming from step 6" in log and longer["steps"] == 9


@pytest.mark.parametrize("variant", ["no_blend", "no_continuous", "no_time", "no_sync", "direct"])
def test_every_ablation_variant_trains_and_renders(variant, data):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from bench_model import variant_config

    config = variant_config(TINY, variant).model
    model = Speech2Lip(config, data.depth0)
    batch = data.batch(data.train_index[:2])
    terms = model.losses(data, batch)
    terms["total"].backward()
    assert torch.isfinite(terms["total"])
    with torch.no_grad():
        output, _, _, target = model.render_window(data, batch)
    assert output.shape == target.shape


def test_cosine_schedule_decays_to_its_floor_and_keeps_old_keys():
    import dataclasses

    from s2l_dub.errors import S2LError
    from s2l_dub.train.config import TrainConfig, learning_rate_scale
    from s2l_dub.train.trainer import training_key

    cosine = TrainConfig(steps=100, lr_schedule="cosine", lr_floor=0.1)
    scales = [learning_rate_scale(cosine, s) for s in (0, 50, 100)]
    assert scales == [pytest.approx(1.0), pytest.approx(0.55), pytest.approx(0.1)]
    assert learning_rate_scale(TrainConfig(), 5000) == 1.0
    with pytest.raises(S2LError, match="unknown learning-rate schedule 'step'"):
        learning_rate_scale(dataclasses.replace(cosine, lr_schedule="step"), 1)
    manifest = {"stages": {"geometry": "g"}}
    # A constant-rate run's key ignores the schedule's fields, so models trained before them stay valid.
    assert training_key(manifest, TrainConfig()) == training_key(manifest, TrainConfig(lr_floor=0.5))
    assert training_key(manifest, TrainConfig()) != training_key(manifest, dataclasses.replace(cosine, steps=6000))


def test_settings_added_later_keep_old_keys_while_neutral():
    from s2l_dub.train.evaluate import model_config_from_dict
    from s2l_dub.train.trainer import training_key

    manifest = {"stages": {"geometry": "g"}}
    older = dataclasses.replace(TrainConfig(), voice_variants=(), expert_voices=False, model=dataclasses.replace(
        TrainConfig().model, warp_interpolation="bilinear", blend_truth_share=0.0, blend_reach="window"))
    key = training_key(manifest, older)
    # The key of a default run as computed before the later settings existed.
    identity = dataclasses.asdict(dataclasses.replace(older, steps=0, checkpoint_every=0, preview_every=0,
                                                      log_every=0))
    for name in ("lr_schedule", "lr_floor", "validation_share", "patience", "validation_min_gain", "weight_average",
                 "voice_variants", "expert_voices"):
        del identity[name]
    for name in ("warp_interpolation", "blend_truth_share", "blend_reach"):
        del identity["model"][name]
    for name in ("audio_noise", "audio_freq_mask", "audio_dropout"):
        del identity["model"]["lips"][name]
    from s2l_dub import __version__
    from s2l_dub.artifacts import stable_key
    assert key == stable_key(stable_key(manifest["stages"]), identity, __version__, checkpoint.MODEL_FORMAT)
    lips = dataclasses.replace(older.model.lips, audio_noise=0.5)
    for changed in (dataclasses.replace(older.model, lips=lips), dataclasses.replace(older.model, blend_truth_share=0.25),
                    TrainConfig().model):
        assert training_key(manifest, dataclasses.replace(older, model=changed)) != key
    assert training_key(manifest, dataclasses.replace(older, voice_variants=((1.0, 2.0),))) != key
    assert training_key(manifest, dataclasses.replace(older, voice_variants=((1.0, 2.0),), expert_voices=True)) \
        != training_key(manifest, dataclasses.replace(older, voice_variants=((1.0, 2.0),)))
    # A model saved before the warp setting existed renders as it was trained.
    saved = dataclasses.asdict(TrainConfig().model)
    del saved["warp_interpolation"], saved["blend_truth_share"], saved["blend_reach"]
    assert model_config_from_dict(saved) == older.model
    from s2l_dub.errors import S2LError
    with pytest.raises(S2LError, match="unknown warp interpolation 'nearest'"):
        Speech2LipConfig(warp_interpolation="nearest")
    with pytest.raises(S2LError, match="unknown Blend-Net reach 'lips'"):
        Speech2LipConfig(blend_reach="lips")


def test_sync_expert_learns_from_extra_footage(may_dataset, static_dataset, tmp_path):
    from safetensors.torch import load_file

    from s2l_dub.errors import S2LError
    from s2l_dub.train.trainer import EXPERT_FILE

    config = dataclasses.replace(TINY, steps=2, checkpoint_every=2, preview_every=2)
    alone = train_actor(may_dataset.root, tmp_path / "alone", config)
    recorder = Recorder()
    both = train_actor(may_dataset.root, tmp_path / "both", config, recorder,
                       expert_footage=(static_dataset.root, may_dataset.root))
    assert any("already given; used once" in line for line in recorder.lines)
    [extra] = both["sync_expert"]["extra_footage"]
    assert extra["actor"] == "anchor_de" and extra["frames"] > 400
    assert alone["sync_expert"]["extra_footage"] == []
    # Another expert, so another model: neither the job's cache nor a resume may mistake one for the other.
    assert both["sync_expert"]["key"] != alone["sync_expert"]["key"] and both["run_key"] != alone["run_key"]
    first, second = (load_file(str(tmp_path / name / EXPERT_FILE)) for name in ("alone", "both"))
    assert any(not torch.equal(first[k], second[k]) for k in first)
    with pytest.raises(S2LError, match=f"{static_dataset.root}: only .* usable frames"):
        train_actor(may_dataset.root, tmp_path / "greedy", dataclasses.replace(config, expert_batch=10_000),
                    expert_footage=(static_dataset.root,))


def test_unprepared_expert_footage_is_one_line_naming_it(may_dataset, capsys):
    from s2l_dub.cli import main

    out = may_dataset.root.parents[2]
    code = main(["train", "--actor", "may", "--steps", "1", "--expert-footage", "nobody", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "nobody" in err and "s2l-dub prepare" in err and "Traceback" not in err
