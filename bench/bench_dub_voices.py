"""Trained models driven by real dub tracks: other people, other languages, no ground truth.

    python bench/bench_dub_voices.py --work W --models MODEL_FOLDER[,MODEL_FOLDER...]
                                     [--video actors/anchor_en_71s.mp4] [--files german1.wav,...]

``eval --voice-semitones`` pitches the actor's own words; this drives the held-out frames (their
head poses, the time code held as the render holds it) with each track in `dub_audio/` instead, from
its start, for as many frames as both have, through the render's own audio path (its silent frames
get the actor's resting audio), and reads the mouth with the analysis backend's
landmarks, as `eval` does. With no true mouth to compare, it scores what an editor sees and
needs no sync expert (so models with different experts compare fairly):

- silent aperture: the mouth's opening (inner-lip gap over mouth width) on frames the VAD hears
  no speech in; the actor's own closed mouth is about 0.036 on the sample anchor;
- speaking aperture: the mean opening while the track speaks; a mouth that hardly moves is
  a failure too;
- loudness correlation: Pearson correlation of the opening with the track's loudness (dB, 40 ms
  around each frame) at the best lag within ±3 frames, and that lag (positive: the mouth follows
  the sound). The actor's own held-out frames with their own audio give the yardstick.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

import numpy as np
import torch
from bench_detail import VARIANTS, tracked_apertures  # the sibling script: bench/ is on sys.path when run from the root

from s2l_dub.audio.features import AudioFeatureConfig
from s2l_dub.audio.vad import VadConfig, speech_flags, speech_segments
from s2l_dub.dataset.prepare import ClipInput, prepare_actor
from s2l_dub.media.audio_io import load_audio
from s2l_dub.model.detail import build_bank
from s2l_dub.render.engine import RenderConfig, _drive, resting_window
from s2l_dub.train.data import build_training_data
from s2l_dub.train.evaluate import _landmark_metrics, load_model, paste_windows

ROOT = Path(__file__).resolve().parents[1]
LAGS = range(-3, 4)
SEGMENT_FRAMES = 250
"""Frames rendered together where the mouths are chosen along time: about a dialogue segment."""


def loudness_db(samples: np.ndarray, times_s: np.ndarray, sample_rate: int, span_s: float = 0.04) -> np.ndarray:
    half = int(span_s * sample_rate / 2)
    centres = np.round(times_s * sample_rate).astype(int)
    return np.array([10 * np.log10(np.mean(samples[max(0, c - half):c + half] ** 2) + 1e-10) for c in centres])


def best_lag_correlation(aperture: np.ndarray, loudness: np.ndarray) -> tuple[float, int]:
    """Highest Pearson correlation of aperture[t + lag] with loudness[t] over LAGS, and its lag."""
    scores = []
    for lag in LAGS:
        a = aperture[max(0, lag):len(aperture) + min(0, lag)]
        b = loudness[max(0, -lag):len(loudness) + min(0, -lag)]
        scores.append((float(np.corrcoef(a, b)[0, 1]), lag))
    return max(scores)


@torch.no_grad()
def mouth_apertures(dataset, data, model, index: torch.Tensor, bank=None, speaking=None) -> np.ndarray:
    """The rendered mouth's aperture on frames ``index``, driven by ``data.mel``, with ``bank``'s detail;
    ``speaking`` (per frame of ``index``) for a bank that sets the speaking range."""
    full = []
    # A 'path' bank chooses along the frames: a segment's worth in one batch, as a render's segment is.
    whole = bank is not None and (bank.config.mode == "path" or bank.config.range_components
                                  or bank.config.open_anchor)
    speaking = torch.as_tensor(np.asarray(speaking if speaking is not None else np.ones(len(index)), bool))
    for start in range(0, len(index), SEGMENT_FRAMES if whole else 8):
        chunk = index[start:start + (SEGMENT_FRAMES if whole else 8)]
        batch = data.batch(chunk)
        batch["speaking"] = speaking[start:start + len(chunk)]
        full.append(paste_windows(batch, model.render_window(data, batch, detail=bank)[0], data.window_hw))
    full = torch.cat(full)
    return _landmark_metrics(dataset, data, index, full, full)[1]


def score(aperture: np.ndarray, speaking: np.ndarray, loudness: np.ndarray) -> dict:
    correlation, lag = best_lag_correlation(aperture, loudness)
    return {"silent": float(aperture[~speaking].mean()) if (~speaking).any() else float("nan"),
            "speaking": float(aperture[speaking].mean()) if speaking.any() else float("nan"),
            "spread": float(aperture[speaking].std()) if speaking.sum() > 1 else float("nan"),
            "correlation": correlation, "lag": lag, "frames": len(aperture), "silent_frames": int((~speaking).sum())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=Path, default=Path(os.environ.get("S2L_SAMPLES", ROOT.parent / "shared" / "samples")))
    parser.add_argument("--video", default="actors/anchor_en_71s.mp4")
    parser.add_argument("--models", required=True, help="trained model folders, comma-separated")
    parser.add_argument("--files", default="", help="dub_audio files, comma-separated (default: all)")
    parser.add_argument("--work", type=Path, default=ROOT / "s2l-work" / "bench")
    parser.add_argument("--frames", choices=("held", "all"), default="held",
                        help="drive the held-out frames only, or every frame (more of each track, its poses "
                             "are the training frames', which the sound does not depend on)")
    parser.add_argument("--detail", default="none",
                        help="mouth detail variants of bench_detail, comma-separated (k8 is the product's default)")
    args = parser.parse_args()
    torch.set_grad_enabled(False)

    dataset = prepare_actor([ClipInput(args.samples / args.video)], Path(args.video).stem, args.work)
    data = build_training_data(dataset)
    held = data.held_out_index if args.frames == "held" else torch.cat([data.train_index, data.held_out_index]).sort()[0]
    config = AudioFeatureConfig(**dataset.manifest["config"]["audio"])
    frame_s = float(np.median(dataset.geometry["frame_duration_s"]))
    names = [n for n in args.files.split(",") if n] or sorted(
        p.name for p in (args.samples / "dub_audio").iterdir() if p.suffix == ".wav")
    first_context = int(data.context_index[held[0]].min())
    times = (torch.arange(len(data.mel)) - int(held[0])).numpy() * frame_s

    resting = resting_window(dataset, data)
    tracks = []
    for name in names:
        samples = load_audio(args.samples / "dub_audio" / name, config.sample_rate)
        frames = min(len(held), int(len(samples) / config.sample_rate / frame_s))
        # Context rows before the first held-out frame hear the track too (before its start: silence).
        rows = slice(first_context, int(held[frames - 1]) + 1)
        speech = speech_flags(times[rows], speech_segments(samples, config.sample_rate, VadConfig()))
        mel = data.mel.clone()
        mel[rows] = _drive(samples, times[rows], resting, RenderConfig(), len(speech), speech)[0]
        tracks.append((name, dataclasses.replace(data, mel=mel), held[:frames], speech[held[:frames] - first_context],
                       loudness_db(samples, times[held[:frames]], config.sample_rate)))

    own_samples = np.concatenate([a["samples"] for a in dataset.audio])
    own_times = (np.concatenate([a["frame_times_s"] - float(a["samples_start_s"]) for a in dataset.audio])[held.numpy()])
    truth_aperture = _landmark_metrics(dataset, data, held, *(2 * [torch.stack([
        torch.from_numpy(np.asarray(data.crops[i])).permute(2, 0, 1).float() / 255 for i in held.tolist()])]))[2]
    yardstick = score(truth_aperture, data.speech[held].numpy(),
                      loudness_db(own_samples, own_times, config.sample_rate))
    header = (f"{'':<34}{'silent ap.':>11}{'speaking ap.':>13}{'spread':>8}{'corr.':>7}{'lag':>5}{'frames':>8}"
              f"{'silent':>8}")
    print(header)
    print(f"{'actor, own audio (truth)':<34}{yardstick['silent']:>11.3f}{yardstick['speaking']:>13.3f}"
          f"{yardstick['spread']:>8.3f}{yardstick['correlation']:>7.2f}{yardstick['lag']:>5}{yardstick['frames']:>8}{yardstick['silent_frames']:>8}",
          flush=True)
    for folder in args.models.split(","):
        model, _ = load_model(Path(folder), data.depth0)
        model.eval()
        for variant in args.detail.split(","):
            config = VARIANTS[variant]
            bank = build_bank(model, data, data.train_index, config, apertures=tracked_apertures(dataset)) \
                if config.strength > 0 else None
            print(f"{Path(folder).name}, detail {variant}", flush=True)
            rows = []
            for name, track_data, index, speaking, loudness in tracks:
                rows.append(score(mouth_apertures(dataset, track_data, model, index, bank, speaking), speaking,
                                  loudness))
                r = rows[-1]
                print(f"{'  ' + name[:-4]:<34}{r['silent']:>11.3f}{r['speaking']:>13.3f}{r['spread']:>8.3f}"
                      f"{r['correlation']:>7.2f}{r['lag']:>5}{r['frames']:>8}{r['silent_frames']:>8}", flush=True)
            silent_w = np.array([r["silent_frames"] for r in rows], float)
            silent = np.nansum([r["silent"] * w for r, w in zip(rows, silent_w)]) / max(silent_w.sum(), 1)
            print(f"{'  all tracks':<34}{silent:>11.3f}{np.nanmean([r['speaking'] for r in rows]):>13.3f}"
                  f"{np.nanmean([r['spread'] for r in rows]):>8.3f}{np.mean([r['correlation'] for r in rows]):>7.2f}"
                  f"{'':>5}{sum(r['frames'] for r in rows):>8}{int(silent_w.sum()):>8}", flush=True)


if __name__ == "__main__":
    main()
