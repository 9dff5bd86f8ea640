"""Who is on screen: dlib's 128-d face descriptors, and grouping clips by face.

The descriptor network ships in ``face-recognition-models``, so this works offline.
Two descriptors closer than about 0.6 (Euclidean) are the same person by dlib's own
calibration; clips are grouped with average linkage under that threshold.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import BackendUnavailableError
from .dlib_backend import DlibLandmarker, model_file

SAME_PERSON_DISTANCE = 0.6


@dataclasses.dataclass(frozen=True)
class FaceSample:
    descriptor: np.ndarray
    """Mean unit-free 128-d descriptor of the main face over the sampled frames."""
    frames_with_face: int
    frames_sampled: int
    most_faces: int
    """The largest number of faces seen in one sampled frame."""


class FaceIdentifier:
    def __init__(self) -> None:
        try:
            import dlib
        except ImportError as e:
            raise BackendUnavailableError("face identity needs dlib (pip install dlib-bin)") from e
        self._landmarker = DlibLandmarker()
        self._encoder = dlib.face_recognition_model_v1(str(model_file("dlib_face_recognition_resnet_model_v1.dat")))
        self._dlib = dlib

    def sample(self, frames: list[np.ndarray]) -> FaceSample | None:
        """The largest face's mean descriptor over ``frames``; None when no frame shows a face."""
        descriptors, most = [], 0
        for image in frames:
            image = np.ascontiguousarray(image)
            boxes = self._landmarker.detect(image)
            most = max(most, len(boxes))
            if not boxes:
                continue
            box = max(boxes, key=lambda b: b.width * b.height)
            descriptors.append(self.describe(image, self._landmarker.landmarks(image, box)))
        if not descriptors:
            return None
        return FaceSample(np.mean(descriptors, axis=0), len(descriptors), len(frames), most)

    def describe(self, image: np.ndarray, landmarks68: np.ndarray) -> np.ndarray:
        xs, ys = landmarks68[:, 0], landmarks68[:, 1]
        rect = self._dlib.rectangle(int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))
        points = self._dlib.points([self._dlib.point(int(round(x)), int(round(y))) for x, y in landmarks68])
        shape = self._dlib.full_object_detection(rect, points)
        return np.asarray(self._encoder.compute_face_descriptor(np.ascontiguousarray(image), shape), np.float32)


def descriptor_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)))


def cluster_faces(descriptors: np.ndarray, threshold: float = SAME_PERSON_DISTANCE) -> np.ndarray:
    """Group labels (0, 1, ... in order of first appearance) for each descriptor."""
    descriptors = np.asarray(descriptors, np.float64)
    if len(descriptors) == 0:
        return np.zeros(0, int)
    if len(descriptors) == 1:
        return np.zeros(1, int)
    from scipy.cluster.hierarchy import fcluster, linkage

    tree = linkage(descriptors, method="average", metric="euclidean")
    raw = fcluster(tree, t=threshold, criterion="distance")
    order: dict[int, int] = {}
    return np.array([order.setdefault(int(r), len(order)) for r in raw])
