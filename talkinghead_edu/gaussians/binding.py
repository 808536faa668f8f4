"""Binding Gaussians to the triangles of a mesh (paper §3.3.1, eqs 11–15).

Every Gaussian lives in the local coordinate system of one triangle ``T = (v0, v1, v2)``:

* origin   ``P = η0 v0 + η1 v1 + η2 v2``                         (eq 11)
* rotation ``R = [n0 n1 n2]`` (the unit vectors are the *columns*)  (eq 12)
* scale    ``S = (|e01| + |e02| + |e12|) / 3``                     (eq 13)
* axes     ``n0 = e01/|e01|``, ``n1 = (e01 × e02)/|e01 × e02|`` (the normal),
  ``n2 = n0 × n1``                                                  (eq 14)

``R`` maps local coordinates to world coordinates, ``det R = +1``. A Gaussian stored in
local space as position ``ū``, rotation ``r̄`` and scale ``s̄`` is placed in the world by

    ``u = R ū + P``,  ``r = R r̄``,  ``s = S s̄``                    (eq 15)

so ``ū`` is in world units (metres) measured along the triangle's axes, and ``s̄`` is a
multiple of the triangle's mean edge length. Rotations here are unit quaternions
``(w, x, y, z)`` (gsplat's convention) and scales are stored as logarithms, so
``log s = log S + log s̄``.

Shapes: B batch, V vertices, F faces, N Gaussians.

This is the PyTorch version, the one to read. On the CPU, :class:`~.model.GaussianHead` runs the
same equations as two numba kernels (:mod:`.fused`, where the measured reason is given); the
tests check both against each other and against a transcription of the paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = [
    "TriangleFrames",
    "check_mesh",
    "triangle_frames",
    "face_orientations",
    "barycentric_origin",
    "local_to_world",
    "quat_to_rotmat",
    "rotmat_to_quat",
    "quat_multiply",
    "axis_angle_to_quat",
]


@dataclass
class TriangleFrames:
    """Local frames of F triangles (eqs 12–14) for a batch of B meshes.

    Attributes:
        corners: ``(B, F, 3, 3)`` the triangle corners ``v0, v1, v2`` (``corners[..., k, :] = v_k``).
        rotation: ``(B, F, 3, 3)`` ``R`` with columns ``n0, n1, n2``.
        scale: ``(B, F)`` ``S``, the mean edge length.
    """

    corners: torch.Tensor
    rotation: torch.Tensor
    scale: torch.Tensor


def check_mesh(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """``(B, V, 3)`` vertices (a ``(V, 3)`` mesh gets B = 1) after checking the shapes and that ``faces`` index them."""
    if vertices.dim() == 2:
        vertices = vertices.unsqueeze(0)
    if vertices.dim() != 3 or vertices.shape[-1] != 3:
        raise ValueError(f"vertices must be (V, 3) or (B, V, 3), got {tuple(vertices.shape)}")
    if faces.dim() != 2 or faces.shape[-1] != 3:
        raise ValueError(f"faces must be (F, 3) vertex indices, got {tuple(faces.shape)}")
    if faces.numel() and (int(faces.min()) < 0 or int(faces.max()) >= vertices.shape[1]):
        raise ValueError(
            f"faces index vertices 0..{vertices.shape[1] - 1}, found indices in [{int(faces.min())}, "
            f"{int(faces.max())}]"
        )
    return vertices


def triangle_frames(vertices: torch.Tensor, faces: torch.Tensor, eps: float = 1e-12) -> TriangleFrames:
    """Eqs 12–14: the rotation ``R`` and scale ``S`` of every triangle.

    Args:
        vertices: ``(B, V, 3)`` or ``(V, 3)`` mesh vertices.
        faces: ``(F, 3)`` long vertex indices.
        eps: guards the normalisations for degenerate (zero-area) triangles.

    Returns:
        :class:`TriangleFrames` with a batch dimension ``B`` (1 if ``vertices`` was ``(V, 3)``).
    """
    vertices = check_mesh(vertices, faces)
    corners = vertices[:, faces.long()]  # (B, F, 3 corners, 3 xyz)
    v0, v1, v2 = corners.unbind(dim=2)
    e01, e02, e12 = v1 - v0, v2 - v0, v2 - v1
    length01 = e01.norm(dim=-1)
    n0 = e01 / length01.clamp_min(eps).unsqueeze(-1)  # eq 14
    normal = torch.cross(e01, e02, dim=-1)
    n1 = normal / normal.norm(dim=-1).clamp_min(eps).unsqueeze(-1)  # eq 14
    n2 = torch.cross(n0, n1, dim=-1)  # eq 14
    rotation = torch.stack([n0, n1, n2], dim=-1)  # eq 12, columns n0 n1 n2: (B, F, 3, 3)
    scale = (length01 + e02.norm(dim=-1) + e12.norm(dim=-1)) / 3.0  # eq 13
    return TriangleFrames(corners=corners, rotation=rotation, scale=scale)


def face_orientations(frames: TriangleFrames) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq 15's per-triangle factors: ``R`` as unit quaternions ``(B, F, 4)`` and ``log S`` ``(B, F)``.

    Computed once per triangle, then gathered per Gaussian (a head has ~2 Gaussians per triangle).
    """
    return rotmat_to_quat(frames.rotation), frames.scale.clamp_min(1e-12).log()


def barycentric_origin(corners: torch.Tensor, eta: torch.Tensor) -> torch.Tensor:
    """Eq 11: ``P = η0 v0 + η1 v1 + η2 v2``.

    Args:
        corners: ``(..., 3, 3)`` triangle corners (``corners[..., k, :] = v_k``).
        eta: ``(..., 3)`` barycentric coefficients (broadcast against ``corners``).

    Returns:
        ``(..., 3)`` the origins.
    """
    # P[..., d] = sum_k eta[..., k] * corners[..., k, d]
    return torch.einsum("...k,...kd->...d", eta, corners)


# ----------------------------------------------------------------------------- quaternions
def quat_to_rotmat(quats: torch.Tensor) -> torch.Tensor:
    """``(..., 4)`` quaternions ``(w, x, y, z)`` (normalised here) -> ``(..., 3, 3)`` rotation matrices."""
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


def rotmat_to_quat(rotation: torch.Tensor) -> torch.Tensor:
    """``(..., 3, 3)`` rotation matrices -> ``(..., 4)`` unit quaternions ``(w, x, y, z)`` with ``w >= 0``.

    Shepperd's method: ``2|q_i| = sqrt(1 ± R00 ± R11 ± R22)`` for each component; the
    largest one is computed from the diagonal and the other three from off-diagonal sums and
    differences divided by it, which is accurate for every rotation including 180° turns.
    """
    m = rotation
    r00, r01, r02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    r10, r11, r12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    r20, r21, r22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    twice_abs = torch.sqrt(
        torch.stack(
            [1 + r00 + r11 + r22, 1 + r00 - r11 - r22, 1 - r00 + r11 - r22, 1 - r00 - r11 + r22], dim=-1
        ).clamp_min(1e-12)
    )  # (..., 4): 2|w|, 2|x|, 2|y|, 2|z|
    candidates = torch.stack(
        [
            torch.stack([twice_abs[..., 0] ** 2, r21 - r12, r02 - r20, r10 - r01], dim=-1),
            torch.stack([r21 - r12, twice_abs[..., 1] ** 2, r10 + r01, r02 + r20], dim=-1),
            torch.stack([r02 - r20, r10 + r01, twice_abs[..., 2] ** 2, r12 + r21], dim=-1),
            torch.stack([r10 - r01, r20 + r02, r21 + r12, twice_abs[..., 3] ** 2], dim=-1),
        ],
        dim=-2,
    ) / (2.0 * twice_abs.unsqueeze(-1))  # row i: the quaternion computed from component i
    best = twice_abs.argmax(dim=-1, keepdim=True)  # (..., 1)
    quats = torch.gather(candidates, -2, best.unsqueeze(-1).expand(*best.shape, 4)).squeeze(-2)
    quats = torch.where(quats[..., :1] < 0, -quats, quats)
    return torch.nn.functional.normalize(quats, dim=-1)


def quat_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product ``a ⊗ b`` of ``(..., 4)`` quaternions ``(w, x, y, z)``: rotation ``b`` first, then ``a``."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        dim=-1,
    )


def axis_angle_to_quat(axis_angle: torch.Tensor) -> torch.Tensor:
    """``(..., 3)`` axis-angle vectors (angle = norm, radians) -> ``(..., 4)`` unit quaternions.

    ``q = (cos(θ/2), sin(θ/2)/θ · a)``; ``sin(θ/2)/θ`` is evaluated with its Taylor series near 0
    so that the zero rotation has a clean gradient.
    """
    angle_sq = (axis_angle * axis_angle).sum(-1, keepdim=True)
    angle = angle_sq.clamp_min(1e-16).sqrt()
    small = angle_sq < 1e-8
    half_sinc = torch.where(small, 0.5 - angle_sq / 48.0, torch.sin(0.5 * angle) / angle)
    cos_half = torch.where(small, 1.0 - angle_sq / 8.0, torch.cos(0.5 * angle))
    return torch.cat([cos_half, half_sinc * axis_angle], dim=-1)


# ----------------------------------------------------------------------------- eq 15
def local_to_world(
    frames: TriangleFrames,
    triangle_ids: torch.Tensor,
    eta: torch.Tensor,
    local_means: torch.Tensor,
    local_quats: torch.Tensor,
    local_log_scales: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eq 15: place N bound Gaussians in world space.

    Args:
        frames: triangle frames of B meshes (:func:`triangle_frames`).
        triangle_ids: ``(N,)`` long, the parent triangle ``T`` of each Gaussian.
        eta: ``(N, 3)`` barycentric coefficients (summing to 1).
        local_means: ``(N, 3)`` or ``(B, N, 3)`` ``ū`` (or ``ū'`` of eq 17).
        local_quats: ``(N, 4)`` or ``(B, N, 4)`` ``r̄`` as quaternions ``(w, x, y, z)``.
        local_log_scales: ``(N, 3)`` ``log s̄``.

    Returns:
        ``means (B, N, 3)``, ``quats (B, N, 4)`` (unit), ``log_scales (B, N, 3)``.
    """
    n = triangle_ids.shape[0]
    for name, tensor, width in (
        ("eta", eta, 3),
        ("local_means", local_means, 3),
        ("local_quats", local_quats, 4),
        ("local_log_scales", local_log_scales, 3),
    ):
        if tensor.shape[-1] != width or tensor.shape[-2] != n:
            raise ValueError(
                f"{name} must be (N={n}, {width}) (optionally with a leading batch), got {tuple(tensor.shape)}"
            )
    batch = frames.rotation.shape[0]
    local_means = local_means.expand(batch, n, 3)
    face_quats, face_log_scales = face_orientations(frames)  # per triangle, gathered per Gaussian below
    rotation = frames.rotation[:, triangle_ids]  # (B, N, 3, 3)
    origin = barycentric_origin(frames.corners[:, triangle_ids], eta)  # eq 11: (B, N, 3)
    # eq 15, u = R ū + P: means[b, n, i] = sum_j R[b, n, i, j] * ū[b, n, j] + P[b, n, i]
    means = torch.einsum("bnij,bnj->bni", rotation, local_means) + origin
    quats = quat_multiply(face_quats[:, triangle_ids], torch.nn.functional.normalize(local_quats, dim=-1))  # r = R r̄
    log_scales = face_log_scales[:, triangle_ids].unsqueeze(-1) + local_log_scales  # log s = log S + log s̄
    return means, quats, log_scales
