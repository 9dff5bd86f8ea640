"""Two sync experts, each trained on half of an actor's shots, to judge the other half (issue 25).

The actor's own sync expert learnt from every prepared shot, so it has also learnt a reaction
shot's face paired with someone else's voice, and rates that pairing as in sync. A shot is
therefore judged by an expert that never saw it: shots (contiguous prepared runs, long takes cut
into blocks) go to two folds balanced by their speech, and each fold's expert judges the other.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from ..artifacts import read_json, stable_key
from ..dataset.store import ActorDataset
from ..model.sync import SYNC_FRAMES, SyncExpert, contrastive_sync_loss, sync_windows
from ..progress import NullProgress, Progress
from . import checkpoint
from .data import TrainingData, sync_targets

FOLD_FILE = "speaker_expert_{fold}.safetensors"


@dataclasses.dataclass(frozen=True)
class FoldExpertConfig:
    steps: int = 800
    batch: int = 64
    learning_rate: float = 1e-3
    min_steps: int = 100
    steps_per_speech_frame: float = 0.5
    """Fewer steps for less speech (see :func:`fold_steps`); ``steps`` is the most."""
    block_frames: int = 250
    """Long takes are cut into blocks of this many frames before blocks are dealt to the folds."""
    seed: int = 0


def fold_of_rows(dataset: ActorDataset, block_frames: int = 250) -> np.ndarray:
    """Fold (0 or 1) of each dataset row: whole shots, balanced by frames with speech."""
    g = dataset.geometry
    clip, frame = g["clip_index"], g["frame_index"]
    order = np.lexsort((frame, clip))
    breaks = np.flatnonzero((np.diff(clip[order]) != 0) | (np.diff(frame[order]) != 1)) + 1
    runs = np.split(order, breaks)
    blocks = [block for run in runs
              for block in np.array_split(run, max(1, round(len(run) / block_frames)))]
    if len(blocks) == 1:
        blocks = np.array_split(blocks[0], 2)
    speech = dataset.speech().astype(bool)
    folds = np.zeros(len(clip), np.int8)
    load = [0, 0]
    # Largest first, each to the lighter fold: both folds get speech to learn from.
    for block in sorted(blocks, key=lambda b: -int(speech[b].sum())):
        fold = int(load[1] < load[0])
        folds[block] = fold
        load[fold] += int(speech[block].sum()) + 1
    return folds


def usable_centres(dataset: ActorDataset, rows: np.ndarray) -> np.ndarray:
    """Rows of ``rows`` whose whole lip window is tracked, inside one shot."""
    half = SYNC_FRAMES // 2
    g = dataset.geometry
    valid, clip = g["valid"], g["clip_index"]
    n = len(valid)
    keep = [r for r in rows if half <= r < n - half and valid[r - half:r + half + 1].all()
            and (clip[r - half:r + half + 1] == clip[r]).all()]
    return np.array(keep, np.int64)


def fold_steps(speech_frames: int, config: FoldExpertConfig) -> int:
    """Steps for a fold expert learning from ``speech_frames`` frames of speech.

    On a few seconds of speech more steps only memorise: on anchor_de's 6 s per fold, an unseen
    speaking shot scored 0.16-0.20 after 100 steps, 0.08-0.17 after 200 and 0.10-0.17 after 800."""
    return int(min(config.steps, max(config.min_steps, speech_frames * config.steps_per_speech_frame)))


def fold_experts_key(dataset_manifest: dict, config: FoldExpertConfig) -> str:
    """What the fold experts are made from: the prepared footage (its stage keys) and the config."""
    return stable_key("fold expert", dataset_manifest.get("stages"), dataclasses.asdict(config))


def fold_config_of(model_meta: dict) -> FoldExpertConfig:
    """The fold experts' config for a model: as many steps and as large batches as its own expert had."""
    trained = model_meta.get("config", {})
    return FoldExpertConfig(steps=int(trained.get("expert_steps", FoldExpertConfig.steps)),
                            batch=int(trained.get("expert_batch", FoldExpertConfig.batch)))


def fold_experts(dataset: ActorDataset, data: TrainingData, folder: Path, config: FoldExpertConfig,
                 progress: Progress | None = None) -> tuple[list[SyncExpert], np.ndarray]:
    """The two fold experts (trained once, kept in ``folder``) and each row's fold."""
    progress = progress or NullProgress()
    folds = fold_of_rows(dataset, config.block_frames)
    key = fold_experts_key(dataset.manifest, config)
    experts = []
    lips = None
    for fold in (0, 1):
        path = Path(folder) / FOLD_FILE.format(fold=fold)
        expert = SyncExpert()
        meta_path = path.with_suffix(".json")
        if path.exists() and meta_path.exists() and read_json(meta_path).get("key") == key:
            checkpoint.load_weights(path, expert)
        else:
            if lips is None:
                lips = sync_targets(data)
            centres = usable_centres(dataset, np.flatnonzero(folds == fold))
            steps = fold_steps(int(dataset.speech()[centres].sum()), config)
            progress.start(f"speaker check: sync expert on half the shots ({fold + 1}/2)", steps, unit="steps")
            _train(expert, data, lips, torch.from_numpy(centres), dataclasses.replace(config, steps=steps), progress)
            checkpoint.save_weights(path, expert, {"key": key, "fold": fold, "frames": len(centres)})
        experts.append(expert.eval())
    return experts, folds


def _train(expert: SyncExpert, data: TrainingData, lips: torch.Tensor, centres: torch.Tensor,
           config: FoldExpertConfig, progress: Progress) -> None:
    if len(centres) < 2:
        return  # nothing to learn from: the reading check will find this expert blind
    rng = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.Adam(expert.parameters(), config.learning_rate)
    batch = min(config.batch, len(centres))
    for _ in range(config.steps):
        centre = centres[torch.randint(len(centres), (batch,), generator=rng)]
        loss = contrastive_sync_loss(expert.embed_audio(data.mel[centre]),
                                     expert.embed_lips(sync_windows(lips, centre)))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        progress.advance()
    for p in expert.parameters():
        p.requires_grad_(False)
