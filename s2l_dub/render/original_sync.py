"""Does the face in a shot speak the line its original sound holds? (issue 25)

A sync expert trained on the actor's footage embeds the canonical lips of the shot's frames
and the shot's original sync sound. For a face that speaks, lips and sound agree best at no
offset; for a listener, or a face over another person's voice, no offset stands out. The score
is the mean similarity at offset 0 minus its median over offsets well away from it (SyncNet's
"AV offset confidence"). The judging expert must not have learnt the shot itself (it would have
memorised a reaction shot's face with the other voice as in sync): see ``train/fold_experts.py``.
Calibration (BENCHMARKS.md, "Who speaks"): on 2 s windows of shots the expert never saw, the
anchors' own sound scored 0.15 or more and other people's sound 0.08 or less in 99 % of windows;
on the anchor_de test edit, unseen speaking shots scored 0.16-0.40 and the reaction shot -0.09
to -0.03.

A shot can only be judged where the actor's dataset holds its frames with their sound,
i.e. the shot's media was prepared (it has sync sound) and the expert learnt to read sync.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from ..artifacts import read_json, stable_key, write_json
from ..dataset.store import ActorDataset
from ..errors import S2LError
from ..model.sync import SYNC_FRAMES, SyncExpert, sync_windows
from ..train.data import TrainingData, sync_targets

SPEAKS, LISTENS, SILENT, UNSURE, UNKNOWN = "speaks", "listens", "silent", "unsure", "unknown"
MIN_FOLD_STEPS = 100
"""Fewer sync-expert steps than this (tests' tiny budgets) read no sync: the check is not run."""
CACHE_FILE = "original_sync.json"
"""Verdicts already reached with this model folder's expert, by :func:`verdict_key`."""


@dataclasses.dataclass(frozen=True)
class OriginalSyncConfig:
    speaks_at: float = 0.10
    """Score at or above which the face speaks the original line (its best offset within a frame of 0)."""
    listens_below: float = 0.05
    """Score below which it does not; in between, unsure."""
    max_offset: int = 12
    """Offsets (frames) compared with offset 0."""
    near_offset: int = 3
    """Offsets this close to 0 are left out of the baseline: lips and sound still half agree there."""
    context_frames: int = 50
    """A short segment is judged on at least this many frames of its shot around it."""
    min_frames: int = 25
    min_speech_share: float = 0.15
    """Below this share of frames with speech in the original sound, the line is off screen."""
    min_expert_gain: float = 2.0
    """The expert's top-1 over chance on the actor's speech needed to trust it (a few steps read nothing)."""


@dataclasses.dataclass(frozen=True)
class OriginalSync:
    verdict: str
    reason: str
    score: float | None = None
    offset: int | None = None
    speech_share: float | None = None

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def verdict_key(dataset_manifest: dict, experts_key: str | None, media: Path, first: int, stop: int,
                config: OriginalSyncConfig) -> str:
    """The verdict's inputs: the prepared frames and sound (by stage keys), the experts, the range, the rules."""
    return stable_key("original sync", dataset_manifest.get("stages"), experts_key,
                      str(Path(media).resolve()), first, stop, dataclasses.asdict(config))


def cached_verdict(model_folder: Path, key: str) -> OriginalSync | None:
    path = Path(model_folder) / CACHE_FILE
    try:
        entry = read_json(path).get(key) if path.exists() else None
        return OriginalSync(**entry) if isinstance(entry, dict) else None
    except (S2LError, OSError, TypeError, AttributeError):
        return None  # a cache: judged again when damaged


def remember_verdict(model_folder: Path, key: str, verdict: OriginalSync) -> None:
    path = Path(model_folder) / CACHE_FILE
    try:
        known = read_json(path) if path.exists() else {}
    except (S2LError, OSError):
        known = {}
    known = known if isinstance(known, dict) else {}
    known[key] = verdict.as_dict()
    write_json(path, known)


@torch.no_grad()
def expert_reading(dataset: ActorDataset, data: TrainingData, expert: SyncExpert, among: np.ndarray | None = None,
                   samples: int = 512, candidates: int = 16) -> float:
    """How well the expert reads sync on the actor's own speech: top-1 retrieval of a frame's lips from
    its sound among ``candidates`` frames far apart in time (chance ``1 / candidates``).

    Measured on the frames with speech of ``among`` (rows; default all): for a fold expert, the half
    of the shots it never saw. Some of those may be reaction shots, which only lower the reading."""
    half = SYNC_FRAMES // 2
    g = dataset.geometry
    usable = dataset.speech().astype(bool) & g["valid"]
    clip = g["clip_index"]
    n = len(usable)
    ok = np.zeros(n, bool)
    ok[half:n - half] = True
    for k in range(-half, half + 1):
        ok[half:n - half] &= usable[half + k:n - half + k] & (clip[half + k:n - half + k] == clip[half:n - half])
    if among is not None:
        ok &= np.isin(np.arange(n), among)
    centres = np.flatnonzero(ok)
    if len(centres) < 2 * candidates:
        return 0.0
    centres = centres[np.linspace(0, len(centres) - 1, min(samples, len(centres))).round().astype(int)]
    rows = np.unique((centres[:, None] + np.arange(-half, half + 1)[None]).ravel())
    lips = sync_targets(data, torch.from_numpy(rows))
    local = torch.from_numpy(np.searchsorted(rows, centres))
    lip_embed = expert.embed_lips(sync_windows(lips, local))
    sound = expert.embed_audio(data.mel[torch.from_numpy(centres)])
    # Groups interleave the spread centres, so candidates are seconds apart, not neighbours.
    groups = len(centres) // candidates
    hits = 0
    for g_index in range(groups):
        pick = torch.arange(g_index, groups * candidates, groups)
        sims = sound[pick] @ lip_embed[pick].T
        hits += int((sims.argmax(1) == torch.arange(candidates)).sum())
    return hits / (groups * candidates)


def expert_can_judge(reading: float, config: OriginalSyncConfig = OriginalSyncConfig(), candidates: int = 16) -> bool:
    return reading >= config.min_expert_gain / candidates


def prepared_frames(dataset: ActorDataset, media: Path, first: int, stop: int) -> np.ndarray:
    """Dataset rows holding source frames ``first`` to ``stop`` of ``media``, in frame order."""
    resolved = str(Path(media).resolve())
    clips = [c["index"] for c in dataset.manifest["clips"] if str(Path(c["path"]).resolve()) == resolved]
    g = dataset.geometry
    rows = np.flatnonzero(np.isin(g["clip_index"], clips) & (g["frame_index"] >= first) & (g["frame_index"] < stop))
    return rows[np.argsort(g["frame_index"][rows], kind="stable")]


def judge(dataset: ActorDataset, data: TrainingData, experts: list[SyncExpert], folds: np.ndarray,
          readings: list[float], media: Path, first: int, stop: int,
          config: OriginalSyncConfig = OriginalSyncConfig()) -> OriginalSync:
    """Whether the actor's face speaks the original sound of source frames ``first``-``stop`` of ``media``.

    ``experts[k]`` learnt from the rows with ``folds == k`` and judges the others; ``readings[k]``
    is how well it reads sync on them (:func:`expert_reading`)."""
    rows = prepared_frames(dataset, media, first, stop)
    if len(rows) == 0:
        return OriginalSync(UNKNOWN, "no original sound to check against (the shot's media was not prepared: "
                                     "no audio stream)")
    speech = dataset.speech()
    share = float(speech[rows].mean())
    if share < config.min_speech_share:
        return OriginalSync(SILENT, f"no speech in the shot's original sound ({share:.0%} of frames): "
                                    "the line is spoken off screen", speech_share=share)
    fold = int(np.bincount(folds[rows], minlength=2).argmax())
    judge_fold = 1 - fold
    if not expert_can_judge(readings[judge_fold], config):
        # The shot has speech to check, but the check is blind: weak evidence, so the editor decides.
        return OriginalSync(UNSURE, "too little of the actor's speech to learn sync from (the check reads "
                                    f"{readings[judge_fold]:.0%} of lines right on shots it did not learn from)",
                            speech_share=share)
    rows = _with_context(dataset, rows[folds[rows] == fold], config.context_frames)
    rows = rows[folds[rows] == fold]
    valid = dataset.geometry["valid"]
    half = SYNC_FRAMES // 2
    centres = [i for i in range(half, len(rows) - half) if valid[rows[i - half:i + half + 1]].all()]
    if len(centres) < config.min_frames:
        return OriginalSync(UNKNOWN, f"the face is tracked on only {len(centres)} frames here", speech_share=share)
    score, offset = sync_score(experts[judge_fold], data, rows, np.array(centres), config)
    if score >= config.speaks_at and abs(offset) <= 1:
        return OriginalSync(SPEAKS, f"the face moves with the original sound (score {score:.2f})", score, offset, share)
    if score < config.listens_below:
        return OriginalSync(LISTENS, f"the face does not move with the original sound (score {score:.2f}): "
                                     "a listener, or the voice is someone else's", score, offset, share)
    return OriginalSync(UNSURE, f"the face half agrees with the original sound (score {score:.2f}, "
                                f"best offset {offset:+d} frames)", score, offset, share)


@torch.no_grad()
def sync_score(expert: SyncExpert, data: TrainingData, rows: np.ndarray, centres: np.ndarray,
               config: OriginalSyncConfig = OriginalSyncConfig()) -> tuple[float, int]:
    """(score, best offset in frames): lips at ``rows[centres]`` against the sound ``d`` frames away."""
    rows_t = torch.from_numpy(rows)
    lips = sync_targets(data, rows_t)
    lip_embed = expert.embed_lips(sync_windows(lips, torch.from_numpy(centres)))
    sound = expert.embed_audio(data.mel[rows_t])
    offsets = np.arange(-config.max_offset, config.max_offset + 1)
    mean = np.full(len(offsets), np.nan)
    for k, d in enumerate(offsets):
        ok = (centres + d >= 0) & (centres + d < len(rows))
        if ok.sum() >= config.min_frames // 2:
            mean[k] = float((lip_embed[torch.from_numpy(ok)] * sound[torch.from_numpy(centres[ok] + d)]).sum(1).mean())
    far = mean[(np.abs(offsets) > config.near_offset) & ~np.isnan(mean)]
    baseline = float(np.median(far)) if len(far) else float(np.nanmean(mean))
    return float(mean[config.max_offset] - baseline), int(offsets[np.nanargmax(mean)])


def _with_context(dataset: ActorDataset, rows: np.ndarray, frames: int) -> np.ndarray:
    """``rows`` widened evenly to ``frames`` rows of the same clip, contiguous in source frames."""
    if len(rows) >= frames:
        return rows
    g = dataset.geometry
    clip = g["clip_index"][rows[0]]
    same = np.flatnonzero(g["clip_index"] == clip)
    same = same[np.argsort(g["frame_index"][same], kind="stable")]
    at = int(np.searchsorted(g["frame_index"][same], g["frame_index"][rows[0]]))
    lo = max(0, at - (frames - len(rows)) // 2)
    hi = min(len(same), lo + frames)
    lo = max(0, hi - frames)
    # A gap in the prepared frames (another range of the file) ends the context there.
    picked = same[lo:hi]
    steps = np.diff(g["frame_index"][picked])
    breaks = np.flatnonzero(steps != 1)
    if len(breaks):
        pieces = np.split(picked, breaks + 1)
        picked = next(p for p in pieces if rows[0] in p)
    return picked
