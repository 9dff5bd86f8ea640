"""The batch report: JSON for tools, one self-contained HTML page for the supervisor.

Per job: its outputs and, per segment, a before/after still (the source frame and the
dubbed frame at the segment's middle), a player for the rendered clip, its scores and
any QC reasons. Every failure is listed with its reason.
"""

from __future__ import annotations

import base64
import html
import subprocess
from pathlib import Path

from ..artifacts import atomic_path, write_json
from ..timeline.shots import relative_url
from .graph import Task
from .recipe import Recipe


def write_report(recipe: Recipe, specs, tasks: list[Task], results: dict[str, dict], failed: dict[str, str],
                 summaries: dict[str, dict | None], seconds: float) -> dict:
    report = {
        "format": "s2l-batch-report.1",
        "recipe": str(recipe.path),
        "name": recipe.name,
        "seconds": round(seconds, 1),
        "jobs": [],
        "failures": [{"job": key, "error": error} for key, error in sorted(failed.items())],
        "tasks": [results.get(t.id, {"id": t.id, "ok": False, "error": "did not run"}) for t in tasks],
    }
    for task in tasks:
        if not results.get(task.id, {}).get("ok") and task.kind != "assemble":
            report["failures"].append({"job": task.id, "error": results.get(task.id, {}).get("error", "did not run")})
    for spec in specs:
        summary = summaries.get(spec.key)
        renders = {r["id"]: r for r in report["tasks"] if r["id"].startswith(f"render:{spec.key}:")}
        report["jobs"].append({
            "project": spec.project, "lang": spec.lang, "ok": bool(summary),
            "outputs": summary["outputs"] if summary else [],
            "segments": summary["segments"] if summary else [],
            "rendered": sum(1 for r in renders.values() if r.get("ok") and not r.get("reused")),
            "reused": sum(1 for r in renders.values() if r.get("ok") and r.get("reused")),
            "qc_flagged": summary["qc_flagged"] if summary else 0,
            "failures": summary["failures"] if summary else [],
        })
    folder = recipe.report
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "report.json", report)
    with atomic_path(folder / "report.html") as tmp:
        tmp.write_text(_html(report, folder))
    report["html"] = str(folder / "report.html")
    return report


def _html(report: dict, folder: Path) -> str:
    esc = html.escape
    parts = [f"<!doctype html><meta charset='utf-8'><title>s2l-dub batch: {esc(report['name'])}</title>",
             "<style>body{font:14px system-ui;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
             "padding:4px 8px;vertical-align:top}.bad{color:#b00}.ok{color:#070}img{height:96px}"
             "video{height:96px}</style>",
             f"<h1>{esc(report['name'])}</h1><p>{len(report['jobs'])} jobs in {report['seconds'] / 60:.1f} min; "
             f"{sum(j['qc_flagged'] for j in report['jobs'])} segments flagged for review; "
             f"{len(report['failures'])} failures.</p>"]
    if report["failures"]:
        parts.append("<h2 class='bad'>Failures</h2><ul>")
        parts += [f"<li><b>{esc(f['job'])}</b>: {esc(f['error'])}</li>" for f in report["failures"]]
        parts.append("</ul>")
    for job in report["jobs"]:
        state = "<span class='ok'>done</span>" if job["ok"] else "<span class='bad'>failed</span>"
        parts.append(f"<h2>{esc(job['project'])} / {esc(job['lang'])}: {state}</h2><p>"
                     f"{job['rendered']} rendered, {job['reused']} reused, {job['qc_flagged']} flagged. Outputs: "
                     + ", ".join(f"<a href='{esc(relative_url(p, folder))}'>{esc(Path(p).name)}</a>" for p in job["outputs"])
                     + "</p>")
        if job["failures"]:
            parts.append("<ul>" + "".join(f"<li class='bad'>{esc(f)}</li>" for f in job["failures"]) + "</ul>")
        if not job["segments"]:
            continue
        parts.append("<table><tr><th>clip</th><th>actor</th><th>frames</th><th>before</th><th>after</th>"
                     "<th>before | after</th><th>sync</th><th>QC</th></tr>")
        for seg in job["segments"]:
            a, b = seg["source_frames"]
            middle = (b - a) // 2
            before = _still(Path(seg["source"]), a + middle)
            after = _still(Path(seg["media"]), middle)
            scores = seg["scores"]
            qc = "<br>".join(esc(r) for r in seg["qc"]) or "<span class='ok'>ok</span>"
            parts.append(
                f"<tr><td>{esc(seg['clip'])}<br><small>{esc(seg['text'])}</small></td><td>{esc(seg['actor'])}</td>"
                f"<td>{seg['timeline_frames'][0]}-{seg['timeline_frames'][1]}</td><td>{before}</td><td>{after}</td>"
                f"<td>{_player(seg['source'], folder, seg['source_seconds'])}"
                f"{_player(seg['media'], folder)}<br><a href='{esc(relative_url(seg['media'], folder))}'>dubbed file</a></td>"
                f"<td>offset {scores.get('sync_offset_frames')}<br>conf. {scores.get('sync_confidence')}</td>"
                f"<td class='{'bad' if seg['qc'] else 'ok'}'>{qc}</td></tr>")
        parts.append("</table>")
    return "\n".join(parts) + "\n"


def _player(media: str, folder: Path, seconds: list[float] | None = None) -> str:
    """A video player; ``seconds`` plays only that span of the file (a media fragment)."""
    fragment = f"#t={seconds[0]:.3f},{seconds[1]:.3f}" if seconds else ""
    return (f"<video controls preload='none' src='{html.escape(relative_url(media, folder))}{fragment}'></video>")


def _still(video: Path, frame: int) -> str:
    """An inline JPEG of one frame (empty when the file cannot be read)."""
    cmd = ["ffmpeg", "-v", "error", "-i", str(video), "-vf", f"select=eq(n\\,{int(frame)}),scale=-2:192",
           "-frames:v", "1", "-f", "image2pipe", "-vcodec", "mjpeg", "-"]
    try:
        data = subprocess.run(cmd, capture_output=True, check=True, timeout=60).stdout
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
        return ""
    return f"<img alt='frame {frame}' src='data:image/jpeg;base64,{base64.b64encode(data).decode()}'>" if data else ""
