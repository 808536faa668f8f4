"""Small synthetic pieces for the motion tests: a tiny FLAME-like head and utterance-like examples."""

from __future__ import annotations

import numpy as np
import torch

from talkinghead_edu.flame.model import FlameModel
from talkinghead_edu.motion import MotionExample
from talkinghead_edu.semantics import LABEL_IDS


def tiny_head(n_expr: int = 6, seed: int = 0) -> FlameModel:
    """A 6x6 vertex grid "face" with FLAME's layout: 5 joints, random expression basis,
    the lower half skinned to the jaw, the middle two rows labelled as lips, 68 landmarks."""
    rng = np.random.default_rng(seed)
    side = 6
    ys, xs = np.meshgrid(np.linspace(0.05, -0.05, side), np.linspace(-0.05, 0.05, side), indexing="ij")
    v_template = np.stack([xs.ravel(), ys.ravel(), np.full(side * side, 0.08)], axis=1).astype(np.float32)
    faces = []
    for r in range(side - 1):
        for c in range(side - 1):
            a, b, d, e = r * side + c, r * side + c + 1, (r + 1) * side + c, (r + 1) * side + c + 1
            faces += [[a, d, b], [b, d, e]]
    faces = np.array(faces, dtype=np.int32)
    labels = np.full(len(faces), LABEL_IDS["skin"], dtype=np.uint8)
    labels[[i for i in range(len(faces)) if 2 <= (i // 2) // (side - 1) <= 2]] = LABEL_IDS["lips"]
    V = len(v_template)
    n_shape = 2
    shapedirs = (0.003 * rng.standard_normal((V, 3, n_shape + n_expr))).astype(np.float32)
    weights = np.zeros((V, 5), np.float32)
    lower = v_template[:, 1] < 0
    weights[lower, 2] = 1.0
    weights[~lower, 1] = 1.0
    J_regressor = np.zeros((5, V), np.float32)
    J_regressor[:, :] = 1.0 / V
    return FlameModel(
        v_template=v_template,
        faces=faces,
        shapedirs=shapedirs,
        n_shape=n_shape,
        posedirs=np.zeros((V, 3, 36), np.float32),
        J_regressor=J_regressor,
        weights=weights,
        parents=np.array([-1, 0, 1, 1, 1]),
        lmk_faces_idx=rng.integers(0, len(faces), 68),
        lmk_bary_coords=np.full((68, 3), 1 / 3, np.float32),
        face_labels=labels,
        source="tiny test head",
    )


def synthetic_examples(
    n_expr: int = 6,
    speakers=("spk_a", "spk_b"),
    per_speaker: int = 3,
    frames: int = 40,
    feature_dim: int = 16,
    asr_dim: int = 8,
    seed: int = 0,
) -> list[MotionExample]:
    """Utterance-like examples: smooth random "audio" features; motion is a fixed linear map of
    them (the content) scaled by a per-speaker mouth-opening gain (the style)."""
    generator = torch.Generator().manual_seed(seed)
    content_map = torch.randn(feature_dim, n_expr + 6, generator=generator) * 0.3
    asr_map = torch.randn(feature_dim, asr_dim, generator=generator)
    examples = []
    for s, speaker in enumerate(speakers):
        gain = 1.0 + 0.8 * s
        for u in range(per_speaker):
            noise = torch.randn(frames + 4, feature_dim, generator=generator)
            features = (noise[:-4] + noise[1:-3] + noise[2:-2] + noise[3:-1] + noise[4:]) / 5  # smooth in time
            params = gain * (features @ content_map)
            params[:, n_expr + 3 :] *= 0.1  # neck moves little
            examples.append(MotionExample(f"{speaker}_{u}", speaker, features, params, features @ asr_map))
    return examples


def one_thread():
    """Generator for an autouse fixture: run these small models on one thread (on a shared,
    loaded 2-core machine intra-op threading makes tiny ops 10x slower), then restore."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
