"""Bad input at every entry point: one line naming the file and the problem, exit status 2.

Each case runs the CLI as a user would and checks four promises together: a clear error
(status 2, one line, naming what is wrong), no traceback, no file written outside the
folder the user named, and every input left byte-for-byte as it was. The last test
prints the tally ("N cases: N clear errors, 0 tracebacks, 0 writes outside, 0 inputs
changed"); tests/README.md lists what the cases cover.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import opentimelineio as otio
import pytest

from s2l_dub.cli.main import main

from .conftest import one_shot_edit

TALLY: dict[str, list[str]] = {"clear": [], "traceback": [], "outside": [], "changed": []}


@dataclasses.dataclass
class Case:
    name: str
    args: list[str]
    says: tuple[str, ...]
    """Fragments the one-line error must hold (the file or key, and the problem)."""
    status: int = 2


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder below ``folder``, with each file's content hash."""
    return {str(p.relative_to(folder)): hashlib.blake2b(p.read_bytes(), digest_size=8).hexdigest()
            if p.is_file() else "folder" for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def edit(samples, tmp_path_factory) -> Path:
    """A one-shot edit of a real clip, its dub stem, and bad companion files, in a folder of inputs."""
    root = tmp_path_factory.mktemp("bad_input")
    inputs = root / "inputs"
    one_shot_edit(samples, inputs)
    (inputs / "negative.srt").write_text("1\n-00:00:01,000 --> 00:00:02,000\nhello\n\n")
    (inputs / "inverted.srt").write_text("1\n00:00:03,000 --> 00:00:02,000\nhello\n\n")
    (inputs / "folder.srt").mkdir()
    (inputs / "folder.toml").mkdir()
    (inputs / "folder.aaf").mkdir()
    (inputs / "latin1.toml").write_bytes("[clips]\nmay = \"Ren\xe9\"\n".encode("latin-1"))
    (inputs / "recipe_offset.toml").write_text(_recipe('audio_offset = "abc"'))
    (inputs / "recipe_edl.toml").write_text(_recipe("", timeline="cut.edl"))
    (inputs / "recipe_ext.toml").write_text(_recipe("", output="out/{project}.{lang}"))
    (inputs / "cut.edl").write_text("TITLE: cut\n\n001  AX       V     C        00:00:00:00 00:00:02:00 "
                                    "00:00:00:00 00:00:02:00\n* FROM CLIP NAME: may.mp4\n")
    (inputs / "model").mkdir()
    # Media as it arrives broken: empty, cut short mid-stream, or not media at all under a media name.
    (inputs / "zero.mp4").write_bytes(b"")
    (inputs / "zero.wav").write_bytes(b"")
    (inputs / "text.mp4").write_text("not a video\n")
    (inputs / "text.wav").write_text("not a sound\n")
    faststart = root / "faststart.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(inputs / "may.mp4"), "-c", "copy", "-movflags",
                    "+faststart", str(faststart)], check=True)
    whole = faststart.read_bytes()
    faststart.unlink()
    (inputs / "half.mp4").write_bytes(whole[:len(whole) // 2])  # the index says 125 frames; half are there
    (inputs / "half.wav").write_bytes((inputs / "stem.wav").read_bytes()[:1000])
    # Timelines cut short or empty, in each format.
    whole_otio = (inputs / "edit.otio").read_text()
    (inputs / "half.otio").write_text(whole_otio[:len(whole_otio) // 2])
    (inputs / "empty.otio").write_text("")
    for name in ("fcp7_premiere_enable.xml", "off_fcpx_project.fcpxml"):
        text = (samples.parent / "timelines" / name).read_text()
        (inputs / f"half{Path(name).suffix}").write_text(text[:len(text) // 2])
    (inputs / "late.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nhello\n\n"
                                     "2\n01:00:00,000 --> 01:00:02,000\nlate\n\n")
    return root


def _recipe(language_extra: str, timeline: str = "edit.otio", output: str = "out/{project}.{lang}{ext}") -> str:
    return textwrap.dedent(f'''\
        output = "{output}"
        [[projects]]
        name = "ep1"
        timeline = "{timeline}"
        [[languages]]
        code = "fr"
        stems = {{ ep1 = "stem.wav" }}
        {language_extra}
        ''')


def cases(inputs: Path, out: Path) -> list[Case]:
    edit, stem = str(inputs / "edit.otio"), str(inputs / "stem.wav")
    dub = ["dub", edit, "--audio", stem, "--work", str(out / "work"), "--dry-run"]
    return [
        Case("empty language tag", [*dub, "--lang", ""], ("--lang", "non-empty")),
        Case("language tag with a path", [*dub, "--lang", "fr/../x"], ("--lang", "plain name")),
        Case("offset nan", [*dub, "--audio-offset", "nan"], ("--audio-offset", "finite")),
        Case("offset inf", [*dub, "--audio-offset", "inf"], ("--audio-offset", "finite")),
        Case("subtitles are a folder", [*dub, "--subtitles", str(inputs / "folder.srt")], ("folder.srt",)),
        Case("actors file is a folder", [*dub, "--actors", str(inputs / "folder.toml")], ("folder.toml",)),
        Case("actors file not UTF-8", [*dub, "--actors", str(inputs / "latin1.toml")], ("latin1.toml", "UTF-8")),
        Case("negative SRT time", [*dub, "--subtitles", str(inputs / "negative.srt")],
             ("negative.srt", "line 2", "negative")),
        Case("inverted SRT cue", [*dub, "--subtitles", str(inputs / "inverted.srt")],
             ("inverted.srt", "cue 1", "ends before it starts")),
        Case("output is the stem", [*dub, "-o", stem], ("stem.wav", "overwrite")),
        Case("output is not a timeline", [*dub, "-o", str(out / "x.wav")], ("x.wav", "unknown timeline format")),
        Case("output is a folder", [*dub, "-o", str(inputs / "folder.aaf")], ("folder.aaf", "is a folder")),
        Case("empty dub stem", ["dub", edit, "--audio", str(inputs / "zero.wav"), "--dry-run"],
             ("zero.wav", "unreadable audio")),
        Case("dub stem not audio", ["dub", edit, "--audio", str(inputs / "text.wav"), "--dry-run"],
             ("text.wav", "unreadable audio")),
        Case("dub stem cut short", ["dub", edit, "--audio", str(inputs / "half.wav"), "--dry-run"],
             ("half.wav", "dub stem ends at")),
        Case("prepare an empty video", ["prepare", str(inputs / "zero.mp4"), "--actor", "a", "--out", str(out / "w")],
             ("zero.mp4", "unreadable media")),
        Case("prepare a text file named .mp4", ["prepare", str(inputs / "text.mp4"), "--actor", "a",
                                                "--out", str(out / "w")], ("text.mp4", "unreadable media")),
        Case("prepare a video cut short", ["prepare", str(inputs / "half.mp4"), "--actor", "a",
                                           "--out", str(out / "w")], ("half.mp4", "decoded", "of")),
        Case("OTIO cut short", ["dub", str(inputs / "half.otio"), "--audio", stem, "--dry-run"],
             ("half.otio", "cannot read")),
        Case("OTIO empty", ["dub", str(inputs / "empty.otio"), "--audio", stem, "--dry-run"],
             ("empty.otio", "cannot read")),
        Case("FCP7 XML cut short", ["dub", str(inputs / "half.xml"), "--audio", stem, "--dry-run"],
             ("half.xml", "cannot read")),
        Case("FCPXML cut short", ["dub", str(inputs / "half.fcpxml"), "--audio", stem, "--dry-run"],
             ("half.fcpxml", "not valid XML")),
        Case("no such sequence", [*dub, "--sequence", "Reel 9"], ("edit.otio", "no sequence named 'Reel 9'")),
        Case("media folder missing", [*dub, "--media", str(inputs / "nowhere")], ("--media", "nowhere", "not a folder")),
        Case("prepare actor escapes", ["prepare", str(inputs / "may.mp4"), "--actor", "../../escape",
                                       "--out", str(out / "work")], ("actor", "plain name")),
        Case("render over the dub audio", ["render", "--actor", "may", "--video", str(inputs / "may.mp4"),
                                           "--audio", stem, "-o", stem, "--codec", "h264", "--out", str(out / "work")],
             ("stem.wav", "overwrite", "dub audio")),
        Case("recipe is a folder", ["batch", str(inputs / "folder.toml"), "--dry-run"], ("folder.toml", "cannot read")),
        Case("recipe offset not a number", ["batch", str(inputs / "recipe_offset.toml"), "--dry-run"],
             ("recipe_offset.toml", "audio_offset", "finite")),
        Case("recipe EDL without a rate", ["batch", str(inputs / "recipe_edl.toml"), "--dry-run"],
             ("recipe_edl.toml", "rate", "EDL")),
        Case("recipe output without an extension", ["batch", str(inputs / "recipe_ext.toml"), "--dry-run"],
             ("recipe_ext.toml", "output", "{ext}")),
        Case("eval of a model folder without a model", ["eval", "--actor", "nobody", "--out", str(out / "work")],
             ("nobody",)),
    ]


CASE_NAMES = [c.name for c in cases(Path("i"), Path("o"))]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_bad_input_is_one_clear_line(name, edit, tmp_path, capsys):
    inputs = edit / "inputs"
    case = next(c for c in cases(inputs, tmp_path) if c.name == name)
    before = snapshot(inputs)
    outside_before = {p.name for p in edit.parent.iterdir()}
    try:
        code = main(case.args)
    except Exception:  # a traceback: what the CLI must never show
        TALLY["traceback"].append(name)
        raise
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    if snapshot(inputs) != before:
        TALLY["changed"].append(name)
    if {p.name for p in edit.parent.iterdir()} != outside_before or (edit / "escape").exists():
        TALLY["outside"].append(name)
    assert "Traceback" not in err
    assert code == case.status, err
    assert last.startswith("s2l-dub: error: "), err
    assert all(fragment in last for fragment in case.says), last
    assert snapshot(inputs) == before, "an input changed"
    assert not (edit / "escape").exists() and not (tmp_path.parent / "escape").exists()
    TALLY["clear"].append(name)


def test_dry_run_writes_nothing(edit, tmp_path, capsys):
    """A dry run lists the plan and leaves every folder as it found it (no caches, no stems)."""
    inputs = edit / "inputs"
    before = snapshot(edit)
    assert main(["dub", str(inputs / "edit.otio"), "--audio", str(inputs / "stem.wav"), "--dry-run",
                 "--lang", "fr"]) == 0
    assert snapshot(edit) == before
    assert "1 clips at 25.000 fps" in capsys.readouterr().err.replace("\n", " ")


def test_cues_outside_the_timeline_are_named_not_dropped_silently(edit, capsys):
    inputs = edit / "inputs"
    assert main(["dub", str(inputs / "edit.otio"), "--audio", str(inputs / "stem.wav"), "--subtitles",
                 str(inputs / "late.srt"), "--dry-run"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "note: " in err and "late.srt: 1 of 2 cues lie outside the timeline" in err and "3600.00 s" in err


def test_dry_run_lists_offline_media_even_with_a_short_stem(edit, tmp_path, capsys):
    inputs = edit / "inputs"
    timeline = otio.adapters.read_from_file(str(inputs / "edit.otio"))
    track = timeline.tracks[0]
    track.append(otio.schema.Clip(
        name="gone", media_reference=otio.schema.ExternalReference(target_url="gone.mp4"),
        source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, 25),
                                             otio.opentime.RationalTime(3000, 25))))
    otio.adapters.write_to_file(timeline, str(tmp_path / "long.otio"))
    shutil.copy(inputs / "may.mp4", tmp_path / "may.mp4")
    code = main(["dub", str(tmp_path / "long.otio"), "--audio", str(inputs / "stem.wav"), "--dry-run"])
    captured = capsys.readouterr()
    assert code == 2
    plan = captured.err.replace("\n", " ")
    assert "gone" in plan and "offline" in plan  # the plan came first
    assert "dub stem ends at" in captured.err.splitlines()[-1]


def test_odd_clips_are_left_alone_or_named(edit, tmp_path, capsys):
    """s2l metadata that is not a table leaves the clip alone with a reason; a clip with no
    duration at all (no source range, no media range) is named in one line."""
    inputs = edit / "inputs"
    shutil.copy(inputs / "may.mp4", tmp_path / "may.mp4")
    timeline = otio.adapters.read_from_file(str(inputs / "edit.otio"))
    timeline.tracks[0][0].metadata["s2l"] = "anna"
    otio.adapters.write_to_file(timeline, str(tmp_path / "odd.otio"))
    code = main(["dub", str(tmp_path / "odd.otio"), "--audio", str(inputs / "stem.wav"), "--dry-run"])
    assert code == 0 and "not a table" in capsys.readouterr().err.replace("\n", " ")

    unranged = otio.schema.Clip(name="unranged", media_reference=otio.schema.ExternalReference(target_url="may.mp4"))
    timeline.tracks.append(otio.schema.Track(name="V2", kind=otio.schema.TrackKind.Video, children=[unranged]))
    otio.adapters.write_to_file(timeline, str(tmp_path / "unranged.otio"))
    code = main(["dub", str(tmp_path / "unranged.otio"), "--audio", str(inputs / "stem.wav"), "--dry-run"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "'unranged'" in err[-1] and "no source range" in err[-1]


def test_watch_folder_confines_and_survives_bad_sidecars(edit, tmp_path, capsys):
    from s2l_dub.batch.watch import WatchConfig, run_once

    folder = tmp_path / "watched"
    folder.mkdir()
    outside = tmp_path / "elsewhere.otio"
    outside.write_text("the editor's own timeline")
    for name, sidecar in {
        "escape": f'audio = "stem.wav"\noutput = "{outside}"\n',
        "climb": 'audio = "stem.wav"\noutput = "../../x/pwned.otio"\n',
        "reads_outside": 'audio = "/etc/passwd"\n',
        "offset": 'audio = "stem.wav"\naudio_offset = "abc"\n',
        "audio_number": "audio = 5\n",
    }.items():
        shutil.copy(edit / "inputs" / "edit.otio", folder / f"{name}.otio")
        (folder / f"{name}.s2l.toml").write_text(sidecar)
    shutil.copy(edit / "inputs" / "edit.otio", folder / "latin.otio")
    (folder / "latin.s2l.toml").write_bytes('audio = "st\xe9m.wav"\n'.encode("latin-1"))
    past = 1_000_000_000
    for path in folder.iterdir():
        os.utime(path, (past, past))
    records = run_once(folder, WatchConfig(settle_s=0))
    assert len(records) == 6 and not any(r["ok"] for r in records)
    errors = {Path(r["timeline"]).stem: r["error"] for r in records}
    assert "outside the watched folder" in errors["escape"] and "outside" in errors["climb"]
    assert "outside" in errors["reads_outside"]
    assert "audio_offset" in errors["offset"] and "must be a string" in errors["audio_number"]
    assert "UTF-8" in errors["latin"]
    assert outside.read_text() == "the editor's own timeline" and not (tmp_path.parent / "x").exists()
    assert all((folder / f"{stem}.s2l-error.txt").exists() for stem in errors)


def test_tally(capsys):
    """The count the issue asks for; it fails if any case above broke a promise."""
    total = len(CASE_NAMES)
    line = (f"{total} cases: {len(TALLY['clear'])} clear errors, {len(TALLY['traceback'])} tracebacks, "
            f"{len(TALLY['outside'])} writes outside, {len(TALLY['changed'])} inputs changed")
    with capsys.disabled():
        print(f"\n{line}")
    if len(TALLY["clear"]) + len(TALLY["traceback"]) + len(TALLY["changed"]) + len(TALLY["outside"]) == 0:
        pytest.skip("run with the cases above")
    assert not TALLY["traceback"] and not TALLY["outside"] and not TALLY["changed"], line


def test_a_new_run_never_loses_its_newest_checkpoint(tmp_path):
    """Settings changed: the old run's higher-numbered checkpoints must not outlive the new one."""
    import torch

    from s2l_dub.train import checkpoint

    model = torch.nn.Linear(3, 2)
    folder = tmp_path / "checkpoints"
    for step in (500, 750):
        checkpoint.save_checkpoint(folder, step, model, meta={"run_key": "old"})
    checkpoint.save_checkpoint(folder, 250, model, meta={"run_key": "new"})
    state, _ = checkpoint.load_latest(folder)
    assert state["step"] == 250 and state["run_key"] == "new"
    assert sorted(p.name for p in folder.glob("ckpt-*")) == ["ckpt-0000250"]


def test_a_damaged_checkpoint_falls_back_to_the_one_before(tmp_path):
    import torch

    from s2l_dub.train import checkpoint

    model = torch.nn.Linear(3, 2)
    folder = tmp_path / "checkpoints"
    for step in (250, 500):
        checkpoint.save_checkpoint(folder, step, model, meta={"run_key": "k"})
    weights = folder / "ckpt-0000500" / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:40])
    told = []
    state, tensors = checkpoint.load_latest(folder, told.append)
    assert state["step"] == 250 and "model.weight" in tensors
    assert told and "ckpt-0000500" in told[0]


def test_a_damaged_model_says_retrain(tmp_path):
    import torch

    from s2l_dub.errors import ArtifactVersionError
    from s2l_dub.train import checkpoint

    model = torch.nn.Linear(3, 2)
    path = tmp_path / "model.safetensors"
    checkpoint.save_weights(path, model, {})
    path.write_bytes(b"\x00" * 16)
    with pytest.raises(ArtifactVersionError, match="retrain"):
        checkpoint.load_weights(path, model)


def test_manifest_paths_stay_inside_the_dataset(may_dataset, tmp_path):
    """A manifest that names ../../etc/passwd, or has no clips, is refused in one line."""
    import json

    from s2l_dub.dataset.store import load_dataset
    from s2l_dub.errors import S2LError

    copy = tmp_path / "dataset"
    shutil.copytree(may_dataset.root, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["clips"][0]["audio_file"] = "../../../../etc/passwd"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(S2LError, match="not inside the dataset"):
        load_dataset(copy)
    del manifest["clips"]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(S2LError, match="no clips"):
        load_dataset(copy)


def test_outputs_honour_the_umask_and_leftovers_are_swept(tmp_path):
    import subprocess
    import sys

    from s2l_dub.artifacts import sweep_temporaries, temp_name, write_json

    old = os.umask(0o022)
    try:
        write_json(tmp_path / "a.json", {})
        assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
        os.umask(0o002)
        write_json(tmp_path / "b.json", {})
        assert (tmp_path / "b.json").stat().st_mode & 0o777 == 0o664
        # Model files: safetensors itself creates its files 0600, which hid models on shared storage.
        import torch

        from s2l_dub.train import checkpoint
        model = torch.nn.Linear(2, 2)
        checkpoint.save_weights(tmp_path / "model.safetensors", model, {"config": {}})
        saved = checkpoint.save_checkpoint(tmp_path / "checkpoints", 1, model)
        for path in (tmp_path / "model.safetensors", tmp_path / "model.json", saved / "weights.safetensors"):
            assert path.stat().st_mode & 0o777 == 0o664, path
    finally:
        os.umask(old)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    leftover = tmp_path / f".clip.mov.p{int(dead.stdout)}.tmp.mov"
    leftover.write_bytes(b"half a render")
    mine = temp_name(tmp_path / "clip.mov")
    mine.write_bytes(b"being written")
    assert sweep_temporaries(tmp_path) == [leftover]
    assert not leftover.exists() and mine.exists()


def test_a_folder_output_is_swapped_whole_or_not_at_all(tmp_path):
    from s2l_dub.artifacts import atomic_folder

    target = tmp_path / "show.fcpxmld"
    target.mkdir()
    (target / "Info.fcpxml").write_text("old")
    (target / "old-only.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_folder(target) as staging:
            (staging / "Info.fcpxml").write_text("half")
            raise RuntimeError("killed while writing")
    assert sorted(p.name for p in target.iterdir()) == ["Info.fcpxml", "old-only.txt"]
    assert (target / "Info.fcpxml").read_text() == "old"
    old = os.umask(0o002)
    try:
        with atomic_folder(target) as staging:
            (staging / "Info.fcpxml").write_text("new")
    finally:
        os.umask(old)
    assert sorted(p.name for p in target.iterdir()) == ["Info.fcpxml"]
    assert (target / "Info.fcpxml").read_text() == "new"
    assert target.stat().st_mode & 0o777 == 0o775
    assert sorted(p.name for p in tmp_path.iterdir()) == ["show.fcpxmld"]


def test_a_kill_during_the_sync_expert_resumes_from_its_checkpoint(may_dataset, tmp_path, monkeypatch):
    from s2l_dub.progress import NullProgress
    from s2l_dub.train import trainer
    from s2l_dub.train.config import TrainConfig

    config = TrainConfig(steps=2, batch_size=4, expert_steps=40, expert_batch=32, checkpoint_every=10,
                         preview_every=10, log_every=1, voice_variants=())
    real_loss, calls = trainer.contrastive_sync_loss, []

    def killed_at_25(*args):
        calls.append(1)
        if len(calls) == 25:
            raise KeyboardInterrupt  # what a kill leaves: the checkpoints written so far
        return real_loss(*args)

    monkeypatch.setattr(trainer, "contrastive_sync_loss", killed_at_25)
    with pytest.raises(KeyboardInterrupt):
        trainer.train_actor(may_dataset.root, tmp_path / "model", config)
    assert (tmp_path / "model" / trainer.EXPERT_CHECKPOINTS / "ckpt-0000020").is_dir()
    calls.clear()
    progress = NullProgress()
    trainer.train_actor(may_dataset.root, tmp_path / "model", config, progress)
    assert "sync expert: resuming from step 20" in progress.messages
    assert len(calls) == 20  # only the steps left
    assert (tmp_path / "model" / trainer.EXPERT_FILE).exists()
    assert not list((tmp_path / "model" / trainer.EXPERT_CHECKPOINTS).glob("ckpt-*"))


@pytest.mark.parametrize("craft", ["wrong shape", "missing tensor", "extra tensor", "integer weights",
                                   "header claims 2**63 bytes", "pickle renamed .safetensors"])
def test_crafted_model_files_are_refused_in_one_line(craft, tmp_path):
    """A model file someone made to fit the name: refused with 'retrain', never loaded, never executed."""
    import pickle

    import torch
    from safetensors.torch import save_file

    from s2l_dub.errors import S2LError
    from s2l_dub.train import checkpoint

    path = tmp_path / "model.safetensors"
    checkpoint.save_weights(path, torch.nn.Linear(2, 2), {"config": {}})
    tensors = {"wrong shape": {"weight": torch.zeros(3, 3), "bias": torch.zeros(2)},
               "missing tensor": {"weight": torch.zeros(2, 2)},
               "extra tensor": {"weight": torch.zeros(2, 2), "bias": torch.zeros(2), "evil": torch.zeros(1)},
               "integer weights": {"weight": torch.zeros(2, 2, dtype=torch.int64), "bias": torch.zeros(2)}}
    if craft in tensors:
        save_file(tensors[craft], str(path))
    elif craft == "header claims 2**63 bytes":
        path.write_bytes(b"\xff\xff\xff\xff\xff\xff\xff\x7f{}")
    else:
        marker = tmp_path / "executed"
        path.write_bytes(pickle.dumps(_Exploit(str(marker))))
    with pytest.raises(S2LError) as error:
        checkpoint.load_weights(path, torch.nn.Linear(2, 2))
    message = str(error.value)
    assert message.startswith(str(path)) and "retrain" in message and "\n" not in message
    assert not (tmp_path / "executed").exists()


class _Exploit:
    """Unpickling this would create a file: what loading an untrusted pickle risks."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))
