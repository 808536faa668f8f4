"""``FlameParams``: the one container for FLAME motion that every stage passes around.

The motion translator predicts it from audio (paper eq 4), the speech and video datasets
load it, the Gaussian head is driven by it. One sequence at 25 fps holds

    expression ε (T, E) · pose ψ (T, 15) · translation (T, 3) · shape β (S,)

with the pose packed as in :mod:`talkinghead_edu.conventions` (``[global | neck | jaw |
eye_left | eye_right]``, axis-angle) and read by name (``params.jaw_pose`` ...). The arrays
are NumPy (datasets, generators) or torch (models), all of one kind; :meth:`FlameParams.to`
and :meth:`FlameParams.numpy` convert.

The translator's per-frame vector ``y_t`` (eq 4) keeps only what speech moves:

    y_t = [ expression (E) | jaw pose (3) | neck pose (3) ]      (P = E + 6)

:attr:`FlameParams.motion_vector` and :meth:`FlameParams.from_motion_vector` convert.
Eyelids are not separate parameters: on the bundled head, blinks are part of the
expression basis.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from ..conventions import FPS, POSE_SIZE, POSE_SLICES, pack_pose
from ..errors import InputError, InputTypeError

__all__ = ["FlameParams", "motion_vector_size"]

Array = np.ndarray | torch.Tensor


def motion_vector_size(n_expr: int) -> int:
    """``P = E + 3 (jaw) + 3 (neck)``, the length of the translator's ``y_t``."""
    return n_expr + 6


def _zeros(like: Array, *shape: int) -> Array:
    if isinstance(like, torch.Tensor):
        return like.new_zeros(shape)
    return np.zeros(shape, dtype=like.dtype)


def _concat(parts: list[Array]) -> Array:
    return torch.cat(parts, dim=-1) if isinstance(parts[0], torch.Tensor) else np.concatenate(parts, axis=-1)


@dataclass
class FlameParams:
    """A FLAME parameter sequence (see the module docstring).

    Attributes:
        expression: ``(T, E)`` expression coefficients ε.
        pose: ``(T, 15)`` axis-angle ψ: global, neck, jaw, left eye, right eye.
        translation: ``(T, 3)`` metres (default zeros).
        shape: ``(S,)`` identity coefficients β, constant over the sequence (default none, ``S = 0``).
        fps: frames per second (25 everywhere in this package).
    """

    expression: Array
    pose: Array
    translation: Array | None = None
    shape: Array | None = None
    fps: int = FPS

    def __post_init__(self) -> None:
        if self.expression.ndim != 2:
            raise InputError(f"FlameParams: expression must be (T, E), got {tuple(self.expression.shape)}")
        frames = self.expression.shape[0]
        if self.translation is None:
            self.translation = _zeros(self.expression, frames, 3)
        if self.shape is None:
            self.shape = _zeros(self.expression, 0)
        kinds = {
            isinstance(value, torch.Tensor) for value in (self.expression, self.pose, self.translation, self.shape)
        }
        if len(kinds) != 1:
            raise InputTypeError(
                "FlameParams: expression, pose, translation and shape must all be NumPy arrays or all torch tensors"
            )
        if tuple(self.pose.shape) != (frames, POSE_SIZE) or tuple(self.translation.shape) != (frames, 3):
            raise InputError(
                f"FlameParams: expected pose ({frames}, {POSE_SIZE}) and translation ({frames}, 3) to match expression "
                f"({frames}, E), got {tuple(self.pose.shape)} and {tuple(self.translation.shape)}"
            )
        if self.shape.ndim != 1:
            raise InputError(f"FlameParams: shape must be (S,), got {tuple(self.shape.shape)}")

    # ------------------------------------------------------------------ named views of the pose
    @property
    def num_frames(self) -> int:
        """T."""
        return int(self.expression.shape[0])

    @property
    def global_pose(self) -> Array:
        """``(T, 3)`` root rotation (a view into :attr:`pose`)."""
        return self.pose[:, POSE_SLICES["global"]]

    @property
    def neck_pose(self) -> Array:
        """``(T, 3)`` neck rotation."""
        return self.pose[:, POSE_SLICES["neck"]]

    @property
    def jaw_pose(self) -> Array:
        """``(T, 3)`` jaw rotation (+x opens the mouth)."""
        return self.pose[:, POSE_SLICES["jaw"]]

    @property
    def eyes_pose(self) -> Array:
        """``(T, 6)`` left then right eye rotation."""
        return self.pose[:, POSE_SLICES["eye_left"].start : POSE_SLICES["eye_right"].stop]

    # ------------------------------------------------------------------ the translator's vector y_t
    @property
    def motion_vector(self) -> Array:
        """``(T, E + 6)`` the translator's ``y_t = [expression | jaw | neck]`` (eq 4)."""
        return _concat([self.expression, self.jaw_pose, self.neck_pose])

    @classmethod
    def from_motion_vector(cls, vectors: Array, n_expr: int | None = None, fps: int = FPS) -> "FlameParams":
        """``(..., E + 6)`` vectors ``y_t`` -> parameters with zero global rotation, eyes and translation.

        Leading dimensions are flattened into ``T``; ``n_expr``, when given, is checked against ``E``.
        """
        if vectors.ndim < 1 or vectors.shape[-1] < 7:
            raise ValueError(
                f"FlameParams.from_motion_vector: expected (..., E + 6) vectors, got {tuple(vectors.shape)}"
            )
        if n_expr is not None and vectors.shape[-1] != motion_vector_size(n_expr):
            raise ValueError(
                f"motion vectors have {vectors.shape[-1]} entries per frame, expected E + 6 = "
                f"{motion_vector_size(n_expr)} for a head with E = {n_expr} expression coefficients"
            )
        vectors = vectors.reshape(-1, vectors.shape[-1])
        n_expr = vectors.shape[1] - 6
        jaw, neck = vectors[:, n_expr : n_expr + 3], vectors[:, n_expr + 3 :]
        if isinstance(vectors, torch.Tensor):
            pose = pack_pose(jaw_pose=jaw, neck_pose=neck)
        else:
            pose = np.zeros((len(vectors), POSE_SIZE), dtype=vectors.dtype)
            pose[:, POSE_SLICES["jaw"]], pose[:, POSE_SLICES["neck"]] = jaw, neck
        return cls(vectors[:, :n_expr], pose, fps=fps)

    # ------------------------------------------------------------------ conversions
    def resized(self, n_shape: int, n_expr: int) -> "FlameParams":
        """Truncate or zero-pad the shape/expression coefficients to ``n_shape``/``n_expr`` columns."""

        def fit(values: Array, n: int) -> Array:
            out = _zeros(values, *values.shape[:-1], n)
            k = min(n, values.shape[-1])
            out[..., :k] = values[..., :k]
            return out

        return replace(self, expression=fit(self.expression, n_expr), shape=fit(self.shape, n_shape))

    def tensors(
        self, frames: np.ndarray | slice | None = None, device: str | torch.device = "cpu"
    ) -> dict[str, torch.Tensor]:
        """Keyword arguments for the FLAME model (``head(**params.tensors(idx))``), batch = the chosen frames.

        Returns ``shape (B, S)``, ``expression (B, E)``, ``pose (B, 15)``, ``translation (B, 3)`` (float32).
        """
        index = slice(None) if frames is None else frames

        def tensor(value: Array) -> torch.Tensor:
            return torch.as_tensor(value, device=device).to(torch.float32)

        expression = tensor(self.expression[index]).reshape(-1, self.expression.shape[1])
        batch = expression.shape[0]
        return {
            "shape": tensor(self.shape).expand(batch, -1).clone(),
            "expression": expression,
            "pose": tensor(self.pose[index]).reshape(batch, POSE_SIZE),
            "translation": tensor(self.translation[index]).reshape(batch, 3),
        }

    def _mapped(self, convert) -> "FlameParams":
        """A copy with ``convert`` applied to each of the four arrays."""
        arrays = ("expression", "pose", "translation", "shape")
        return replace(self, **{name: convert(getattr(self, name)) for name in arrays})

    def to(self, device: str | torch.device = "cpu") -> "FlameParams":
        """A copy holding float32 torch tensors on ``device``."""
        return self._mapped(lambda value: torch.as_tensor(value, device=device).to(torch.float32))

    def numpy(self) -> "FlameParams":
        """A copy holding float32 NumPy arrays."""
        return self._mapped(
            lambda value: (
                value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
            ).astype(np.float32)
        )

    @classmethod
    def from_npz(cls, arrays) -> "FlameParams":
        """From a mapping with ``shape``, ``expression``, ``pose``, ``translation`` arrays (float32 NumPy)."""
        shape, expression, pose, translation = (
            np.asarray(arrays[k], dtype=np.float32) for k in ("shape", "expression", "pose", "translation")
        )
        return cls(expression=expression, pose=pose, translation=translation, shape=shape)
