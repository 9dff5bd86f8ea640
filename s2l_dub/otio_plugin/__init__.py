"""s2l-dub's OpenTimelineIO plugin, found through the ``opentimelineio.plugins`` entry point.

It exposes what s2l-dub adds to OTIO:
- ``s2l_fcpxml``: the exact-time FCPXML reader and writer (``adapter_name="s2l_fcpxml"``).
- ``s2l_dub_relink``: a media linker that finds rendered dub media again after a project
  moved between machines (``media_linker_name="s2l_dub_relink"``).
Rendered clips carry ``metadata["s2l"]`` (actor, model, scores, QC reasons) and review
points are clip markers whose names start with ``S2L QC:``.
"""
