"""The main job on timelines built around the real sample footage (two actors, a gap, a dissolve)."""

import json
from fractions import Fraction
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import opentimelineio as otio
import pytest
import soundfile as sf

from s2l_dub.audio.vad import speech_flags
from s2l_dub.cli.main import main
from s2l_dub.errors import TimelineError
from s2l_dub.timeline.io import read_timeline, write_timeline
from s2l_dub.timeline.job import DubConfig, plan_dub, run_dub
from s2l_dub.timeline.sample import build_sample_project
from s2l_dub.timeline.segments import Speech, load_cues, plan_segments
from s2l_dub.timeline.shots import DUB_TRACK_PREFIX, Shot, collect_shots
from s2l_dub.timeline.writeback import RenderedSegment, dubbed_timeline

from .conftest import tiny_train_config

NTSC = Fraction(24000, 1001)


@pytest.fixture(scope="module")
def project25(samples, tmp_path_factory):
    return build_sample_project(samples, tmp_path_factory.mktemp("edit25"))


@pytest.fixture(scope="module")
def project_ntsc(samples, tmp_path_factory):
    return build_sample_project(samples, tmp_path_factory.mktemp("edit2398"), NTSC)


@pytest.fixture(scope="module")
def plan25(project25):
    return plan_dub(project25.timeline, project25.stem, DubConfig(lang="fr"), subtitles=project25.subtitles)


def clip_spans(timeline):
    """(track, clip name, first frame, frames) for every clip, from the clips' own ranges."""
    spans = []
    for track in timeline.tracks:
        for clip in track.find_clips(shallow_search=True):
            r = track.range_of_child(clip)
            rate = r.duration.rate
            spans.append((track.name, clip.name, r.start_time.to_frames(), r.duration.to_frames(), round(rate, 3)))
    return spans


def fake_renders(plan, folder: Path):
    """Rendered-segment records without rendering (the writer only reads their paths and sidecars)."""
    renders = []
    for seg, actor in plan.segments:
        media = folder / f"{seg.shot.name}_{seg.start}.mov"
        sidecar = {"source": {"timecode": None}, "model": {"id": "m"}, "frames": seg.frames, "silent_frames": 0,
                   "scores": {"sync_offset_frames": 4 if seg.shot.name == "de_2" else 0, "sync_confidence": 0.1,
                              "face_lost_share": 0.0, "max_head_turn_deg": 3.0}}
        renders.append(RenderedSegment(seg, actor, media, sidecar))
    return renders


def test_face_grouping_finds_the_two_actors(plan25):
    members = {name: [s.name for s in a.shots] for name, a in plan25.actors.items()}
    assert sorted(members.values()) == [["de_1", "de_2", "de_3"], ["may_1", "may_2"]]
    assert all(a.assigned_by == "face grouping" for a in plan25.actors.values())


def test_the_dissolve_and_the_gap_are_never_dubbed(plan25):
    shots = {s.name: s for s in plan25.shots}
    # 10 frames either side of the de_2 | may_2 cut are under the dissolve.
    assert shots["de_2"].visible == ((212, 315),)
    assert shots["may_2"].visible == ((335, 387),)
    for seg, _ in plan25.segments:
        assert any(a <= seg.start and seg.stop <= b for a, b in seg.shot.visible)


def test_subtitle_segments(plan25):
    got = [(seg.shot.name, seg.start, seg.stop) for seg, _ in plan25.segments]
    # Cue 1 (frames 10-148) covers de_1 and runs 23 frames into may_1 (padded by 5, then a cut in the
    # pause). Cue 2 (220-335) starts 8 frames into de_2: padded by 5, then snapped to the edit; it ends
    # at the dissolve. Cue 3 (397-484), padded to 392-489, lies within 12 frames of both edits of de_3.
    assert got == [("de_1", 0, 125), ("may_1", 125, 153), ("de_2", 212, 315), ("de_3", 387, 500)]


def test_speech_detection_segments_match_the_cues(project25, plan25):
    detected = plan_dub(project25.timeline, project25.stem, DubConfig(lang="fr"))
    assert "speech detection" in detected.speech_from
    by_cue = [(s.shot.name, s.start, s.stop) for s, _ in plan25.segments]
    by_vad = [(s.shot.name, s.start, s.stop) for s, _ in detected.segments]
    assert [name for name, *_ in by_vad] == [name for name, *_ in by_cue]
    for (_, a0, b0), (_, a1, b1) in zip(by_cue, by_vad):
        assert abs(a0 - a1) <= 3 and abs(b0 - b1) <= 3


def test_segment_planning_pads_merges_and_snaps():
    shot = Shot(0, "s", "V1", 0, Path("/x.mov"), 25.0, 100, 300, 0, ((100, 300),), {}, ())
    speech = [Speech(4.2, 5.0), Speech(5.3, 6.0), Speech(9.0, 11.9), Speech(11.99, 13.0)]
    segs = plan_segments(speech, [shot])
    # 4.2-5.0 and 5.3-6.0 merge (gap 0.3 s); 9.0-11.9 is padded to the shot's end.
    # Speech from 11.99 s on lies after the shot (12.0 s) except a sliver; it is ignored.
    assert [(s.start, s.stop) for s in segs] == [(100, 155), (220, 300)]


def test_ntsc_edit_keeps_frames_exact(project_ntsc):
    timeline = read_timeline(project_ntsc.timeline)
    shots, skipped = collect_shots(timeline, project_ntsc.timeline.parent)
    assert not skipped and abs(shots[0].rate - 24000 / 1001) < 1e-9
    assert [(s.start, s.stop) for s in shots] == [(0, 125), (125, 187), (212, 325), (325, 387), (387, 500)]
    cues = load_cues(project_ntsc.subtitles)
    # The stem was laid at frame 10 of a 23.976 edit: 10 * 1001/24000 s.
    assert cues[0].start_s == pytest.approx(10 * 1001 / 24000, abs=1e-3)


@pytest.mark.parametrize("suffix", [".otio", ".xml", ".fcpxml"])
@pytest.mark.parametrize("which", ["25", "ntsc"])
def test_round_trip_keeps_every_clip_exactly(suffix, which, project25, project_ntsc, tmp_path):
    project = project25 if which == "25" else project_ntsc
    plan = plan_dub(project.timeline, project.stem, DubConfig(lang="fr"), subtitles=project.subtitles)
    dubbed, flagged = dubbed_timeline(plan.timeline, fake_renders(plan, tmp_path / "media"), project.stem, 20.0, 0.0,
                                      "fr", tmp_path, plan.rate)
    assert flagged == 1  # de_2's lips were 4 frames off
    written = write_timeline(dubbed, tmp_path / f"dubbed{suffix}")
    back = read_timeline(written)
    # Adapters may rename and reorder tracks; every clip's position, duration and rate must survive.
    expected = sorted(span[1:] for span in clip_spans(dubbed))
    assert sorted(span[1:] for span in clip_spans(back)) == expected
    originals = sorted(span[1:] for span in clip_spans(plan.timeline))
    assert originals == sorted(span[1:] for span in clip_spans(dubbed) if not span[0].startswith(DUB_TRACK_PREFIX))
    if suffix == ".xml":
        # Resolve rejects a sequence without a filled <format> (OTIO issue #839); editors relink by file URL.
        text = written.read_text()
        assert "<samplecharacteristics>" in text and "<pathurl>file://" in text
    markers = [m.name for clip in back.find_clips() for m in clip.markers]
    assert any("frames off the audio" in name for name in markers)


def test_job_end_to_end_then_cached(project_ntsc, tmp_path):
    """The 23.976 fps edit dubbed with tiny models: clips land on their segments; a rerun reuses everything."""
    config = DubConfig(lang="fr", train=tiny_train_config(), codec="h264")
    output = tmp_path / "out" / "edit.fr.otio"
    work = tmp_path / "work"
    plan = plan_dub(project_ntsc.timeline, project_ntsc.stem, config, output, work, project_ntsc.subtitles)
    summary = run_dub(plan)
    assert not summary["failures"] and summary["segments_rendered"] == len(plan.segments) == 4

    dubbed = read_timeline(output)
    track = next(t for t in dubbed.tracks if t.name == f"{DUB_TRACK_PREFIX}fr")
    placed = [(track.range_of_child(c).start_time.to_frames(), track.range_of_child(c).duration.to_frames())
              for c in track.find_clips()]
    assert placed == [(seg.start, seg.frames) for seg, _ in plan.segments]
    for clip, (seg, _) in zip(track.find_clips(), plan.segments):
        media = output.parent / clip.media_reference.target_url
        assert media.is_file() and not Path(clip.media_reference.target_url).is_absolute()
        assert clip.metadata["s2l"]["actor"] in plan.actors
        # Silence is judged on the whole stem, not on the cut-out segment.
        sidecar = json.loads(media.with_suffix(media.suffix + ".json").read_text())
        times = (seg.start + np.arange(seg.frames)) / plan.rate
        speaking = speech_flags(times, [(s.start_s, s.end_s) for s in plan.detected])
        assert sidecar["silent_frames"] == seg.frames - speaking.sum() < seg.frames / 2
    originals = clip_spans(read_timeline(project_ntsc.timeline))
    assert [s for s in clip_spans(dubbed) if not s[0].startswith(DUB_TRACK_PREFIX)] == originals

    again = plan_dub(project_ntsc.timeline, project_ntsc.stem, config, output, work, project_ntsc.subtitles)
    assert all(a.dataset_cached and a.model_cached for a in again.actors.values())
    second = run_dub(again)
    assert second["segments_reused"] == 4 and second["segments_rendered"] == 0

    # Avid: the same renders, linked from an AAF of the dub on the edit's record timing.
    for_avid = run_dub(plan_dub(project_ntsc.timeline, project_ntsc.stem, config, output.with_suffix(".aaf"), work,
                                project_ntsc.subtitles))
    assert for_avid["segments_rendered"] == 0 and not for_avid["failures"]
    linked = read_timeline(output.with_suffix(".aaf"))
    track = next(t for t in linked.tracks if t.name == f"{DUB_TRACK_PREFIX}fr")
    assert [(track.range_of_child(c).start_time.to_frames(), track.range_of_child(c).duration.to_frames())
            for c in track.find_clips()] == placed
    assert all(Path(urlparse(c.media_reference.target_url).path).is_file() for c in track.find_clips())


def test_missing_and_unsupported_clips_are_listed_not_fatal(project25, tmp_path):
    timeline = read_timeline(project25.timeline)
    track = timeline.tracks[0]
    clips = list(track.find_clips(shallow_search=True))
    clips[0].media_reference = otio.schema.ExternalReference(target_url=str(tmp_path / "gone.mov"))
    clips[1].effects.append(otio.schema.LinearTimeWarp(time_scalar=2.0))
    track.append(otio.schema.Stack(name="compound"))
    path = write_timeline(timeline, tmp_path / "edit.otio")
    shots, skipped = collect_shots(read_timeline(path), project25.timeline.parent)
    reasons = {s.name: s.reason for s in skipped}
    assert "media offline" in reasons["de_1"] and "speed" in reasons["may_1"] and "nested" in reasons["compound"]
    assert [s.name for s in shots] == ["de_2", "may_2", "de_3"]


def test_bad_input_gives_one_line_errors(project25, tmp_path, capsys):
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(16000 * 5, np.float32), 16000)
    bad_srt = tmp_path / "bad.srt"
    bad_srt.write_bytes(b"\xff\xfe\x00garbage")
    cases = [
        ([str(project25.timeline), "--audio", str(short), "--dry-run"], "dub stem ends at 5.00 s"),
        ([str(project25.timeline), "--audio", str(project25.stem), "--subtitles", str(bad_srt), "--dry-run"],
         "bad.srt"),
        ([str(tmp_path / "nope.otio"), "--audio", str(project25.stem)], "timeline file not found"),
        ([str(project25.timeline), "--audio", str(project25.stem), "-o", str(project25.timeline)],
         "refusing to overwrite the input timeline"),
    ]
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        # A short stem is reported after the plan, so the dry run still lists everything else.
        assert err[-1].startswith("s2l-dub: error: ") and message in err[-1], err
        assert len(err) == 1 or message.startswith("dub stem ends"), err


def test_mapping_file_and_metadata_name_actors(project25, tmp_path):
    mapping = tmp_path / "actors.toml"
    mapping.write_text('[clips]\nde_1 = "greta"\n[tracks]\nV1 = "-"\n')
    timeline = read_timeline(project25.timeline)
    for clip in timeline.find_clips():
        if clip.name == "de_2":
            clip.metadata["s2l"] = {"actor": "greta"}
    path = write_timeline(timeline, project25.timeline.parent / "named.otio")
    plan = plan_dub(path, project25.stem, DubConfig(lang="fr"), actors_file=mapping)
    assert {s.name for s in plan.actors["greta"].shots} == {"de_1", "de_2"}
    assert {s.name for s in plan.skipped} >= {"may_1", "may_2", "de_3"}

    broken = tmp_path / "broken.toml"
    broken.write_text("[clips\n")
    with pytest.raises(TimelineError, match="broken.toml: not valid TOML"):
        plan_dub(path, project25.stem, DubConfig(lang="fr"), actors_file=broken)


def test_cli_dry_run_prints_the_plan(project25, capsys):
    assert main([str(project25.timeline), "--audio", str(project25.stem), "--lang", "fr", "--dry-run"]) == 0
    out = capsys.readouterr()
    text = out.out + out.err
    assert "actor_1" in text and "4 segments" in text
    assert not project25.timeline.with_name("project.fr.otio").exists()


def test_edl_needs_a_rate_and_distrusts_dissolve_sources(project25, tmp_path, capsys):
    timeline = read_timeline(project25.timeline)
    del timeline.tracks[1]  # an EDL holds the picture track
    edl = write_timeline(timeline, project25.timeline.parent / "edit.edl")
    assert main([str(edl), "--audio", str(project25.stem), "--dry-run"]) == 2
    assert "EDL carries no frame rate" in capsys.readouterr().err
    plan = plan_dub(edl, project25.stem, DubConfig(lang="fr"), edl_rate=25)
    assert [(s.name, s.start, s.stop, s.source_first_frame) for s in plan.shots] == \
        [("de_1", 0, 125, 0), ("may_1", 125, 187, 0), ("de_2", 212, 315, 150), ("de_3", 387, 500, 300)]
    assert "dissolve in an EDL" in {s.name: s.reason for s in plan.skipped}["may_2"]


def test_speech_detection_leaves_torch_threads_alone():
    import torch

    from s2l_dub.audio.vad import VadConfig, speech_segments

    torch.set_num_threads(2)
    speech_segments(np.zeros(16000, np.float32), 16000, VadConfig())
    assert torch.get_num_threads() == 2  # silero_vad's import drops it to 1, halving training speed


def test_a_short_segment_keeps_the_speech_of_its_stem(project25):
    # The German line runs 17 frames into may_1; speech detection on that second alone
    # found none of it (the mouth stayed shut while the stem talked).
    plan = plan_dub(project25.timeline, project25.stems["de"], DubConfig(lang="de"),
                    subtitles=project25.subtitle_files["de"])
    seg = next(s for s, _ in plan.segments if s.shot.name == "may_1")
    times = (seg.start + np.arange(seg.frames)) / plan.rate
    assert speech_flags(times, [(s.start_s, s.end_s) for s in plan.detected]).sum() >= 15


def test_mute_media_is_dubbed_but_not_learned_from(plan25, tmp_path):
    """A shot whose media has no sound cannot teach the mouth; the renderer still tracks and dubs it."""
    import dataclasses

    from s2l_dub.errors import NoAudioError
    from s2l_dub.media import probe_video
    from s2l_dub.timeline.job import _training_clips, ready_actor

    actor = next(iter(plan25.actors.values()))
    media = {s.media: probe_video(s.media) for s in actor.shots}
    assert _training_clips(actor.shots, 1.0, media)[0]  # with sound, its shots are its footage
    mute = actor.shots[0].media
    media[mute] = dataclasses.replace(media[mute], has_audio=False)
    clips, frames, _ = _training_clips(actor.shots, 1.0, media)
    assert all(c.path != mute for c in clips)
    if all(s.media == mute for s in actor.shots):
        assert clips == [] and frames == 0
    with pytest.raises(NoAudioError, match=f"actor {actor.name}: none of their shots' media has an audio stream"):
        ready_actor(tmp_path, actor.name, [], actor.face_hint, tiny_train_config())


def _rushes(samples: Path, folder: Path) -> Path:
    """A second take of the German anchor, as rushes would hold it: the last 6 s of his recording, which
    the sample edit's shots (frames 0-412) barely reach."""
    import subprocess

    folder.mkdir(parents=True, exist_ok=True)
    take = folder / "anchor_take2.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", "14", "-i", str(samples / "actors" / "anchor_de_20s.mp4"),
                    "-c:v", "libx264", "-crf", "14", "-c:a", "aac", str(take)], check=True)
    return take


def test_footage_in_the_actors_file_is_learnt_from(samples, project25, tmp_path, capsys):
    """``[footage]`` adds an actor's rushes to what they learn from: planned, shown, prepared and trained on."""
    take = _rushes(samples, tmp_path / "rushes")
    mapping = tmp_path / "actors.toml"
    mapping.write_text('[clips]\nde_1 = "anchor"\nde_2 = "anchor"\nde_3 = "anchor"\nmay_1 = "-"\nmay_2 = "-"\n'
                       '[footage]\nanchor = "rushes/*.mp4"\nsomeone_else = ["rushes/anchor_take2.mp4"]\n')
    config = DubConfig(lang="fr", train=tiny_train_config(), codec="h264")
    output, work = tmp_path / "out" / "edit.fr.otio", tmp_path / "work"
    plan = plan_dub(project25.timeline, project25.stem, config, output, work, project25.subtitles, mapping)
    actor = plan.actors["anchor"]
    assert actor.footage == [take.resolve()]
    assert [(c.path, c.range_text) for c in actor.clips][-1] == (take.resolve(), None)
    assert actor.footage_s == pytest.approx(6.0, abs=0.1) and actor.cut_s == pytest.approx(438 / 25, abs=0.05)
    assert any("someone_else" in note and "not used" in note for note in plan.notes)

    assert main([str(project25.timeline), "--audio", str(project25.stem), "--actors", str(mapping), "--dry-run"]) == 0
    out = capsys.readouterr()
    text = out.out + out.err
    assert f"footage: anchor learns from {take.resolve()}\n" in text, text
    assert "(1 file)" in text and "17.5 s of" in text, text  # the table's "learns from", wrapped
    # Printed as written: brackets in the user's text are not taken for colour markup.
    assert "[footage] for someone_else" in " ".join(text.split()), text

    summary = run_dub(plan)
    assert not summary["failures"] and summary["segments_rendered"] == len(plan.segments) > 0
    assert summary["actors"]["anchor"]["learnt_from"]["footage"] == [str(take.resolve())]
    manifest = json.loads((work / "actors" / "anchor" / "dataset" / "manifest.json").read_text())
    learnt = {(Path(c["path"]).name, c["frames"]) for c in manifest["clips"]}
    assert ("anchor_take2.mp4", 150) in learnt and ("anchor_de_20s.mp4", 438) in learnt


def test_footage_that_is_missing_or_silent_is_refused_before_any_work(samples, project25, tmp_path, capsys):
    import subprocess

    mapping = tmp_path / "actors.toml"
    for footage, message in (('"rushes/*.mov"', "matches no file"), ('"take.mp4"', "is not a file"),
                             ('["rushes/mute.mp4"]', "has no audio stream"), ("5", "give a file, a glob")):
        if "mute" in footage:
            (tmp_path / "rushes").mkdir(exist_ok=True)
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(samples / "actors" / "may_en_5s.mp4"), "-an",
                            "-c:v", "copy", str(tmp_path / "rushes" / "mute.mp4")], check=True)
        mapping.write_text(f'[clips]\nmay_1 = "may"\nmay_2 = "may"\n[footage]\nmay = {footage}\n')
        argv = [str(project25.timeline), "--audio", str(project25.stem), "--actors", str(mapping), "--dry-run"]
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(mapping) in err[0] and message in err[0], err
