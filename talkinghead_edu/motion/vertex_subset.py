"""FLAME vertices of a chosen subset of the mesh, exactly, at the cost of the subset.

Eq 5's vertex term averages over all ``K`` mesh vertices, and eq 7 needs the lip vertices
``M_L``; a full head pass per training frame costs ``O(V · E)``. :class:`VertexSubsetHead`
evaluates the same LBS (:func:`talkinghead_edu.flame.lbs.lbs`) on ``M`` chosen vertices only.

The joints are the one thing that depends on the whole mesh (``J = J_regressor @ v_shaped``).
Because ``v_shaped`` is linear in the coefficients, so are the rest joints:
``J = J_regressor @ v_template + (J_regressor @ shapedirs) · ε``. The subset model therefore
carries the five joints as five extra "virtual vertices" (template ``J_regressor @ v_template``,
basis ``J_regressor @ shapedirs``) and regresses its joints from exactly those (an identity
regressor), which reproduces the full model's joints without touching the other vertices.

Identity shape is zero (the motion translator moves the template head), so only the
expression columns of ``shapedirs`` are kept.
"""

from __future__ import annotations

import torch

from ..flame.lbs import lbs
from ..flame.params import FlameParams

__all__ = ["VertexSubsetHead"]


class VertexSubsetHead:
    """``params (..., P) -> vertices (..., M, 3)`` for ``vertex_ids (M,)`` of ``head`` (zero shape).

    Args:
        head: a :class:`talkinghead_edu.flame.model.FlameModel`.
        vertex_ids: ``(M,)`` long vertex indices.
    """

    def __init__(self, head, vertex_ids: torch.Tensor):
        ids = torch.as_tensor(vertex_ids, dtype=torch.long, device=head.v_template.device)
        if ids.dim() != 1 or ids.numel() == 0 or ids.min() < 0 or ids.max() >= head.n_vertices:
            raise ValueError(f"vertex_ids must be a non-empty (M,) index into the {head.n_vertices} vertices")
        n_joints = head.n_joints
        expression_dirs = head.shapedirs[:, :, head.n_shape :]  # (V, 3, E)
        joint_template = head.J_regressor @ head.v_template  # (J, 3)
        joint_dirs = torch.einsum("jv,vck->jck", head.J_regressor, expression_dirs)  # (J, 3, E)
        self.n_expr = head.n_expr
        self.count = ids.numel()
        self.v_template = torch.cat([head.v_template[ids], joint_template])
        self.shapedirs = torch.cat([expression_dirs[ids], joint_dirs])
        self.posedirs = torch.cat([head.posedirs[ids], head.posedirs.new_zeros(n_joints, *head.posedirs.shape[1:])])
        eye = torch.eye(n_joints, dtype=head.v_template.dtype, device=ids.device)
        self.J_regressor = torch.cat([head.J_regressor.new_zeros(n_joints, self.count), eye], dim=1)
        self.lbs_weights = torch.cat([head.lbs_weights[ids], eye])
        self.parents = head.parents

    def __call__(self, params: torch.Tensor) -> torch.Tensor:
        motion = FlameParams.from_motion_vector(params, n_expr=self.n_expr)
        vertices, _ = lbs(
            motion.expression,
            motion.pose,
            self.v_template,
            self.shapedirs,
            self.posedirs,
            self.J_regressor,
            self.parents,
            self.lbs_weights,
        )
        return vertices[:, : self.count].reshape(*params.shape[:-1], self.count, 3)
