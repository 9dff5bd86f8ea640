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
        peak = run_measuring_peak(command)
        summary = json.loads((folder / "project.fr.otio.s2l.json").read_text())
        rows.append({"run": label, "seconds": round(time.perf_counter() - started, 1),
                     "peak_rss_mb": peak, "rendered": summary["segments_rendered"],
                     "reused": summary["segments_reused"], "qc_flagged": summary["qc_flagged"]})
        print(json.dumps(rows[-1]), flush=True)
    scores = [seg["scores"] for seg in summary["segments"]]
    print(json.dumps({"segments": len(scores), "sync_offsets": [s["sync_offset_frames"] for s in scores],
                      "sync_confidence": [s["sync_confidence"] for s in scores]}))


def run_measuring_peak(command: list[str]) -> int:
    """Run ``command``; return the peak resident MB of it and its descendants, this run alone.

    ``RUSAGE_CHILDREN`` would mix runs (it is the maximum over every child ever waited
    for), so the cached run would report the first run's peak. ``wait4`` gives this
    child's own figure, which Linux takes over its waited-for descendants too (ffmpeg).
    """
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            log.seek(0)
            tail = log.read().decode(errors="replace")[-2000:]
            raise SystemExit(f"{' '.join(command)} failed with exit status {process.returncode}:\n{tail}")
    return round(usage.ru_maxrss / 1024)


if __name__ == "__main__":
    main()
