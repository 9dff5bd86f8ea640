"""Generated bad input (issue 24): every file a user hands us, damaged at random, many times.

`test_bad_input.py` keeps the cases users met; this keeps the kinds of damage they stand for
alive as the code changes. Each input file (a timeline in each format, subtitles, an actors
file, a batch recipe, a watch-folder sidecar) is damaged by seeded mutators (cut short,
lines dropped or doubled, bytes changed, numbers and strings swapped for hostile values,
paths that climb out) and given to a dry run. A mutant may be accepted or refused, but never
with a traceback, never with more than one line of error, and the dry run writes nothing and
changes no input. The seeds are fixed, so a failure names a mutant that can be replayed.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from s2l_dub.cli.main import main

from .conftest import one_shot_edit
from .test_bad_input import snapshot

MUTANTS_PER_FILE = int(os.environ.get("S2L_FUZZ_MUTANTS", 8))
HOSTILE_NUMBERS = ("-1", "0", "nan", "inf", "1e309", "-99999999999", "1/0", "0x1F", "")
HOSTILE_STRINGS = ('"../../../x"', '""', '"/etc/passwd"', '"\\u0000"', "5", "true", '"a\\nb"', '"[x]"')


def mutants(text: bytes, seed: int, count: int = MUTANTS_PER_FILE) -> list[tuple[str, bytes]]:
    """``count`` damaged copies of ``text``, each named by the damage done."""
    rng = random.Random(seed)
    mutators = [_cut_short, _drop_line, _double_line, _swap_lines, _change_bytes, _hostile_number,
                _hostile_string, _not_utf8]
    out = []
    for i in range(count):
        mutate = mutators[i % len(mutators)] if i < len(mutators) else rng.choice(mutators)
        name, damaged = mutate(text, rng)
        out.append((f"{i}:{name}", damaged))
    return out


def _cut_short(text: bytes, rng: random.Random) -> tuple[str, bytes]:
    at = rng.randrange(len(text))
    return f"cut at byte {at}", text[:at]


def _lines(text: bytes) -> list[bytes]:
    return text.splitlines(keepends=True) or [text]


def _drop_line(text: bytes, rng: random.Random) -> tuple[str, bytes]:
    lines = _lines(text)
    at = rng.randrange(len(lines))
    return f"line {at + 1} dropped", b"".join(lines[:at] + lines[at + 1:])


def _double_line(text: bytes, rng: random.Random) -> tuple[str, bytes]:
    lines = _lines(text)
    at = rng.randrange(len(lines))
    return f"line {at + 1} doubled", b"".join(lines[:at + 1] + lines[at:])


def _swap_lines(text: bytes, rng: random.Random) -> tuple[str, bytes]:
    lines = _lines(text)
    a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[a], lines[b] = lines[b], lines[a]
    return f"lines {a + 1} and {b + 1} swapped", b"".join(lines)


def _change_bytes(text: bytes, rng: random.Random) -> tuple[str, bytes]:
    data = bytearray(text)
    spots = [rng.randrange(len(data)) for _ in range(3)]
    for at in spots:
        data[at] = rng.choice(b"0123456789:;,.<>\"'[]{}=-/ \n")
    return f"bytes {spots} changed", bytes(data)


def _hostile_number(text: bytes, rng: random.Random) -> tuple[str, bytes]:
    numbers = list(re.finditer(rb"\d+(?:[.,:]\d+)*", text))
    if not numbers:
        return _change_bytes(text, rng)
    match, value = rng.choice(numbers), rng.choice(HOSTILE_NUMBERS).encode()
    return f"{match.group().decode()!r} at {match.start()} -> {value.decode()!r}", \
        text[:match.start()] + value + text[match.end():]


def _hostile_string(text: bytes, rng: random.Random) -> tuple[str, bytes]:
    strings = list(re.finditer(rb'"[^"\n]*"', text))
    if not strings:
        return _drop_line(text, rng)
    match, value = rng.choice(strings), rng.choice(HOSTILE_STRINGS).encode()
    return f"string at {match.start()} -> {value.decode()}", text[:match.start()] + value + text[match.end():]


def _not_utf8(text: bytes, rng: random.Random) -> tuple[str, bytes]:
    at = rng.randrange(len(text) + 1)
    return f"latin-1 byte at {at}", text[:at] + b"\xe9\xff" + text[at:]


@pytest.fixture(scope="module")
def originals(samples, tmp_path_factory) -> Path:
    """The undamaged inputs: a one-shot edit of a real clip, its stem and companions, and real exports."""
    root = tmp_path_factory.mktemp("fuzz") / "inputs"
    one_shot_edit(samples, root, metadata={"s2l": {"actor": "may"}})
    (root / "edit.srt").write_text("1\n00:00:00,500 --> 00:00:02,000\nMAY: bonjour\n\n"
                                   "2\n00:00:02,200 --> 00:00:03,800\n[May] au revoir\n\n")
    (root / "actors.toml").write_text(textwrap.dedent('''\
        [clips]
        may = "may"
        [characters]
        MAY = "may"
        [footage]
        may = ["may.mp4"]
        '''))
    (root / "recipe.toml").write_text(textwrap.dedent('''\
        output = "out/{project}.{lang}{ext}"
        [[projects]]
        name = "ep1"
        timeline = "edit.otio"
        [[languages]]
        code = "fr"
        stems = { ep1 = "stem.wav" }
        audio_offset = 0.0
        '''))
    (root / "edit.s2l.toml").write_text('audio = "stem.wav"\nlang = "fr"\nbudget = "fast"\naudio_offset = 0.5\n'
                                        'subtitles = "edit.srt"\noutput = "edit.fr.otio"\n')
    timelines = samples.parent / "timelines"
    for name in ("fcp7_premiere_enable.xml", "off_fcpx_project.fcpxml", "edl_25fps.edl"):
        shutil.copy(timelines / name, root / name)
    return root


def _dub(inputs: Path, **replace: str) -> list[str]:
    files = {"timeline": "edit.otio", "subtitles": "edit.srt", "actors": "actors.toml", **replace}
    return ["dub", str(inputs / files["timeline"]), "--audio", str(inputs / "stem.wav"), "--dry-run",
            "--subtitles", str(inputs / files["subtitles"]), "--actors", str(inputs / files["actors"]),
            "--lang", "fr"]


# (file damaged, command given the damaged copy's name)
TARGETS = {
    "edit.otio": lambda inputs, name: _dub(inputs, timeline=name),
    "edit.srt": lambda inputs, name: _dub(inputs, subtitles=name),
    "actors.toml": lambda inputs, name: _dub(inputs, actors=name),
    "recipe.toml": lambda inputs, name: ["batch", str(inputs / name), "--dry-run"],
    "fcp7_premiere_enable.xml": lambda inputs, name: ["dub", str(inputs / name), "--audio", str(inputs / "stem.wav"),
                                                      "--dry-run"],
    "off_fcpx_project.fcpxml": lambda inputs, name: ["dub", str(inputs / name), "--audio", str(inputs / "stem.wav"),
                                                     "--dry-run"],
    "edl_25fps.edl": lambda inputs, name: ["dub", str(inputs / name), "--audio", str(inputs / "stem.wav"),
                                           "--rate", "25", "--dry-run"],
}
TALLY: dict[str, list[str]] = {"accepted": [], "clear": [], "traceback": [], "written": [], "changed": []}


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_damaged_input_never_gets_a_traceback(target, originals, tmp_path, capsys):
    """Each mutant in its own copy of the inputs, beside the undamaged others."""
    seed = sum(target.encode())
    failures = []
    for label, damaged in mutants((originals / target).read_bytes(), seed):
        inputs = tmp_path / "inputs"
        shutil.rmtree(inputs, ignore_errors=True)
        shutil.copytree(originals, inputs)
        (inputs / target).write_bytes(damaged)
        before = snapshot(tmp_path)
        case = f"{target} {label}"
        try:
            code = main(TARGETS[target](inputs, target))
        except Exception as e:  # what the CLI must never show
            TALLY["traceback"].append(case)
            failures.append(f"{case}: traceback {type(e).__name__}: {e}")
            continue
        err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        if snapshot(tmp_path) != before:
            TALLY["written" if set(snapshot(tmp_path)) != set(before) else "changed"].append(case)
            failures.append(f"{case}: the dry run wrote or changed a file")
        if code == 0:
            TALLY["accepted"].append(case)
        elif code == 2 and err and err[-1].startswith("s2l-dub: error: ") and "internal error" not in err[-1]:
            TALLY["clear"].append(case)
        else:
            failures.append(f"{case}: exit {code}, {err[-1:] or 'no message'}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("damage", ["old clip with new references", "nested deep"])
def test_what_crashes_otio_is_refused_in_a_line(damage, originals, tmp_path):
    """Two mutants that killed the process inside OTIO 0.18 (SIGSEGV): run in a child, so a relapse fails
    this test instead of ending the suite."""
    text = (originals / "edit.otio").read_text()
    if damage == "old clip with new references":
        text = text.replace('"Clip.2"', '"Clip.1"')
    else:
        text = '{"OTIO_SCHEMA": "Timeline.1", "metadata": ' + '{"a": ' * 50000 + "1" + "}" * 50001
    (tmp_path / "damaged.otio").write_text(text)
    shutil.copy(originals / "stem.wav", tmp_path / "stem.wav")
    done = subprocess.run([sys.executable, "-m", "s2l_dub.cli.main", "dub", str(tmp_path / "damaged.otio"),
                           "--audio", str(tmp_path / "stem.wav"), "--dry-run"], capture_output=True, text=True)
    err = [line for line in done.stderr.splitlines() if line.startswith("s2l-dub")]
    assert done.returncode == 2 and len(err) == 1 and "damaged.otio" in err[0], done.stderr[-500:]


def test_damaged_sidecars_are_recorded_not_raised(originals, tmp_path):
    """The watch folder reads each damaged sidecar: a one-line recorded error or a run, never a crash."""
    from s2l_dub.batch.watch import WatchConfig, run_once

    ran = []
    failures = []
    for label, damaged in mutants((originals / "edit.s2l.toml").read_bytes(), seed=24, count=16):
        folder = tmp_path / label.split(":")[0]
        shutil.copytree(originals, folder)
        (folder / "edit.s2l.toml").write_bytes(damaged)
        records = run_once(folder, WatchConfig(settle_s=0),
                           runner=lambda timeline, options, progress: ran.append(options) or {"outputs": []})
        for record in records:
            if not record["ok"] and ("internal error" in record["error"] or "\n" in record["error"]):
                failures.append(f"sidecar {label}: {record['error']}")
        for options in ran:
            for key in ("audio", "subtitles", "actors", "output"):
                if key in options and folder.resolve() not in Path(options[key]).resolve().parents:
                    failures.append(f"sidecar {label}: {key} = {options[key]} lies outside {folder}")
        ran.clear()
        TALLY["clear" if records and not records[0]["ok"] else "accepted"].append(f"sidecar {label}")
    assert not failures, "\n".join(failures)


def test_fuzz_tally(capsys):
    total = sum(len(v) for v in TALLY.values())
    with capsys.disabled():
        print(f"\n{total} damaged inputs: {len(TALLY['accepted'])} accepted, {len(TALLY['clear'])} clear errors, "
              f"{len(TALLY['traceback'])} tracebacks, {len(TALLY['written'])} writes, "
              f"{len(TALLY['changed'])} inputs changed")
    if total == 0:
        pytest.skip("run with the mutants above")
    assert not TALLY["traceback"] and not TALLY["written"] and not TALLY["changed"]
