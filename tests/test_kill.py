"""`kill -9` in the middle of the slow stages, then the same command again: it finishes, with
correct output and no temporary files left (issue 24).

The commands run as a user runs them, in their own process, killed with SIGKILL once a
temporary file shows that they are writing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from s2l_dub.artifacts import TEMP_MARK
from s2l_dub.dataset.store import load_dataset
from s2l_dub.media import probe_video


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "s2l_dub.cli.main", *args]


def killed_while_writing(command: list[str], folder: Path, timeout_s: float = 240) -> list[Path]:
    """Run ``command``, SIGKILL it as soon as it has a temporary file in ``folder``; the files it left."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if folder.is_dir() and any(folder.rglob(f"*{TEMP_MARK}*")):
                process.send_signal(signal.SIGKILL)
                process.wait(30)
                return sorted(folder.rglob(f"*{TEMP_MARK}*"))
            time.sleep(0.05)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
    pytest.fail(f"{command[3]} finished or timed out before it wrote a temporary file")


def leftovers(folder: Path) -> list[Path]:
    return sorted(folder.rglob(f"*{TEMP_MARK}*"))


def test_prepare_killed_mid_write_then_rerun(samples, may_dataset, tmp_path):
    video = samples / "actors" / "may_en_5s.mp4"
    command = cli("prepare", str(video), "--actor", "may", "--out", str(tmp_path))
    killed_while_writing(command, tmp_path)
    assert not (tmp_path / "actors" / "may" / "dataset" / "manifest.json").exists(), "it finished before the kill"

    assert subprocess.run(command, capture_output=True).returncode == 0
    assert leftovers(tmp_path) == []
    again = load_dataset(tmp_path / "actors" / "may" / "dataset")
    assert [c["frames"] for c in again.manifest["clips"]] == [c["frames"] for c in may_dataset.manifest["clips"]]
    assert again.manifest["stages"] == may_dataset.manifest["stages"]  # the same artifacts as an unbroken run


def test_render_killed_mid_write_then_rerun(samples, may_dataset, may_model, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(may_dataset.root, work / "actors" / "may" / "dataset")
    shutil.copytree(may_model, work / "actors" / "may" / "model")
    video = samples / "actors" / "may_en_5s.mp4"
    out = tmp_path / "out"
    command = cli("render", "--actor", "may", "--video", str(video), "--audio",
                  str(samples / "dub_audio" / "french2.wav"), "--fit", "trim", "--codec", "h264",
                  "-o", str(out / "may.fr.mp4"), "--out", str(work))
    killed_while_writing(command, out)
    assert not (out / "may.fr.mp4").exists(), "it finished before the kill"

    assert subprocess.run(command, capture_output=True).returncode == 0
    assert leftovers(out) == [] and leftovers(work) == []
    rendered, source = probe_video(out / "may.fr.mp4"), probe_video(video)
    assert rendered.frame_count == source.frame_count


def killed_once_present(command: list[str], marker: Path, log: Path, timeout_s: float = 600) -> str:
    """Run ``command``; SIGKILL it as soon as ``marker`` exists (a checkpoint it has just written).

    Returns what it printed before the kill.
    """
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline and process.poll() is None:
                if marker.exists():
                    process.send_signal(signal.SIGKILL)
                    process.wait(30)
                    return log.read_text(errors="replace")
                time.sleep(0.05)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(30)
    pytest.fail(f"{command[3]} ended or timed out before {marker.name} appeared: {log.read_text()[-1000:]}")


def test_train_killed_in_each_stage_resumes_where_it_stopped(may_dataset, tmp_path):
    from s2l_dub.train.trainer import EXPERT_CHECKPOINTS, EXPERT_FILE, MODEL_META, model_dir

    work = tmp_path / "work"
    shutil.copytree(may_dataset.root, work / "actors" / "may" / "dataset")
    folder = model_dir(work, "may")
    # The fast budget checkpoints every 100 steps, in the sync expert's stage and the generator's.
    command = cli("train", "--actor", "may", "--budget", "fast", "--steps", "110", "--out", str(work))

    killed_once_present(command, folder / EXPERT_CHECKPOINTS / "ckpt-0000100" / "state.json", tmp_path / "1.log")
    assert not (folder / EXPERT_FILE).exists(), "the sync expert finished before the kill"
    second = killed_once_present(command, folder / "checkpoints" / "ckpt-0000100" / "state.json", tmp_path / "2.log")
    assert "sync expert: resuming from step 100" in second
    assert not (folder / MODEL_META).exists(), "training finished before the kill"
    third = subprocess.run(command, capture_output=True, text=True)
    assert third.returncode == 0, third.stderr[-2000:]
    assert "resuming from step 100" in third.stdout + third.stderr

    meta = json.loads((folder / MODEL_META).read_text())
    assert meta["steps"] == 110
    assert leftovers(work) == [] and not list(folder.rglob(".ckpt-*"))


def test_batch_killed_mid_render_then_rerun(samples, tmp_path):
    """A batch (in its own process, tiny training) killed while its first render is being written;
    the same batch again finishes every job, reuses what was done, and leaves no temporary file."""
    from s2l_dub.timeline.io import read_timeline
    from s2l_dub.timeline.sample import build_sample_project
    from s2l_dub.timeline.shots import DUB_TRACK_PREFIX

    from .test_batch import TINY, recipe_text

    build_sample_project(samples, tmp_path / "edit")
    recipe = tmp_path / "show.toml"
    recipe.write_text(recipe_text(languages=("fr",)))
    script = "import json, sys; from s2l_dub.batch.run import run_batch; run_batch(sys.argv[1], train=json.loads(sys.argv[2]))"
    command = [sys.executable, "-c", script, str(recipe), json.dumps(TINY)]
    out = tmp_path / "out"
    killed_while_writing(command, out, timeout_s=600)
    assert not (out / "ep1.fr.otio").exists(), "it finished before the kill"
    trained = sorted((tmp_path / "work" / "actors").glob("*/model/model.safetensors"))
    assert trained, "the kill came before any model was finished"
    stamps = {path: path.stat().st_mtime_ns for path in trained}

    finished = subprocess.run(command, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert leftovers(tmp_path) == []
    assert {path: path.stat().st_mtime_ns for path in trained} == stamps  # models reused, not retrained
    summary = json.loads((out / "ep1.fr.otio.s2l.json").read_text())
    assert not summary["failures"] and summary["segments_planned"] == len(summary["segments"]) > 0
    dubbed = read_timeline(out / "ep1.fr.otio")  # held: a track outlives its timeline only while it is referenced
    track = next(t for t in dubbed.tracks if t.name == f"{DUB_TRACK_PREFIX}fr")
    for clip, segment in zip(track.find_clips(), summary["segments"]):
        media = probe_video(Path(segment["media"]))
        frames = segment["timeline_frames"][1] - segment["timeline_frames"][0]
        assert media.frame_count == frames == clip.source_range.duration.to_frames(), segment["media"]


def test_watch_killed_mid_render_then_rerun(samples, tmp_path):
    """`watch` (its own process, tiny training) killed while it writes an export's render; the next scan
    finishes that export, reuses its trained model, records it done and leaves no temporary file."""
    from s2l_dub.timeline.io import read_timeline
    from s2l_dub.timeline.shots import DUB_TRACK_PREFIX

    from .conftest import one_shot_edit, tiny_train_config

    folder = tmp_path / "watched"
    one_shot_edit(samples, folder, first_frame=10)
    (folder / "edit.s2l.toml").write_text('audio = "stem.wav"\nlang = "fr"\n')
    past = time.time() - 60  # settled: the scan takes files at least settle_s old
    for path in folder.iterdir():
        os.utime(path, (past, past))
    inputs = {p.name: p.read_bytes() for p in folder.iterdir()}
    train = json.dumps(dataclasses.asdict(tiny_train_config()))
    script = ("import json, sys; from pathlib import Path; from s2l_dub.batch.watch import WatchConfig, run_once; "
              "from s2l_dub.train.config import train_config_from_dict; "
              "config = WatchConfig(settle_s=1, train=train_config_from_dict(json.loads(sys.argv[2]))); "
              "records = run_once(Path(sys.argv[1]), config); print(json.dumps(records)); "
              "sys.exit(0 if records and all(r['ok'] for r in records) else 1)")
    command = [sys.executable, "-c", script, str(folder), train]
    killed_while_writing(command, folder / "edit.fr.media", timeout_s=600)
    assert not (folder / "edit.s2l-done.json").exists(), "the export was recorded before the kill"
    trained = sorted(folder.glob("edit.s2l/actors/*/model/model.safetensors"))
    assert trained, "the kill came before the model was finished"
    stamps = {path: path.stat().st_mtime_ns for path in trained}

    finished = subprocess.run(command, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-2000:]
    assert leftovers(folder) == []
    assert {path: path.stat().st_mtime_ns for path in trained} == stamps  # reused, not retrained
    assert json.loads((folder / "edit.s2l-done.json").read_text())["ok"]
    assert all((folder / name).read_bytes() == data for name, data in inputs.items())  # inputs untouched
    dubbed = read_timeline(folder / "edit.fr.otio")  # held: a track outlives its timeline only while referenced
    track = next(t for t in dubbed.tracks if t.name == f"{DUB_TRACK_PREFIX}fr")
    segments = json.loads((folder / "edit.s2l-done.json").read_text())["summary"]["segments"]
    assert segments and len(list(track.find_clips())) == len(segments)
    for clip, segment in zip(track.find_clips(), segments):
        frames = segment["timeline_frames"][1] - segment["timeline_frames"][0]
        assert probe_video(Path(segment["media"])).frame_count == frames == clip.source_range.duration.to_frames()
    again = subprocess.run(command, capture_output=True, text=True)  # done: a third scan runs nothing
    assert again.returncode == 1 and json.loads(again.stdout.strip().splitlines()[-1]) == []
