"""face-alignment (FAN) backend, used when its weights are already in the torch hub cache.

face-alignment downloads its weights on first use; this tool runs offline, so we check
for the files first and name the missing one instead of letting a download fail.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import BackendUnavailableError
from .backends import FaceBox

# File names face-alignment 1.x fetches for 2D landmarks with the SFD detector.
FAN_WEIGHTS = ("2DFAN4-cd938726ad.zip", "s3fd-619a316812.pth")


def hub_checkpoint_dir() -> Path:
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch"
    )
    return Path(torch_home) / "hub" / "checkpoints"


class FanLandmarker:
    name = "fan"
    min_face_px = 40

    def __init__(self, device: str = "cpu") -> None:
        folder = hub_checkpoint_dir()
        missing = [f for f in FAN_WEIGHTS if not (folder / f).exists()]
        if missing:
            raise BackendUnavailableError(
                f"fan backend: weights not found: {folder / missing[0]} (copy face-alignment's weights there; "
                "this tool does not download)"
            )
        try:
            import face_alignment
        except ImportError as e:
            raise BackendUnavailableError("fan backend needs the face-alignment package (pip install face-alignment)") from e
        self._fa = face_alignment.FaceAlignment(face_alignment.LandmarksType.TWO_D, device=device, flip_input=False)

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        boxes = self._fa.face_detector.detect_from_image(image.copy()) or []
        return [FaceBox(*map(float, b[:4]), float(b[4]) if len(b) > 4 else 1.0) for b in boxes]

    def landmarks(self, image: np.ndarray, box: FaceBox) -> np.ndarray:
        found = self._fa.get_landmarks_from_image(image, detected_faces=[box.as_array()])
        if not found:
            return np.full((68, 2), np.nan, np.float32)
        return np.asarray(found[0][:, :2], np.float32)
