"""Does the sync expert read sync in a voice other than the actor's? Every dub is one.

    python bench/bench_expert.py [--video actors/anchor_en_71s.mp4] [--budget default] [--seeds 0,1]
                                 [--voices=-5,-3,3,5] [--speeds 0.85,1.15] [--work DIR]

For each seed, trains the sync expert as `s2l-dub train` does (the budget's settings), once on the
actor's own voice alone and once hearing the voice copies too (``TrainConfig.expert_voices``), then
scores held-out top-1 audio-to-lips retrieval among 16 frames with the held-out audio in the
actor's own voice, pitched by each of ``--voices`` semitones and played at each of ``--speeds``.
The test voices lie outside the copies' (2 semitones, 10 %), so a gain there is generalisation.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

from s2l_dub.dataset.prepare import ClipInput, prepare_actor
from s2l_dub.model.sync import SyncExpert
from s2l_dub.train import checkpoint
from s2l_dub.train.config import budget
from s2l_dub.train.data import build_training_data, sync_targets, voice_windows
from s2l_dub.train.trainer import EXPERT_FILE, _window_centres, sync_accuracy, train_actor

ROOT = Path(__file__).resolve().parents[1]


def _numbers(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=Path, default=Path(os.environ.get("S2L_SAMPLES", ROOT.parent / "shared" / "samples")))
    parser.add_argument("--video", default="actors/anchor_en_71s.mp4")
    parser.add_argument("--budget", default="default")
    parser.add_argument("--seeds", type=lambda text: [int(v) for v in text.split(",")], default=[0, 1])
    parser.add_argument("--voices", type=_numbers, default=[-5.0, -3.0, 3.0, 5.0], help="semitones")
    parser.add_argument("--speeds", type=_numbers, default=[0.85, 1.15])
    parser.add_argument("--work", type=Path, default=ROOT / "s2l-work" / "bench")
    args = parser.parse_args()

    actor = Path(args.video).stem
    dataset = prepare_actor([ClipInput(args.samples / args.video)], actor, args.work)
    root = dataset.root
    base = budget(args.budget)
    data = build_training_data(dataset, base.held_out_share, base.model.lips.audio_context, base.validation_share)
    tests = [(1.0, v) for v in args.voices] + [(s, 0.0) for s in args.speeds]
    names = ["own"] + [f"{v:+g} st" for v in args.voices] + [f"x{s:g}" for s in args.speeds]
    audio = [data.mel, *voice_windows(dataset, tuple(tests))[1:]]
    lips, held_out = sync_targets(data), _window_centres(data, data.held_out_index)

    print(f"{actor}: held-out top-1 among 16 (%), {len(held_out)} windows", flush=True)
    print(f"{'expert':<22}" + "".join(f"{name:>9}" for name in names) + f"{'train s':>9}", flush=True)
    for seed in args.seeds:
        for hears_copies in (False, True):
            label = f"seed {seed}, " + ("voice copies" if hears_copies else "own voice")
            folder = args.work / "actors" / actor / f"expert-{args.budget}-seed{seed}-{'copies' if hears_copies else 'own'}"
            config = dataclasses.replace(base, seed=seed, expert_voices=hears_copies)
            started = time.perf_counter()
            train_actor(root, folder, config, stop_at_step=0)  # the expert only (cached in the folder)
            seconds = time.perf_counter() - started
            expert = SyncExpert()
            checkpoint.load_weights(folder / EXPERT_FILE, expert)
            expert.eval()
            scores = [sync_accuracy(expert, lips, dataclasses.replace(data, mel=mel), held_out)[0] for mel in audio]
            print(f"{label:<22}" + "".join(f"{100 * s:>9.1f}" for s in scores) + f"{seconds:>9.0f}", flush=True)


if __name__ == "__main__":
    main()
