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
    if not isinstance(manifest, dict):
        raise S2LError(f"{manifest_path}: not a dataset manifest; re-run `s2l-dub prepare`")
    check_format(manifest, DATASET_FORMAT, manifest_path)
    clips = manifest.get("clips")
    if not isinstance(clips, list) or not clips or not all(isinstance(c, dict) for c in clips):
        raise S2LError(f"{manifest_path}: damaged manifest (no clips); re-run `s2l-dub prepare`")
    try:
        geometry = load_arrays(root / GEOMETRY)
        audio = [load_arrays(dataset_file(root, clip.get("audio_file"), manifest_path)) for clip in clips]
    except S2LError:
        raise
    except Exception as e:  # numpy and zipfile raise many types for a damaged .npz
        raise S2LError(f"{root}: damaged dataset ({type(e).__name__}: {str(e)[:120]}); "
                       "re-run `s2l-dub prepare`") from e
    return ActorDataset(root=root, manifest=manifest, geometry=geometry, audio=audio)


def dataset_file(root: Path, name: object, manifest_path: Path) -> Path:
    """A file the manifest names, which must be a plain name inside the dataset folder."""
    if not isinstance(name, str) or not name or Path(name).name != name or name.startswith("."):
        raise S2LError(f"{manifest_path}: names the file {name!r}, which is not inside the dataset; "
                       "re-run `s2l-dub prepare`")
    return Path(root) / name
