"""The projection step (:func:`talkinghead_edu.render.projection.project_gaussians`) as numba kernels
with a hand-written backward — the fast backend's replacement for ~40 small PyTorch ops per call.

Same numbers as the readable PyTorch version (tests compare values and gradients); the
chain rule below follows the forward steps in reverse (``G`` = gradient of the loss):

* conic of ``Σ'' = Σ' + εI = [[p, q], [q, r]]``: ``(a, b, c) = (r, −q, p) / det``,
  ``det = p r − q²``, so ``∂/∂p = G_c/det − r·g``, ``∂/∂r = G_a/det − p·g``,
  ``∂/∂q = −G_b/det + 2q·g`` with ``g = (G_a r − G_b q + G_c p) / det²``;
* ``Σ' = J Σ_c Jᵀ``: ``∂Σ_c = Jᵀ G J``, ``∂J = 2 G J Σ_c`` (G, Σ_c symmetric);
* ``J`` and ``(u, v) = (fx x/z + cx, fy y/z + cy)`` give the camera-space mean's gradient
  (through the field-of-view clamp of ``x/z``, ``y/z`` exactly as autograd would);
* ``μ_c = V μ + t``, ``Σ_c = V Σ Vᵀ``: ``∂μ = Vᵀ ∂μ_c``, ``∂Σ = Vᵀ ∂Σ_c V``;
* ``Σ = M Mᵀ``, ``M = R diag(s)``: ``∂M = 2 ∂Σ M``, ``∂R_ij = ∂M_ij s_j``, ``∂s_j = Σ_i ∂M_ij R_ij``;
* ``R(q̂)`` differentiated entry by entry, then ``∂q = (∂q̂ − q̂ (q̂·∂q̂)) / |q|``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._jit import njit, prange
from .camera import Camera
from .profiling import stage
from .projection import RADIUS_LIMIT, Projection

_CHUNK = 256  # Gaussians per parallel work item (scratch matrices are allocated once per chunk)


@njit(cache=True, inline="always")
def _rotation(w, x, y, z, R):
    R[0, 0] = 1 - 2 * (y * y + z * z)
    R[0, 1] = 2 * (x * y - w * z)
    R[0, 2] = 2 * (x * z + w * y)  # noqa: E702
    R[1, 0] = 2 * (x * y + w * z)
    R[1, 1] = 1 - 2 * (x * x + z * z)
    R[1, 2] = 2 * (y * z - w * x)  # noqa: E702
    R[2, 0] = 2 * (x * z - w * y)
    R[2, 1] = 2 * (y * z + w * x)
    R[2, 2] = 1 - 2 * (x * x + y * y)  # noqa: E702


@njit(cache=True, inline="always")
def _camera_covariance(quat, scale, V, R, M, cov_cam, VM):
    """Fills R (rotation), M = R diag(s), VM = V M and Σ_c = VM VMᵀ; returns the quaternion's norm."""
    norm = max(math.sqrt(quat[0] ** 2 + quat[1] ** 2 + quat[2] ** 2 + quat[3] ** 2), 1e-12)
    _rotation(quat[0] / norm, quat[1] / norm, quat[2] / norm, quat[3] / norm, R)
    for i in range(3):
        for j in range(3):
            M[i, j] = R[i, j] * scale[j]
    for i in range(3):
        for j in range(3):
            VM[i, j] = V[i, 0] * M[0, j] + V[i, 1] * M[1, j] + V[i, 2] * M[2, j]
    for i in range(3):
        for j in range(3):
            cov_cam[i, j] = VM[i, 0] * VM[j, 0] + VM[i, 1] * VM[j, 1] + VM[i, 2] * VM[j, 2]
    return norm


@njit(cache=True, inline="always")
def _safe_camera_point(mean, V, t, near):
    x = V[0, 0] * mean[0] + V[0, 1] * mean[1] + V[0, 2] * mean[2] + t[0]
    y = V[1, 0] * mean[0] + V[1, 1] * mean[1] + V[1, 2] * mean[2] + t[1]
    z = V[2, 0] * mean[0] + V[2, 1] * mean[1] + V[2, 2] * mean[2] + t[2]
    return x, y, z, (z if z > near else 1.0)


@njit(cache=True, inline="always")
def _clamped(value, low, high):
    return min(max(value, low), high)


@njit(parallel=True, cache=True)
def _project_forward(
    means, quats, scales, opacities, V, t, K, width, height, near, far, eps2d, means2d, conics, depths, radii
):
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    lim_x_lo, lim_x_hi = -(cx / fx + 0.15 * width / fx), (width - cx) / fx + 0.15 * width / fx
    lim_y_lo, lim_y_hi = -(cy / fy + 0.15 * height / fy), (height - cy) / fy + 0.15 * height / fy
    n_total = means.shape[0]
    for chunk in prange((n_total + _CHUNK - 1) // _CHUNK):
        R, M, cov, VM = np.empty((3, 3)), np.empty((3, 3)), np.empty((3, 3)), np.empty((3, 3))  # scratch per chunk
        for n in range(chunk * _CHUNK, min((chunk + 1) * _CHUNK, n_total)):
            _camera_covariance(quats[n], scales[n], V, R, M, cov, VM)
            x, y, z_raw, z = _safe_camera_point(means[n], V, t, near)
            tx = z * _clamped(x / z, lim_x_lo, lim_x_hi)
            ty = z * _clamped(y / z, lim_y_lo, lim_y_hi)
            j00, j02, j11, j12 = fx / z, -fx * tx / (z * z), fy / z, -fy * ty / (z * z)
            # Σ' = J Σ_c Jᵀ with J = [[j00, 0, j02], [0, j11, j12]]
            s00 = j00 * j00 * cov[0, 0] + 2 * j00 * j02 * cov[0, 2] + j02 * j02 * cov[2, 2]
            s11 = j11 * j11 * cov[1, 1] + 2 * j11 * j12 * cov[1, 2] + j12 * j12 * cov[2, 2]
            s01 = j00 * j11 * cov[0, 1] + j00 * j12 * cov[0, 2] + j02 * j11 * cov[2, 1] + j02 * j12 * cov[2, 2]
            p, r = s00 + eps2d, s11 + eps2d
            det = max(p * r - s01 * s01, 1e-12)
            conics[n, 0], conics[n, 1], conics[n, 2] = r / det, -s01 / det, p / det
            u, v = fx * x / z + cx, fy * y / z + cy
            means2d[n, 0], means2d[n, 1] = u, v
            depths[n] = z_raw
            extent = math.sqrt(2.0 * math.log(max(255.0 * opacities[n], 1.0)))
            rx, ry = np.ceil(extent * math.sqrt(p)), np.ceil(extent * math.sqrt(r))  # floats: no int overflow
            visible = (z_raw > near) and (z_raw < far) and (255.0 * opacities[n] > 1.0)
            visible = visible and (u + rx > 0) and (u - rx < width) and (v + ry > 0) and (v - ry < height)
            radii[n, 0] = int(min(rx, RADIUS_LIMIT)) if visible else 0  # not capped by the image: binning clamps
            radii[n, 1] = int(min(ry, RADIUS_LIMIT)) if visible else 0


@njit(parallel=True, cache=True)
def _project_backward(
    means,
    quats,
    scales,
    V,
    t,
    K,
    width,
    height,
    near,
    eps2d,
    grad_means2d,
    grad_conics,
    grad_depths,
    grad_means,
    grad_quats,
    grad_scales,
):
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    lim_x_lo, lim_x_hi = -(cx / fx + 0.15 * width / fx), (width - cx) / fx + 0.15 * width / fx
    lim_y_lo, lim_y_hi = -(cy / fy + 0.15 * height / fy), (height - cy) / fy + 0.15 * height / fy
    n_total = means.shape[0]
    for chunk in prange((n_total + _CHUNK - 1) // _CHUNK):
        R, M, cov, VM = np.empty((3, 3)), np.empty((3, 3)), np.empty((3, 3)), np.empty((3, 3))  # scratch per chunk
        G, J, GJ, g_J = np.empty((2, 2)), np.empty((2, 3)), np.empty((2, 3)), np.empty((2, 3))
        g_cov_cam, tmp, g_cov, g_R = np.empty((3, 3)), np.empty((3, 3)), np.empty((3, 3)), np.empty((3, 3))
        for n in range(chunk * _CHUNK, min((chunk + 1) * _CHUNK, n_total)):
            norm = _camera_covariance(quats[n], scales[n], V, R, M, cov, VM)
            x, y, z_raw, z = _safe_camera_point(means[n], V, t, near)
            in_front = z_raw > near
            x_over_z, y_over_z = x / z, y / z
            tx = z * _clamped(x_over_z, lim_x_lo, lim_x_hi)
            ty = z * _clamped(y_over_z, lim_y_lo, lim_y_hi)
            j00, j02, j11, j12 = fx / z, -fx * tx / (z * z), fy / z, -fy * ty / (z * z)
            s00 = j00 * j00 * cov[0, 0] + 2 * j00 * j02 * cov[0, 2] + j02 * j02 * cov[2, 2]
            s11 = j11 * j11 * cov[1, 1] + 2 * j11 * j12 * cov[1, 2] + j12 * j12 * cov[2, 2]
            s01 = j00 * j11 * cov[0, 1] + j00 * j12 * cov[0, 2] + j02 * j11 * cov[2, 1] + j02 * j12 * cov[2, 2]
            p, r = s00 + eps2d, s11 + eps2d
            raw_det = p * r - s01 * s01
            # conic → Σ'
            ga, gb, gc = grad_conics[n, 0], grad_conics[n, 1], grad_conics[n, 2]
            if raw_det > 1e-12:
                det = raw_det
                g_det = -(ga * r - gb * s01 + gc * p) / (det * det)
                G[0, 0] = gc / det + g_det * r
                G[1, 1] = ga / det + g_det * p
                G[0, 1] = G[1, 0] = 0.5 * (-gb / det - 2.0 * s01 * g_det)
            else:
                det = 1e-12
                G[0, 0], G[1, 1], G[0, 1], G[1, 0] = gc / det, ga / det, -0.5 * gb / det, -0.5 * gb / det
            # Σ' = J Σ_c Jᵀ → Σ_c and J
            J[:] = 0.0
            J[0, 0], J[0, 2], J[1, 1], J[1, 2] = j00, j02, j11, j12
            for i in range(2):
                for k in range(3):
                    GJ[i, k] = G[i, 0] * J[0, k] + G[i, 1] * J[1, k]
            for i in range(3):
                for k in range(3):
                    g_cov_cam[i, k] = J[0, i] * GJ[0, k] + J[1, i] * GJ[1, k]
            for i in range(2):
                for k in range(3):
                    g_J[i, k] = 2.0 * (GJ[i, 0] * cov[0, k] + GJ[i, 1] * cov[1, k] + GJ[i, 2] * cov[2, k])
            # J and (u, v) → camera-space mean (x, y, z); the clamps pass the gradient to x or to z
            gx = grad_means2d[n, 0] * fx / z
            gy = grad_means2d[n, 1] * fy / z
            gz = -grad_means2d[n, 0] * fx * x / (z * z) - grad_means2d[n, 1] * fy * y / (z * z)
            gz += -g_J[0, 0] * fx / (z * z) - g_J[1, 1] * fy / (z * z)
            gz += g_J[0, 2] * 2.0 * fx * tx / (z * z * z) + g_J[1, 2] * 2.0 * fy * ty / (z * z * z)
            g_tx, g_ty = -g_J[0, 2] * fx / (z * z), -g_J[1, 2] * fy / (z * z)
            if lim_x_lo <= x_over_z <= lim_x_hi:
                gx += g_tx
            else:
                gz += g_tx * _clamped(x_over_z, lim_x_lo, lim_x_hi)
            if lim_y_lo <= y_over_z <= lim_y_hi:
                gy += g_ty
            else:
                gz += g_ty * _clamped(y_over_z, lim_y_lo, lim_y_hi)
            if not in_front:
                gz = 0.0  # z was replaced by the constant 1 for culled splats
            gz += grad_depths[n]
            for i in range(3):
                grad_means[n, i] = V[0, i] * gx + V[1, i] * gy + V[2, i] * gz  # Vᵀ ∂μ_c
            # Σ_c = V Σ Vᵀ → Σ;  Σ = M Mᵀ → M;  M = R diag(s) → R, s
            for i in range(3):
                for k in range(3):
                    tmp[i, k] = g_cov_cam[i, 0] * V[0, k] + g_cov_cam[i, 1] * V[1, k] + g_cov_cam[i, 2] * V[2, k]
            for i in range(3):
                for k in range(3):
                    g_cov[i, k] = V[0, i] * tmp[0, k] + V[1, i] * tmp[1, k] + V[2, i] * tmp[2, k]
            for j in range(3):
                g_s = 0.0
                for i in range(3):
                    g_m = 2.0 * (g_cov[i, 0] * M[0, j] + g_cov[i, 1] * M[1, j] + g_cov[i, 2] * M[2, j])
                    g_R[i, j] = g_m * scales[n, j]
                    g_s += g_m * R[i, j]
                grad_scales[n, j] = g_s
            # R(w, x, y, z) → normalised quaternion → quaternion
            w, qx, qy, qz = quats[n, 0] / norm, quats[n, 1] / norm, quats[n, 2] / norm, quats[n, 3] / norm
            gw = 2 * (
                -qz * g_R[0, 1] + qy * g_R[0, 2] + qz * g_R[1, 0] - qx * g_R[1, 2] - qy * g_R[2, 0] + qx * g_R[2, 1]
            )
            gqx = 2 * (
                qy * g_R[0, 1]
                + qz * g_R[0, 2]
                + qy * g_R[1, 0]
                - 2 * qx * g_R[1, 1]
                - w * g_R[1, 2]
                + qz * g_R[2, 0]
                + w * g_R[2, 1]
                - 2 * qx * g_R[2, 2]
            )
            gqy = 2 * (
                -2 * qy * g_R[0, 0]
                + qx * g_R[0, 1]
                + w * g_R[0, 2]
                + qx * g_R[1, 0]
                + qz * g_R[1, 2]
                - w * g_R[2, 0]
                + qz * g_R[2, 1]
                - 2 * qy * g_R[2, 2]
            )
            gqz = 2 * (
                -2 * qz * g_R[0, 0]
                - w * g_R[0, 1]
                + qx * g_R[0, 2]
                + w * g_R[1, 0]
                - 2 * qz * g_R[1, 1]
                + qy * g_R[1, 2]
                + qx * g_R[2, 0]
                + qy * g_R[2, 1]
            )
            dot = w * gw + qx * gqx + qy * gqy + qz * gqz
            grad_quats[n, 0] = (gw - w * dot) / norm
            grad_quats[n, 1] = (gqx - qx * dot) / norm
            grad_quats[n, 2] = (gqy - qy * dot) / norm
            grad_quats[n, 3] = (gqz - qz * dot) / norm


def _f64(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to(device="cpu", dtype=torch.float64).contiguous().numpy()


class _ProjectFast(torch.autograd.Function):
    """Autograd wrapper: (means, quats, scales) → (means2d, conics, depths); radii are non-differentiable."""

    @staticmethod
    def forward(ctx, means, quats, scales, opacities, camera: Camera, eps2d: float):
        n = means.shape[0]
        V, t, K = _f64(camera.viewmat[:3, :3]), _f64(camera.viewmat[:3, 3]), _f64(camera.K)
        arrays = (_f64(means), _f64(quats), _f64(scales))
        means2d, conics, depths = np.empty((n, 2)), np.empty((n, 3)), np.empty(n)
        radii = np.empty((n, 2), np.int32)
        _project_forward(
            *arrays,
            _f64(opacities),
            V,
            t,
            K,
            camera.width,
            camera.height,
            camera.near,
            camera.far,
            eps2d,
            means2d,
            conics,
            depths,
            radii,
        )
        ctx.saved = (arrays, V, t, K, camera, eps2d, (means.device, means.dtype))
        to = dict(device=means.device, dtype=means.dtype)
        radii = torch.from_numpy(radii).to(device=means.device)
        ctx.mark_non_differentiable(radii)
        return (
            torch.from_numpy(means2d).to(**to),
            torch.from_numpy(conics).to(**to),
            torch.from_numpy(depths).to(**to),
            radii,
        )

    @staticmethod
    def backward(ctx, grad_means2d, grad_conics, grad_depths, _grad_radii):
        (means, quats, scales), V, t, K, camera, eps2d, (device, dtype) = ctx.saved
        n = means.shape[0]
        with stage("backward: projection"):
            grad_means, grad_quats, grad_scales = np.empty((n, 3)), np.empty((n, 4)), np.empty((n, 3))
            _project_backward(
                means,
                quats,
                scales,
                V,
                t,
                K,
                camera.width,
                camera.height,
                camera.near,
                eps2d,
                _f64(grad_means2d),
                _f64(grad_conics),
                _f64(grad_depths),
                grad_means,
                grad_quats,
                grad_scales,
            )
            to = dict(device=device, dtype=dtype)
            return (
                torch.from_numpy(grad_means).to(**to),
                torch.from_numpy(grad_quats).to(**to),
                torch.from_numpy(grad_scales).to(**to),
                None,
                None,
                None,
            )


def project_gaussians_fast(
    means: torch.Tensor,
    quats: torch.Tensor,
    scales: torch.Tensor,
    opacities: torch.Tensor,
    camera: Camera,
    eps2d: float,
) -> Projection:
    """Same contract as :func:`talkinghead_edu.render.projection.project_gaussians` (``means_cam`` not returned:
    None)."""
    means2d, conics, depths, radii = _ProjectFast.apply(means, quats, scales, opacities, camera, eps2d)
    return Projection(means2d, conics, depths, radii, None)
