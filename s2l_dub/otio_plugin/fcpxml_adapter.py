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


def write_to_string(input_otio):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "timeline.fcpxml"
        write_fcpxml(input_otio, path)
        return path.read_text()
