"""Self-checks for notebook 03 (FLAME deformation, eq 10): a learner's step vs the library.

Each check runs the learner's function and the one in :mod:`talkinghead_edu.flame.lbs`
on random float64 inputs and prints ✓ or raises :class:`CheckFailed` with a hint.
"""

from __future__ import annotations

from typing import Callable

import torch

from ...flame import lbs as flame_lbs
from ._core import CheckFailed, compare_to_library

__all__ = [
    "check_blend_shapes",
    "check_joint_regression",
    "check_rodrigues",
    "check_kinematic_chain",
    "check_skinning",
    "check_flame_deformation",
    "check_naive_rodrigues",
]

_FLAME_PARENTS = torch.tensor([-1, 0, 1, 1, 1])
_DTYPE = torch.float64


def _random_rotations(generator: torch.Generator, batch: int, n_joints: int) -> torch.Tensor:
    axis_angle = torch.randn(batch * n_joints, 3, generator=generator, dtype=_DTYPE) * 0.6
    return flame_lbs.batch_rodrigues(axis_angle).reshape(batch, n_joints, 3, 3)


def _random_rig(generator: torch.Generator, n_verts: int = 50, n_coeffs: int = 8) -> dict:
    regressor = torch.rand(5, n_verts, generator=generator, dtype=_DTYPE) ** 4
    weights = torch.softmax(3 * torch.randn(n_verts, 5, generator=generator, dtype=_DTYPE), dim=1)
    return dict(
        v_template=torch.randn(n_verts, 3, generator=generator, dtype=_DTYPE) * 0.1,
        shapedirs=torch.randn(n_verts, 3, n_coeffs, generator=generator, dtype=_DTYPE) * 0.01,
        posedirs=torch.randn(n_verts, 3, 36, generator=generator, dtype=_DTYPE) * 0.01,
        J_regressor=regressor / regressor.sum(1, keepdim=True),
        parents=_FLAME_PARENTS,
        lbs_weights=weights,
    )


def check_blend_shapes(user_fn: Callable) -> bool:
    """``user_fn(coeffs (B, K), dirs (V, 3, K)) -> (B, V, 3)`` (eq 10.1)."""
    return compare_to_library(
        "blendshapes (eq 10.1)",
        user_fn,
        flame_lbs.blend_shapes,
        lambda g: (torch.randn(3, 6, generator=g, dtype=_DTYPE), torch.randn(40, 3, 6, generator=g, dtype=_DTYPE)),
        atol=1e-9,
        rtol=1e-7,
        hint="offsets[b, v, c] = Σ_k coeffs[b, k] · dirs[v, c, k] — an einsum 'bk,vck->bvc'.",
    )


def check_joint_regression(user_fn: Callable) -> bool:
    """``user_fn(J_regressor (J, V), vertices (B, V, 3)) -> (B, J, 3)`` (eq 10.2)."""
    return compare_to_library(
        "joint regression (eq 10.2)",
        user_fn,
        flame_lbs.vertices_to_joints,
        lambda g: (torch.rand(5, 40, generator=g, dtype=_DTYPE), torch.randn(2, 40, 3, generator=g, dtype=_DTYPE)),
        atol=1e-9,
        rtol=1e-7,
        hint="each joint is a weighted sum of vertices: joints[b] = J_regressor @ vertices[b].",
    )


def check_rodrigues(user_fn: Callable) -> bool:
    """``user_fn(axis_angle (N, 3)) -> (N, 3, 3)`` rotation matrices (eq 10.3)."""
    return compare_to_library(
        "Rodrigues' formula (eq 10.3)",
        user_fn,
        flame_lbs.batch_rodrigues,
        lambda g: (torch.randn(16, 3, generator=g, dtype=_DTYPE) * 1.5,),
        atol=1e-6,
        rtol=1e-5,
        hint=(
            "θ = |ω|, k = ω/θ, K = [k]_× (cross-product matrix, K x = k × x); R = I + sin θ · K + (1 − cos θ) · K @ K."
        ),
    )


def check_kinematic_chain(user_fn: Callable) -> bool:
    """``user_fn(rotations (B, J, 3, 3), joints (B, J, 3), parents (J,)) -> (posed_joints, transforms)`` (eq 10.5)."""
    return compare_to_library(
        "kinematic chain (eq 10.5)",
        user_fn,
        flame_lbs.batch_rigid_transform,
        lambda g: (_random_rotations(g, 2, 5), torch.randn(2, 5, 3, generator=g, dtype=_DTYPE) * 0.1, _FLAME_PARENTS),
        atol=1e-9,
        rtol=1e-7,
        hint="a child's frame is its parent's frame times [R_j | J_j − J_parent]; the skinning transform "
        "also subtracts the rest joint: A_j = G_j · [I | −J_j]. Return (posed joints, A).",
    )


def check_skinning(user_fn: Callable) -> bool:
    """``user_fn(vertices (B, V, 3), transforms (B, J, 4, 4), weights (V, J)) -> (B, V, 3)`` (eq 10.6)."""

    def make_inputs(g: torch.Generator):
        rotations = _random_rotations(g, 2, 5)
        _, transforms = flame_lbs.batch_rigid_transform(
            rotations, torch.randn(2, 5, 3, generator=g, dtype=_DTYPE) * 0.1, _FLAME_PARENTS
        )
        weights = torch.softmax(torch.randn(30, 5, generator=g, dtype=_DTYPE) * 3, dim=1)
        return torch.randn(2, 30, 3, generator=g, dtype=_DTYPE) * 0.1, transforms, weights

    return compare_to_library(
        "linear blend skinning (eq 10.6)",
        user_fn,
        flame_lbs.linear_blend_skinning,
        make_inputs,
        atol=1e-9,
        rtol=1e-7,
        hint="blend the 4×4 transforms per vertex with its weights, then apply the blend to [v; 1].",
    )


def check_flame_deformation(user_fn: Callable) -> bool:
    """``user_fn(coeffs, pose, v_template, shapedirs, posedirs, J_regressor, parents, lbs_weights)
    -> (vertices, joints)`` (eq 10)."""

    def make_inputs(g: torch.Generator):
        rig = _random_rig(g)
        coeffs = torch.randn(2, 8, generator=g, dtype=_DTYPE)
        pose = torch.randn(2, 15, generator=g, dtype=_DTYPE) * 0.4
        return (
            coeffs,
            pose,
            rig["v_template"],
            rig["shapedirs"],
            rig["posedirs"],
            rig["J_regressor"],
            rig["parents"],
            rig["lbs_weights"],
        )

    return compare_to_library(
        "the whole of eq 10 (blendshapes → joints → Rodrigues → correctives → chain → skinning)",
        user_fn,
        flame_lbs.lbs,
        make_inputs,
        atol=1e-9,
        rtol=1e-7,
        hint="joints come from the shaped mesh (before pose correctives); correctives use R_j − I of joints 1..4 only.",
    )


def check_naive_rodrigues(user_fn: Callable) -> bool:
    """``user_fn(axis_angle (N, 3)) -> (N, 3, 3)``: Rodrigues with the plain division ``k = ω/θ`` (no guard) — right for
    θ > 0, and NaN at ω = 0 (the failure the library's Taylor series avoids)."""
    check_rodrigues(user_fn)
    at_zero = torch.as_tensor(user_fn(torch.zeros(1, 3, dtype=_DTYPE)))
    if not torch.isnan(at_zero).any():
        raise CheckFailed(
            "naive Rodrigues at ω = 0: expected NaN (0/0 in k = ω/θ), got "
            f"{at_zero[0].tolist()}. Divide by θ without any guard to see the failure."
        )
    print("✓ naive Rodrigues breaks at ω = 0: NaN, as predicted")
    return True
