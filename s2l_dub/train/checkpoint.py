"""Checkpoints in safetensors: weights, Adam state and RNG as tensors, metadata as JSON.

Nothing is pickled. A checkpoint is a folder written under a temporary name and
renamed into place; ``latest.json`` names the newest complete one and is itself
replaced atomically, so a kill -9 at any moment leaves the previous checkpoint
readable.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..artifacts import read_json, write_json
from ..errors import ArtifactVersionError

MODEL_FORMAT = "s2l-actor-model.2"
"""2: the generator carries per-bin audio statistics and its last trained timestamp as buffers."""
READABLE_FORMATS = ("s2l-actor-model.1", MODEL_FORMAT)
"""Format 1 models lack buffers added since; they load with the neutral values their modules start with."""
KEEP = 2


def _tensors(model: torch.nn.Module, optimizer: torch.optim.Optimizer | None, rng: torch.Generator | None):
    tensors = {f"model.{k}": v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    if optimizer is not None:
        names = {id(p): n for n, p in model.named_parameters()}
        for group in optimizer.param_groups:
            for p in group["params"]:
                for key, value in optimizer.state.get(p, {}).items():
                    value = value if torch.is_tensor(value) else torch.tensor(value)
                    tensors[f"optim.{names[id(p)]}.{key}"] = value.detach().contiguous().clone()
    if rng is not None:
        tensors["rng.batches"] = rng.get_state().clone()
        # Continuous sampling and black holes draw from the global generator.
        tensors["rng.global"] = torch.get_rng_state().clone()
    return tensors


def save_checkpoint(folder: Path, step: int, model, optimizer=None, rng=None, meta: dict | None = None,
                    extra: dict[str, torch.Tensor] | None = None) -> Path:
    """``extra``: more tensors to keep with the weights (a moving average of them)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"ckpt-{step:07d}"
    tmp = folder / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file({**_tensors(model, optimizer, rng), **(extra or {})}, str(tmp / "weights.safetensors"))
    (tmp / "state.json").write_text(json.dumps({"format": MODEL_FORMAT, "step": step, **(meta or {})}, indent=2))
    final = folder / name
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    write_json(folder / "latest.json", {"checkpoint": name, "step": step})
    for old in sorted(folder.glob("ckpt-*"))[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def read_state(path: Path) -> dict:
    state = read_json(path)
    if state.get("format") not in READABLE_FORMATS:
        raise ArtifactVersionError(
            f"{path}: a model of format {state.get('format')!r}; this s2l-dub reads {MODEL_FORMAT!r} "
            "(retrain with `s2l-dub train`)"
        )
    return state


def load_latest(folder: Path):
    """(state dict, tensors) of the newest complete checkpoint, or None."""
    pointer = Path(folder) / "latest.json"
    if not pointer.exists():
        return None
    ckpt = Path(folder) / read_json(pointer)["checkpoint"]
    state = read_state(ckpt / "state.json")
    return state, load_file(str(ckpt / "weights.safetensors"))


def restore(tensors: dict, model, optimizer=None, rng: torch.Generator | None = None) -> None:
    weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    parameters = {name for name, _ in model.named_parameters()}
    for name, value in model.state_dict().items():
        # A buffer newer than the checkpoint keeps the neutral value the module was built with.
        if name not in weights and name not in parameters:
            weights[name] = value
    model.load_state_dict(weights)
    if optimizer is not None:
        for name, p in model.named_parameters():
            prefix = f"optim.{name}."
            state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
            if state:
                optimizer.state[p] = state
    if rng is not None and "rng.batches" in tensors:
        rng.set_state(tensors["rng.batches"])
        torch.set_rng_state(tensors["rng.global"])


def save_weights(path: Path, model: torch.nn.Module, meta: dict) -> None:
    """The finished model: one safetensors file plus a JSON of its configs and metrics."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(_tensors(model, None, None), str(tmp))
    os.replace(tmp, path)
    write_json(path.with_suffix(".json"), {"format": MODEL_FORMAT, **meta})


def load_weights(path: Path, model: torch.nn.Module) -> dict:
    path = Path(path)
    meta = read_state(path.with_suffix(".json"))
    restore(load_file(str(path)), model)
    return meta
