"""Head geometry from 2D landmarks alone: intrinsics, a 3D face shape and per-frame pose.

We have no licensed 3D morphable model, so the actor's 3D landmark shape starts from
a generic prior (their own frontal 2D layout, given depth by an ellipsoidal head
with a nose and eye profile) and is refined by bundle adjustment over keyframes where
the head moves, jointly with the keyframes' poses. The focal length is picked from a
small set of fields of view by that same reprojection error.

Conventions: OpenCV camera (x right, y down, z forward); model space has the same
axes for a face looking into the camera, in metres. ``X_cam = R @ X_model + t``.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
from scipy.optimize import least_squares
from scipy.sparse import lil_matrix

from .landmark_sets import BROWS, EYES, RIGID, interocular, mouth_aperture

IOD_M = 0.063
"""Typical adult eye-centre distance; sets the metric scale of the shape."""

# How far each landmark stands out of an ellipsoidal head towards the camera, in
# interocular units: the nose ridge and tip protrude, eyes sit in their sockets.
_PROFILE = np.zeros(68)
_PROFILE[27:31] = [0.05, 0.15, 0.28, 0.42]
_PROFILE[31:36] = [0.12, 0.18, 0.22, 0.18, 0.12]
_PROFILE[EYES] = -0.12
_PROFILE[48:60] = 0.06
_PROFILE[[50, 51, 52, 56, 57, 58]] = 0.10
_PROFILE[60:68] = 0.03
_PROFILE[6:11] = -0.04


@dataclasses.dataclass(frozen=True)
class GeometryConfig:
    focal_multipliers: tuple[float, ...] = (0.9, 1.3, 1.9, 2.8, 4.0)
    """Candidate focal lengths as multiples of the larger image side (~58 to 14 degrees FOV)."""
    default_focal_multiplier: float = 1.9
    """Used unless a candidate fits clearly better: small head motion barely constrains focal length."""
    focal_gain_required: float = 0.03
    """Relative RMS improvement a candidate needs over the default to be chosen."""
    keyframes: int = 80
    """Frames used for bundle adjustment, spread over the footage."""
    shape_prior_weight: float = 3.0
    """Pull of the shape towards the generic prior (per coordinate, in interocular units)."""
    speech_point_weight: float = 0.3
    """Weight of mouth and jaw residuals in bundle adjustment; they move with speech."""


@dataclasses.dataclass
class HeadFit:
    focal_multiplier: float
    """Focal length over the larger image side (the same for every clip of the actor)."""
    shape: np.ndarray
    """(68, 3) model-space landmark positions in metres."""
    rvecs: np.ndarray
    """(T, 3) Rodrigues rotation per frame (NaN where the face was not found)."""
    tvecs: np.ndarray
    """(T, 3) translation per frame in metres."""
    reprojection_px: np.ndarray
    """(T,) mean reprojection error of the rigid landmarks per frame."""
    focal_search: dict[float, float]
    """Candidate focal (px) -> keyframe RMS reprojection error (px)."""


def intrinsics(width: int, height: int, focal_px: float) -> np.ndarray:
    return np.array([[focal_px, 0, width / 2], [0, focal_px, height / 2], [0, 0, 1]], np.float64)


def shape_prior(frontal_landmarks: np.ndarray) -> np.ndarray:
    """A 3D landmark shape from one near-frontal frame's 2D landmarks."""
    pts = frontal_landmarks.astype(np.float64)
    unit = float(interocular(pts))
    centre = np.array([pts[[0, 16], 0].mean(), pts[27:31, 1].mean()])
    xy = (pts - centre) / unit
    half_width = np.abs(xy[16, 0] - xy[0, 0]) / 2 * 1.1
    head_depth = 0.8
    bulge = head_depth * np.sqrt(np.clip(1 - (xy[:, 0] / half_width) ** 2, 0, 1))
    z = -(bulge + _PROFILE)
    z -= z[BROWS].mean()
    return np.column_stack([xy, z]) * IOD_M


def rotation_matrices(rvecs: np.ndarray) -> np.ndarray:
    """Vectorised Rodrigues: (..., 3) axis-angle -> (..., 3, 3)."""
    theta = np.linalg.norm(rvecs, axis=-1, keepdims=True)
    axis = rvecs / np.maximum(theta, 1e-12)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    kx = np.stack([np.stack([zero, -z, y], -1), np.stack([z, zero, -x], -1), np.stack([-y, x, zero], -1)], -2)
    th = theta[..., None]
    eye = np.broadcast_to(np.eye(3), kx.shape)
    return eye + np.sin(th) * kx + (1 - np.cos(th)) * (kx @ kx)


def project(points: np.ndarray, rotation: np.ndarray, translation: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Project model points (..., N, 3) with poses (..., 3, 3), (..., 3) through K (..., 3, 3)."""
    cam = points @ np.swapaxes(rotation, -1, -2) + translation[..., None, :]
    uvw = cam @ np.swapaxes(K, -1, -2)
    return uvw[..., :2] / uvw[..., 2:3]


def euler_degrees(rvec: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of a pose's rotation."""
    angles, *_ = cv2.RQDecomp3x3(cv2.Rodrigues(np.asarray(rvec, np.float64))[0])
    pitch, yaw, roll = angles
    return float(yaw), float(pitch), float(roll)


def relative_pose(r_canon: np.ndarray, t_canon: np.ndarray, r_obs: np.ndarray, t_obs: np.ndarray):
    """The rigid map from canonical-camera to observed-camera coordinates.

    ``X_obs = R_rel @ X_canon + t_rel`` with rotations as 3x3 matrices; the observed
    pose may be batched, (N, 3, 3) and (N, 3).
    """
    r_rel = r_obs @ r_canon.T
    return r_rel, t_obs - r_rel @ t_canon


def solve_pose(shape: np.ndarray, landmarks: np.ndarray, K: np.ndarray, guess=None, idx=RIGID):
    obj = np.ascontiguousarray(shape[idx], np.float64)
    img = np.ascontiguousarray(landmarks[idx], np.float64)
    if guess is None:
        ok, rvec, tvec = cv2.solvePnP(obj, img, K, None, flags=cv2.SOLVEPNP_SQPNP)
    else:
        rvec, tvec = (np.array(g, np.float64).reshape(3, 1) for g in guess)
        ok, rvec, tvec = cv2.solvePnP(obj, img, K, None, rvec, tvec, useExtrinsicGuess=True,
                                      flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        rvec, tvec = np.full((3, 1), np.nan), np.full((3, 1), np.nan)
    return rvec.ravel(), tvec.ravel()


def bundle_adjust(prior: np.ndarray, landmarks: np.ndarray, Ks: np.ndarray, rvecs: np.ndarray, tvecs: np.ndarray,
                  config: GeometryConfig):
    """Refine the shape and keyframe poses together; returns shape, rvecs, tvecs, rms px."""
    n_frames = len(landmarks)
    weights = np.full(68, 1.0)
    weights[np.setdiff1d(np.arange(68), RIGID)] = config.speech_point_weight
    prior_w = np.sqrt(config.shape_prior_weight) / IOD_M

    def unpack(x):
        poses = x[: 6 * n_frames].reshape(n_frames, 6)
        return poses[:, :3], poses[:, 3:], prior + x[6 * n_frames:].reshape(68, 3)

    def residuals(x):
        r, t, shape = unpack(x)
        err = (project(shape, rotation_matrices(r), t, Ks) - landmarks) * weights[None, :, None]
        return np.concatenate([err.ravel(), ((shape - prior) * prior_w).ravel()])

    sparsity = lil_matrix((n_frames * 136 + 204, 6 * n_frames + 204), dtype=np.int8)
    for f in range(n_frames):
        rows = slice(f * 136, (f + 1) * 136)
        sparsity[rows, 6 * f: 6 * f + 6] = 1
        for j in range(68):
            sparsity[f * 136 + 2 * j: f * 136 + 2 * j + 2, 6 * n_frames + 3 * j: 6 * n_frames + 3 * j + 3] = 1
    for k in range(204):
        sparsity[n_frames * 136 + k, 6 * n_frames + k] = 1

    x0 = np.concatenate([np.column_stack([rvecs, tvecs]).ravel(), np.zeros(204)])
    result = least_squares(residuals, x0, jac_sparsity=sparsity, method="trf", loss="soft_l1", f_scale=2.0,
                           x_scale="jac", max_nfev=60)
    r, t, shape = unpack(result.x)
    err = project(shape, rotation_matrices(r), t, Ks)[:, RIGID] - landmarks[:, RIGID]
    rms = float(np.sqrt(np.mean(np.sum(err ** 2, -1))))
    return shape, r, t, rms


def pick_frontal_2d(landmarks: np.ndarray, valid: np.ndarray) -> int:
    """A frame that looks frontal in 2D (nose centred, eyes level) with the mouth closed."""
    idx = np.flatnonzero(valid)
    lm = landmarks[idx]
    width = np.abs(lm[:, 16, 0] - lm[:, 0, 0])
    off_centre = np.abs(lm[:, 30, 0] - (lm[:, 0, 0] + lm[:, 16, 0]) / 2) / width
    eye_l, eye_r = lm[:, 36:42].mean(1), lm[:, 42:48].mean(1)
    tilt = np.abs(np.arctan2(eye_r[:, 1] - eye_l[:, 1], eye_r[:, 0] - eye_l[:, 0]))
    score = off_centre + tilt + 0.5 * mouth_aperture(lm)
    return int(idx[np.argmin(score)])


def fit_head(landmarks: np.ndarray, valid: np.ndarray, image_sizes: np.ndarray, config: GeometryConfig) -> HeadFit:
    """Fit focal length, 3D shape and every valid frame's pose.

    ``image_sizes`` is (T, 2) width/height per frame so clips of different sizes can mix.
    """
    frame_ids = np.flatnonzero(valid)
    keys = frame_ids[np.unique(np.linspace(0, len(frame_ids) - 1, min(config.keyframes, len(frame_ids))).astype(int))]
    prior = shape_prior(landmarks[pick_frontal_2d(landmarks, valid)])
    side = image_sizes.max(axis=1).astype(np.float64)

    def frame_K(i, multiplier):
        return intrinsics(image_sizes[i, 0], image_sizes[i, 1], multiplier * side[i])

    results = {}
    search = {}
    for m in sorted({*config.focal_multipliers, config.default_focal_multiplier}):
        Ks = np.stack([frame_K(i, m) for i in keys])
        poses = [solve_pose(prior, landmarks[i], K) for i, K in zip(keys, Ks)]
        r0, t0 = np.array([p[0] for p in poses]), np.array([p[1] for p in poses])
        shape, _, _, rms = bundle_adjust(prior, landmarks[keys], Ks, r0, t0, config)
        search[float(m * side[keys[0]])] = rms
        results[m] = (rms, shape)
    multiplier = min(results, key=lambda m: results[m][0])
    default_rms = results[config.default_focal_multiplier][0]
    if results[multiplier][0] > default_rms * (1 - config.focal_gain_required):
        multiplier = config.default_focal_multiplier
    shape = results[multiplier][1]

    rvecs = np.full((len(landmarks), 3), np.nan)
    tvecs = np.full((len(landmarks), 3), np.nan)
    reproj = np.full(len(landmarks), np.nan)
    guess = None
    for i in frame_ids:
        K = frame_K(i, multiplier)
        rvec, tvec = solve_pose(shape, landmarks[i], K, guess)
        rvecs[i], tvecs[i] = rvec, tvec
        guess = (rvec, tvec) if np.isfinite(rvec).all() else None
        proj = project(shape[RIGID], rotation_matrices(rvec), tvec, K)
        reproj[i] = float(np.mean(np.linalg.norm(proj - landmarks[i, RIGID], axis=-1)))
    return HeadFit(focal_multiplier=float(multiplier), shape=shape, rvecs=rvecs, tvecs=tvecs,
                   reprojection_px=reproj, focal_search=search)
