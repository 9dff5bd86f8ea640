"""Can an actor's sync expert tell their face speaking from their face over another voice? (issue 25)

    s2l-dub prepare ../shared/samples/actors/anchor_en_71s.mp4 --actor en --out W
    s2l-dub prepare ../shared/samples/actors/anchor_de_20s.mp4 --actor de --out W
    python bench/bench_speaker_expert.py --work W [--steps 800]

A sync expert is trained on the first 70 % of each actor's frames. On the held-out 30 %, every
window of 2, 3 and 5 s is scored as the who-speaks check scores a shot (render/original_sync.py:
similarity at offset 0 minus its median over offsets 4-12 frames away), once with the actor's own
sound (the face speaks) and once with each of eight other real recordings laid under the same
frames (a face over a line it does not speak). Percentiles of both, and how often the best offset
is within a frame of 0. This calibrates the check's thresholds; the check itself judges shots
with experts trained on the other half of the shots (train/fold_experts.py).
"""

from __future__ import annotations

import argparse
import glob
import os
from pathlib import Path

import numpy as np
import torch

from s2l_dub.audio.features import AudioFeatureConfig, log_mel, windows_at
from s2l_dub.dataset.store import load_dataset
from s2l_dub.media import load_audio
from s2l_dub.model.sync import sync_windows
from s2l_dub.progress import NullProgress
from s2l_dub.render.original_sync import OriginalSyncConfig
from s2l_dub.train import trainer
from s2l_dub.train.config import TrainConfig
from s2l_dub.train.data import build_training_data, sync_targets


def curve_score(lips: torch.Tensor, sound: torch.Tensor, lo: int, hi: int, max_offset: int, near: int):
    means = []
    for d in range(-max_offset, max_offset + 1):
        if lo + d < 0 or hi + d > len(sound):
            means.append(np.nan)
            continue
        means.append(float((lips[lo:hi] * sound[lo + d:hi + d]).sum(1).mean()))
    means = np.array(means)
    offsets = np.arange(-max_offset, max_offset + 1)
    far = means[(np.abs(offsets) > near) & ~np.isnan(means)]
    return means[max_offset] - np.median(far), int(offsets[np.nanargmax(means)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=Path(os.environ.get("S2L_SAMPLES", "../shared/samples")))
    parser.add_argument("--work", type=Path, required=True, help="Work folder holding actors/en and actors/de.")
    parser.add_argument("--steps", type=int, default=800)
    args = parser.parse_args()
    torch.manual_seed(0)
    config = TrainConfig(expert_steps=args.steps, held_out_share=0.3)
    check = OriginalSyncConfig()
    features = AudioFeatureConfig()
    others = {}
    for path in sorted(glob.glob(str(args.samples / "dub_audio/*.wav")))[:8]:
        others[Path(path).stem] = log_mel(load_audio(Path(path), 16000)[:16000 * 60], features)
    scored = {}
    for actor in ("en", "de"):
        dataset = load_dataset(args.work / "actors" / actor / "dataset")
        data = build_training_data(dataset, 0.3, config.model.lips.audio_context)
        folder = args.work / f"expert_{actor}_{args.steps}"
        folder.mkdir(exist_ok=True)
        expert, meta = trainer._sync_expert(data, [], folder, config, f"bench{args.steps}", NullProgress())
        print(f"{actor}: held-out top-1 {meta['held_out_top1']:.1%} (chance {meta['chance']:.1%})")
        held = data.held_out_index
        held = held[(held >= 2) & (held < len(data.mel) - 2)]
        with torch.no_grad():
            lips = expert.embed_lips(sync_windows(sync_targets(data), held))
            own = expert.embed_audio(data.mel[held])
            times = (np.arange(len(held)) + 37) / 25.0
            foreign = [expert.embed_audio(torch.from_numpy(windows_at(mel, times, features))) for mel in others.values()]
        scored[actor] = (lips, own, foreign)
    print(f"{'window':>6} {'sound':>8} {'n':>4}  score p1 / p5 / p25 / p50 / p75 / p95 / p99; best offset within 1")
    for frames in (50, 75, 125):
        own_scores, other_scores = [], []
        for lips, own, foreign in scored.values():
            for lo in range(check.max_offset, len(lips) - frames - check.max_offset, frames // 3):
                own_scores.append(curve_score(lips, own, lo, lo + frames, check.max_offset, check.near_offset))
                other_scores += [curve_score(lips, f, lo, lo + frames, check.max_offset, check.near_offset)
                                 for f in foreign]
        for kind, values in (("own", own_scores), ("another", other_scores)):
            values = np.array(values)
            p = np.percentile(values[:, 0], [1, 5, 25, 50, 75, 95, 99])
            print(f"{frames / 25:5.0f}s {kind:>8} {len(values):4d}  " + " / ".join(f"{v:+.3f}" for v in p)
                  + f"; {np.mean(np.abs(values[:, 1]) <= 1):.0%}")


if __name__ == "__main__":
    main()
