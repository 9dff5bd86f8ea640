"""`s2l-dub render`: a clip of an actor re-rendered to speak new audio.

Decode -> synthesise -> encode run as one stream: the model works on each frame's
lower-face crop at crop resolution, and its mouth window is resampled back to source
resolution and pasted with a feathered mask. Every pixel outside that mask is the
decoded source pixel. Clips the actor was prepared on reuse the prepared geometry;
any other clip is tracked first (see ``render.geometry``). With pose control the
head is first turned to the new pose (see ``render.pose``).
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
from ..artifacts import DigestCache, atomic_path, refuse_overwrite, sweep_temporaries, temp_name, write_json
from ..audio.features import AudioFeatureConfig, log_mel, windows_at
from ..audio.vad import VadConfig, speech_flags, speech_segments
from ..dataset.store import ActorDataset, load_dataset
from ..errors import S2LError
from ..face.geometry import rotation_matrices
from ..face.landmark_sets import mouth_aperture
from ..face.track import FaceHint, lost_ranges
from ..media import FrameRange, iter_frames, load_audio, parse_range, probe_video
from ..media.audio_io import cut_audio
from ..model.detail import DEFAULT_DETAIL, DetailBank, DetailConfig, build_bank
from ..model.sync import SYNC_FRAMES, SyncExpert, sync_windows
from ..progress import NullProgress, Progress
from ..train import checkpoint
from ..train.data import TrainingData, build_training_data
from ..train.fold_experts import FoldExpertConfig, fold_config_of, fold_experts, fold_experts_key
from ..train.evaluate import EMBED_CHUNK, load_model, offset_from_embeddings
from ..train.trainer import EXPERT_FILE, model_id
from .encode import EncodeSettings, FrameEncoder, add_frames_to_timecode
from .geometry import FrameGeometry, prepared_geometry, tracked_geometry
from .identity import IdentityCheck
from .original_sync import (MIN_FOLD_STEPS, UNKNOWN, OriginalSync, OriginalSyncConfig, cached_verdict, expert_reading, judge,
                            remember_verdict, verdict_key)
from .pose import PoseConfig, head_box, head_depth, repose, target_poses
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
    face: str | None = None
    """Which face is the actor in a clip that was not prepared (as `prepare --face`)."""
    detail: DetailConfig | None = DEFAULT_DETAIL
    """Real mouth detail from the actor's own prepared frames (``model.detail``); None: the
    generated mouth as it is."""
    pose: PoseConfig = PoseConfig()
    pose_from: str | None = None
    """A clip whose head rotations the render takes over (pose-controllable synthesis)."""

    @property
    def pose_control(self) -> bool:
        return self.pose.offsets_active or self.pose_from is not None


def find_clip(dataset: ActorDataset, video: Path, digests: DigestCache, frames: FrameRange | None = None) -> dict | None:
    """The prepared clip of ``video`` that holds ``frames`` (a file may be prepared in several ranges), if any."""
    digest = digests.digest(video)
    for clip in dataset.manifest["clips"]:
        start, stop = clip["range"]
        if clip["digest"] == digest and (frames is None or (start <= frames.start and frames.stop <= stop)):
            return clip
    return None


class ActorRenderer:
    """An actor's dataset and model loaded once, to render any number of clips or segments."""

    def __init__(self, dataset_root: Path, model_folder: Path):
        self.dataset = load_dataset(dataset_root)
        self.model_folder = Path(model_folder)
        self.data = build_training_data(self.dataset)
        self.model, self.meta = load_model(self.model_folder, self.data.depth0)
        self.model.eval()
        self.expert, self.expert_meta = _load_expert(self.model_folder)
        self.resting_mel = resting_window(self.dataset, self.data)
        self._digests = DigestCache(self.model_folder / "digests.json")
        self._identity = IdentityCheck(self.dataset, self.model_folder / "identity.json")
        self._banks: dict[DetailConfig, DetailBank] = {}
        self._speaker_check = None

    def original_sync(self, media: Path, first: int, stop: int, config: OriginalSyncConfig = OriginalSyncConfig(),
                      progress: Progress | None = None) -> OriginalSync:
        """Whether the actor's face speaks the original sound of source frames ``first``-``stop``
        of ``media`` (judged once per model, then read back)."""
        key = verdict_key(self.dataset.manifest, self.speaker_experts_key(), media, first, stop, config)
        found = cached_verdict(self.model_folder, key)
        if found is None and self._fold_config().steps < MIN_FOLD_STEPS:
            found = OriginalSync(UNKNOWN, f"the budget trains the sync expert {self._fold_config().steps} steps, "
                                          "too few to tell who speaks")
            remember_verdict(self.model_folder, key, found)
        if found is None:
            if self._speaker_check is None:
                experts, folds = fold_experts(self.dataset, self.data, self.model_folder, self._fold_config(),
                                              progress)
                readings = [expert_reading(self.dataset, self.data, expert, np.flatnonzero(folds != k))
                            for k, expert in enumerate(experts)]
                self._speaker_check = experts, folds, readings
            found = judge(self.dataset, self.data, *self._speaker_check, media, first, stop, config)
            remember_verdict(self.model_folder, key, found)
        return found

    def speaker_experts_key(self) -> str:
        return fold_experts_key(self.dataset.manifest, self._fold_config())

    def _fold_config(self) -> FoldExpertConfig:
        return fold_config_of(self.meta)

    def detail_bank(self, config: DetailConfig | None) -> DetailBank | None:
        """The actor's registered real mouths (every usable prepared frame), built once per setting."""
        if config is None or config.strength <= 0 or not self.model.config.canonical:
            return None
        if config not in self._banks:
            frames = torch.nonzero(self.data.valid).flatten()
            self._banks[config] = build_bank(self.model, self.data, frames, config)
        return self._banks[config]

    @property
    def model_id(self) -> str:
        return model_id(self.meta)

    def geometry(self, video: Path, info, frames: FrameRange, config: RenderConfig,
                 progress: Progress) -> tuple[FrameGeometry, dict]:
        """The frames' geometry, and where it came from (prepared, or tracked with an identity check)."""
        clip = find_clip(self.dataset, Path(video), self._digests, frames)
        if clip is not None:
            g = self.dataset.geometry
            first = int(np.flatnonzero((g["clip_index"] == clip["index"]) & (g["frame_index"] == frames.start))[0])
            return prepared_geometry(self.dataset, self.data, first, len(frames)), {"prepared": True,
                                                                                     "digest": clip["digest"]}
        geometry = tracked_geometry(self.dataset, self.data, info, frames, FaceHint.parse(config.face), progress)
        distance = self._identity.distance(info, frames, geometry)
        origin = {"prepared": False, "digest": self._digests.digest(Path(video)), "identity_distance": distance}
        if distance is not None and distance > self._identity.threshold:
            progress.log(f"{video}: this face looks like someone other than actor {self.dataset.manifest['actor']!r} "
                         f"(identity distance {distance:.2f}; the same person is below {self._identity.threshold:.2f}); "
                         "rendering anyway")
        return geometry, origin

    def render(self, video: Path, audio: Path | np.ndarray, target: Path, config: RenderConfig = RenderConfig(),
               range_text: str | None = None, progress: Progress | None = None,
               speech: np.ndarray | None = None, audio_source: tuple[Path, float] | None = None) -> dict:
        """Render ``video`` (or its ``range_text``) speaking ``audio``: a file, or 16 kHz mono samples.

        ``speech`` (per frame) overrides speech detection on ``audio``: a caller cutting a
        segment from a longer stem knows better, since detection on a second of speech
        cut out of its context can miss it all and close the mouth while it talks.
        ``audio_source`` (file, start in seconds) is the file the samples were cut from: the
        clip's sound is taken from it at its own rate and channels, not the 16 kHz analysis copy.
        """
        progress = progress or NullProgress()
        started = time.monotonic()
        if config.fit not in FIT_POLICIES:
            raise S2LError(f"--fit {config.fit!r}: choose one of {', '.join(FIT_POLICIES)}")
        target = Path(target)
        config.encode.validate(target)
        refuse_overwrite(target, [("the source clip", Path(video)),
                                  ("the dub audio", None if isinstance(audio, np.ndarray) else Path(audio)),
                                  ("the pose clip", Path(config.pose_from) if config.pose_from else None)])
        info = probe_video(video)
        if info.is_variable_rate:
            raise S2LError(f"{video}: variable frame rate; conform it to a constant rate before rendering")
        frames = parse_range(range_text, info)
        # Cheap checks first: a bad audio file should not cost a tracking pass.
        raw = load_audio(audio) if not isinstance(audio, np.ndarray) else np.asarray(audio, np.float32)
        audio_name = str(Path(audio).resolve()) if not isinstance(audio, np.ndarray) else None
        times = info.frame_times_s[frames.start:frames.stop] - float(info.frame_time(frames.start))
        video_s = float(np.sum(info.frame_durations_s[frames.start:frames.stop]))
        samples, kept = _fit_audio(raw, video_s, times, config.fit, audio_name or "dub audio")
        if speech is not None and len(speech) < kept:
            raise S2LError(f"{video}: speech flags for {len(speech)} frames, rendering {kept}")
        poses, pose_report = None, None
        driving = self._driving_rotations(config, progress) if config.pose_from else None

        # Only the frames that will be rendered: tracking frames a trim drops is wasted work.
        geometry, origin = self.geometry(Path(video), info, FrameRange(frames.start, frames.start + kept), config,
                                         progress)
        data, model = self.data, self.model
        if config.pose_control:
            *poses, capped = target_poses(geometry.rvecs, geometry.tvecs, config.pose, driving)
            if capped:
                progress.log(f"{Path(video).name}: pose change capped at {config.pose.max_change_deg:g}° "
                             f"on {capped} frames")
            pose_report = {"yaw_deg": config.pose.yaw_deg, "pitch_deg": config.pose.pitch_deg,
                           "from": config.pose_from, "capped_frames": capped, "hole_share": 0.0}
        mel, silent = _drive(samples, times, self.resting_mel, config, kept, None if speech is None else speech[:kept])

        target.parent.mkdir(parents=True, exist_ok=True)
        sweep_temporaries(target.parent)
        audio_track = temp_name(target.with_suffix(".wav"), "audio")
        track_s = float(np.sum(info.frame_durations_s[frames.start:frames.start + kept]))
        if audio_source is None and not isinstance(audio, np.ndarray):
            audio_source = (Path(audio), 0.0)
        if audio_source is not None:
            cut_audio(audio_source[0], audio_source[1], track_s, audio_track)
        else:
            sf.write(audio_track, samples, 16000, subtype="FLOAT")
        lost = lost_ranges(geometry.valid[:kept])
        if lost:
            spans = ", ".join(f"{frames.start + a}-{frames.start + b}" for a, b in lost[:6])
            progress.log(f"{Path(video).name}: no face on frames {spans}; passed through untouched")

        timecode = add_frames_to_timecode(info.timecode, frames.start, info.frame_rate) if info.timecode else None
        learned_offset = model.depth.offset.detach() if config.pose_control else None
        hole_pixels, head_pixels = 0, 0
        bank = self.detail_bank(config.detail)
        progress.start(f"rendering {Path(video).name}", int(kept))
        try:
            planar = info.pix_fmt == "yuv420p" and info.width % 2 == 0 and info.height % 2 == 0
            with atomic_path(target) as tmp:
                encoder = FrameEncoder(tmp, info.width, info.height, info.frame_rate, config.encode, audio_track,
                                       info.color, timecode, "yuv420p" if planar else "rgb24")
                rgb_frames = iter_frames(info, frames.start, frames.start + kept)
                planes = iter_frames(info, frames.start, frames.start + kept, "yuv420p") if planar else None
                for start in range(0, kept, config.batch_size):
                    local = np.arange(start, min(start + config.batch_size, kept))
                    decoded = [next(rgb_frames) for _ in local]
                    source_planes = [next(planes) for _ in local] if planar else None
                    turned = None
                    if poses is not None:
                        turned = [_turn_head(frame, geometry, int(i), (poses[0][i], poses[1][i]), data,
                                             learned_offset, config.pose)
                                  if geometry.valid[i] else None for frame, i in zip(decoded, local)]
                        hole_pixels += sum(int(t.holes.sum()) for t in turned if t is not None)
                        head_pixels += sum(int(t.changed.astype(bool).sum()) for t in turned if t is not None)
                    for frame in _synthesise(model, data, geometry, local, mel, decoded, source_planes, info, config,
                                             bank,
                                             None if poses is None else (poses[0][local], poses[1][local]),
                                             turned):
                        encoder.write(frame)
                    progress.advance(len(local))
                encoder.close()
        finally:
            audio_track.unlink(missing_ok=True)

        offset, confidence = (None, None)
        if self.expert is not None and model.config.canonical:
            offset, confidence = lips_sync(model, self.expert, data, geometry.time_norm[:kept], mel)
        canonical_euler = self.dataset.geometry["euler_deg"][int(self.dataset.geometry["canonical"])]
        turn = geometry.euler_deg[:kept, :2] - canonical_euler[:2]
        if pose_report is not None:
            pose_report["hole_share"] = round(hole_pixels / max(1, head_pixels), 4)
        sidecar = {
            "format": "s2l-render.1",
            "s2l_dub_version": __version__,
            "source": {"path": str(Path(video).resolve()), "digest": origin["digest"],
                       "frames": [frames.start, frames.start + kept], "prepared": origin["prepared"],
                       "frame_rate": str(info.frame_rate), "timecode": timecode},
            "audio": {"path": audio_name, "seconds": round(len(samples) / 16000, 4), "fit": config.fit},
            "model": {"folder": str(self.model_folder.resolve()), "run_key": self.meta.get("run_key"),
                      "steps": self.meta.get("steps"), "id": self.model_id},
            "codec": config.encode.codec,
            "detail": dataclasses.asdict(config.detail) if bank is not None else None,
            "frames": int(kept),
            "silent_frames": int(silent.sum()),
            "face_lost_frames": [[frames.start + a, frames.start + b] for a, b in lost],
            "pose": pose_report,
            "scores": {
                "sync_offset_frames": offset,
                "sync_confidence": None if confidence is None else round(confidence, 4),
                "face_lost_share": round(float(sum(b - a for a, b in lost)) / max(1, kept), 4),
                "max_head_turn_deg": round(float(np.nanmax(np.abs(turn))), 1) if np.isfinite(turn).any() else None,
                "identity_distance": origin.get("identity_distance"),
            },
            "seconds": round(time.monotonic() - started, 2),
        }
        write_json(target.with_suffix(target.suffix + ".json"), sidecar)
        return sidecar

    def _driving_rotations(self, config: RenderConfig, progress: Progress) -> np.ndarray:
        """Head rotations of every frame of the ``pose_from`` clip, posed with this actor's head model."""
        info = probe_video(Path(config.pose_from))
        geometry = tracked_geometry(self.dataset, self.data, info, FrameRange(0, info.frame_count),
                                    FaceHint.parse(config.face), progress)
        return np.where(geometry.valid[:, None], geometry.rvecs, np.nan)


def render_clip(dataset_root: Path, model_folder: Path, video: Path, audio: Path, target: Path,
                config: RenderConfig = RenderConfig(), range_text: str | None = None,
                progress: Progress | None = None) -> dict:
    return ActorRenderer(dataset_root, model_folder).render(video, audio, target, config, range_text, progress)


def _load_expert(folder: Path) -> tuple[SyncExpert | None, dict]:
    path = folder / EXPERT_FILE
    if not path.exists():
        return None, {}
    expert = SyncExpert()
    meta = checkpoint.load_weights(path, expert)
    return expert.eval(), meta


@torch.no_grad()
def lips_sync(model, expert: SyncExpert, data: TrainingData, time_norm: torch.Tensor, mel: torch.Tensor):
    """The sync expert's best audio offset (frames) and confidence for lips generated from ``mel``.

    Lips are generated and embedded a chunk at a time, so memory stays flat in clip length.
    """
    half = SYNC_FRAMES // 2
    if len(time_norm) <= 2 * half:
        return 0, float("nan")
    centres = torch.arange(half, len(time_norm) - half)
    visual = []
    for chunk in centres.split(EMBED_CHUNK):
        frames = torch.arange(int(chunk[0]) - half, int(chunk[-1]) + half + 1)
        lips = model.sync_lips(mel[_audio_context(frames, data, len(mel))], time_norm[frames])
        visual.append(expert.embed_lips(sync_windows(lips, chunk - frames[0])))
    return offset_from_embeddings(expert, torch.cat(visual), mel, centres)


def _audio_context(frames: torch.Tensor, data: TrainingData, length: int) -> torch.Tensor:
    """Rows of each frame's audio context (as the model was trained: ``data.context_index``), inside ``length``."""
    half = data.context_index.shape[1] // 2
    return (frames[:, None] + torch.arange(-half, half + 1)[None]).clamp(0, length - 1)


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


def _drive(samples: np.ndarray, times: np.ndarray, resting_mel: torch.Tensor, config: RenderConfig, kept: int,
           speech: np.ndarray | None = None):
    """Per-frame mel windows of the new audio; silent frames get the actor's resting audio."""
    features = AudioFeatureConfig()
    mel = torch.from_numpy(windows_at(log_mel(samples, features), times[:kept], features))
    if speech is None:
        speech = speech_flags(times[:kept], speech_segments(samples, features.sample_rate, VadConfig()))
    silent = ~np.asarray(speech, bool)
    if config.silence_closes_mouth and silent.any():
        mel[torch.from_numpy(silent)] = resting_mel
    return mel, silent


def resting_window(dataset: ActorDataset, data: TrainingData) -> torch.Tensor:
    """One of the actor's own audio windows, heard while the mouth was closed: what silence sounds like to the model.

    A dub's silence is often digital silence, far quieter than any room tone the model heard, and
    on the sample anchor it opened the mouth. The quietest window was no answer: it lay at the
    clip's start, padded with silence while the anchor's mouth was open mid-sentence (aperture
    0.066, against 0.036 at rest). So: training frames away from the clip's edges, in the most
    closed quarter of the prepared mouths; of those, the ones the VAD found silent (all of them if
    none is), and of those the one of median loudness.
    """
    g = dataset.geometry
    clip = g["clip_index"]
    first = np.searchsorted(clip, clip)  # frames are stored clip after clip
    last = np.searchsorted(clip, clip, side="right") - 1
    margin = int(np.ceil(0.5 * data.mel.shape[1] * AudioFeatureConfig().hop_s / np.median(g["frame_duration_s"]))) + 1
    position = np.arange(len(clip))
    inner = torch.from_numpy((position - first >= margin) & (last - position >= margin))
    candidates = data.train_index[inner[data.train_index]]
    if not len(candidates):
        candidates = data.train_index
    aperture = torch.from_numpy(mouth_aperture(g["landmarks"][candidates.numpy()]).astype(np.float32))
    closed = candidates[aperture <= torch.quantile(aperture, 0.25)]
    silent = closed[~data.speech[closed]]
    closed = silent if len(silent) else closed
    loudness = data.mel[closed].mean(dim=(1, 2))
    return data.mel[closed[torch.argsort(loudness)[len(closed) // 2]]]


@torch.no_grad()
def _synthesise(model, data: TrainingData, geometry: FrameGeometry, local: np.ndarray, mel: torch.Tensor,
                decoded: list[np.ndarray], planes: list[np.ndarray] | None, info, config: RenderConfig,
                bank: DetailBank | None,
                poses: tuple[np.ndarray, np.ndarray] | None = None, turned: list | None = None) -> list[np.ndarray]:
    """Render a batch of frames: model at crop resolution, pasted back into the full frames.

    ``mel`` holds the whole segment's windows and ``local`` the batch's frames in it, so
    each frame's audio context reaches across batch boundaries. With pose control,
    ``turned`` holds each frame's head already moved to ``poses`` (R, t); the mouth is
    then rendered at the new pose on top of it.
    """
    sources = decoded if turned is None else [_with_head(frame, t) for frame, t in zip(decoded, turned)]
    # Crops cut from the frames in hand: reading the cached crops would map the whole
    # cache into memory over a long clip.
    batch = geometry.batch(data, local, np.stack([_crop(frame, geometry, int(i)) for frame, i in zip(sources, local)]),
                           poses)
    positions = torch.from_numpy(local)
    batch["mel_context"] = mel[_audio_context(positions, data, len(mel))]
    batch["mel"] = mel[positions]
    holes = None
    if turned is not None:
        holes = torch.stack([_window_holes(t, geometry, int(i), batch["window_origins"][k], data.window_hw)
                             for k, (t, i) in enumerate(zip(turned, local))])
    output, _, mask, _ = model.render_window(data, batch, holes, detail=bank)
    matrix, full_range = decoding_matrix(info.color)
    frames = []
    for k, frame in enumerate(decoded):
        untouched = planes[k] if planes is not None else frame
        if not bool(geometry.valid[local[k]]):
            frames.append(untouched)
            continue
        layers = []
        if turned is not None:
            x0, y0, _, _ = turned[k].box
            layers.append((turned[k].image, turned[k].changed, x0, y0))
        hole_window = None if holes is None else holes[k]
        layers.append(_patch(output[k], mask[k], geometry, int(local[k]), batch["window_origins"][k], data.window_hw,
                             frame.shape, config.feather_px, hole_window))
        out = untouched
        for patch, alpha, x0, y0 in layers:
            if planes is not None:
                out = composite_i420(out, info.width, info.height, patch, alpha, x0, y0, matrix, full_range)
            else:
                out = out.copy()
                region = out[y0:y0 + alpha.shape[0], x0:x0 + alpha.shape[1]].astype(np.float32)
                a = alpha[..., None]
                out[y0:y0 + alpha.shape[0], x0:x0 + alpha.shape[1]] = np.clip(region * (1 - a) + patch * a + 0.5, 0, 255)
        frames.append(out)
    return frames


def _turn_head(frame: np.ndarray, geometry: FrameGeometry, i: int, pose: tuple[np.ndarray, np.ndarray],
               data: TrainingData, learned_offset: torch.Tensor, config: PoseConfig):
    """Frame ``i``'s head forward-warped to ``pose`` (see ``render.pose``)."""
    vertices, triangles = geometry.mesh
    margin = config.falloff * geometry.region_px
    own = (rotation_matrices(geometry.rvecs[i]), geometry.tvecs[i])
    box = head_box(vertices, [own, pose], geometry.K_frame, margin, frame.shape[:2])
    rel_R, rel_t = geometry.relative(np.array([i]))
    crop = (geometry.crop_origins[i], geometry.crop_scale, geometry.crop_K(np.array([i]))[0], data.K_canonical,
            rel_R[0], rel_t[0])
    depth = head_depth(vertices, triangles, geometry.rvecs[i], geometry.tvecs[i], geometry.K_frame, box,
                       learned_offset, crop)
    return repose(frame, depth, geometry.K_frame, own, pose, box, margin)


def _with_head(frame: np.ndarray, turned) -> np.ndarray:
    if turned is None:
        return frame
    x0, y0, w, h = turned.box
    out = frame.copy()
    out[y0:y0 + h, x0:x0 + w] = turned.image
    return out


def _window_holes(turned, geometry: FrameGeometry, i: int, window_origin: torch.Tensor,
                  window_hw: tuple[int, int]) -> torch.Tensor:
    """(1, h, w) holes the forward warp left in frame ``i``'s mouth window, for Blend-Net to fill."""
    win_h, win_w = window_hw
    if turned is None:
        return torch.zeros(1, win_h, win_w)
    ox, oy = (int(v) for v in geometry.crop_origins[i])
    x0, y0, w, h = turned.box
    size = geometry.region_px
    full = np.zeros((size, size), np.float32)
    # The box and the crop overlap in source pixels; copy the shared part.
    ax0, ay0 = max(ox, x0), max(oy, y0)
    ax1, ay1 = min(ox + size, x0 + w), min(oy + size, y0 + h)
    if ax1 > ax0 and ay1 > ay0:
        full[ay0 - oy:ay1 - oy, ax0 - ox:ax1 - ox] = turned.holes[ay0 - y0:ay1 - y0, ax0 - x0:ax1 - x0]
    crop = cv2.resize(full, (geometry.crop_px, geometry.crop_px), interpolation=cv2.INTER_AREA) if size != geometry.crop_px else full
    wx, wy = (int(v) for v in window_origin)
    return torch.from_numpy((crop[wy:wy + win_h, wx:wx + win_w] > 0.25).astype(np.float32))[None]


def _crop(frame: np.ndarray, geometry: FrameGeometry, i: int) -> np.ndarray:
    """Frame ``i``'s lower-face region at crop resolution, as `prepare` caches it."""
    ox, oy = (int(v) for v in geometry.crop_origins[i])
    size = geometry.region_px
    region = frame[oy:oy + size, ox:ox + size]
    if size == geometry.crop_px:
        return region
    return cv2.resize(region, (geometry.crop_px, geometry.crop_px), interpolation=cv2.INTER_AREA)


def _patch(window: torch.Tensor, mask: torch.Tensor, geometry: FrameGeometry, i: int, window_origin: torch.Tensor,
           window_hw: tuple[int, int], frame_shape: tuple[int, ...], feather_px: int,
           holes: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray, int, int]:
    """The crop-space window resampled into source pixels: (RGB patch, blend weights, left, top)."""
    scale = geometry.crop_scale
    ox, oy = (int(v) for v in geometry.crop_origins[i])
    wx, wy = (int(v) for v in window_origin)
    win_h, win_w = window_hw
    x0, y0 = int(np.floor(ox + wx / scale)), int(np.floor(oy + wy / scale))
    x1 = min(frame_shape[1], int(np.ceil(ox + (wx + win_w) / scale)))
    y1 = min(frame_shape[0], int(np.ceil(oy + (wy + win_h) / scale)))
    xs = (np.arange(x0, x1) - ox + 0.5) * scale - 0.5 - wx
    ys = (np.arange(y0, y1) - oy + 0.5) * scale - 0.5 - wy
    map_x, map_y = np.meshgrid(xs.astype(np.float32), ys.astype(np.float32))
    # Cubic: a linear resample here would be the third to soften the lips' edges after O2C and C2O.
    rendered = np.clip(cv2.remap((window.permute(1, 2, 0).numpy() * 255).astype(np.float32), map_x, map_y,
                                 cv2.INTER_CUBIC), 0, 255)
    # A Blend-Net that acts over the whole window (models trained with blend_reach "window") also
    # retouches the seam just outside the paste mask: widen it, then soften.
    region = (mask[0].numpy() > 0.01)
    if holes is not None:
        region = region | (holes[0].numpy() > 0)
    region = cv2.dilate(region.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(np.float32)
    soft = cv2.remap(region, map_x, map_y, cv2.INTER_LINEAR)
    soft = cv2.GaussianBlur(soft, (0, 0), feather_px) if feather_px > 0 else soft
    soft = np.where(soft < 1 / 255, 0, np.clip(soft * 1.5, 0, 1))
    return rendered, soft, x0, y0
