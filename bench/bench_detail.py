"""Real mouth detail from the actor's own footage, measured on held-out frames (issue 22).

    python bench/bench_detail.py --model WORK/actors/ACTOR/MODEL_FOLDER [--dataset WORK/actors/ACTOR/dataset]
                                 [--variants none,k1,k4,k8] [--sheet bench/out/detail_ACTOR.png]

Loads a trained model, builds the detail bank from the training frames' true canonical mouths
(never the held-out ones) and renders the held-out frames with each variant of the transfer.
Prints, per variant, the eval window's PSNR / SSIM and the tight mouth box's PSNR / SSIM /
CPBD / motion in source pixels, with the truth's CPBD and motion beside them, and saves a
contact sheet (truth, without, with) of held-out frames, the most open mouths first.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from s2l_dub.dataset.store import load_dataset
from s2l_dub.face.landmark_sets import mouth_aperture
from s2l_dub.model.detail import DetailConfig, build_bank
from s2l_dub.model.ssim import psnr, ssim
from s2l_dub.train.data import build_training_data
from s2l_dub.train.evaluate import load_model, paste_windows, tight_box_metrics

def tracked_apertures(dataset) -> torch.Tensor:
    """Every frame's inner-lip aperture from the prepared landmarks (what ``open_anchor`` learns from)."""
    return torch.from_numpy(mouth_aperture(np.asarray(dataset.geometry["landmarks"])[..., :2])).float()


VARIANTS = {
    "none": DetailConfig(strength=0.0),
    "k1": DetailConfig(neighbours=1),
    "k4": DetailConfig(neighbours=4),
    "k8": DetailConfig(neighbours=8),
    "k4_s1": DetailConfig(neighbours=4, sigma_px=1.0),
    "k4_s3": DetailConfig(neighbours=4, sigma_px=3.0),
    "k1_s3": DetailConfig(neighbours=1, sigma_px=3.0),
    "mouth_k4": DetailConfig(mode="mouth", neighbours=4),
    "mouth_k8": DetailConfig(mode="mouth", neighbours=8),
    "mouth_k4_nostretch": DetailConfig(mode="mouth", neighbours=4, max_stretch=1.0),
    "mouth_k2": DetailConfig(mode="mouth", neighbours=2),
    "mouth_k1": DetailConfig(mode="mouth", neighbours=1),
    "path_0": DetailConfig(mode="path", switch_cost=0.0),
    "path_0.3": DetailConfig(mode="path", switch_cost=0.3),
    "path_1": DetailConfig(mode="path", switch_cost=1.0),
    "path_3": DetailConfig(mode="path", switch_cost=3.0),
    "path_10": DetailConfig(mode="path", switch_cost=10.0),
    "path_3_nostretch": DetailConfig(mode="path", switch_cost=3.0, max_stretch=1.0),
    # The speaking range of the leading shape components set to the actor's own.
    "path_1_range1": DetailConfig(mode="path", switch_cost=1.0, range_components=1),
    "path_1_range3": DetailConfig(mode="path", switch_cost=1.0, range_components=3),
    "mouth_k4_range3": DetailConfig(mode="mouth", neighbours=4, range_components=3),
    # Stretched along the actor's own opening direction, anchored at their closed mouth.
    "path_1_open": DetailConfig(mode="path", switch_cost=1.0, open_anchor=True),
    "mouth_k4_open": DetailConfig(mode="mouth", neighbours=4, open_anchor=True),
}


@torch.no_grad()
def render_held_out(model, data, bank, batch_size: int = 8):
    outs, truths, crops_out, crops_truth = [], [], [], []
    for index in data.held_out_index.split(batch_size):
        batch = data.batch(index)
        batch["speaking"] = data.speech[index]
        output, _, _, truth = model.render_window(data, batch, detail=bank)
        outs.append(output)
        truths.append(truth)
        crops_out.append(paste_windows(batch, output, data.window_hw))
        crops_truth.append(batch["crops"])
    return torch.cat(outs), torch.cat(truths), torch.cat(crops_out), torch.cat(crops_truth)


def contact_sheet(target: Path, dataset, data, rows: list[tuple[str, torch.Tensor]], count: int = 6) -> None:
    """Tight mouth boxes of ``count`` held-out frames (the widest-open truths first), one row per variant."""
    from s2l_dub.face.landmark_sets import mouth_aperture
    from s2l_dub.face.regions import patch_in_source_pixels, tight_mouth_box

    g = dataset.geometry
    held = data.held_out_index.numpy()
    scale = data.crop_px / int(g["lower_face_size"])
    openness = np.array([mouth_aperture(g["landmarks"][i]) for i in held])
    order = np.argsort(-openness)
    chosen = sorted(np.concatenate([order[:count // 2], order[len(order) // 2:len(order) // 2 + count - count // 2]]))
    box = np.median([tight_mouth_box(g["landmarks"][held[k]]) for k in chosen], 0)
    size = (int(box[2] - box[0]) * 3, int(box[3] - box[1]) * 3)
    sheet = []
    for label, crops in rows:
        tiles = []
        for k in chosen:
            i = held[k]
            patch = patch_in_source_pixels(crops[k].permute(1, 2, 0).numpy(), tight_mouth_box(g["landmarks"][i]),
                                           np.asarray(g["lower_face_origins"][i], np.float64), scale)
            tiles.append(cv2.resize(patch, size, interpolation=cv2.INTER_NEAREST))
        row = np.concatenate(tiles, 1)
        label_band = np.zeros((22, row.shape[1], 3), np.uint8)
        cv2.putText(label_band, label, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
        sheet.append(np.concatenate([label_band, (np.clip(row, 0, 1) * 255).astype(np.uint8)], 0))
    image = np.concatenate(sheet, 0)
    target.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(target), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


def load_trained(model_folder: Path, dataset_root: Path | None = None):
    """(dataset root, dataset, training data, model in eval mode, its meta) of a trained actor;
    the dataset defaults to the one beside the model folder."""
    dataset_root = dataset_root or model_folder.parent / "dataset"
    dataset = load_dataset(dataset_root)
    data = build_training_data(dataset)
    model, meta = load_model(model_folder, data.depth0)
    model.eval()
    return dataset_root, dataset, data, model, meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, default=None)
    parser.add_argument("--variants", default="none,k1,k4,k8")
    parser.add_argument("--sheet", type=Path, default=None)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    dataset_root, dataset, data, model, meta = load_trained(args.model, args.dataset)
    train = data.train_index
    print(f"{dataset_root.parent.name}: model step {meta.get('selected_step', meta.get('steps'))}, "
          f"{len(train)} training frames in the bank, {len(data.held_out_index)} held out")
    header = ("| variant | window dB | window SSIM | tight dB | tight SSIM | tight CPBD (truth) | tight edges / truth | "
              "tight motion (truth) | bank s | s per frame |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    rows = []
    for name in args.variants.split(","):
        config = VARIANTS[name]
        started = time.monotonic()
        bank = build_bank(model, data, train, config, apertures=tracked_apertures(dataset)) \
            if config.strength > 0 else None
        bank_s = time.monotonic() - started
        started = time.monotonic()
        # A path runs along the frames: all held-out frames in one batch, as a render's segment is.
        whole = config.mode == "path" or config.range_components or config.open_anchor
        out, truth, crops_out, crops_truth = render_held_out(model, data, bank,
                                                             len(data.held_out_index) if whole else 8)
        per_frame = (time.monotonic() - started) / len(out)
        tight = tight_box_metrics(dataset, data, data.held_out_index, crops_out, crops_truth)
        if not rows:
            rows.append(("truth", crops_truth))
        rows.append((name, crops_out))
        print(f"| {name} | {float(psnr(out, truth).mean()):.2f} | {float(ssim(out, truth)):.4f} | "
              f"{tight['tight_psnr_db']:.2f} | {tight['tight_ssim']:.4f} | "
              f"{_f(tight['tight_cpbd'])} ({_f(tight['tight_cpbd_ground_truth'])}) | {tight['tight_edge_ratio']:.3f} | "
              f"{tight['tight_motion']:.4f} ({tight['tight_motion_ground_truth']:.4f}) | {bank_s:.1f} | "
              f"{per_frame:.3f} |", flush=True)
    if args.sheet:
        contact_sheet(args.sheet, dataset, data, rows)
        print(f"contact sheet: {args.sheet}")


def _f(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


if __name__ == "__main__":
    main()
