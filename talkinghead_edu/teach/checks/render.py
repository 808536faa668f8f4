"""Self-checks for notebook 06 (rasterization, eq 9): a learner's step vs :mod:`talkinghead_edu.render`.

Each check runs the learner's function and the library's on random float64 inputs and
prints ✓ or raises :class:`CheckFailed` with a hint.
"""
from __future__ import annotations

from typing import Callable

import torch

from ...render.projection import conic_from_covariance_2d, covariance_2d, perspective_jacobian, quat_to_rotmat
from ...render.reference import composite_tile
from ._core import compare_to_library

__all__ = ["check_projection_jacobian", "check_covariance_2d", "check_conic", "check_composite"]

_DTYPE = torch.float64
_K = torch.tensor([[120.0, 0.0, 32.0], [0.0, 110.0, 24.0], [0.0, 0.0, 1.0]], dtype=_DTYPE)


def _points_in_view(generator: torch.Generator, n: int = 20) -> torch.Tensor:
    z = 0.5 + torch.rand(n, generator=generator, dtype=_DTYPE)
    xy = (torch.rand(n, 2, generator=generator, dtype=_DTYPE) - 0.5) * 0.4 * z[:, None]  # inside the image
    return torch.cat([xy, z[:, None]], dim=-1)


def _random_covariances(generator: torch.Generator, n: int, dim: int) -> torch.Tensor:
    a = torch.randn(n, dim, dim, generator=generator, dtype=_DTYPE)
    return a @ a.transpose(-1, -2) * 1e-3 + 1e-5 * torch.eye(dim, dtype=_DTYPE)


def check_projection_jacobian(user_fn: Callable) -> bool:
    """``user_fn(means_cam (N, 3), K (3, 3)) -> J (N, 2, 3)``, the Jacobian of ``(fx x/z + cx, fy y/z + cy)``."""
    return compare_to_library(
        "projection Jacobian", user_fn, lambda means, K: perspective_jacobian(means, K, 64, 48),
        lambda g: (_points_in_view(g), _K),
        hint="Row 0 is d(u)/d(x, y, z) = (fx/z, 0, −fx·x/z²); row 1 the same with fy and y.")


def check_covariance_2d(user_fn: Callable) -> bool:
    """``user_fn(J (N, 2, 3), cov_cam (N, 3, 3)) -> (N, 2, 2)`` = ``J Σ Jᵀ``."""
    def inputs(g):
        return perspective_jacobian(_points_in_view(g), _K, 64, 48), _random_covariances(g, 20, 3)

    return compare_to_library("2D covariance J Σ Jᵀ", user_fn, covariance_2d, inputs,
                              hint="Use J @ cov @ J.transpose(-1, -2) (batched matrix products).")


def check_conic(user_fn: Callable) -> bool:
    """``user_fn(cov2d (N, 2, 2), eps2d) -> conic (N, 3)`` = ``(a, b, c)`` of ``(Σ' + ε I)^{-1}``."""
    return compare_to_library(
        "conic (inverse dilated 2D covariance)", user_fn, conic_from_covariance_2d,
        lambda g: (_random_covariances(g, 20, 2) * 1e3, 0.3),
        hint="Add eps2d to the diagonal first; the inverse of [[p, q], [q, r]] is [[r, −q], [−q, p]] / (p r − q²).")


def check_composite(user_fn: Callable) -> bool:
    """``user_fn(pixels (P, 2), means2d (n, 2), conics (n, 3), opacities (n,), channels (n, C))
    -> (color (P, C), alpha (P,))`` — front-to-back compositing, eq 9, with the 1/255, 0.999 and 1e-4 rules."""
    def inputs(g):
        n, p = 12, 9
        pixels = torch.rand(p, 2, generator=g, dtype=_DTYPE) * 6 + 0.5
        means2d = torch.rand(n, 2, generator=g, dtype=_DTYPE) * 6
        rotations = quat_to_rotmat(torch.randn(n, 4, generator=g, dtype=_DTYPE))[:, :2, :2]
        scales = 0.8 + 2 * torch.rand(n, 2, generator=g, dtype=_DTYPE)
        covariances = rotations @ torch.diag_embed(scales**2) @ rotations.transpose(-1, -2)
        conics = conic_from_covariance_2d(covariances, 0.0)
        opacities = 0.2 + 0.8 * torch.rand(n, generator=g, dtype=_DTYPE)
        return pixels, means2d, conics, opacities, torch.rand(n, 3, generator=g, dtype=_DTYPE)

    return compare_to_library(
        "alpha compositing (eq 9)", user_fn, composite_tile, inputs, atol=1e-9, rtol=1e-7,
        hint="alpha = min(0.999, o·exp(−σ)), skip alpha < 1/255, stop before T·(1 − alpha) < 1e-4; "
             "weight = alpha·T, then T ← T·(1 − alpha).")
