"""Eqs 11 and 15–18 for every Gaussian in one numba pass, with a hand-written backward.

:meth:`GaussianHead.forward <talkinghead_edu.gaussians.GaussianHead.forward>` computes the
per-triangle quantities (corners, ``R``, its quaternion ``q_T``, ``log S``) with PyTorch, then
places the N Gaussians here. Per Gaussian ``n`` on triangle ``T`` and frame ``b``::

    η        = softmax(η_logits)                          (eq 11)
    ū'       = ū + Σ_l γ_l W_pos[l]                       (eq 17)
    a        = Σ_l γ_l W_rot[l],   r̄' = r̄ ⊗ q(a)          (eq 17, q(a) the axis-angle quaternion)
    κ0'      = κ0 + Σ_l γ_l W_color[l]                    (eq 18)
    u        = R ū' + Σ_k η_k v_k                         (eqs 11, 15)
    r        = q_T ⊗ r̄' / |r̄'|                            (eq 15)
    log s    = log S + log s̄                              (eq 15)

Why a kernel: measured on the 28k-Gaussian head (one thread), the same arithmetic as ~150 PyTorch
ops took 26 ms per frame — torch copies each ``(N, 16, 3)`` blendshape tensor into another layout
for ``einsum`` (5.4 MB each, 14.5 ms in all), and its ops over a last dimension of 3 or 4 (softmax,
stack, norm, 3×3 ``bmm``) and its gathers are 5–10× slower than a loop. Here every Gaussian's
blendshape rows are read once, in memory order, and nothing else touches memory but the outputs.

Backward (``G`` = incoming gradient; ``⊗`` is bilinear, ``∂(a ⊗ b)/∂a = G ⊗ b*``,
``∂(a ⊗ b)/∂b = a* ⊗ G``; ``n = q/|q|`` gives ``∂q = (G_n − n (n·G_n)) / |q|``)::

    ∂R[i, j] += G_u[i] ū'[j],   ∂ū' = G_ū' + Rᵀ G_u,   ∂v_k += η_k G_u,   ∂η_k = v_k · G_u
    ∂η_logits = η ⊙ (∂η − η·∂η),   ∂W[l] += γ_l ∂(ū' | a | κ0'),   ∂γ_l += W[l] · ∂(ū' | a | κ0')

Per-triangle gradients are summed by several Gaussians; each numba worker keeps its own
accumulator (summed afterwards), so there are no races and the result does not depend on
scheduling. Arithmetic is in the inputs' dtype (float32 for the head, float64 in the tests).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..render._jit import njit, numba, prange

__all__ = ["available", "bind_gaussians_fused"]

_CHUNK = 512  # Gaussians per parallel work item of the forward pass


def available(device: torch.device) -> bool:
    """Whether the numba kernels can run for tensors on ``device`` (numba importable, CPU)."""
    return numba is not None and torch.device(device).type == "cpu"


@njit(cache=True, inline="always")
def _quat_mul(aw, ax, ay, az, bw, bx, by, bz):
    """Hamilton product ``a ⊗ b`` (as :func:`.binding.quat_multiply`)."""
    return (
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    )


@njit(cache=True, inline="always")
def _axis_angle_quat(a0, a1, a2):
    """``(cos(θ/2), sin(θ/2)/θ · a)`` with the Taylor series of :func:`.binding.axis_angle_to_quat` near 0."""
    angle_sq = a0 * a0 + a1 * a1 + a2 * a2
    if angle_sq < 1e-8:
        cos_half, half_sinc = 1.0 - angle_sq / 8.0, 0.5 - angle_sq / 48.0
    else:
        angle = math.sqrt(angle_sq)
        cos_half, half_sinc = math.cos(0.5 * angle), math.sin(0.5 * angle) / angle
    return cos_half, half_sinc * a0, half_sinc * a1, half_sinc * a2


@njit(cache=True, inline="always")
def _axis_angle_quat_grad(a0, a1, a2, gw, gx, gy, gz):
    """Gradient w.r.t. ``a`` of ``G · q(a)`` for :func:`_axis_angle_quat`."""
    angle_sq = a0 * a0 + a1 * a1 + a2 * a2
    g_dot_a = gx * a0 + gy * a1 + gz * a2
    if angle_sq < 1e-8:  # d(θ²)/da = 2a; dcos/d(θ²) = -1/8, dsinc/d(θ²) = -1/48
        half_sinc = 0.5 - angle_sq / 48.0
        radial = 2.0 * (-gw / 8.0 - g_dot_a / 48.0)
    else:  # dθ/da = a/θ; dcos/dθ = -sin/2, dsinc/dθ = cos/(2θ) - sin/θ²
        angle = math.sqrt(angle_sq)
        s, c = math.sin(0.5 * angle), math.cos(0.5 * angle)
        half_sinc = s / angle
        radial = (-0.5 * s * gw + (0.5 * c / angle - s / angle_sq) * g_dot_a) / angle
    return radial * a0 + half_sinc * gx, radial * a1 + half_sinc * gy, radial * a2 + half_sinc * gz


@njit(cache=True, inline="always")
def _softmax3(x0, x1, x2):
    top = max(x0, max(x1, x2))
    e0, e1, e2 = math.exp(x0 - top), math.exp(x1 - top), math.exp(x2 - top)
    total = e0 + e1 + e2
    return e0 / total, e1 / total, e2 / total


@njit(cache=True, inline="always")
def _blend(gamma, b, weights, n):
    """``Σ_l γ[b, l] W[n, l, :]`` (eqs 17–18), the row ``W[n]`` read in memory order.

    The sums are kept in W's dtype: float64 sums of float32 products ran at half the speed
    of memory (the three W of the 28k-Gaussian head are 16 MB per frame).
    """
    s0 = s1 = s2 = weights.dtype.type(0)
    for l in range(gamma.shape[1]):
        g = gamma[b, l]
        s0 += g * weights[n, l, 0]
        s1 += g * weights[n, l, 1]
        s2 += g * weights[n, l, 2]
    return s0, s1, s2


@njit(parallel=True, cache=True)
def _bind_forward(
    corners,
    rotation,
    face_quats,
    face_log_scales,
    triangle_ids,
    eta_logits,
    local_means,
    local_quats,
    local_log_scales,
    sh_dc,
    sh_rest,
    gamma,
    w_pos,
    w_rot,
    w_color,
    means,
    quats,
    log_scales,
    colors,
    moved_means,
):
    n_total, batch = triangle_ids.shape[0], gamma.shape[0]
    for chunk in prange((n_total + _CHUNK - 1) // _CHUNK):
        for n in range(chunk * _CHUNK, min((chunk + 1) * _CHUNK, n_total)):
            t = triangle_ids[n]
            eta = _softmax3(eta_logits[n, 0], eta_logits[n, 1], eta_logits[n, 2])  # eq 11
            for b in range(batch):
                p0, p1, p2 = _blend(gamma, b, w_pos, n)
                mu0, mu1, mu2 = local_means[n, 0] + p0, local_means[n, 1] + p1, local_means[n, 2] + p2  # eq 17, ū'
                moved_means[b, n, 0], moved_means[b, n, 1], moved_means[b, n, 2] = mu0, mu1, mu2
                for i in range(3):  # eq 15, u = R ū' + P with P = Σ_k η_k v_k (eq 11)
                    means[b, n, i] = (
                        rotation[i, 0, b, t] * mu0 + rotation[i, 1, b, t] * mu1 + rotation[i, 2, b, t] * mu2
                    ) + (eta[0] * corners[i, b, 0, t] + eta[1] * corners[i, b, 1, t] + eta[2] * corners[i, b, 2, t])
                a0, a1, a2 = _blend(gamma, b, w_rot, n)
                dw, dx, dy, dz = _axis_angle_quat(a0, a1, a2)
                qw, qx, qy, qz = _quat_mul(
                    local_quats[n, 0], local_quats[n, 1], local_quats[n, 2], local_quats[n, 3], dw, dx, dy, dz
                )  # eq 17, r̄' = r̄ ⊗ q(a)
                norm = max(math.sqrt(qw * qw + qx * qx + qy * qy + qz * qz), 1e-12)
                fw, fx, fy, fz = face_quats[0, b, t], face_quats[1, b, t], face_quats[2, b, t], face_quats[3, b, t]
                r = _quat_mul(fw, fx, fy, fz, qw / norm, qx / norm, qy / norm, qz / norm)  # eq 15, r = R r̄'
                for i in range(4):
                    quats[b, n, i] = r[i]
                c0, c1, c2 = _blend(gamma, b, w_color, n)
                colors[b, n, 0, 0] = sh_dc[n, 0] + c0  # eq 18, κ0' = κ0 + BS(γ; W_color)
                colors[b, n, 0, 1] = sh_dc[n, 1] + c1
                colors[b, n, 0, 2] = sh_dc[n, 2] + c2
                for k in range(sh_rest.shape[1]):  # degrees 1..d unchanged
                    for i in range(3):
                        colors[b, n, k + 1, i] = sh_rest[n, k, i]
                for i in range(3):
                    log_scales[b, n, i] = face_log_scales[b, t] + local_log_scales[n, i]  # eq 15, s = S s̄


@njit(parallel=True, cache=True)
def _bind_backward(
    corners,
    rotation,
    face_quats,
    triangle_ids,
    eta_logits,
    local_means,
    local_quats,
    gamma,
    w_pos,
    w_rot,
    w_color,
    g_means,
    g_quats,
    g_log_scales,
    g_colors,
    g_moved,
    g_corners,
    g_rotation,
    g_face_quats,
    g_face_log_scales,
    g_gamma,
    g_eta_logits,
    g_local_means,
    g_local_quats,
    g_local_log_scales,
    g_sh_dc,
    g_sh_rest,
    g_w_pos,
    g_w_rot,
    g_w_color,
):
    """Fills the gradients: ``g_corners … g_gamma`` per worker (leading axis), the others per Gaussian (zeroed)."""
    workers, n_total, batch = g_corners.shape[0], triangle_ids.shape[0], gamma.shape[0]
    for w in prange(workers):
        for n in range(w * n_total // workers, (w + 1) * n_total // workers):
            t = triangle_ids[n]
            eta = _softmax3(eta_logits[n, 0], eta_logits[n, 1], eta_logits[n, 2])
            g_eta0, g_eta1, g_eta2 = 0.0, 0.0, 0.0
            lw, lx, ly, lz = local_quats[n, 0], local_quats[n, 1], local_quats[n, 2], local_quats[n, 3]
            for b in range(batch):
                for i in range(3):  # eq 15, log s = log S + log s̄
                    g_face_log_scales[w, b, t] += g_log_scales[b, n, i]
                    g_local_log_scales[n, i] += g_log_scales[b, n, i]
                # eq 15, u = R ū' + P; eq 11, P = Σ_k η_k v_k
                p0, p1, p2 = _blend(gamma, b, w_pos, n)
                mu0, mu1, mu2 = local_means[n, 0] + p0, local_means[n, 1] + p1, local_means[n, 2] + p2
                gmu0, gmu1, gmu2 = g_moved[b, n, 0], g_moved[b, n, 1], g_moved[b, n, 2]
                for i in range(3):
                    gu = g_means[b, n, i]
                    g_rotation[w, i, 0, b, t] += gu * mu0
                    g_rotation[w, i, 1, b, t] += gu * mu1
                    g_rotation[w, i, 2, b, t] += gu * mu2
                    gmu0 += rotation[i, 0, b, t] * gu
                    gmu1 += rotation[i, 1, b, t] * gu
                    gmu2 += rotation[i, 2, b, t] * gu
                    for k in range(3):
                        g_corners[w, i, b, k, t] += eta[k] * gu
                    g_eta0 += corners[i, b, 0, t] * gu
                    g_eta1 += corners[i, b, 1, t] * gu
                    g_eta2 += corners[i, b, 2, t] * gu
                # eq 15, r = q_T ⊗ m with m = r̄'/|r̄'|; eq 17, r̄' = r̄ ⊗ q(a)
                a0, a1, a2 = _blend(gamma, b, w_rot, n)
                dw, dx, dy, dz = _axis_angle_quat(a0, a1, a2)
                qw, qx, qy, qz = _quat_mul(lw, lx, ly, lz, dw, dx, dy, dz)
                length = math.sqrt(qw * qw + qx * qx + qy * qy + qz * qz)
                norm = max(length, 1e-12)
                mw, mx, my, mz = qw / norm, qx / norm, qy / norm, qz / norm
                gw, gx, gy, gz = g_quats[b, n, 0], g_quats[b, n, 1], g_quats[b, n, 2], g_quats[b, n, 3]
                h = _quat_mul(gw, gx, gy, gz, mw, -mx, -my, -mz)  # ∂q_T = G ⊗ m*
                for i in range(4):
                    g_face_quats[w, i, b, t] += h[i]
                fw, fx, fy, fz = face_quats[0, b, t], face_quats[1, b, t], face_quats[2, b, t], face_quats[3, b, t]
                hw, hx, hy, hz = _quat_mul(fw, -fx, -fy, -fz, gw, gx, gy, gz)  # ∂m = q_T* ⊗ G
                radial = (mw * hw + mx * hx + my * hy + mz * hz) if length > 1e-12 else 0.0  # constant where clamped
                hw, hx, hy, hz = (
                    (hw - mw * radial) / norm,
                    (hx - mx * radial) / norm,
                    (hy - my * radial) / norm,
                    (hz - mz * radial) / norm,
                )  # ∂r̄' = (∂m − m (m·∂m)) / |r̄'|
                r = _quat_mul(hw, hx, hy, hz, dw, -dx, -dy, -dz)  # ∂r̄ = ∂r̄' ⊗ q(a)*
                for i in range(4):
                    g_local_quats[n, i] += r[i]
                ew, ex, ey, ez = _quat_mul(lw, -lx, -ly, -lz, hw, hx, hy, hz)  # ∂q(a) = r̄* ⊗ ∂r̄'
                ga0, ga1, ga2 = _axis_angle_quat_grad(a0, a1, a2, ew, ex, ey, ez)
                # eqs 17–18, the blendshapes: ∂W[l] += γ_l ∂(ū' | a | κ0'), ∂γ_l += W[l] · ∂(ū' | a | κ0')
                gc0, gc1, gc2 = g_colors[b, n, 0, 0], g_colors[b, n, 0, 1], g_colors[b, n, 0, 2]
                for k in range(g_sh_rest.shape[1]):
                    for i in range(3):
                        g_sh_rest[n, k, i] += g_colors[b, n, k + 1, i]
                g_local_means[n, 0] += gmu0
                g_local_means[n, 1] += gmu1
                g_local_means[n, 2] += gmu2
                g_sh_dc[n, 0] += gc0
                g_sh_dc[n, 1] += gc1
                g_sh_dc[n, 2] += gc2
                for l in range(gamma.shape[1]):
                    weight = gamma[b, l]
                    g_w_pos[n, l, 0] += weight * gmu0
                    g_w_pos[n, l, 1] += weight * gmu1
                    g_w_pos[n, l, 2] += weight * gmu2
                    g_w_rot[n, l, 0] += weight * ga0
                    g_w_rot[n, l, 1] += weight * ga1
                    g_w_rot[n, l, 2] += weight * ga2
                    g_w_color[n, l, 0] += weight * gc0
                    g_w_color[n, l, 1] += weight * gc1
                    g_w_color[n, l, 2] += weight * gc2
                    g_gamma[w, b, l] += (
                        w_pos[n, l, 0] * gmu0
                        + w_pos[n, l, 1] * gmu1
                        + w_pos[n, l, 2] * gmu2
                        + w_rot[n, l, 0] * ga0
                        + w_rot[n, l, 1] * ga1
                        + w_rot[n, l, 2] * ga2
                        + w_color[n, l, 0] * gc0
                        + w_color[n, l, 1] * gc1
                        + w_color[n, l, 2] * gc2
                    )
            # eq 11, softmax: ∂x = η ⊙ (∂η − η·∂η)
            dot = eta[0] * g_eta0 + eta[1] * g_eta1 + eta[2] * g_eta2
            g_eta_logits[n, 0] = eta[0] * (g_eta0 - dot)
            g_eta_logits[n, 1] = eta[1] * (g_eta1 - dot)
            g_eta_logits[n, 2] = eta[2] * (g_eta2 - dot)


def _array(tensor: torch.Tensor, dtype: torch.dtype) -> np.ndarray:
    """A C-contiguous numpy view (a copy only when the dtype or layout differ)."""
    return tensor.detach().to(dtype).contiguous().numpy()


class _BindFused(torch.autograd.Function):
    """Autograd wrapper of :func:`_bind_forward` / :func:`_bind_backward`.

    Inputs: the four per-triangle tensors (component-first, see :func:`bind_gaussians_fused`), the
    nine per-Gaussian ones, ``γ``, then the triangle ids. Outputs: means, quats, log_scales, colors, ū'.
    """

    @staticmethod
    def forward(ctx, *tensors):
        triangle_ids, dtype = tensors[-1], tensors[4].dtype
        n, sh_dc, sh_rest = triangle_ids.shape[0], tensors[8], tensors[9]
        arrays = [_array(x, dtype) for x in tensors[:8] + (sh_dc.reshape(n, 3),) + tensors[9:-1]]
        ids = triangle_ids.detach().to(torch.int64).contiguous().numpy()
        batch = tensors[10].shape[0]
        outputs = [
            torch.empty(batch, n, *shape, dtype=dtype) for shape in ((3,), (4,), (3,), (sh_rest.shape[1] + 1, 3), (3,))
        ]
        _bind_forward(*arrays[:4], ids, *arrays[4:], *(o.numpy() for o in outputs))
        ctx.arrays, ctx.ids, ctx.dtype = arrays, ids, dtype
        return tuple(outputs)

    @staticmethod
    def backward(ctx, *grads):
        corners, rotation, face_quats, face_log_scales, eta_logits, local_means, local_quats = ctx.arrays[:7]
        _, _, sh_rest, gamma, w_pos, w_rot, w_color = ctx.arrays[7:]
        like, n = eta_logits.dtype, ctx.ids.shape[0]
        workers = max(1, min(numba.get_num_threads(), n))
        per_worker = [
            np.zeros((workers,) + a.shape, like) for a in (corners, rotation, face_quats, face_log_scales, gamma)
        ]
        per_gaussian = [
            np.zeros(a.shape, like) for a in (eta_logits, local_means, local_quats, local_means, local_means, sh_rest)
        ]
        per_gaussian += [np.zeros((n, gamma.shape[1], 3), like) for _ in range(3)]  # W (the rows used)
        _bind_backward(
            corners,
            rotation,
            face_quats,
            ctx.ids,
            eta_logits,
            local_means,
            local_quats,
            gamma,
            w_pos,
            w_rot,
            w_color,
            *(_array(g, ctx.dtype) for g in grads),
            *per_worker,
            *per_gaussian,
        )
        g_corners, g_rotation, g_face_quats, g_face_log_scales, g_gamma = (
            torch.from_numpy(a.sum(0)) for a in per_worker
        )
        g_eta_logits, g_means, g_quats, g_log_scales, g_dc, g_rest, *g_weights = map(torch.from_numpy, per_gaussian)
        if gamma.shape[1] == 0:  # blendshapes off: the weights were not used
            g_weights = [None] * 3
        return (
            g_corners,
            g_rotation,
            g_face_quats,
            g_face_log_scales,
            g_eta_logits,
            g_means,
            g_quats,
            g_log_scales,
            g_dc.reshape(n, 1, 3),
            g_rest,
            g_gamma,
            *g_weights,
            None,
        )


def bind_gaussians_fused(
    corners: torch.Tensor,
    rotation: torch.Tensor,
    face_quats: torch.Tensor,
    face_log_scales: torch.Tensor,
    triangle_ids: torch.Tensor,
    eta_logits: torch.Tensor,
    local_means: torch.Tensor,
    local_quats: torch.Tensor,
    local_log_scales: torch.Tensor,
    sh_dc: torch.Tensor,
    sh_rest: torch.Tensor,
    gamma: torch.Tensor,
    w_pos: torch.Tensor,
    w_rot: torch.Tensor,
    w_color: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eqs 11, 15–18 for N Gaussians on B meshes, as one numba kernel (forward and backward).

    Args:
        corners: ``(B, F, 3, 3)`` triangle corners ``v_k`` (``corners[..., k, :]``).
        rotation: ``(B, F, 3, 3)`` ``R`` per triangle (eq 12).
        face_quats: ``(B, F, 4)`` ``R`` as unit quaternions ``(w, x, y, z)``.
        face_log_scales: ``(B, F)`` ``log S`` (eq 13).
        triangle_ids: ``(N,)`` long, the parent triangle of each Gaussian.
        eta_logits: ``(N, 3)``; ``η = softmax(eta_logits)``.
        local_means: ``(N, 3)`` ``ū``. local_quats: ``(N, 4)`` ``r̄``. local_log_scales: ``(N, 3)`` ``log s̄``.
        sh_dc: ``(N, 1, 3)`` ``κ0``. sh_rest: ``(N, K - 1, 3)`` SH degrees 1..d.
        gamma: ``(B, L)`` latent pose ``γ`` (eq 16), or ``(B, 0)`` to switch the blendshapes off.
        w_pos, w_rot, w_color: ``(N, L, 3)`` blendshapes ``W``.

    Returns:
        ``means (B, N, 3)``, ``quats (B, N, 4)``, ``log_scales (B, N, 3)``, ``colors (B, N, K, 3)``
        (``κ0'`` then ``sh_rest``), ``ū' (B, N, 3)``; contiguous, in the dtype of ``eta_logits``.
    """
    # The kernel reads the per-triangle tensors component-first, as triangle_frames stores them
    # (no copy then): corners (3 xyz, B, 3 corners, F), rotation (3, 3, B, F), quaternions (4, B, F).
    return _BindFused.apply(
        corners.permute(3, 0, 2, 1), rotation.permute(2, 3, 0, 1), face_quats.movedim(-1, 0), face_log_scales,
        eta_logits, local_means, local_quats, local_log_scales, sh_dc, sh_rest, gamma, w_pos, w_rot, w_color,
        triangle_ids,
    )  # fmt: skip
