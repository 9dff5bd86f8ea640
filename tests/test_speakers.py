"""Who speaks each line, from the dub script: a listener is never dubbed (issue 25)."""

import json

import pytest

from s2l_dub.cli.main import main
from s2l_dub.timeline.job import DubConfig, plan_dub
from s2l_dub.timeline.sample import build_sample_project
from s2l_dub.timeline.segments import load_cues
from s2l_dub.timeline.speakers import split_label, ttml_agents, vtt_voices


def test_script_labels_are_read_and_ordinary_text_is_not():
    assert split_label("ANNA: Where were you?") == ("ANNA", "Where were you?")
    assert split_label("[Dr. Bob] Sit down.") == ("Dr. Bob", "Sit down.")
    assert split_label("MARY-JANE: Hi") == ("MARY-JANE", "Hi")
    assert split_label("Note: this is a sentence.") == ("", "Note: this is a sentence.")
    assert split_label("At 10:30 we leave") == ("", "At 10:30 we leave")
    # Dialogue dashes: two speakers in one cue, neither named.
    assert split_label("- ANNA: You?\n- BOB: Me.") == ("", "- ANNA: You?\n- BOB: Me.")


def test_webvtt_voices_and_ttml_agents():
    vtt = ("WEBVTT\n\n00:00:01.000 --> 00:00:02.500\n<v Anna>Hello</v>\n\n"
           "00:03.000 --> 00:04.000\n<v.loud Bob Smith>Hi\n\n00:00:05.000 --> 00:00:06.000\nNobody named\n")
    assert vtt_voices(vtt) == {(1000, 2500): "Anna", (3000, 4000): "Bob Smith"}
    ttml = ('<tt xmlns="http://www.w3.org/ns/ttml" xmlns:ttm="http://www.w3.org/ns/ttml#metadata">'
            '<head><metadata><ttm:agent xml:id="a1" type="character"><ttm:name type="full">Anna</ttm:name>'
            '</ttm:agent></metadata></head><body><div ttm:agent="a1">'
            '<p begin="1s" end="2s">Hello</p><p begin="3s" end="4s" ttm:agent="b2">Hi</p>'
            '<p begin="5s" end="6s" ttm:agent="a1 b2">Both</p></div></body></tt>')
    assert ttml_agents(ttml) == ["Anna", "b2", ""]


@pytest.mark.parametrize("suffix, body", [
    (".srt", "1\n00:00:01,000 --> 00:00:02,000\nANNA: Hello there\n\n2\n00:00:03,000 --> 00:00:04,000\nHi\n"),
    (".vtt", "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v ANNA>Hello there\n\n00:00:03.000 --> 00:00:04.000\nHi\n"),
    (".ass", "[Script Info]\nScriptType: v4.00+\n\n[V4+ Styles]\nFormat: Name, Fontname, Fontsize\n"
             "Style: Default,Arial,20\n\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, "
             "MarginR, MarginV, Effect, Text\nDialogue: 0,0:00:01.00,0:00:02.00,Default,ANNA,0,0,0,,Hello there\n"
             "Dialogue: 0,0:00:03.00,0:00:04.00,Default,,0,0,0,,Hi\n"),
])
def test_cues_carry_their_speaker_in_every_script_format(tmp_path, suffix, body):
    path = tmp_path / f"script{suffix}"
    path.write_text(body)
    cues = load_cues(path)
    assert [(c.speaker, c.text) for c in cues] == [("ANNA", "Hello there"), ("", "Hi")]


@pytest.fixture(scope="module")
def edit(samples, tmp_path_factory):
    """The sample edit: line 1 (0.4-5.9 s) runs from the German anchor's shot de_1 into a reaction
    shot of May (may_1, from 5.0 s); line 3 sounds over de_3 only."""
    return build_sample_project(samples, tmp_path_factory.mktemp("speakers"))


def _script(folder, labels):
    srt = folder / "script.fr.srt"
    srt.write_text("".join(f"{n}\n{times}\n{label}(fr line {n})\n\n" for n, (times, label) in enumerate(zip(
        ["00:00:00,400 --> 00:00:05,900", "00:00:08,800 --> 00:00:13,380", "00:00:15,880 --> 00:00:19,330"],
        labels), 1)))
    actors = folder / "actors.toml"
    actors.write_text('[clips]\nde_1 = "greta"\nde_2 = "greta"\nde_3 = "greta"\nmay_1 = "may"\nmay_2 = "may"\n'
                      '[characters]\nGRETA = "greta"\nMay = "may"\n')
    return srt, actors


def test_a_listener_is_left_alone_and_an_off_screen_line_dubbed_nowhere(edit, tmp_path):
    srt, actors = _script(tmp_path, ["", "", ""])
    unnamed = plan_dub(edit.timeline, edit.stem, DubConfig(lang="fr"), subtitles=srt, actors_file=actors,
                       dry_run=True)
    # Without speakers, every face on screen speaks what sounds: May's reaction shot and de_3 too.
    assert [(s.shot.name, a) for s, a in unnamed.segments] == [
        ("de_1", "greta"), ("may_1", "may"), ("de_2", "greta"), ("de_3", "greta")]

    srt, actors = _script(tmp_path, ["GRETA: ", "[Greta] ", "MAY: "])
    plan = plan_dub(edit.timeline, edit.stem, DubConfig(lang="fr"), subtitles=srt, actors_file=actors, dry_run=True)
    assert [(s.shot.name, a, s.speakers) for s, a in plan.segments] == [
        ("de_1", "greta", ("GRETA",)), ("de_2", "greta", ("Greta",))]
    assert plan.segments[0][0].text == "(fr line 1)"
    left = [(line.shot, line.reason) for line in plan.lines_left]
    assert ("may_1", "may listens: the script gives this line to GRETA (greta)") in left
    assert ("de_3", "greta listens: the script gives this line to MAY (may)") in left
    assert ("", "MAY's line is off screen") in left
    # Precision and recall of "speaks" over the edit's face-lines: (de_1, 1), (may_1, 1), (de_2, 2), (de_3, 3).
    truth = {("de_1", 1): True, ("may_1", 1): False, ("de_2", 2): True, ("de_3", 3): False}
    dubbed = {(s.shot.name, int(s.text.split()[-1].rstrip(")"))) for s, _ in plan.segments}
    assert dubbed == {key for key, speaks in truth.items() if speaks}


def test_the_plan_lists_the_lines_left_alone_and_unknown_speakers(edit, tmp_path, capsys):
    srt, actors = _script(tmp_path, ["GRETA: ", "BOB: ", ""])
    argv = [str(edit.timeline), "--audio", str(edit.stem), "--subtitles", str(srt), "--actors", str(actors),
            "--dry-run"]
    assert main(argv) == 0
    out = capsys.readouterr()
    text = " ".join((out.out + out.err).split())
    assert "line left alone: may_1 (V1) " in text  # its times are the cue's, snapped to the stem's speech
    assert "s: may listens: the script gives this line to GRETA (greta)" in text
    assert "the script names BOB, whom no actor plays" in text
    assert not (tmp_path / "project.fr.otio").exists()


def test_the_summary_says_who_spoke_each_segment(edit, tmp_path):
    """Written by the job, not only planned: ``spoken_by`` and ``lines_left_alone`` in the summary."""
    from s2l_dub.timeline.job import assemble
    from s2l_dub.timeline.writeback import RenderedSegment

    srt, actors = _script(tmp_path, ["GRETA: ", "", "MAY: "])
    plan = plan_dub(edit.timeline, edit.stem, DubConfig(lang="fr"), tmp_path / "out" / "edit.fr.otio",
                    tmp_path / "work", srt, actors)
    renders = [RenderedSegment(seg, actor, tmp_path / f"{seg.shot.name}.mov",
                               {"source": {"timecode": None, "frames": [0, seg.frames]}, "model": {"id": "m"},
                                "frames": seg.frames, "silent_frames": 0, "scores": {}})
               for seg, actor in plan.segments]
    summary = assemble(plan, renders, [], 0, 0.0)
    assert [(s["clip"], s["spoken_by"]) for s in summary["segments"]] == [
        ("de_1", "the script (GRETA)"), ("de_2", "the face on screen")]
    assert {line["shot"] for line in summary["lines_left_alone"]} == {"may_1", "de_3", ""}
    assert json.loads((tmp_path / "out" / "edit.fr.otio.s2l.json").read_text())["segments"] == summary["segments"]
