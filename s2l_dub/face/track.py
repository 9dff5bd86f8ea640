"""Follow one actor's face through a clip: ROI re-detection every frame, 68 landmarks.

Detecting in a window around the last face (scaled so the face is a fixed size) is
cheap and keeps the detector's box convention on every frame, so landmarks do not
drift as they would if boxes were derived from the previous landmarks. A full-frame
search runs at the start, after the face is lost, and once per `rescan_s` to count
faces in shot.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Iterator

import cv2
import numpy as np

from ..errors import S2LError
from .backends import FaceBox, Landmarker


@dataclasses.dataclass(frozen=True)
class TrackConfig:
    backend: str = "dlib"
    """Landmark backend name (see `s2l-dub plugins`)."""
    roi_face_px: int = 110
    """Face width the search window is rescaled to before re-detection."""
    roi_margin: float = 0.6
    """Search window margin around the last face box, in face widths."""
    full_search_max_px: int = 960
    """Longest image side for full-frame search; larger frames are downscaled first."""
    rescan_s: float = 1.0
    """Seconds between full-frame scans that count faces in shot."""
    coast_frames: int = 3
    """Frames the last box is reused when the detector misses (blinks, motion blur)."""
    min_iou: float = 0.3
    """Overlap with the last box a detection needs to count as the same face."""

    def validate(self) -> None:
        if self.roi_face_px < 40 or self.roi_margin < 0 or self.rescan_s <= 0 or self.coast_frames < 0:
            raise S2LError(f"invalid tracking config: {self}")


@dataclasses.dataclass(frozen=True)
class FaceHint:
    """Which face is the actor when several are in shot."""

    point: tuple[float, float] | None = None
    """Normalised (x, y) in [0, 1]: the face nearest this point."""

    @classmethod
    def parse(cls, text: str | None) -> "FaceHint":
        if not text:
            return cls()
        named = {"left": (0.25, 0.5), "right": (0.75, 0.5), "center": (0.5, 0.5), "centre": (0.5, 0.5)}
        if text.lower() in named:
            return cls(named[text.lower()])
        try:
            x, y = (float(v) for v in text.split(","))
        except ValueError:
            raise S2LError(f"--face {text!r}: use left, right, center or X,Y with X and Y in 0..1") from None
        if not (0 <= x <= 1 and 0 <= y <= 1):
            raise S2LError(f"--face {text!r}: X and Y must lie in 0..1")
        return cls((x, y))


@dataclasses.dataclass
class TrackResult:
    landmarks: np.ndarray
    """(T, 68, 2) float32 pixel coordinates; NaN where the face was not found."""
    boxes: np.ndarray
    """(T, 4) float32 detector boxes (left, top, right, bottom); NaN where not found."""
    found: np.ndarray
    """(T,) bool."""
    faces_in_shot: np.ndarray
    """(T,) int16: faces seen by the last full-frame scan (-1 before the first scan)."""


def iou(a: FaceBox, b: FaceBox) -> float:
    ix = max(0.0, min(a.right, b.right) - max(a.left, b.left))
    iy = max(0.0, min(a.bottom, b.bottom) - max(a.top, b.top))
    inter = ix * iy
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union > 0 else 0.0


class FaceTracker:
    def __init__(self, landmarker: Landmarker, config: TrackConfig, frame_rate: float, hint: FaceHint = FaceHint()):
        config.validate()
        self.landmarker = landmarker
        self.config = config
        self.hint = hint
        self.rescan_every = max(1, int(round(config.rescan_s * frame_rate)))
        self._last: FaceBox | None = None
        self._misses = 0
        self._frame_no = 0
        self._faces_in_shot = -1
        self.coasting = False
        """Whether the last result reused the previous box rather than a fresh detection."""

    def track(self, frames: Iterable[np.ndarray]) -> Iterator[tuple[np.ndarray | None, FaceBox | None, int]]:
        """Yield (landmarks or None, box or None, faces in shot) per frame."""
        for frame in frames:
            yield self.step(frame)

    def step(self, frame: np.ndarray) -> tuple[np.ndarray | None, FaceBox | None, int]:
        scan = self._frame_no % self.rescan_every == 0
        self._frame_no += 1
        box = None
        if scan or self._last is None:
            faces = self._full_search(frame)
            self._faces_in_shot = len(faces)
            box = self._pick(faces, frame.shape)
        if box is None and self._last is not None:
            box = self._roi_search(frame)
        self.coasting = False
        if box is None and self._last is not None and self._misses < self.config.coast_frames:
            self._misses += 1
            self.coasting = True
            box = self._last
        elif box is not None:
            self._misses = 0
        if box is None:
            self._last = None
            return None, None, self._faces_in_shot
        self._last = box
        return self.landmarker.landmarks(frame, box), box, self._faces_in_shot

    def _pick(self, faces: list[FaceBox], shape: tuple[int, ...]) -> FaceBox | None:
        if not faces:
            return None
        if self._last is not None:
            best = max(faces, key=lambda f: iou(f, self._last))
            return best if iou(best, self._last) >= self.config.min_iou else None
        if self.hint.point is not None:
            px, py = self.hint.point[0] * shape[1], self.hint.point[1] * shape[0]
            return min(faces, key=lambda f: (f.center[0] - px) ** 2 + (f.center[1] - py) ** 2)
        return max(faces, key=lambda f: f.width * f.height)

    def _full_search(self, frame: np.ndarray) -> list[FaceBox]:
        h, w = frame.shape[:2]
        scale = min(1.0, self.config.full_search_max_px / max(h, w))
        small = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else frame
        faces = self.landmarker.detect(small)
        if not faces:
            # Small faces (wide shots, portrait phone video) need the image enlarged.
            up = min(2.0, 2.0 * scale) if scale < 1 else 2.0
            big = cv2.resize(frame, None, fx=up, fy=up, interpolation=cv2.INTER_LINEAR)
            return [f.scaled(1 / up) for f in self.landmarker.detect(big)]
        return [f.scaled(1 / scale) for f in faces]

    def _roi_search(self, frame: np.ndarray) -> FaceBox | None:
        last = self._last
        h, w = frame.shape[:2]
        size = max(last.width, last.height)
        pad = size * self.config.roi_margin
        x0, y0 = int(max(0, last.left - pad)), int(max(0, last.top - pad))
        x1, y1 = int(min(w, last.right + pad)), int(min(h, last.bottom + pad))
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        scale = self.config.roi_face_px / size
        crop = frame[y0:y1, x0:x1]
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=interp)
        faces = [f.scaled(1 / scale, x0, y0) for f in self.landmarker.detect(crop)]
        return self._pick(faces, frame.shape)


def run_tracker(tracker: FaceTracker, frames: Iterable[np.ndarray], frame_count: int, on_frame=None) -> TrackResult:
    landmarks = np.full((frame_count, 68, 2), np.nan, np.float32)
    boxes = np.full((frame_count, 4), np.nan, np.float32)
    faces = np.full(frame_count, -1, np.int16)
    coasted = np.zeros(frame_count, bool)
    for i, (lm, box, n_faces) in enumerate(tracker.track(frames)):
        if lm is not None:
            landmarks[i] = lm
            boxes[i] = box.as_array()
        coasted[i] = tracker.coasting
        faces[i] = n_faces
        if on_frame is not None:
            on_frame(i)
    # Coasting bridges a missed detection only when the face is found again right after;
    # otherwise (a cut, the actor leaving) those frames hold landmarks of nothing.
    face_follows = False  # is the first non-coasted frame after i a detection?
    for i in range(frame_count - 1, -1, -1):
        if not coasted[i]:
            face_follows = not np.isnan(landmarks[i, 0, 0])
        elif not face_follows:
            landmarks[i] = np.nan
            boxes[i] = np.nan
    found = ~np.isnan(landmarks[:, 0, 0])
    return TrackResult(landmarks=landmarks, boxes=boxes, found=found, faces_in_shot=faces)


def lost_ranges(found: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive (first, last) frame ranges where the face is missing."""
    ranges, start = [], None
    for i, ok in enumerate(found):
        if not ok and start is None:
            start = i
        elif ok and start is not None:
            ranges.append((start, i - 1))
            start = None
    if start is not None:
        ranges.append((start, len(found) - 1))
    return ranges
