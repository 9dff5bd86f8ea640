"""Where the job graph runs: here, one task at a time, or on a Ray cluster.

Locally, tasks run in order in this process: training already uses every core, and
two renders at once on 2 cores would only slow each other down. On Ray, training
tasks ask for a GPU when the cluster has one (else all of a node's CPUs, as here) and
renders fan out one CPU each; a task starts only when the tasks it needs are done.
"""

from __future__ import annotations

import os

from ..errors import BackendUnavailableError
from ..progress import NullProgress, Progress
from .graph import TRAIN, Task, execute

EXECUTORS = ("local", "ray")


def _blocked(task: Task, results: dict[str, dict]) -> dict | None:
    for need in task.needs:
        if not results.get(need, {}).get("ok"):
            reason = results.get(need, {}).get("error", "did not run")
            return {"id": task.id, "ok": False, "error": f"skipped: {need} failed ({reason})", "seconds": 0.0}
    return None


def run_local(tasks: list[Task], progress: Progress | None = None, stop_after: int | None = None,
              cache: dict | None = None) -> dict[str, dict]:
    """Run every task in order. ``stop_after`` ends the run after that many tasks, as a crash would;
    ``cache`` holds what tasks may share in this process (build_graph's plans)."""
    progress = progress or NullProgress()
    results: dict[str, dict] = {}
    cache = {} if cache is None else cache
    for count, task in enumerate(tasks):
        if stop_after is not None and count >= stop_after:
            raise KeyboardInterrupt(f"stopped after {stop_after} tasks")
        results[task.id] = _blocked(task, results) or execute(task, progress, cache)
        if not results[task.id]["ok"]:
            progress.log(f"{task.id}: {results[task.id]['error']}")
    return results


def _run_remote(task: Task, *upstream: dict) -> dict:
    finished = {result["id"]: result for result in upstream}
    return _blocked(task, finished) or execute(task)


def run_ray(tasks: list[Task], address: str | None = None, progress: Progress | None = None) -> dict[str, dict]:
    try:
        import ray
    except ImportError as e:
        raise BackendUnavailableError("the Ray executor needs ray (pip install 's2l-dub[ray]')") from e
    progress = progress or NullProgress()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, logging_level="ERROR",
                 num_cpus=None if address else os.cpu_count(), ignore_reinit_error=True)
    try:
        resources = ray.cluster_resources()
        gpus = 1 if resources.get("GPU", 0) >= 1 else 0
        train_cpus = 1 if gpus else max(1, int(resources.get("CPU", 1)))
        train = ray.remote(num_cpus=train_cpus, num_gpus=gpus)(_run_remote)
        render = ray.remote(num_cpus=1)(_run_remote)
        refs = {}
        progress.start("batch on ray", len(tasks), unit="tasks")
        for task in tasks:
            upstream = [refs[t] for t in (*task.needs, *task.after) if t in refs]
            refs[task.id] = (train if task.kind == TRAIN else render).remote(task, *upstream)
        results = {}
        for task in tasks:
            results[task.id] = ray.get(refs[task.id])
            progress.advance()
            if not results[task.id]["ok"]:
                progress.log(f"{task.id}: {results[task.id]['error']}")
        return results
    finally:
        if started_here:
            ray.shutdown()
