"""OTIO adapter entry points over s2l-dub's FCPXML reader and writer."""

from __future__ import annotations

import tempfile
from pathlib import Path

from s2l_dub.timeline.fcpxml import read_fcpxml, write_fcpxml


def read_from_file(filepath):
    return read_fcpxml(Path(filepath))


def read_from_string(input_str):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "timeline.fcpxml"
        path.write_text(input_str)
        return read_fcpxml(path)


def write_to_file(input_otio, filepath):
    """Relative media paths are taken relative to the output's folder, as s2l-dub writes them."""
    path = Path(filepath)
    write_fcpxml(input_otio, path, media_base=path.parent.resolve())


def write_to_string(input_otio):
    """With no file to be relative to, relative media paths are taken from the working folder
    (never from the scratch folder the text is made in, which is gone when it is returned)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "timeline.fcpxml"
        write_fcpxml(input_otio, path, media_base=Path.cwd())
        return path.read_text()
