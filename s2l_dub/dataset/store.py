"""Reading a prepared actor dataset."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..artifacts import check_format, load_arrays, read_json
from ..errors import S2LError

DATASET_FORMAT = "s2l-actor-dataset.1"
MANIFEST = "manifest.json"
GEOMETRY = "geometry.npz"
CROPS = "crops.npy"
CROP_DEPTH = "crop_depth.npy"
CONTACT_SHEET = "contact_sheet.png"


@dataclasses.dataclass
class ActorDataset:
    root: Path
    manifest: dict
    geometry: dict[str, np.ndarray]
    audio: list[dict[str, np.ndarray]]
    """Per clip: ``mel_windows`` (T, W, M), ``speech`` (T,), ``samples`` 16 kHz mono, ``samples_start_s``."""

    @property
    def frame_count(self) -> int:
        return int(len(self.geometry["valid"]))

    def crops(self) -> np.ndarray:
        """(N, C, C, 3) uint8 lower-face crops, memory-mapped."""
        return np.load(self.root / CROPS, mmap_mode="r")

    def crop_depth(self) -> np.ndarray:
        return np.load(self.root / CROP_DEPTH, mmap_mode="r")

    def mel_windows(self) -> np.ndarray:
        return np.concatenate([a["mel_windows"] for a in self.audio])

    def speech(self) -> np.ndarray:
        return np.concatenate([a["speech"] for a in self.audio])


def load_dataset(root: Path) -> ActorDataset:
    root = Path(root)
    manifest_path = root / MANIFEST
    if not manifest_path.exists():
        raise S2LError(f"{root}: no prepared dataset here (run `s2l-dub prepare` first)")
    manifest = read_json(manifest_path)
    check_format(manifest, DATASET_FORMAT, manifest_path)
    geometry = load_arrays(root / GEOMETRY)
    audio = [load_arrays(root / clip["audio_file"]) for clip in manifest["clips"]]
    return ActorDataset(root=root, manifest=manifest, geometry=geometry, audio=audio)
