"""`s2l-dub render`."""

from __future__ import annotations

from pathlib import Path

import click

from ..dataset.prepare import dataset_dir
from ..render.encode import EncodeSettings
from ..render.engine import FIT_POLICIES, RenderConfig, render_clip
from ..train.trainer import model_dir
from .console import RichProgress


@click.command("render")
@click.option("--actor", required=True, help="Trained actor.")
@click.option("--video", "video", required=True, type=click.Path(path_type=Path), help="A clip prepared for the actor.")
@click.option("--audio", required=True, type=click.Path(path_type=Path), help="The new dialogue for the clip.")
@click.option("--range", "range_text", default=None, metavar="IN-OUT", help="Part of the clip (as in prepare).")
@click.option("--codec", type=click.Choice(["prores", "h264"]), default="prores", show_default=True)
@click.option("--crf", type=int, default=14, show_default=True, help="H.264 quality.")
@click.option("--fit", type=click.Choice(FIT_POLICIES), default="error", show_default=True,
              help="When audio and video lengths differ: fail, pad the audio with silence, or trim the longer.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=Path("s2l-work"), show_default=True)
@click.pass_obj
def render_command(console, actor, video, audio, range_text, codec, crf, fit, output, out):
    """Make an actor's clip speak new audio (only the mouth changes)."""
    config = RenderConfig(encode=EncodeSettings(codec=codec, crf=crf), fit=fit)
    with RichProgress(console) as progress:
        sidecar = render_clip(dataset_dir(out, actor), model_dir(out, actor), video, audio, output, config, range_text,
                              progress)
    console.print(f"{output}: {sidecar['frames']} frames at {sidecar['source']['frame_rate']} fps, "
                  f"{sidecar['codec']}, {sidecar['seconds']:.1f} s")
