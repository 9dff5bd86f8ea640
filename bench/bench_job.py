"""Wall time and peak memory of the main job on the sample edit, first run and cached run.

    python bench/bench_job.py [--samples DIR] [--budget fast] [--work DIR]

Builds the sample edit (two actors, five shots, a dissolve, a French stem), then runs
`s2l-dub project.otio --audio dub_fr.wav --subtitles dub_fr.srt --lang fr` twice in its
own process: from an empty cache (prepare, train, render every segment), then again
(everything from the cache). Goal (README command 1): a dubbed timeline within about 15
minutes on 2 cores with the fast budget.
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=Path,
                        default=Path(os.environ.get("S2L_SAMPLES", ROOT.parent / "shared" / "samples")))
    parser.add_argument("--budget", default="fast")
    parser.add_argument("--work", type=Path, default=None, help="folder for the edit (default: a temporary one)")
    args = parser.parse_args()
    folder = args.work or Path(tempfile.mkdtemp(prefix="s2l-bench-job-"))
    subprocess.run([sys.executable, "-m", "s2l_dub.cli.main", "sample-project", str(args.samples), "-o", str(folder)],
                   check=True, capture_output=True)
    command = [sys.executable, "-m", "s2l_dub.cli.main", str(folder / "project.otio"), "--audio",
               str(folder / "dub_fr.wav"), "--subtitles", str(folder / "dub_fr.srt"), "--lang", "fr",
               "--budget", args.budget]
    rows = []
    for label in ("first run (empty cache)", "second run (cached)"):
        started = time.perf_counter()
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        subprocess.run(command, check=True, capture_output=True)
        peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        summary = json.loads((folder / "project.fr.otio.s2l.json").read_text())
        rows.append({"run": label, "seconds": round(time.perf_counter() - started, 1),
                     "peak_rss_mb": round(peak / 1024), "rendered": summary["segments_rendered"],
                     "reused": summary["segments_reused"], "qc_flagged": summary["qc_flagged"]})
        print(json.dumps(rows[-1]), flush=True)
    scores = [seg["scores"] for seg in summary["segments"]]
    print(json.dumps({"segments": len(scores), "sync_offsets": [s["sync_offset_frames"] for s in scores],
                      "sync_confidence": [s["sync_confidence"] for s in scores]}))


if __name__ == "__main__":
    main()
