"""Which actor each shot shows.

In order of authority: the clip's own ``metadata["s2l"]["actor"]``, a clip marker named
``s2l:actor=NAME``, the ``--actors`` mapping file (by media path, clip name, then
track name), and last, grouping the remaining shots by face. A mapping to ``"-"``
leaves a shot alone.

The mapping file's ``[footage]`` names more of an actor's own footage (rushes, other
episodes: files or globs), which they learn from beside the cut's shots.
"""

from __future__ import annotations

import dataclasses
import glob
import re
import tomllib
from pathlib import Path

import numpy as np

from ..errors import TimelineError
from ..face.identity import SAME_PERSON_DISTANCE, FaceSample, cluster_faces
from .shots import Shot

SKIP = "-"
_MARKER = re.compile(r"^s2l:actor\s*=\s*(\S.*)$", re.IGNORECASE)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclasses.dataclass(frozen=True)
class ActorMapping:
    by_media: dict[str, str | tuple[str, ...]] = dataclasses.field(default_factory=dict)
    by_clip: dict[str, str | tuple[str, ...]] = dataclasses.field(default_factory=dict)
    by_track: dict[str, str | tuple[str, ...]] = dataclasses.field(default_factory=dict)
    """Each maps to an actor, or to the actors of a two-shot (each with a ``faces`` hint)."""
    faces: dict[str, str] = dataclasses.field(default_factory=dict)
    """Face hints per actor (left, right, center or X,Y) for shots with several people."""
    footage: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    """More footage per actor: files or globs, relative to the mapping file."""
    characters: dict[str, str] = dataclasses.field(default_factory=dict)
    """The dub script's character names -> actor (``"-"``: a voice no one on screen speaks)."""
    base_dir: Path = Path(".")
    source: Path | None = None

    def footage_files(self, name: str) -> list[Path]:
        """The files ``[footage]`` names for ``name``, each once, in the order given (a glob's sorted)."""
        files: list[Path] = []
        for pattern in self.footage.get(name, ()):
            full = Path(pattern).expanduser()
            full = full if full.is_absolute() else self.base_dir / full
            if glob.has_magic(str(full)):
                found = [Path(f) for f in sorted(glob.glob(str(full), recursive=True)) if Path(f).is_file()]
            else:
                found = [full] if full.is_file() else []
            if not found:
                what = "matches no file" if glob.has_magic(str(full)) else "is not a file"
                raise TimelineError(f"{self.source}: [footage] {name} = {pattern!r} {what}")
            files.extend(f.resolve() for f in found if f.resolve() not in files)
        return files

    def lookup(self, shot: Shot) -> tuple[str, ...]:
        """The actors named for ``shot`` (several in a two-shot), or none."""
        for key, names in self.by_media.items():
            path = Path(key)
            path = path if path.is_absolute() else self.base_dir / path
            if path.resolve() == shot.media:
                return _names(names)
        return _names(self.by_clip.get(shot.name) or self.by_track.get(shot.track_name))


def load_mapping(path: Path | None) -> ActorMapping:
    if path is None:
        return ActorMapping()
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise TimelineError(f"{path}: actor mapping file not found") from None
    except UnicodeDecodeError:
        raise TimelineError(f"{path}: the actor mapping is not UTF-8 text") from None
    except OSError as e:
        raise TimelineError(f"{path}: cannot read the actor mapping ({e.strerror or e})") from None
    except tomllib.TOMLDecodeError as e:
        raise TimelineError(f"{path}: not valid TOML ({e})") from e
    unknown = set(data) - {"media", "clips", "tracks", "faces", "footage", "characters"}
    if unknown:
        raise TimelineError(f"{path}: unknown section(s) {sorted(unknown)}; "
                            "use [media], [clips], [tracks], [faces], [footage], [characters]")
    footage = data.get("footage", {})
    if not isinstance(footage, dict):
        raise TimelineError(f"{path}: [footage] must map actor names to files or lists of files")
    for name, value in footage.items():
        check_actor_name(name, f"{path}: [footage]")
        patterns = [value] if isinstance(value, str) else value
        if not isinstance(patterns, list) or not patterns or not all(isinstance(v, str) and v for v in patterns):
            raise TimelineError(f"{path}: [footage] {name}: give a file, a glob, or a list of them")
        footage[name] = tuple(patterns)
    tables = {}
    for section in ("media", "clips", "tracks", "faces", "characters"):
        table = data.get(section, {})
        several = section in ("media", "clips", "tracks")  # a two-shot names each actor in it
        if not isinstance(table, dict) or not all(
                isinstance(v, str) or (several and isinstance(v, list) and v and all(isinstance(n, str) for n in v))
                for v in table.values()):
            raise TimelineError(f"{path}: [{section}] must map names to "
                                f"{'an actor or a list of actors' if several else 'strings'}")
        if section != "faces":
            for key, names in table.items():
                for name in _names(names):
                    check_actor_name(name, f"{path}: [{section}] {key!r}")
                if len(_names(names)) > 1:
                    if SKIP in names:
                        raise TimelineError(f"{path}: [{section}] {key!r}: '-' leaves a shot alone and cannot be "
                                            "listed with actors")
                    unplaced = [n for n in names if n not in data.get("faces", {})]
                    if unplaced:
                        raise TimelineError(f"{path}: [{section}] {key!r} names several actors in one shot; give "
                                            f"{', '.join(unplaced)} a [faces] hint (left, right, center or X,Y)")
        tables[section] = {key: tuple(v) if isinstance(v, list) else v for key, v in table.items()}
    return ActorMapping(tables["media"], tables["clips"], tables["tracks"], tables["faces"], footage,
                        tables["characters"], path.parent.resolve(), path)


def speaking_actor(speaker: str, mapping: ActorMapping, actors: set[str]) -> str | None:
    """The actor who speaks a line the script gives to ``speaker``: ``[characters]`` first (any case),
    else an actor of that very name; None when the script names no one or no one known."""
    if not speaker:
        return None
    folded = {name.casefold(): actor for name, actor in mapping.characters.items()}
    if speaker.casefold() in folded:
        return folded[speaker.casefold()]
    return next((actor for actor in sorted(actors) if actor.casefold() == speaker.casefold()), None)


def check_actor_name(name: str, where: str) -> str:
    if name != SKIP and not _NAME.match(name):
        raise TimelineError(f"{where}: actor name {name!r} must be letters, digits, '.', '_' or '-'")
    return name


def declared_actors(shot: Shot, mapping: ActorMapping) -> tuple[str, ...]:
    """The actors named for a shot by metadata, marker or mapping file (several in a two-shot the
    mapping file lists); none when undeclared."""
    if shot.metadata.get("actor"):
        return (check_actor_name(str(shot.metadata["actor"]), f"clip {shot.name!r} metadata"),)
    for marker in shot.marker_names:
        match = _MARKER.match(marker or "")
        if match:
            return (check_actor_name(match.group(1).strip(), f"clip {shot.name!r} marker"),)
    return mapping.lookup(shot)


def _names(value: str | tuple[str, ...] | None) -> tuple[str, ...]:
    return () if not value else (value,) if isinstance(value, str) else tuple(value)


def group_by_face(samples: dict[int, FaceSample], taken: set[str], threshold: float = SAME_PERSON_DISTANCE,
                  prefix: str = "") -> dict[int, str]:
    """Name each face group ``PREFIXactor_N`` (in order of first appearance), avoiding ``taken`` names."""
    ids = sorted(samples)
    if not ids:
        return {}
    labels = cluster_faces(np.stack([samples[i].descriptor for i in ids]), threshold)
    names: dict[int, str] = {}
    counter = 0
    for label in range(int(labels.max()) + 1):
        counter += 1
        while f"{prefix}actor_{counter}" in taken:
            counter += 1
        names[label] = f"{prefix}actor_{counter}"
    return {shot_id: names[int(label)] for shot_id, label in zip(ids, labels)}
