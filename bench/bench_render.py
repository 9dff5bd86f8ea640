"""Render speed and peak memory of `s2l-dub render`.

    python bench/bench_render.py --work DIR [--samples DIR]

    python bench/bench_render.py --work DIR --rows unprepared,pose [--quick-model]

Needs the 71 s anchor prepared and trained in DIR (bench/bench_model.py or
`s2l-dub prepare` + `train --out DIR`, actor name anchor_en); ``--quick-model`` trains
it for 20 steps instead, since speed and memory do not depend on training. Renders,
each in its own process:
- ``prepared``: the full 71 s clip (512x512), a 10 s range of it (memory must not grow
  with length), and the 1080x1920 portrait clip (prepared and trained for 20 steps);
- ``unprepared``: a re-encoded copy of the 71 s clip and a 4x concatenation (284 s),
  neither prepared, so each is tracked first (memory must not grow with length);
- ``pose``: 10 s with the head turned 10 degrees (forward warp + Blend-Net holes).
Goal (issue 4): >= 25 frames/s at 512^2.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_one(args: argparse.Namespace) -> None:
    from s2l_dub.dataset.prepare import dataset_dir
    from s2l_dub.render.encode import EncodeSettings
    from s2l_dub.render.engine import RenderConfig, render_clip
    from s2l_dub.train.trainer import model_dir

    from s2l_dub.render.pose import PoseConfig

    config = RenderConfig(encode=EncodeSettings(codec=args.codec), fit=args.fit, pose=PoseConfig(yaw_deg=args.yaw))
    started = time.perf_counter()
    sidecar = render_clip(dataset_dir(args.work, args.actor), model_dir(args.work, args.actor), args.video, args.audio,
                          args.target, config, args.range)
    seconds = time.perf_counter() - started
    print(json.dumps({"frames": sidecar["frames"], "seconds": round(seconds, 1),
                      "frames_per_s": round(sidecar["frames"] / seconds, 1),
                      "peak_rss_mb": peak_rss_mb()}))


def peak_rss_mb() -> int:
    """This process's own high-water mark. ``ru_maxrss`` would not do: Linux carries it across
    fork and exec, so a child would report the bench parent's peak if that was higher."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def render(work: Path, actor: str, video: Path, audio: Path, codec: str, fit: str, range_text: str | None,
           yaw: float = 0.0) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / ("out.mov" if codec == "prores" else "out.mp4")
        cmd = [sys.executable, __file__, "--one", "--work", str(work), "--actor", actor, "--video", str(video),
               "--audio", str(audio), "--codec", codec, "--fit", fit, "--target", str(target), "--yaw", str(yaw)]
        if range_text:
            cmd += ["--range", range_text]
        out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        if out.returncode:
            raise SystemExit(f"{video}: render failed:\n{out.stderr[-3000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=Path, default=Path(os.environ.get("S2L_SAMPLES", ROOT.parent / "shared" / "samples")))
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--actor", default="anchor_en")
    parser.add_argument("--video", type=Path)
    parser.add_argument("--audio", type=Path)
    parser.add_argument("--codec", default="prores")
    parser.add_argument("--fit", default="pad")
    parser.add_argument("--range", default=None)
    parser.add_argument("--target", type=Path)
    parser.add_argument("--yaw", type=float, default=0.0)
    parser.add_argument("--rows", default="prepared,unprepared,pose")
    parser.add_argument("--quick-model", action="store_true", help="train anchor_en for 20 steps if it is not trained")
    args = parser.parse_args()
    if args.one:
        run_one(args)
        return

    from s2l_dub.dataset.prepare import ClipInput, dataset_dir, prepare_actor
    from s2l_dub.train.config import TrainConfig
    from s2l_dub.train.trainer import MODEL_META, model_dir, train_actor

    quick = TrainConfig(steps=20, expert_steps=20, checkpoint_every=20, preview_every=20)
    anchor = args.samples / "actors" / "anchor_en_71s.mp4"
    english = args.samples / "dub_audio" / "english_60s.wav"
    if args.quick_model and not (model_dir(args.work, "anchor_en") / MODEL_META).exists():
        prepare_actor([ClipInput(anchor)], "anchor_en", args.work)
        train_actor(dataset_dir(args.work, "anchor_en"), model_dir(args.work, "anchor_en"), quick)
    wanted = set(args.rows.split(","))
    rows = []
    if "prepared" in wanted:
        rows += [
            ("512x512, 71 s, prores", render(args.work, "anchor_en", anchor, english, "prores", "pad", None)),
            ("512x512, 71 s, h264", render(args.work, "anchor_en", anchor, english, "h264", "pad", None)),
            ("512x512, 10 s range, prores", render(args.work, "anchor_en", anchor, english, "prores", "trim", "0-10")),
        ]
        portrait = args.samples / "clips" / "portrait_1080x1920_demo1.mp4"
        prepare_actor([ClipInput(portrait)], "portrait", args.work)
        train_actor(dataset_dir(args.work, "portrait"), model_dir(args.work, "portrait"), quick)
        rows.append(("1080x1920 portrait, 10 s, prores",
                     render(args.work, "portrait", portrait, args.samples / "dub_audio" / "German1.wav", "prores",
                            "trim", None)))

    def reencoded(loops: int, target: Path) -> Path:
        # Re-encoded, not concatenated with -c copy: the concat demuxer leaves uneven
        # timestamps at the joins, which render rightly refuses as variable frame rate.
        subprocess.run(["ffmpeg", "-v", "error", "-stream_loop", str(loops), "-i", str(anchor), "-c:v", "libx264",
                        "-crf", "12", "-c:a", "aac", str(target)], check=True)
        return target

    with tempfile.TemporaryDirectory() as tmp:
        if "unprepared" in wanted:
            copy = reencoded(0, Path(tmp) / "anchor_copy.mp4")
            long = reencoded(3, Path(tmp) / "anchor_copy_x4.mp4")
            rows += [
                ("512x512, 71 s, not prepared", render(args.work, "anchor_en", copy, english, "prores", "pad", None)),
                ("512x512, 284 s (4x), not prepared", render(args.work, "anchor_en", long, english, "prores", "pad", None)),
            ]
        if "pose" in wanted:
            rows.append(("512x512, 10 s, yaw +10 deg", render(args.work, "anchor_en", anchor, english, "prores", "trim",
                                                              "0-10", yaw=10.0)))
    print(f"{'render':<36}{'frames':>8}{'seconds':>9}{'frames/s':>10}{'peak RSS MB':>13}")
    for name, r in rows:
        print(f"{name:<36}{r['frames']:>8}{r['seconds']:>9}{r['frames_per_s']:>10}{r['peak_rss_mb']:>13}")


if __name__ == "__main__":
    main()
