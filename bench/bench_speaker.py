"""Can a training-free measure tell a speaking face from one that is not speaking the sound? (issue 25)

    python bench/bench_speaker.py [--seconds 10] [--windows 3,5,10]

Each real clip of the samples (one face, its own sync sound) gives the mouth's inner-lip
aperture per frame (dlib landmarks 60-67, gap over mouth width). Every clip's picture is then
paired with every clip's sound: its own sound is a face that speaks the line; another person's
sound is a face over a line it does not speak, the hardest kind of reaction shot (a listener
whose mouth still moves). For windows of a few seconds, the correlation of the smoothed aperture
with the smoothed log loudness (best of lags 0-3 frames, mouth after sound) is printed for both
kinds. A usable detector needs the speaking windows' low percentiles above the others' high ones.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from s2l_dub.face.dlib_backend import DlibLandmarker
from s2l_dub.media import iter_frames, load_audio, probe_video

SAMPLE_RATE = 16000
CLIPS = ["actors/anchor_de_20s.mp4", "actors/anchor_en_71s.mp4", "actors/may_en_5s.mp4",
         "clips/WDA_AlexandriaOcasioCortez_000.mp4", "clips/WDA_KatieHill_000.mp4", "long/grid_s1_10min.mp4"]
"""Clips whose sound is the face's own recording (the retalking examples are left out: their sound is not)."""


def inner_aperture(points: np.ndarray) -> float:
    gap = np.linalg.norm(points[[61, 62, 63]] - points[[67, 66, 65]], axis=1).mean()
    return float(gap / np.linalg.norm(points[54] - points[48]))


def apertures(path: Path, frames: int, landmarker: DlibLandmarker) -> np.ndarray:
    info = probe_video(path)
    values = []
    for frame in iter_frames(info, 0, min(frames, info.frame_count)):
        boxes = landmarker.detect(frame)
        if not boxes:
            values.append(np.nan)
            continue
        box = max(boxes, key=lambda b: b.width * b.height)
        values.append(inner_aperture(landmarker.landmarks(frame, box)))
    values = np.array(values)
    values[np.isnan(values)] = np.nanmean(values)
    return values


def log_loudness(samples: np.ndarray, rate: float, frames: int) -> np.ndarray:
    hop = SAMPLE_RATE / rate
    rms = [np.sqrt(np.mean(samples[int(i * hop):int((i + 1) * hop)] ** 2)) if int(i * hop) < len(samples) else 0.0
           for i in range(frames)]
    return np.log(np.array(rms) + 1e-3)


def smoothed(values: np.ndarray, width: int = 9) -> np.ndarray:
    return np.convolve(values, np.ones(width) / width, "same")


def sync_score(aperture: np.ndarray, loudness: np.ndarray, max_lag: int = 3) -> float:
    a, b = smoothed(aperture), smoothed(loudness)
    best = -1.0
    for lag in range(max_lag + 1):
        x, y = a[lag:], b[:len(b) - lag]
        if x.std() > 1e-9 and y.std() > 1e-9:
            best = max(best, float(np.corrcoef(x, y)[0, 1]))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=Path(os.environ.get("S2L_SAMPLES", "../shared/samples")))
    parser.add_argument("--seconds", type=float, default=10.0, help="Seconds read from the start of each clip.")
    parser.add_argument("--windows", default="3,5,10", help="Window lengths in seconds.")
    args = parser.parse_args()
    landmarker = DlibLandmarker()
    pictures, sounds = {}, {}
    for name in CLIPS:
        rate = float(probe_video(args.samples / name).frame_rate)
        pictures[name] = (apertures(args.samples / name, round(args.seconds * rate), landmarker), rate)
        sounds[name] = load_audio(args.samples / name, SAMPLE_RATE)
    print(f"{len(CLIPS)} clips, {args.seconds:.0f} s each; correlation of aperture and loudness per window")
    print(f"{'window':>7} {'kind':>22} {'n':>4}  p5     p10    p25    p50    p90    p99")
    for seconds in [float(w) for w in args.windows.split(",")]:
        own, other = [], []
        for picture, (aperture, rate) in pictures.items():
            width = round(seconds * rate)
            for sound, samples in sounds.items():
                loudness = log_loudness(samples, rate, len(aperture))
                for start in range(0, len(aperture) - width + 1, max(1, width // 3)):
                    score = sync_score(aperture[start:start + width], loudness[start:start + width])
                    (own if picture == sound else other).append(score)
        for kind, scores in (("own sound (speaks)", own), ("another's (does not)", other)):
            p = np.percentile(scores, [5, 10, 25, 50, 90, 99])
            print(f"{seconds:6.0f}s {kind:>22} {len(scores):4d}  " + "  ".join(f"{v:+.2f}" for v in p))


if __name__ == "__main__":
    main()
