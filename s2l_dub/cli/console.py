"""Rich rendering of the library's progress reports."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


class RichProgress:
    """One bar per stage; finished stages stay on screen as a record of the run."""

    def __init__(self, console: Console):
        self.console = console
        self._progress = Progress(
            SpinnerColumn(), TextColumn("{task.description:<30}"), BarColumn(bar_width=20), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
            console=console, transient=False,
        )
        self._task = None
        self._live = False

    def __enter__(self) -> "RichProgress":
        return self

    def __exit__(self, *exc) -> None:
        self._finish()
        if self._live:
            self._progress.stop()

    def start(self, label: str, total: int | None, unit: str = "frames") -> None:
        # The display starts with the first stage, so an early one-line error stays one line.
        if not self._live:
            self._progress.start()
            self._live = True
        self._finish()
        self._task = self._progress.add_task(label, total=total, rate="", unit=unit)

    def advance(self, steps: int = 1) -> None:
        if self._task is None:
            return
        self._progress.advance(self._task, steps)
        task = self._progress.tasks[self._task]
        if task.speed:
            self._progress.update(self._task, rate=f"{task.speed:.1f} {task.fields['unit']}/s")

    def log(self, message: str) -> None:
        self._progress.console.print(f"[yellow]note:[/] {message}")

    def _finish(self) -> None:
        if self._task is not None:
            task = self._progress.tasks[self._task]
            self._progress.update(self._task, total=task.total or 1, completed=task.total or 1)
            self._task = None
