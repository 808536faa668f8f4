"""Eqs 11–18 on the CPU as two numba kernels with hand-written backwards: per triangle, then per Gaussian.

:meth:`GaussianHead.forward <talkinghead_edu.gaussians.GaussianHead.forward>` uses them when numba is
importable and the head is on the CPU; :mod:`.binding` holds the same equations in PyTorch (the
fallback, and the version the notebooks read). Shapes: B batch, V vertices, F faces, N Gaussians.

**Per triangle** (:func:`face_table`), ``T = (v0, v1, v2)``: the frame of eqs 12–14, its quaternion
``q_T`` (Shepperd's method, as :func:`.binding.rotmat_to_quat`) and ``log S`` (eq 13), packed in one
row of 23 numbers ``[v0, v1, v2, R (row-major), q_T, log S]``.

**Per Gaussian** (:func:`bind_gaussians_fused`), on triangle ``T`` in frame ``b``::

    η        = softmax(η_logits)                          (eq 11)
    ū'       = ū + Σ_l γ_l W_pos[l]                       (eq 17)
    a        = Σ_l γ_l W_rot[l],   r̄' = r̄ ⊗ q(a)          (eq 17, q(a) the axis-angle quaternion)
    κ0'      = κ0 + Σ_l γ_l W_color[l]                    (eq 18)
    u        = R ū' + Σ_k η_k v_k                         (eqs 11, 15)
    r        = q_T ⊗ r̄' / |r̄'|                            (eq 15)
    log s    = log S + log s̄                              (eq 15)

Why kernels: as ~250 PyTorch ops, binding took 26 ms per frame on the 28k-Gaussian head (2 CPU
threads). A one-thread profile showed ``einsum`` copying each ``(N, 16, 3)`` blendshape tensor into
another layout on every call (5.4 MB each, 14.5 ms in all), and torch's ops over a last dimension
of 3 or 4 (softmax, stack, norm, 3×3 ``bmm``) and its gathers running 5–10× slower than a loop.
Here every Gaussian's blendshape rows are read once, in memory order, and one table row holds
all that a triangle contributes.

Backward (``G`` = incoming gradient; ``⊗`` is bilinear, ``∂(a ⊗ b)/∂a = G ⊗ b*``,
``∂(a ⊗ b)/∂b = a* ⊗ G``; ``m = q/|q|`` gives ``∂q = (G_m − m (m·G_m)) / |q|``; ``c = a × b``
gives ``∂a = b × G_c``, ``∂b = G_c × a``)::

    ∂R[i, j] += G_u[i] ū'[j],   ∂ū' = G_ū' + Rᵀ G_u,   ∂v_k += η_k G_u,   ∂η_k = v_k · G_u
    ∂η_logits = η ⊙ (∂η − η·∂η),   ∂W[l] += γ_l ∂(ū' | a | κ0'),   ∂γ_l += W[l] · ∂(ū' | a | κ0')

Gradients summed over several items (a triangle's Gaussians, a vertex's triangles, γ) go to one
accumulator per numba worker, summed afterwards: no races, and the result does not depend on
scheduling. Tensors are read and written in the inputs' dtype (float32 for the head, float64 in
the tests).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..render._jit import njit, numba, prange

__all__ = ["available", "face_table", "bind_gaussians_fused"]

_CHUNK = 512  # items per parallel work item of the forward passes
_R, _Q, _LOG_S = 9, 18, 22  # columns of the per-triangle table: corners 0..8, R 9..17, q_T 18..21, log S 22
_EPS = 1e-12  # as triangle_frames: guards the normalisations of degenerate triangles


def available(device: torch.device) -> bool:
    """Whether the numba kernels can run for tensors on ``device`` (numba importable, CPU)."""
    return numba is not None and torch.device(device).type == "cpu"


@njit(cache=True, inline="always")
def _cross(ax, ay, az, bx, by, bz):
    return ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx


@njit(cache=True, inline="always")
def _add_scaled(a, b, scale):
    """``a + scale · b`` for 3-tuples."""
    return a[0] + scale * b[0], a[1] + scale * b[1], a[2] + scale * b[2]


@njit(cache=True, inline="always")
def _add_diagonal(g_rotation, g, s0, s1, s2):
    """Backward of ``1 + s0 R00 + s1 R11 + s2 R22``."""
    g_rotation[0, 0] += s0 * g
    g_rotation[1, 1] += s1 * g
    g_rotation[2, 2] += s2 * g


@njit(cache=True, inline="always")
def _add_pair(g_rotation, i, j, k, m, g, sign):
    """Backward of ``R[i, j] + sign · R[k, m]``."""
    g_rotation[i, j] += g
    g_rotation[k, m] += sign * g


@njit(cache=True, inline="always")
def _unit_grad(ux, uy, uz, length, gx, gy, gz):
    """Gradient w.r.t. ``v`` of ``G · u`` for ``u = v / max(|v|, eps)`` (``u``, ``|v|`` given)."""
    radial = (ux * gx + uy * gy + uz * gz) if length > _EPS else 0.0  # constant where clamped
    norm = max(length, _EPS)
    return (gx - ux * radial) / norm, (gy - uy * radial) / norm, (gz - uz * radial) / norm


@njit(cache=True)  # not inline="always": numba's parfor analysis fails on its tuple results
def _frame(vertices, b, i0, i1, i2):
    """Eqs 12–14 for the triangle ``(i0, i1, i2)`` of mesh ``b``: edges, lengths, ``n0, n1, n2``, |normal|."""
    e01 = (
        vertices[b, i1, 0] - vertices[b, i0, 0],
        vertices[b, i1, 1] - vertices[b, i0, 1],
        vertices[b, i1, 2] - vertices[b, i0, 2],
    )
    e02 = (
        vertices[b, i2, 0] - vertices[b, i0, 0],
        vertices[b, i2, 1] - vertices[b, i0, 1],
        vertices[b, i2, 2] - vertices[b, i0, 2],
    )
    e12 = (
        vertices[b, i2, 0] - vertices[b, i1, 0],
        vertices[b, i2, 1] - vertices[b, i1, 1],
        vertices[b, i2, 2] - vertices[b, i1, 2],
    )
    l01 = math.sqrt(e01[0] * e01[0] + e01[1] * e01[1] + e01[2] * e01[2])
    l02 = math.sqrt(e02[0] * e02[0] + e02[1] * e02[1] + e02[2] * e02[2])
    l12 = math.sqrt(e12[0] * e12[0] + e12[1] * e12[1] + e12[2] * e12[2])
    n0 = (e01[0] / max(l01, _EPS), e01[1] / max(l01, _EPS), e01[2] / max(l01, _EPS))  # eq 14
    normal = _cross(e01[0], e01[1], e01[2], e02[0], e02[1], e02[2])
    ln = math.sqrt(normal[0] * normal[0] + normal[1] * normal[1] + normal[2] * normal[2])
    n1 = (normal[0] / max(ln, _EPS), normal[1] / max(ln, _EPS), normal[2] / max(ln, _EPS))  # eq 14
    n2 = _cross(n0[0], n0[1], n0[2], n1[0], n1[1], n1[2])  # eq 14
    return e01, e02, e12, l01, l02, l12, n0, n1, n2, normal, ln


@njit(cache=True)  # not inline="always": numba's parfor analysis fails on its tuple results
def _shepperd(n0, n1, n2):
    """The largest ``4 q_i²`` of ``R = [n0 n1 n2]``: its index and the unnormalised ``2 |q_i| q`` (Shepperd)."""
    r00, r01, r02, r10, r11, r12, r20, r21, r22 = n0[0], n1[0], n2[0], n0[1], n1[1], n2[1], n0[2], n1[2], n2[2]
    squares = (1 + r00 + r11 + r22, 1 + r00 - r11 - r22, 1 - r00 + r11 - r22, 1 - r00 - r11 + r22)
    best = 0
    for i in range(1, 4):
        if squares[i] > squares[best]:
            best = i
    if best == 0:
        return best, (squares[0], r21 - r12, r02 - r20, r10 - r01)
    if best == 1:
        return best, (r21 - r12, squares[1], r10 + r01, r02 + r20)
    if best == 2:
        return best, (r02 - r20, r10 + r01, squares[2], r12 + r21)
    return best, (r10 - r01, r20 + r02, r21 + r12, squares[3])


@njit(parallel=True, cache=True)
def _faces_forward(vertices, faces, table):
    batch, n_faces = vertices.shape[0], faces.shape[0]
    for chunk in prange((n_faces + _CHUNK - 1) // _CHUNK):
        for f in range(chunk * _CHUNK, min((chunk + 1) * _CHUNK, n_faces)):
            for b in range(batch):
                for k in range(3):
                    for i in range(3):
                        table[b, f, 3 * k + i] = vertices[b, faces[f, k], i]
                _, _, _, l01, l02, l12, n0, n1, n2, _, _ = _frame(vertices, b, faces[f, 0], faces[f, 1], faces[f, 2])
                for i in range(3):  # eq 12, R[i, j] = n_j[i]
                    table[b, f, _R + 3 * i] = n0[i]
                    table[b, f, _R + 3 * i + 1] = n1[i]
                    table[b, f, _R + 3 * i + 2] = n2[i]
                _, c = _shepperd(n0, n1, n2)
                sign = -1.0 if c[0] < 0 else 1.0  # w >= 0, as rotmat_to_quat
                length = math.sqrt(c[0] * c[0] + c[1] * c[1] + c[2] * c[2] + c[3] * c[3])
                for i in range(4):
                    table[b, f, _Q + i] = sign * c[i] / length  # q_T: R as a unit quaternion
                table[b, f, _LOG_S] = math.log(max((l01 + l02 + l12) / 3.0, _EPS))  # eq 13


@njit(parallel=True, cache=True)
def _faces_backward(vertices, faces, g_table, g_vertices):
    """``g_vertices`` (workers, B, V, 3), zeroed: each worker's share of the vertex gradient."""
    workers, batch, n_faces = g_vertices.shape[0], vertices.shape[0], faces.shape[0]
    for w in prange(workers):
        g_rotation = np.empty((3, 3), vertices.dtype)
        for f in range(w * n_faces // workers, (w + 1) * n_faces // workers):
            i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
            for b in range(batch):
                e01, e02, e12, l01, l02, l12, n0, n1, n2, normal, ln = _frame(vertices, b, i0, i1, i2)
                for i in range(3):
                    for j in range(3):
                        g_rotation[i, j] = g_table[b, f, _R + 3 * i + j]
                # q_T = sign · c / |c|, c linear in R (the chosen Shepperd branch)
                best, c = _shepperd(n0, n1, n2)
                sign = -1.0 if c[0] < 0 else 1.0
                length = math.sqrt(c[0] * c[0] + c[1] * c[1] + c[2] * c[2] + c[3] * c[3])
                q = (sign * c[0] / length, sign * c[1] / length, sign * c[2] / length, sign * c[3] / length)
                gq = (g_table[b, f, _Q], g_table[b, f, _Q + 1], g_table[b, f, _Q + 2], g_table[b, f, _Q + 3])
                radial = q[0] * gq[0] + q[1] * gq[1] + q[2] * gq[2] + q[3] * gq[3]
                gc0 = sign * (gq[0] - q[0] * radial) / length
                gc1 = sign * (gq[1] - q[1] * radial) / length
                gc2 = sign * (gq[2] - q[2] * radial) / length
                gc3 = sign * (gq[3] - q[3] * radial) / length
                if best == 0:  # c = (1 + R00 + R11 + R22, R21 - R12, R02 - R20, R10 - R01)
                    _add_diagonal(g_rotation, gc0, 1.0, 1.0, 1.0)
                    _add_pair(g_rotation, 2, 1, 1, 2, gc1, -1.0)
                    _add_pair(g_rotation, 0, 2, 2, 0, gc2, -1.0)
                    _add_pair(g_rotation, 1, 0, 0, 1, gc3, -1.0)
                elif best == 1:  # c = (R21 - R12, 1 + R00 - R11 - R22, R10 + R01, R02 + R20)
                    _add_pair(g_rotation, 2, 1, 1, 2, gc0, -1.0)
                    _add_diagonal(g_rotation, gc1, 1.0, -1.0, -1.0)
                    _add_pair(g_rotation, 1, 0, 0, 1, gc2, 1.0)
                    _add_pair(g_rotation, 0, 2, 2, 0, gc3, 1.0)
                elif best == 2:  # c = (R02 - R20, R10 + R01, 1 - R00 + R11 - R22, R12 + R21)
                    _add_pair(g_rotation, 0, 2, 2, 0, gc0, -1.0)
                    _add_pair(g_rotation, 1, 0, 0, 1, gc1, 1.0)
                    _add_diagonal(g_rotation, gc2, -1.0, 1.0, -1.0)
                    _add_pair(g_rotation, 1, 2, 2, 1, gc3, 1.0)
                else:  # c = (R10 - R01, R20 + R02, R21 + R12, 1 - R00 - R11 + R22)
                    _add_pair(g_rotation, 1, 0, 0, 1, gc0, -1.0)
                    _add_pair(g_rotation, 2, 0, 0, 2, gc1, 1.0)
                    _add_pair(g_rotation, 2, 1, 1, 2, gc2, 1.0)
                    _add_diagonal(g_rotation, gc3, -1.0, -1.0, 1.0)
                # eq 14 backward: n2 = n0 × n1, n1 = normal / |normal|, normal = e01 × e02, n0 = e01 / |e01|
                g_n2 = (g_rotation[0, 2], g_rotation[1, 2], g_rotation[2, 2])
                g_n0 = _add_scaled(
                    (g_rotation[0, 0], g_rotation[1, 0], g_rotation[2, 0]),
                    _cross(n1[0], n1[1], n1[2], g_n2[0], g_n2[1], g_n2[2]),
                    1.0,
                )
                g_n1 = _add_scaled(
                    (g_rotation[0, 1], g_rotation[1, 1], g_rotation[2, 1]),
                    _cross(g_n2[0], g_n2[1], g_n2[2], n0[0], n0[1], n0[2]),
                    1.0,
                )
                g_normal = _unit_grad(n1[0], n1[1], n1[2], ln, g_n1[0], g_n1[1], g_n1[2])
                g_e02 = _cross(g_normal[0], g_normal[1], g_normal[2], e01[0], e01[1], e01[2])
                g_e01 = _add_scaled(
                    _unit_grad(n0[0], n0[1], n0[2], l01, g_n0[0], g_n0[1], g_n0[2]),
                    _cross(e02[0], e02[1], e02[2], g_normal[0], g_normal[1], g_normal[2]),
                    1.0,
                )
                # eq 13 backward: log S, S = (|e01| + |e02| + |e12|) / 3
                scale = (l01 + l02 + l12) / 3.0
                g_length = g_table[b, f, _LOG_S] / (3.0 * scale) if scale > _EPS else 0.0
                g_v01 = _add_scaled(g_e01, e01, g_length / l01 if l01 > 0 else 0.0)  # total ∂e01
                g_v02 = _add_scaled(g_e02, e02, g_length / l02 if l02 > 0 else 0.0)  # total ∂e02
                g_v12 = _add_scaled((0.0, 0.0, 0.0), e12, g_length / l12 if l12 > 0 else 0.0)  # total ∂e12
                for i in range(3):  # corners (copied into the table) and e01 = v1 - v0, e02 = v2 - v0, e12 = v2 - v1
                    g_vertices[w, b, i0, i] += g_table[b, f, i] - g_v01[i] - g_v02[i]
                    g_vertices[w, b, i1, i] += g_table[b, f, 3 + i] + g_v01[i] - g_v12[i]
                    g_vertices[w, b, i2, i] += g_table[b, f, 6 + i] + g_v02[i] + g_v12[i]


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
    table,
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
                        table[b, t, _R + 3 * i] * mu0
                        + table[b, t, _R + 3 * i + 1] * mu1
                        + table[b, t, _R + 3 * i + 2] * mu2
                    ) + (eta[0] * table[b, t, i] + eta[1] * table[b, t, 3 + i] + eta[2] * table[b, t, 6 + i])
                a0, a1, a2 = _blend(gamma, b, w_rot, n)
                dw, dx, dy, dz = _axis_angle_quat(a0, a1, a2)
                qw, qx, qy, qz = _quat_mul(
                    local_quats[n, 0], local_quats[n, 1], local_quats[n, 2], local_quats[n, 3], dw, dx, dy, dz
                )  # eq 17, r̄' = r̄ ⊗ q(a)
                norm = max(math.sqrt(qw * qw + qx * qx + qy * qy + qz * qz), 1e-12)
                fw, fx, fy, fz = table[b, t, _Q], table[b, t, _Q + 1], table[b, t, _Q + 2], table[b, t, _Q + 3]
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
                    log_scales[b, n, i] = table[b, t, _LOG_S] + local_log_scales[n, i]  # eq 15, s = S s̄


@njit(parallel=True, cache=True)
def _bind_backward(
    table,
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
    g_table,
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
    """Fills the gradients: ``g_table``, ``g_gamma`` per worker (leading axis), the others per Gaussian (zeroed)."""
    workers, n_total, batch = g_table.shape[0], triangle_ids.shape[0], gamma.shape[0]
    for w in prange(workers):
        for n in range(w * n_total // workers, (w + 1) * n_total // workers):
            t = triangle_ids[n]
            eta = _softmax3(eta_logits[n, 0], eta_logits[n, 1], eta_logits[n, 2])
            g_eta0, g_eta1, g_eta2 = 0.0, 0.0, 0.0
            lw, lx, ly, lz = local_quats[n, 0], local_quats[n, 1], local_quats[n, 2], local_quats[n, 3]
            for b in range(batch):
                for i in range(3):  # eq 15, log s = log S + log s̄
                    g_table[w, b, t, _LOG_S] += g_log_scales[b, n, i]
                    g_local_log_scales[n, i] += g_log_scales[b, n, i]
                # eq 15, u = R ū' + P; eq 11, P = Σ_k η_k v_k
                p0, p1, p2 = _blend(gamma, b, w_pos, n)
                mu0, mu1, mu2 = local_means[n, 0] + p0, local_means[n, 1] + p1, local_means[n, 2] + p2
                gmu0, gmu1, gmu2 = g_moved[b, n, 0], g_moved[b, n, 1], g_moved[b, n, 2]
                for i in range(3):
                    gu = g_means[b, n, i]
                    g_table[w, b, t, _R + 3 * i + 0] += gu * mu0
                    g_table[w, b, t, _R + 3 * i + 1] += gu * mu1
                    g_table[w, b, t, _R + 3 * i + 2] += gu * mu2
                    gmu0 += table[b, t, _R + 3 * i + 0] * gu
                    gmu1 += table[b, t, _R + 3 * i + 1] * gu
                    gmu2 += table[b, t, _R + 3 * i + 2] * gu
                    for k in range(3):
                        g_table[w, b, t, 3 * k + i] += eta[k] * gu
                    g_eta0 += table[b, t, i] * gu
                    g_eta1 += table[b, t, 3 + i] * gu
                    g_eta2 += table[b, t, 6 + i] * gu
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
                    g_table[w, b, t, _Q + i] += h[i]
                fw, fx, fy, fz = table[b, t, _Q], table[b, t, _Q + 1], table[b, t, _Q + 2], table[b, t, _Q + 3]
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


def _workers(items: int) -> int:
    return max(1, min(numba.get_num_threads(), items))


class _FaceTable(torch.autograd.Function):
    """Autograd wrapper of :func:`_faces_forward` / :func:`_faces_backward`: (vertices, faces) -> table."""

    @staticmethod
    def forward(ctx, vertices, faces):
        arrays = _array(vertices, vertices.dtype), faces.detach().to(torch.int64).contiguous().numpy()
        table = torch.empty(vertices.shape[0], faces.shape[0], 23, dtype=vertices.dtype)
        _faces_forward(*arrays, table.numpy())
        ctx.arrays, ctx.dtype = arrays, vertices.dtype
        return table

    @staticmethod
    def backward(ctx, g_table):
        vertices, faces = ctx.arrays
        g_vertices = np.zeros((_workers(faces.shape[0]),) + vertices.shape, vertices.dtype)
        _faces_backward(vertices, faces, _array(g_table, ctx.dtype), g_vertices)
        return torch.from_numpy(g_vertices.sum(0)), None


class _BindFused(torch.autograd.Function):
    """Autograd wrapper of :func:`_bind_forward` / :func:`_bind_backward`.

    Inputs: the per-triangle table, the nine per-Gaussian tensors, ``γ``, the three ``W``, the
    triangle ids (as :func:`bind_gaussians_fused` without the ids in front). Outputs: means, quats,
    log_scales, colors, ū'.
    """

    @staticmethod
    def forward(ctx, *tensors):
        table, triangle_ids, sh_dc, sh_rest, gamma = tensors[0], tensors[-1], tensors[5], tensors[6], tensors[7]
        dtype, n = table.dtype, triangle_ids.shape[0]
        arrays = [_array(x, dtype) for x in tensors[:5] + (sh_dc.reshape(n, 3),) + tensors[6:-1]]
        ids = triangle_ids.detach().to(torch.int64).contiguous().numpy()
        widths = ((3,), (4,), (3,), (sh_rest.shape[1] + 1, 3), (3,))
        outputs = [torch.empty(gamma.shape[0], n, *width, dtype=dtype) for width in widths]
        _bind_forward(arrays[0], ids, *arrays[1:], *(o.numpy() for o in outputs))
        ctx.arrays, ctx.ids, ctx.dtype = arrays, ids, dtype
        return tuple(outputs)

    @staticmethod
    def backward(ctx, *grads):
        table, eta_logits, local_means, local_quats, _, _, sh_rest, gamma, w_pos, w_rot, w_color = ctx.arrays
        n = ctx.ids.shape[0]
        per_worker = [np.zeros((_workers(n),) + a.shape, table.dtype) for a in (table, gamma)]
        per_gaussian = [
            np.zeros(a.shape, table.dtype)
            for a in (eta_logits, local_means, local_quats, local_means, local_means, sh_rest)
        ] + [np.zeros((n, gamma.shape[1], 3), table.dtype) for _ in range(3)]  # W: the rows used
        _bind_backward(
            table, ctx.ids, eta_logits, local_means, local_quats, gamma, w_pos, w_rot, w_color,
            *(_array(g, ctx.dtype) for g in grads), *per_worker, *per_gaussian,
        )  # fmt: skip
        g_table, g_gamma = (torch.from_numpy(a.sum(0)) for a in per_worker)
        g_eta_logits, g_means, g_quats, g_log_scales, g_dc, g_rest, *g_weights = map(torch.from_numpy, per_gaussian)
        if gamma.shape[1] == 0:  # blendshapes off: the weights were not used
            g_weights = [None] * 3
        return (
            g_table, g_eta_logits, g_means, g_quats, g_log_scales, g_dc.reshape(n, 1, 3), g_rest, g_gamma,
            *g_weights, None,
        )  # fmt: skip


def face_table(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Eqs 12–14 and 15's per-triangle factors, packed: ``(B, V, 3)``, ``(F, 3)`` -> ``(B, F, 23)``.

    Row ``[b, f]`` holds the corners ``v0, v1, v2`` (columns 0–8), ``R`` row-major (9–17),
    ``q_T`` ``(w, x, y, z)`` (18–21) and ``log S`` (22), equal to
    :func:`.binding.triangle_frames` and :func:`.binding.face_orientations`.
    """
    return _FaceTable.apply(vertices, faces)


def bind_gaussians_fused(
    table: torch.Tensor,
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
    """Eqs 11, 15–18 for N Gaussians on B meshes.

    Args:
        table: ``(B, F, 23)`` per-triangle rows of :func:`face_table`.
        triangle_ids: ``(N,)`` long, the parent triangle of each Gaussian.
        eta_logits: ``(N, 3)``; ``η = softmax(eta_logits)``.
        local_means: ``(N, 3)`` ``ū``. local_quats: ``(N, 4)`` ``r̄``. local_log_scales: ``(N, 3)`` ``log s̄``.
        sh_dc: ``(N, 1, 3)`` ``κ0``. sh_rest: ``(N, K - 1, 3)`` SH degrees 1..d.
        gamma: ``(B, L)`` latent pose ``γ`` (eq 16), or ``(B, 0)`` to switch the blendshapes off.
        w_pos, w_rot, w_color: ``(N, L, 3)`` blendshapes ``W``.

    Returns:
        ``means (B, N, 3)``, ``quats (B, N, 4)``, ``log_scales (B, N, 3)``, ``colors (B, N, K, 3)``
        (``κ0'`` then ``sh_rest``), ``ū' (B, N, 3)``; contiguous, in the dtype of ``table``.
    """
    return _BindFused.apply(
        table, eta_logits, local_means, local_quats, local_log_scales, sh_dc, sh_rest, gamma, w_pos, w_rot, w_color,
        triangle_ids,
    )  # fmt: skip
