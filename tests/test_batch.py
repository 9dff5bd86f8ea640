"""Batch recipes on the sample edit: two languages, a crash and a resume, and the Ray executor."""

import dataclasses
import json
import textwrap

import numpy as np
import pytest

from s2l_dub.batch.recipe import RecipeError, load_recipe
from s2l_dub.batch.run import run_batch
from s2l_dub.cli.main import main
from s2l_dub.media import iter_frames, probe_video
from s2l_dub.timeline.io import read_timeline
from s2l_dub.timeline.sample import build_sample_project
from s2l_dub.timeline.shots import DUB_TRACK_PREFIX

from .conftest import tiny_train_config

TINY = json.loads(json.dumps(dataclasses.asdict(tiny_train_config())))


def recipe_text(output="out/{project}.{lang}{ext}", extra="", languages=("fr", "de")):
    text = textwrap.dedent(f'''\
        name = "test show"
        quality = "fast"
        codec = "h264"
        output = "{output}"
        work = "work"
        report = "out/report"
        {extra}
        [[projects]]
        name = "ep1"
        timeline = "edit/project.otio"

        [[languages]]
        code = "fr"
        stems = {{ ep1 = "edit/dub_fr.wav" }}
        subtitles = {{ ep1 = "edit/dub_fr.srt" }}

        [[languages]]
        code = "de"
        stems = {{ ep1 = "edit/dub_de.wav" }}
        ''')
    if "de" not in languages:
        text = text[:text.index('[[languages]]\ncode = "de"')]
    return text


@pytest.fixture(scope="module")
def show(samples, tmp_path_factory):
    root = tmp_path_factory.mktemp("show")
    build_sample_project(samples, root / "edit")
    (root / "show.toml").write_text(recipe_text())
    return root


def rendered_tasks(report):
    return [t for t in report["tasks"] if t["id"].startswith("render:")]


@pytest.fixture(scope="module")
def crashed_then_resumed(show):
    """The batch killed after its two trainings and two renders, then run again to the end."""
    with pytest.raises(KeyboardInterrupt):
        run_batch(show / "show.toml", train=TINY, stop_after=4)
    partial = sorted(p.name for p in (show / "out").glob("ep1.*.media/*.mp4"))
    return partial, run_batch(show / "show.toml", train=TINY)


def test_recipe_runs_both_languages_sharing_the_actors(crashed_then_resumed, show):
    _, report = crashed_then_resumed
    assert [(j["project"], j["lang"], j["ok"]) for j in report["jobs"]] == [("ep1", "fr", True), ("ep1", "de", True)]
    trains = [t for t in report["tasks"] if t["id"].startswith("train:")]
    assert sorted(t["id"] for t in trains) == ["train:ep1.actor_1", "train:ep1.actor_2"]
    for lang in ("fr", "de"):
        timeline = read_timeline(show / "out" / f"ep1.{lang}.otio")
        assert any(t.name == f"{DUB_TRACK_PREFIX}{lang}" for t in timeline.tracks)
    html = (show / "out" / "report" / "report.html").read_text()
    assert html.count("data:image/jpeg;base64") >= 2 * len(rendered_tasks(report)) and "ep1 / de" in html
    assert not report["failures"]


def test_a_killed_batch_resumes_without_redoing_work(crashed_then_resumed):
    partial, report = crashed_then_resumed
    renders = rendered_tasks(report)
    assert len(partial) == 2
    # The two segments rendered before the kill were reused, the rest rendered now.
    assert sum(t["reused"] for t in renders) == 2
    assert sorted(t["media"].split("/")[-1] for t in renders if t["reused"]) == partial
    trains = [t for t in report["tasks"] if t["id"].startswith("train:")]
    assert all(t["seconds"] < 30 for t in trains)  # loaded from the cache, not retrained


def test_ray_executor_gives_the_same_outputs(crashed_then_resumed, show):
    pytest.importorskip("ray")
    # One language is enough to compare executors, and halves the test's time.
    (show / "ray.toml").write_text(recipe_text(output="ray_out/{project}.{lang}{ext}", languages=("fr",)))
    report = run_batch(show / "ray.toml", executor="ray", train=TINY)
    assert [j["lang"] for j in report["jobs"] if j["ok"]] == ["fr"] and not report["failures"]
    for lang in ("fr",):
        local, remote = (read_timeline(show / folder / f"ep1.{lang}.otio") for folder in ("out", "ray_out"))
        track = [t for t in local.tracks if t.name == f"{DUB_TRACK_PREFIX}{lang}"][0]
        other = [t for t in remote.tracks if t.name == f"{DUB_TRACK_PREFIX}{lang}"][0]
        assert [(c.name, track.range_of_child(c)) for c in track.find_clips()] == \
            [(c.name, other.range_of_child(c)) for c in other.find_clips()]
        first_local, first_remote = (show / folder / f"ep1.{lang}.media" for folder in ("out", "ray_out"))
        for media in sorted(first_local.glob("*.mp4")):
            twin = first_remote / media.name
            a, b = probe_video(media), probe_video(twin)
            assert a.frame_count == b.frame_count
            middle = a.frame_count // 2
            here, there = (next(iter_frames(v, middle, middle + 1)).astype(np.float32) for v in (a, b))
            assert largest_block_difference(here, there) <= 4.0, media.name


def largest_block_difference(a: np.ndarray, b: np.ndarray, block: int = 16) -> float:
    """The largest mean absolute difference (0-255) over the frames' 16-pixel blocks.

    Ray gives each render one CPU where the local run uses them all, and on some CPUs the
    float sums then round differently; the renders agree to the encoder's noise, not to the bit.
    A different segment, a shifted sound or another model moves the mouth's blocks by tens.
    """
    h, w = (a.shape[0] // block) * block, (a.shape[1] // block) * block
    difference = np.abs(a[:h, :w] - b[:h, :w]).reshape(h // block, block, w // block, block, -1)
    return float(difference.mean(axis=(1, 3, 4)).max())


@pytest.mark.parametrize("change, message", [
    (lambda t: t.replace('quality = "fast"', 'quality = "fastest"'), ":2: quality: 'fastest' is not one of"),
    (lambda t: t.replace('codec = "h264"', 'codec = "h264"\ncolour = "red"'), ":4: colour: unknown key"),
    (lambda t: t.replace('timeline = "edit/project.otio"', 'timeline = "../../etc/passwd.otio"'),
     ":10: projects[0].timeline: '../../etc/passwd.otio' escapes the allowed roots"),
    (lambda t: t.replace('stems = { ep1 = "edit/dub_de.wav" }', 'stems = { ep9 = "edit/dub_de.wav" }'),
     "languages[1].stems: 'ep9' is not a project of this recipe"),
    (lambda t: t.replace('output = "out/{project}.{lang}{ext}"', 'output = "out/{project}{ext}"'),
     ":4: output: the layout must contain {lang}"),
    (lambda t: t.replace('code = "fr"\n', ''), ":12: languages[0].code: is required"),
    (lambda t: t.replace('[[projects]]', '[[projects]'), "not valid TOML"),
])
def test_malformed_recipes_name_the_line_and_key(tmp_path, change, message):
    path = tmp_path / "bad.toml"
    path.write_text(change(recipe_text()))
    with pytest.raises(RecipeError) as error:
        load_recipe(path)
    assert message in str(error.value) and str(path) in str(error.value)


def test_cli_reports_a_bad_recipe_in_one_line(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(recipe_text().replace('quality = "fast"', 'quality = 3'))
    assert main(["batch", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "quality: must be a str" in err[0]


def test_one_failing_language_does_not_stop_the_others(show):
    text = recipe_text(output="partial/{project}.{lang}{ext}").replace("edit/dub_de.wav", "edit/missing.wav")
    (show / "partial.toml").write_text(text)
    report = run_batch(show / "partial.toml", dry_run=True, train=TINY)
    assert "ep1:de" in report["failed"] and "missing.wav" in report["failed"]["ep1:de"]
    assert any(t["id"] == "assemble:ep1:fr" for t in report["tasks"])


def test_shipped_recipes_are_valid(tmp_path):
    from pathlib import Path

    recipes = Path(__file__).resolve().parents[1] / "recipes"
    recipe = load_recipe(recipes / "sample_show.toml")
    assert [lang.code for lang in recipe.languages] == ["fr", "de"] and recipe.loudness == "ebu-r128"
    # The template names files a show would have: it parses, and only its files are missing.
    report = run_batch(recipes / "template.toml", dry_run=True)
    assert "timeline file not found" in report["failed"]["ep01:fr"]


def test_a_recipe_actors_file_with_footage_trains_on_it(samples, tmp_path):
    """The recipe's actors file takes ``[footage]`` as the main job's does: it is in the actor's train task."""
    import subprocess

    from s2l_dub.batch.graph import TRAIN, build_graph
    from s2l_dub.batch.run import job_specs

    build_sample_project(samples, tmp_path / "edit")
    (tmp_path / "rushes").mkdir()
    take = tmp_path / "rushes" / "may_take2.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(samples / "actors" / "may_en_5s.mp4"), "-c", "copy",
                    str(take)], check=True)
    (tmp_path / "actors.toml").write_text('[clips]\nmay_1 = "may"\nmay_2 = "may"\nde_1 = "-"\nde_2 = "-"\n'
                                          'de_3 = "-"\n[footage]\nmay = "rushes/*.mp4"\n')
    text = recipe_text(languages=("fr",)).replace('timeline = "edit/project.otio"',
                                                  'timeline = "edit/project.otio"\nactors = "actors.toml"')
    (tmp_path / "show.toml").write_text(text)
    specs, missing = job_specs(load_recipe(tmp_path / "show.toml"), dry_run=True)
    assert not missing
    tasks, failed, _ = build_graph(specs, dry_run=True)
    assert not failed
    [train] = [t for t in tasks if t.kind == TRAIN]
    assert train.payload["actor"] == "may"
    assert [str(take.resolve()), None] in [list(c) for c in train.payload["clips"]]
