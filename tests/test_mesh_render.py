"""Tests of the z-buffer mesh renderer used to make the video frames.

Every check compares with an independent computation: half-plane tests at pixel centres,
the pinhole projection of the interpolated 3D point, closed-form bilinear values and the
Lambert / Blinn–Phong formulas.
"""

import numpy as np
import pytest

from talkinghead_edu.synth.mesh_render import (
    Fragments,
    face_values,
    interpolate,
    project,
    rasterize,
    rasterize_uv,
    sample_texture,
    shade,
    vertex_normals,
    world_to_camera,
)

K = np.array([[100.0, 0.0, 32.0], [0.0, 100.0, 32.0], [0.0, 0.0, 1.0]])
H = W = 64


def _pixel_centres(height, width):
    rows, cols = np.meshgrid(np.arange(height) + 0.5, np.arange(width) + 0.5, indexing="ij")
    return cols, rows  # u, v


def _inside_triangle(uv_corners, u, v):
    """Independent coverage test: the pixel centre is on the inner side of all three edges."""
    (ua, va), (ub, vb), (uc, vc) = uv_corners

    def edge(x0, y0, x1, y1):
        return (x1 - x0) * (v - y0) - (y1 - y0) * (u - x0)

    e0, e1, e2 = edge(ua, va, ub, vb), edge(ub, vb, uc, vc), edge(uc, vc, ua, va)
    return ((e0 >= 0) & (e1 >= 0) & (e2 >= 0)) | ((e0 <= 0) & (e1 <= 0) & (e2 <= 0))


def test_projection_matches_pinhole_formula():
    points = np.array([[0.1, -0.2, 2.0], [0.0, 0.0, 1.0]])
    expected = np.array([[100 * 0.05 + 32, 100 * -0.1 + 32], [32, 32]])
    np.testing.assert_allclose(project(points, K), expected, atol=1e-12)
    viewmat = np.eye(4)
    viewmat[:3, 3] = [0, 0, 1]
    np.testing.assert_allclose(world_to_camera(points, viewmat), points + [0, 0, 1])


def test_coverage_equals_half_plane_test_at_pixel_centres():
    # a triangle at constant depth 1, corners given in pixels
    corners_px = np.array([[5.3, 7.1], [50.2, 12.7], [20.9, 58.4]])
    z = 1.0
    vertices = np.c_[(corners_px - 32.0) / 100.0 * z, np.full(3, z)]
    fragments = rasterize(vertices, np.array([[0, 1, 2]]), K, H, W)
    u, v = _pixel_centres(H, W)
    expected = _inside_triangle(corners_px, u, v)
    np.testing.assert_array_equal(fragments.covered, expected)
    # area check (closed form, shoelace) within the perimeter band of pixels
    (x1, y1), (x2, y2) = corners_px[1] - corners_px[0], corners_px[2] - corners_px[0]
    area = 0.5 * abs(x1 * y2 - x2 * y1)
    assert abs(fragments.covered.sum() - area) < 0.05 * area


def test_zbuffer_keeps_the_nearest_triangle_in_any_order():
    near = np.array([[-0.1, -0.1, 1.0], [0.1, -0.1, 1.0], [0.0, 0.1, 1.0]])
    far = near * [3.0, 3.0, 1.0] + [0.0, 0.0, 1.0]  # at z = 2, 1.5x larger on screen
    vertices = np.concatenate([near, far])
    for faces, near_id in (([[0, 1, 2], [3, 4, 5]], 0), ([[3, 4, 5], [0, 1, 2]], 1)):
        fragments = rasterize(vertices, np.array(faces), K, H, W)
        near_only = rasterize(near, np.array([[0, 1, 2]]), K, H, W).covered
        assert (fragments.face_index[near_only] == near_id).all()
        np.testing.assert_allclose(fragments.depth[near_only], 1.0, atol=1e-6)
        assert ((fragments.face_index >= 0) & ~near_only).any()  # the far triangle shows around it


def test_perspective_correct_barycentrics_reproject_to_the_pixel_centre():
    # a strongly tilted triangle: affine (screen-space) interpolation would be visibly wrong
    vertices = np.array([[-0.4, -0.3, 1.0], [0.5, -0.2, 3.0], [0.0, 0.4, 1.5]])
    fragments = rasterize(vertices, np.array([[0, 1, 2]]), K, H, W)
    covered = fragments.covered
    assert covered.sum() > 300
    np.testing.assert_allclose(fragments.bary[covered].sum(-1), 1.0, atol=1e-5)
    assert (fragments.bary[covered] >= -1e-6).all()
    points = interpolate(vertices[None].astype(np.float32), fragments)[covered]  # (P, 3) camera space
    u, v = _pixel_centres(H, W)
    np.testing.assert_allclose(project(points, K), np.stack([u[covered], v[covered]], 1), atol=2e-3)
    normal = np.cross(vertices[1] - vertices[0], vertices[2] - vertices[0])
    np.testing.assert_allclose((points - vertices[0]) @ normal, 0.0, atol=1e-5)  # on the triangle's plane
    np.testing.assert_allclose(fragments.depth[covered], points[:, 2], rtol=1e-5)


def test_face_values_and_background():
    vertices = np.array([[-0.1, -0.1, 1.0], [0.1, -0.1, 1.0], [0.0, 0.1, 1.0]])
    fragments = rasterize(vertices, np.array([[0, 1, 2]]), K, H, W)
    labels = face_values(np.array([7], np.uint8), fragments)
    assert labels.dtype == np.uint8
    assert set(np.unique(labels)) == {0, 7}
    np.testing.assert_array_equal(labels == 7, fragments.covered)
    colour = interpolate(np.ones((1, 3, 3), np.float32), fragments, background=0.25)
    np.testing.assert_allclose(colour[~fragments.covered], 0.25)
    np.testing.assert_allclose(colour[fragments.covered], 1.0, atol=1e-6)


def test_uv_rasterization_hits_every_texel_centre():
    vt = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    ft = np.array([[0, 1, 2], [0, 2, 3]])
    size = 16
    fragments = rasterize_uv(vt, ft, size)
    assert fragments.covered.all()
    uv = interpolate(vt[ft].astype(np.float32), fragments)
    rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    np.testing.assert_allclose(uv[..., 0], (cols + 0.5) / size, atol=1e-6)
    np.testing.assert_allclose(uv[..., 1], 1.0 - (rows + 0.5) / size, atol=1e-6)


def test_bilinear_texture_lookup_is_exact_on_a_linear_ramp():
    tex_h, tex_w = 8, 10
    rows, cols = np.meshgrid(np.arange(tex_h), np.arange(tex_w), indexing="ij")
    texture = np.stack([2.0 * cols + 3.0 * rows, np.ones_like(cols)], -1).astype(np.float32)
    rng = np.random.default_rng(0)
    # interior points (between the first and the last texel centres) -> bilinear = linear
    col = rng.uniform(0.0, tex_w - 1.0, 50)
    row = rng.uniform(0.0, tex_h - 1.0, 50)
    uv = np.stack([(col + 0.5) / tex_w, 1.0 - (row + 0.5) / tex_h], 1)
    sampled = sample_texture(texture, uv)
    np.testing.assert_allclose(sampled[:, 0], 2.0 * col + 3.0 * row, atol=1e-4)
    np.testing.assert_allclose(sampled[:, 1], 1.0, atol=1e-6)
    # outside: clamped to the border texel
    np.testing.assert_allclose(sample_texture(texture, np.array([[-0.5, 2.0]]))[0, 0], texture[0, 0, 0])


def test_vertex_normals_of_a_sphere_are_radial():
    theta, phi = np.meshgrid(
        np.linspace(0.2, np.pi - 0.2, 20), np.linspace(0, 2 * np.pi, 40, endpoint=False), indexing="ij"
    )
    points = np.stack([np.sin(theta) * np.sin(phi), np.cos(theta), np.sin(theta) * np.cos(phi)], -1).reshape(-1, 3)
    faces = []
    for i in range(19):
        for j in range(40):
            a, b, c, d = i * 40 + j, i * 40 + (j + 1) % 40, (i + 1) * 40 + j, (i + 1) * 40 + (j + 1) % 40
            faces += [[a, c, b], [b, c, d]]  # counter-clockwise seen from outside
    normals = vertex_normals(points, np.array(faces))
    interior = np.arange(40, 19 * 40)  # rows with neighbours on both sides
    np.testing.assert_allclose((normals[interior] * points[interior]).sum(1), 1.0, atol=0.01)


def test_shading_matches_lambert_and_blinn_phong():
    albedo = np.array([[0.5, 0.4, 0.3]], np.float32)
    light = np.array([[0.0, 0.0, 1.0]])
    light_color = np.array([[0.6, 0.6, 0.6]])
    facing = shade(
        albedo,
        np.array([[0.0, 0.0, 1.0]]),
        np.array([[0.0, 0.0, 1.0]]),
        light,
        light_color,
        ambient=0.2,
        specular=0.1,
        shininess=10.0,
    )
    np.testing.assert_allclose(facing, albedo * (0.2 + 0.6) + 0.1 * 0.6, atol=1e-6)
    angle = np.deg2rad(60)
    tilted_normal = np.array([[np.sin(angle), 0.0, np.cos(angle)]])
    tilted = shade(albedo, tilted_normal, np.array([[0.0, 0.0, 1.0]]), light, light_color, ambient=0.2, specular=0.0)
    np.testing.assert_allclose(tilted, albedo * (0.2 + 0.6 * 0.5), atol=1e-6)
    # facing away: ambient only
    away = shade(albedo, -tilted_normal, np.array([[0.0, 0.0, 1.0]]), light, light_color, ambient=0.2, specular=0.5)
    np.testing.assert_allclose(away, albedo * 0.2, atol=1e-6)


def test_triangles_behind_the_camera_are_dropped():
    vertices = np.array([[-0.1, -0.1, -1.0], [0.1, -0.1, -1.0], [0.0, 0.1, -1.0]])
    fragments = rasterize(vertices, np.array([[0, 1, 2]]), K, H, W)
    assert isinstance(fragments, Fragments)
    assert not fragments.covered.any()


@pytest.mark.parametrize(
    "vertices, faces, message",
    [
        (np.zeros((3, 2)), np.array([[0, 1, 2]]), "vertices_camera"),
        (np.ones((3, 3)), np.array([[0, 1, 3]]), "faces index"),
        (np.ones((3, 3)), np.array([[0.0, 1.0, 2.0]]), "integer"),
    ],
)
def test_bad_inputs_name_the_problem(vertices, faces, message):
    with pytest.raises(ValueError, match=message):
        rasterize(vertices, faces, K, H, W)
    with pytest.raises(ValueError, match="K"):
        project(np.ones((2, 3)), np.eye(4))
