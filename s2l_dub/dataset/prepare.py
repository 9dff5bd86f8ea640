"""`s2l-dub prepare`: turn an actor's footage into a tracked, posed, canonicalised dataset.

Stages, each cached under a key made from the content and config that produced it:
track (per clip) -> audio (per clip) -> geometry (all clips) -> crops -> contact sheet.
Re-running with the same inputs does nothing; a changed input recomputes only the
stages downstream of it.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from .. import __version__
from ..artifacts import (DigestCache, NpyStreamWriter, atomic_path, load_arrays, read_json, safe_name, save_arrays,
                         stable_key, sweep_temporaries, write_json)
from ..audio.features import AudioFeatureConfig, log_mel, windows_at
from ..audio.vad import VadConfig, speech_flags, speech_segments
from ..errors import ClipTooShortError, FaceLostError, NoAudioError, NoFaceError
from ..face.backends import load_landmarker
from ..face.depth import fill_outside, head_mesh, render_depth
from ..face.geometry import GeometryConfig, euler_degrees, fit_head, intrinsics, relative_pose, rotation_matrices
from ..face.regions import RegionConfig, choose_canonical, lip_box, lip_mask, lower_face_regions
from ..face.smoothing import SmoothingConfig, fill_short_gaps, smooth_landmarks
from ..face.track import FaceHint, FaceTracker, TrackConfig, lost_ranges, run_tracker
from ..face.warp import map_points
from ..media import FrameRange, VideoInfo, iter_frames, load_audio, parse_range, probe_video
from ..progress import NullProgress, Progress
from .store import CONTACT_SHEET, CROP_DEPTH, CROPS, DATASET_FORMAT, GEOMETRY, MANIFEST, ActorDataset, load_dataset


@dataclasses.dataclass(frozen=True)
class PrepareConfig:
    track: TrackConfig = TrackConfig()
    smoothing: SmoothingConfig = SmoothingConfig()
    geometry: GeometryConfig = GeometryConfig()
    regions: RegionConfig = RegionConfig()
    audio: AudioFeatureConfig = AudioFeatureConfig()
    vad: VadConfig = VadConfig()
    max_lost_share: float = 0.2
    """Fail when the face is missing on more than this share of a clip's frames."""
    min_usable_s: float = 3.0
    """Fail when less tracked footage than this remains to train on."""
    crop_depth_px: int = 64
    """Side of the per-frame depth maps stored over the lower-face crop."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ClipInput:
    path: Path
    range_text: str | None = None


def dataset_dir(out: Path, actor: str) -> Path:
    return Path(out) / "actors" / safe_name(actor, "actor") / "dataset"


def prepare_actor(clips: list[ClipInput], actor: str, out: Path, config: PrepareConfig = PrepareConfig(),
                  face_hint: FaceHint = FaceHint(), canonical_override: int | None = None,
                  progress: Progress | None = None) -> ActorDataset:
    progress = progress or NullProgress()
    started = time.monotonic()
    root = dataset_dir(out, actor)
    root.mkdir(parents=True, exist_ok=True)
    # A run killed mid-write leaves its temporary files; they never hold a finished artifact
    # (those of a prepare still running, in another process, are left to it).
    sweep_temporaries(root)
    old = read_json(root / MANIFEST) if (root / MANIFEST).exists() else {}
    old_stages = old.get("stages", {}) if old.get("format") == DATASET_FORMAT else {}
    stages: dict[str, str] = {}
    digests = DigestCache(root / "digests.json")

    infos, ranges, clip_meta = [], [], []
    for i, clip in enumerate(clips):
        info = probe_video(clip.path)
        if not info.has_audio:
            raise NoAudioError(f"{clip.path}: no audio stream (prepare needs the actor's own speech)")
        frames = parse_range(clip.range_text, info)
        infos.append(info)
        ranges.append(frames)
        clip_meta.append(_clip_meta(i, info, frames, digests.digest(clip.path), clip.range_text))

    def cached(name: str, key: str, *files: Path) -> bool:
        stages[name] = key
        return old_stages.get(name) == key and all(f.exists() for f in files)

    # Track and audio, per clip.
    tracks, audios = [], []
    for meta, info, frames in zip(clip_meta, infos, ranges):
        track_file = root / meta["track_file"]
        key = stable_key("track", meta["digest"], [frames.start, frames.stop], config.track,
                         face_hint.point, __version__)
        if not cached(f"track/{meta['index']}", key, track_file):
            progress.start(f"tracking {info.path.name}", len(frames))
            landmarker = load_landmarker(config.track.backend)
            tracker = FaceTracker(landmarker, config.track, float(info.frame_rate), face_hint)
            result = run_tracker(tracker, iter_frames(info, frames.start, frames.stop), len(frames),
                                 on_frame=lambda _: progress.advance())
            save_arrays(track_file, landmarks=result.landmarks, boxes=result.boxes, found=result.found,
                        faces_in_shot=result.faces_in_shot)
        tracks.append(load_arrays(track_file))

        audio_file = root / meta["audio_file"]
        key = stable_key("audio", meta["digest"], [frames.start, frames.stop], config.audio, config.vad, __version__)
        if not cached(f"audio/{meta['index']}", key, audio_file):
            progress.start(f"audio features {info.path.name}", None)
            _audio_stage(info, frames, config, audio_file)
        audios.append(load_arrays(audio_file))

    _check_faces(infos, ranges, tracks, config, progress)

    # Geometry over all clips together: one actor, one shape, one canonical frame.
    geometry_file = root / GEOMETRY
    geometry_key = stable_key("geometry", [stages[f"track/{m['index']}"] for m in clip_meta], config.smoothing,
                              config.geometry, config.regions, config.max_lost_share, canonical_override, __version__)
    if not cached("geometry", geometry_key, geometry_file):
        progress.start("head pose and depth", None)
        geometry = _geometry_stage(infos, ranges, tracks, config, canonical_override)
        save_arrays(geometry_file, **geometry)
    geometry = load_arrays(geometry_file)

    usable_s = float(np.sum(geometry["valid"] * geometry["frame_duration_s"]))
    if usable_s < config.min_usable_s:
        raise ClipTooShortError(
            f"{clips[0].path}: only {usable_s:.1f} s of tracked footage for {actor!r}; "
            f"training needs at least {config.min_usable_s:.1f} s"
        )

    crops_key = stable_key("crops", geometry_key, config.crop_depth_px, __version__)
    if not cached("crops", crops_key, root / CROPS, root / CROP_DEPTH):
        _crops_stage(infos, ranges, geometry, config, root, progress)

    sheet_key = stable_key("sheet", crops_key, __version__)
    if not cached("sheet", sheet_key, root / CONTACT_SHEET):
        progress.start("contact sheet", None)
        from .contact_sheet import write_contact_sheet

        write_contact_sheet(root / CONTACT_SHEET, actor, infos, ranges, geometry)

    if stages != old_stages or not (root / MANIFEST).exists():
        summary = _summary(geometry, tracks, clip_meta, time.monotonic() - started)
        write_json(root / MANIFEST, {
            "format": DATASET_FORMAT,
            "s2l_dub_version": __version__,
            "actor": actor,
            "clips": clip_meta,
            "config": config.to_dict(),
            "face_hint": face_hint.point,
            "canonical_override": canonical_override,
            "stages": stages,
            "summary": summary,
        })
    dataset = load_dataset(root)
    dataset.manifest["summary"]["seconds"] = round(time.monotonic() - started, 2)
    dataset.manifest["summary"]["cached"] = stages == old_stages
    return dataset


def _clip_meta(index: int, info: VideoInfo, frames: FrameRange, digest: str, range_text: str | None) -> dict:
    return {
        "index": index,
        "path": str(info.path.resolve()),
        "digest": digest,
        "range": [frames.start, frames.stop],
        "range_text": range_text,
        "frames": len(frames),
        "width": info.width,
        "height": info.height,
        "rotation_deg": info.rotation_deg,
        "codec": info.codec,
        "frame_rate": str(info.frame_rate),
        "rate_label": info.rate_label,
        "variable_rate": info.is_variable_rate,
        "time_base": str(info.time_base),
        "timecode": info.timecode,
        "track_file": f"clip_{index:03d}_track.npz",
        "audio_file": f"clip_{index:03d}_audio.npz",
    }


def _audio_stage(info: VideoInfo, frames: FrameRange, config: PrepareConfig, target: Path) -> None:
    cfg = config.audio
    samples = load_audio(info.path, cfg.sample_rate)
    audio_start = float(info.audio_start_s or 0)
    times = info.frame_times_s[frames.start:frames.stop] - audio_start
    mel = log_mel(samples, cfg)
    windows = windows_at(mel, times, cfg)
    flags = speech_flags(times, speech_segments(samples, cfg.sample_rate, config.vad))
    # Keep the range's samples (with half a second either side) for the sync expert.
    lo = max(0, int((times[0] - 0.5) * cfg.sample_rate))
    hi = min(len(samples), int((times[-1] + 0.5) * cfg.sample_rate))
    save_arrays(target, mel_windows=windows.astype(np.float16), speech=flags, samples=samples[lo:hi],
                samples_start_s=np.float64(lo / cfg.sample_rate + audio_start),
                frame_times_s=times + audio_start)


def _check_faces(infos, ranges, tracks, config: PrepareConfig, progress: Progress) -> None:
    for info, frames, track in zip(infos, ranges, tracks):
        found = track["found"]
        if not found.any():
            raise NoFaceError(f"{info.path}: no face found in frames {frames.start}-{frames.stop - 1}")
        lost = 1 - found.mean()
        if lost > config.max_lost_share:
            times = info.frame_times_s[frames.start:frames.stop] - float(info.start_s)
            spans = ", ".join(f"{times[a]:.2f}-{times[b]:.2f}s" for a, b in lost_ranges(found)[:6])
            raise FaceLostError(
                f"{info.path}: face lost on {lost:.0%} of frames (limit {config.max_lost_share:.0%}): {spans}"
            )
        if lost > 0:
            spans = ", ".join(f"{frames.start + a}-{frames.start + b}" for a, b in lost_ranges(found)[:6])
            progress.log(f"{info.path.name}: face missing on frames {spans}; those frames are left out of training")
        crowded = (track["faces_in_shot"] > 1).mean()
        if crowded > 0:
            progress.log(f"{info.path.name}: several faces in shot on {crowded:.0%} of frames; following the "
                         "largest (use --face to choose)")


def _geometry_stage(infos, ranges, tracks, config: PrepareConfig, canonical_override: int | None) -> dict:
    landmarks, valid, clip_index, frame_index, frame_pts, durations, sizes = [], [], [], [], [], [], []
    for c, (info, frames, track) in enumerate(zip(infos, ranges, tracks)):
        rate = float(info.frame_rate)
        max_gap = int(round(config.smoothing.max_gap_s * rate))
        filled, ok = fill_short_gaps(track["landmarks"], track["found"], max_gap)
        landmarks.append(smooth_landmarks(filled, ok, rate, config.smoothing))
        valid.append(ok)
        n = len(frames)
        clip_index.append(np.full(n, c, np.int32))
        frame_index.append(np.arange(frames.start, frames.stop, dtype=np.int64))
        frame_pts.append(info.frame_pts[frames.start:frames.stop])
        durations.append(info.frame_durations_s[frames.start:frames.stop])
        sizes.append(np.tile([info.width, info.height], (n, 1)))
    landmarks, valid = np.concatenate(landmarks), np.concatenate(valid)
    clip_index, sizes = np.concatenate(clip_index), np.concatenate(sizes)

    fit = fit_head(landmarks, valid, sizes, config.geometry)
    valid = valid & np.isfinite(fit.rvecs).all(-1)
    canonical = choose_canonical(fit.rvecs, landmarks, valid) if canonical_override is None else canonical_override
    if not (0 <= canonical < len(valid)) or not valid[canonical]:
        raise FaceLostError(f"canonical frame {canonical} is not a tracked frame (0-{len(valid) - 1})")
    Ks = np.stack([intrinsics(i.width, i.height, fit.focal_multiplier * max(i.width, i.height)) for i in infos])
    rotations = rotation_matrices(np.nan_to_num(fit.rvecs))
    r_canon, t_canon = rotations[canonical], fit.tvecs[canonical]
    rel_R, rel_t = relative_pose(r_canon, t_canon, rotations, np.nan_to_num(fit.tvecs))

    vertices, triangles = head_mesh(fit.shape)
    c_info = infos[clip_index[canonical]]
    K_c = Ks[clip_index[canonical]]
    depth = render_depth(vertices, triangles, fit.rvecs[canonical], t_canon, K_c,
                         (0, 0, c_info.width, c_info.height), (c_info.width, c_info.height))
    depth_filled, measured = fill_outside(depth)

    # Every frame's mouth seen from the canonical view: observed mouth pixels, lifted with
    # the fitted shape's depth in that frame, moved by the inverse relative pose.
    mouth_model = fit.shape[48:68]
    canon_mouths = np.full((len(valid), 20, 2), np.nan)
    for i in np.flatnonzero(valid):
        cam = mouth_model @ rotations[i].T + fit.tvecs[i]
        inv_R, inv_t = rel_R[i].T, -rel_R[i].T @ rel_t[i]
        canon_mouths[i], _ = map_points(landmarks[i, 48:68], cam[:, 2], Ks[clip_index[i]], K_c, inv_R, inv_t)
    box = lip_box(canon_mouths[valid], config.regions)
    mask = lip_mask(box[2], box[3], config.regions.mask_feather)
    lower = lower_face_regions(landmarks, valid, sizes, config.regions)
    euler = np.array([euler_degrees(r) if np.isfinite(r).all() else (np.nan,) * 3 for r in fit.rvecs])

    return {
        "landmarks": landmarks.astype(np.float32),
        "valid": valid,
        "clip_index": clip_index,
        "frame_index": np.concatenate(frame_index),
        "frame_pts": np.concatenate(frame_pts),
        "frame_duration_s": np.concatenate(durations),
        "K": Ks,
        "focal_search_px": np.array(list(fit.focal_search.items())),
        "shape": fit.shape,
        "rvecs": fit.rvecs,
        "tvecs": fit.tvecs,
        "euler_deg": euler,
        "reprojection_px": fit.reprojection_px,
        "canonical": np.int64(canonical),
        "rel_R": rel_R,
        "rel_t": rel_t,
        "mesh_vertices": vertices,
        "mesh_triangles": triangles,
        "canonical_depth": depth_filled.astype(np.float32),
        "canonical_depth_measured": measured,
        "canonical_mouths": canon_mouths.astype(np.float32),
        "lip_box": np.array(box, np.int32),
        "lip_mask": mask,
        "lower_face_size": np.int64(lower.size_px),
        "lower_face_origins": lower.origins,
    }


def _crops_stage(infos, ranges, geometry, config: PrepareConfig, root: Path, progress: Progress) -> None:
    size = int(geometry["lower_face_size"])
    crop_px = min(size, config.regions.crop_max_px)
    n = len(geometry["valid"])
    dpx = config.crop_depth_px
    import cv2

    with atomic_path(root / CROPS) as crops_tmp, atomic_path(root / CROP_DEPTH) as depth_tmp:
        crops = NpyStreamWriter(crops_tmp, (n, crop_px, crop_px, 3), np.uint8)
        depths = NpyStreamWriter(depth_tmp, (n, dpx, dpx), np.float16)
        no_depth = np.full((dpx, dpx), np.nan, np.float16)
        offset = 0
        for c, (info, frames) in enumerate(zip(infos, ranges)):
            progress.start(f"caching crops {info.path.name}", len(frames))
            K = geometry["K"][c]
            for j, frame in enumerate(iter_frames(info, frames.start, frames.stop)):
                i = offset + j
                x0, y0 = (int(v) for v in geometry["lower_face_origins"][i])
                crop = frame[y0:y0 + size, x0:x0 + size]
                crops.write(cv2.resize(crop, (crop_px, crop_px), interpolation=cv2.INTER_AREA)
                            if crop_px != size else crop)
                if geometry["valid"][i]:
                    depths.write(render_depth(geometry["mesh_vertices"], geometry["mesh_triangles"],
                                              geometry["rvecs"][i], geometry["tvecs"][i], K,
                                              (x0, y0, size, size), (dpx, dpx)))
                else:
                    depths.write(no_depth)
                progress.advance()
            offset += len(frames)
        crops.close()
        depths.close()


def _summary(geometry, tracks, clip_meta, seconds: float) -> dict:
    valid = geometry["valid"]
    euler = geometry["euler_deg"][valid]
    canonical = int(geometry["canonical"])
    c = int(geometry["clip_index"][canonical])
    found = np.concatenate([t["found"] for t in tracks])
    return {
        "frames": int(len(valid)),
        "faces_found_share": float(found.mean()),
        "usable_frames": int(valid.sum()),
        "yaw_range_deg": [float(euler[:, 0].min()), float(euler[:, 0].max())],
        "pitch_range_deg": [float(euler[:, 1].min()), float(euler[:, 1].max())],
        "roll_range_deg": [float(euler[:, 2].min()), float(euler[:, 2].max())],
        "reprojection_px_mean": float(np.nanmean(geometry["reprojection_px"][valid])),
        "reprojection_px_p95": float(np.nanpercentile(geometry["reprojection_px"][valid], 95)),
        "focal_px": float(geometry["K"][0][0, 0]),
        "canonical": {"index": canonical, "clip": c, "source_frame": int(geometry["frame_index"][canonical]),
                      "path": clip_meta[c]["path"]},
        "lip_box": [int(v) for v in geometry["lip_box"]],
        "lower_face_px": int(geometry["lower_face_size"]),
        "seconds": round(seconds, 2),
    }
