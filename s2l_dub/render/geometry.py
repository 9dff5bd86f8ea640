"""Where the actor's face is in the frames being rendered, in the model's crop and canonical spaces.

A prepared clip's geometry comes straight from its dataset. Any other clip of the actor
is tracked here and posed with the actor's own fitted 3D shape and focal length, so its
frames map into the canonical view the model was trained in. Tracking keeps a few
numbers per frame; depth maps are rendered batch by batch, so memory stays flat in
clip length.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ..dataset.store import ActorDataset
from ..errors import NoFaceError
from ..face.backends import load_landmarker
from ..face.depth import render_depth
from ..face.geometry import euler_degrees, intrinsics, relative_pose, rotation_matrices, solve_pose
from ..face.regions import RegionConfig, lower_face_regions
from ..face.smoothing import SmoothingConfig, fill_short_gaps, smooth_landmarks
from ..face.track import FaceHint, FaceTracker, TrackConfig, run_tracker
from ..media import FrameRange, VideoInfo, iter_frames
from ..model.gamem import crop_intrinsics
from ..progress import NullProgress, Progress
from ..train.data import TrainingData, fill_missing_depth, mouth_window_origins


@dataclasses.dataclass
class FrameGeometry:
    """Per-frame geometry of a run of consecutive frames (indices are local, 0..n-1)."""

    valid: np.ndarray
    """(n,) bool: the face was tracked and posed; other frames pass through untouched."""
    landmarks: np.ndarray
    """(n, 68, 2) smoothed landmarks in source pixels."""
    rvecs: np.ndarray
    tvecs: np.ndarray
    """(n, 3) head pose in the camera, ``X_cam = R @ X_model + t``."""
    K_frame: np.ndarray
    """(3, 3) intrinsics of the source frame."""
    region_px: int
    """Side of the lower-face region in source pixels."""
    crop_origins: np.ndarray
    """(n, 2) top-left of each frame's lower-face region."""
    crop_px: int
    time_norm: torch.Tensor
    canonical_pose: tuple[np.ndarray, np.ndarray]
    """(R, t) of the actor's canonical frame."""
    mesh: tuple[np.ndarray, np.ndarray]
    """The actor's head mesh: vertices in model space, triangles."""
    depth_px: int
    depth_fallback: float
    cached_depth: torch.Tensor | None = None
    """(n, d, d) crop depth when it is already in memory (prepared clips)."""

    @property
    def crop_scale(self) -> float:
        return self.crop_px / self.region_px

    @property
    def euler_deg(self) -> np.ndarray:
        return np.array([euler_degrees(r) if ok else (np.nan,) * 3 for r, ok in zip(self.rvecs, self.valid)])

    def crop_K(self, local: np.ndarray) -> torch.Tensor:
        K = crop_intrinsics(np.broadcast_to(self.K_frame, (len(local), 3, 3)).copy(),
                            self.crop_origins[local].astype(np.float64), self.region_px, self.crop_px)
        return torch.from_numpy(K).float()

    def relative(self, local: np.ndarray, poses: tuple[np.ndarray, np.ndarray] | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """Canonical-to-observed pose of frames ``local``, or of the same frames moved to ``poses`` (R, t)."""
        R, t = self.poses(local) if poses is None else poses
        rel_R, rel_t = relative_pose(*self.canonical_pose, R, t)
        return torch.from_numpy(rel_R).float(), torch.from_numpy(rel_t).float()

    def poses(self, local: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, 3, 3) rotations and (B, 3) translations of frames ``local`` (zeros where untracked)."""
        return rotation_matrices(np.nan_to_num(self.rvecs[local])), np.nan_to_num(self.tvecs[local])

    def observed_depth(self, local: np.ndarray, poses: tuple[np.ndarray, np.ndarray] | None = None) -> torch.Tensor:
        """(B, d, d) camera depth over each frame's lower-face crop (optionally at other poses)."""
        if self.cached_depth is not None and poses is None:
            return self.cached_depth[torch.as_tensor(local)]
        d = self.depth_px
        out = np.full((len(local), d, d), np.nan, np.float32)
        for k, i in enumerate(local):
            if self.valid[i]:
                rvec, tvec = (self.rvecs[i], self.tvecs[i]) if poses is None else (_rodrigues(poses[0][k]), poses[1][k])
                x0, y0 = (float(v) for v in self.crop_origins[i])
                out[k] = render_depth(*self.mesh, rvec, tvec, self.K_frame,
                                      (x0, y0, self.region_px, self.region_px), (d, d))
        return torch.from_numpy(fill_missing_depth(out, self.depth_fallback))

    def batch(self, data: TrainingData, local: np.ndarray, crops: np.ndarray,
              poses: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
        """The model's inputs for frames ``local`` (audio is added by the caller)."""
        K = self.crop_K(local)
        rel_R, rel_t = self.relative(local, poses)
        windows = mouth_window_origins(data.lip_box, data.depth0.numpy(), data.K_canonical.numpy(), K.numpy(),
                                       rel_R.numpy(), rel_t.numpy(), data.window_hw, self.crop_px)
        return {
            "crops": torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255,
            "K": K,
            "R": rel_R,
            "t": rel_t,
            "observed_depth": self.observed_depth(local, poses),
            "time": self.time_norm[torch.as_tensor(local)],
            "window_origins": torch.from_numpy(windows),
        }


def prepared_geometry(dataset: ActorDataset, data: TrainingData, first: int, count: int) -> FrameGeometry:
    """Frames ``first..first+count-1`` of the dataset, as prepared."""
    g = dataset.geometry
    span = slice(first, first + count)
    clip = int(g["clip_index"][first])
    return FrameGeometry(
        valid=g["valid"][span].copy(),
        landmarks=g["landmarks"][span],
        rvecs=g["rvecs"][span],
        tvecs=g["tvecs"][span],
        K_frame=g["K"][clip],
        region_px=int(g["lower_face_size"]),
        crop_origins=data.crop_origins[span],
        crop_px=data.crop_px,
        time_norm=data.time_norm[span],
        canonical_pose=_canonical_pose(dataset),
        mesh=(g["mesh_vertices"], g["mesh_triangles"]),
        depth_px=int(data.observed_depth.shape[-1]),
        depth_fallback=float(np.nanmedian(data.depth0.numpy())),
        cached_depth=data.observed_depth[span],
    )


def tracked_geometry(dataset: ActorDataset, data: TrainingData, info: VideoInfo, frames: FrameRange,
                     hint: FaceHint = FaceHint(), progress: Progress | None = None) -> FrameGeometry:
    """Track a clip the actor was not prepared on and pose it with the actor's own head model."""
    progress = progress or NullProgress()
    g = dataset.geometry
    config = dataset.manifest["config"]
    track = TrackConfig(**config["track"])
    smoothing = SmoothingConfig(**config["smoothing"])
    regions = RegionConfig(**config["regions"])
    rate = float(info.frame_rate)

    progress.start(f"tracking {info.path.name}", len(frames))
    tracker = FaceTracker(load_landmarker(track.backend), track, rate, hint)
    result = run_tracker(tracker, iter_frames(info, frames.start, frames.stop), len(frames),
                         on_frame=lambda _: progress.advance())
    if not result.found.any():
        raise NoFaceError(f"{info.path}: no face found in frames {frames.start}-{frames.stop - 1}")
    if (result.faces_in_shot > 1).any():
        progress.log(f"{info.path.name}: several faces in shot; following the largest (use --face to choose)")
    filled, valid = fill_short_gaps(result.landmarks, result.found, int(round(smoothing.max_gap_s * rate)))
    landmarks = smooth_landmarks(filled, valid, rate, smoothing)

    # The actor's focal length is a multiple of the image's longer side (see face.geometry).
    first_clip = dataset.manifest["clips"][0]
    multiplier = float(g["K"][0][0, 0]) / max(first_clip["width"], first_clip["height"])
    K = intrinsics(info.width, info.height, multiplier * max(info.width, info.height))
    rvecs = np.full((len(frames), 3), np.nan)
    tvecs = np.full((len(frames), 3), np.nan)
    guess = None
    for i in np.flatnonzero(valid):
        rvecs[i], tvecs[i] = solve_pose(g["shape"], landmarks[i], K, guess)
        guess = (rvecs[i], tvecs[i]) if np.isfinite(rvecs[i]).all() else None
    valid = valid & np.isfinite(rvecs).all(-1)

    sizes = np.tile([info.width, info.height], (len(frames), 1))
    lower = lower_face_regions(landmarks, valid, sizes, regions)
    time_norm = torch.full((len(frames),), float(data.time_norm[data.canonical]))
    return FrameGeometry(
        valid=valid,
        landmarks=landmarks,
        rvecs=rvecs,
        tvecs=tvecs,
        K_frame=K,
        region_px=lower.size_px,
        crop_origins=lower.origins.astype(np.int64),
        crop_px=data.crop_px,
        # Unseen footage has no place on the training clock; the canonical frame's moment
        # is one the model knows well, and a constant keeps the mouth free of flicker.
        time_norm=time_norm,
        canonical_pose=_canonical_pose(dataset),
        mesh=(g["mesh_vertices"], g["mesh_triangles"]),
        depth_px=int(data.observed_depth.shape[-1]),
        depth_fallback=float(np.nanmedian(data.depth0.numpy())),
    )


def _canonical_pose(dataset: ActorDataset) -> tuple[np.ndarray, np.ndarray]:
    g = dataset.geometry
    canonical = int(g["canonical"])
    return rotation_matrices(g["rvecs"][canonical]), g["tvecs"][canonical]


def _rodrigues(rotation: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.Rodrigues(np.asarray(rotation, np.float64))[0].ravel()
