"""`s2l-dub render`: a prepared clip of an actor, re-rendered to speak new audio.

Decode -> synthesise -> encode run as one stream: the model works on each frame's
cached lower-face crop geometry at crop resolution, and its mouth window is resampled
back to source resolution and pasted with a feathered mask. Every pixel outside that
mask is the decoded source pixel.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import cv2
import numpy as np
import soundfile as sf
import torch

from .. import __version__
from ..artifacts import DigestCache, atomic_path, write_json
from ..audio.features import AudioFeatureConfig, log_mel, windows_at
from ..audio.vad import VadConfig, speech_flags, speech_segments
from ..dataset.store import ActorDataset, load_dataset
from ..errors import RangeError, S2LError
from ..face.track import lost_ranges
from ..media import FrameRange, iter_frames, load_audio, parse_range, probe_video
from ..model.sync import SyncExpert
from ..progress import NullProgress, Progress
from ..train import checkpoint
from ..train.data import TrainingData, build_training_data
from ..train.evaluate import load_model, sync_offset
from ..train.trainer import EXPERT_FILE, model_id
from .encode import EncodeSettings, FrameEncoder, add_frames_to_timecode
from .yuv import composite_i420, decoding_matrix

FIT_POLICIES = ("error", "pad", "trim")


@dataclasses.dataclass(frozen=True)
class RenderConfig:
    encode: EncodeSettings = EncodeSettings()
    fit: str = "error"
    """Audio and video of different length: 'error' (default), 'pad' the audio with silence, or
    'trim' whichever is longer."""
    batch_size: int = 8
    feather_px: int = 3
    """Width of the soft edge (source pixels) where rendered and source pixels mix."""
    silence_closes_mouth: bool = True
    """Frames the VAD finds silent get the actor's own quietest audio, so the mouth rests closed."""


def find_clip(dataset: ActorDataset, video: Path, digests: DigestCache, frames: FrameRange | None = None) -> dict:
    """The prepared clip of ``video`` that holds ``frames`` (a file may be prepared in several ranges)."""
    digest = digests.digest(video)
    matches = [clip for clip in dataset.manifest["clips"] if clip["digest"] == digest]
    if not matches:
        raise S2LError(f"{video}: not among actor {dataset.manifest['actor']!r}'s prepared clips; "
                       f"run `s2l-dub prepare` with it and retrain")
    for clip in matches:
        start, stop = clip["range"]
        if frames is None or (start <= frames.start and frames.stop <= stop):
            return clip
    spans = ", ".join(f"{c['range'][0]}-{c['range'][1]}" for c in matches)
    raise RangeError(f"{video}: frames {frames.start}-{frames.stop} lie outside the prepared frames {spans}")


class ActorRenderer:
    """An actor's dataset and model loaded once, to render any number of clips or segments."""

    def __init__(self, dataset_root: Path, model_folder: Path):
        self.dataset = load_dataset(dataset_root)
        self.model_folder = Path(model_folder)
        self.data = build_training_data(self.dataset)
        self.model, self.meta = load_model(self.model_folder, self.data.depth0)
        self.model.eval()
        self.expert = _load_expert(self.model_folder)
        self._digests = DigestCache(self.model_folder / "digests.json")

    @property
    def model_id(self) -> str:
        return model_id(self.meta)

    def render(self, video: Path, audio: Path | np.ndarray, target: Path, config: RenderConfig = RenderConfig(),
               range_text: str | None = None, progress: Progress | None = None,
               speech: np.ndarray | None = None) -> dict:
        """Render ``video`` (or its ``range_text``) speaking ``audio``: a file, or 16 kHz mono samples.

        ``speech`` (per frame) overrides speech detection on ``audio``: a caller cutting a
        segment from a longer stem knows better, since detection on a second of speech
        cut out of its context can miss it all and close the mouth while it talks.
        """
        progress = progress or NullProgress()
        started = time.monotonic()
        if config.fit not in FIT_POLICIES:
            raise S2LError(f"--fit {config.fit!r}: choose one of {', '.join(FIT_POLICIES)}")
        target = Path(target)
        config.encode.validate(target)
        if target.resolve() == Path(video).resolve():
            raise S2LError(f"{target}: refusing to overwrite the source clip")
        info = probe_video(video)
        if info.is_variable_rate:
            raise S2LError(f"{video}: variable frame rate; conform it to a constant rate before rendering")
        frames = parse_range(range_text, info)
        clip = find_clip(self.dataset, Path(video), self._digests, frames)
        data, model = self.data, self.model
        g = self.dataset.geometry
        first = int(np.flatnonzero((g["clip_index"] == clip["index"]) & (g["frame_index"] == frames.start))[0])
        index = torch.arange(first, first + len(frames))

        times = info.frame_times_s[frames.start:frames.stop] - float(info.frame_time(frames.start))
        video_s = float(np.sum(g["frame_duration_s"][index.numpy()]))
        raw = load_audio(audio) if not isinstance(audio, np.ndarray) else np.asarray(audio, np.float32)
        audio_name = str(Path(audio).resolve()) if not isinstance(audio, np.ndarray) else None
        samples, kept = _fit_audio(raw, video_s, times, config.fit, audio_name or "dub audio")
        if speech is not None and len(speech) < kept:
            raise S2LError(f"{video}: speech flags for {len(speech)} frames, rendering {kept}")
        mel, silent = _drive(samples, times, data, config, kept, None if speech is None else speech[:kept])

        target.parent.mkdir(parents=True, exist_ok=True)
        audio_track = target.with_name(f".{target.stem}.audio.wav")
        sf.write(audio_track, samples, 16000, subtype="PCM_16")
        lost = lost_ranges(g["valid"][index.numpy()][:kept])
        if lost:
            spans = ", ".join(f"{frames.start + a}-{frames.start + b}" for a, b in lost[:6])
            progress.log(f"{Path(video).name}: no face on frames {spans}; passed through untouched")

        timecode = add_frames_to_timecode(info.timecode, frames.start, info.frame_rate) if info.timecode else None
        progress.start(f"rendering {Path(video).name}", int(kept))
        try:
            planar = info.pix_fmt == "yuv420p" and info.width % 2 == 0 and info.height % 2 == 0
            with atomic_path(target) as tmp:
                encoder = FrameEncoder(tmp, info.width, info.height, info.frame_rate, config.encode, audio_track,
                                       info.color, timecode, "yuv420p" if planar else "rgb24")
                rgb_frames = iter_frames(info, frames.start, frames.start + kept)
                planes = iter_frames(info, frames.start, frames.start + kept, "yuv420p") if planar else None
                for start in range(0, kept, config.batch_size):
                    chunk = index[start:min(start + config.batch_size, kept)]
                    decoded = [next(rgb_frames) for _ in chunk]
                    source_planes = [next(planes) for _ in chunk] if planar else None
                    for frame in _synthesise(model, data, chunk, mel, chunk - first, decoded, source_planes, info,
                                             config):
                        encoder.write(frame)
                    progress.advance(len(chunk))
                encoder.close()
        finally:
            audio_track.unlink(missing_ok=True)

        offset, confidence = (None, None)
        if self.expert is not None and model.config.canonical:
            offset, confidence = lips_sync(model, self.expert, data, index[:kept], mel)
        turn = g["euler_deg"][index.numpy()[:kept], :2] - g["euler_deg"][int(g["canonical"]), :2]
        sidecar = {
            "format": "s2l-render.1",
            "s2l_dub_version": __version__,
            "source": {"path": str(Path(video).resolve()), "digest": clip["digest"],
                       "frames": [frames.start, frames.start + kept],
                       "frame_rate": str(info.frame_rate), "timecode": timecode},
            "audio": {"path": audio_name, "seconds": round(len(samples) / 16000, 4), "fit": config.fit},
            "model": {"folder": str(self.model_folder.resolve()), "run_key": self.meta.get("run_key"),
                      "steps": self.meta.get("steps"), "id": self.model_id},
            "codec": config.encode.codec,
            "frames": int(kept),
            "silent_frames": int(silent.sum()),
            "face_lost_frames": [[frames.start + a, frames.start + b] for a, b in lost],
            "scores": {
                "sync_offset_frames": offset,
                "sync_confidence": None if confidence is None else round(confidence, 4),
                "face_lost_share": round(float(sum(b - a for a, b in lost)) / max(1, kept), 4),
                "max_head_turn_deg": round(float(np.nanmax(np.abs(turn))), 1) if np.isfinite(turn).any() else None,
            },
            "seconds": round(time.monotonic() - started, 2),
        }
        write_json(target.with_suffix(target.suffix + ".json"), sidecar)
        return sidecar


def render_clip(dataset_root: Path, model_folder: Path, video: Path, audio: Path, target: Path,
                config: RenderConfig = RenderConfig(), range_text: str | None = None,
                progress: Progress | None = None) -> dict:
    return ActorRenderer(dataset_root, model_folder).render(video, audio, target, config, range_text, progress)


def _load_expert(folder: Path) -> SyncExpert | None:
    path = folder / EXPERT_FILE
    if not path.exists():
        return None
    expert = SyncExpert()
    checkpoint.load_weights(path, expert)
    return expert.eval()


@torch.no_grad()
def lips_sync(model, expert: SyncExpert, data: TrainingData, index: torch.Tensor, mel: torch.Tensor):
    """The sync expert's best audio offset (frames) and confidence for lips generated from ``mel``."""
    half = data.context_index.shape[1] // 2
    context = (torch.arange(len(index))[:, None] + torch.arange(-half, half + 1)[None]).clamp(0, len(mel) - 1)
    lips = torch.cat([model.sync_lips(mel[ctx], data.time_norm[i])
                      for ctx, i in zip(context.split(32), index.split(32))])
    return sync_offset(expert, lips, mel)


def _fit_audio(samples: np.ndarray, video_s: float, times: np.ndarray, policy: str, path: Path | str):
    """The audio cut or padded to the video (per policy), and how many frames to render."""
    audio_s = len(samples) / 16000
    frame_s = video_s / len(times)
    if abs(audio_s - video_s) <= frame_s / 2 or policy == "pad":
        if audio_s > video_s + frame_s / 2:
            raise S2LError(f"{path}: audio is {audio_s:.2f} s, the video range is {video_s:.2f} s; "
                           "pad only lengthens audio (use --fit trim to cut it)")
        out = np.zeros(int(round(video_s * 16000)), np.float32)
        out[: min(len(out), len(samples))] = samples[: len(out)]
        return out, len(times)
    if policy == "error":
        raise S2LError(f"{path}: audio is {audio_s:.2f} s but the video range is {video_s:.2f} s; "
                       "use --fit pad (silence after the audio) or --fit trim")
    if audio_s > video_s:
        return samples[: int(round(video_s * 16000))], len(times)
    kept = int(np.searchsorted(times, audio_s - 1e-9))
    if kept == 0:
        raise S2LError(f"{path}: audio is shorter than one frame")
    end_s = times[kept - 1] + frame_s
    return np.pad(samples, (0, max(0, int(round(end_s * 16000)) - len(samples))))[: int(round(end_s * 16000))], kept


def _drive(samples: np.ndarray, times: np.ndarray, data: TrainingData, config: RenderConfig, kept: int,
           speech: np.ndarray | None = None):
    """Per-frame mel windows of the new audio; silent frames get the actor's resting audio."""
    features = AudioFeatureConfig()
    mel = torch.from_numpy(windows_at(log_mel(samples, features), times[:kept], features))
    if speech is None:
        speech = speech_flags(times[:kept], speech_segments(samples, features.sample_rate, VadConfig()))
    silent = ~np.asarray(speech, bool)
    if config.silence_closes_mouth and silent.any():
        quiet = data.train_index[~data.speech[data.train_index]] if (~data.speech[data.train_index]).any() else data.train_index
        rest = quiet[torch.argmin(data.mel[quiet].mean(dim=(1, 2)))]
        mel[torch.from_numpy(silent)] = data.mel[rest]
    return mel, silent


@torch.no_grad()
def _synthesise(model, data: TrainingData, index: torch.Tensor, mel: torch.Tensor, positions: torch.Tensor,
                decoded: list[np.ndarray], planes: list[np.ndarray] | None, info, config: RenderConfig) -> list[np.ndarray]:
    """Render a batch of frames: model at crop resolution, pasted back into the full frames.

    ``mel`` holds the whole segment's windows and ``positions`` the batch's frames in it,
    so each frame's audio context reaches across batch boundaries.
    """
    # Crops cut from the frames in hand: reading the cached crops would map the whole
    # cache into memory over a long clip.
    batch = data.batch(index, np.stack([_crop(frame, data, int(i)) for frame, i in zip(decoded, index)]))
    half = data.context_index.shape[1] // 2
    context = (positions[:, None] + torch.arange(-half, half + 1)[None]).clamp(0, len(mel) - 1)
    batch["mel_context"] = mel[context]
    batch["mel"] = mel[positions]
    output, _, mask, _ = model.render_window(data, batch)
    frames = []
    for k, frame in enumerate(decoded):
        untouched = planes[k] if planes is not None else frame
        if not bool(data.valid[index[k]]):
            frames.append(untouched)
            continue
        patch, alpha, (x0, y0) = _patch(output[k], mask[k], data, int(index[k]), frame.shape, config.feather_px)
        if planes is not None:
            matrix, full_range = decoding_matrix(info.color)
            frames.append(composite_i420(planes[k], info.width, info.height, patch, alpha, x0, y0, matrix, full_range))
        else:
            out = frame.copy()
            region = out[y0:y0 + alpha.shape[0], x0:x0 + alpha.shape[1]].astype(np.float32)
            a = alpha[..., None]
            out[y0:y0 + alpha.shape[0], x0:x0 + alpha.shape[1]] = np.clip(region * (1 - a) + patch * a + 0.5, 0, 255)
            frames.append(out)
    return frames


def _crop(frame: np.ndarray, data: TrainingData, i: int) -> np.ndarray:
    """Frame ``i``'s lower-face region at crop resolution, as `prepare` cached it."""
    ox, oy = (int(v) for v in data.crop_origins[i])
    size = int(round(data.crop_px / data.crop_scale))
    region = frame[oy:oy + size, ox:ox + size]
    if size == data.crop_px:
        return region
    return cv2.resize(region, (data.crop_px, data.crop_px), interpolation=cv2.INTER_AREA)


def _patch(window: torch.Tensor, mask: torch.Tensor, data: TrainingData, i: int, frame_shape: tuple[int, ...],
           feather_px: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """The crop-space window resampled into source pixels: (RGB patch, blend weights, top-left)."""
    scale = data.crop_scale
    ox, oy = (int(v) for v in data.crop_origins[i])
    wx, wy = (int(v) for v in data.window_origins[i])
    win_h, win_w = data.window_hw
    x0, y0 = int(np.floor(ox + wx / scale)), int(np.floor(oy + wy / scale))
    x1 = min(frame_shape[1], int(np.ceil(ox + (wx + win_w) / scale)))
    y1 = min(frame_shape[0], int(np.ceil(oy + (wy + win_h) / scale)))
    xs = (np.arange(x0, x1) - ox + 0.5) * scale - 0.5 - wx
    ys = (np.arange(y0, y1) - oy + 0.5) * scale - 0.5 - wy
    map_x, map_y = np.meshgrid(xs.astype(np.float32), ys.astype(np.float32))
    rendered = cv2.remap((window.permute(1, 2, 0).numpy() * 255).astype(np.float32), map_x, map_y, cv2.INTER_LINEAR)
    # Blend-Net also retouches the seam just outside the paste mask: widen it, then soften.
    region = (mask[0].numpy() > 0.01).astype(np.uint8)
    region = cv2.dilate(region, np.ones((5, 5), np.uint8)).astype(np.float32)
    soft = cv2.remap(region, map_x, map_y, cv2.INTER_LINEAR)
    soft = cv2.GaussianBlur(soft, (0, 0), feather_px) if feather_px > 0 else soft
    soft = np.where(soft < 1 / 255, 0, np.clip(soft * 1.5, 0, 1))
    return rendered, soft, (x0, y0)
