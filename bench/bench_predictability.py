"""How much of the held-out mouth can the actor's audio predict at all, from this much footage?

    python bench/bench_predictability.py --work W [--actor anchor_en_71s] [--footage-share 0.25,0.5,1]
        [--features mel,phones,whisper]

No training: every row is a fixed rule on the prepared dataset's O2C ground-truth lips, scored
as lip-box PSNR on the held-out frames (as bench_generator.py; about 5.4 dB below the eval's
window PSNR on anchor_en, see bench_ceiling.py). It bounds what a generator can learn here:

- constants: the training frames' mean lips, the mean of the silent or speaking training frames
  by the VAD, and the held-out frames' own mean (an oracle constant);
- oracles that know the answer: the nearest training lips, the mean of the k nearest, and the
  training mean shifted by the best sub-pixel offset per frame (how much moving one mouth explains);
- audio retrieval: the mean lips of the k training frames whose audio window is nearest to the
  held-out frame's (standardised log-mel; PocketSphinx phones; Whisper tiny.en encoder states).
  A k-nearest-neighbour regressor is the plainest learner from audio to lips: where it sits near
  the mean, the footage holds little that ties these sounds to those mouths.

Each retrieval row is repeated on a share of the training frames (bench_generator's 2 s
blocks) to show how it grows with footage.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bench_ceiling import psnr
from bench_generator import lip_box_psnr, phone_windows, thin_footage, true_lips, whisper_windows
from s2l_dub.dataset.store import load_dataset
from s2l_dub.train.data import build_training_data

NEIGHBOURS = (1, 8, 32, 128)


def standardised(windows: torch.Tensor, train: torch.Tensor) -> torch.Tensor:
    """(N, steps, bins) -> (N, steps * bins), each bin standardised on the training frames."""
    flat = windows[train].reshape(-1, windows.shape[-1])
    return ((windows - flat.mean(0)) / flat.std(0).clamp(min=1e-3)).flatten(1)


def nearest_mean(query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, k: int) -> torch.Tensor:
    """Mean of the ``values`` whose ``keys`` are the k nearest (Euclidean) to each ``query``."""
    index = torch.cdist(query, keys).topk(min(k, len(keys)), largest=False).indices
    return values[index].mean(1)


def best_shift(image: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor, reach_px: float = 2.0) -> float:
    """Mean PSNR of ``image`` (1, 3, h, w) moved per frame by the sub-pixel offset that best fits ``truth``."""
    height, width = image.shape[-2:]
    best = torch.full((len(truth),), -np.inf)
    for dy in np.arange(-reach_px, reach_px + 1e-6, 0.5):
        for dx in np.arange(-reach_px, reach_px + 1e-6, 0.5):
            theta = torch.tensor([[[1, 0, 2 * dx / width], [0, 1, 2 * dy / height]]], dtype=torch.float32)
            moved = F.grid_sample(image, F.affine_grid(theta, image.shape, align_corners=False), mode="bicubic",
                                  padding_mode="border", align_corners=False)
            best = torch.maximum(best, psnr(moved.expand_as(truth), truth, mask))
    return float(best.mean())


def audio_features(name: str, dataset, data) -> torch.Tensor:
    if name == "mel":
        return data.mel
    if name == "phones":
        return phone_windows(dataset)[0]
    if name == "whisper":
        return whisper_windows(dataset)
    raise SystemExit(f"unknown features {name!r} (mel, phones, whisper)")


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--actor", default="anchor_en_71s")
    parser.add_argument("--footage-share", default="0.25,0.5,1", help="shares of the training frames, comma-separated")
    parser.add_argument("--features", default="mel,phones,whisper")
    args = parser.parse_args()
    dataset = load_dataset(args.work / "actors" / args.actor / "dataset")
    data = build_training_data(dataset)
    truth = true_lips(data)
    mask = data.lip_mask[None, None]
    train, held = data.train_index, data.held_out_index
    held_truth = truth[held]

    def score(prediction: torch.Tensor) -> float:
        return lip_box_psnr(prediction.expand_as(held_truth), held_truth, mask)

    print(f"{args.actor}: lip box {data.lip_box[2]}x{data.lip_box[3]}, {len(train)} training and {len(held)} "
          f"held-out frames; lip-box PSNR dB on the held-out frames")
    mean = truth[train].mean(0, keepdim=True)
    speaking = data.speech
    by_vad = torch.where(speaking[held][:, None, None, None], truth[train[speaking[train]]].mean(0),
                         truth[train[~speaking[train]]].mean(0))
    print(f"{'constant: training mean lips':<58}{score(mean):>8.2f}")
    print(f"{'constant per VAD class (silent / speaking training mean)':<58}{score(by_vad):>8.2f}")
    print(f"{'oracle constant: the held-out frames own mean':<58}{score(held_truth.mean(0, keepdim=True)):>8.2f}")
    print(f"{'oracle: training mean, best sub-pixel shift per frame':<58}{best_shift(mean, held_truth, mask):>8.2f}")
    flat_train = (truth[train] * mask).flatten(1)
    flat_held = (held_truth * mask).flatten(1)
    for k in NEIGHBOURS[:3]:
        print(f"{f'oracle: mean of the {k} nearest training lips':<58}"
              f"{score(nearest_mean(flat_held, flat_train, truth[train], k)):>8.2f}")
    print(f"\n{'audio retrieval: mean lips of the k nearest audio windows':<44}{'share':>7}"
          + "".join(f"{f'k={k}':>8}" for k in NEIGHBOURS))
    for name in args.features.split(","):
        keys = standardised(audio_features(name, dataset, data), train)
        for share in (float(s) for s in args.footage_share.split(",")):
            footage = thin_footage(train, share)
            row = [score(nearest_mean(keys[held], keys[footage], truth[footage], k)) for k in NEIGHBOURS]
            print(f"{name:<44}{share:>7.2f}" + "".join(f"{v:>8.2f}" for v in row), flush=True)


if __name__ == "__main__":
    main()
