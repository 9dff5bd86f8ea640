"""Actor dataset: the prepared, tracked, posed and canonicalised footage of one actor."""

from .prepare import PrepareConfig, prepare_actor
from .store import ActorDataset, load_dataset

__all__ = ["PrepareConfig", "prepare_actor", "ActorDataset", "load_dataset"]
