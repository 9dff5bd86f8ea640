"""Analysis speed and peak memory of `s2l-dub prepare`.

    python bench/bench_prepare.py [--samples DIR] [--repeat 4]
    python bench/bench_prepare.py --video long/grid_s1_10min.mp4 --minutes 1,10

Prepares actors/anchor_en_71s.mp4 and a REPEATx concatenation of it (or ``--video``'s first
``--minutes``), each from an empty work folder in its own process, and prints frames/s and peak
resident memory. Goal (issues 2, 26): >= 25 frames/s on a 2-core CPU, memory flat in clip length.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_one(video: Path, out: Path) -> dict:
    from bench_render import peak_rss_mb
    from s2l_dub.dataset.prepare import ClipInput, prepare_actor

    started = time.perf_counter()
    dataset = prepare_actor([ClipInput(video)], "bench", out)
    seconds = time.perf_counter() - started
    frames = dataset.frame_count
    return {
        "video": video.name,
        "frames": frames,
        "seconds": round(seconds, 1),
        "frames_per_s": round(frames / seconds, 1),
        "peak_rss_mb": peak_rss_mb(),
        "reprojection_px": round(dataset.manifest["summary"]["reprojection_px_mean"], 3),
        "faces_found": dataset.manifest["summary"]["faces_found_share"],
    }


def concatenate(video: Path, times: int, target: Path) -> Path:
    listing = target.with_suffix(".txt")
    listing.write_text("".join(f"file '{video}'\n" for _ in range(times)))
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy",
                    str(target)], check=True)
    return target


def first_minutes(video: Path, minutes: float, target: Path) -> Path:
    """The first ``minutes`` of ``video``, re-encoded so the cut falls on the frame asked for."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(video), "-t", f"{minutes * 60:g}", "-c:v", "libx264",
                    "-crf", "16", "-c:a", "aac", str(target)], check=True)
    return target


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=Path, default=Path(os.environ.get("S2L_SAMPLES", ROOT.parent / "shared" / "samples")))
    parser.add_argument("--repeat", type=int, default=4)
    parser.add_argument("--video", type=Path, help="a clip under --samples to time instead of the anchor")
    parser.add_argument("--minutes", default="", help="with --video: its first N minutes, comma-separated")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        with tempfile.TemporaryDirectory() as work:
            print(json.dumps(run_one(args.one, Path(work))))
        return

    video = args.samples / (args.video or Path("actors") / "anchor_en_71s.mp4")
    with tempfile.TemporaryDirectory() as tmp:
        if args.video and args.minutes:
            clips = [first_minutes(video, float(m), Path(tmp) / f"{video.stem}_first{m}min.mp4")
                     for m in args.minutes.split(",")]
        else:
            clips = [video]
            if args.repeat > 1 and not args.video:
                clips.append(concatenate(video, args.repeat, Path(tmp) / f"anchor_en_x{args.repeat}.mp4"))
        print(f"{'video':<24}{'frames':>8}{'seconds':>9}{'frames/s':>10}{'peak RSS MB':>13}{'reproj px':>11}")
        for clip in clips:
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            out = subprocess.run([sys.executable, __file__, "--one", str(clip)], capture_output=True, text=True, env=env,
                                 check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{r['video']:<24}{r['frames']:>8}{r['seconds']:>9}{r['frames_per_s']:>10}{r['peak_rss_mb']:>13.0f}"
                  f"{r['reprojection_px']:>11}")


if __name__ == "__main__":
    main()
