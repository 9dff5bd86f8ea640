"""Editor integrations: the OpenTimelineIO plugin and the watch folder."""

import os
import time

import opentimelineio as otio
import pytest

from s2l_dub.batch.watch import WatchConfig, pending, run_once
from s2l_dub.errors import S2LError
from s2l_dub.timeline.io import read_timeline, write_timeline


def test_otio_discovers_the_plugin_after_install():
    manifest = otio.plugins.ActiveManifest()
    assert "s2l_dub_relink" in [linker.name for linker in manifest.media_linkers]
    assert "s2l_fcpxml" in otio.adapters.available_adapter_names()


def dub_clip(url, rate=25):
    return otio.schema.Clip(
        name="shot [anna]", metadata={"s2l": {"actor": "anna"}},
        media_reference=otio.schema.ExternalReference(target_url=url),
        source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, rate), otio.opentime.RationalTime(10, rate)))


def test_media_linker_relinks_moved_dub_media(tmp_path):
    moved = tmp_path / "new_machine" / "edit.fr.media"
    moved.mkdir(parents=True)
    (moved / "shot_anna.mov").write_bytes(b"not really a movie")
    timeline = otio.schema.Timeline(tracks=[otio.schema.Track(children=[
        dub_clip("/old_machine/edit.fr.media/shot_anna.mov"),
        otio.schema.Clip(name="original", media_reference=otio.schema.ExternalReference(target_url="/gone.mov")),
    ])])
    path = tmp_path / "edit.fr.otio"
    otio.adapters.write_to_file(timeline, str(path))
    linked = otio.adapters.read_from_file(str(path), media_linker_name="s2l_dub_relink",
                                          media_linker_argument_map={"search_paths": [str(moved.parent)]})
    dubbed, original = linked.find_clips()
    assert dubbed.media_reference.target_url == "file://" + str((moved / "shot_anna.mov").resolve())
    assert original.media_reference.target_url == "/gone.mov"  # not ours: left as the editor had it


def test_s2l_fcpxml_adapter_through_otio(tmp_path):
    timeline = otio.schema.Timeline(tracks=[otio.schema.Track(children=[dub_clip("/media/a.mov", 24000 / 1001)])])
    text = otio.adapters.write_to_string(timeline, adapter_name="s2l_fcpxml")
    assert 'frameDuration="1001/24000s"' in text
    back = otio.adapters.read_from_string(text, adapter_name="s2l_fcpxml")
    clip = back.find_clips()[0]
    assert clip.metadata["s2l"]["actor"] == "anna" and clip.source_range.duration.to_frames() == 10


def test_s2l_fcpxml_adapter_keeps_relative_media_valid(tmp_path, monkeypatch):
    """otioconvert -O s2l_fcpxml: a relative media path is found from the output's folder (a file)
    or the working folder (a string), never from the scratch folder the text was made in."""
    timeline = otio.schema.Timeline(tracks=[otio.schema.Track(children=[dub_clip("renders/a.mov")])])
    out = tmp_path / "edit" / "dub.fcpxml"
    out.parent.mkdir()
    otio.adapters.write_to_file(timeline, str(out), adapter_name="s2l_fcpxml")
    assert f'src="file://{tmp_path}/edit/renders/a.mov"' in out.read_text()
    monkeypatch.chdir(tmp_path)
    text = otio.adapters.write_to_string(timeline, adapter_name="s2l_fcpxml")
    assert f'src="file://{tmp_path}/renders/a.mov"' in text
    manifest = otio.plugins.ActiveManifest()
    assert "fcpxml" in next(a for a in manifest.adapters if a.name == "s2l_fcpxml").suffixes


def drop(folder, name="edit", audio="stem.wav", age_s=10):
    timeline = otio.schema.Timeline(tracks=[otio.schema.Track(children=[dub_clip("/media/a.mov")])])
    path = write_timeline(timeline, folder / f"{name}.otio")
    (folder / audio).write_bytes(b"RIFF")
    sidecar = folder / f"{name}.s2l.toml"
    sidecar.write_text(f'audio = "{audio}"\nlang = "fr"\n')
    old = time.time() - age_s
    for p in (path, sidecar):
        os.utime(p, (old, old))
    return path


def test_watch_folder_runs_each_export_exactly_once(tmp_path):
    # The job itself is stubbed here (the main job has its own end-to-end test); this checks the
    # folder logic: pick-up, once-only, re-run on change, and failures recorded, not retried.
    calls = []

    def runner(timeline, options, progress):
        calls.append((timeline.name, options["lang"], options["audio"].name))
        return {"outputs": [str(timeline.with_name("edit.fr.otio"))]}

    timeline = drop(tmp_path)
    assert run_once(tmp_path, runner=runner)[0]["ok"]
    assert run_once(tmp_path, runner=runner) == []
    assert calls == [("edit.otio", "fr", "stem.wav")]

    read = read_timeline(timeline)
    read.name = "re-exported"
    write_timeline(read, timeline)
    os.utime(timeline, (time.time() - 10, time.time() - 10))
    run_once(tmp_path, runner=runner)
    assert len(calls) == 2

    def failing(timeline, options, progress):
        raise S2LError(f"{options['audio']}: dub stem ends at 5.00 s")

    drop(tmp_path, "other")
    records = run_once(tmp_path, runner=failing)
    assert records[0]["ok"] is False
    assert "dub stem ends" in (tmp_path / "other.s2l-error.txt").read_text()
    assert run_once(tmp_path, runner=failing) == []


def test_watch_waits_for_files_to_settle(tmp_path):
    drop(tmp_path, age_s=0)
    assert pending(tmp_path, WatchConfig(settle_s=5)) == []
    assert len(pending(tmp_path, WatchConfig(settle_s=0))) == 1


def test_watch_folder_takes_a_final_cut_bundle(tmp_path):
    """A .fcpxmld dropped with its sidecar is picked up, and re-run when its Info.fcpxml changes."""
    bundle = tmp_path / "edit.fcpxmld"
    bundle.mkdir()
    timeline = otio.schema.Timeline(tracks=[otio.schema.Track(children=[dub_clip("/media/a.mov")])])
    document = write_timeline(timeline, bundle / "Info.fcpxml")
    (tmp_path / "stem.wav").write_bytes(b"RIFF")
    (tmp_path / "edit.s2l.toml").write_text('audio = "stem.wav"\nlang = "fr"\n')
    for p in (document, tmp_path / "edit.s2l.toml"):
        os.utime(p, (time.time() - 10, time.time() - 10))
    assert [t for t, _, _ in pending(tmp_path, WatchConfig(settle_s=0))] == [bundle]
    assert run_once(tmp_path, runner=lambda timeline, options, progress: {"outputs": []})[0]["ok"]
    assert pending(tmp_path, WatchConfig(settle_s=0)) == []
    document.write_text(document.read_text().replace("<fcpxml", "<!-- again -->\n<fcpxml", 1))
    assert [t for t, _, _ in pending(tmp_path, WatchConfig(settle_s=0))] == [bundle]


def test_watch_sidecar_errors_name_the_file(tmp_path):
    drop(tmp_path)
    (tmp_path / "edit.s2l.toml").write_text('lang = "fr"\n')
    os.utime(tmp_path / "edit.s2l.toml", (time.time() - 10, time.time() - 10))
    records = run_once(tmp_path)
    assert not records[0]["ok"] and "edit.s2l.toml: 'audio' (the dub stem) is required" in records[0]["error"]


@pytest.mark.parametrize("name", ["edit.otio"])
def test_watch_ignores_timelines_without_a_sidecar(tmp_path, name):
    timeline = otio.schema.Timeline(tracks=[otio.schema.Track()])
    write_timeline(timeline, tmp_path / name)
    assert pending(tmp_path, WatchConfig(settle_s=0)) == []


# ---- DaVinci Resolve: the real application cannot run here, so its scripting objects are
# stand-ins that record every call; the s2l-dub run is stubbed to write a dubbed timeline.

def load_resolve_script():
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "plugins" / "resolve" / "s2l_dub_resolve.py"
    spec = importlib.util.spec_from_file_location("s2l_dub_resolve", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


class Recorder:
    def __init__(self, calls, name, returns=None):
        self.calls, self.name, self.returns = calls, name, returns or {}

    def __getattr__(self, method):
        def call(*args):
            self.calls.append((self.name, method, args))
            value = self.returns.get(method)
            return value(*args) if callable(value) else value
        return call


def test_resolve_script_round_trip_with_stand_ins(tmp_path):
    from s2l_dub.timeline.segments import Segment
    from s2l_dub.timeline.shots import Shot
    from s2l_dub.timeline.writeback import RenderedSegment, dubbed_timeline

    script = load_resolve_script()
    calls = []

    def export(path, kind, subtype):
        edit = otio.schema.Timeline(name="Reel 1", tracks=[otio.schema.Track(name="V1", children=[
            otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=otio.opentime.RationalTime(48, 24))),
            dub_clip("/media/a.mov", 24)])])
        otio.adapters.write_to_file(edit, path)
        return True

    imported = Recorder(calls, "imported timeline")
    timeline = Recorder(calls, "timeline", {"GetName": "Reel 1", "Export": export})
    media_pool = Recorder(calls, "media pool", {"ImportTimelineFromFile": lambda path, options: imported})
    project = Recorder(calls, "project", {"GetCurrentTimeline": timeline, "GetMediaPool": media_pool})
    manager = Recorder(calls, "project manager", {"GetCurrentProject": project})
    resolve = Recorder(calls, "resolve", {"GetProjectManager": manager})
    resolve.EXPORT_OTIO, resolve.EXPORT_NONE = "otio", "none"

    commands = []

    def run(command, **_):
        commands.append(command)
        exported, output = command[1], command[command.index("-o") + 1]
        edit = otio.adapters.read_from_file(exported)
        shot = Shot(0, "a", "V1", 0, tmp_path / "a.mov", 24.0, 48, 58, 0, ((48, 58),), {}, ())
        sidecar = {"source": {"timecode": None}, "model": {"id": "m"}, "frames": 10, "silent_frames": 0,
                   "scores": {"sync_offset_frames": 4, "sync_confidence": 0.2, "face_lost_share": 0.0}}
        dubbed, _ = dubbed_timeline(edit, [RenderedSegment(Segment(shot, 50, 56), "anna", tmp_path / "d.mov", sidecar)],
                                    tmp_path / "stem.wav", 3.0, 0.0, "fr", tmp_path, 24.0)
        otio.adapters.write_to_file(dubbed, output)
        return type("Done", (), {"returncode": 0, "stderr": ""})()

    script.shutil.which = lambda name: "/usr/bin/s2l-dub"
    answers = script.Answers(audio="/stems/fr.wav", lang="fr", subtitles="/stems/fr.srt")
    result = script.dub_current_timeline(resolve, lambda: answers, run, tmp_path)

    assert result is imported
    export_call = next(c for c in calls if c[1] == "Export")
    assert export_call[2][1:] == ("otio", "none") and export_call[2][0].endswith("Reel_1.otio")
    assert commands[0][2:6] == ["--audio", "/stems/fr.wav", "--lang", "fr"] and "--subtitles" in commands[0]
    import_call = next(c for c in calls if c[1] == "ImportTimelineFromFile")
    assert import_call[2][0].endswith("Reel_1.fr.otio")
    assert import_call[2][1] == {"timelineName": "Reel 1 (fr)", "importSourceClips": True}
    # One segment at timeline frame 50 was 4 frames off: one red marker there, 6 frames long.
    markers = [c[2] for c in calls if c[1] == "AddMarker"]
    assert markers == [(50, "Red", "S2L QC", "lips +4 frames off the audio", 6, "s2l-dub")]


def test_resolve_script_reports_a_failed_run(tmp_path):
    script = load_resolve_script()
    calls = []
    timeline = Recorder(calls, "timeline", {"GetName": "Reel 1", "Export": lambda *a: True})
    project = Recorder(calls, "project", {"GetCurrentTimeline": timeline})
    resolve = Recorder(calls, "resolve", {"GetProjectManager": Recorder(calls, "pm", {"GetCurrentProject": project})})
    resolve.EXPORT_OTIO, resolve.EXPORT_NONE = "otio", "none"
    script.shutil.which = lambda name: "/usr/bin/s2l-dub"
    failed = lambda command, **_: type("Done", (), {"returncode": 2, "stderr": "s2l-dub: error: fr.wav: no audio"})()
    with pytest.raises(RuntimeError, match="fr.wav: no audio"):
        script.dub_current_timeline(resolve, lambda: script.Answers(audio="fr.wav"), failed, tmp_path)
    assert not any(c[1] == "ImportTimelineFromFile" for c in calls)
