"""`s2l-dub prepare`: analyse an actor's footage."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from ..dataset.prepare import ClipInput, PrepareConfig, prepare_actor
from ..face.track import FaceHint, TrackConfig
from .console import RichProgress


@click.command("prepare")
@click.argument("videos", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--actor", required=True, help="Actor name; the dataset goes to OUT/actors/NAME/dataset.")
@click.option("--range", "range_text", default=None, metavar="IN-OUT",
              help="Part of each clip to use: seconds (2.5-30), timecode (00:00:02:12-00:00:30:00) or frames (f50-f900).")
@click.option("--out", type=click.Path(path_type=Path), default=Path("s2l-work"), show_default=True,
              help="Work folder holding actors' datasets and models.")
@click.option("--backend", default="dlib", show_default=True, help="Landmark backend (dlib, fan, or a plugin).")
@click.option("--face", "face_hint", default=None, metavar="left|right|center|X,Y",
              help="Which face is the actor when several are in shot.")
@click.option("--canonical-frame", type=int, default=None,
              help="Frame (index into the prepared frames) to use as the canonical view instead of the automatic choice.")
@click.pass_obj
def prepare_command(console, videos, actor, range_text, out, backend, face_hint, canonical_frame):
    """Track, pose and canonicalise an actor's footage for training."""
    config = PrepareConfig(track=TrackConfig(backend=backend))
    clips = [ClipInput(Path(v), range_text) for v in videos]
    with RichProgress(console) as progress:
        dataset = prepare_actor(clips, actor, out, config, FaceHint.parse(face_hint), canonical_frame, progress)
    s = dataset.manifest["summary"]
    table = Table(title=f"actor {actor!r}: {dataset.root}", show_header=False)
    table.add_row("frames", f"{s['frames']} ({s['usable_frames']} usable)")
    table.add_row("faces found", f"{s['faces_found_share']:.1%}")
    table.add_row("pose range (deg)", "yaw {:+.1f}..{:+.1f}  pitch {:+.1f}..{:+.1f}  roll {:+.1f}..{:+.1f}".format(
        *s["yaw_range_deg"], *s["pitch_range_deg"], *s["roll_range_deg"]))
    table.add_row("reprojection", f"{s['reprojection_px_mean']:.2f} px mean, {s['reprojection_px_p95']:.2f} px p95")
    c = s["canonical"]
    table.add_row("canonical frame", f"#{c['index']} (frame {c['source_frame']} of {Path(c['path']).name})")
    table.add_row("lip box / lower face", f"{s['lip_box']} / {s['lower_face_px']} px")
    table.add_row("time", f"{s['seconds']:.1f} s" + (" (all cached)" if s.get("cached") else ""))
    console.print(table)
    console.print(f"contact sheet: {dataset.root / 'contact_sheet.png'}")
