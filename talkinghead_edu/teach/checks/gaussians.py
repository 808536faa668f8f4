"""Self-checks for notebooks 05 (binding) and 07 (losses): the learner's function vs the library's."""

from __future__ import annotations

import torch

from ...eval.metrics import psnr, ssim
from ...gaussians.binding import barycentric_origin, quat_to_rotmat, triangle_frames
from ...gaussians.losses import attribute_loss, l1_loss, semantic_loss
from ._core import compare_to_library

__all__ = [
    "library_triangle_frame",
    "check_triangle_frame",
    "library_bind_to_world",
    "check_bind_to_world",
    "check_l1",
    "check_ssim",
    "check_attribute_loss",
    "check_semantic_loss",
    "library_moved_frame",
    "check_moved_frame",
    "check_psnr",
]


def library_triangle_frame(v0: torch.Tensor, v1: torch.Tensor, v2: torch.Tensor, eta: torch.Tensor):
    """Eqs 11–14 for F triangles: corners ``(F, 3)`` each, ``eta (F, 3)`` -> ``P (F, 3)``,
    ``R (F, 3, 3)`` (columns n0 n1 n2), ``S (F,)``."""
    vertices = torch.stack([v0, v1, v2], dim=1).reshape(-1, 3)
    faces = torch.arange(vertices.shape[0]).reshape(-1, 3)
    frames = triangle_frames(vertices, faces)
    return barycentric_origin(frames.corners[0], eta), frames.rotation[0], frames.scale[0]


def _random_triangles(generator: torch.Generator, count: int = 16):
    corners = torch.randn(3, count, 3, generator=generator, dtype=torch.float64)
    eta = torch.softmax(torch.randn(count, 3, generator=generator, dtype=torch.float64), dim=-1)
    return corners[0], corners[1], corners[2], eta


def check_triangle_frame(user_fn) -> bool:
    """``user_fn(v0, v1, v2, eta) -> (P, R, S)`` must implement eqs 11–14 (R's columns are n0, n1, n2)."""
    return compare_to_library(
        "triangle frame (eqs 11–14)",
        user_fn,
        library_triangle_frame,
        _random_triangles,
        atol=1e-8,
        rtol=1e-6,
        hint=(
            "P = Σ η_k v_k; n0 = e01/|e01|; n1 = (e01 × e02)/|e01 × e02|; n2 = n0 × n1; R = stack([n0, n1, n2], "
            "dim=-1); S = mean of the three edge lengths."
        ),
    )


def library_bind_to_world(
    R: torch.Tensor,
    P: torch.Tensor,
    S: torch.Tensor,
    local_mean: torch.Tensor,
    local_rotation: torch.Tensor,
    local_scale: torch.Tensor,
):
    """Eq 15 with matrices: ``(u, r, s) = (R ū + P, R r̄, S s̄)``; shapes ``(F,3,3) (F,3) (F,) (F,3) (F,3,3) (F,3)``."""
    return (R @ local_mean.unsqueeze(-1)).squeeze(-1) + P, R @ local_rotation, S.unsqueeze(-1) * local_scale


def _random_binding(generator: torch.Generator, count: int = 16):
    v0, v1, v2, eta = _random_triangles(generator, count)
    P, R, S = library_triangle_frame(v0, v1, v2, eta)
    local_rotation = quat_to_rotmat(torch.randn(count, 4, generator=generator, dtype=torch.float64))
    return (
        R,
        P,
        S,
        0.1 * torch.randn(count, 3, generator=generator, dtype=torch.float64),
        local_rotation,
        torch.rand(count, 3, generator=generator, dtype=torch.float64),
    )


def check_bind_to_world(user_fn) -> bool:
    """``user_fn(R, P, S, ū, r̄, s̄) -> (u, r, s)`` must implement eq 15."""
    return compare_to_library(
        "local → world (eq 15)",
        user_fn,
        library_bind_to_world,
        _random_binding,
        atol=1e-8,
        rtol=1e-6,
        hint="u = R ū + P (matrix times vector), r = R r̄ (matrix product), s = S s̄ (scalar times vector).",
    )


def _image_pair(generator: torch.Generator):
    a = torch.rand(24, 20, 3, generator=generator, dtype=torch.float64)
    return a, (a + 0.2 * torch.randn(24, 20, 3, generator=generator, dtype=torch.float64)).clamp(0, 1)


def check_l1(user_fn) -> bool:
    """``user_fn(prediction, target)``: the mean absolute error."""
    return compare_to_library(
        "L1 loss (eq 20)",
        user_fn,
        l1_loss,
        _image_pair,
        atol=1e-10,
        hint="mean of |I − I_gt| over every pixel and channel.",
    )


def check_ssim(user_fn) -> bool:
    """``user_fn(prediction, target)``: mean SSIM with an 11-tap Gaussian window (σ = 1.5), valid windows."""
    return compare_to_library(
        "SSIM (eq 20)",
        user_fn,
        ssim,
        _image_pair,
        atol=1e-6,
        hint=(
            "local means/variances/covariance with the normalised 11×11 Gaussian window, C1 = 0.01², C2 = 0.03², "
            "no padding."
        ),
    )


def check_attribute_loss(user_fn) -> bool:
    """``user_fn(local_means, local_log_scales, eps_position, eps_scale)`` implements eq 21 with λ = 1."""

    def make(generator):
        return (
            0.01 * torch.randn(30, 3, generator=generator, dtype=torch.float64),
            0.5 * torch.randn(30, 3, generator=generator, dtype=torch.float64),
            0.005,
            1.2,
        )

    def library(means, log_scales, eps_p, eps_s):
        return attribute_loss(means, log_scales, eps_p, eps_s)

    return compare_to_library(
        "attribute hinge (eq 21)",
        user_fn,
        library,
        make,
        atol=1e-12,
        hint="per Gaussian: Σ_xyz max(0, |ū'| − εp)² + Σ_xyz max(0, exp(log s̄) − εs)², then the mean over Gaussians.",
    )


def check_semantic_loss(user_fn) -> bool:
    """``user_fn(semantic_render (H, W, 3), labels (H, W))``: eq 23 with λ = 1 (mean squared error)."""

    def make(generator):
        return torch.rand(12, 10, 3, generator=generator), torch.randint(0, 9, (12, 10), generator=generator)

    return compare_to_library(
        "semantic loss (eq 23)",
        user_fn,
        semantic_loss,
        make,
        atol=1e-7,
        hint="turn labels into colours with semantics.LABEL_COLORS, then the mean of the squared difference.",
    )


def library_moved_frame(
    Q: torch.Tensor, t: torch.Tensor, v0: torch.Tensor, v1: torch.Tensor, v2: torch.Tensor, eta: torch.Tensor
):
    """The frames (eqs 11–14) of the triangles after the rigid motion ``x ↦ Q x + t``,
    computed by moving the corners."""
    return library_triangle_frame(v0 @ Q.T + t, v1 @ Q.T + t, v2 @ Q.T + t, eta)


def check_moved_frame(user_fn) -> bool:
    """``user_fn(Q (3, 3), t (3,), v0, v1, v2, eta) -> (P', R', S')``: predict the frame after a rigid motion
    from the frame before it (the check moves the corners and recomputes eqs 11–14)."""

    def make(generator):
        Q = quat_to_rotmat(torch.randn(4, generator=generator, dtype=torch.float64))
        return (Q, torch.randn(3, generator=generator, dtype=torch.float64)) + _random_triangles(generator)

    return compare_to_library(
        "the frame after a rigid motion (eqs 11–14)",
        user_fn,
        library_moved_frame,
        make,
        atol=1e-8,
        rtol=1e-6,
        hint="Edges rotate (e ↦ Q e, the shift cancels), lengths and cross products follow: "
        "P' = Q P + t, R' = Q R, S' = S.",
    )


def check_psnr(user_fn) -> bool:
    """``user_fn(prediction (H, W, 3), target (H, W, 3), mask (H, W) or None) -> dB``: ``10 log10(1 / MSE)``,
    the MSE over the masked pixels when a mask is given."""

    def make(generator):
        a, b = _image_pair(generator)
        return a, b, torch.rand(24, 20, generator=generator, dtype=torch.float64) > 0.5

    def library(prediction, target, mask):
        return psnr(prediction, target, mask=mask)

    return compare_to_library(
        "PSNR (§4.2)",
        user_fn,
        library,
        make,
        atol=1e-8,
        hint="MSE = mean of (I − I_gt)² over the pixels inside the mask (all three channels), PSNR = 10·log10(1/MSE).",
    )
