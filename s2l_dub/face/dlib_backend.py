"""dlib's HOG face detector and 68-point shape predictor: the offline default.

The predictor's weights come from the ``face-recognition-models`` package. That
package's own ``import`` needs pkg_resources (gone from new setuptools), so the data
file is located through importlib instead of importing it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from ..errors import BackendUnavailableError
from .backends import FaceBox

MODELS_PACKAGE = "face_recognition_models"


def model_file(name: str) -> Path:
    spec = importlib.util.find_spec(MODELS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailableError(
            f"dlib backend needs the '{MODELS_PACKAGE.replace('_', '-')}' package (pip install face-recognition-models)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / name
    if not path.exists():
        raise BackendUnavailableError(f"dlib backend: model file missing: {path}")
    return path


class DlibLandmarker:
    name = "dlib"
    min_face_px = 80

    def __init__(self) -> None:
        try:
            import dlib
        except ImportError as e:
            raise BackendUnavailableError("dlib backend needs dlib (pip install dlib-bin)") from e
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(model_file("shape_predictor_68_face_landmarks.dat")))
        self._rectangle = dlib.rectangle

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        rects, scores, _ = self._detector.run(np.ascontiguousarray(image), 0, -0.2)
        return [FaceBox(r.left(), r.top(), r.right(), r.bottom(), float(s)) for r, s in zip(rects, scores)]

    def landmarks(self, image: np.ndarray, box: FaceBox) -> np.ndarray:
        rect = self._rectangle(int(round(box.left)), int(round(box.top)), int(round(box.right)), int(round(box.bottom)))
        shape = self._predictor(np.ascontiguousarray(image), rect)
        return np.array([(p.x, p.y) for p in shape.parts()], np.float32)
