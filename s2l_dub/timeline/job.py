"""The main job: dub a whole edit. Plan first (cheap, printable), then run the stages.

plan: read the timeline -> shots -> who is in each -> where the dub speaks -> which
actors need preparing and training (and what is cached).
run: per actor, prepare and train (content-keyed, so a second run or a second language
reuses them), render every segment (skipped when an identical render exists), then
write the dubbed timeline in the input's format and as .otio.
A problem with one actor or segment is reported and skipped; the rest of the job runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
import time
from pathlib import Path

import numpy as np

from .. import __version__
from ..artifacts import DigestCache, read_json, refuse_overwrite, safe_name, stable_key, write_json
from ..audio.asr import AsrConfig, transcribe
from ..audio.vad import VadConfig, speech_flags, speech_segments
from ..dataset.prepare import ClipInput, dataset_dir, prepare_actor
from ..dataset.store import MANIFEST
from ..errors import MediaError, NoAudioError, S2LError, TimelineError
from ..face.identity import FaceIdentifier, FaceSample
from ..face.track import FaceHint
from ..media import VideoInfo, iter_frames, load_audio, probe_video
from ..progress import NullProgress, Progress
from ..render.encode import EncodeSettings
from ..render.engine import ActorRenderer, RenderConfig
from ..render.original_sync import OriginalSync, OriginalSyncConfig, cached_verdict, verdict_key
from ..train.config import TrainConfig
from ..train.config import budget as named_budget
from ..train.fold_experts import fold_config_of, fold_experts_key
from ..train.trainer import MODEL_META, model_dir, model_id, train_actor, training_key
from .actors import SKIP, ActorMapping, declared_actors, group_by_face, load_mapping
from .io import adapter_for, check_writable, read_timeline, timeline_document, write_timeline
from .lines import LineLeftAlone, SpeakerDecision, decide_speaker, segments_by_speaker
from .relink import MediaIndex
from .segments import Segment, SegmentConfig, Speech, load_cues, snap_cues_to_speech, write_srt
from .shots import Shot, Skipped, collect_shots, timeline_rate
from .writeback import QcConfig, RenderedSegment, dubbed_timeline, qc_reasons

SAMPLE_RATE = 16000
# Rough per-unit costs on 2 CPU cores, for the plan's time estimate only.
_PREPARE_S_PER_FRAME = 1 / 30
_TRAIN_S_PER_STEP = 0.6
_EXPERT_S_PER_STEP = 0.4
_RENDER_S_PER_FRAME = 1 / 15


@dataclasses.dataclass(frozen=True)
class DubConfig:
    lang: str = "dub"
    budget: str = "default"
    steps: int | None = None
    """Overrides the budget's step count."""
    audio_offset_s: float = 0.0
    """Timeline time (seconds from its start) where the dub stem begins."""
    codec: str = "prores"
    handle_s: float = 1.0
    """Footage kept either side of each shot for training (more of the actor to learn from)."""
    face_samples: int = 5
    segments: SegmentConfig = SegmentConfig()
    qc: QcConfig = QcConfig()
    actor_prefix: str = ""
    """Put before face-grouped actor names (``ep01.actor_1``), so projects sharing a cache do not collide."""
    asr: AsrConfig | None = None
    """Speech recognition on the stem: cues when no subtitles are given, edges to align them when they are."""
    train: TrainConfig | None = None
    """A full training config, instead of the named budget (tests, studios with their own)."""
    media_dirs: tuple[str, ...] = ()
    """Folders searched for offline media by file, clip or reel name (``--media``)."""
    sequence: str | None = None
    """The sequence (FCP7 XML, OTIO) or project (FCPXML) to dub in a file holding several; default the first."""

    def train_config(self) -> TrainConfig:
        config = self.train or named_budget(self.budget)
        return dataclasses.replace(config, steps=self.steps) if self.steps else config


@dataclasses.dataclass
class ActorPlan:
    name: str
    shots: list[Shot]
    clips: list[ClipInput]
    assigned_by: str
    frames: int
    """Frames of footage to prepare."""
    face_hint: FaceHint = FaceHint()
    cut_s: float = 0.0
    """Seconds of the cut's own shots (with handles) to learn from."""
    footage: list[Path] = dataclasses.field(default_factory=list)
    """More of the actor's footage, from the mapping file's ``[footage]``."""
    footage_s: float = 0.0
    dataset_cached: bool = False
    model_cached: bool = False


@dataclasses.dataclass
class DubPlan:
    timeline_path: Path
    audio_path: Path
    output: Path
    work: Path
    config: DubConfig
    timeline: object
    rate: float
    stem: np.ndarray
    speech_from: str
    shots: list[Shot]
    skipped: list[Skipped]
    actors: dict[str, ActorPlan]
    segments: list[tuple[Segment, str]]
    transcript: list[Speech] = dataclasses.field(default_factory=list)
    detected: list[Speech] = dataclasses.field(default_factory=list)
    """Speech found in the whole stem (timeline time): which frames of a segment are silent."""
    estimated_s: float = 0.0
    problems: list[str] = dataclasses.field(default_factory=list)
    """What stops the job from running, found while planning (only with ``strict=False``)."""
    notes: list[str] = dataclasses.field(default_factory=list)
    """What the job leaves out of the user's input and they should know (cues outside the edit)."""
    lines_left: list[LineLeftAlone] = dataclasses.field(default_factory=list)
    """Lines kept off a listener's face, or spoken off screen, as the dub script says."""
    speaker_check: list[str] = dataclasses.field(default_factory=list)
    """How each segment's speaker will be checked (against the original sound, or not: why)."""

    @property
    def media_dir(self) -> Path:
        return self.output.parent / f"{self.output.stem}.media"


def default_output(timeline_path: Path, lang: str) -> Path:
    return timeline_path.with_name(f"{timeline_path.stem}.{lang}{timeline_path.suffix}")


def default_work(timeline_path: Path) -> Path:
    return timeline_path.with_name(f"{timeline_path.stem}.s2l")


def plan_dub(timeline_path: Path, audio_path: Path, config: DubConfig = DubConfig(), output: Path | None = None,
             work: Path | None = None, subtitles: Path | None = None, actors_file: Path | None = None,
             edl_rate: float | None = None, progress: Progress | None = None, dry_run: bool = False,
             strict: bool = True) -> DubPlan:
    """Everything the job will do, checked before any slow stage.

    ``dry_run``: write nothing at all, not even caches. ``strict=False``: problems that do not stop
    the plan from being listed (a dub stem shorter than the edit) go to ``plan.problems`` instead
    of raising, so the caller can show the whole plan first and then refuse to run.
    """
    progress = progress or NullProgress()
    timeline_path, audio_path = Path(timeline_path), Path(audio_path)
    safe_name(config.lang, "--lang")
    output = Path(output) if output else default_output(timeline_path, config.lang)
    work = Path(work) if work else default_work(timeline_path)
    inputs = [("the input timeline", timeline_path), ("the dub stem", audio_path)]
    inputs += [(role, Path(p)) for role, p in (("the subtitles", subtitles), ("the actors file", actors_file)) if p]
    for written in (output, output.with_suffix(".otio"), output.with_name(output.name + ".s2l.json")):
        refuse_overwrite(written, inputs)
    adapter_for(output)
    if not math.isfinite(config.audio_offset_s):
        raise TimelineError(f"--audio-offset {config.audio_offset_s}: must be a finite time")
    timeline = read_timeline(timeline_path, edl_rate, config.sequence)
    media_index = MediaIndex.scan([Path(d) for d in config.media_dirs]) if config.media_dirs else None
    # Relative media paths count from the document's folder: a Final Cut bundle's is the bundle.
    shots, skipped = collect_shots(timeline, timeline_document(timeline_path).parent.resolve(), media_index)
    if not shots and not skipped:
        raise TimelineError(f"{timeline_path}: no video clips to dub")
    rate = timeline_rate(timeline)
    if timeline_path.suffix.lower() == ".edl":
        shots = _without_edl_dissolve_targets(shots, skipped)
    # Probing lists every packet of a file: once per file, however many shots use it.
    media = _probe_media(shots, skipped)
    shots = _usable_media(shots, skipped, rate, media)

    stem = load_audio(audio_path, SAMPLE_RATE)
    timeline_s = timeline.tracks.duration().to_seconds()
    stem_end = config.audio_offset_s + len(stem) / SAMPLE_RATE
    problems: list[str] = []
    if stem_end < timeline_s - 1 / rate:
        problems.append(f"{audio_path}: dub stem ends at {stem_end:.2f} s of the timeline, which runs "
                        f"{timeline_s:.2f} s; conform the stem to the edit (or set --audio-offset)")
        if strict:
            raise TimelineError(problems[-1])

    # Everything a user can get wrong is read before the slow stages start.
    mapping = load_mapping(actors_file)
    footage_of = {name: _footage(mapping, name) for name in mapping.footage}
    cues = load_cues(subtitles, config.audio_offset_s) if subtitles else None
    outside = _cues_outside(subtitles, cues, timeline_s) if cues else None
    notes = [outside] if outside else []
    by_actor, assigned_by = _assign_actors(shots, skipped, mapping, work, config, media, progress,
                                           persist=not dry_run)

    detected = [Speech(a + config.audio_offset_s, b + config.audio_offset_s)
                for a, b in speech_segments(stem, SAMPLE_RATE, VadConfig(min_silence_s=0.3))]
    transcript: list[Speech] = []
    if config.asr is not None:
        progress.start(f"transcribing the stem ({config.asr.backend})", None)
        transcript = [Speech(u.start_s + config.audio_offset_s, u.end_s + config.audio_offset_s, u.text)
                      for u in transcribe(stem, config.asr)]
    if cues:
        edges = transcript or detected
        speech = snap_cues_to_speech(cues, edges, config.segments.cue_snap_s)
        speech_from = (f"subtitles ({Path(subtitles).name}, edges snapped to "
                       f"{'the transcript' if transcript else 'detected speech'})")
    elif transcript:
        speech, speech_from = transcript, f"a transcript of the dub stem ({config.asr.backend})"
    else:
        speech, speech_from = detected, "speech detection on the dub stem (Silero VAD)"

    segments, lines_left, unknown = segments_by_speaker(speech, by_actor, mapping, config.segments)
    if unknown:
        notes.append(f"{subtitles}: the script names {', '.join(unknown)}, whom no actor plays (map them in the "
                     "actors file's [characters]); their lines go to whoever is on screen")
    speaking = sorted({actor for _, actor in segments})
    actors = {}
    for name in speaking:
        hint = FaceHint.parse(mapping.faces.get(name)) if name in mapping.faces else FaceHint()
        footage = footage_of.get(name, {})
        clips, frames, cut_s = _training_clips(by_actor[name], config.handle_s, media, set(footage))
        clips += [ClipInput(info.path) for info in footage.values()]
        frames += sum(info.frame_count for info in footage.values())
        actors[name] = ActorPlan(name, by_actor[name], clips, assigned_by[name], frames, hint, cut_s,
                                 list(footage), sum(info.duration_s for info in footage.values()))
        _mark_cached(actors[name], work, config)
    unused = sorted(set(mapping.footage) - set(speaking))
    if unused:
        notes.append(f"{actors_file}: [footage] for {', '.join(unused)}, who "
                     f"{'speaks' if len(unused) == 1 else 'speak'} no line of this edit, is not used")
    plan = DubPlan(timeline_path, audio_path, output, work, config, timeline, rate, stem, speech_from, shots,
                   skipped, actors, segments, transcript, detected, problems=problems, notes=notes,
                   lines_left=lines_left, speaker_check=_speaker_check(segments, media))
    plan.estimated_s = _estimate(plan)
    # Hours of preparing, training and rendering must not end in a timeline the adapter refuses.
    check_writable(_dubbed(plan, [])[0], output, timeline_path, config.sequence)
    return plan


def run_dub(plan: DubPlan, progress: Progress | None = None) -> dict:
    progress = progress or NullProgress()
    started = time.monotonic()
    failures: list[str] = []
    renders: list[RenderedSegment] = []
    left: list[LeftSegment] = []
    reused = 0
    for actor in plan.actors.values():
        try:
            renderer = ready_actor(plan.work, actor.name, actor.clips, actor.face_hint, plan.config.train_config(),
                                   progress)
        except S2LError as e:
            failures.append(f"actor {actor.name}: {e}")
            progress.log(f"actor {actor.name} skipped: {e}")
            continue
        for seg in [seg for seg, name in plan.segments if name == actor.name]:
            try:
                rendered, was_cached = render_segment(plan, renderer, actor.name, seg, progress)
            except LeftAlone as e:
                left.append(LeftSegment(seg, actor.name, e.decision))
                progress.log(f"{seg.shot.name} frames {seg.start}-{seg.stop} left alone: {e}")
                continue
            except S2LError as e:
                failures.append(f"{seg.shot.name} frames {seg.start}-{seg.stop}: {e}")
                progress.log(f"{seg.shot.name}: segment skipped: {e}")
                continue
            reused += was_cached
            renders.append(rendered)
    return assemble(plan, renders, failures, reused, time.monotonic() - started, progress, left)


def ready_actor(work: Path, name: str, clips: list[ClipInput], face_hint: FaceHint, train_config: TrainConfig,
                progress: Progress | None = None) -> ActorRenderer:
    """Prepare and train an actor (each only when its inputs changed) and load it for rendering."""
    progress = progress or NullProgress()
    if not clips:
        raise NoAudioError(f"actor {name}: none of their shots' media has an audio stream, so there is no sync "
                           "sound to learn the mouth from (add footage with --actors or relink the media)")
    dataset = prepare_actor(clips, name, work, face_hint=face_hint, progress=progress)
    folder = model_dir(work, name)
    if not _model_ready(folder, dataset.manifest, train_config):
        train_actor(dataset.root, folder, train_config, progress)
    return ActorRenderer(dataset.root, folder)


def assemble(plan: DubPlan, renders: list[RenderedSegment], failures: list[str], reused: int, seconds: float,
             progress: Progress | None = None, left: list[LeftSegment] = ()) -> dict:
    """Write the dubbed timeline (input format and .otio) and the job summary beside it.

    ``left``: planned segments not dubbed because their face does not speak the line, or the
    evidence is unclear (those get a QC marker where the dub would have been)."""
    progress = progress or NullProgress()
    config = plan.config
    progress.start("writing timeline", None)
    timeline, flagged = _dubbed(plan, renders, [(item.segment, f"S2L QC: speaker unsure ({item.actor}): "
                                                 f"{item.decision.spoken_by.removeprefix('unsure: ')}")
                                                for item in left if item.decision.unsure])
    # The lossless .otio and the summary first: hours of renders must not end with no timeline
    # if the editor's format then fails to write.
    native = plan.output.suffix.lower() != ".otio"
    outputs = [write_timeline(timeline, plan.output.with_suffix(".otio") if native else plan.output,
                              protect=(plan.timeline_path,))]
    if plan.transcript:
        outputs.append(write_srt(plan.transcript, plan.output.with_suffix(".srt"), config.audio_offset_s))
    summary = {
        "format": "s2l-dub-job.1",
        "s2l_dub_version": __version__,
        "timeline": str(plan.timeline_path.resolve()),
        "audio": str(plan.audio_path.resolve()),
        "outputs": [str(p.resolve()) for p in outputs],
        "lang": config.lang,
        "speech_from": plan.speech_from,
        "actors": {name: {"shots": [s.name for s in a.shots], "assigned_by": a.assigned_by,
                          "learnt_from": {"cut_s": round(a.cut_s, 2), "footage_s": round(a.footage_s, 2),
                                          "footage": [str(p) for p in a.footage]}}
                   for name, a in plan.actors.items()},
        "segments_planned": len(plan.segments),
        "segments_rendered": len(renders) - reused,
        "segments_reused": reused,
        "qc_flagged": flagged,
        "segments": [{
            "clip": r.segment.shot.name, "actor": r.actor, "timeline_frames": [r.segment.start, r.segment.stop],
            "source": str(r.segment.shot.media), "source_frames": r.sidecar["source"]["frames"],
            "source_seconds": [f / plan.rate for f in r.sidecar["source"]["frames"]],
            "media": str(r.media.resolve()), "text": r.segment.text, "scores": r.sidecar.get("scores", {}),
            "spoken_by": r.sidecar.get("spoken_by") or (f"the script ({', '.join(r.segment.speakers)})"
                                                        if r.segment.speakers else "the face on screen"),
            "qc": qc_reasons(r.sidecar, config.qc),
        } for r in sorted(renders, key=lambda r: r.segment.start)],
        "skipped_clips": [dataclasses.asdict(s) for s in plan.skipped],
        "lines_left_alone": [dataclasses.asdict(line) for line in plan.lines_left]
                            + [dataclasses.asdict(item.as_line(plan.rate)) for item in left if not item.decision.unsure],
        "speaker_unsure": [dataclasses.asdict(item.as_line(plan.rate)) for item in left if item.decision.unsure],
        "notes": plan.notes,
        "failures": failures,
        "seconds": round(seconds, 1),
    }
    summary_path = plan.output.with_name(plan.output.name + ".s2l.json")
    write_json(summary_path, summary)
    if native:
        try:
            written = write_timeline(timeline, plan.output, protect=(plan.timeline_path,), source=plan.timeline_path,
                                     sequence=config.sequence)
        except S2LError as e:
            summary["failures"].append(f"{plan.output}: not written ({e}); the dub is in {outputs[0]}")
        else:
            summary["outputs"].insert(0, str(written.resolve()))
        write_json(summary_path, summary)
    return summary


def _speaker_check(segments: list[tuple[Segment, str]], media: dict[Path, VideoInfo]) -> list[str]:
    if not segments:
        return []
    lines = ["each segment's face is checked against its shot's original sync sound once the actor is trained: "
             "a listener or an off-screen line is left alone, an unclear one marked 'S2L QC: speaker unsure'"]
    no_sound = sorted({seg.shot.name for seg, _ in segments if not media[seg.shot.media].has_audio})
    if no_sound:
        lines.append(f"no original sound under {', '.join(no_sound)}: the script decides there, else the face "
                     "on screen is dubbed")
    return lines


def _cues_outside(subtitles: Path, cues: list[Speech], timeline_s: float) -> str | None:
    """A line about the cues that lie wholly outside the timeline, which no shot can speak."""
    outside = [c for c in cues if c.end_s <= 0 or c.start_s >= timeline_s]
    if not outside:
        return None
    first = outside[0]
    return (f"{subtitles}: {len(outside)} of {len(cues)} cues lie outside the timeline (0-{timeline_s:.2f} s) "
            f"and are left out, the first at {first.start_s:.2f} s ({first.text[:40]!r}); check --audio-offset")


def _dubbed(plan: DubPlan, renders: list[RenderedSegment], unsure: list[tuple[Segment, str]] = ()):
    """The edit with the dub added, and how many segments were flagged for review."""
    stem_s = len(plan.stem) / SAMPLE_RATE
    return dubbed_timeline(plan.timeline, renders, plan.audio_path, stem_s, plan.config.audio_offset_s,
                           plan.config.lang, plan.output.parent, plan.rate, plan.config.qc, unsure)


def _without_edl_dissolve_targets(shots: list[Shot], skipped: list[Skipped]) -> list[Shot]:
    """Shots that do not start under a dissolve, when the edit came from an EDL.

    A CMX 3600 dissolve event names its incoming clip only in comments, and the EDL
    reader gives that clip the outgoing clip's media: dubbing it would put the wrong face
    in the shot. Cuts-only EDLs are unaffected.
    """
    kept = []
    for shot in shots:
        if shot.visible and shot.visible[0][0] > shot.start:
            skipped.append(Skipped(shot.name, shot.track_name, "starts under a dissolve in an EDL, whose source "
                                   "media cannot be trusted; export .otio or FCP7 XML to dub it"))
        else:
            kept.append(shot)
    return kept


def _probe_media(shots: list[Shot], skipped: list[Skipped]) -> dict[Path, VideoInfo]:
    """Each readable media file's probe; shots on an unreadable one are listed as skipped."""
    media: dict[Path, VideoInfo | MediaError] = {}
    for shot in shots:
        if shot.media not in media:
            try:
                media[shot.media] = probe_video(shot.media)
            except MediaError as e:
                media[shot.media] = e
        if isinstance(media[shot.media], MediaError):
            skipped.append(Skipped(shot.name, shot.track_name, f"unreadable media: {media[shot.media]}"))
    return {path: info for path, info in media.items() if isinstance(info, VideoInfo)}


def _usable_media(shots: list[Shot], skipped: list[Skipped], rate: float,
                  media: dict[Path, VideoInfo]) -> list[Shot]:
    """Shots whose media can be read at the timeline's rate and hold the clip's frames."""
    usable = []
    for shot in shots:
        if shot.media not in media:
            continue  # unreadable: already listed
        info = media[shot.media]
        if info.is_variable_rate:
            skipped.append(Skipped(shot.name, shot.track_name, f"{shot.media.name} has a variable frame rate"))
            continue
        if abs(float(info.frame_rate) - rate) > 1e-3:
            skipped.append(Skipped(shot.name, shot.track_name,
                                   f"{shot.media.name} is {float(info.frame_rate):.3f} fps in a {rate:.3f} fps "
                                   "timeline (speed change)"))
            continue
        first, last = shot.source_frame(shot.start), shot.source_frame(shot.stop)
        if first < 0 or last > info.frame_count:
            skipped.append(Skipped(shot.name, shot.track_name,
                                   f"uses frames {first}-{last} of {shot.media.name}, which has {info.frame_count}"))
            continue
        usable.append(shot)
    return usable


def _assign_actors(shots, skipped, mapping, work: Path, config: DubConfig, media: dict[Path, VideoInfo],
                   progress: Progress, persist: bool = True):
    by_actor: dict[str, list[Shot]] = {}
    assigned_by: dict[str, str] = {}
    undeclared = []
    for shot in shots:
        names = declared_actors(shot, mapping)
        if names == (SKIP,):
            skipped.append(Skipped(shot.name, shot.track_name, "marked to be left alone"))
        elif names:
            for name in names:
                by_actor.setdefault(name, []).append(shot)
                assigned_by.setdefault(name, "timeline metadata or --actors mapping")
        else:
            undeclared.append(shot)
    if not undeclared:
        return by_actor, assigned_by
    samples: dict[int, FaceSample] = {}
    cache_path = work / "faces.json"
    try:
        cache = read_json(cache_path) if cache_path.exists() else {}
    except (S2LError, OSError):
        cache = {}  # a cache: rebuilt when damaged
    cache = cache if isinstance(cache, dict) else {}
    digests = DigestCache(work / "digests.json", persist=persist)
    identifier = None
    progress.start("finding faces", len(undeclared), unit="clips")
    for shot in undeclared:
        key = stable_key(digests.digest(shot.media), shot.source_frame(shot.start), shot.source_frame(shot.stop),
                         config.face_samples, __version__)
        if key not in cache:
            identifier = identifier or FaceIdentifier()
            sample = identifier.sample(_sample_frames(shot, config.face_samples, media[shot.media]))
            cache[key] = None if sample is None else {
                "descriptor": sample.descriptor.tolist(), "frames_with_face": sample.frames_with_face,
                "frames_sampled": sample.frames_sampled, "most_faces": sample.most_faces}
        entry = cache[key]
        progress.advance()
        if entry is None:
            skipped.append(Skipped(shot.name, shot.track_name, "no face found"))
            continue
        if entry["most_faces"] > 1:
            progress.log(f"{shot.name}: several faces in shot; following the largest (name the actor with "
                         "--actors and a [faces] hint to choose)")
        samples[shot.index] = FaceSample(np.array(entry["descriptor"]), entry["frames_with_face"],
                                         entry["frames_sampled"], entry["most_faces"])
    if persist:
        write_json(cache_path, cache)
    names = group_by_face(samples, set(by_actor), prefix=config.actor_prefix)
    for shot in undeclared:
        if shot.index in names:
            by_actor.setdefault(names[shot.index], []).append(shot)
            assigned_by.setdefault(names[shot.index], "face grouping")
    return by_actor, assigned_by


def _sample_frames(shot: Shot, count: int, info: VideoInfo) -> list[np.ndarray]:
    first, last = shot.source_frame(shot.start), shot.source_frame(shot.stop) - 1
    frames = []
    for index in sorted(set(np.linspace(first, last, count).round().astype(int).tolist())):
        frames.extend(iter_frames(info, index, index + 1))
    return frames


def _footage(mapping: ActorMapping, name: str) -> dict[Path, VideoInfo]:
    """The actor's extra footage, each file probed now: a typo or a silent file must not wait for the
    prepare stage to be found."""
    found = {}
    for path in mapping.footage_files(name):
        try:
            info = probe_video(path)
        except MediaError as e:
            raise TimelineError(f"{mapping.source}: [footage] {name}: {e}") from None
        if not info.has_audio:
            raise TimelineError(f"{mapping.source}: [footage] {name}: {path} has no audio stream, so no speech "
                                "to learn the mouth from")
        found[path] = info
    return found


def _training_clips(shots: list[Shot], handle_s: float, media: dict[Path, VideoInfo],
                    whole: set[Path] = frozenset()) -> tuple[list[ClipInput], int, float]:
    """Each media file's used ranges, widened by the handle and merged where they touch; the frame
    count and seconds they hold.

    Media without sync sound cannot teach the mouth; its shots are still dubbed, since
    the renderer tracks clips it was not prepared on. Media in ``whole`` is learnt from whole
    (the actor's ``[footage]``), so its shots add nothing.
    """
    spans: dict[Path, list[list[int]]] = {}
    seconds = 0.0
    for shot in shots:
        if not media[shot.media].has_audio or shot.media in whole:
            continue
        handle = round(handle_s * shot.rate)
        count = media[shot.media].frame_count
        span = [max(0, shot.source_frame(shot.start) - handle), min(count, shot.source_frame(shot.stop) + handle)]
        spans.setdefault(shot.media, []).append(span)
    clips, frames = [], 0
    for path, ranges in spans.items():
        merged: list[list[int]] = []
        for a, b in sorted(ranges):
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        clips.extend(ClipInput(path, f"f{a}-f{b}") for a, b in merged)
        frames += sum(b - a for a, b in merged)
        seconds += sum(b - a for a, b in merged) / float(media[path].frame_rate)
    return clips, frames, seconds


def _model_ready(folder: Path, manifest: dict, train_config: TrainConfig) -> bool:
    """A finished model of this dataset and config, trained at least as far as asked."""
    meta_path = folder / MODEL_META
    if not meta_path.exists():
        return False
    meta = read_json(meta_path)
    return meta.get("run_key") == training_key(manifest, train_config) and meta.get("steps", 0) >= train_config.steps


def _mark_cached(actor: ActorPlan, work: Path, config: DubConfig) -> None:
    manifest_path = dataset_dir(work, actor.name) / MANIFEST
    if not manifest_path.exists():
        return
    manifest = read_json(manifest_path)
    planned = sorted((str(c.path.resolve()), c.range_text) for c in actor.clips)
    prepared = sorted((c["path"], c.get("range_text")) for c in manifest.get("clips", []))
    actor.dataset_cached = planned == prepared
    actor.model_cached = actor.dataset_cached and _model_ready(model_dir(work, actor.name), manifest,
                                                               config.train_config())


def render_segment(plan: DubPlan, renderer: ActorRenderer | None, actor: str, seg: Segment,
                   progress: Progress | None = None) -> tuple[RenderedSegment, bool]:
    """Render one segment, or reuse an identical earlier render. Without a renderer, only reuse."""
    config = plan.config
    shot = seg.shot
    # The segment's stretch of the stem; silence where the stem does not reach.
    count = round(seg.frames / plan.rate * SAMPLE_RATE)
    first = round((seg.start / plan.rate - config.audio_offset_s) * SAMPLE_RATE)
    audio = np.zeros(count, np.float32)
    lo, hi = max(0, first), min(len(plan.stem), first + count)
    if hi > lo:
        audio[lo - first:hi - first] = plan.stem[lo:hi]
    source = (shot.source_frame(seg.start), shot.source_frame(seg.stop))
    decision = speaker_decision(plan, renderer, actor, seg, progress)
    if not decision.dub:
        raise LeftAlone(decision)
    hint = plan.actors[actor].face_hint.point if actor in plan.actors else None
    # The actor's face, where a shot holds several (a two-shot names each actor with a hint).
    render_config = RenderConfig(encode=EncodeSettings(codec=config.codec), fit="pad",
                                 face=f"{hint[0]:g},{hint[1]:g}" if hint else None)
    model_id = renderer.model_id if renderer is not None else _stored_model_id(plan.work, actor)
    audio_key = hashlib.blake2b(audio.tobytes(), digest_size=12).hexdigest()
    frame_times = (seg.start + np.arange(seg.frames)) / plan.rate
    speaking = speech_flags(frame_times, [(s.start_s, s.end_s) for s in plan.detected])
    # The clip's sound is cut from the stem file itself, at its own rate and channels.
    stem_start_s = seg.start / plan.rate - config.audio_offset_s
    key = stable_key(model_id, str(shot.media), source, audio_key, np.flatnonzero(speaking).tolist(),
                     dataclasses.asdict(render_config), __version__, ("native audio", round(stem_start_s, 6)),
                     decision.spoken_by)
    suffix = ".mov" if config.codec == "prores" else ".mp4"
    safe_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", shot.name).strip("_") or "clip"
    target = plan.media_dir / f"{safe_name}_{seg.start:06d}-{seg.stop:06d}_{actor}{suffix}"
    sidecar_path = target.with_suffix(target.suffix + ".json")
    if target.exists() and sidecar_path.exists():
        sidecar = read_json(sidecar_path)
        if sidecar.get("job_key") == key:
            return RenderedSegment(seg, actor, target, sidecar), True
    if renderer is None:
        raise S2LError("not rendered")
    sidecar = renderer.render(shot.media, audio, target, render_config, f"f{source[0]}-f{source[1]}", progress,
                              speaking, audio_source=(plan.audio_path, stem_start_s))
    if sidecar["frames"] != seg.frames:
        raise S2LError(f"rendered {sidecar['frames']} frames for a {seg.frames}-frame segment")
    sidecar["job_key"] = key
    sidecar["timeline_frames"] = [seg.start, seg.stop]
    sidecar["spoken_by"] = decision.spoken_by
    write_json(sidecar_path, sidecar)
    return RenderedSegment(seg, actor, target, sidecar), False


@dataclasses.dataclass(frozen=True)
class LeftSegment:
    """A planned segment not dubbed, and why."""

    segment: Segment
    actor: str
    decision: SpeakerDecision

    def as_line(self, rate: float) -> LineLeftAlone:
        seg = self.segment
        return LineLeftAlone(seg.start / rate, seg.stop / rate, ", ".join(seg.speakers),
                             f"{self.actor}: {self.decision.spoken_by}", seg.shot.name, seg.shot.track_name)


class LeftAlone(S2LError):
    """A planned segment whose face does not speak its line, or whose speaker the editor must choose."""

    def __init__(self, decision: SpeakerDecision):
        super().__init__(decision.spoken_by)
        self.decision = decision


def speaker_decision(plan: DubPlan, renderer: ActorRenderer | None, actor: str, seg: Segment,
                     progress: Progress | None = None) -> SpeakerDecision:
    """Whether ``seg``'s face speaks its line (judged on the shot's original sound with the actor's
    sync expert; without a renderer, only read back from an earlier judgement)."""
    shot = seg.shot
    first, stop = shot.source_frame(seg.start), shot.source_frame(seg.stop)
    if renderer is not None:
        original = renderer.original_sync(shot.media, first, stop, progress=progress)
    else:
        original = _stored_verdict(plan.work, actor, shot.media, first, stop)
        if original is None:
            raise S2LError("not rendered")
    return decide_speaker(original, seg.by_script)


def _stored_verdict(work: Path, actor: str, media: Path, first: int, stop: int) -> OriginalSync | None:
    folder = model_dir(work, actor)
    manifest_path, meta_path = dataset_dir(work, actor) / MANIFEST, folder / MODEL_META
    if not manifest_path.exists() or not meta_path.exists():
        return None
    manifest = read_json(manifest_path)
    experts_key = fold_experts_key(manifest, fold_config_of(read_json(meta_path)))
    return cached_verdict(folder, verdict_key(manifest, experts_key, media, first, stop, OriginalSyncConfig()))


def _stored_model_id(work: Path, actor: str) -> str | None:
    meta_path = model_dir(work, actor) / MODEL_META
    return model_id(read_json(meta_path)) if meta_path.exists() else None


def _estimate(plan: DubPlan) -> float:
    train = plan.config.train_config()
    seconds = 0.0
    for actor in plan.actors.values():
        if not actor.dataset_cached:
            seconds += actor.frames * _PREPARE_S_PER_FRAME
        if not actor.model_cached:
            seconds += train.steps * _TRAIN_S_PER_STEP + train.expert_steps * _EXPERT_S_PER_STEP
    seconds += sum(seg.frames for seg, _ in plan.segments) * _RENDER_S_PER_FRAME
    return seconds
