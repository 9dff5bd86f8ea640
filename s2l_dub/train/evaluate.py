"""`s2l-dub eval`: the paper's metrics on the held-out last 10 %, driven by the actor's own audio.

Image metrics are computed on the mouth window (the region Blend-Net outputs) at crop
resolution; LMD uses the analysis backend's mouth landmarks, converted to source
pixels; sync uses our own expert (no pretrained SyncNet is available offline), as
the best audio-visual offset and its confidence (peak minus median similarity).
"""

from __future__ import annotations

import dataclasses
import math
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from ..artifacts import load_arrays, read_json, write_json
from ..dataset.store import MANIFEST, dataset_file, load_dataset
from ..errors import S2LError
from ..face.backends import FaceBox, load_landmarker
from ..face.landmark_sets import mouth_aperture
from ..face.regions import patch_in_source_pixels, tight_mouth_box
from ..model.detail import DetailConfig, build_bank
from ..model.lips import LipModelConfig
from ..model.speech2lip import LossWeights, Speech2Lip, Speech2LipConfig
from ..model.ssim import psnr as image_psnr, ssim
from ..model.sync import SYNC_FRAMES, SyncExpert, sync_windows
from ..progress import NullProgress, Progress
from . import checkpoint
from .averaging import averaged_weights
from .data import build_training_data, sync_targets, voice_windows
from .trainer import EXPERT_FILE, KEY_NEUTRAL_SETTINGS, MODEL_FILE, MODEL_META

SYNC_OFFSETS = range(-5, 6)


def model_config_from_dict(d: dict) -> Speech2LipConfig:
    lips = dict(d["lips"])
    lips["grid_hw"] = tuple(lips["grid_hw"])
    # Models saved before the later settings existed were trained, and render, with their neutral values.
    d = {**KEY_NEUTRAL_SETTINGS[("model",)], **d}
    return Speech2LipConfig(**{**d, "lips": LipModelConfig(**lips), "losses": LossWeights(**d["losses"])})


def load_model(folder: Path, depth0: torch.Tensor) -> tuple[Speech2Lip, dict]:
    """The finished model, or the newest checkpoint of a run still in progress."""
    folder = Path(folder)
    if (folder / MODEL_FILE).exists():
        meta = checkpoint.read_state(folder / MODEL_META)
        model = Speech2Lip(model_config_from_dict(meta["config"]["model"]), depth0)
        checkpoint.load_weights(folder / MODEL_FILE, model)
        return model, meta
    latest = checkpoint.load_latest(folder / "checkpoints")
    if latest is None:
        raise S2LError(f"{folder}: no trained model (run `s2l-dub train` first)")
    state, tensors = latest
    config = read_json(folder / "run_config.json")
    model = Speech2Lip(model_config_from_dict(config["model"]), depth0)
    checkpoint.restore(averaged_weights(tensors), model)
    return model, {"steps": state["step"], "config": config, "partial": True}


@torch.no_grad()
def evaluate_actor(dataset_root: Path, folder: Path, progress: Progress | None = None, write_video: bool = True,
                   batch_size: int = 8, voice_semitones: float = 0.0, detail: DetailConfig | None = None) -> dict:
    """Score the held-out frames; write ``eval/metrics.json`` (and the side-by-side video).

    ``voice_semitones`` drives them with their own audio pitched that far up or down: the same
    words in another voice, as a dub actor's, against the same true mouths. Its metrics go to
    ``eval/metrics_voice{+N}.json``.
    """
    progress = progress or NullProgress()
    dataset = load_dataset(dataset_root)
    data = build_training_data(dataset)
    if voice_semitones:
        data = dataclasses.replace(data, mel=voice_windows(dataset, ((1.0, voice_semitones),))[1])
    model, meta = load_model(folder, data.depth0)
    model.eval()
    expert = SyncExpert()
    checkpoint.load_weights(Path(folder) / EXPERT_FILE, expert)
    expert.eval()

    held = data.held_out_index
    if len(held) == 0:
        raise S2LError(f"{dataset_root}: no held-out frames to evaluate")
    # The bank holds training frames only: a held-out mouth must never lend its own detail.
    bank = build_bank(model, data, data.train_index, detail) if detail is not None and model.config.canonical \
        else None
    progress.start("evaluating", len(held))
    outputs, truths, psnr, ssims, full_out, full_truth = [], [], [], [], [], []
    for start in range(0, len(held), batch_size):
        index = held[start:start + batch_size]
        batch = data.batch(index)
        output, _, _, truth = model.render_window(data, batch, detail=bank)
        psnr.extend(image_psnr(output, truth).tolist())
        ssims.extend(ssim(output, truth, reduce=False).tolist())
        outputs.append(output)
        truths.append(truth)
        full_out.append(paste_windows(batch, output, data.window_hw))
        full_truth.append(batch["crops"])
        progress.advance(len(index))
    outputs, truths = torch.cat(outputs), torch.cat(truths)
    full_out, full_truth = torch.cat(full_out), torch.cat(full_truth)

    lmd, aperture_out, aperture_truth = _landmark_metrics(dataset, data, held, full_out, full_truth)
    tight = tight_box_metrics(dataset, data, held, full_out, full_truth)
    silent = ~data.speech[held].numpy()
    # The direct baseline has no canonical lips to show the expert; judge its windows' sync as unknown.
    sync_ours = _sync_offset(model, expert, data, held, generated=True) if model.config.canonical else (None, None)
    sync_truth = _sync_offset(model, expert, data, held, generated=False)
    metrics = {
        "frames": int(len(held)),
        "voice_semitones": voice_semitones,
        "detail": dataclasses.asdict(detail) if bank is not None else None,
        "steps": meta.get("steps"),
        "selected_step": meta.get("selected_step", meta.get("steps")),
        "partial_training": bool(meta.get("partial", False)),
        "mouth_psnr_db": float(np.mean(psnr)),
        "mouth_ssim": float(np.mean(ssims)),
        "lmd_px": lmd,
        "cpbd": _cpbd(outputs),
        "cpbd_ground_truth": _cpbd(truths),
        **tight,
        "sync_offset_frames": sync_ours[0],
        "sync_confidence": sync_ours[1],
        "sync_offset_frames_ground_truth": sync_truth[0],
        "sync_confidence_ground_truth": sync_truth[1],
        "silent_frames": int(silent.sum()),
        "silent_mouth_aperture": float(np.mean(aperture_out[silent])) if silent.any() else None,
        "silent_mouth_aperture_ground_truth": float(np.mean(aperture_truth[silent])) if silent.any() else None,
    }
    out_dir = Path(folder) / "eval"
    write_json(out_dir / (f"metrics_voice{voice_semitones:+g}.json" if voice_semitones else "metrics.json"), metrics)
    if write_video and not voice_semitones:
        progress.start("side-by-side video", None)
        _side_by_side(out_dir / "side_by_side.mp4", dataset, data, held, truths, outputs)
    return metrics


def paste_windows(batch: dict, windows: torch.Tensor, window_hw: tuple[int, int]) -> torch.Tensor:
    """The batch's crops with each frame's mouth window replaced by ``windows``."""
    win_h, win_w = window_hw
    crops = batch["crops"].clone()
    for i, (x, y) in enumerate(batch["window_origins"].tolist()):
        crops[i, :, y:y + win_h, x:x + win_w] = windows[i]
    return crops


def _landmark_metrics(dataset, data, held, full_out, full_truth):
    """Mouth landmark distance (source px) and mouth apertures, from the analysis backend."""
    landmarker = load_landmarker(dataset.manifest["config"]["track"]["backend"])
    g = dataset.geometry
    scale = data.crop_px / int(g["lower_face_size"])
    clip_tracks = [load_arrays(dataset_file(dataset.root, c["track_file"], dataset.root / MANIFEST))
                   for c in dataset.manifest["clips"]]
    clip_start = np.concatenate([[0], np.cumsum([c["frames"] for c in dataset.manifest["clips"]])[:-1]])
    distances, ap_out, ap_truth = [], [], []
    for k, i in enumerate(held.tolist()):
        c = int(g["clip_index"][i])
        box = clip_tracks[c]["boxes"][i - clip_start[c]]
        if not np.isfinite(box).all():
            box = _box_from_landmarks(g["landmarks"][i])
        ox, oy = g["lower_face_origins"][i]
        crop_box = FaceBox((box[0] - ox) * scale, (box[1] - oy) * scale, (box[2] - ox) * scale, (box[3] - oy) * scale)
        images = [(t[k].permute(1, 2, 0).numpy() * 255).astype(np.uint8) for t in (full_out, full_truth)]
        lm_out, lm_truth = (landmarker.landmarks(img, crop_box) for img in images)
        distances.append(float(np.linalg.norm(lm_out[48:68] - lm_truth[48:68], axis=-1).mean() / scale))
        ap_out.append(float(mouth_aperture(lm_out)))
        ap_truth.append(float(mouth_aperture(lm_truth)))
    return float(np.mean(distances)), np.array(ap_out), np.array(ap_truth)


def tight_box_metrics(dataset, data, held, full_out, full_truth) -> dict:
    """PSNR, SSIM, CPBD and motion in the tight mouth box, in source pixels (issue 22).

    The eval window is mostly skin that never changes, so its scores hide a soft mouth:
    this box is the true mouth landmarks' bounding box grown 25 %, where a viewer looks.
    Motion is the mean absolute change of the box from one held-out frame to the next:
    an average mouth is too still, a retrieved one can flicker.
    """
    g = dataset.geometry
    scale = data.crop_px / int(g["lower_face_size"])
    psnrs, ssims, outs, truths = [], [], [], []
    for k, i in enumerate(held.tolist()):
        box = tight_mouth_box(g["landmarks"][i])
        origin = np.asarray(g["lower_face_origins"][i], np.float64)
        pair = [patch_in_source_pixels(t[k].permute(1, 2, 0).numpy(), box, origin, scale)
                for t in (full_out, full_truth)]
        out, truth = (torch.from_numpy(np.ascontiguousarray(p)).permute(2, 0, 1)[None].float().clamp(0, 1)
                      for p in pair)
        psnrs.append(float(image_psnr(out, truth)))
        if min(out.shape[-2:]) >= 11:
            ssims.append(float(ssim(out, truth)))
        outs.append(pair[0])
        truths.append(pair[1])
    return {
        "tight_psnr_db": float(np.mean(psnrs)),
        "tight_ssim": float(np.mean(ssims)) if ssims else None,
        "tight_cpbd": _cpbd_list(outs),
        "tight_cpbd_ground_truth": _cpbd_list(truths),
        "tight_edge_ratio": float(np.mean([_edges(o) for o in outs]) / max(1e-9, np.mean([_edges(t) for t in truths]))),
        "tight_motion": _patch_motion(outs),
        "tight_motion_ground_truth": _patch_motion(truths),
    }


def _patch_motion(patches: list[np.ndarray]) -> float | None:
    if len(patches) < 2:
        return None
    import cv2

    h, w = patches[0].shape[:2]
    resized = [cv2.resize(p, (w, h), interpolation=cv2.INTER_AREA) for p in patches]
    return float(np.mean([np.abs(a - b).mean() for a, b in zip(resized[:-1], resized[1:])]))


def _edges(patch: np.ndarray) -> float:
    """Mean neighbouring-pixel difference: below the truth's is softer, above it is noisier."""
    grey = patch.mean(-1)
    return float(np.abs(np.diff(grey, axis=0)).mean() + np.abs(np.diff(grey, axis=1)).mean())


CPBD_SIDE = 128
"""CPBD judges 64-pixel blocks: a mouth box smaller than that holds none, so patches are enlarged
(bicubic, truth and render alike) until their shorter side is this long before it is measured."""


def _cpbd_list(patches: list[np.ndarray]) -> float | None:
    """Mean CPBD of patches of different sizes, each enlarged to ``CPBD_SIDE`` on its shorter side."""
    import cv2

    values = []
    for patch in patches:
        factor = max(1.0, CPBD_SIDE / min(patch.shape[:2]))
        size = (round(patch.shape[1] * factor), round(patch.shape[0] * factor))
        big = cv2.resize(patch, size, interpolation=cv2.INTER_CUBIC) if factor > 1 else patch
        values.append(_cpbd(torch.from_numpy(np.ascontiguousarray(big)).permute(2, 0, 1)[None].float().clamp(0, 1)))
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _box_from_landmarks(lm: np.ndarray) -> np.ndarray:
    lo, hi = lm.min(0), lm.max(0)
    return np.array([lo[0], lo[1] - 0.2 * (hi[1] - lo[1]), hi[0], hi[1]])


def _sync_offset(model, expert, data, held, generated: bool) -> tuple[int, float]:
    """Best audio offset (frames) and confidence of lips against audio over the held-out frames."""
    if generated:
        lips = torch.cat([model.sync_lips(data.mel[data.context_index[index]], data.time_norm[index])
                          for index in held.split(16)])
    else:
        lips = sync_targets(data, held)
    return sync_offset(expert, lips, data.mel, held)


def sync_offset(expert: SyncExpert, lips: torch.Tensor, mel: torch.Tensor,
                frame_index: torch.Tensor | None = None) -> tuple[int, float]:
    """Best audio offset (frames) of ``lips`` against ``mel`` and the expert's confidence in it.

    ``frame_index`` maps each row of ``lips`` to its row of ``mel`` (default: the same row);
    shifted audio may come from beyond the lips' frames, since it is only audio.
    """
    frame_index = torch.arange(len(lips)) if frame_index is None else frame_index
    half = SYNC_FRAMES // 2
    if len(lips) <= 2 * half:
        return 0, float("nan")
    centres = torch.arange(half, len(lips) - half)
    visual = torch.cat([expert.embed_lips(sync_windows(lips, chunk)) for chunk in centres.split(EMBED_CHUNK)])
    return offset_from_embeddings(expert, visual, mel, frame_index[centres])


EMBED_CHUNK = 64
"""Windows embedded at once: the expert's activations for a whole long clip would not fit."""


def offset_from_embeddings(expert: SyncExpert, visual: torch.Tensor, mel: torch.Tensor,
                           mel_rows: torch.Tensor) -> tuple[int, float]:
    """Best audio offset for lips windows already embedded (``visual``, one per row of ``mel_rows``)."""
    similarity = []
    for offset in SYNC_OFFSETS:
        rows = (mel_rows + offset).clamp(0, len(mel) - 1)
        audio = torch.cat([expert.embed_audio(mel[chunk]) for chunk in rows.split(EMBED_CHUNK)])
        similarity.append(float((audio * visual).sum(-1).mean()))
    similarity = np.array(similarity)
    best = int(np.argmax(similarity))
    return list(SYNC_OFFSETS)[best], float(similarity[best] - np.median(similarity))


def _cpbd(images: torch.Tensor) -> float | None:
    """Mean CPBD sharpness (greyscale), or None where the cpbd package cannot be imported."""
    try:
        import scipy.ndimage

        if not hasattr(scipy.ndimage, "imread"):  # cpbd imports this long-removed name at load time
            scipy.ndimage.imread = None
        import cpbd
    except ImportError:
        return None
    grey = (images.mean(1).numpy() * 255).astype(np.float64)
    values = [cpbd.compute(g) for g in grey]
    values = [v for v in values if math.isfinite(v)]
    return float(np.mean(values)) if values else None


def _side_by_side(target: Path, dataset, data, held, truths, outputs) -> None:
    """Ground truth | ours | 4x difference, with the held-out audio, for a person to judge."""
    g = dataset.geometry
    diff = ((outputs - truths).abs() * 4).clamp(0, 1)
    frames = (torch.cat([truths, outputs, diff], -1).permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8)
    h, w = frames.shape[1:3]
    clip = dataset.manifest["clips"][int(g["clip_index"][int(held[0])])]
    start_s = float(int(g["frame_pts"][int(held[0])]) * Fraction(clip["time_base"]))
    rate = clip["frame_rate"]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp.mp4")
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", rate,
           "-i", "pipe:", "-ss", f"{start_s:.6f}", "-i", clip["path"], "-map", "0:v", "-map", "1:a?", "-shortest",
           "-c:v", "libx264", "-crf", "16", "-pix_fmt", "yuv420p", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2",
           "-c:a", "aac", str(tmp)]
    proc = subprocess.run(cmd, input=frames.tobytes(), capture_output=True)
    if proc.returncode != 0:
        raise S2LError(f"{target}: could not write the side-by-side video ({proc.stderr.decode()[-200:]})")
    tmp.replace(target)

