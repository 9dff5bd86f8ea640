"""`s2l-dub watch DIR`: dub every timeline an editor exports into a folder, exactly once.

A timeline is picked up when a sidecar ``NAME.s2l.toml`` beside it names the dub stem:

    audio = "fr_stem.wav"        # required, relative to the sidecar
    lang = "fr"
    subtitles = "fr.srt"         # optional
    actors = "actors.toml"       # optional
    budget = "default"           # fast | default | best
    output = "NAME.fr.xml"       # optional; default NAME.LANG.EXT beside the timeline

Each job is keyed by the content of the timeline, sidecar and stem. When it ends, the
result goes to ``NAME.s2l-done.json`` (or ``NAME.s2l-error.txt`` with the one-line
reason), so neither a finished nor a failed export is run again until one of its files
changes. Files younger than ``settle_s`` are left for the next scan: the editor may
still be writing them.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
import tomllib
from pathlib import Path

from ..artifacts import DigestCache, atomic_path, read_json, safe_name, stable_key, write_json
from ..errors import S2LError
from ..progress import NullProgress, Progress
from ..timeline.io import ADAPTERS, timeline_document, timeline_exists
from ..train.config import BUDGETS, TrainConfig

SIDECAR_SUFFIX = ".s2l.toml"
_KEYS = {"audio", "lang", "subtitles", "actors", "budget", "output", "audio_offset"}


@dataclasses.dataclass(frozen=True)
class WatchConfig:
    settle_s: float = 2.0
    interval_s: float = 5.0
    train: TrainConfig | None = None
    """A full training config for every job instead of each sidecar's named budget (tests, studios
    with their own), as a batch's ``train``."""


def pending(folder: Path, config: WatchConfig = WatchConfig()) -> list[tuple[Path, Path, str]]:
    """(timeline, sidecar, job key) of each export ready to run: settled, not done for its content."""
    ready = []
    now = time.time()
    # Scanned every few seconds: files are hashed again only when their size or mtime changes.
    digests = DigestCache(Path(folder) / ".s2l-digests.json")
    for sidecar in sorted(Path(folder).glob(f"*{SIDECAR_SUFFIX}")):
        name = sidecar.name[: -len(SIDECAR_SUFFIX)]
        timelines = [sidecar.with_name(name + suffix) for suffix in ADAPTERS]
        timeline = next((t for t in timelines if timeline_exists(t)), None)
        if timeline is None:
            continue
        if any(now - p.stat().st_mtime < config.settle_s for p in (timeline_document(timeline), sidecar)):
            continue
        key = _job_key(timeline, sidecar, digests)
        if _finished_key(timeline) == key:
            continue
        ready.append((timeline, sidecar, key))
    return ready


def run_once(folder: Path, config: WatchConfig = WatchConfig(), progress: Progress | None = None,
             runner=None) -> list[dict]:
    """Run every pending job in ``folder``; returns one record per job."""
    progress = progress or NullProgress()
    runner = runner or functools.partial(_run_job, train=config.train)
    records = []
    for timeline, sidecar, key in pending(folder, config):
        done, failed = _done_path(timeline), _error_path(timeline)
        try:
            summary = runner(timeline, _read_sidecar(sidecar), progress)
        except Exception as e:  # one bad export must not stop the folder: record it and go on
            if not isinstance(e, S2LError):
                e = S2LError(f"{timeline}: internal error ({type(e).__name__}: {e}); please report it")
            message = f"s2l-dub: error: {e}"
            with atomic_path(failed) as tmp:
                tmp.write_text(message + "\n")
            write_json(done, {"key": key, "ok": False, "error": str(e)})
            progress.log(f"{timeline.name}: {e}")
            records.append({"timeline": str(timeline), "ok": False, "error": str(e)})
            continue
        failed.unlink(missing_ok=True)
        write_json(done, {"key": key, "ok": True, "summary": summary})
        records.append({"timeline": str(timeline), "ok": True, "outputs": summary.get("outputs", [])})
    return records


def watch(folder: Path, config: WatchConfig = WatchConfig(), progress: Progress | None = None,
          stop_after: float | None = None) -> None:
    started = time.monotonic()
    while stop_after is None or time.monotonic() - started < stop_after:
        run_once(folder, config, progress)
        time.sleep(config.interval_s)


def _read_sidecar(path: Path) -> dict:
    """The sidecar's settings, checked; its paths resolved inside the watched folder.

    The folder is the sidecar's whole world, as a recipe's allowed roots are a recipe's:
    a sidecar dropped into a shared folder must not read or write anywhere else.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise S2LError(f"{path}: not valid TOML ({e})") from e
    except UnicodeDecodeError:
        raise S2LError(f"{path}: not UTF-8 text") from None
    except OSError as e:
        raise S2LError(f"{path}: cannot read ({e.strerror or e})") from None
    unknown = set(data) - _KEYS
    if unknown:
        raise S2LError(f"{path}: unknown key(s) {sorted(unknown)}; use {sorted(_KEYS)}")
    if "audio" not in data:
        raise S2LError(f"{path}: 'audio' (the dub stem) is required")
    for key in ("audio", "subtitles", "actors", "output", "lang", "budget"):
        if key in data and not isinstance(data[key], str):
            raise S2LError(f"{path}: {key} = {data[key]!r}: must be a string")
    folder = path.parent.resolve()
    for key in ("audio", "subtitles", "actors", "output"):
        if key in data:
            if "\x00" in data[key]:
                raise S2LError(f"{path}: {key} = {data[key]!r} holds a NUL character, which no file name can")
            resolved = (folder / data[key]).resolve()
            if resolved.parent != folder and folder not in resolved.parents:
                raise S2LError(f"{path}: {key} = {data[key]!r} lies outside the watched folder {folder}")
            data[key] = resolved
    if "lang" in data:
        safe_name(data["lang"], f"{path}: lang")
    if "budget" in data and data["budget"] not in BUDGETS:
        raise S2LError(f"{path}: budget = {data['budget']!r}: choose one of {sorted(BUDGETS)}")
    if "audio_offset" in data:
        value = data["audio_offset"]
        try:
            seconds = float(value) if not isinstance(value, bool) else math.nan
        except (TypeError, ValueError):
            seconds = math.nan
        if not math.isfinite(seconds):
            raise S2LError(f"{path}: audio_offset = {value!r}: give a finite number of seconds")
        data["audio_offset"] = seconds
    return data


def _run_job(timeline: Path, options: dict, progress: Progress, train: TrainConfig | None = None) -> dict:
    from ..timeline.job import DubConfig, plan_dub, run_dub

    config = DubConfig(lang=options.get("lang", "dub"), budget=options.get("budget", "default"),
                       audio_offset_s=float(options.get("audio_offset", 0.0)), train=train)
    plan = plan_dub(timeline, options["audio"], config, options.get("output"), None, options.get("subtitles"),
                    options.get("actors"), progress=progress)
    return run_dub(plan, progress)


def _job_key(timeline: Path, sidecar: Path, digests: DigestCache) -> str:
    parts = [digests.digest(timeline_document(timeline)), digests.digest(sidecar)]
    try:
        audio = _read_sidecar(sidecar)["audio"]
        parts.append(digests.digest(audio) if Path(audio).is_file() else str(audio))
    except S2LError as e:
        parts.append(str(e))
    return stable_key(*parts)


def _finished_key(timeline: Path) -> str | None:
    done = _done_path(timeline)
    try:
        record = read_json(done) if done.exists() else {}
    except (S2LError, OSError):
        return None  # damaged: run the export again
    return record.get("key") if isinstance(record, dict) else None


def _done_path(timeline: Path) -> Path:
    return timeline.with_name(timeline.stem + ".s2l-done.json")


def _error_path(timeline: Path) -> Path:
    return timeline.with_name(timeline.stem + ".s2l-error.txt")
