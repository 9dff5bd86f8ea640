"""Where a trained actor model loses mouth PSNR: geometry, Blend-Net, or the generator.

    python bench/bench_ceiling.py --work W --actor anchor_en_71s [--model model-default-full]

Prints, on the held-out frames and in the eval's mouth window:

- the GAMEM round trip: ground-truth lips warped into the canonical view (O2C) and
  straight back (C2O), pasted with and without Blend-Net. This bounds what geometry
  and blending cost; it should sit far above the target.
- reference predictors of the canonical lips: the training frames' mean, and the
  nearest training frame chosen with the answer in hand (an oracle no model can
  reach, but the ceiling of anything that only recombines training mouths).
- the model itself, on held-out and on training frames: the gap between them is
  the generalisation the 90/10 split measures.
- beside PSNR, each row's SSIM and CPBD sharpness in the window, and the ground truth's round
  trip through the other warp interpolation, to show what resampling costs in sharpness.
- the seam: PSNR over the paste mask's feathered edge (and 3 px either side), with and
  without Blend-Net, which is where Blend-Net's work shows.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from s2l_dub.dataset.store import load_dataset
from s2l_dub.model.speech2lip import WARP_INTERPOLATIONS, Speech2Lip
from s2l_dub.model.ssim import ssim
from s2l_dub.train.data import build_training_data, canonical_lips
from s2l_dub.train.evaluate import _cpbd, load_model


def psnr(a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Per-image PSNR (dB) of images in [0, 1], optionally over a soft mask."""
    weight = torch.ones_like(a[:, :1]) if weight is None else weight.expand(len(a), 1, *a.shape[-2:])
    mse = ((a - b) ** 2 * weight).flatten(1).sum(1) / (a.shape[1] * weight.flatten(1).sum(1))
    return 10 * torch.log10(1 / mse.clamp(min=1e-10))


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--actor", default="anchor_en_71s")
    parser.add_argument("--model", default="model", help="model folder name under the actor")
    args = parser.parse_args()
    root = args.work / "actors" / args.actor
    data = build_training_data(load_dataset(root / "dataset"))
    model, meta = load_model(root / args.model, data.depth0)
    model.eval()
    depth = model.depth()

    def canonical(index: torch.Tensor, interpolation: str = model.config.warp_interpolation) -> torch.Tensor:
        return torch.cat([canonical_lips(data, data.batch(i)["crops"], i, depth, interpolation)[0]
                          for i in index.split(64)])

    def generated(index: torch.Tensor) -> torch.Tensor:
        return torch.cat([model.generate(data, data.batch(i), continuous=False) for i in index.split(32)])

    def window_scores(index: torch.Tensor, lips: torch.Tensor, composer: Speech2Lip = model) -> dict:
        """One compose pass: window PSNR, SSIM and CPBD pasted and after Blend-Net, and error over the seam band."""
        scores = {"seam pasted": [0.0, 0.0], "seam Blend-Net": [0.0, 0.0]}
        images = {"pasted": [], "Blend-Net": [], "target": []}
        for start in range(0, len(index), 8):
            batch = data.batch(index[start:start + 8])
            output, pasted, paste_mask, target = composer.compose(data, batch, lips[start:start + 8])
            band = F.max_pool2d(((paste_mask > 0.02) & (paste_mask < 0.98)).float(), 7, 1, 3).expand_as(target)
            images["target"].append(target)
            for name, image in (("pasted", pasted), ("Blend-Net", output)):
                images[name].append(image)
                scores[f"seam {name}"][0] += float((((image - target) ** 2) * band).sum())
                scores[f"seam {name}"][1] += float(band.sum())
        target = torch.cat(images.pop("target"))
        for name, parts in images.items():
            image = torch.cat(parts)
            scores[name] = (float(psnr(image, target).mean()), float(ssim(image, target)), _cpbd(image))
        scores["truth cpbd"] = _cpbd(target)
        return scores

    held, train = data.held_out_index, data.train_index
    truth_held, truth_train = canonical(held), canonical(train)
    mask = data.lip_mask[None, None]
    mean = truth_train.mean(0, keepdim=True).expand_as(truth_held).contiguous()
    distances = torch.cdist((truth_held * mask).flatten(1), (truth_train * mask).flatten(1))
    nearest = truth_train[distances.argmin(1)]
    ours_held = generated(held)
    train_sample = train[:: max(1, len(train) // 200)]
    ours_train = generated(train_sample)

    own = model.config.warp_interpolation
    other = next(mode for mode in WARP_INTERPOLATIONS if mode != own)
    other_model = Speech2Lip(dataclasses.replace(model.config, warp_interpolation=other), data.depth0)
    other_model.load_state_dict(model.state_dict())
    other_model.eval()
    truth_scores, ours_scores = window_scores(held, truth_held), window_scores(held, ours_held)
    other_scores = window_scores(held, canonical(held, other), other_model)
    print(f"{args.actor}/{args.model} ({meta.get('steps')} steps, {own} warps), held-out frames {len(held)}; "
          f"the truth's window CPBD {truth_scores['truth cpbd']:.4f}")
    print(f"{'canonical lips':<46}{'lip box dB':>11}{'window dB':>11}{'SSIM':>8}{'CPBD':>8}")
    def box_db(lips: torch.Tensor, truth: torch.Tensor = truth_held) -> str:
        return f"{float(psnr(lips, truth, mask).mean()):.2f}"

    rows = [
        (f"ground truth, O2C + C2O ({own}), pasted", "exact", truth_scores, "pasted"),
        (f"ground truth, O2C + C2O ({own}), Blend-Net", "exact", truth_scores, "Blend-Net"),
        (f"ground truth, O2C + C2O ({other}), pasted", "exact", other_scores, "pasted"),
        ("mean of training frames", box_db(mean), window_scores(held, mean), "pasted"),
        ("nearest training frame (oracle)", box_db(nearest), window_scores(held, nearest), "pasted"),
        ("ours, pasted", box_db(ours_held), ours_scores, "pasted"),
        ("ours, Blend-Net (what eval reports)", box_db(ours_held), ours_scores, "Blend-Net"),
        ("ours on training frames, Blend-Net", box_db(ours_train, canonical(train_sample)),
         window_scores(train_sample, ours_train), "Blend-Net"),
    ]
    for name, box, scores, stage in rows:
        window_db, window_ssim, window_cpbd = scores[stage]
        cpbd = f"{window_cpbd:.4f}" if window_cpbd is not None else "n/a"
        print(f"{name:<46}{box:>11}{window_db:>11.2f}{window_ssim:>8.4f}{cpbd:>8}")
    print("seam band (mask edge +- 3 px): " + ", ".join(
        f"{stage} {10 * np.log10(total / max(error, 1e-10)):.2f} dB"
        for stage, (error, total) in ((s, ours_scores[f"seam {s}"]) for s in ("pasted", "Blend-Net"))))
    motion_truth = float(psnr(truth_held[1:], truth_held[:-1], mask).mean())
    motion_ours = float(psnr(ours_held[1:], ours_held[:-1], mask).mean())
    print(f"frame-to-frame change in the lip box (lower is more motion): truth {motion_truth:.1f} dB, "
          f"ours {motion_ours:.1f} dB")


if __name__ == "__main__":
    main()
