"""Offline media found again, as conform tools do: by file name, then by reel or clip name.

An edit made on another machine names its media where that machine kept it
(``/Volumes/Media/A001.MOV``, ``S:\\rushes\\A001.MOV``). ``--media DIR`` (repeatable) names
folders to search; a clip whose file is offline is linked to the one file there with its
file name, or else with its clip or reel name as the name's stem (``A001C003`` finds
``A001C003.mov``). Two candidates are never guessed between: the clip stays offline and the
plan says which files competed. The editor's timeline is not changed; only the plan reads
the relinked file.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path, PureWindowsPath

from ..errors import TimelineError

MEDIA_SUFFIXES = {".mov", ".mp4", ".m4v", ".mxf", ".avi", ".mkv", ".webm", ".mts", ".m2ts", ".r3d", ".braw"}


@dataclasses.dataclass(frozen=True)
class MediaIndex:
    by_name: dict[str, tuple[Path, ...]]
    """Lower-case file name -> the files with it."""
    by_stem: dict[str, tuple[Path, ...]]
    """Lower-case name without its extension -> the files with it."""

    @classmethod
    def scan(cls, folders: list[Path]) -> MediaIndex:
        by_name: dict[str, list[Path]] = {}
        by_stem: dict[str, list[Path]] = {}
        for folder in folders:
            folder = Path(folder)
            if not folder.is_dir():
                raise TimelineError(f"--media {folder}: not a folder")
            # A link is known by its own name, not its target's: conform folders are often links
            # named as the edit names its media, all pointing at one transcode.
            for root, dirs, files in os.walk(folder.resolve()):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    path = Path(root, name)
                    if name.startswith(".") or path.suffix.lower() not in MEDIA_SUFFIXES:
                        continue
                    by_name.setdefault(name.lower(), []).append(path)
                    by_stem.setdefault(path.stem.lower(), []).append(path)
        return cls({k: tuple(dict.fromkeys(v)) for k, v in by_name.items()},
                   {k: tuple(dict.fromkeys(v)) for k, v in by_stem.items()})

    def find(self, missing: Path | None, names: tuple[str, ...]) -> tuple[Path | None, str]:
        """The file an offline clip's media was, and how it was found (or why it was not)."""
        keys = []
        if missing is not None:
            keys.append(("file name", self.by_name, file_name(missing).lower()))
        keys += [("clip name", self.by_stem, n.strip().lower()) for n in names if n and n.strip()]
        for how, table, key in keys:
            found = table.get(key, ())
            if len(found) == 1:
                return found[0], f"relinked by {how} to {found[0]}"
            if len(found) > 1:
                return None, f"{len(found)} files in --media match its {how} ({', '.join(map(str, found[:3]))}); " \
                             "not guessed"
        return None, "not found in --media"


def file_name(path: Path | str) -> str:
    """The last part of a path written on any system (``S:\\rushes\\A001.MOV`` -> ``A001.MOV``)."""
    text = str(path)
    return PureWindowsPath(text).name if "\\" in text else Path(text).name
