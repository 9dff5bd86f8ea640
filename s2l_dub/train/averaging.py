"""An exponential moving average of the weights (Polyak averaging), for validation and the finished model.

With about a minute of footage and a constant learning rate, held-out quality swings by
±0.3 dB from one checkpoint to the next (BENCHMARKS.md); the average of the recent
weights smooths that out.
"""

from __future__ import annotations

import contextlib

import torch

PREFIX = "average."
UPDATES = "average_updates"


class WeightAverage:
    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.updates = 0
        self.tensors = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self._parameters = {name for name, _ in model.named_parameters()}

    def current_decay(self) -> float:
        # Early on the average would be mostly the random initial weights; its horizon grows with the run.
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        weight = 1 - self.current_decay()
        for name, value in model.state_dict().items():
            if name in self._parameters:
                self.tensors[name].lerp_(value.detach(), weight)
            else:  # buffers (audio statistics, time limit) are set, not learnt: keep them as they are
                self.tensors[name].copy_(value)

    @contextlib.contextmanager
    def applied(self, model: torch.nn.Module):
        """``model`` holds the averaged weights inside the block, its own again after."""
        own = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.tensors)
        try:
            yield model
        finally:
            model.load_state_dict(own)

    def state(self) -> dict[str, torch.Tensor]:
        return {**{PREFIX + k: v.contiguous() for k, v in self.tensors.items()}, UPDATES: torch.tensor(self.updates)}

    def load(self, tensors: dict[str, torch.Tensor]) -> bool:
        """Restore from checkpoint tensors; False where they hold no average (a run without one)."""
        stored = _stored_average(tensors)
        if not stored:
            return False
        for name in self.tensors:
            if name in stored:
                self.tensors[name] = stored[name].clone()
        self.updates = int(tensors[UPDATES])
        return True


def averaged_weights(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Checkpoint tensors with the averaged weights in place of the raw ones, where there is an average."""
    stored = _stored_average(tensors)
    if not stored:
        return tensors
    return {**tensors, **{f"model.{k}": v for k, v in stored.items()}}


def _stored_average(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The averaged weights among checkpoint tensors, by their names in the model."""
    return {k[len(PREFIX):]: v for k, v in tensors.items() if k.startswith(PREFIX)}
