"""Triangle binding (eqs 11–15) against closed forms, finite differences and rigid-motion equivariance."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from talkinghead_edu.gaussians.binding import (
    axis_angle_to_quat,
    barycentric_origin,
    local_to_world,
    quat_multiply,
    quat_to_rotmat,
    rotmat_to_quat,
    triangle_frames,
)

TOL = dict(atol=1e-5, rtol=1e-5)  # float32 round-off on unit-sized geometry


def random_mesh(generator: torch.Generator, vertices: int = 12, faces: int = 10, dtype=torch.float32):
    verts = torch.randn(vertices, 3, generator=generator, dtype=dtype)
    tris = torch.stack([torch.randperm(vertices, generator=generator)[:3] for _ in range(faces)])
    return verts, tris


def random_rotation(generator: torch.Generator, dtype=torch.float32) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=dtype))
    q = q * torch.sign(torch.diagonal(r))
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def test_right_triangle_closed_form():
    verts = torch.tensor([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    frames = triangle_frames(verts, torch.tensor([[0, 1, 2]]))
    expected_rotation = torch.tensor(
        [[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]
    )  # columns n0=x, n1=z, n2=x×z=-y
    torch.testing.assert_close(frames.rotation[0, 0], expected_rotation)
    torch.testing.assert_close(frames.scale[0, 0], torch.tensor((2.0 + 1.0 + math.sqrt(5.0)) / 3.0))
    origin = barycentric_origin(frames.corners[0, 0], torch.tensor([0.5, 0.25, 0.25]))
    torch.testing.assert_close(origin, torch.tensor([0.5, 0.25, 0.0]))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_frames_are_rotations_aligned_with_the_triangle(seed):
    generator = torch.Generator().manual_seed(seed)
    verts, faces = random_mesh(generator)
    frames = triangle_frames(verts.double(), faces)
    rotation = frames.rotation[0]
    eye = torch.eye(3, dtype=torch.float64).expand_as(rotation)
    torch.testing.assert_close(rotation.transpose(-1, -2) @ rotation, eye, atol=1e-9, rtol=0)
    torch.testing.assert_close(torch.det(rotation), torch.ones(len(faces), dtype=torch.float64))
    v0, v1, v2 = frames.corners[0].unbind(1)
    e01, e02 = v1 - v0, v2 - v0
    # n0 along e01; n1 orthogonal to both edges (the normal), n2 in the plane
    torch.testing.assert_close(torch.cross(rotation[..., 0], e01, dim=-1), torch.zeros_like(e01), atol=1e-9, rtol=0)
    assert ((rotation[..., 0] * e01).sum(-1) > 0).all()
    torch.testing.assert_close(
        (rotation[..., 1] * e02).sum(-1), torch.zeros(len(faces), dtype=torch.float64), atol=1e-9, rtol=0
    )
    assert ((rotation[..., 1] * torch.cross(e01, e02, dim=-1)).sum(-1) > 0).all()


def _bind(verts, faces, generator, n=16):
    triangle_ids = torch.randint(0, len(faces), (n,), generator=generator)
    eta = torch.softmax(torch.randn(n, 3, generator=generator, dtype=verts.dtype), -1)
    local_means = 0.1 * torch.randn(n, 3, generator=generator, dtype=verts.dtype)
    local_quats = torch.randn(n, 4, generator=generator, dtype=verts.dtype)
    local_log_scales = 0.3 * torch.randn(n, 3, generator=generator, dtype=verts.dtype)
    frames = triangle_frames(verts, faces)
    return local_to_world(frames, triangle_ids, eta, local_means, local_quats, local_log_scales), (
        triangle_ids,
        eta,
        local_means,
        local_quats,
        local_log_scales,
    )


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), stretch=st.floats(0.2, 5.0))
def test_binding_is_equivariant_to_similarity_transforms(seed, stretch):
    """Moving the mesh by x -> c Q x + t moves every Gaussian the same way: u -> c Q u + t, r -> Q r, s -> c s."""
    generator = torch.Generator().manual_seed(seed)
    verts, faces = random_mesh(generator, dtype=torch.float64)
    rotation = random_rotation(generator, dtype=torch.float64)
    shift = torch.randn(3, generator=generator, dtype=torch.float64)
    (means, quats, log_scales), local = _bind(verts, faces, torch.Generator().manual_seed(seed + 1))
    moved_verts = stretch * verts @ rotation.T + shift
    frames = triangle_frames(moved_verts, faces)
    moved_means, moved_quats, moved_log_scales = local_to_world(frames, *local)
    # ū is metres along the triangle axes (eq 15 has no S on ū), so only P scales with c:
    # u' = Q R ū + c Q P + t. Compare against that closed form.
    triangle_ids, eta, local_means = local[0], local[1], local[2]
    base = triangle_frames(verts, faces)
    origin = barycentric_origin(base.corners[0, triangle_ids], eta)
    expected = (
        (base.rotation[0, triangle_ids] @ local_means.unsqueeze(-1)).squeeze(-1) @ rotation.T
        + stretch * origin @ rotation.T
        + shift
    )
    torch.testing.assert_close(moved_means[0], expected, atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(quat_to_rotmat(moved_quats), rotation @ quat_to_rotmat(quats), atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(moved_log_scales, log_scales + math.log(stretch), atol=1e-9, rtol=1e-9)
    # rigid motion (c = 1): the means follow exactly
    rigid = local_to_world(triangle_frames(verts @ rotation.T + shift, faces), *local)[0]
    torch.testing.assert_close(rigid, means @ rotation.T + shift, atol=1e-9, rtol=1e-9)


def test_local_to_world_gradients_match_finite_differences():
    generator = torch.Generator().manual_seed(3)
    verts, faces = random_mesh(generator, vertices=6, faces=4, dtype=torch.float64)
    n = 5
    triangle_ids = torch.randint(0, 4, (n,), generator=generator)
    inputs = (
        verts.clone().requires_grad_(),
        torch.softmax(torch.randn(n, 3, generator=generator, dtype=torch.float64), -1).requires_grad_(),
        torch.randn(n, 3, generator=generator, dtype=torch.float64).requires_grad_(),
        torch.randn(n, 4, generator=generator, dtype=torch.float64).requires_grad_(),
        torch.randn(n, 3, generator=generator, dtype=torch.float64).requires_grad_(),
    )

    def fn(v, eta, mu, q, ls):
        return local_to_world(triangle_frames(v, faces), triangle_ids, eta, mu, q, ls)

    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-5)


def test_quaternion_helpers_agree_with_matrix_exponential():
    generator = torch.Generator().manual_seed(0)
    axis_angle = torch.randn(20, 3, generator=generator, dtype=torch.float64)
    axis_angle[0] = 0.0
    axis_angle[1] = 1e-6
    skew = torch.zeros(20, 3, 3, dtype=torch.float64)
    skew[:, 0, 1], skew[:, 0, 2], skew[:, 1, 2] = -axis_angle[:, 2], axis_angle[:, 1], -axis_angle[:, 0]
    skew = skew - skew.transpose(-1, -2)
    expected = torch.linalg.matrix_exp(skew)
    quats = axis_angle_to_quat(axis_angle)
    torch.testing.assert_close(quat_to_rotmat(quats), expected, atol=1e-10, rtol=0)
    back = rotmat_to_quat(expected)
    torch.testing.assert_close(quat_to_rotmat(back), expected, atol=1e-10, rtol=0)
    a, b = quats[2:10], quats[10:18]
    torch.testing.assert_close(
        quat_to_rotmat(quat_multiply(a, b)), quat_to_rotmat(a) @ quat_to_rotmat(b), atol=1e-10, rtol=0
    )


def test_bad_shapes_are_named():
    verts = torch.randn(5, 3)
    with pytest.raises(ValueError, match="faces"):
        triangle_frames(verts, torch.tensor([[0, 1, 7]]))
    with pytest.raises(ValueError, match="vertices"):
        triangle_frames(torch.randn(5, 2), torch.tensor([[0, 1, 2]]))
    frames = triangle_frames(verts, torch.tensor([[0, 1, 2]]))
    with pytest.raises(ValueError, match="eta"):
        local_to_world(
            frames,
            torch.zeros(4, dtype=torch.long),
            torch.rand(3, 3),
            torch.zeros(4, 3),
            torch.zeros(4, 4),
            torch.zeros(4, 3),
        )


def test_rotmat_to_quat_handles_half_turns():
    half_turns = torch.stack(
        [torch.diag(torch.tensor(d)) for d in ([1.0, -1.0, -1.0], [-1.0, 1.0, -1.0], [-1.0, -1.0, 1.0])]
    )
    torch.testing.assert_close(quat_to_rotmat(rotmat_to_quat(half_turns)), half_turns, atol=1e-6, rtol=0)
    generator = torch.Generator().manual_seed(1)
    rotations = torch.stack([random_rotation(generator, torch.float64) for _ in range(50)])
    torch.testing.assert_close(quat_to_rotmat(rotmat_to_quat(rotations)), rotations, atol=1e-10, rtol=0)
