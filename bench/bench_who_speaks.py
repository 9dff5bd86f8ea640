"""Who speaks each line, judged from the shots' original sound (issue 25).

    python bench/bench_who_speaks.py [--actor anchor_de|anchor_en] [--budget fast] [--out DIR]
    python bench/bench_who_speaks.py --edit two_shot [--budget fast]

Builds the who-speaks test edit from real footage (s2l_dub/timeline/speaker_sample.py: the actor
speaking with their own sound, over another person's voice, over silence, and from a file with no
sound), or the two-shot edit (anchor_en and anchor_de side by side, the original sound one's line
then the other's, each also in a single shot of their own), plans the main job on it with a real dub stem, prepares and trains the actor with the budget,
then judges every segment as the job does. Prints each case's verdict and decision, precision and
recall of "dubbed" against the truth, and what the check costs per minute of timeline (the two
half-footage sync experts it trains, and the judging). Rendering is left out: it does not change
the decision.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

from s2l_dub.timeline.job import DubConfig, plan_dub, ready_actor
from s2l_dub.timeline.lines import decide_speaker
from s2l_dub.timeline.speaker_sample import ACTORS, build_speaker_edit, build_two_shot_edit, two_shot_truth_key
from s2l_dub.train.config import budget as named_budget


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=Path(os.environ.get("S2L_SAMPLES", "../shared/samples")))
    parser.add_argument("--actor", choices=sorted(ACTORS), default="anchor_de")
    parser.add_argument("--edit", choices=["one_face", "two_shot"], default="one_face")
    parser.add_argument("--budget", default="fast")
    parser.add_argument("--generator-steps", type=int, default=None,
                        help="Train the mouth generator this many steps instead of the budget's (the decision "
                             "uses only the sync experts, which keep the budget's steps).")
    parser.add_argument("--out", type=Path, default=Path("bench/out/who_speaks"))
    args = parser.parse_args()
    two_shot = args.edit == "two_shot"
    folder = args.out / (f"two_shot_{args.budget}" if two_shot else f"{args.actor}_{args.budget}")
    edit = build_two_shot_edit(args.samples, folder) if two_shot else build_speaker_edit(args.samples, folder,
                                                                                          args.actor)
    train = named_budget(args.budget)
    train = dataclasses.replace(train, steps=args.generator_steps) if args.generator_steps else train
    plan = plan_dub(edit.timeline, edit.stem, DubConfig(lang="fr", train=train), actors_file=edit.actors)
    started = time.monotonic()
    renderers = {name: ready_actor(plan.work, name, actor.clips, actor.face_hint, plan.config.train_config())
                 for name, actor in plan.actors.items()}
    trained = time.monotonic() - started
    started = time.monotonic()
    rows = []
    for seg, actor in plan.segments:
        shot = seg.shot
        verdict = renderers[actor].original_sync(shot.media, shot.source_frame(seg.start),
                                                 shot.source_frame(seg.stop))
        truth = edit.truth[two_shot_truth_key(shot.name, actor, seg.start) if two_shot else shot.name]
        rows.append((seg, actor, truth, verdict, decide_speaker(verdict, seg.by_script)))
    checked = time.monotonic() - started
    timeline_min = plan.timeline.tracks.duration().to_seconds() / 60

    print(f"{'two-shot edit' if two_shot else f'actor {args.actor}'}, budget {args.budget}: "
          f"prepare + train {trained:.0f} s; "
          f"who-speaks check {checked:.0f} s ({checked / timeline_min:.0f} s per minute of timeline)")
    print(f"{'shot':<11} {'frames':>9} {'actor':<9} {'speaks?':>8} {'verdict':>8} {'score':>6} {'offset':>6}  decision")
    hits = dubbed_listeners = speakers = listeners = unsure = 0
    for seg, actor, truth, verdict, decision in rows:
        score = "" if verdict.score is None else f"{verdict.score:.3f}"
        offset = "" if verdict.offset is None else f"{verdict.offset:+d}"
        state = "dubbed" if decision.dub else ("UNSURE (flagged)" if decision.unsure else "left alone")
        print(f"{seg.shot.name:<11} {f'{seg.start}-{seg.stop}':>9} {actor:<9} {str(truth):>8} {verdict.verdict:>8} {score:>6} {offset:>6}  {state}: "
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
