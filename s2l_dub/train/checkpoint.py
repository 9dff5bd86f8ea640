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

from ..artifacts import atomic_path, read_json, user_file_mode, write_json
from ..errors import ArtifactVersionError, S2LError

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
    os.chmod(tmp / "weights.safetensors", user_file_mode())  # safetensors creates it 0600
    (tmp / "state.json").write_text(json.dumps({"format": MODEL_FORMAT, "step": step, **(meta or {})}, indent=2))
    final = folder / name
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    write_json(folder / "latest.json", {"checkpoint": name, "step": step})
    # The one just written is the newest whatever the names say; only the run's earlier steps are
    # kept beside it (a checkpoint of a higher step can only be a leftover of another run).
    earlier = sorted(p for p in folder.glob("ckpt-*") if p.name < name)
    for old in [p for p in folder.glob("ckpt-*") if p.name > name] + earlier[:-(KEEP - 1) or None]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def clear(folder: Path) -> None:
    """Remove every checkpoint of a run whole: a new run must not mix with an old one's steps."""
    folder = Path(folder)
    for path in [*folder.glob("ckpt-*"), *folder.glob(".ckpt-*.tmp")]:
        shutil.rmtree(path, ignore_errors=True)
    (folder / "latest.json").unlink(missing_ok=True)


def read_state(path: Path) -> dict:
    state = read_json(path)
    if not isinstance(state, dict) or state.get("format") not in READABLE_FORMATS:
        raise ArtifactVersionError(
            f"{path}: a model of format {state.get('format')!r}; this s2l-dub reads {MODEL_FORMAT!r} "
            "(retrain with `s2l-dub train`)"
        )
    return state


def load_latest(folder: Path, log=None):
    """(state dict, tensors) of the newest intact checkpoint, or None.

    ``latest.json`` names the newest; where it or its checkpoint is damaged (a truncated file,
    a disk that filled), the newest intact one before it is used and ``log`` told why.
    A checkpoint of another s2l-dub version raises ``ArtifactVersionError``.
    """
    folder = Path(folder)
    named = None
    try:
        pointer = read_json(folder / "latest.json") if (folder / "latest.json").exists() else None
        named = pointer.get("checkpoint") if isinstance(pointer, dict) else None
    except (S2LError, OSError):
        pass
    candidates = sorted((p for p in folder.glob("ckpt-*") if p.is_dir()), reverse=True)
    if named in [p.name for p in candidates]:
        candidates.remove(folder / named)
        candidates.insert(0, folder / named)
    for ckpt in candidates:
        try:
            state = read_state(ckpt / "state.json")
            return state, load_file(str(ckpt / "weights.safetensors"))
        except ArtifactVersionError:
            raise
        except Exception as e:  # safetensors and json raise their own types for damaged files
            if log is not None:
                log(f"{ckpt}: damaged ({type(e).__name__}); trying the one before it")
    return None


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
    # safetensors creates its file 0600: through atomic_path it gets the user's umask like every artifact.
    with atomic_path(path) as tmp:
        save_file(_tensors(model, None, None), str(tmp))
    write_json(path.with_suffix(".json"), {"format": MODEL_FORMAT, **meta})


def load_weights(path: Path, model: torch.nn.Module) -> dict:
    """Load a finished model; a damaged or foreign file is one line that says to retrain."""
    path = Path(path)
    try:
        meta = read_state(path.with_suffix(".json"))
        restore(load_file(str(path)), model)
    except ArtifactVersionError:
        raise
    except Exception as e:  # safetensors, json and torch each raise their own types
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ArtifactVersionError(f"{path}: damaged or not an s2l-dub model ({reason[:160]}); "
                                   "retrain with `s2l-dub train` (or delete the model folder)") from e
    return meta
