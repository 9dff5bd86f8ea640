"""A one-image check of an actor's analysis: landmarks, pose axes, regions, canonical view."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..artifacts import atomic_path
from ..face.warp import backward_warp, map_points, pixel_grid
from ..media import iter_frames

TILE = 320
GREEN, RED, BLUE, YELLOW, CYAN = (60, 220, 60), (230, 50, 50), (60, 120, 255), (250, 220, 40), (40, 220, 230)


def write_contact_sheet(target: Path, actor: str, infos, ranges, geometry: dict) -> None:
    valid = np.flatnonzero(geometry["valid"])
    canonical = int(geometry["canonical"])
    yaw = np.abs(geometry["euler_deg"][valid, 0]) + np.abs(geometry["euler_deg"][valid, 1])
    most_turned = int(valid[np.argmax(yaw)])
    picks = sorted({*valid[np.linspace(0, len(valid) - 1, 5).astype(int)], canonical, most_turned})
    frames = _read_frames(infos, ranges, geometry, picks)

    tiles = [_annotated(frames[i], i, geometry, i == canonical) for i in picks]
    tiles.append(_depth_tile(frames[canonical], geometry))
    tiles.append(_canonical_view_tile(frames[most_turned], most_turned, geometry))
    tiles.append(_canonical_view_tile(frames[canonical], canonical, geometry))
    while len(tiles) % 4:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[k:k + 4], 1) for k in range(0, len(tiles), 4)]
    sheet = np.concatenate(rows, 0)
    header = np.full((40, sheet.shape[1], 3), 24, np.uint8)
    reproj = np.nanmean(geometry["reprojection_px"][valid])
    text = (f"{actor}: {len(valid)}/{len(geometry['valid'])} frames tracked, canonical #{canonical}, "
            f"reprojection {reproj:.2f} px, focal {geometry['K'][0][0, 0]:.0f} px, lip box {[int(v) for v in geometry['lip_box']]}")
    cv2.putText(header, text, (10, 26), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (235, 235, 235), 1, cv2.LINE_AA)
    image = np.concatenate([header, sheet], 0)
    with atomic_path(target) as tmp:
        ok, png = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        tmp.write_bytes(png.tobytes())


def _read_frames(infos, ranges, geometry, picks) -> dict[int, np.ndarray]:
    out = {}
    for i in picks:
        c = int(geometry["clip_index"][i])
        source = int(geometry["frame_index"][i])
        out[i] = next(iter_frames(infos[c], source, source + 1)).copy()
    return out


def _face_window(geometry: dict, i: int, image: np.ndarray) -> np.ndarray:
    """The part of the frame around the face, so small faces in wide shots stay readable."""
    h, w = image.shape[:2]
    size = int(geometry["lower_face_size"])
    side = int(min(h, w, 3.2 * size))
    cx = geometry["lower_face_origins"][i][0] + size / 2
    cy = geometry["lower_face_origins"][i][1] + size * 0.2
    x0 = int(np.clip(cx - side / 2, 0, w - side))
    y0 = int(np.clip(cy - side / 2, 0, h - side))
    return image[y0:y0 + side, x0:x0 + side]


def _fit(image: np.ndarray) -> tuple[np.ndarray, float]:
    scale = TILE / max(image.shape[:2])
    small = cv2.resize(image, (int(image.shape[1] * scale), int(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    tile = np.zeros((TILE, TILE, 3), np.uint8)
    tile[: small.shape[0], : small.shape[1]] = small
    return tile, scale


def _lip_outline_in_frame(i: int, geometry: dict) -> np.ndarray:
    x0, y0, w, h = (int(v) for v in geometry["lip_box"])
    edge = np.concatenate([
        np.stack([np.linspace(x0, x0 + w, 20), np.full(20, y0)], -1),
        np.stack([np.full(20, x0 + w), np.linspace(y0, y0 + h, 20)], -1),
        np.stack([np.linspace(x0 + w, x0, 20), np.full(20, y0 + h)], -1),
        np.stack([np.full(20, x0), np.linspace(y0 + h, y0, 20)], -1),
    ])
    depth = geometry["canonical_depth"]
    d = depth[np.clip(edge[:, 1].astype(int), 0, depth.shape[0] - 1), np.clip(edge[:, 0].astype(int), 0, depth.shape[1] - 1)]
    canonical = int(geometry["canonical"])
    K_c = geometry["K"][geometry["clip_index"][canonical]]
    K_o = geometry["K"][geometry["clip_index"][i]]
    uv, _ = map_points(edge, d, K_c, K_o, geometry["rel_R"][i], geometry["rel_t"][i])
    return uv


def _annotated(frame: np.ndarray, i: int, geometry: dict, is_canonical: bool) -> np.ndarray:
    image = frame.copy()
    thick = max(1, round(int(geometry["lower_face_size"]) / 120))
    lm = geometry["landmarks"][i]
    for x, y in lm:
        cv2.circle(image, (int(x), int(y)), thick + 1, GREEN, -1, cv2.LINE_AA)
    size = int(geometry["lower_face_size"])
    x0, y0 = (int(v) for v in geometry["lower_face_origins"][i])
    cv2.rectangle(image, (x0, y0), (x0 + size, y0 + size), CYAN, thick)
    cv2.polylines(image, [np.round(_lip_outline_in_frame(i, geometry)).astype(np.int32)], True, YELLOW, thick)
    K = geometry["K"][geometry["clip_index"][i]]
    nose = geometry["shape"][30]
    axes = np.array([nose, nose + [0.05, 0, 0], nose + [0, 0.05, 0], nose + [0, 0, -0.05]])
    uv, _ = cv2.projectPoints(axes, geometry["rvecs"][i], geometry["tvecs"][i], K, None)
    uv = uv.reshape(-1, 2).astype(int)
    for end, colour in zip(uv[1:], (RED, GREEN, BLUE)):
        cv2.line(image, tuple(uv[0]), tuple(end), colour, thick * 2, cv2.LINE_AA)
    tile, _ = _fit(_face_window(geometry, i, image))
    yaw, pitch, roll = geometry["euler_deg"][i]
    label = f"#{i}{' canonical' if is_canonical else ''}  y{yaw:+.1f} p{pitch:+.1f} r{roll:+.1f}"
    cv2.putText(tile, label, (6, TILE - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def _depth_tile(frame: np.ndarray, geometry: dict) -> np.ndarray:
    depth = geometry["canonical_depth"]
    measured = geometry["canonical_depth_measured"]
    lo, hi = np.percentile(depth[measured], [1, 99])
    norm = np.clip((depth - lo) / max(hi - lo, 1e-6), 0, 1)
    colour = cv2.applyColorMap((255 * (1 - norm)).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
    alpha = np.where(measured, 0.6, 0.25)[..., None]
    blend = (frame * (1 - alpha) + colour * alpha).astype(np.uint8)
    tile, _ = _fit(_face_window(geometry, int(geometry["canonical"]), blend))
    cv2.putText(tile, "canonical depth: red near, blue far", (6, TILE - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def _canonical_view_tile(frame: np.ndarray, i: int, geometry: dict) -> np.ndarray:
    """The lower face of frame ``i`` warped into the canonical view (GAMEM's O2C mapping)."""
    canonical = int(geometry["canonical"])
    size = int(geometry["lower_face_size"])
    x0, y0 = (int(v) for v in geometry["lower_face_origins"][canonical])
    grid = pixel_grid((x0, y0, size, size), (size, size))
    depth = geometry["canonical_depth"][y0:y0 + size, x0:x0 + size]
    K_c = geometry["K"][geometry["clip_index"][canonical]]
    K_o = geometry["K"][geometry["clip_index"][i]]
    warped = backward_warp(frame, grid, depth, K_c, K_o, geometry["rel_R"][i], geometry["rel_t"][i])
    bx, by, bw, bh = (int(v) for v in geometry["lip_box"])
    cv2.rectangle(warped, (bx - x0, by - y0), (bx - x0 + bw, by - y0 + bh), YELLOW, 1)
    tile, _ = _fit(warped)
    cv2.putText(tile, f"#{i} in canonical view", (6, TILE - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1,
                cv2.LINE_AA)
    return tile
