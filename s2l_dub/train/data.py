"""Training tensors from a prepared actor dataset, all in crop space.

Each frame's lower-face crop is its own pinhole camera (see ``model.gamem``), so the
canonical lip box, the learnable canonical depth and every warp live at the crop's
resolution. The split is by time: the last ``held_out_share`` of frames are held out, and
the ``validation_share`` of frames just before them (none by default) is kept apart too,
for choosing when to stop training without looking at the held-out test.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import torch

from ..artifacts import atomic_path, stable_key
from ..audio.features import AudioFeatureConfig, in_another_voice, log_mel, windows_at
from ..dataset.store import ActorDataset
from ..face.warp import map_points
from ..model.gamem import crop_intrinsics, map_pixels, pixel_grid, sample
from ..model.sync import SYNC_LIPS_HW


@dataclasses.dataclass
class TrainingData:
    crops: np.ndarray
    """(N, C, C, 3) uint8, memory-mapped."""
    crop_px: int
    crop_scale: float
    """Crop pixels per source pixel."""
    crop_origins: np.ndarray
    """(N, 2) top-left of each frame's lower-face region in source pixels."""
    K: torch.Tensor
    """(N, 3, 3) crop intrinsics per frame."""
    K_canonical: torch.Tensor
    rel_R: torch.Tensor
    rel_t: torch.Tensor
    depth0: torch.Tensor
    """(C, C) canonical crop depth from the prepared mesh."""
    observed_depth: torch.Tensor
    """(N, d, d) per-frame crop depth (coarse), NaN-free."""
    lip_box: tuple[int, int, int, int]
    """(x0, y0, w, h) of the canonical lip box in canonical-crop pixels."""
    lip_mask: torch.Tensor
    """(h, w) soft mask over the lip box."""
    window_hw: tuple[int, int]
    window_origins: torch.Tensor
    """(N, 2) int top-left of the mouth window in each observed crop (Blend-Net's input)."""
    mel: torch.Tensor
    """(N, steps, bins) float32."""
    context_index: torch.Tensor
    """(N, 2k+1) frame indices of each frame's audio context, clamped to its clip."""
    time_norm: torch.Tensor
    speech: torch.Tensor
    valid: torch.Tensor
    train_index: torch.Tensor
    held_out_index: torch.Tensor
    canonical: int
    validation_index: torch.Tensor = dataclasses.field(default_factory=lambda: torch.zeros(0, dtype=torch.long))
    """Frames between training and held-out, used to pick the checkpoint; empty without a validation share."""
    voices: DiskWindows | None = None
    """(1 + V, N, steps, bins): ``mel``, then the windows of V copies of the audio in other voices
    (``voice_windows``), which training draws the generator's audio from; None without."""

    def batch(self, index: torch.Tensor, crops: np.ndarray | None = None,
              voice: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Model inputs for frames ``index``; ``crops`` (B, C, C, 3) replaces the cached crops.

        ``voice`` (B,) picks each frame's generator audio from ``voices`` (0: the actor's own).
        """
        idx = index.tolist()
        crops = np.stack([self.crops[i] for i in idx]) if crops is None else crops
        crops = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255
        return {
            "index": index,
            "crops": crops,
            "K": self.K[index],
            "R": self.rel_R[index],
            "t": self.rel_t[index],
            "observed_depth": self.observed_depth[index],
            "mel_context": (self.mel[self.context_index[index]] if voice is None
                            else self.voices[voice[:, None], self.context_index[index]]),
            "mel": self.mel[index],
            "time": self.time_norm[index],
            "window_origins": self.window_origins[index],
        }

    def canonical_crop(self) -> torch.Tensor:
        return torch.from_numpy(np.array(self.crops[self.canonical])).permute(2, 0, 1).float()[None] / 255


def build_training_data(dataset: ActorDataset, held_out_share: float = 0.1, audio_context: int = 2,
                        validation_share: float = 0.0) -> TrainingData:
    g = dataset.geometry
    crops = dataset.crops()
    n, crop_px = crops.shape[0], crops.shape[1]
    region = int(g["lower_face_size"])
    scale = crop_px / region
    origins = g["lower_face_origins"].astype(np.float64)
    K = crop_intrinsics(g["K"][g["clip_index"]], origins, region, crop_px)
    canonical = int(g["canonical"])
    K_c = K[canonical]

    cx0, cy0 = (int(v) for v in g["lower_face_origins"][canonical])
    depth_region = g["canonical_depth"][cy0:cy0 + region, cx0:cx0 + region]
    depth0 = cv2.resize(depth_region, (crop_px, crop_px), interpolation=cv2.INTER_AREA)

    bx, by, bw, bh = (float(v) for v in g["lip_box"])
    lip_x = int(round((bx - cx0 + 0.5) * scale - 0.5))
    lip_y = int(round((by - cy0 + 0.5) * scale - 0.5))
    lip_w, lip_h = int(round(bw * scale)), int(round(bh * scale))
    lip_w, lip_h = min(lip_w, crop_px - lip_x), min(lip_h, crop_px - lip_y)
    mask = cv2.resize(g["lip_mask"], (lip_w, lip_h), interpolation=cv2.INTER_AREA)

    observed = fill_missing_depth(dataset.crop_depth().astype(np.float32), float(np.nanmedian(depth0)))

    # The mouth window Blend-Net works on: the lip box's centre seen in each frame, padded.
    win_h = min(crop_px, int(np.ceil(lip_h * 1.5 / 8) * 8))
    win_w = min(crop_px, int(np.ceil(lip_w * 1.4 / 8) * 8))
    windows = mouth_window_origins((lip_x, lip_y, lip_w, lip_h), depth0, K_c, K, g["rel_R"], g["rel_t"],
                                   (win_h, win_w), crop_px)

    clip_index = g["clip_index"]
    offsets = np.arange(-audio_context, audio_context + 1)
    context = np.clip(np.arange(n)[:, None] + offsets[None, :], 0, n - 1)
    same_clip = clip_index[context] == clip_index[:, None]
    context = np.where(same_clip, context, np.arange(n)[:, None])

    durations = g["frame_duration_s"]
    elapsed = np.concatenate([[0.0], np.cumsum(durations)[:-1]])
    time_norm = elapsed / max(elapsed[-1], 1e-6)

    valid = g["valid"]
    split = int(round(n * (1 - held_out_share)))
    # The validation slice sits just before the held-out test, so both lie after the training frames in time.
    validation_start = int(round(n * (1 - held_out_share - validation_share)))
    order = np.arange(n)
    return TrainingData(
        crops=crops,
        crop_px=crop_px,
        crop_scale=scale,
        crop_origins=g["lower_face_origins"].astype(np.int64),
        K=torch.from_numpy(K).float(),
        K_canonical=torch.from_numpy(K_c).float(),
        rel_R=torch.from_numpy(g["rel_R"]).float(),
        rel_t=torch.from_numpy(g["rel_t"]).float(),
        depth0=torch.from_numpy(depth0).float(),
        observed_depth=torch.from_numpy(observed).float(),
        lip_box=(lip_x, lip_y, lip_w, lip_h),
        lip_mask=torch.from_numpy(mask).float(),
        window_hw=(win_h, win_w),
        window_origins=torch.from_numpy(windows),
        mel=torch.from_numpy(dataset.mel_windows().astype(np.float32)),
        context_index=torch.from_numpy(context),
        time_norm=torch.from_numpy(time_norm).float(),
        speech=torch.from_numpy(dataset.speech()),
        valid=torch.from_numpy(valid),
        train_index=torch.from_numpy(order[(order < validation_start) & valid]),
        held_out_index=torch.from_numpy(order[(order >= split) & valid]),
        canonical=canonical,
        validation_index=torch.from_numpy(order[(order >= validation_start) & (order < split) & valid]),
    )


VOICES_FILE = "voices-{content}-{copies}.npy"
"""In the dataset folder: its audio windows in the actor's voice and each copy, keyed by the dataset's
content and the copies asked for (training's and an evaluation's sets live side by side)."""


class DiskWindows:
    """``(1 + V, N, steps, bins)`` audio windows in a float16 file on disk, read a batch at a time.

    Held in memory as float32 they grew with the footage (five copies: about 50 MB a minute, 3 GB for
    an hour of rushes); mapped, training holds only the batch. Indexing returns float32 tensors.
    """

    def __init__(self, array: np.ndarray):
        self.array = array

    def __len__(self) -> int:
        return int(self.array.shape[0])

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    def __getitem__(self, key) -> torch.Tensor:
        key = tuple(_numpy_index(k) for k in key) if isinstance(key, tuple) else _numpy_index(key)
        return torch.from_numpy(np.asarray(self.array[key], dtype=np.float32))


def _numpy_index(key):
    return key.numpy() if isinstance(key, torch.Tensor) else key


def voice_windows(dataset: ActorDataset, variants: tuple[tuple[float, float], ...]) -> DiskWindows:
    """(1 + V, N, steps, bins): the prepared windows, then those of each (speed, semitones) copy of the audio.

    Each frame's window in a copy is read where that frame's moment sounds in it, so it holds the
    same speech as the prepared window, in another voice or at another pace. Computed once per
    dataset content and set of copies, into the dataset folder.
    """
    content = stable_key("voices.1", dataset.manifest.get("stages", {}))
    path = Path(dataset.root) / VOICES_FILE.format(content=content, copies=stable_key([list(v) for v in variants]))
    if not path.is_file():
        for stale in path.parent.glob(VOICES_FILE.format(content="*", copies="*")):
            if f"-{content}-" not in stale.name:
                stale.unlink(missing_ok=True)  # of footage prepared before; a run still mapping it keeps it
        _write_voice_windows(dataset, variants, path)
    return DiskWindows(np.load(path, mmap_mode="r"))


def _write_voice_windows(dataset: ActorDataset, variants: tuple[tuple[float, float], ...], path: Path) -> None:
    own = dataset.mel_windows()
    with atomic_path(path) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=(1 + len(variants), *own.shape))
        out[0] = own
        for i, (speed, semitones) in enumerate(variants, 1):
            start = 0
            for windows in _copy_windows_by_clip(dataset, speed, semitones, log_mel):
                out[i, start:start + len(windows)] = windows
                start += len(windows)
        out.flush()
        del out


def copy_windows(dataset: ActorDataset, speed: float, semitones: float, features) -> torch.Tensor:
    """(N, steps, dims): windows of ``features(samples, config)`` (steps on the mel hop) of a copy of the audio.

    Each frame's window is read where that frame's moment sounds in the copy.
    """
    return torch.from_numpy(np.concatenate(list(_copy_windows_by_clip(dataset, speed, semitones, features))))


def _copy_windows_by_clip(dataset: ActorDataset, speed: float, semitones: float, features):
    config = AudioFeatureConfig(**dataset.manifest["config"]["audio"])
    for audio in dataset.audio:
        samples = in_another_voice(audio["samples"], config.sample_rate, speed, semitones)
        times = (audio["frame_times_s"] - float(audio["samples_start_s"])) / speed
        yield windows_at(features(samples, config), times, config)


def speech_seconds(dataset: ActorDataset, index: torch.Tensor) -> float:
    """Seconds of speech among frames ``index``: how much the generator has to learn the mouth from."""
    frames = index.numpy()
    speaking = dataset.speech()[frames].astype(bool)
    return float(np.sum(dataset.geometry["frame_duration_s"][frames][speaking]))


def fill_missing_depth(observed: np.ndarray, fallback: float) -> np.ndarray:
    """Per-frame crop depth (N, d, d) with holes filled: off the mesh a pixel is background, far away."""
    far = np.nanmax(observed.reshape(len(observed), -1), axis=1, initial=0.0)
    observed = np.where(np.isfinite(observed), observed, far[:, None, None])
    observed[~np.isfinite(observed)] = fallback
    return observed


def mouth_window_origins(lip_box: tuple[int, int, int, int], depth0: np.ndarray, K_canonical: np.ndarray,
                         K: np.ndarray, rel_R: np.ndarray, rel_t: np.ndarray, window_hw: tuple[int, int],
                         crop_px: int) -> np.ndarray:
    """(N, 2) top-left of Blend-Net's mouth window in each observed crop: the lip box's centre mapped there."""
    lip_x, lip_y, lip_w, lip_h = lip_box
    win_h, win_w = window_hw
    centre_c = np.array([[lip_x + lip_w / 2, lip_y + lip_h / 2]])
    depth_centre = depth0[int(centre_c[0, 1]), int(centre_c[0, 0])]
    windows = np.zeros((len(K), 2), np.int64)
    for i in range(len(K)):
        uv, _ = map_points(centre_c, np.array([depth_centre]), K_canonical, K[i], rel_R[i], rel_t[i])
        windows[i] = np.clip(np.round(uv[0] - [win_w / 2, win_h / 2]), 0, [crop_px - win_w, crop_px - win_h])
    return windows


def canonical_lips(data: TrainingData, crops: torch.Tensor, index: torch.Tensor, depth: torch.Tensor,
                   interpolation: str = "bilinear") -> tuple[torch.Tensor, torch.Tensor]:
    """O2C: the observed lips of frames ``index`` warped into the canonical lip box.

    Returns (images (B, 3, h, w), validity (B, 1, h, w)).
    """
    x0, y0, w, h = data.lip_box
    b = len(index)
    grid = pixel_grid(x0, y0, w, h).expand(b, h, w, 2)
    d = depth[y0:y0 + h, x0:x0 + w].expand(b, h, w)
    uv = map_pixels(grid, d, data.K_canonical.expand(b, 3, 3), data.K[index], data.rel_R[index], data.rel_t[index])
    images = sample(crops, uv, mode=interpolation).clamp(0, 1)
    inside = sample(torch.ones_like(crops[:, :1]), uv)
    return images, (inside > 0.999).float()


def sync_targets(data: TrainingData, frames: torch.Tensor | None = None, batch_size: int = 64) -> torch.Tensor:
    """Ground-truth canonical lips of ``frames`` (default: all) at the sync expert's resolution, (n, 3, h, w)."""
    frames = torch.arange(len(data.crops)) if frames is None else frames
    out = []
    for start in range(0, len(frames), batch_size):
        index = frames[start:start + batch_size]
        crops = torch.from_numpy(np.stack([data.crops[i] for i in index.tolist()])).permute(0, 3, 1, 2).float() / 255
        # Bilinear whatever the model warps with: at the expert's size the two agree to 55 dB
        # (anchor_en), and the expert, shared by model variants, keeps its key.
        lips, _ = canonical_lips(data, crops, index, data.depth0)
        out.append(torch.nn.functional.interpolate(lips, size=SYNC_LIPS_HW, mode="area"))
    return torch.cat(out)
