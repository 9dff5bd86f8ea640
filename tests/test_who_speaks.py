"""Who speaks, from the shots' original sound (issue 25): the main job on a real edit where the
German anchor's face is seen speaking, over another person's voice, over silence and from a file
with no sound. A listener is never dubbed; a speaker the check cannot confirm is flagged, not
silently dropped."""

import json

import opentimelineio as otio
import pytest

from s2l_dub.render.original_sync import OriginalSync
from s2l_dub.timeline.job import DubConfig, plan_dub, run_dub
from s2l_dub.timeline.lines import decide_speaker
from s2l_dub.timeline.speaker_sample import build_speaker_edit
from s2l_dub.train.config import TrainConfig


def test_the_decision_takes_the_original_sound_first_and_the_script_second():
    speaks, listens = OriginalSync("speaks", "moves with it"), OriginalSync("listens", "does not move with it")
    silent, unsure = OriginalSync("silent", "no speech"), OriginalSync("unsure", "half agrees")
    unknown = OriginalSync("unknown", "no original sound")
    assert decide_speaker(speaks, False).dub and decide_speaker(speaks, True).dub
    assert not decide_speaker(listens, False).dub and not decide_speaker(listens, False).unsure
    assert not decide_speaker(silent, False).dub
    # The script and the picture disagree: the editor decides.
    assert (decide_speaker(listens, True).dub, decide_speaker(listens, True).unsure) == (False, True)
    assert (decide_speaker(unsure, False).dub, decide_speaker(unsure, False).unsure) == (False, True)
    assert decide_speaker(unsure, True).dub
    assert decide_speaker(unknown, False).dub and "face on screen" in decide_speaker(unknown, False).spoken_by
    assert decide_speaker(unknown, True).spoken_by.startswith("the script")


@pytest.fixture(scope="module")
def dubbed(samples, tmp_path_factory):
    folder = tmp_path_factory.mktemp("who_speaks")
    edit = build_speaker_edit(samples, folder)
    train = TrainConfig(steps=30, batch_size=4, expert_steps=200, expert_batch=64, checkpoint_every=100,
                        preview_every=1000, log_every=10)
    plan = plan_dub(edit.timeline, edit.stem, DubConfig(lang="fr", train=train), actors_file=edit.actors)
    return edit, plan, run_dub(plan)


def test_no_listener_is_dubbed_and_every_speaker_is_dubbed_or_flagged(dubbed):
    edit, plan, summary = dubbed
    assert sorted(seg.shot.name for seg, _ in plan.segments) == sorted(edit.truth)  # the stem speaks over all
    assert any("no original sound under no_sound" in line for line in plan.speaker_check)
    rendered = {s["clip"]: s["spoken_by"] for s in summary["segments"]}
    left = {line["shot"]: line["reason"] for line in summary["lines_left_alone"]}
    unsure = {line["shot"]: line["reason"] for line in summary["speaker_unsure"]}
    print("rendered:", rendered, "\nleft alone:", left, "\nunsure:", unsure)
    listeners = {name for name, speaks in edit.truth.items() if speaks is False}
    assert not listeners & set(rendered)  # precision 1.0
    assert "no speech in the shot's original sound" in left["off_screen"]
    assert "reaction" in left or "reaction" in unsure
    speakers = {name for name, speaks in edit.truth.items() if speaks}
    assert speakers <= set(rendered) | set(unsure)  # never dropped without a word
    assert any(rendered.get(name) == "the original sync sound" for name in speakers)
    assert rendered["no_sound"].startswith("the face on screen (no original sound")
    assert not set(rendered) & set(left) and not set(rendered) & set(unsure)


def test_unsure_segments_are_marked_on_the_dub_track_and_a_rerun_reuses_every_decision(dubbed):
    edit, plan, summary = dubbed
    timeline = otio.adapters.read_from_file(str(plan.output))
    dub_track = next(t for t in timeline.tracks if t.name == "S2L fr")
    markers = [(item.markers[0].name, item.range_in_parent().start_time.to_frames())
               for item in dub_track if isinstance(item, otio.schema.Gap) and item.markers]
    assert len(markers) == len(summary["speaker_unsure"])
    assert all(name.startswith("S2L QC: speaker unsure (anchor_de)") for name, _ in markers)
    verdicts = plan.work / "actors" / "anchor_de" / "model" / "original_sync.json"
    before = verdicts.read_bytes()
    again = run_dub(plan)
    assert again["segments_reused"] == len(summary["segments"]) and again["segments_rendered"] == 0
    assert again["lines_left_alone"] == summary["lines_left_alone"]
    assert again["speaker_unsure"] == summary["speaker_unsure"]
    assert verdicts.read_bytes() == before
    assert json.loads(plan.output.with_name(plan.output.name + ".s2l.json").read_text())["speaker_unsure"] == \
        summary["speaker_unsure"]


def test_an_unsure_segment_becomes_a_red_marker_over_its_frames_on_the_dub_track(dubbed):
    from s2l_dub.timeline.writeback import dubbed_timeline

    edit, plan, summary = dubbed
    segment = next(seg for seg, _ in plan.segments if seg.shot.name == "reaction")
    timeline, flagged = dubbed_timeline(plan.timeline, [], edit.stem, 25.0, 0.0, "fr", plan.output.parent, plan.rate,
                                        unsure=[(segment, "S2L QC: speaker unsure (anchor_de): half agrees")])
    gaps = [item for item in timeline.tracks[-2] if isinstance(item, otio.schema.Gap) and item.markers]
    assert flagged == 1 and len(gaps) == 1
    span = gaps[0].range_in_parent()
    assert (span.start_time.to_frames(), span.duration.to_frames()) == (segment.start, segment.frames)
    assert gaps[0].markers[0].color == otio.schema.MarkerColor.RED
    # The editor's own tracks are untouched.
    assert [otio.adapters.write_to_string(t) for t in timeline.tracks[:-2]] == \
        [otio.adapters.write_to_string(t) for t in plan.timeline.tracks]


def test_a_two_shot_names_each_actor_in_it_and_each_needs_a_face_hint(tmp_path):
    from s2l_dub.errors import TimelineError
    from s2l_dub.timeline.actors import load_mapping

    path = tmp_path / "actors.toml"
    path.write_text('[clips]\ntwo = ["anna", "bob"]\nsolo = "anna"\n[faces]\nanna = "left"\nbob = "right"\n')
    mapping = load_mapping(path)
    assert mapping.by_clip == {"two": ("anna", "bob"), "solo": "anna"}
    path.write_text('[clips]\ntwo = ["anna", "bob"]\n[faces]\nanna = "left"\n')
    with pytest.raises(TimelineError, match=r"several actors in one shot; give bob a \[faces\] hint"):
        load_mapping(path)
    path.write_text('[clips]\ntwo = ["anna", "-"]\n[faces]\nanna = "left"\n')
    with pytest.raises(TimelineError, match="cannot be listed with actors"):
        load_mapping(path)
    path.write_text('[clips]\ntwo = []\n')
    with pytest.raises(TimelineError, match=r"\[clips\] must map names to an actor or a list of actors"):
        load_mapping(path)
