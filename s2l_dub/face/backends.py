"""Landmark backends: a name -> "module:attr" table, imported on first use.

Third-party packages add backends through the ``s2l_dub.landmark_backends`` entry-point
group; ``S2L_DUB_NO_PLUGINS=1`` turns that discovery off. A broken plugin is logged
and skipped rather than breaking every run.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import os
from importlib.metadata import entry_points
from typing import Protocol

import numpy as np

from ..errors import UnknownBackendError

log = logging.getLogger(__name__)

BUILTIN_BACKENDS = {
    "dlib": "s2l_dub.face.dlib_backend:DlibLandmarker",
    "fan": "s2l_dub.face.fan_backend:FanLandmarker",
}


@dataclasses.dataclass(frozen=True)
class FaceBox:
    left: float
    top: float
    right: float
    bottom: float
    score: float = 1.0

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def center(self) -> tuple[float, float]:
        return ((self.left + self.right) / 2, (self.top + self.bottom) / 2)

    def scaled(self, factor: float, dx: float = 0.0, dy: float = 0.0) -> "FaceBox":
        return FaceBox(self.left * factor + dx, self.top * factor + dy, self.right * factor + dx,
                       self.bottom * factor + dy, self.score)

    def as_array(self) -> np.ndarray:
        return np.array([self.left, self.top, self.right, self.bottom], np.float32)


class Landmarker(Protocol):
    """Finds faces and their 68 iBUG landmarks in RGB uint8 images."""

    name: str
    min_face_px: int
    """Smallest face (box width) the detector finds without upsampling."""

    def detect(self, image: np.ndarray) -> list[FaceBox]: ...

    def landmarks(self, image: np.ndarray, box: FaceBox) -> np.ndarray:
        """(68, 2) float32 pixel coordinates for the face in ``box``."""
        ...


def available_backends() -> dict[str, str]:
    table = dict(BUILTIN_BACKENDS)
    if os.environ.get("S2L_DUB_NO_PLUGINS"):
        return table
    for ep in entry_points(group="s2l_dub.landmark_backends"):
        table.setdefault(ep.name, ep.value)
    return table


def load_landmarker(name: str, **options) -> Landmarker:
    table = available_backends()
    if name not in table:
        raise UnknownBackendError(f"unknown landmark backend {name!r}; available: {sorted(table)}")
    module_name, _, attr = table[name].partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        if name in BUILTIN_BACKENDS:
            raise
        log.warning("skipping landmark backend %s (%s): %s", name, table[name], e)
        raise UnknownBackendError(f"landmark backend {name!r} failed to load: {e}") from e
    return factory(**options)
