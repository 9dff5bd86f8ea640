"""Index groups of the 68-point iBUG landmark convention."""

from __future__ import annotations

import numpy as np

JAW = np.arange(0, 17)
BROWS = np.arange(17, 27)
NOSE = np.arange(27, 36)
EYES = np.arange(36, 48)
MOUTH_OUTER = np.arange(48, 60)
MOUTH_INNER = np.arange(60, 68)
MOUTH = np.arange(48, 68)
LEFT_EYE = np.arange(36, 42)
RIGHT_EYE = np.arange(42, 48)

# Points that move with the skull, not with speech: head pose is solved from these.
RIGID = np.concatenate([np.arange(0, 4), np.arange(13, 17), BROWS, NOSE, EYES])
# Points that follow the mouth and jaw.
SPEECH = np.concatenate([np.arange(4, 13), MOUTH])

INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))
"""Upper/lower inner-lip pairs whose distances measure mouth opening."""


def mouth_aperture(landmarks: np.ndarray) -> np.ndarray:
    """Inner-lip opening divided by mouth width (0 = closed); works on (..., 68, 2)."""
    gap = np.mean([np.linalg.norm(landmarks[..., a, :] - landmarks[..., b, :], axis=-1) for a, b in INNER_LIP_PAIRS], axis=0)
    width = np.linalg.norm(landmarks[..., 54, :] - landmarks[..., 48, :], axis=-1)
    return gap / np.maximum(width, 1e-6)


def interocular(landmarks: np.ndarray) -> np.ndarray:
    """Distance between eye centres, the face's natural length unit; works on (..., 68, 2|3)."""
    return np.linalg.norm(landmarks[..., LEFT_EYE, :].mean(-2) - landmarks[..., RIGHT_EYE, :].mean(-2), axis=-1)
