"""A recipe as a job graph: train each actor once, render every segment, assemble every output.

Tasks carry plain data only (paths, names, config dicts), so the same graph runs in this
process or on Ray workers. Each task re-derives what it needs from its job spec, and
everything it makes is content-keyed, so a task that already ran (in a previous,
crashed batch too) finds its result on disk and returns at once.

- ``train:ACTOR``: prepare and train one actor on the union of its footage across every
  project and language that shows it.
- ``render:PROJECT:LANG:N``: render segment N (needs its actor's ``train``).
- ``assemble:PROJECT:LANG``: write the dubbed timeline from whatever segments rendered
  (runs even when some did not, and lists them).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from ..dataset.prepare import ClipInput
from ..errors import S2LError
from ..face.track import FaceHint
from ..progress import NullProgress, Progress
from ..train.config import budget, train_config_from_dict

TRAIN, RENDER, ASSEMBLE = "train", "render", "assemble"


@dataclasses.dataclass(frozen=True)
class JobSpec:
    """One (project, language) dub job, as plain data."""

    project: str
    lang: str
    timeline: str
    stem: str
    output: str
    work: str
    quality: str = "default"
    codec: str = "prores"
    subtitles: str | None = None
    actors: str | None = None
    audio_offset: float = 0.0
    edl_rate: float | None = None
    train: dict | None = None
    """A full TrainConfig as a dict, overriding ``quality`` (tests, studio presets)."""

    @property
    def key(self) -> str:
        return f"{self.project}:{self.lang}"

    def train_config(self):
        return train_config_from_dict(self.train) if self.train else budget(self.quality)

    def plan(self, progress: Progress | None = None, dry_run: bool = False):
        from ..timeline.job import DubConfig, plan_dub

        config = DubConfig(lang=self.lang, budget=self.quality, audio_offset_s=self.audio_offset, codec=self.codec,
                           actor_prefix=f"{self.project}.", train=self.train_config() if self.train else None)
        return plan_dub(Path(self.timeline), Path(self.stem), config, Path(self.output), Path(self.work),
                        Path(self.subtitles) if self.subtitles else None, Path(self.actors) if self.actors else None,
                        self.edl_rate, progress, dry_run=dry_run)


@dataclasses.dataclass(frozen=True)
class Task:
    id: str
    kind: str
    payload: dict
    needs: tuple[str, ...] = ()
    """Tasks whose failure makes this one pointless."""
    after: tuple[str, ...] = ()
    """Tasks that must finish first, whatever their outcome."""


def build_graph(specs: list[JobSpec], progress: Progress | None = None,
                dry_run: bool = False) -> tuple[list[Task], dict[str, str], dict]:
    """Tasks in an order that respects their dependencies, the jobs that could not be planned,
    and the plans made on the way (a task cache, so tasks run in this process do not plan again)."""
    progress = progress or NullProgress()
    planned, failed = [], {}
    for spec in specs:
        try:
            planned.append((spec, spec.plan(progress, dry_run)))
        except S2LError as e:
            failed[spec.key] = str(e)
            progress.log(f"{spec.key}: {e}")
    footage: dict[str, dict] = {}
    for spec, plan in planned:
        for name, actor in plan.actors.items():
            entry = footage.setdefault(name, {"work": spec.work, "clips": set(), "face": actor.face_hint.point,
                                              "train": dataclasses.asdict(spec.train_config())})
            entry["clips"].update((str(c.path), c.range_text) for c in actor.clips)
    # A whole footage file (range None) may sit beside ranges of the same file from another project.
    tasks = [Task(f"{TRAIN}:{name}", TRAIN, {"actor": name, "work": entry["work"],
                                             "clips": sorted(entry["clips"], key=lambda c: (c[0], c[1] or "")),
                                             "face": entry["face"], "train": entry["train"]})
             for name, entry in sorted(footage.items())]
    for spec, plan in planned:
        renders = []
        for index, (_, actor) in enumerate(plan.segments):
            task_id = f"{RENDER}:{spec.key}:{index}"
            tasks.append(Task(task_id, RENDER, {"spec": dataclasses.asdict(spec), "segment": index, "actor": actor},
                              needs=(f"{TRAIN}:{actor}",)))
            renders.append(task_id)
        tasks.append(Task(f"{ASSEMBLE}:{spec.key}", ASSEMBLE, {"spec": dataclasses.asdict(spec)}, after=tuple(renders)))
    cache = {_plan_key(dataclasses.asdict(spec)): plan for spec, plan in planned}
    return tasks, failed, cache


def execute(task: Task, progress: Progress | None = None, cache: dict | None = None) -> dict:
    """Run one task; a user-facing problem becomes a failed result, never an exception."""
    progress = progress or NullProgress()
    cache = {} if cache is None else cache
    started = time.monotonic()
    try:
        if task.kind == TRAIN:
            result = _train(task.payload, progress, cache)
        elif task.kind == RENDER:
            result = _render(task.payload, progress, cache)
        else:
            result = _assemble(task.payload, progress, cache)
    except S2LError as e:
        return {"id": task.id, "ok": False, "error": str(e), "seconds": round(time.monotonic() - started, 1)}
    return {"id": task.id, "ok": True, **result, "seconds": round(time.monotonic() - started, 1)}


def _train(payload: dict, progress: Progress, cache: dict) -> dict:
    from ..timeline.job import ready_actor

    clips = [ClipInput(Path(path), range_text) for path, range_text in payload["clips"]]
    face = FaceHint(tuple(payload["face"])) if payload["face"] else FaceHint()
    renderer = ready_actor(Path(payload["work"]), payload["actor"], clips, face,
                           train_config_from_dict(payload["train"]), progress)
    cache[("renderer", payload["work"], payload["actor"])] = renderer
    return {"model": renderer.model_id}


def _plan_key(spec_dict: dict) -> tuple[str, str]:
    return "plan", json.dumps(spec_dict, sort_keys=True)


def _plan(spec_dict: dict, progress: Progress, cache: dict):
    key = _plan_key(spec_dict)
    if key not in cache:
        cache[key] = JobSpec(**spec_dict).plan(progress)
    return cache[key]


def _render(payload: dict, progress: Progress, cache: dict) -> dict:
    from ..render.engine import ActorRenderer
    from ..timeline.job import LeftAlone, render_segment
    from ..train.trainer import model_dir

    plan = _plan(payload["spec"], progress, cache)
    segment, actor = plan.segments[payload["segment"]]
    if actor != payload["actor"]:
        raise S2LError(f"the plan changed since the batch started (segment {payload['segment']} is now {actor}'s)")
    renderer_key = ("renderer", str(plan.work), actor)
    if renderer_key not in cache:
        from ..dataset.prepare import dataset_dir

        cache[renderer_key] = ActorRenderer(dataset_dir(plan.work, actor), model_dir(plan.work, actor))
    try:
        rendered, reused = render_segment(plan, cache[renderer_key], actor, segment, progress)
    except LeftAlone as e:
        return {"left_alone": str(e), "unsure": e.decision.unsure}
    return {"media": str(rendered.media), "reused": bool(reused), "scores": rendered.sidecar.get("scores", {})}


def _assemble(payload: dict, progress: Progress, cache: dict) -> dict:
    from ..timeline.job import LeftAlone, LeftSegment, assemble, render_segment

    started = time.monotonic()
    plan = _plan(payload["spec"], progress, cache)
    renders, failures, left = [], [], []
    for segment, actor in plan.segments:
        try:
            renders.append(render_segment(plan, None, actor, segment, progress)[0])
        except LeftAlone as e:
            left.append(LeftSegment(segment, actor, e.decision))
        except S2LError:
            failures.append(f"{segment.shot.name} frames {segment.start}-{segment.stop}: not rendered")
    summary = assemble(plan, renders, failures, len(renders), time.monotonic() - started, progress, left)
    return {"summary": summary}
