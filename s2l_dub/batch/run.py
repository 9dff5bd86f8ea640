"""`s2l-dub batch RECIPE`: every project of a recipe into every language, resumably."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from ..artifacts import atomic_path, file_digest
from ..errors import BackendUnavailableError, S2LError
from ..media import load_audio
from ..progress import NullProgress, Progress
from ..timeline.io import timeline_exists
from .executors import run_local, run_ray
from .graph import ASSEMBLE, JobSpec, build_graph
from .recipe import LOUDNESS_TARGETS, Recipe, load_recipe
from .report import write_report

STEM_RATE = 48000


def job_specs(recipe: Recipe, train: dict | None = None, progress: Progress | None = None, dry_run: bool = False):
    """One spec per (project, language) with a stem; the pairs without one, with the reason.

    A dry run checks each stem but writes no normalised copy of it.
    """
    progress = progress or NullProgress()
    specs, missing = [], {}
    for language in recipe.languages:
        for project in recipe.projects:
            key = f"{project.name}:{language.code}"
            stem = language.stems.get(project.name)
            if stem is None:
                missing[key] = f"no dub stem for {project.name} in {language.code}"
                continue
            if not timeline_exists(project.timeline):
                missing[key] = f"{project.timeline}: timeline file not found"
                continue
            if not Path(stem).is_file():
                missing[key] = f"{stem}: dub stem not found"
                continue
            if recipe.loudness and not dry_run:
                try:
                    stem = normalised_stem(stem, LOUDNESS_TARGETS[recipe.loudness], recipe.work / "stems")
                except S2LError as e:
                    missing[key] = str(e)
                    continue
            subtitles = language.subtitles.get(project.name)
            specs.append(JobSpec(
                project=project.name, lang=language.code, timeline=str(project.timeline), stem=str(stem),
                output=str(recipe.output_for(project, language.code)), work=str(recipe.work),
                quality=recipe.quality, codec=recipe.codec, subtitles=str(subtitles) if subtitles else None,
                actors=str(project.actors) if project.actors else None, audio_offset=language.audio_offset,
                edl_rate=project.rate, train=train))
    return specs, missing


def normalised_stem(stem: Path, target_lufs: float, folder: Path) -> Path:
    """The stem at ``target_lufs`` integrated loudness (ITU-R BS.1770), cached by content."""
    try:
        import pyloudnorm
    except ImportError as e:
        raise BackendUnavailableError("loudness normalisation needs pyloudnorm (pip install pyloudnorm)") from e
    target = Path(folder) / f"{Path(stem).stem}.{file_digest(stem)[:12]}.{abs(target_lufs):g}lufs.wav"
    if target.exists():
        return target
    samples = load_audio(stem, STEM_RATE)
    loudness = pyloudnorm.Meter(STEM_RATE).integrated_loudness(samples)
    if not np.isfinite(loudness):
        raise S2LError(f"{stem}: silent; cannot normalise its loudness")
    gain = 10 ** ((target_lufs - loudness) / 20)
    # A gain that would clip is applied anyway: peaks are the mixer's call, loudness is ours.
    with atomic_path(target) as tmp:
        sf.write(tmp, samples * gain, STEM_RATE, subtype="FLOAT", format="WAV")
    return target


def run_batch(recipe_path: Path, executor: str = "local", address: str | None = None, dry_run: bool = False,
              progress: Progress | None = None, train: dict | None = None, stop_after: int | None = None) -> dict:
    progress = progress or NullProgress()
    started = time.monotonic()
    recipe = load_recipe(recipe_path)
    specs, failed = job_specs(recipe, train, progress, dry_run)
    tasks, unplanned, plans = build_graph(specs, progress, dry_run)
    failed.update(unplanned)
    if dry_run:
        return {"recipe": str(recipe.path), "tasks": [dataclasses.asdict(t) for t in tasks], "failed": failed}
    if executor == "local":
        results = run_local(tasks, progress, stop_after, plans)
    elif executor == "ray":
        results = run_ray(tasks, address, progress)
    else:
        raise S2LError(f"--executor {executor!r}: choose local or ray")
    summaries = {task.id.split(":", 1)[1]: results[task.id].get("summary") for task in tasks if task.kind == ASSEMBLE}
    return write_report(recipe, specs, tasks, results, failed, summaries, time.monotonic() - started)
