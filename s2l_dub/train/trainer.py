"""`s2l-dub train`: the sync expert first, then the Speech2Lip model, resumable at any point."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from .. import __version__
from ..artifacts import atomic_path, read_json, safe_name, stable_key, write_json
from ..dataset.store import ActorDataset, load_dataset
from ..errors import ArtifactVersionError, S2LError
from ..model.speech2lip import Speech2Lip
from ..model.ssim import psnr
from ..model.sync import SYNC_FRAMES, SyncExpert, contrastive_sync_loss, sync_windows
from ..progress import NullProgress, Progress
from . import checkpoint
from .averaging import WeightAverage
from .config import TrainConfig, learning_rate_scale, patience_spent
from .data import DiskWindows, TrainingData, build_training_data, speech_seconds, sync_targets, voice_windows

EXPERT_FILE = "sync_expert.safetensors"
EXPERT_CHECKPOINTS = "expert_checkpoints"
MODEL_FILE = "model.safetensors"
MODEL_META = "model.json"
BEST_FILE = "best.safetensors"
"""In the checkpoints folder: the weights of the best validation score so far."""
PAPER_SPEECH_S = 180.0
"""The least footage the paper trains on (3-5 minutes). Below it, held-out mouths still improve
with every doubling of the actor's footage (anchor_en, BENCHMARKS.md "How much footage")."""


def model_dir(out: Path, actor: str) -> Path:
    return Path(out) / "actors" / safe_name(actor, "actor") / "model"


def dataset_key(dataset: ActorDataset) -> str:
    return stable_key(dataset.manifest["stages"])


KEY_NEUTRAL_SETTINGS: dict[tuple[str, ...], dict[str, object]] = {
    (): {"validation_share": 0.0, "validation_min_gain": 0.0, "weight_average": 0.0, "voice_variants": (),
         "expert_voices": False},
    ("model",): {"warp_interpolation": "bilinear", "blend_truth_share": 0.0, "blend_reach": "window"},
    ("model", "lips"): {"audio_noise": 0.0, "audio_freq_mask": 0, "audio_dropout": 0.0},
}
"""Settings added after models had been trained, by where they sit in the config, with the value
that reproduces the older training. At that value a setting is left out of the training key, so
the keys of those models stay valid; a saved model config that lacks one loads with that value."""


def training_key(dataset_manifest: dict, config: TrainConfig, expert_footage: tuple[str, ...] = ()) -> str:
    """What is trained, not for how long: `--steps 12000` continues a 6000-step run.

    ``expert_footage``: dataset keys of the extra footage the sync expert learnt from.
    """
    identity = dataclasses.asdict(dataclasses.replace(config, steps=0, checkpoint_every=0, preview_every=0,
                                                      log_every=0))
    if identity["lr_schedule"] == "constant":
        del identity["lr_schedule"], identity["lr_floor"]
    del identity["patience"]  # how long, like the steps: a larger patience continues a run that stopped early
    for path, settings in KEY_NEUTRAL_SETTINGS.items():
        section = identity
        for name in path:
            section = section[name]
        for name, neutral in settings.items():
            if section[name] == neutral:
                del section[name]
    parts = [stable_key(dataset_manifest["stages"]), identity, __version__, checkpoint.MODEL_FORMAT]
    return stable_key(*parts, *_footage_part(expert_footage))


def expert_key(dataset_manifest: dict, config: TrainConfig, expert_footage: tuple[str, ...] = ()) -> str:
    """The sync expert depends on the footage and its own settings only, so model variants can share it."""
    settings = (config.expert_steps, config.expert_batch, config.expert_learning_rate, config.held_out_share, config.seed)
    if config.validation_share:  # it learns from the training frames only, which the slice shortens
        settings = (*settings, ("validation share", config.validation_share))
    if _expert_hears_copies(config):
        settings = (*settings, ("voices", config.voice_variants))
    parts = ["expert", stable_key(dataset_manifest["stages"]), settings, __version__, checkpoint.MODEL_FORMAT]
    return stable_key(*parts, *_footage_part(expert_footage))


def _expert_hears_copies(config: TrainConfig) -> bool:
    return config.expert_voices and bool(config.voice_variants)


def _footage_part(expert_footage: tuple[str, ...]) -> list:
    # Absent when there is none, so keys made before extra footage existed stay valid.
    return [("expert footage", sorted(expert_footage))] if expert_footage else []


def model_id(meta: dict) -> str:
    """A trained model's identity: its training key and how far it trained."""
    return f"{meta.get('run_key', 'unknown')}@{meta.get('steps', 0)}"


def train_actor(dataset_root: Path, target: Path, config: TrainConfig, progress: Progress | None = None,
                stop_at_step: int | None = None, expert_footage: tuple[Path, ...] = ()) -> dict:
    """Train (or resume) and return the model's metadata. ``stop_at_step`` ends early, as a kill would.

    ``expert_footage``: other prepared datasets (other actors, or more of this one) that the
    sync expert also learns from; the generator still trains on this actor's footage alone.
    """
    progress = progress or NullProgress()
    started = time.monotonic()
    dataset = load_dataset(dataset_root)
    extras = _expert_footage(dataset, expert_footage, progress)
    footage_keys = tuple(dataset_key(extra) for extra in extras)
    data = build_training_data(dataset, config.held_out_share, config.model.lips.audio_context,
                               config.validation_share)
    if len(data.train_index) < 2 * config.batch_size:
        raise S2LError(f"{dataset_root}: only {len(data.train_index)} training frames; prepare more footage")
    validating = config.validation_share > 0 and len(data.validation_index) > 0
    speech_s = speech_seconds(dataset, data.train_index)
    progress.log(_footage_report(speech_s, len(data.train_index)))
    if config.voice_variants:
        data = dataclasses.replace(data, voices=voice_windows(dataset, config.voice_variants))
    if config.validation_share > 0 and not validating:
        # A dub should not fail for want of a yardstick: train every step and keep the last.
        progress.log(f"{dataset_root}: no usable frames in the validation slice; training every step")
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    run_key = training_key(dataset.manifest, config, footage_keys)
    write_json(target / "run_config.json", dataclasses.asdict(config))
    torch.manual_seed(config.seed)

    expert, expert_meta = _sync_expert(data, extras, target, config,
                                       expert_key(dataset.manifest, config, footage_keys), progress)
    model = Speech2Lip(config.model, data.depth0)
    model.generator.audio.set_statistics(data.mel[data.train_index])
    model.generator.time_limit.fill_(float(data.time_norm[data.train_index].max()))
    optimizer = torch.optim.Adam([
        {"params": [p for n, p in model.named_parameters() if not n.startswith("depth.")], "lr": config.learning_rate},
        {"params": list(model.depth.parameters()), "lr": config.depth_learning_rate},
    ])
    average = WeightAverage(model, config.weight_average) if config.weight_average else None
    rng = torch.Generator().manual_seed(config.seed)
    checkpoints = target / "checkpoints"
    checkpoints.mkdir(exist_ok=True)
    step, curve = 0, []
    best, validation = {"step": 0, "psnr_db": None}, []
    try:
        latest = checkpoint.load_latest(checkpoints, progress.log)
    except ArtifactVersionError:
        latest = None
        progress.log("existing checkpoints are from another s2l-dub version; starting afresh")
        checkpoint.clear(checkpoints)
    if latest is not None:
        state, tensors = latest
        if state.get("run_key") == run_key:
            checkpoint.restore(tensors, model, optimizer, rng)
            step, curve = state["step"], state.get("curve", [])
            best, validation = state.get("best", best), state.get("validation", [])
            if average is not None and not average.load(tensors):
                raise S2LError(f"{checkpoints}: the checkpoint lacks the weight average its settings ask for")
            progress.log(f"resuming from step {step}")
        else:
            progress.log("existing checkpoints are from another dataset or config; starting afresh")
            checkpoint.clear(checkpoints)
            (checkpoints / BEST_FILE).unlink(missing_ok=True)
            (checkpoints / BEST_FILE).with_suffix(".json").unlink(missing_ok=True)

    progress.start("training", config.steps, unit="steps")
    progress.advance(step)
    model.train()
    while step < config.steps and not patience_spent(config, step, best["step"]):
        if stop_at_step is not None and step >= stop_at_step:
            return {"stopped_at": step}
        index = data.train_index[torch.randint(len(data.train_index), (config.batch_size,), generator=rng)]
        scale = learning_rate_scale(config, step)
        for group, base in zip(optimizer.param_groups, (config.learning_rate, config.depth_learning_rate)):
            group["lr"] = base * scale
        # Drawn only with voice variants, so runs without them take the random draws they always took.
        voice = (torch.randint(len(data.voices), (config.batch_size,), generator=rng)
                 if data.voices is not None else None)
        terms = model.losses(data, data.batch(index, voice=voice), expert)
        optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        optimizer.step()
        if average is not None:
            average.update(model)
        step += 1
        if step % config.log_every == 0 or step == 1:
            curve.append({"step": step, **{k: round(float(v.detach()), 5) for k, v in terms.items()}})
        if step % config.preview_every == 0 or step == config.steps:
            with _as_used(model, average):
                write_preview(target / "previews" / f"step_{step:07d}.png", model, data)
        if step % config.checkpoint_every == 0 or step == config.steps:
            if validating:
                with _as_used(model, average):
                    score = validation_psnr(model, data, data.validation_index)
                    validation.append({"step": step, "psnr_db": round(score, 3)})
                    if best["psnr_db"] is None or score > best["psnr_db"] + config.validation_min_gain:
                        best = {"step": step, "psnr_db": score}
                        # Written before the checkpoint that records it: a kill between the two retraces the steps.
                        checkpoint.save_weights(checkpoints / BEST_FILE, model, {"run_key": run_key, "step": step})
            checkpoint.save_checkpoint(checkpoints, step, model, optimizer, rng,
                                       {"run_key": run_key, "curve": curve, "best": best, "validation": validation},
                                       extra=average.state() if average is not None else None)
        progress.advance()

    selected = step
    if average is not None:
        model.load_state_dict(average.tensors)
    if validating and best["step"]:
        selected = _select_best(model, checkpoints, run_key, best, step, step < config.steps, progress)

    meta = {
        "s2l_dub_version": __version__,
        "actor": dataset.manifest["actor"],
        "dataset": str(Path(dataset_root).resolve()),
        "dataset_key": dataset_key(dataset),
        "run_key": run_key,
        "config": dataclasses.asdict(config),
        "steps": step,
        "selected_step": selected,
        "train_frames": int(len(data.train_index)),
        "train_speech_s": round(speech_s, 2),
        "validation_frames": int(len(data.validation_index)),
        "validation": validation,
        "held_out_frames": int(len(data.held_out_index)),
        "sync_expert": expert_meta,
        "final_losses": curve[-1] if curve else {},
        "seconds_this_run": round(time.monotonic() - started, 1),
    }
    checkpoint.save_weights(target / MODEL_FILE, model, meta)
    write_json(target / "training_curve.json", curve)
    return meta


def _footage_report(speech_s: float, frames: int) -> str:
    report = f"learning the mouth from {speech_s:.0f} s of speech ({frames} frames)"
    if speech_s < PAPER_SPEECH_S:
        report += ("; the method is made for 3-5 minutes, and mouths on new audio improve with each doubling of "
                   "the footage: give more of this actor where you have it")
    return report


def _as_used(model: Speech2Lip, average: WeightAverage | None):
    """The weights a user gets: the moving average where the run keeps one."""
    return average.applied(model) if average is not None else contextlib.nullcontext(model)


def _select_best(model: Speech2Lip, checkpoints: Path, run_key: str, best: dict, step: int, early: bool,
                 progress: Progress) -> int:
    """Load the best-validated weights into ``model``; return their step."""
    path = checkpoints / BEST_FILE
    stored = read_json(path.with_suffix(".json")) if path.with_suffix(".json").exists() else {}
    if stored.get("run_key") != run_key or stored.get("step") != best["step"]:
        progress.log(f"{path}: does not hold step {best['step']}'s weights; keeping step {step}'s")
        return step
    checkpoint.load_weights(path, model)
    stopped = f"stopped early at step {step}" if early else f"trained {step} steps"
    progress.log(f"validation: {stopped}; the model is step {best['step']}'s, "
                 f"mouth PSNR {best['psnr_db']:.2f} dB on the validation frames")
    return best["step"]


def _expert_footage(dataset: ActorDataset, roots: tuple[Path, ...], progress: Progress) -> list[ActorDataset]:
    extras, seen = [], {dataset_key(dataset)}
    for root in roots:
        extra = load_dataset(root)
        key = dataset_key(extra)
        if key in seen:
            progress.log(f"{root}: the same footage is already given; used once")
            continue
        seen.add(key)
        extras.append(extra)
    return extras


@dataclasses.dataclass
class _ExpertSource:
    """One actor's footage as the expert sees it: audio windows, low-resolution lips, usable centres."""

    mel: torch.Tensor
    lips: torch.Tensor
    centres: torch.Tensor
    voices: DiskWindows | None = None
    """(1 + V, N, steps, bins): ``mel`` and its copies in other voices, or None."""

    def audio(self, centres: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """The audio windows at ``centres``, each in a voice drawn at random when there are copies."""
        if self.voices is None:  # no draw, so runs without copies take the batches they always took
            return self.mel[centres]
        return self.voices[torch.randint(len(self.voices), (len(centres),), generator=rng), centres]


def _expert_sources(data: TrainingData, extras: list[ActorDataset], config: TrainConfig) -> list[_ExpertSource]:
    voices = data.voices if _expert_hears_copies(config) else None
    sources = [_ExpertSource(data.mel, sync_targets(data), _window_centres(data, data.train_index), voices)]
    for extra in extras:
        extra_data = build_training_data(extra, config.held_out_share, config.model.lips.audio_context)
        every_frame = torch.arange(len(extra_data.mel))
        centres = _window_centres(extra_data, every_frame)
        if len(centres) < config.expert_batch:
            raise S2LError(f"{extra.root}: only {len(centres)} usable frames for the sync expert; "
                           f"it needs at least {config.expert_batch}")
        sources.append(_ExpertSource(extra_data.mel, sync_targets(extra_data), centres))
    return sources


def _sync_expert(data: TrainingData, extras: list[ActorDataset], target: Path, config: TrainConfig, key: str,
                 progress: Progress):
    """Train the sync expert on the actor's footage and any extra (or reuse it); report held-out accuracy.

    Each batch comes from one actor, so its negatives are the same face and voice at other
    times: the expert must read sync, not tell people apart.
    """
    expert = SyncExpert()
    path = target / EXPERT_FILE
    if path.exists() and path.with_suffix(".json").exists() and read_json(path.with_suffix(".json")).get("key") == key:
        meta = checkpoint.load_weights(path, expert)
    else:
        progress.start("sync expert", config.expert_steps, unit="steps")
        sources = _expert_sources(data, extras, config)
        share = torch.tensor([float(len(source.centres)) for source in sources])
        rng = torch.Generator().manual_seed(config.seed + 1)
        optimizer = torch.optim.Adam(expert.parameters(), config.expert_learning_rate)
        # Checkpointed like the generator, so a kill during this stage does not restart it from zero.
        checkpoints = target / EXPERT_CHECKPOINTS
        done = 0
        try:
            latest = checkpoint.load_latest(checkpoints, progress.log)
        except ArtifactVersionError:
            latest = None
        if latest is not None and latest[0].get("run_key") == key:
            checkpoint.restore(latest[1], expert, optimizer, rng)
            done = int(latest[0]["step"])
            progress.advance(done)
            progress.log(f"sync expert: resuming from step {done}")
        else:
            checkpoint.clear(checkpoints)
        for step in range(done, config.expert_steps):
            # Without extra footage no draw is made, so the batches are those of earlier versions.
            source = sources[int(torch.multinomial(share, 1, generator=rng))] if extras else sources[0]
            centre = source.centres[torch.randint(len(source.centres), (config.expert_batch,), generator=rng)]
            loss = contrastive_sync_loss(expert.embed_audio(source.audio(centre, rng)),
                                         expert.embed_lips(sync_windows(source.lips, centre)))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            progress.advance()
            if (step + 1) % config.checkpoint_every == 0 and step + 1 < config.expert_steps:
                checkpoint.save_checkpoint(checkpoints, step + 1, expert, optimizer, rng,
                                           {"run_key": key, "loss": float(loss.detach())})
        accuracy, chance = sync_accuracy(expert, sources[0].lips, data, _window_centres(data, data.held_out_index))
        meta = {"key": key, "held_out_top1": accuracy, "chance": chance, "final_loss": float(loss.detach()),
                "extra_footage": [{"actor": extra.manifest["actor"], "frames": len(source.centres)}
                                  for extra, source in zip(extras, sources[1:])]}
        checkpoint.save_weights(path, expert, meta)
        checkpoint.clear(checkpoints)
        extra_text = f", with {len(extras)} extra footage" if extras else ""
        progress.log(f"sync expert: held-out top-1 {accuracy:.1%} among {round(1 / chance)} candidates "
                     f"(chance {chance:.1%}){extra_text}")
    expert.eval()
    for p in expert.parameters():
        p.requires_grad_(False)
    return expert, meta


def _window_centres(data: TrainingData, index: torch.Tensor) -> torch.Tensor:
    half = SYNC_FRAMES // 2
    ok = (index >= half) & (index < len(data.mel) - half)
    return index[ok]


@torch.no_grad()
def sync_accuracy(expert: SyncExpert, lips: torch.Tensor, data: TrainingData, centres: torch.Tensor,
                  candidates: int = 16) -> tuple[float, float]:
    """Top-1 audio-to-lips retrieval among groups of ``candidates`` held-out frames."""
    if len(centres) < candidates:
        candidates = max(2, len(centres))
    hits, total = 0, 0
    for start in range(0, len(centres) - candidates + 1, candidates):
        group = centres[start:start + candidates]
        sims = expert.embed_audio(data.mel[group]) @ expert.embed_lips(sync_windows(lips, group)).T
        hits += int((sims.argmax(1) == torch.arange(len(group))).sum())
        total += len(group)
    return (hits / total if total else float("nan")), 1.0 / candidates


@torch.no_grad()
def validation_psnr(model: Speech2Lip, data: TrainingData, index: torch.Tensor, batch_size: int = 8) -> float:
    """Mean mouth-window PSNR (dB) of frames ``index`` driven by their own audio: eval's headline metric."""
    was_training = model.training
    model.eval()
    scores = []
    for chunk in index.split(batch_size):
        output, _, _, truth = model.render_window(data, data.batch(chunk))
        scores.append(psnr(output, truth))
    model.train(was_training)
    return float(torch.cat(scores).mean())


@torch.no_grad()
def write_preview(target: Path, model: Speech2Lip, data: TrainingData, count: int = 4) -> None:
    """Held-out frames: ground truth | pasted lips | Blend-Net output, one row each."""
    was_training = model.training
    model.eval()
    held = data.held_out_index if len(data.held_out_index) else data.train_index
    index = held[torch.linspace(0, len(held) - 1, count).long()]
    output, pasted, _, truth = model.render_window(data, data.batch(index))
    rows = [torch.cat([truth[i], pasted[i], output[i]], -1) for i in range(len(index))]
    image = (torch.cat(rows, -2).permute(1, 2, 0).clamp(0, 1).numpy() * 255).astype(np.uint8)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        tmp.write_bytes(cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))[1].tobytes())
    model.train(was_training)
