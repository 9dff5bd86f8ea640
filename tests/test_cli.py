"""The CLI as a user runs it: bad input gives one line naming the file, never a traceback."""

import subprocess
import sys

import pytest

from s2l_dub.cli import main


def run_cli(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.err


def make_video(path, seconds, *, face_source=None, with_audio=True):
    """A test video: black frames, or a sample face followed by black frames."""
    args = ["ffmpeg", "-v", "error", "-y"]
    if face_source is None:
        args += ["-f", "lavfi", "-i", f"color=c=gray:s=256x256:r=25:d={seconds}"]
        if with_audio:
            args += ["-f", "lavfi", "-i", f"sine=frequency=220:duration={seconds}", "-shortest"]
        args += ["-pix_fmt", "yuv420p", str(path)]
    else:
        args += ["-i", str(face_source), "-f", "lavfi", "-i", f"color=c=black:s=512x512:r=25:d={seconds}",
                 "-f", "lavfi", "-i", f"sine=frequency=220:duration={seconds}",
                 "-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0[v]", "-map", "[v]", "-map", "2:a",
                 "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(args, check=True)
    return path


def test_corrupt_file(tmp_path, capsys):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"garbage" * 500)
    code, err = run_cli(["prepare", str(bad), "--actor", "x", "--out", str(tmp_path / "w")], capsys)
    assert code == 2
    assert err.startswith("s2l-dub: error: ") and "broken.mp4" in err and "unreadable" in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_no_audio_stream(samples, tmp_path, capsys):
    mute = tmp_path / "mute.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(samples / "actors" / "may_en_5s.mp4"), "-an", "-c", "copy",
                    str(mute)], check=True)
    code, err = run_cli(["prepare", str(mute), "--actor", "x", "--out", str(tmp_path / "w")], capsys)
    assert code == 2 and "mute.mp4: no audio stream" in err


def test_no_face(tmp_path, capsys):
    blank = make_video(tmp_path / "blank.mp4", 4)
    code, err = run_cli(["prepare", str(blank), "--actor", "x", "--out", str(tmp_path / "w")], capsys)
    assert code == 2 and "blank.mp4: no face found" in err


def test_face_lost_names_the_ranges(samples, tmp_path, capsys):
    # 5 s of face, then 3 s of black: 75 of 200 frames have no face.
    clip = make_video(tmp_path / "lost.mp4", 3, face_source=samples / "actors" / "may_en_5s.mp4")
    code, err = run_cli(["prepare", str(clip), "--actor", "x", "--out", str(tmp_path / "w")], capsys)
    assert code == 2
    assert "lost.mp4: face lost on 38% of frames (limit 20%): 5.00-7.96s" in err


def test_clip_too_short(samples, tmp_path, capsys):
    code, err = run_cli(["prepare", str(samples / "actors" / "may_en_5s.mp4"), "--actor", "x", "--range", "1-2.5",
                         "--out", str(tmp_path / "w")], capsys)
    assert code == 2 and "only 1.5 s of tracked footage" in err


def test_range_outside_the_clip(samples, tmp_path, capsys):
    code, err = run_cli(["prepare", str(samples / "actors" / "may_en_5s.mp4"), "--actor", "x", "--range", "3-60",
                         "--out", str(tmp_path / "w")], capsys)
    assert code == 2 and "ends after the clip's 5.00 s" in err


def test_installed_console_script_reports_errors_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "s2l_dub.cli.main", "prepare", str(tmp_path / "none.mp4"),
                             "--actor", "x"], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().endswith("none.mp4: file not found")
    assert "Traceback" not in result.stderr


def test_help_lists_prepare(capsys):
    with pytest.raises(SystemExit):
        from s2l_dub.cli.main import cli

        cli.main(["--help"], prog_name="s2l-dub")
    assert "prepare" in capsys.readouterr().out
