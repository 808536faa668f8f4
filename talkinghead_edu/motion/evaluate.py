"""Evaluating a motion translator on held-out utterances.

Measures (all self-driven: an utterance's own audio, its own speaker's style):

* **lip vertex error** (mm): mean over frames and lip vertices ``M_L`` of ``||v − v̂||``;
* **lip LMD** (mm): :func:`talkinghead_edu.eval.metrics.landmark_distance` over the 20 mouth
  landmarks (iBUG 48–67) of the 3-D mesh;
* **jitter** (mm/frame²): mean norm of the second difference of the lip vertices
  ``||v_{t+1} − 2 v_t + v_{t−1}||`` (compare with the ground truth's own jitter);
* **inner-lip gap** (mm): distance of the inner-lip midpoint landmarks (iBUG 62/66) on the posed
  mesh, per frame — closed lips at rest and at /p b m/, open on vowels;
* **jaw amplitude** (rad): the RMS over frames of the jaw rotation angle ``||jaw_pose_t||``,
  per speaker; the **style ratio** of two speakers is ``amplitude(a) / amplitude(b)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..eval.metrics import landmark_distance
from ..flame.params import FlameParams
from .model import MotionTranslator
from .train import MotionExample
from .vertex_subset import VertexSubsetHead

__all__ = [
    "MOUTH_LANDMARKS",
    "UPPER_INNER_LIP",
    "LOWER_INNER_LIP",
    "lip_gap_mm",
    "rest_scores",
    "MouthProbe",
    "lip_vertex_error_mm",
    "lip_landmark_distance_mm",
    "lip_jitter_mm",
    "jaw_amplitude",
    "UtteranceScores",
    "evaluate_translator",
    "summarize",
    "style_ratio",
    "format_table",
]

MOUTH_LANDMARKS = slice(48, 68)  # iBUG 68: outer and inner lip contour
UPPER_INNER_LIP, LOWER_INNER_LIP = 62, 66  # iBUG-68 (0-based) inner-lip midpoints


class MouthProbe:
    """Lip vertices ``(T, M_L, 3)`` and mouth landmarks ``(T, 20, 3)`` of a parameter sequence, computed
    on just the vertices they need (:class:`VertexSubsetHead`: the lips and the landmark triangles' corners)."""

    def __init__(self, head):
        self.num_lips = len(head.lip_vertex_ids)
        ids = [head.lip_vertex_ids]
        self.has_landmarks = head.n_landmarks >= 68
        if self.has_landmarks:
            ids.append(head.faces[head.lmk_faces_idx[MOUTH_LANDMARKS]].reshape(-1))  # (20 * 3,) triangle corners
            self.bary = head.lmk_bary_coords[MOUTH_LANDMARKS]  # (20, 3)
        self.subset = VertexSubsetHead(head, torch.cat(ids))

    def __call__(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        with torch.no_grad():
            vertices = self.subset(params)  # (T, M_L [+ 60], 3)
        lips = vertices[:, : self.num_lips]
        if not self.has_landmarks:
            return lips, None
        corners = vertices[:, self.num_lips :].reshape(-1, 20, 3, 3)  # (T, 20 landmarks, 3 corners, 3)
        return lips, torch.einsum("tlkc,lk->tlc", corners, self.bary)


def _check_pair(name: str, params_pred: torch.Tensor, params_true: torch.Tensor) -> None:
    if params_pred.shape != params_true.shape:
        raise ValueError(
            f"{name}: prediction {tuple(params_pred.shape)} and ground truth {tuple(params_true.shape)} differ"
        )


def _mean_distance_mm(a: torch.Tensor, b: torch.Tensor) -> float:
    return 1000.0 * (a - b).norm(dim=-1).mean().item()


def _jitter_mm(lips: torch.Tensor) -> float:
    if lips.shape[0] < 3:
        raise ValueError(f"lip jitter needs at least 3 frames, got {lips.shape[0]}")
    return 1000.0 * (lips[2:] - 2 * lips[1:-1] + lips[:-2]).norm(dim=-1).mean().item()


def lip_vertex_error_mm(head, params_pred: torch.Tensor, params_true: torch.Tensor) -> float:
    """Mean L2 distance (mm) over frames and lip vertices; ``params_*`` ``(T, P)``."""
    _check_pair("lip_vertex_error_mm", params_pred, params_true)
    probe = MouthProbe(head)
    return _mean_distance_mm(probe(params_pred)[0], probe(params_true)[0])


def lip_landmark_distance_mm(head, params_pred: torch.Tensor, params_true: torch.Tensor) -> float:
    """LMD (mm) over the mouth landmarks 48–67 of the posed 3-D mesh; ``params_*`` ``(T, P)``."""
    _check_pair("lip_landmark_distance_mm", params_pred, params_true)
    if head.n_landmarks < 68:
        raise ValueError(
            f"lip_landmark_distance_mm: the head model has {head.n_landmarks} landmarks; the iBUG-68 layout is needed"
        )
    probe = MouthProbe(head)
    return 1000.0 * landmark_distance(probe(params_pred)[1], probe(params_true)[1]).item()


def lip_jitter_mm(head, params: torch.Tensor) -> float:
    """Mean ``||v_{t+1} − 2 v_t + v_{t−1}||`` (mm/frame²) over lip vertices; ``params`` ``(T, P)``, ``T >= 3``."""
    return _jitter_mm(MouthProbe(head)(params)[0])


def lip_gap_mm(head, sequence: FlameParams | torch.Tensor) -> np.ndarray:
    """``(T,)`` distance (mm) between the inner-lip midpoint landmarks 62 and 66 on the posed mesh.

    ``sequence``: :class:`FlameParams` (expression and pose used, shape ignored) or motion vectors
    ``(T, E + 6)`` (``[expression | jaw | neck]``).
    """
    if head.n_landmarks < 68:
        raise ValueError(f"lip_gap_mm: the head model has {head.n_landmarks} landmarks; the iBUG-68 layout is needed")
    if isinstance(sequence, torch.Tensor):
        sequence = FlameParams.from_motion_vector(sequence, n_expr=head.n_expr)
    device = head.v_template.device
    expression = torch.as_tensor(sequence.expression).detach().float().to(device)
    pose = torch.as_tensor(sequence.pose).detach().float().to(device)
    with torch.no_grad():
        landmarks = head(expression=expression, pose=pose).landmarks  # (T, 68, 3)
    return 1000.0 * (landmarks[:, UPPER_INNER_LIP] - landmarks[:, LOWER_INNER_LIP]).norm(dim=-1).cpu().numpy()


def rest_scores(head, params: torch.Tensor) -> dict[str, float]:
    """How closed and how still a mouth is over frames that should be at rest; ``params`` ``(T, P)``, ``T >= 2``.

    Returns ``gap_median_mm``, ``gap_p95_mm`` (inner-lip gap, :func:`lip_gap_mm`), ``gap_std_mm``
    (its spread over the frames) and ``lip_speed_mm`` (mean ``||v_{t+1} − v_t||`` over lip vertices, mm/frame).
    """
    if params.dim() != 2 or params.shape[0] < 2:
        raise ValueError(f"rest_scores: expected (T >= 2, P) motion vectors, got {tuple(params.shape)}")
    gap = lip_gap_mm(head, params)
    lips = MouthProbe(head)(params)[0]
    return {
        "gap_median_mm": float(np.median(gap)),
        "gap_p95_mm": float(np.percentile(gap, 95)),
        "gap_std_mm": float(gap.std()),
        "lip_speed_mm": _mean_distance_mm(lips[1:], lips[:-1]),
    }


def jaw_amplitude(jaw_pose: torch.Tensor) -> float:
    """RMS over frames of the jaw rotation angle (radians); ``jaw_pose`` ``(T, 3)`` axis-angle."""
    if jaw_pose.dim() != 2 or jaw_pose.shape[1] != 3:
        raise ValueError(f"jaw_amplitude: expected (T, 3) axis-angle, got {tuple(jaw_pose.shape)}")
    return jaw_pose.norm(dim=-1).pow(2).mean().sqrt().item()


@dataclass
class UtteranceScores:
    """Scores of one held-out utterance (see module docstring for units)."""

    id: str
    speaker: str
    frames: int
    lip_error_mm: float
    lip_lmd_mm: float
    jitter_pred_mm: float
    jitter_true_mm: float
    jaw_pred: float
    jaw_true: float


def evaluate_translator(
    translator: MotionTranslator, examples: Sequence[MotionExample], head, unseen: str = "average"
) -> list[UtteranceScores]:
    """Self-driven evaluation of every example.

    Known speakers use their own embedding; speakers the translator has not seen use the
    average embedding (``unseen="average"``) or the nearest one judged on the first half of
    the utterance (``unseen="nearest"``).
    """
    probe = MouthProbe(head)
    scores = []
    for example in examples:
        speaker = example.speaker if example.speaker in translator.speakers else None
        if speaker is None and unseen == "nearest" and translator.identity is not None:
            half = max(1, example.num_frames // 2)
            speaker = translator.nearest_speaker(example.features[:half], example.params[:half])
        predicted = translator.predict(example.features, speaker).motion_vector
        truth = example.params
        (lips_pred, mouth_pred), (lips_true, mouth_true) = probe(predicted), probe(truth)
        scores.append(
            UtteranceScores(
                id=example.id,
                speaker=example.speaker,
                frames=example.num_frames,
                lip_error_mm=_mean_distance_mm(lips_pred, lips_true),
                lip_lmd_mm=1000.0 * landmark_distance(mouth_pred, mouth_true).item()
                if probe.has_landmarks
                else float("nan"),
                jitter_pred_mm=_jitter_mm(lips_pred),
                jitter_true_mm=_jitter_mm(lips_true),
                jaw_pred=jaw_amplitude(FlameParams.from_motion_vector(predicted).jaw_pose),
                jaw_true=jaw_amplitude(FlameParams.from_motion_vector(truth).jaw_pose),
            )
        )
    return scores


def summarize(scores: Sequence[UtteranceScores]) -> dict:
    """Frame-weighted means over utterances, and per-speaker jaw amplitudes ``{speaker: (pred, true)}``."""
    if not scores:
        raise ValueError("summarize: no scores")
    weights = np.array([s.frames for s in scores], dtype=np.float64)

    def mean(field: str) -> float:
        return float(np.average([getattr(s, field) for s in scores], weights=weights))

    jaw = {}
    for speaker in sorted({s.speaker for s in scores}):
        mine = [s for s in scores if s.speaker == speaker]
        w = np.array([s.frames for s in mine], dtype=np.float64)
        # RMS over all frames of the speaker: combine per-utterance RMS values by frame count
        jaw[speaker] = tuple(
            float(np.sqrt(np.average([getattr(s, f) ** 2 for s in mine], weights=w))) for f in ("jaw_pred", "jaw_true")
        )
    return {
        "lip_error_mm": mean("lip_error_mm"),
        "lip_lmd_mm": mean("lip_lmd_mm"),
        "jitter_pred_mm": mean("jitter_pred_mm"),
        "jitter_true_mm": mean("jitter_true_mm"),
        "jaw": jaw,
    }


def style_ratio(summary: dict, speaker_a: str, speaker_b: str) -> dict:
    """Jaw-amplitude ratio ``a / b``: predicted, ground truth, and the relative error ``|pred/true − 1|``."""
    for speaker in (speaker_a, speaker_b):
        if speaker not in summary["jaw"]:
            raise KeyError(f"style_ratio: no scores for speaker {speaker!r}; have {sorted(summary['jaw'])}")
    predicted = summary["jaw"][speaker_a][0] / summary["jaw"][speaker_b][0]
    truth = summary["jaw"][speaker_a][1] / summary["jaw"][speaker_b][1]
    return {"predicted": predicted, "true": truth, "relative_error": abs(predicted / truth - 1.0)}


def format_table(rows: dict[str, dict[str, float]], digits: int = 3) -> str:
    """Plain-text table: ``{row name: {column: value}}`` (columns from the first row)."""
    if not rows:
        raise ValueError("format_table: no rows")
    columns = list(next(iter(rows.values())))
    cells = [["", *columns]] + [[name, *(f"{values[c]:.{digits}f}" for c in columns)] for name, values in rows.items()]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = [
        "  ".join(cell.rjust(width) if i else cell.ljust(width) for i, (cell, width) in enumerate(zip(row, widths)))
        for row in cells
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)
