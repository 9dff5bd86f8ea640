"""Atomic, versioned, content-keyed artifacts.

Every artifact is a folder with a ``manifest.json``. Files are written to a temporary
name beside their target and renamed into place, so a crash never leaves a
half-written file under a real name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .errors import ArtifactVersionError, S2LError

_HASH_CHUNK = 1 << 20


TEMP_MARK = ".tmp"
"""Every temporary s2l-dub writes is named ``.NAME.pPID.*.tmp*`` beside its target, so a later run can
tell the leftovers of a killed process from the files of one still writing."""
_TEMP_PID = re.compile(r"\.p(\d+)\.")


def safe_name(value: object, what: str) -> str:
    """``value`` if it can name a file or folder of ours by itself: no path, nothing hidden, printable.

    Actor names and language tags become folder and file names; ``../x`` or ``a/b`` would write
    outside the folder the user named.
    """
    if not isinstance(value, str) or not value.strip():
        raise S2LError(f"{what} {value!r}: must be a non-empty name")
    if any(sep in value for sep in ("/", "\\", os.sep)) or value in (".", "..") or value.startswith(".") \
            or not value.isprintable() or value != value.strip():
        raise S2LError(f"{what} {value!r}: must be a plain name (no path separators, no leading dot "
                       "or spaces, printable characters only)")
    return value


def refuse_overwrite(target: Path, inputs: list[tuple[str, Path | None]]) -> None:
    """Raise if writing ``target`` would replace one of the ``(role, path)`` inputs."""
    target = Path(target).resolve()
    for role, path in inputs:
        if path is not None and Path(path).resolve() == target:
            raise S2LError(f"{target}: refusing to overwrite {role}; choose another output")


def user_file_mode() -> int:
    """The mode a plain ``open`` would give a new file under the user's umask (0o666 minus the mask)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    # Without /proc the umask can only be read by setting it; put it straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def temp_name(target: Path, tag: str = "") -> Path:
    """A temporary path beside ``target`` that names this process (see ``sweep_temporaries``)."""
    target = Path(target)
    return target.with_name(f".{target.name}.p{os.getpid()}.{tag}{TEMP_MARK}{target.suffix}")


def sweep_temporaries(folder: Path) -> list[Path]:
    """Remove the temporaries that killed s2l-dub processes left in ``folder`` (not recursive).

    A temporary whose process still runs is left alone: a batch or a second job may be writing it.
    """
    removed: list[Path] = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for path in folder.glob(f".*{TEMP_MARK}*"):
        found = _TEMP_PID.search(path.name)
        if found is None or _process_alive(int(found.group(1))):
            continue
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
        except OSError:
            pass
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    The file ends with the mode the user's umask gives new files: mkstemp's 0600 would hide
    outputs from the editing application and other users on shared storage.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.p{os.getpid()}.", suffix=TEMP_MARK + target.suffix,
                               dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, user_file_mode())
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_json(target: Path, payload: Any) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=_json_default) + "\n")


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise S2LError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from e


def save_arrays(target: Path, **arrays: np.ndarray) -> None:
    """Save named arrays as an uncompressed .npz (fast to load, no pickles)."""
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


class NpyStreamWriter:
    """Write a .npy file row by row, so arrays larger than memory never sit in RAM.

    Rows are appended in order; ``close`` checks that exactly ``shape[0]`` were written.
    """

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: np.dtype):
        self.path = Path(path)
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self._fh = open(self.path, "wb")
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": self.shape}
        np.lib.format.write_array_header_2_0(self._fh, header)
        self._rows = 0

    def write(self, row: np.ndarray) -> None:
        self._fh.write(np.ascontiguousarray(row, self.dtype).tobytes())
        self._rows += 1

    def close(self) -> None:
        self._fh.close()
        if self._rows != self.shape[0]:
            raise S2LError(f"{self.path}: wrote {self._rows} of {self.shape[0]} rows")


@contextlib.contextmanager
def atomic_folder(target: Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``target``; put it in ``target``'s place on success.

    A folder cannot be renamed onto a full one: an old ``target`` is moved aside first and removed
    after (or put back if the swap fails), so the name never holds a mix of old and new files.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.p{os.getpid()}.", suffix=TEMP_MARK, dir=target.parent))
    aside = None
    try:
        # mkdtemp's 0700 would hide the folder from the editing application and other users.
        file_mode = user_file_mode()
        os.chmod(staging, file_mode | (file_mode & 0o444) >> 2)
        yield staging
        if target.exists() or target.is_symlink():
            aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.p{os.getpid()}.old.", suffix=TEMP_MARK,
                                          dir=target.parent))
            os.replace(target, aside / "old")
        try:
            os.replace(staging, target)
        except OSError:
            if aside is not None:
                os.replace(aside / "old", target)
            raise
    finally:
        for leftover in (staging, aside):
            if leftover is not None and leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)


def file_digest(path: Path) -> str:
    """Content hash of a file (blake2b, hex)."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_HASH_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


class DigestCache:
    """Remembers file digests by (path, size, mtime) so unchanged media is hashed once."""

    def __init__(self, store: Path, persist: bool = True):
        """``persist=False`` keeps new digests in memory only (dry runs write nothing)."""
        self.store = Path(store)
        self.persist = persist
        self._entries: dict[str, dict[str, Any]] = {}
        if self.store.exists():
            try:
                entries = read_json(self.store)
            except (S2LError, OSError):
                entries = {}  # a cache, not a record: a damaged one is rebuilt
            self._entries = entries if isinstance(entries, dict) else {}

    def digest(self, path: Path) -> str:
        path = Path(path).resolve()
        st = path.stat()
        key = str(path)
        entry = self._entries.get(key)
        if isinstance(entry, dict) and entry.get("size") == st.st_size and entry.get("mtime_ns") == st.st_mtime_ns \
                and isinstance(entry.get("digest"), str):
            return entry["digest"]
        value = file_digest(path)
        self._entries[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "digest": value}
        if self.persist:
            write_json(self.store, self._entries)
        return value


def stable_key(*parts: Any) -> str:
    """A short content key for any JSON-serialisable inputs (configs, digests, versions)."""
    blob = json.dumps(parts, sort_keys=True, default=_json_default).encode()
    return hashlib.blake2b(blob, digest_size=12).hexdigest()


def check_format(manifest: dict[str, Any], expected: str, where: Path) -> None:
    found = manifest.get("format")
    if found != expected:
        raise ArtifactVersionError(
            f"{where}: written as format {found!r}, this s2l-dub reads {expected!r}; re-run the stage that made it"
        )


def _json_default(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
