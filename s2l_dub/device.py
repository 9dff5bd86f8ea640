"""Device choice, settled once per run."""

from __future__ import annotations


def resolve_device(name: str = "auto") -> str:
    """'auto' picks cuda, then mps, then cpu; an explicit name is returned as given."""
    if name != "auto":
        return name
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"
