"""Self-checks for notebook 06 (rasterization, eq 9): a learner's step vs :mod:`talkinghead_edu.render`.

Each check runs the learner's function and the library's on random float64 inputs and
prints ✓ or raises :class:`CheckFailed` with a hint.
"""

from __future__ import annotations

from typing import Callable

import torch

from ...render.projection import conic_from_covariance_2d, covariance_2d, perspective_jacobian, quat_to_rotmat
from ...render.reference import composite_tile
from ...render.sh import sh_basis
from ._core import compare_to_library

__all__ = [
    "check_projection_jacobian",
    "check_covariance_2d",
    "check_conic",
    "check_composite",
    "library_composite_backward",
    "check_composite_backward",
    "library_sh_basis",
    "check_sh_basis",
]

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
        "projection Jacobian",
        user_fn,
        lambda means, K: perspective_jacobian(means, K, 64, 48),
        lambda g: (_points_in_view(g), _K),
        hint="Row 0 is d(u)/d(x, y, z) = (fx/z, 0, −fx·x/z²); row 1 the same with fy and y.",
    )


def check_covariance_2d(user_fn: Callable) -> bool:
    """``user_fn(J (N, 2, 3), cov_cam (N, 3, 3)) -> (N, 2, 2)`` = ``J Σ Jᵀ``."""

    def inputs(g):
        return perspective_jacobian(_points_in_view(g), _K, 64, 48), _random_covariances(g, 20, 3)

    return compare_to_library(
        "2D covariance J Σ Jᵀ",
        user_fn,
        covariance_2d,
        inputs,
        hint="Use J @ cov @ J.transpose(-1, -2) (batched matrix products).",
    )


def check_conic(user_fn: Callable) -> bool:
    """``user_fn(cov2d (N, 2, 2), eps2d) -> conic (N, 3)`` = ``(a, b, c)`` of ``(Σ' + ε I)^{-1}``."""
    return compare_to_library(
        "conic (inverse dilated 2D covariance)",
        user_fn,
        conic_from_covariance_2d,
        lambda g: (_random_covariances(g, 20, 2) * 1e3, 0.3),
        hint="Add eps2d to the diagonal first; the inverse of [[p, q], [q, r]] is [[r, −q], [−q, p]] / (p r − q²).",
    )


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
        "alpha compositing (eq 9)",
        user_fn,
        composite_tile,
        inputs,
        atol=1e-9,
        rtol=1e-7,
        hint="alpha = min(0.999, o·exp(−σ)), skip alpha < 1/255, stop before T·(1 − alpha) < 1e-4; "
        "weight = alpha·T, then T ← T·(1 − alpha).",
    )


def library_composite_backward(
    pixel: torch.Tensor,
    means2d: torch.Tensor,
    conics: torch.Tensor,
    opacities: torch.Tensor,
    colors: torch.Tensor,
    grad_color: torch.Tensor,
):
    """Gradients of ``L = grad_color · C(pixel)`` by autograd through the reference rasterizer.

    Args:
        pixel: (2,) pixel centre. means2d: (n, 2), conics: (n, 3), opacities: (n,), colors: (n, C),
            nearest splat first. grad_color: (C,) ``∂L/∂C`` arriving from the loss.

    Returns:
        ``(∂L/∂colors (n, C), ∂L/∂opacities (n,), ∂L/∂conics (n, 3), ∂L/∂means2d (n, 2))``.
    """
    leaves = [t.detach().clone().requires_grad_(True) for t in (means2d, conics, opacities, colors)]
    color, _ = composite_tile(pixel[None], *leaves)
    grad_means, grad_conics, grad_opacities, grad_colors = torch.autograd.grad((color[0] * grad_color).sum(), leaves)
    return grad_colors, grad_opacities, grad_conics, grad_means


def _one_pixel_scene(generator: torch.Generator, n: int = 8):
    """A pixel at the origin under ``n`` overlapping splats (random covariances, opacities 0.2–0.95)."""
    pixel = torch.zeros(2, dtype=_DTYPE)
    means2d = 1.5 * torch.randn(n, 2, generator=generator, dtype=_DTYPE)
    rotations = quat_to_rotmat(torch.randn(n, 4, generator=generator, dtype=_DTYPE))[:, :2, :2]
    scales = 1.0 + 2 * torch.rand(n, 2, generator=generator, dtype=_DTYPE)
    conics = conic_from_covariance_2d(rotations @ torch.diag_embed(scales**2) @ rotations.transpose(-1, -2), 0.3)
    opacities = 0.2 + 0.75 * torch.rand(n, generator=generator, dtype=_DTYPE)
    colors = torch.rand(n, 3, generator=generator, dtype=_DTYPE)
    return pixel, means2d, conics, opacities, colors, torch.randn(3, generator=generator, dtype=_DTYPE)


def check_composite_backward(user_fn: Callable) -> bool:
    """``user_fn(pixel, means2d, conics, opacities, colors, grad_color)`` -> the four gradients of
    :func:`library_composite_backward`, compared with autograd on the reference rasterizer."""
    return compare_to_library(
        "backward pass of alpha compositing (eq 9) for one pixel",
        user_fn,
        library_composite_backward,
        _one_pixel_scene,
        trials=8,
        atol=1e-9,
        rtol=1e-7,
        hint="Walk back to front with S (the colour seen behind splat i, starting at 0): ∂C/∂c_i = α_i T_i, "
        "∂C/∂α_i = T_i (c_i − S), then S ← α_i c_i + (1 − α_i) S; α = o·exp(−σ) gives ∂α/∂o = exp(−σ), ∂α/∂σ = −α.",
    )


def library_sh_basis(dirs: torch.Tensor) -> torch.Tensor:
    """The package's real SH basis of degree 3 at unit directions: ``(N, 3) -> (N, 16)``."""
    return sh_basis(3, dirs)


def check_sh_basis(user_fn: Callable) -> bool:
    """``user_fn(dirs (N, 3) unit vectors) -> (N, 16)``: real SH of degrees 0–3, index ``l² + l + m``."""
    return compare_to_library(
        "real spherical harmonics, degrees 0–3",
        user_fn,
        library_sh_basis,
        lambda g: (torch.nn.functional.normalize(torch.randn(32, 3, generator=g, dtype=_DTYPE), dim=-1),),
        atol=1e-9,
        rtol=1e-7,
        hint="Y_l^m = K_l^m · P_l^|m|(z) · (cos |m|φ or sin |m|φ), K_l^m = sqrt((2l+1)/(4π) · (l−|m|)!/(l+|m|)!) "
        "(×√2 for m ≠ 0); keep the Condon–Shortley sign (−1)^m, and r^m cos mφ = Re (x + iy)^m.",
    )
