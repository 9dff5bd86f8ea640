"""A critic's view of the mouth (issue 22, target 6): can a small classifier tell real from rendered?

    python bench/bench_critic.py --model WORK/actors/ACTOR/MODEL_FOLDER [--dataset DIR]
                                 [--variants none,k8] [--steps 400] [--seeds 2]

For each variant of the mouth (``bench_detail``'s names), a small convolutional critic learns
on the training frames, the real canonical mouth of each against the model's render of the
same frame, and is scored on the held-out frames, which neither the model nor the critic saw.
50 % is chance: a mouth the critic cannot tell from the actor's own. The mouths are compared
inside the lip mask, in the canonical lip box, so the critic judges the mouth and not where
it sits.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from bench_detail import VARIANTS, load_trained  # the sibling script: bench/ is on sys.path when run from the root
from torch import nn

from s2l_dub.model.detail import build_bank
from s2l_dub.train.data import canonical_lips


@torch.no_grad()
def mouths(model, data, frames: torch.Tensor, bank, batch_size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """(real, rendered) canonical mouths of ``frames``, both masked to the lip region."""
    mask = data.lip_mask[None, None]
    depth = model.depth().detach()
    real, fake = [], []
    for index in frames.split(batch_size):
        batch = data.batch(index)
        truth, _ = canonical_lips(data, batch["crops"], index, depth, model.config.warp_interpolation)
        generated = model.generate(data, batch, continuous=False)
        if bank is not None:
            generated = bank.transfer(generated, mask.to(generated))
        real.append(truth * mask)
        fake.append(generated * mask)
    return torch.cat(real), torch.cat(fake)


def critic() -> nn.Module:
    """Four convolutions with batch norm: a weak critic (no pooling, no norm) does not learn
    even blurred from real (it stayed at 50 % on training frames)."""
    def block(cin: int, cout: int, stride: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1, stride=stride), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2)]

    return nn.Sequential(*block(3, 32, 1), *block(32, 32, 2), *block(32, 64, 2), *block(64, 64, 1),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 1))


def held_out_accuracy(train_real, train_fake, test_real, test_fake, steps: int, seed: int) -> float:
    torch.manual_seed(seed)
    net = critic()
    optimizer = torch.optim.Adam(net.parameters(), 1e-3)
    x = _standard(torch.cat([train_real, train_fake]))
    y = torch.cat([torch.ones(len(train_real)), torch.zeros(len(train_fake))])
    loss_fn = nn.BCEWithLogitsLoss()
    net.train()
    for _ in range(steps):
        pick = torch.randint(0, len(x), (64,))
        batch = x[pick]
        if torch.rand(()) < 0.5:  # a mirrored mouth is still a mouth
            batch = batch.flip(-1)
        loss = loss_fn(net(batch).squeeze(1), y[pick])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    net.eval()
    with torch.no_grad():
        right = (net(_standard(test_real)).squeeze(1) > 0).float().sum() + \
            (net(_standard(test_fake)).squeeze(1) <= 0).float().sum()
    return float(right) / (len(test_real) + len(test_fake))


def _standard(images: torch.Tensor) -> torch.Tensor:
    return (images - 0.33) / 0.2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, default=None)
    parser.add_argument("--variants", default="none,k8")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--max-train", type=int, default=1200, help="Training frames the critic learns from at most.")
    args = parser.parse_args()
    dataset_root, _, data, model, meta = load_trained(args.model, args.dataset)
    train = data.train_index
    if len(train) > args.max_train:
        train = train[torch.linspace(0, len(train) - 1, args.max_train).round().long()]
    held = data.held_out_index
    print(f"{dataset_root.parent.name}: model step {meta.get('selected_step', meta.get('steps'))}; critic learns on "
          f"{len(train)} training frames, is scored on {len(held)} held-out frames (chance 50 %)")
    print("| variant | held-out accuracy, mean of seeds | per seed | s |")
    print("|---|---|---|---|")
    for name in args.variants.split(","):
        config = VARIANTS[name]
        started = time.monotonic()
        bank = build_bank(model, data, data.train_index, config) if config.strength > 0 else None
        train_real, train_fake = mouths(model, data, train, bank)
        test_real, test_fake = mouths(model, data, held, bank)
        scores = [held_out_accuracy(train_real, train_fake, test_real, test_fake, args.steps, seed)
                  for seed in range(args.seeds)]
        print(f"| {name} | {100 * sum(scores) / len(scores):.1f} % | "
              f"{', '.join(f'{100 * s:.1f}' for s in scores)} | {time.monotonic() - started:.0f} |", flush=True)


if __name__ == "__main__":
    main()
