"""A progress sink the library reports to; the CLI renders it with rich."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def start(self, label: str, total: int | None, unit: str = "frames") -> None: ...

    def advance(self, steps: int = 1) -> None: ...

    def log(self, message: str) -> None: ...


class NullProgress:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def start(self, label: str, total: int | None, unit: str = "frames") -> None:
        pass

    def advance(self, steps: int = 1) -> None:
        pass

    def log(self, message: str) -> None:
        self.messages.append(message)
