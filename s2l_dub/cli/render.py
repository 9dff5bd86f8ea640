"""`s2l-dub render`."""

from __future__ import annotations

from pathlib import Path

import click

from ..artifacts import refuse_overwrite
from ..dataset.prepare import dataset_dir
from ..model.detail import DEFAULT_DETAIL, DetailConfig
from ..render.encode import EncodeSettings
from ..render.engine import FIT_POLICIES, RenderConfig, render_clip
from ..render.pose import PoseConfig
from ..train.trainer import model_dir
from .console import RichProgress


@click.command("render")
@click.option("--actor", required=True, help="Trained actor.")
@click.option("--video", "video", required=True, type=click.Path(path_type=Path),
              help="A clip of the actor: one it was prepared on, or any other (tracked first).")
@click.option("--audio", required=True, type=click.Path(path_type=Path), help="The new dialogue for the clip.")
@click.option("--range", "range_text", default=None, metavar="IN-OUT", help="Part of the clip (as in prepare).")
@click.option("--codec", type=click.Choice(["prores", "h264"]), default="prores", show_default=True)
@click.option("--crf", type=int, default=14, show_default=True, help="H.264 quality.")
@click.option("--fit", type=click.Choice(FIT_POLICIES), default="error", show_default=True,
              help="When audio and video lengths differ: fail, pad the audio with silence, or trim the longer.")
@click.option("--face", default=None, metavar="left|right|center|X,Y",
              help="Which face is the actor when several are in shot (clips not prepared).")
@click.option("--yaw", type=float, default=0.0, show_default=True, help="Turn the head by this many degrees.")
@click.option("--pitch", type=float, default=0.0, show_default=True, help="Nod the head by this many degrees.")
@click.option("--pose-from", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="Take the head's rotation, frame by frame, from this clip.")
@click.option("--max-pose-change", type=float, default=PoseConfig.max_change_deg, show_default=True,
              help="Cap on how far pose control may turn the head (degrees).")
@click.option("--detail/--no-detail", default=DEFAULT_DETAIL is not None, show_default=True,
              help="Give the generated mouth real detail (lip lines, teeth) from the actor's own footage.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=Path("s2l-work"), show_default=True)
@click.pass_obj
def render_command(console, actor, video, audio, range_text, codec, crf, fit, face, yaw, pitch, pose_from,
                   max_pose_change, detail, output, out):
    """Make an actor's clip speak new audio (only the mouth changes, unless pose control turns the head)."""
    config = RenderConfig(encode=EncodeSettings(codec=codec, crf=crf), fit=fit, face=face,
                          pose=PoseConfig(yaw_deg=yaw, pitch_deg=pitch, max_change_deg=max_pose_change),
                          pose_from=None if pose_from is None else str(pose_from),
                          detail=(DEFAULT_DETAIL or DetailConfig()) if detail else None)
    # Before the actor loads: a mistyped -o must not cost a model load, let alone replace the dub.
    refuse_overwrite(output, [("the source clip", video), ("the dub audio", audio), ("the pose clip", pose_from)])
    config.encode.validate(output)
    with RichProgress(console) as progress:
        sidecar = render_clip(dataset_dir(out, actor), model_dir(out, actor), video, audio, output, config, range_text,
                              progress)
    console.print(f"{output}: {sidecar['frames']} frames at {sidecar['source']['frame_rate']} fps, "
                  f"{sidecar['codec']}, {sidecar['seconds']:.1f} s")
