"""From 3D Gaussians to 2D splats: covariance, EWA projection, conic, radius (shared by all CPU backends).

Steps (3DGS / EWA splatting; the paper's eq 9 composites the result):

1. ``Σ = R S Sᵀ Rᵀ`` from the quaternion and the scales (:func:`covariance_3d`);
2. view transform ``μ_c = R_v μ + t_v``, ``Σ_c = R_v Σ R_vᵀ`` (:func:`world_to_camera`);
3. perspective Jacobian ``J`` of ``(x, y, z) ↦ (fx x/z + cx, fy y/z + cy)`` at ``μ_c``
   and ``Σ' = J Σ_c Jᵀ`` (:func:`perspective_jacobian`, :func:`covariance_2d`) — the
   first-order (local affine) approximation of the projection of a Gaussian;
4. a low-pass dilation ``Σ' + ε I`` (ε = 0.3 px², so every splat covers about a pixel),
   the conic ``Σ'^{-1}`` stored as ``(a, b, c)`` so that
   ``σ(d) = ½ (a dx² + c dy²) + b dx dy`` and a splat's alpha is ``o · exp(−σ)``;
5. a screen-space radius per axis: a pixel only counts when ``alpha ≥ 1/255``, i.e.
   ``σ ≤ log(255 o)``, which bounds ``|dx| ≤ sqrt(2 log(255 o) Σ'_xx)`` — the radius is the
   ceiling of that (0 when culled: behind the near plane, beyond far, opacity < 1/255,
   or the box misses the image). The radius is not capped by the image size: a large splat
   whose centre lies far off-screen still reaches into it, and binning clamps its box to
   the tile grid (:func:`tile_ranges`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .camera import Camera

ALPHA_MIN = 1.0 / 255.0  # contributions below this alpha are skipped (3DGS)
ALPHA_MAX = 0.999  # alpha is clamped here so that 1 − alpha never vanishes
TRANSMITTANCE_MIN = 1e-4  # a pixel stops when its transmittance would fall below this
EPS2D = 0.3  # low-pass dilation of the 2D covariance, pixels²
TILE_SIZE = 16
RADIUS_LIMIT = 2**30  # radii are stored as int32; a box this wide covers any image, binning clamps it to the tiles


def quat_to_rotmat(quats: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (N, 3, 3) from quaternions (N, 4) ``(w, x, y, z)`` (normalised here)."""
    w, x, y, z = torch.nn.functional.normalize(quats, dim=-1).unbind(-1)
    rows = [
        1 - 2 * (y * y + z * z),
        2 * (x * y - w * z),
        2 * (x * z + w * y),
        2 * (x * y + w * z),
        1 - 2 * (x * x + z * z),
        2 * (y * z - w * x),
        2 * (x * z - w * y),
        2 * (y * z + w * x),
        1 - 2 * (x * x + y * y),
    ]
    return torch.stack(rows, dim=-1).reshape(*quats.shape[:-1], 3, 3)


def covariance_3d(quats: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """``Σ = (R S)(R S)ᵀ`` (N, 3, 3) from quaternions (N, 4) and standard deviations (N, 3)."""
    rs = quat_to_rotmat(quats) * scales[:, None, :]  # R @ diag(s), (N, 3, 3)
    return rs @ rs.transpose(-1, -2)


def world_to_camera(means: torch.Tensor, covariances: torch.Tensor, viewmat: torch.Tensor):
    """Means (N, 3) and covariances (N, 3, 3) in camera coordinates: ``R μ + t``, ``R Σ Rᵀ``."""
    rotation, translation = viewmat[:3, :3], viewmat[:3, 3]
    return means @ rotation.T + translation, rotation @ covariances @ rotation.T


def perspective_jacobian(means_cam: torch.Tensor, K: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Jacobian (N, 2, 3) of the pinhole projection at the camera-space means (N, 3).

    ``J = [[fx/z, 0, −fx x/z²], [0, fy/z, −fy y/z²]]``. As in 3DGS/gsplat, ``x/z`` and
    ``y/z`` are clamped to 1.3× the field of view first, so that Gaussians far outside
    the image do not get huge, meaningless footprints.
    """
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    x, y, z = means_cam.unbind(-1)
    margin_x, margin_y = 0.3 * 0.5 * width / fx, 0.3 * 0.5 * height / fy
    x = z * torch.clamp(x / z, min=-(cx / fx + margin_x), max=(width - cx) / fx + margin_x)
    y = z * torch.clamp(y / z, min=-(cy / fy + margin_y), max=(height - cy) / fy + margin_y)
    zero = torch.zeros_like(z)
    return torch.stack([fx / z, zero, -fx * x / (z * z), zero, fy / z, -fy * y / (z * z)], dim=-1).reshape(-1, 2, 3)


def covariance_2d(jacobian: torch.Tensor, covariances_cam: torch.Tensor) -> torch.Tensor:
    """Screen-space covariance ``Σ' = J Σ_c Jᵀ`` (N, 2, 2) (EWA, local affine approximation)."""
    return jacobian @ covariances_cam @ jacobian.transpose(-1, -2)


def conic_from_covariance_2d(cov2d: torch.Tensor, eps2d: float = EPS2D) -> torch.Tensor:
    """Dilate ``Σ' + ε I`` and invert it: conic (N, 3) = ``(a, b, c)`` with ``Σ'^{-1} = [[a, b], [b, c]]``."""
    sxx = cov2d[:, 0, 0] + eps2d
    syy = cov2d[:, 1, 1] + eps2d
    sxy = 0.5 * (cov2d[:, 0, 1] + cov2d[:, 1, 0])
    det = (sxx * syy - sxy * sxy).clamp_min(1e-12)
    return torch.stack([syy / det, -sxy / det, sxx / det], dim=-1)


@dataclass
class Projection:
    """Everything the compositing step needs about N splats.

    Attributes:
        means2d: (N, 2) pixel positions ``(u, v)``.
        conics: (N, 3) ``(a, b, c)`` of the inverse dilated 2D covariance.
        depths: (N,) camera-space z (the sort key).
        radii: (N, 2) int32 half-widths of the screen box, 0 when culled.
        means_cam: (N, 3) camera-space means.
    """

    means2d: torch.Tensor
    conics: torch.Tensor
    depths: torch.Tensor
    radii: torch.Tensor
    means_cam: torch.Tensor


def project_gaussians(
    means: torch.Tensor,
    quats: torch.Tensor,
    scales: torch.Tensor,
    opacities: torch.Tensor,
    camera: Camera,
    eps2d: float = EPS2D,
) -> Projection:
    """Project N Gaussians (steps 1–5 of the module docstring), differentiably.

    Args:
        means: (N, 3) world positions. quats: (N, 4) wxyz. scales: (N, 3) standard deviations.
        opacities: (N,) in (0, 1) (only used to size the screen box).
        camera: the :class:`Camera`.
    """
    K = camera.K.to(means.dtype)
    viewmat = camera.viewmat.to(means.dtype)
    means_cam, cov_cam = world_to_camera(means, covariance_3d(quats, scales), viewmat)
    depths = means_cam[:, 2]
    safe_z = torch.where(depths > camera.near, depths, torch.ones_like(depths))  # keeps culled splats finite
    means_cam_safe = torch.cat([means_cam[:, :2], safe_z[:, None]], dim=-1)
    cov2d = covariance_2d(perspective_jacobian(means_cam_safe, K, camera.width, camera.height), cov_cam)
    conics = conic_from_covariance_2d(cov2d, eps2d)
    means2d = means_cam_safe[:, :2] / safe_z[:, None] * torch.stack([K[0, 0], K[1, 1]]) + K[:2, 2]  # u = fx x/z + cx
    with torch.no_grad():
        extent = torch.sqrt(
            2.0 * torch.log((255.0 * opacities).clamp_min(1.0))
        )  # Mahalanobis radius where alpha = 1/255
        half_width = extent[:, None] * torch.sqrt(torch.stack([cov2d[:, 0, 0], cov2d[:, 1, 1]], dim=-1) + eps2d)
        radii = torch.ceil(half_width)
        valid = (depths > camera.near) & (depths < camera.far) & (255.0 * opacities > 1.0)
        valid &= torch.isfinite(means2d).all(-1) & torch.isfinite(radii).all(-1)
        inside = (
            (means2d[:, 0] + radii[:, 0] > 0)
            & (means2d[:, 0] - radii[:, 0] < camera.width)
            & (means2d[:, 1] + radii[:, 1] > 0)
            & (means2d[:, 1] - radii[:, 1] < camera.height)
        )
        radii = torch.where((valid & inside)[:, None], radii, torch.zeros_like(radii))
        radii = radii.clamp_max(RADIUS_LIMIT).to(torch.int32)
    return Projection(means2d, conics, depths, radii, means_cam)


def tile_ranges(means2d: torch.Tensor, radii: torch.Tensor, width: int, height: int, tile_size: int = TILE_SIZE):
    """Inclusive tile index ranges (N, 2) ``x_min, x_max`` and ``y_min, y_max`` touched by each splat's box.

    Culled splats (radius 0) get an empty range (min > max).
    """
    tiles_x, tiles_y = (width + tile_size - 1) // tile_size, (height + tile_size - 1) // tile_size
    r = radii.to(means2d.dtype)
    low = torch.floor((means2d.detach() - r) / tile_size)
    high = torch.floor((means2d.detach() + r) / tile_size)
    limit = torch.tensor([tiles_x - 1, tiles_y - 1], dtype=means2d.dtype, device=means2d.device)
    low = torch.minimum(torch.clamp_min(low, 0), limit + 1).long()
    high = torch.maximum(torch.minimum(high, limit), torch.full_like(high, -1)).long()
    culled = (radii <= 0).any(-1)
    high[culled] = -1
    low[culled] = 0
    return low, high
