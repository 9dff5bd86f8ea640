"""Batch recipes: what to dub (projects x languages) and how, in one TOML file.

Every path in a recipe is relative to the recipe's folder and must stay inside the
allowed roots (the recipe's folder unless ``allowed_roots`` names others); a mistake
is reported with the file, the line and the key. ``recipes/template.toml`` documents
every option.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from pathlib import Path

from ..errors import S2LError
from ..timeline.io import ADAPTERS
from ..train.config import BUDGETS

LOUDNESS_TARGETS = {"ebu-r128": -23.0, "atsc-a85": -24.0}
_TOP_KEYS = {"name", "quality", "codec", "output", "work", "loudness", "allowed_roots", "report", "projects",
             "languages"}
_PROJECT_KEYS = {"name", "timeline", "actors", "rate"}
_LANGUAGE_KEYS = {"code", "stems", "subtitles", "audio_offset"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class RecipeError(S2LError):
    """A recipe that cannot be run; the message names the file, line and key."""


@dataclasses.dataclass(frozen=True)
class Project:
    name: str
    timeline: Path
    actors: Path | None = None
    rate: float | None = None


@dataclasses.dataclass(frozen=True)
class Language:
    code: str
    stems: dict[str, Path]
    subtitles: dict[str, Path]
    audio_offset: float = 0.0


@dataclasses.dataclass(frozen=True)
class Recipe:
    path: Path
    name: str
    projects: tuple[Project, ...]
    languages: tuple[Language, ...]
    quality: str = "default"
    codec: str = "prores"
    output: str = "out/{project}/{project}.{lang}{ext}"
    work: Path = Path("work")
    loudness: str | None = None
    report: Path = Path("out/report")

    def output_for(self, project: Project, lang: str) -> Path:
        relative = self.output.format(project=project.name, lang=lang, ext=project.timeline.suffix)
        return self.path.parent / relative


def load_recipe(path: Path) -> Recipe:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError(f"{path}: recipe not found") from None
    except UnicodeDecodeError:
        raise RecipeError(f"{path}: the recipe is not UTF-8 text") from None
    except OSError as e:
        raise RecipeError(f"{path}: cannot read the recipe ({e.strerror or e})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise RecipeError(f"{path}: not valid TOML ({e})") from e
    where = _Locator(path, text)
    where.unknown(data, _TOP_KEYS, None)
    base = path.parent.resolve()
    roots = [base] + [where.path(root, base, [], "allowed_roots", check=False)
                      for root in where.typed(data, "allowed_roots", list, [])]

    quality = where.choice(data, "quality", sorted(BUDGETS), "default")
    codec = where.choice(data, "codec", ["prores", "h264"], "prores")
    loudness = data.get("loudness")
    if loudness is not None and loudness not in LOUDNESS_TARGETS:
        where.fail("loudness", f"{loudness!r} is not one of {sorted(LOUDNESS_TARGETS)}")
    output = where.typed(data, "output", str, Recipe.output)
    for field in ("{project}", "{lang}"):
        if field not in output:
            where.fail("output", f"the layout must contain {field} so outputs do not overwrite each other")
    where.path(output.format(project="p", lang="l", ext=".otio"), base, roots, "output")

    projects = []
    for i, entry in enumerate(where.typed(data, "projects", list, None, required=True)):
        key = f"projects[{i}]"
        where.unknown(entry, _PROJECT_KEYS, key)
        name = where.name(entry, "name", key)
        if any(p.name == name for p in projects):
            where.fail(f"{key}.name", f"project {name!r} is listed twice")
        timeline = where.path(where.typed(entry, "timeline", str, None, key, required=True), base, roots,
                              f"{key}.timeline")
        actors = entry.get("actors")
        rate = entry.get("rate")
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float))
                                 or not math.isfinite(rate) or rate <= 0):
            where.fail(f"{key}.rate", f"{rate!r} must be a frame rate in frames per second (e.g. 25, 23.976)")
        if rate is None and timeline.suffix.lower() == ".edl":
            where.fail(f"{key}.rate", "is required for an EDL, which carries no frame rate (e.g. rate = 25)",
                       at=key)
        projects.append(Project(name, timeline, where.path(actors, base, roots, f"{key}.actors") if actors else None,
                                rate))
        written = base / output.format(project=name, lang="l", ext=timeline.suffix)
        if written.suffix.lower() not in ADAPTERS:
            where.fail("output", f"gives {written.name!r} for project {name!r}, not a timeline file; "
                                 "end the layout with {ext} (the timeline's own format) or a timeline extension")

    languages = []
    for i, entry in enumerate(where.typed(data, "languages", list, None, required=True)):
        key = f"languages[{i}]"
        where.unknown(entry, _LANGUAGE_KEYS, key)
        code = where.name(entry, "code", key)
        stems = where.typed(entry, "stems", dict, None, key, required=True)
        subtitles = where.typed(entry, "subtitles", dict, {}, key)
        for table, label in ((stems, "stems"), (subtitles, "subtitles")):
            for project in table:
                if all(p.name != project for p in projects):
                    where.fail(f"{key}.{label}", f"{project!r} is not a project of this recipe")
        languages.append(Language(
            code,
            {p: where.path(v, base, roots, f"{key}.stems.{p}") for p, v in stems.items()},
            {p: where.path(v, base, roots, f"{key}.subtitles.{p}") for p, v in subtitles.items()},
            _offset(where, entry, key),
        ))
    work = where.path(where.typed(data, "work", str, "work"), base, roots, "work")
    report = where.path(where.typed(data, "report", str, "out/report"), base, roots, "report")
    return Recipe(path.resolve(), where.typed(data, "name", str, path.stem), tuple(projects), tuple(languages),
                  quality, codec, output, work, loudness, report)


def _offset(where: "_Locator", entry: dict, key: str) -> float:
    value = entry.get("audio_offset", 0.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        where.fail(f"{key}.audio_offset", f"{value!r} must be a finite number of seconds")
    return float(value)


class _Locator:
    """Error messages that point at the line of the offending key."""

    def __init__(self, path: Path, text: str):
        self.file, self.lines = path, text.splitlines()

    def line_of(self, key: str) -> int | None:
        if not key:
            return None
        # projects[1].timeline -> the second [[projects]] header, then "timeline" after it.
        start = 0
        for part in key.split("."):
            match = re.match(r"^(\w+)\[(\d+)\]$", part)
            if match:
                table, index = match.group(1), int(match.group(2))
                headers = [n for n, line in enumerate(self.lines) if line.strip() == f"[[{table}]]"]
                if index < len(headers):
                    start = headers[index]
                continue
            for n in range(start, len(self.lines)):
                if re.match(rf'^\s*"?{re.escape(part)}"?\s*=', self.lines[n]) or \
                        self.lines[n].strip() == f"[{part}]":
                    return n + 1
        return start + 1 if start else None

    def fail(self, key: str, problem: str, at: str | None = None):
        line = self.line_of(at or key)
        raise RecipeError(f"{self.file}:{line}: {key}: {problem}" if line else f"{self.file}: {key}: {problem}")

    def unknown(self, table: dict, allowed: set[str], prefix: str | None) -> None:
        for key in table:
            if key not in allowed:
                self.fail(f"{prefix}.{key}" if prefix else key, f"unknown key; expected one of {sorted(allowed)}")

    def typed(self, table: dict, key: str, kind: type, default, prefix: str | None = None, required: bool = False):
        full = f"{prefix}.{key}" if prefix else key
        if key not in table:
            if required:
                self.fail(full, "is required", at=prefix or "")
            return default
        value = table[key]
        if not isinstance(value, kind):
            self.fail(full, f"must be a {kind.__name__}, not {type(value).__name__}")
        return value

    def choice(self, table: dict, key: str, allowed: list[str], default: str) -> str:
        value = self.typed(table, key, str, default)
        if value not in allowed:
            self.fail(key, f"{value!r} is not one of {allowed}")
        return value

    def name(self, table: dict, key: str, prefix: str) -> str:
        value = self.typed(table, key, str, None, prefix, required=True)
        if not _NAME.match(value):
            self.fail(f"{prefix}.{key}", f"{value!r} must be letters, digits, '.', '_' or '-'")
        return value

    def path(self, value: str, base: Path, roots: list[Path], key: str, check: bool = True) -> Path:
        if not isinstance(value, str):
            self.fail(key, f"must be a path string, not {type(value).__name__}")
        if "\x00" in value:
            self.fail(key, f"{value!r} holds a NUL character, which no file name can")
        resolved = (base / value).resolve()
        if check and not any(resolved == root or root in resolved.parents for root in roots):
            self.fail(key, f"{value!r} escapes the allowed roots ({', '.join(str(r) for r in roots)})")
        return resolved
