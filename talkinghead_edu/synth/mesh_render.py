"""A small z-buffer triangle renderer for making the bundled video frames.

This is the *mesh* renderer that draws the ground-truth frames of the dataset (the
"camera" that films our synthetic speakers). It is not the Gaussian rasterizer of
``talkinghead_edu.render``; the Gaussians learn to reproduce what this renderer draws.

Steps (one function each):

1. :func:`world_to_camera` and :func:`project` — pinhole camera, OpenCV axes (camera x
   right, y down, z forward), ``(u, v) = K @ x_cam / z`` in pixels. Pixel ``(row i,
   column j)`` covers ``[j, j+1) x [i, i+1)`` and its centre is ``(j + 0.5, i + 0.5)``
   (the convention of ``talkinghead_edu.render``).
2. :func:`rasterize` — for every pixel centre, the nearest triangle (z-buffer) and the
   perspective-correct barycentric coordinates of the centre inside it.
3. :func:`interpolate` — any per-corner attribute (colour, normal, UV, 3D position) at
   every pixel, ``a(p) = sum_k b_k(p) a_k``.
4. :func:`sample_texture` — bilinear UV texture lookup.
5. :func:`shade` — simple lighting: ambient + Lambert diffuse + Blinn–Phong specular.

The inner loop of step 2 is compiled with numba; everything else is vectorised numpy.
Arrays are float32/float64 numpy arrays, not torch tensors (the renderer needs no
gradients).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

__all__ = [
    "Fragments",
    "world_to_camera",
    "project",
    "rasterize",
    "rasterize_uv",
    "interpolate",
    "face_values",
    "vertex_normals",
    "sample_texture",
    "shade",
]


@dataclass
class Fragments:
    """What :func:`rasterize` found at each pixel.

    Attributes:
        face_index: ``(H, W)`` int32, the visible triangle, ``-1`` where no triangle covers the pixel centre.
        bary: ``(H, W, 3)`` float32 perspective-correct barycentric coordinates of the pixel
            centre in that triangle (zeros where ``face_index == -1``); they sum to 1.
        depth: ``(H, W)`` float32 camera-space ``z`` of the visible surface, ``inf`` where empty.
    """

    face_index: np.ndarray
    bary: np.ndarray
    depth: np.ndarray

    @property
    def covered(self) -> np.ndarray:
        """``(H, W)`` bool, True where a triangle is visible."""
        return self.face_index >= 0


def _check_points(name: str, points: np.ndarray) -> np.ndarray:
    points = np.asarray(points)
    if points.ndim < 1 or points.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (..., 3), got {points.shape}")
    return points


def world_to_camera(points_world: np.ndarray, viewmat: np.ndarray) -> np.ndarray:
    """Apply a world-to-camera transform: ``x_cam = R x_world + t``.

    Args:
        points_world: ``(..., 3)`` points in world coordinates.
        viewmat: ``(4, 4)`` world-to-camera matrix ``[[R, t], [0, 1]]`` (OpenCV axes).

    Returns:
        ``(..., 3)`` camera-space points.
    """
    points_world = _check_points("points_world", points_world)
    viewmat = np.asarray(viewmat, dtype=np.float64)
    if viewmat.shape != (4, 4):
        raise ValueError(f"viewmat must be a (4, 4) world-to-camera matrix, got {viewmat.shape}")
    return points_world @ viewmat[:3, :3].T + viewmat[:3, 3]


def project(points_camera: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pinhole projection of camera-space points to pixel coordinates.

    ``(u, v) = (fx x / z + cx, fy y / z + cy)`` — i.e. ``K @ x_cam / z``.

    Args:
        points_camera: ``(..., 3)`` with ``z > 0`` in front of the camera.
        K: ``(3, 3)`` intrinsics.

    Returns:
        ``(..., 2)`` pixel coordinates ``(u, v)`` (u to the right, v down; centres at +0.5).
    """
    points_camera = _check_points("points_camera", points_camera)
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3):
        raise ValueError(f"K must be a (3, 3) intrinsics matrix, got {K.shape}")
    homogeneous = points_camera @ K.T
    return homogeneous[..., :2] / homogeneous[..., 2:3]


@numba.njit(cache=True)
def _rasterize_kernel(screen, faces, near, face_index, bary, zbuffer):  # pragma: no cover - compiled
    """Z-buffer scan conversion. ``screen`` (V,3) = (u, v, z_camera) per vertex."""
    height, width = face_index.shape
    for f in range(faces.shape[0]):
        a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
        za, zb, zc = screen[a, 2], screen[b, 2], screen[c, 2]
        if za <= near or zb <= near or zc <= near:
            continue  # no clipping: triangles crossing the near plane are dropped
        ua, va = screen[a, 0], screen[a, 1]
        ub, vb = screen[b, 0], screen[b, 1]
        uc, vc = screen[c, 0], screen[c, 1]
        # twice the signed screen-space area; edge functions divided by it give barycentrics
        area = (ub - ua) * (vc - va) - (uc - ua) * (vb - va)
        if area == 0.0:
            continue
        # pixel (i, j) has its centre at (j + 0.5, i + 0.5): columns j with j + 0.5 in [min u, max u]
        j0 = max(int(np.ceil(min(ua, ub, uc) - 0.5)), 0)
        j1 = min(int(np.floor(max(ua, ub, uc) - 0.5)), width - 1)
        i0 = max(int(np.ceil(min(va, vb, vc) - 0.5)), 0)
        i1 = min(int(np.floor(max(va, vb, vc) - 0.5)), height - 1)
        for i in range(i0, i1 + 1):
            pv = i + 0.5
            for j in range(j0, j1 + 1):
                pu = j + 0.5
                # screen-space (affine) barycentrics l_a, l_b, l_c
                la = ((ub - pu) * (vc - pv) - (uc - pu) * (vb - pv)) / area
                lb = ((uc - pu) * (va - pv) - (ua - pu) * (vc - pv)) / area
                lc = 1.0 - la - lb
                if la < 0.0 or lb < 0.0 or lc < 0.0:
                    continue
                # perspective correction: 1/z is affine in screen space
                inv_z = la / za + lb / zb + lc / zc
                z = 1.0 / inv_z
                if z < zbuffer[i, j]:
                    zbuffer[i, j] = z
                    face_index[i, j] = f
                    bary[i, j, 0] = la / za * z
                    bary[i, j, 1] = lb / zb * z
                    bary[i, j, 2] = lc / zc * z


def rasterize(
    vertices_camera: np.ndarray,
    faces: np.ndarray,
    K: np.ndarray,
    height: int,
    width: int,
    near: float = 1e-3,
) -> Fragments:
    """Find the visible triangle and its barycentric coordinates at every pixel centre.

    Args:
        vertices_camera: ``(V, 3)`` camera-space vertices (OpenCV axes, ``z`` forward).
        faces: ``(F, 3)`` integer vertex indices.
        K: ``(3, 3)`` intrinsics.
        height, width: image size ``H, W``.
        near: triangles with a vertex at ``z <= near`` are skipped (no clipping).

    Returns:
        :class:`Fragments` with ``(H, W)`` arrays.

    Example:
        >>> frag = rasterize(verts_cam, faces, K, 256, 256)
        >>> colour = interpolate(vertex_colours[faces], frag)   # (256, 256, 3)
    """
    vertices_camera = _check_points("vertices_camera", vertices_camera).astype(np.float64)
    if vertices_camera.ndim != 2:
        raise ValueError(f"vertices_camera must be (V, 3), got {vertices_camera.shape}")
    faces = np.asarray(faces)
    if faces.ndim != 2 or faces.shape[1] != 3 or not np.issubdtype(faces.dtype, np.integer):
        raise ValueError(f"faces must be an integer (F, 3) array, got {faces.dtype} {faces.shape}")
    if faces.size and (faces.min() < 0 or faces.max() >= len(vertices_camera)):
        raise ValueError(f"faces index vertices outside [0, {len(vertices_camera)})")
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    uv = project(vertices_camera, K)
    screen = np.concatenate([uv, vertices_camera[:, 2:3]], axis=1)
    face_index = np.full((height, width), -1, dtype=np.int32)
    bary = np.zeros((height, width, 3), dtype=np.float32)
    zbuffer = np.full((height, width), np.inf, dtype=np.float64)
    _rasterize_kernel(screen, faces.astype(np.int64), float(near), face_index, bary, zbuffer)
    return Fragments(face_index, bary, zbuffer.astype(np.float32))


def rasterize_uv(vt: np.ndarray, ft: np.ndarray, size: int) -> Fragments:
    """Rasterize a mesh's UV layout into a ``size × size`` texture (for baking textures).

    Texel ``(row, col)`` has UV ``((col + 0.5) / size, 1 - (row + 0.5) / size)`` (v up, the
    convention of :func:`sample_texture`). The barycentrics are affine (all depths 1).

    Args:
        vt: ``(Vt, 2)`` UV coordinates in ``[0, 1]``.
        ft: ``(F, 3)`` UV indices per triangle.
        size: texture side in texels.
    """
    vt = np.asarray(vt, dtype=np.float64)
    if vt.ndim != 2 or vt.shape[1] != 2:
        raise ValueError(f"vt must be (Vt, 2) UV coordinates, got {vt.shape}")
    # An orthographic "camera" with K = diag(size, -size, 1) + offsets maps (u, v, 1) to texels.
    points = np.stack([vt[:, 0], vt[:, 1], np.ones(len(vt))], axis=1)
    K = np.array([[size, 0.0, 0.0], [0.0, -size, size], [0.0, 0.0, 1.0]])
    return rasterize(points, ft, K, size, size)


def interpolate(corner_values: np.ndarray, fragments: Fragments, background: float = 0.0) -> np.ndarray:
    """Barycentric interpolation ``a(p) = sum_k b_k(p) a_k`` of per-corner values.

    Args:
        corner_values: ``(F, 3, C)`` values at the three corners of each triangle (for
            per-vertex attributes pass ``vertex_values[faces]``).
        fragments: from :func:`rasterize`.
        background: value where no triangle is visible.

    Returns:
        ``(H, W, C)`` float32.
    """
    corner_values = np.asarray(corner_values)
    if corner_values.ndim != 3 or corner_values.shape[1] != 3:
        raise ValueError(f"corner_values must be (F, 3, C), got {corner_values.shape}")
    covered = fragments.covered
    out = np.full(fragments.face_index.shape + (corner_values.shape[2],), background, dtype=np.float32)
    corners = corner_values[fragments.face_index[covered]]  # (P, 3, C)
    out[covered] = np.einsum("pk,pkc->pc", fragments.bary[covered], corners)
    return out


def face_values(values: np.ndarray, fragments: Fragments, background=0) -> np.ndarray:
    """Per-triangle values (e.g. semantic labels ``(F,)``) at every pixel -> ``(H, W, ...)``."""
    values = np.asarray(values)
    out = np.full(fragments.face_index.shape + values.shape[1:], background, dtype=values.dtype)
    covered = fragments.covered
    out[covered] = values[fragments.face_index[covered]]
    return out


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals ``(V, 3)`` (triangles counter-clockwise seen from outside)."""
    vertices = np.asarray(vertices, dtype=np.float64)
    corners = vertices[faces]  # (F, 3, 3)
    face_normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])  # |n| = 2 area
    normals = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(normals, faces[:, k], face_normal)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return (normals / np.maximum(length, 1e-12)).astype(np.float32)


def sample_texture(texture: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear texture lookup with clamped borders.

    UV ``(0, 0)`` is the bottom-left corner of the image and ``(1, 1)`` the top-right
    (v up, as in FLAME/OBJ files): texel ``(row, col)`` has its centre at
    ``u = (col + 0.5) / W_t``, ``v = 1 - (row + 0.5) / H_t``.

    Args:
        texture: ``(H_t, W_t, C)`` image.
        uv: ``(..., 2)`` coordinates.

    Returns:
        ``(..., C)`` float32.
    """
    texture = np.asarray(texture, dtype=np.float32)
    if texture.ndim != 3:
        raise ValueError(f"texture must be (H_t, W_t, C), got {texture.shape}")
    uv = np.asarray(uv, dtype=np.float64)
    if uv.shape[-1] != 2:
        raise ValueError(f"uv must have shape (..., 2), got {uv.shape}")
    tex_h, tex_w = texture.shape[:2]
    col = uv[..., 0] * tex_w - 0.5
    row = (1.0 - uv[..., 1]) * tex_h - 0.5
    col0 = np.floor(col)
    row0 = np.floor(row)
    weight_col = (col - col0)[..., None].astype(np.float32)
    weight_row = (row - row0)[..., None].astype(np.float32)

    def texel(r, c):
        return texture[np.clip(r, 0, tex_h - 1).astype(np.int64), np.clip(c, 0, tex_w - 1).astype(np.int64)]

    top = texel(row0, col0) * (1 - weight_col) + texel(row0, col0 + 1) * weight_col
    bottom = texel(row0 + 1, col0) * (1 - weight_col) + texel(row0 + 1, col0 + 1) * weight_col
    return top * (1 - weight_row) + bottom * weight_row


def shade(
    albedo: np.ndarray,
    normals: np.ndarray,
    view_dirs: np.ndarray,
    light_dirs: np.ndarray,
    light_colors: np.ndarray,
    ambient: float = 0.35,
    specular: np.ndarray | float = 0.0,
    shininess: np.ndarray | float = 32.0,
) -> np.ndarray:
    """Ambient + Lambert + Blinn–Phong shading with directional lights.

    ``c = albedo * (ambient + sum_l L_l max(n·l, 0)) + s * sum_l L_l max(n·h_l, 0)^shininess``,
    ``h_l = normalize(l + v)``.

    Args:
        albedo: ``(..., 3)`` surface colour in ``[0, 1]``.
        normals: ``(..., 3)`` surface normals (normalised here).
        view_dirs: ``(..., 3)`` unit vectors from the surface towards the camera.
        light_dirs: ``(L, 3)`` unit vectors towards each light.
        light_colors: ``(L, 3)`` light intensities.
        ambient: ambient term (a fraction of the albedo).
        specular: ``(...)`` or scalar specular strength.
        shininess: ``(...)`` or scalar Blinn–Phong exponent.

    Returns:
        ``(..., 3)`` float32 colours clipped to ``[0, 1]``.
    """
    normals = np.asarray(normals, dtype=np.float32)
    normals = normals / np.maximum(np.linalg.norm(normals, axis=-1, keepdims=True), 1e-8)
    light_dirs = np.asarray(light_dirs, dtype=np.float32)
    light_colors = np.asarray(light_colors, dtype=np.float32)
    if light_dirs.shape != light_colors.shape or light_dirs.ndim != 2 or light_dirs.shape[1] != 3:
        raise ValueError(
            f"light_dirs and light_colors must both be (L, 3), got {light_dirs.shape} and {light_colors.shape}"
        )
    specular = np.asarray(specular, dtype=np.float32)[..., None]
    shininess = np.asarray(shininess, dtype=np.float32)[..., None]
    diffuse = np.zeros_like(normals)
    highlight = np.zeros_like(normals)
    for direction, color in zip(light_dirs, light_colors):
        diffuse += np.clip(normals @ direction, 0.0, None)[..., None] * color
        half = direction + view_dirs
        half = half / np.maximum(np.linalg.norm(half, axis=-1, keepdims=True), 1e-8)
        highlight += np.clip(np.sum(normals * half, axis=-1), 0.0, None)[..., None] ** shininess * color
    return np.clip(albedo * (ambient + diffuse) + specular * highlight, 0.0, 1.0).astype(np.float32)
