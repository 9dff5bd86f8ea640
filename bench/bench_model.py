"""Speech2Lip quality on the paper's protocol, with the ablations of its Table 5.

    python bench/bench_model.py [--video actors/anchor_en_71s.mp4] [--budget default]
                                [--variants full,no_blend,no_continuous,no_time,no_sync,direct] [--work DIR]
                                [--steps N] [--seed N] [--expert-footage VIDEO,...] [--curve]
                                [--footage-share S] [--first-minutes M] [--other-voices=-3,3]

``cosine``, ``time_slow``, ``audio_aug``, ``raw_weights``, ``bilinear``, ``blend_generated_only``,
``fine_grid``, ``sync_x4``, ``blend_window`` and ``one_voice`` are quality levers rather than ablations: the full
model with a cosine learning-rate decay over the run, with a time code of one frequency (a slow
drift over the footage) instead of four, with its log-mel augmented in training (noise and a
masked band of bins), with the last step's raw weights as the model instead of the moving average
of the weights that the default and best budgets keep, with bilinear instead of bicubic GAMEM
warps, with Blend-Net trained on generated lips only (none pasted from the truth), with a feature
grid at the lip box's resolution (anchor_en's) rather than two thirds of it, with four times the
sync loss's weight, with Blend-Net acting over the whole window rather than on holes only, and
with the generator's training audio from the actor's own voice alone (no copies 2 semitones up
and down and 10 % faster and slower; models before 2026-12-01).

``--other-voices=-3,3`` also evaluates each variant with the held-out audio pitched that many
semitones: the same words in another voice, as a dub's, against the same true mouths.

``--curve`` also scores the held-out test at every checkpoint (training in checkpoint-sized
pieces), beside the validation score the trainer chooses the model by: it shows whether the
validation slice tracks the test. The test never steers training.

``--footage-share`` trains the model and its sync expert on that share of the training frames
(whole 2 s blocks spread over the same span; validation and the held-out test unchanged): how
quality grows with the amount of the actor's footage.

``--first-minutes`` trains the model and its sync expert on the training frames of the footage's first
M minutes only (validation and the held-out test unchanged, at the end of the footage): the
footage a production would have had if it stopped shooting then (issue 26's curve on GRID s1).

``--expert-footage`` prepares more sample videos (other actors) for the sync expert to
learn from as well, as `s2l-dub train --expert-footage` does.

Prepares the actor (cached), trains each variant on the first 90 % of frames and
evaluates on the last 10 % with the clip's own audio, then prints one row per variant.
Training resumes where it stopped, so an interrupted bench picks up on re-run.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import resource
import shutil
import time
from fractions import Fraction
from pathlib import Path
from unittest import mock

from s2l_dub.artifacts import write_json
from s2l_dub.dataset.prepare import ClipInput, dataset_dir, prepare_actor
from s2l_dub.dataset.store import load_dataset
from s2l_dub.train import checkpoint
from s2l_dub.train.config import budget
from s2l_dub.train.evaluate import evaluate_actor
from s2l_dub.train import trainer
from s2l_dub.train.trainer import EXPERT_FILE, train_actor
from bench_generator import thin_footage

ROOT = Path(__file__).resolve().parents[1]

VARIANTS = {
    "full": {},
    "no_blend": {"use_blend": False},
    "no_continuous": {"continuous_sampling": False},
    "no_time": {"lips": {"use_time": False}},
    "no_sync": {"use_sync_loss": False},
    "direct": {"canonical": False},
    # Quality levers (issue 3), not ablations: the full model trained differently.
    "cosine": {"train": {"lr_schedule": "cosine"}},
    "time_slow": {"lips": {"time_frequencies": 1}},
    "audio_aug": {"lips": {"audio_noise": 0.5, "audio_freq_mask": 16}},
    "raw_weights": {"train": {"weight_average": 0.0}},
    "bilinear": {"warp_interpolation": "bilinear"},
    "blend_generated_only": {"blend_truth_share": 0.0},
    "fine_grid": {"lips": {"grid_hw": (18, 27)}},
    "sync_x4": {"losses": {"sync": 0.2}},
    "blend_window": {"blend_reach": "window"},
    "one_voice": {"train": {"voice_variants": ()}},
}


def variant_config(base, name: str):
    changes = dict(VARIANTS[name])
    base = dataclasses.replace(base, **changes.pop("train", {}))
    model = base.model
    model = dataclasses.replace(model, lips=dataclasses.replace(model.lips, **changes.pop("lips", {})),
                                losses=dataclasses.replace(model.losses, **changes.pop("losses", {})))
    return dataclasses.replace(base, model=dataclasses.replace(model, **changes))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=Path, default=Path(os.environ.get("S2L_SAMPLES", ROOT.parent / "shared" / "samples")))
    parser.add_argument("--video", default="actors/anchor_en_71s.mp4")
    parser.add_argument("--budget", default="default")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0, help="training seed (the sync expert's too), to size the noise")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--expert-footage", default="", help="sample videos, comma-separated, for the sync expert too")
    parser.add_argument("--curve", action="store_true", help="score the held-out test at every checkpoint too")
    parser.add_argument("--other-voices", type=lambda text: [float(v) for v in text.split(",") if v], default=[],
                        help="semitones, comma-separated: also evaluate with the held-out audio in those voices")
    parser.add_argument("--footage-share", type=float, default=1.0,
                        help="train on this share of the training frames (blocks spread over the same span)")
    parser.add_argument("--first-minutes", type=float, default=None,
                        help="train on the training frames of the footage's first M minutes only")
    parser.add_argument("--work", type=Path, default=ROOT / "s2l-work" / "bench")
    args = parser.parse_args()

    video = args.samples / args.video
    actor = Path(args.video).stem
    prepare_actor([ClipInput(video)], actor, args.work)
    extra_videos = [Path(name) for name in args.expert_footage.split(",") if name]
    for extra in extra_videos:
        prepare_actor([ClipInput(args.samples / extra)], extra.stem, args.work)
    expert_footage = tuple(dataset_dir(args.work, extra.stem) for extra in extra_videos)
    base = budget(args.budget)
    if args.steps:
        base = dataclasses.replace(base, steps=args.steps)
    base = dataclasses.replace(base, seed=args.seed)
    rows, first = [], None
    label = f"{args.budget}-{args.steps}" if args.steps else args.budget
    label += f"-seed{args.seed}" if args.seed else ""
    label += "".join(f"-x{extra.stem}" for extra in extra_videos)
    label += f"-footage{args.footage_share:g}" if args.footage_share < 1 else ""
    label += f"-first{args.first_minutes:g}min" if args.first_minutes else ""
    first_frames = _frames_in(dataset_dir(args.work, actor), args.first_minutes) if args.first_minutes else None
    for name in args.variants.split(","):
        folder = args.work / "actors" / actor / f"model-{label}-{name}"
        if first is not None:
            _share_expert(first, folder)
        started = time.perf_counter()
        config = variant_config(base, name)
        with _less_footage(args.footage_share, first_frames):
            if args.curve:
                meta = _train_with_test_curve(dataset_dir(args.work, actor), folder, config, expert_footage)
            else:
                meta = train_actor(dataset_dir(args.work, actor), folder, config, expert_footage=expert_footage)
        seconds = time.perf_counter() - started
        metrics = evaluate_actor(dataset_dir(args.work, actor), folder, write_video=(name == "full"))
        others = [evaluate_actor(dataset_dir(args.work, actor), folder, write_video=False, voice_semitones=v)
                  for v in args.other_voices]
        rows.append((name, metrics, seconds))
        for semitones, m in zip(args.other_voices, others):
            print(f"{name}: the held-out audio {semitones:+g} semitones: PSNR {m['mouth_psnr_db']:.2f} dB, "
                  f"SSIM {m['mouth_ssim']:.4f}, LMD {m['lmd_px']:.2f} px, silent aperture "
                  f"{m['silent_mouth_aperture'] or float('nan'):.3f}", flush=True)
        print(f"{name}: sync expert held-out top-1 {meta['sync_expert']['held_out_top1']:.1%}; "
              f"model of step {meta['selected_step']} of {meta['steps']}", flush=True)
        first = first or folder
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{video.name}, budget {args.budget}, steps {base.steps}, seed {base.seed}, held-out frames {rows[0][1]['frames']}, peak RSS {peak:.0f} MB")
    print(f"{'variant':<14}{'PSNR dB':>9}{'SSIM':>8}{'LMD px':>8}{'CPBD':>8}{'sync conf':>10}{'offset':>8}{'train s':>9}")
    for name, m, seconds in rows:
        cpbd = f"{m['cpbd']:.3f}" if m["cpbd"] is not None else "n/a"
        conf = f"{m['sync_confidence']:.3f}" if m["sync_confidence"] is not None else "n/a"
        offset = m["sync_offset_frames"] if m["sync_offset_frames"] is not None else "n/a"
        print(f"{name:<14}{m['mouth_psnr_db']:>9.2f}{m['mouth_ssim']:>8.4f}{m['lmd_px']:>8.2f}{cpbd:>8}{conf:>10}"
              f"{offset:>8}{seconds:>9.0f}")
    gt = rows[0][1]
    print(f"{'ground truth':<14}{'':>9}{'':>8}{'':>8}{gt['cpbd_ground_truth'] or float('nan'):>8.3f}"
          f"{gt['sync_confidence_ground_truth']:>10.3f}{gt['sync_offset_frames_ground_truth']:>8}")


def _train_with_test_curve(root: Path, folder: Path, config, expert_footage) -> dict:
    """Train in checkpoint-sized pieces (each resumes the last), scoring the held-out test after each."""
    rows, stop = [], config.checkpoint_every
    print(f"{'step':>6}{'validation dB':>15}{'test PSNR dB':>14}{'SSIM':>8}{'LMD px':>8}{'silent ap.':>11}", flush=True)
    while True:
        meta = train_actor(root, folder, config, stop_at_step=stop, expert_footage=expert_footage)
        if "stopped_at" not in meta:
            write_json(folder / "test_curve.json", rows)
            return meta
        state, _ = checkpoint.load_latest(folder / "checkpoints")
        m = evaluate_actor(root, folder, write_video=False)
        validation = state.get("validation") or [{"psnr_db": float("nan")}]
        rows.append({"step": state["step"], "validation_psnr_db": validation[-1]["psnr_db"],
                     **{k: m[k] for k in ("mouth_psnr_db", "mouth_ssim", "lmd_px", "silent_mouth_aperture")}})
        aperture = m["silent_mouth_aperture"] if m["silent_mouth_aperture"] is not None else float("nan")
        print(f"{state['step']:>6}{validation[-1]['psnr_db']:>15.2f}{m['mouth_psnr_db']:>14.2f}{m['mouth_ssim']:>8.4f}"
              f"{m['lmd_px']:>8.2f}{aperture:>11.3f}", flush=True)
        stop = state["step"] + config.checkpoint_every


def _frames_in(dataset: Path, minutes: float) -> int:
    """How many of the prepared (first) clip's frames its first ``minutes`` hold."""
    rate = Fraction(load_dataset(dataset).manifest["clips"][0]["frame_rate"])
    return int(minutes * 60 * rate)


def _less_footage(share: float, first_frames: int | None = None):
    """While open, the trainer (model and sync expert) sees ``share`` of the training frames, and only
    those before frame ``first_frames`` when given; eval sees all."""
    if share >= 1 and first_frames is None:
        return contextlib.nullcontext()
    build = trainer.build_training_data

    def thinned(*args, **kwargs):
        data = build(*args, **kwargs)
        index = data.train_index if first_frames is None else data.train_index[data.train_index < first_frames]
        return dataclasses.replace(data, train_index=thin_footage(index, share))

    return mock.patch.object(trainer, "build_training_data", thinned)


def _share_expert(source: Path, folder: Path) -> None:
    """Every variant trains against the same expert; the trainer re-checks its key before using it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in (EXPERT_FILE, Path(EXPERT_FILE).with_suffix(".json").name):
        if not (folder / name).exists() and (source / name).exists():
            shutil.copy2(source / name, folder / name)


if __name__ == "__main__":
    main()
