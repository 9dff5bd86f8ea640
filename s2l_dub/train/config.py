"""Training configuration and the named budgets users pick with ``--budget``."""

from __future__ import annotations

import dataclasses
import math

from ..model.speech2lip import Speech2LipConfig


VOICE_VARIANTS: tuple[tuple[float, float], ...] = ((1.0, -2.0), (1.0, 2.0), (0.9, 0.0), (1.1, 0.0))
"""(speed, semitones): the actor's audio 2 semitones lower and higher, and 10 % slower and faster."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    model: Speech2LipConfig = Speech2LipConfig()
    steps: int = 6000
    batch_size: int = 8
    learning_rate: float = 5e-4
    lr_schedule: str = "constant"
    """'constant', or 'cosine': decay to ``lr_floor`` of the rate over ``steps``."""
    lr_floor: float = 0.05
    depth_learning_rate: float = 2e-5
    """The depth offset is in metres; a slow rate keeps it a refinement of the mesh."""
    expert_steps: int = 800
    expert_batch: int = 64
    expert_learning_rate: float = 1e-3
    checkpoint_every: int = 250
    preview_every: int = 500
    log_every: int = 10
    held_out_share: float = 0.1
    validation_share: float = 0.0
    """Frames just before the held-out test kept out of training; the checkpoint with the best mouth
    PSNR on them becomes the model. 0: no validation, the last step is the model."""
    patience: int = 0
    """With validation: stop after this many checkpoints without a better score (0: train every step)."""
    validation_min_gain: float = 0.0
    """dB by which a checkpoint must beat the best validation score to become the new best. The
    89-frame slice of the sample anchor cannot rank checkpoints within 0.1 dB of each other, and
    its small late gains came with held-out losses (BENCHMARKS.md)."""
    weight_average: float = 0.0
    """Decay of a moving average of the weights that validation, previews and the finished model use
    (0: the raw weights of the last step)."""
    voice_variants: tuple[tuple[float, float], ...] = VOICE_VARIANTS
    """Copies of the actor's audio, each (speed, semitones), that the generator's training audio is
    drawn from beside the original, one frame at a time (none: the actor's voice alone). A dub is
    spoken by another voice: trained on the actor's alone, the anchor's model read the same words
    3 semitones lower as a wide-open mouth (27.8 dB, LMD 4.27 px, open in silence); with the copies
    it scored 31.3 dB and 3.19 px, for 0.26 dB less in the actor's own voice (BENCHMARKS.md)."""
    expert_voices: bool = True
    """The sync expert learns from the same copies, one window at a time. Trained on the actor's voice
    alone it read sync 3 semitones lower about as well as chance allows (14.8 % top-1 among 16
    against 33.0 % in the actor's own), so its loss steered a dub's lips, and the render's sync
    scores judged them, by a voice it could not hear (BENCHMARKS.md)."""
    seed: int = 0


BUDGETS: dict[str, tuple[str, TrainConfig]] = {
    "fast": ("a first look in minutes: 400 steps, sync expert 200 steps",
             TrainConfig(steps=400, expert_steps=200, checkpoint_every=100, preview_every=200)),
    # About a minute of speech overfits within a few thousand steps (BENCHMARKS.md), so the longer
    # budgets keep a validation slice and stop once it stops improving; the steps are a ceiling.
    # The moving average of the weights steadies the held-out mouth from one checkpoint to the next.
    "default": ("up to 6000 steps, stopping once 5 % of the footage kept for validation stops improving "
                "(25–50 min on 2 CPU cores on the sample actors); sync expert 800 steps",
                TrainConfig(validation_share=0.05, patience=6, validation_min_gain=0.05, weight_average=0.998)),
    "best": ("up to 20000 steps, stopping once validation stops improving; sync expert 2000 steps",
             TrainConfig(steps=20000, expert_steps=2000, checkpoint_every=500, preview_every=1000,
                         validation_share=0.05, patience=6, validation_min_gain=0.05, weight_average=0.998)),
}


LR_SCHEDULES = ("constant", "cosine")


def learning_rate_scale(config: TrainConfig, step: int) -> float:
    """Multiplier of the learning rates at ``step`` (a pure function of the step, so resuming is exact)."""
    if config.lr_schedule == "constant":
        return 1.0
    if config.lr_schedule == "cosine":
        progress = min(1.0, step / max(1, config.steps))
        return config.lr_floor + (1 - config.lr_floor) * 0.5 * (1 + math.cos(math.pi * progress))
    from ..errors import S2LError

    raise S2LError(f"unknown learning-rate schedule {config.lr_schedule!r}; choose one of {', '.join(LR_SCHEDULES)}")


def patience_spent(config: TrainConfig, step: int, best_step: int) -> bool:
    """Whether validation has not improved for ``patience`` checkpoints since ``best_step``."""
    if config.validation_share <= 0 or config.patience <= 0 or best_step <= 0:
        return False
    return step - best_step >= config.patience * config.checkpoint_every


def budget(name: str) -> TrainConfig:
    from ..errors import S2LError

    if name not in BUDGETS:
        raise S2LError(f"unknown budget {name!r}; choose one of {sorted(BUDGETS)}")
    return BUDGETS[name][1]


def train_config_from_dict(d: dict) -> TrainConfig:
    """The inverse of ``dataclasses.asdict`` for a TrainConfig (run configs, batch job specs)."""
    from .evaluate import model_config_from_dict

    variants = tuple(tuple(float(v) for v in variant) for variant in d.get("voice_variants", ()))
    # Run configs and job specs written before a setting existed trained without it.
    return TrainConfig(**{**d, "model": model_config_from_dict(d["model"]), "voice_variants": variants,
                          "expert_voices": bool(d.get("expert_voices", False))})
