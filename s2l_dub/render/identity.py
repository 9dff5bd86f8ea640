"""Is the face in a clip the actor's? A warning, not a refusal: look-alikes and doubles exist.

Both sides use dlib's face descriptor (see ``face.identity``) on a few frames, computed
from landmarks we already have, so no extra detection runs. The actor's descriptor comes
from the prepared footage and is cached beside the model, keyed by the dataset.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..artifacts import read_json, stable_key, write_json
from ..dataset.store import ActorDataset
from ..errors import BackendUnavailableError
from ..face.identity import SAME_PERSON_DISTANCE, FaceIdentifier, descriptor_distance
from ..media import FrameRange, VideoInfo, iter_frames, probe_video
from .geometry import FrameGeometry

SAMPLED_FRAMES = 6


class IdentityCheck:
    def __init__(self, dataset: ActorDataset, cache: Path, threshold: float = SAME_PERSON_DISTANCE):
        self.dataset = dataset
        self.cache = Path(cache)
        self.threshold = threshold
        self._identifier: FaceIdentifier | None = None

    def distance(self, info: VideoInfo, frames: FrameRange, geometry: FrameGeometry) -> float | None:
        """Descriptor distance between the clip's face and the actor's; None when either cannot be seen."""
        try:
            actor = self.actor_descriptor()
            picks = _spread(np.flatnonzero(geometry.valid), SAMPLED_FRAMES)
            clip = self._describe(info, [frames.start + int(i) for i in picks], geometry.landmarks[picks])
        except BackendUnavailableError:
            return None
        if actor is None or clip is None:
            return None
        return round(descriptor_distance(actor, clip), 4)

    def actor_descriptor(self) -> np.ndarray | None:
        key = stable_key("identity", self.dataset.manifest["stages"].get("geometry"), SAMPLED_FRAMES)
        if self.cache.exists():
            cached = read_json(self.cache)
            if cached.get("key") == key:
                return None if cached["descriptor"] is None else np.asarray(cached["descriptor"], np.float32)
        g = self.dataset.geometry
        descriptors = []
        for clip in self.dataset.manifest["clips"]:
            path = Path(clip["path"])
            if not path.exists():
                continue
            rows = np.flatnonzero((g["clip_index"] == clip["index"]) & g["valid"])
            picks = _spread(rows, SAMPLED_FRAMES)
            found = self._describe(probe_video(path), [int(g["frame_index"][r]) for r in picks], g["landmarks"][picks])
            if found is not None:
                descriptors.append(found)
        descriptor = np.mean(descriptors, axis=0) if descriptors else None
        # The footage may be offline; then there is nothing to compare, and nothing is cached.
        if descriptor is not None:
            write_json(self.cache, {"key": key, "descriptor": [float(v) for v in descriptor]})
        return descriptor

    def _describe(self, info: VideoInfo, frame_numbers: list[int], landmarks: np.ndarray) -> np.ndarray | None:
        if not frame_numbers:
            return None
        if self._identifier is None:
            self._identifier = FaceIdentifier()
        found = [self._identifier.describe(next(iter_frames(info, n, n + 1)), lm)
                 for n, lm in zip(frame_numbers, landmarks)]
        return np.mean(found, axis=0)


def _spread(rows: np.ndarray, count: int) -> np.ndarray:
    if len(rows) == 0:
        return rows
    return rows[np.unique(np.linspace(0, len(rows) - 1, min(count, len(rows))).astype(int))]
