"""Semantic categories shared by the head model, the dataset's label maps and the
semantic loss (paper eqs 22–23).

Label ids are the indices of :data:`LABEL_NAMES`; ``0`` is the background. The head
model labels each triangle with one of ids 1..8 (``neck_torso`` covers the mesh's
neck); the dataset's label maps (the face-parsing equivalent) use the same ids per pixel.
"""

from __future__ import annotations

import numpy as np

LABEL_NAMES: tuple[str, ...] = (
    "background",  # 0
    "skin",  # 1  face, ears, scalp skin not covered by hair
    "lips",  # 2
    "teeth",  # 3
    "mouth_interior",  # 4  tongue, palate, the dark cavity
    "eyes",  # 5  eyeballs (sclera, iris, pupil)
    "eyebrows",  # 6
    "hair",  # 7  hair or cap
    "neck_torso",  # 8
)
LABEL_IDS: dict[str, int] = {name: index for index, name in enumerate(LABEL_NAMES)}

#: Fixed display / semantic-render colours (RGB in [0, 1]), one row per label, (L, 3).
LABEL_COLORS: np.ndarray = np.array(
    [
        [0.00, 0.00, 0.00],  # background
        [0.90, 0.20, 0.20],  # skin (the paper's "red for facial points")
        [0.95, 0.85, 0.10],  # lips ("yellow for lip points")
        [1.00, 1.00, 1.00],  # teeth
        [0.45, 0.05, 0.45],  # mouth interior
        [0.10, 0.45, 0.95],  # eyes
        [0.35, 0.20, 0.05],  # eyebrows
        [0.10, 0.75, 0.30],  # hair
        [0.95, 0.55, 0.15],  # neck / torso
    ],
    dtype=np.float32,
)


def label_id(name: str) -> int:
    """Id of a label name; raises ``KeyError`` naming the valid labels."""
    try:
        return LABEL_IDS[name]
    except KeyError:
        raise KeyError(f"unknown semantic label {name!r}; expected one of {', '.join(LABEL_NAMES)}") from None
