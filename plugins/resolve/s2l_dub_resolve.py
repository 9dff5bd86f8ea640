"""DaVinci Resolve: Workspace > Scripts > s2l_dub_resolve — dub the current timeline.

Exports the current timeline as OTIO (Resolve 18.5 or later), asks for the dub stem,
the language and optional subtitles, runs `s2l-dub`, imports the dubbed timeline into
the media pool and puts every QC point on it as a red marker. From Resolve 21.1, Python
scripting needs Resolve Studio; with Resolve Free, README.md gives the same round trip
by hand.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

QC_PREFIX = "S2L QC: "


@dataclasses.dataclass
class Answers:
    audio: str
    lang: str = "dub"
    subtitles: str | None = None
    budget: str = "default"


def dub_current_timeline(resolve, ask, run=subprocess.run, work_root: Path | None = None) -> object:
    """The whole round trip; returns the imported Resolve timeline."""
    project = resolve.GetProjectManager().GetCurrentProject()
    if project is None:
        raise RuntimeError("no project is open")
    timeline = project.GetCurrentTimeline()
    if timeline is None:
        raise RuntimeError("no timeline is open")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", timeline.GetName()).strip("_") or "timeline"
    folder = Path(work_root or os.environ.get("S2L_DUB_RESOLVE_WORK", tempfile.gettempdir())) / f"s2l-{name}"
    folder.mkdir(parents=True, exist_ok=True)
    exported = folder / f"{name}.otio"
    if not timeline.Export(str(exported), resolve.EXPORT_OTIO, resolve.EXPORT_NONE):
        raise RuntimeError(f"Resolve could not export the timeline to {exported} (needs Resolve 18.5+)")

    answers = ask()
    if answers is None:
        raise RuntimeError("cancelled")
    output = folder / f"{name}.{answers.lang}.otio"
    command = [_cli(), str(exported), "--audio", answers.audio, "--lang", answers.lang,
               "--budget", answers.budget, "-o", str(output)]
    if answers.subtitles:
        command += ["--subtitles", answers.subtitles]
    finished = run(command, capture_output=True, text=True)
    if finished.returncode != 0:
        lines = (finished.stderr or "").strip().splitlines()
        raise RuntimeError(lines[-1] if lines else f"s2l-dub exited with {finished.returncode}")

    media_pool = project.GetMediaPool()
    imported = media_pool.ImportTimelineFromFile(str(output), {
        "timelineName": f"{timeline.GetName()} ({answers.lang})",
        "importSourceClips": True,
    })
    if not imported:
        raise RuntimeError(f"Resolve could not import {output}")
    for frame, duration, name_, note in qc_markers(output):
        imported.AddMarker(frame, "Red", name_, note, duration, "s2l-dub")
    return imported


def qc_markers(otio_path: Path) -> list[tuple[int, int, str, str]]:
    """(timeline frame, frames, name, note) of each QC marker, read from the dubbed .otio.

    Read as plain JSON so the script needs nothing beyond the standard library inside
    Resolve's own Python.
    """
    document = json.loads(Path(otio_path).read_text())
    markers = []
    for track in document["tracks"]["children"]:
        position = 0
        for item in track["children"]:
            schema = item["OTIO_SCHEMA"].split(".")[0]
            if schema == "Transition":
                continue
            start = round(item["source_range"]["start_time"]["value"])
            length = round(item["source_range"]["duration"]["value"])
            for marker in item.get("markers", []):
                if marker["name"].startswith(QC_PREFIX):
                    offset = round(marker["marked_range"]["start_time"]["value"]) - start
                    frames = max(1, round(marker["marked_range"]["duration"]["value"]))
                    reasons = marker.get("metadata", {}).get("s2l", {}).get("qc", [])
                    markers.append((position + offset, frames, "S2L QC", "; ".join(reasons) or marker["name"]))
            position += length
    return sorted(markers)


def _cli() -> str:
    found = shutil.which("s2l-dub")
    if found:
        return found
    raise RuntimeError("s2l-dub is not on PATH for Resolve; set PATH or install s2l-dub into Resolve's Python")


def ask_with_dialogs() -> Answers | None:
    """File pickers for the stem and subtitles, a prompt for the language (Tk ships with Python)."""
    import tkinter
    from tkinter import filedialog, simpledialog

    root = tkinter.Tk()
    root.withdraw()
    audio = filedialog.askopenfilename(title="Dub stem (new-language dialogue)",
                                       filetypes=[("Audio", "*.wav *.aif *.aiff *.flac *.mp3 *.m4a"), ("All", "*")])
    if not audio:
        return None
    lang = simpledialog.askstring("s2l-dub", "Language tag (e.g. fr)", initialvalue="fr") or "dub"
    subtitles = filedialog.askopenfilename(title="Subtitles (optional: Cancel to detect speech)",
                                           filetypes=[("Subtitles", "*.srt *.vtt *.ttml"), ("All", "*")]) or None
    root.destroy()
    return Answers(audio=audio, lang=lang, subtitles=subtitles)


def _resolve_app():
    app = globals().get("app") or globals().get("resolve")
    if app is not None and hasattr(app, "GetResolve"):
        return app.GetResolve()
    if app is not None:
        return app
    import DaVinciResolveScript  # noqa: PLC0415  (only inside Resolve's scripting environment)

    return DaVinciResolveScript.scriptapp("Resolve")


if __name__ == "__main__":
    try:
        dub_current_timeline(_resolve_app(), ask_with_dialogs)
    except RuntimeError as error:
        print(f"s2l-dub: {error}", file=sys.stderr)
