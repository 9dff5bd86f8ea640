"""`s2l-dub train` and `s2l-dub eval`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..dataset.prepare import dataset_dir
from ..model.detail import DEFAULT_DETAIL, DetailConfig
from ..train.config import BUDGETS, LR_SCHEDULES, budget
from ..train.trainer import model_dir, train_actor
from .console import RichProgress

BUDGET_HELP = "; ".join(f"{name}: {text}" for name, (text, _) in BUDGETS.items())


@click.command("train")
@click.option("--actor", required=True, help="Actor prepared with `s2l-dub prepare`.")
@click.option("--budget", "budget_name", default="default", show_default=True, type=click.Choice(list(BUDGETS)),
              help=BUDGET_HELP)
@click.option("--steps", type=int, default=None, help="Override the budget's number of training steps.")
@click.option("--lr-schedule", type=click.Choice(LR_SCHEDULES), default="constant", show_default=True,
              help="Learning rate over the run: constant, or cosine decay to 5 % (see BENCHMARKS.md).")
@click.option("--expert-footage", "expert_actors", multiple=True, metavar="ACTOR",
              help="Another prepared actor (or more footage of this one, prepared under another name) that the "
                   "sync expert also learns from; repeatable. The lips are still learnt from --actor alone.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("s2l-work"), show_default=True)
@click.pass_obj
def train_command(console, actor, budget_name, steps, lr_schedule, expert_actors, out):
    """Train an actor's Speech2Lip model (resumes an interrupted run)."""
    import dataclasses

    config = budget(budget_name)
    if steps is not None:
        config = dataclasses.replace(config, steps=steps)
    config = dataclasses.replace(config, lr_schedule=lr_schedule)
    with RichProgress(console) as progress:
        meta = train_actor(dataset_dir(out, actor), model_dir(out, actor), config, progress,
                           expert_footage=tuple(dataset_dir(out, name) for name in expert_actors))
    trained = f"{meta['steps']} steps"
    if meta["selected_step"] != meta["steps"]:
        trained = f"step {meta['selected_step']} of {meta['steps']}, the best on validation"
    console.print(f"model: {model_dir(out, actor) / 'model.safetensors'} ({trained}, "
                  f"sync expert held-out top-1 {meta['sync_expert']['held_out_top1']:.1%})")


@click.command("eval")
@click.option("--actor", required=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path("s2l-work"), show_default=True)
@click.option("--video/--no-video", default=True, show_default=True, help="Write the side-by-side video.")
@click.option("--voice-semitones", type=float, default=0.0, show_default=True,
              help="Drive the held-out frames with their audio pitched this far up or down: the same words in "
                   "another voice, as a dub actor's (metrics_voice+N.json beside metrics.json).")
@click.option("--detail/--no-detail", default=DEFAULT_DETAIL is not None, show_default=True,
              help="Give the generated mouths real detail from the actor's training frames, as renders do.")
@click.pass_obj
def eval_command(console, actor, out, video, voice_semitones, detail):
    """Evaluate on the held-out last 10 % with the actor's own audio."""
    from ..train.evaluate import evaluate_actor

    with RichProgress(console) as progress:
        metrics = evaluate_actor(dataset_dir(out, actor), model_dir(out, actor), progress, write_video=video,
                                 voice_semitones=voice_semitones,
                                 detail=(DEFAULT_DETAIL or DetailConfig()) if detail else None)
    console.print_json(json.dumps(metrics))
