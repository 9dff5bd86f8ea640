"""Media linker: find s2l-dub's rendered clips and dub stems again after a project moved.

Only clips s2l-dub wrote (those with ``metadata["s2l"]``) whose file is missing are
touched. Candidates, in order: the folders in the argument ``search_paths`` (a list),
the folders in ``S2L_DUB_MEDIA_PATH`` (os.pathsep-separated), then the file's own name
under the current directory. The first folder holding a file of the same name wins.
"""

from __future__ import annotations

import os
from pathlib import Path

import opentimelineio as otio

from s2l_dub.timeline.shots import file_url, local_path


def link_media_reference(in_clip, media_linker_argument_map):
    reference = in_clip.media_reference
    if "s2l" not in in_clip.metadata or not isinstance(reference, otio.schema.ExternalReference):
        return reference
    current = local_path(reference.target_url, Path.cwd())
    if current is None or current.exists():
        return reference
    folders = list((media_linker_argument_map or {}).get("search_paths", []))
    folders += [p for p in os.environ.get("S2L_DUB_MEDIA_PATH", "").split(os.pathsep) if p]
    folders.append(".")
    for folder in folders:
        for candidate in (Path(folder) / current.name, Path(folder) / current.parent.name / current.name):
            if candidate.is_file():
                return otio.schema.ExternalReference(
                    target_url=file_url(candidate.resolve()),
                    available_range=reference.available_range,
                    metadata=reference.metadata,
                )
    return reference

