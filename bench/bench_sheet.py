"""A contact sheet of held-out frames from several `eval` runs of one actor: truth, then each model.

    python bench/bench_sheet.py OUT.png LABEL=MODEL_DIR [LABEL=MODEL_DIR ...] [--frames N] [--scale S]

Each model folder's ``eval/side_by_side.mp4`` holds truth | render | error per frame, on the same
held-out frames for every model of the actor; the sheet takes the truth from the first and the
render from each, on ``N`` frames spread over the test, the widest-open mouths first (the truth's
darkest mouth interior), where a soft average shows most.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np


def read_panels(video: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per frame, the truth and the render panels of a side-by-side video."""
    capture = cv2.VideoCapture(str(video))
    truth, render = [], []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        width = frame.shape[1] // 3
        truth.append(frame[:, :width])
        render.append(frame[:, width:2 * width])
    capture.release()
    return truth, render


def open_frames(truth: list[np.ndarray], count: int) -> list[int]:
    """``count`` frames, one from each equal stretch of the test: the one whose mouth centre is darkest."""
    darkness = [-float(cv2.cvtColor(t, cv2.COLOR_BGR2GRAY)[t.shape[0] // 3: 2 * t.shape[0] // 3,
                                                        t.shape[1] // 3: 2 * t.shape[1] // 3].mean()) for t in truth]
    bounds = np.linspace(0, len(truth), count + 1).astype(int)
    return [int(a + np.argmax(darkness[a:b])) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("models", nargs="+", help="LABEL=MODEL_DIR")
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--scale", type=int, default=3)
    args = parser.parse_args()
    runs = [(label, Path(folder)) for label, folder in (item.split("=", 1) for item in args.models)]
    panels = [read_panels(folder / "eval" / "side_by_side.mp4") for _, folder in runs]
    truth = panels[0][0]
    chosen = open_frames(truth, args.frames)
    rows = []
    for i in chosen:
        row = [truth[i]] + [render[i] for _, render in panels]
        rows.append(np.hstack(row))
    sheet = np.vstack(rows)
    sheet = cv2.resize(sheet, None, fx=args.scale, fy=args.scale, interpolation=cv2.INTER_NEAREST)
    header = np.full((28, sheet.shape[1], 3), 255, np.uint8)
    width = sheet.shape[1] // (1 + len(runs))
    for j, label in enumerate(["truth", *(label for label, _ in runs)]):
        cv2.putText(header, label, (j * width + 6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), np.vstack([header, sheet]))
    print(f"{args.out}: held-out frames {chosen}")


if __name__ == "__main__":
    main()
