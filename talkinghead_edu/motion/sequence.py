"""``FlameSequence``: what the motion translator outputs, and the parameter vector layout.

One frame of motion ``y_t`` (paper eq 4, 25 fps) is the concatenation

    y_t = [ expression (E) | jaw pose (3, axis-angle) | neck pose (3, axis-angle) ]

so ``P = E + 6``. Eyelids are not separate parameters: on the bundled head, blinks are part
of the expression basis (articulations ``blink_left`` / ``blink_right``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..conventions import FPS, pack_pose


def parameter_size(n_expr: int) -> int:
    """``P = E + 3 (jaw) + 3 (neck)``."""
    return n_expr + 6


@dataclass
class FlameSequence:
    """A FLAME motion sequence at 25 fps (no identity shape: that belongs to the target head).

    Attributes:
        expression: ``(T, E)`` expression coefficients.
        jaw_pose: ``(T, 3)`` jaw axis-angle (radians).
        neck_pose: ``(T, 3)`` neck axis-angle (radians).
    """

    expression: torch.Tensor
    jaw_pose: torch.Tensor
    neck_pose: torch.Tensor

    fps: int = FPS

    def __post_init__(self) -> None:
        frames = self.expression.shape[0]
        if self.expression.dim() != 2:
            raise ValueError(f"FlameSequence: expression must be (T, E), got {tuple(self.expression.shape)}")
        for name in ("jaw_pose", "neck_pose"):
            value = getattr(self, name)
            if value.shape != (frames, 3):
                raise ValueError(f"FlameSequence: {name} must be ({frames}, 3) to match expression, got {tuple(value.shape)}")

    @property
    def num_frames(self) -> int:
        return self.expression.shape[0]

    @property
    def params(self) -> torch.Tensor:
        """``(T, P)`` the parameter vectors ``y_t`` in the layout of the module docstring."""
        return torch.cat([self.expression, self.jaw_pose, self.neck_pose], dim=-1)

    @property
    def flame_pose(self) -> torch.Tensor:
        """``(T, 15)`` full FLAME pose with zero global rotation and eyes."""
        return pack_pose(neck_pose=self.neck_pose, jaw_pose=self.jaw_pose)

    @classmethod
    def from_params(cls, params: torch.Tensor, fps: int = FPS) -> "FlameSequence":
        """Split ``(T, P)`` parameter vectors back into a sequence."""
        if params.dim() != 2 or params.shape[1] < 7:
            raise ValueError(f"FlameSequence.from_params: expected (T, E + 6) parameters, got {tuple(params.shape)}")
        n_expr = params.shape[1] - 6
        return cls(params[:, :n_expr], params[:, n_expr : n_expr + 3], params[:, n_expr + 3 :], fps=fps)

    def to(self, device: torch.device | str) -> "FlameSequence":
        return FlameSequence(self.expression.to(device), self.jaw_pose.to(device), self.neck_pose.to(device), fps=self.fps)


def params_to_flame_inputs(params: torch.Tensor, n_expr: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(..., P)`` parameters -> ``(expression (M, E), pose (M, 15))`` with ``M`` = all leading dims flattened.

    This is what the head model's ``forward(expression=, pose=)`` takes.
    """
    flat = params.reshape(-1, params.shape[-1])
    if flat.shape[1] != parameter_size(n_expr):
        raise ValueError(f"parameters have {flat.shape[1]} entries per frame, expected E + 6 = {parameter_size(n_expr)}")
    return flat[:, :n_expr], pack_pose(jaw_pose=flat[:, n_expr : n_expr + 3], neck_pose=flat[:, n_expr + 3 :])
