"""Spherical-harmonics colour (:func:`talkinghead_edu.render.sh.sh_to_rgb`) as one numba kernel with a
hand-written backward — the fast backend's replacement for ~60 small PyTorch ops per call and their autograd graph.

Forward, per Gaussian (``d = μ − camera centre``, ``n = d / |d|``, basis ``Y_k(n)`` of :mod:`.sh`)::

    rgb_c = max(Σ_k coeffs[k, c] Y_k(n) + 0.5, 0)

Backward (``G`` = gradient of the loss w.r.t. rgb, passed where ``rgb ≥ 0`` as ``clamp_min`` does)::

    ∂coeffs[k, c] = Y_k(n) G_c,     ∂n = Σ_k (Σ_c coeffs[k, c] G_c) ∇Y_k(n),     ∂μ = (∂n − n (n·∂n)) / |d|

with the gradients ``∇Y_k`` of the degree-1..3 polynomials written out below. Computed in
float64 registers whatever the input dtype; the tests compare values and gradients with autograd.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._jit import njit, prange
from .profiling import stage
from .sh import SH_C0, SH_C1, SH_C2, SH_C3

C20, C21, C22, C23, C24 = SH_C2
C30, C31, C32, C33, C34, C35, C36 = SH_C3


@njit(cache=True, inline="always")
def _basis(x, y, z, basis):
    """Fills ``basis`` (≥ K,) with Y_0..Y_{K−1} at the unit vector (x, y, z), K = (degree + 1)² ≤ 16."""
    k = basis.shape[0]
    xx, yy, zz = x * x, y * y, z * z
    basis[0] = SH_C0
    if k > 1:
        basis[1], basis[2], basis[3] = -SH_C1 * y, SH_C1 * z, -SH_C1 * x
    if k > 4:
        basis[4], basis[5], basis[6] = C20 * x * y, C21 * y * z, C22 * (2 * zz - xx - yy)
        basis[7], basis[8] = C23 * x * z, C24 * (xx - yy)
    if k > 9:
        basis[9], basis[10] = C30 * y * (3 * xx - yy), C31 * x * y * z
        basis[11], basis[12] = C32 * y * (4 * zz - xx - yy), C33 * z * (2 * zz - 3 * xx - 3 * yy)
        basis[13], basis[14], basis[15] = C34 * x * (4 * zz - xx - yy), C35 * z * (xx - yy), C36 * x * (xx - 3 * yy)


@njit(cache=True, inline="always")
def _basis_gradient(x, y, z, gb):
    """``Σ_k gb[k] ∇Y_k`` at (x, y, z): the gradient w.r.t. the unit direction, returned as (gx, gy, gz)."""
    k = gb.shape[0]
    xx, yy, zz = x * x, y * y, z * z
    gx = gy = gz = 0.0
    if k > 1:
        gy -= SH_C1 * gb[1]
        gz += SH_C1 * gb[2]
        gx -= SH_C1 * gb[3]
    if k > 4:
        gx += C20 * y * gb[4]
        gy += C20 * x * gb[4]
        gy += C21 * z * gb[5]
        gz += C21 * y * gb[5]
        gx -= 2 * C22 * x * gb[6]
        gy -= 2 * C22 * y * gb[6]
        gz += 4 * C22 * z * gb[6]
        gx += C23 * z * gb[7]
        gz += C23 * x * gb[7]
        gx += 2 * C24 * x * gb[8]
        gy -= 2 * C24 * y * gb[8]
    if k > 9:
        gx += C30 * 6 * x * y * gb[9]
        gy += C30 * 3 * (xx - yy) * gb[9]
        gx += C31 * y * z * gb[10]
        gy += C31 * x * z * gb[10]
        gz += C31 * x * y * gb[10]
        gx -= C32 * 2 * x * y * gb[11]
        gy += C32 * (4 * zz - xx - 3 * yy) * gb[11]
        gz += C32 * 8 * y * z * gb[11]
        gx -= C33 * 6 * x * z * gb[12]
        gy -= C33 * 6 * y * z * gb[12]
        gz += C33 * (6 * zz - 3 * xx - 3 * yy) * gb[12]
        gx += C34 * (4 * zz - 3 * xx - yy) * gb[13]
        gy -= C34 * 2 * x * y * gb[13]
        gz += C34 * 8 * x * z * gb[13]
        gx += C35 * 2 * x * z * gb[14]
        gy -= C35 * 2 * y * z * gb[14]
        gz += C35 * (xx - yy) * gb[14]
        gx += C36 * 3 * (xx - yy) * gb[15]
        gy -= C36 * 6 * x * y * gb[15]
    return gx, gy, gz


_CHUNK = 256  # Gaussians per parallel work item (the scratch basis is allocated once per chunk)


@njit(cache=True, inline="always")
def _unit_direction(means, n, center):
    dx, dy, dz = means[n, 0] - center[0], means[n, 1] - center[1], means[n, 2] - center[2]
    norm = max(math.sqrt(dx * dx + dy * dy + dz * dz), 1e-12)  # as torch.nn.functional.normalize
    return dx / norm, dy / norm, dz / norm, norm


@njit(parallel=True, cache=True)
def _sh_forward(coeffs, means, center, raw, rgb):
    n_total, k = coeffs.shape[0], coeffs.shape[1]
    for chunk in prange((n_total + _CHUNK - 1) // _CHUNK):
        basis = np.empty(k)
        for n in range(chunk * _CHUNK, min((chunk + 1) * _CHUNK, n_total)):
            x, y, z, _ = _unit_direction(means, n, center)
            _basis(x, y, z, basis)
            for c in range(3):
                total = 0.5
                for i in range(k):
                    total += basis[i] * coeffs[n, i, c]
                raw[n, c] = total
                rgb[n, c] = max(total, 0.0)


@njit(parallel=True, cache=True)
def _sh_backward(coeffs, means, center, raw, grad_rgb, grad_coeffs, grad_means):
    n_total, k = coeffs.shape[0], coeffs.shape[1]
    for chunk in prange((n_total + _CHUNK - 1) // _CHUNK):
        basis, grad_basis = np.empty(k), np.empty(k)
        for n in range(chunk * _CHUNK, min((chunk + 1) * _CHUNK, n_total)):
            x, y, z, norm = _unit_direction(means, n, center)
            _basis(x, y, z, basis)
            g0 = grad_rgb[n, 0] if raw[n, 0] >= 0.0 else 0.0  # clamp_min passes the gradient where its input >= 0
            g1 = grad_rgb[n, 1] if raw[n, 1] >= 0.0 else 0.0
            g2 = grad_rgb[n, 2] if raw[n, 2] >= 0.0 else 0.0
            for i in range(k):
                grad_coeffs[n, i, 0] = basis[i] * g0
                grad_coeffs[n, i, 1] = basis[i] * g1
                grad_coeffs[n, i, 2] = basis[i] * g2
                grad_basis[i] = coeffs[n, i, 0] * g0 + coeffs[n, i, 1] * g1 + coeffs[n, i, 2] * g2
            gx, gy, gz = _basis_gradient(x, y, z, grad_basis)
            radial = x * gx + y * gy + z * gz  # n = d / |d|: remove the radial part, divide by |d|
            grad_means[n, 0] = (gx - x * radial) / norm
            grad_means[n, 1] = (gy - y * radial) / norm
            grad_means[n, 2] = (gz - z * radial) / norm


def _array(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().contiguous().numpy()


class _ShFast(torch.autograd.Function):
    """Autograd wrapper: (coeffs (N, K, 3), means (N, 3), center (3,)) → rgb (N, 3)."""

    @staticmethod
    def forward(ctx, coeffs, means, center):
        arrays = (_array(coeffs), _array(means), _array(center.to(means.dtype)))
        raw, rgb = np.empty((coeffs.shape[0], 3), arrays[0].dtype), np.empty((coeffs.shape[0], 3), arrays[0].dtype)
        _sh_forward(*arrays, raw, rgb)
        ctx.arrays, ctx.raw, ctx.like = arrays, raw, (coeffs.device, coeffs.dtype, means.dtype)
        return torch.from_numpy(rgb).to(coeffs.device)

    @staticmethod
    def backward(ctx, grad_rgb):
        coeffs, means, center = ctx.arrays
        device, coeffs_dtype, means_dtype = ctx.like
        with stage("backward: sh"):
            grad_coeffs, grad_means = np.empty_like(coeffs), np.empty_like(means)
            _sh_backward(coeffs, means, center, ctx.raw, _array(grad_rgb.to(coeffs_dtype)), grad_coeffs, grad_means)
        return (
            torch.from_numpy(grad_coeffs).to(device),
            torch.from_numpy(grad_means).to(device=device, dtype=means_dtype),
            None,
        )


def sh_to_rgb_fast(coeffs: torch.Tensor, means: torch.Tensor, center: torch.Tensor) -> torch.Tensor:
    """``sh_to_rgb(coeffs, means − center)`` (N, 3) with a numba forward and backward.

    Args:
        coeffs: (N, K, 3) SH coefficients, K ∈ {1, 4, 9, 16}. means: (N, 3) positions. center: (3,) camera centre.
    """
    return _ShFast.apply(coeffs, means, center)
