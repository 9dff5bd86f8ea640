"""Who speaks each line, judged from the shots' original sound (issue 25).

    python bench/bench_who_speaks.py [--actor anchor_de|anchor_en] [--budget fast] [--out DIR]

Builds the who-speaks test edit from real footage (s2l_dub/timeline/speaker_sample.py: the actor
speaking with their own sound, over another person's voice, over silence, and from a file with no
sound), plans the main job on it with a real dub stem, prepares and trains the actor with the budget,
then judges every segment as the job does. Prints each case's verdict and decision, precision and
recall of "dubbed" against the truth, and what the check costs per minute of timeline (the two
half-footage sync experts it trains, and the judging). Rendering is left out: it does not change
the decision.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from s2l_dub.timeline.job import DubConfig, plan_dub, ready_actor
from s2l_dub.timeline.lines import decide_speaker
from s2l_dub.timeline.speaker_sample import ACTORS, build_speaker_edit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=Path(os.environ.get("S2L_SAMPLES", "../shared/samples")))
    parser.add_argument("--actor", choices=sorted(ACTORS), default="anchor_de")
    parser.add_argument("--budget", default="fast")
    parser.add_argument("--out", type=Path, default=Path("bench/out/who_speaks"))
    args = parser.parse_args()
    folder = args.out / f"{args.actor}_{args.budget}"
    edit = build_speaker_edit(args.samples, folder, args.actor)
    plan = plan_dub(edit.timeline, edit.stem, DubConfig(lang="fr", budget=args.budget), actors_file=edit.actors)
    started = time.monotonic()
    actor = plan.actors[args.actor]
    renderer = ready_actor(plan.work, actor.name, actor.clips, actor.face_hint, plan.config.train_config())
    trained = time.monotonic() - started
    started = time.monotonic()
    rows = []
    for seg, _ in plan.segments:
        shot = seg.shot
        verdict = renderer.original_sync(shot.media, shot.source_frame(seg.start), shot.source_frame(seg.stop))
        rows.append((seg, verdict, decide_speaker(verdict, seg.by_script)))
    checked = time.monotonic() - started
    timeline_min = plan.timeline.tracks.duration().to_seconds() / 60

    print(f"actor {args.actor}, budget {args.budget}: prepare + train {trained:.0f} s; "
          f"who-speaks check {checked:.0f} s ({checked / timeline_min:.0f} s per minute of timeline)")
    print(f"{'shot':<11} {'speaks?':>8} {'verdict':>8} {'score':>6} {'offset':>6}  decision")
    hits = dubbed_listeners = speakers = listeners = unsure = 0
    for seg, verdict, decision in rows:
        truth = edit.truth[seg.shot.name]
        score = "" if verdict.score is None else f"{verdict.score:.3f}"
        offset = "" if verdict.offset is None else f"{verdict.offset:+d}"
        state = "dubbed" if decision.dub else ("UNSURE (flagged)" if decision.unsure else "left alone")
        print(f"{seg.shot.name:<11} {str(truth):>8} {verdict.verdict:>8} {score:>6} {offset:>6}  {state}: "
              f"{decision.spoken_by}")
        unsure += decision.unsure
        if truth is True:
            speakers += 1
            hits += decision.dub
        elif truth is False:
            listeners += 1
            dubbed_listeners += decision.dub
    dubbed = hits + dubbed_listeners
    precision = hits / dubbed if dubbed else float("nan")
    print(f"face-segments with original sound: {speakers} speaking, {listeners} not; dubbed {dubbed}: "
          f"precision {precision:.2f}, recall {hits / speakers:.2f}; {unsure} flagged unsure")


if __name__ == "__main__":
    main()
