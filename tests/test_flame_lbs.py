"""Tests for talkinghead_edu.flame.lbs — each step against an independent computation.

Independent references: explicit loops in NumPy, closed-form rotation matrices,
``scipy.spatial.transform.Rotation``, finite differences (``torch.autograd.gradcheck``).
Tolerances: float64 comparisons at 1e-10–1e-12, float32 at 1e-5/1e-6 (single precision).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from talkinghead_edu.flame.lbs import (
    batch_rigid_transform,
    batch_rodrigues,
    blend_shapes,
    lbs,
    linear_blend_skinning,
    pose_corrective_offsets,
    vertices_to_joints,
)

FLAME_PARENTS = torch.tensor([-1, 0, 1, 1, 1])


def random_rig(seed: int = 0, n_verts: int = 40, n_coeffs: int = 6, dtype=torch.float64) -> dict:
    """A small random rig with FLAME's joint layout (5 joints, parents [-1, 0, 1, 1, 1])."""
    g = torch.Generator().manual_seed(seed)
    n_joints = 5
    regressor = torch.rand(n_joints, n_verts, generator=g, dtype=dtype) ** 4
    return dict(
        v_template=torch.randn(n_verts, 3, generator=g, dtype=dtype) * 0.1,
        shapedirs=torch.randn(n_verts, 3, n_coeffs, generator=g, dtype=dtype) * 0.01,
        posedirs=torch.randn(n_verts, 3, 9 * (n_joints - 1), generator=g, dtype=dtype) * 0.01,
        J_regressor=regressor / regressor.sum(1, keepdim=True),
        parents=FLAME_PARENTS,
        lbs_weights=torch.softmax(3 * torch.randn(n_verts, n_joints, generator=g, dtype=dtype), dim=1),
    )


# ---------------------------------------------------------------- blend shapes, joints
def test_blend_shapes_matches_loop():
    g = torch.Generator().manual_seed(1)
    coeffs = torch.randn(3, 4, generator=g, dtype=torch.float64)
    dirs = torch.randn(7, 3, 4, generator=g, dtype=torch.float64)
    expected = np.zeros((3, 7, 3))
    for b in range(3):
        for k in range(4):
            expected[b] += coeffs[b, k].item() * dirs[:, :, k].numpy()
    np.testing.assert_allclose(blend_shapes(coeffs, dirs).numpy(), expected, atol=1e-12)


def test_vertices_to_joints_is_weighted_average():
    g = torch.Generator().manual_seed(2)
    vertices = torch.randn(2, 9, 3, generator=g, dtype=torch.float64)
    regressor = torch.rand(5, 9, generator=g, dtype=torch.float64)
    expected = np.stack([regressor.numpy() @ vertices[b].numpy() for b in range(2)])
    np.testing.assert_allclose(vertices_to_joints(regressor, vertices).numpy(), expected, atol=1e-12)


def test_shape_errors_name_the_argument():
    with pytest.raises(ValueError, match="coeffs has 3 components but dirs has 4"):
        blend_shapes(torch.zeros(1, 3), torch.zeros(5, 3, 4))
    with pytest.raises(ValueError, match="axis_angle must be"):
        batch_rodrigues(torch.zeros(4, 4))
    with pytest.raises(ValueError, match="vertices must be"):
        vertices_to_joints(torch.zeros(5, 10), torch.zeros(1, 9, 3))
    with pytest.raises(ValueError, match="parents must be"):
        batch_rigid_transform(torch.eye(3).expand(1, 3, 3, 3), torch.zeros(1, 3, 3), torch.tensor([-1, 2, 0]))


# ---------------------------------------------------------------- Rodrigues
@pytest.mark.parametrize("dtype,atol", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
def test_rodrigues_closed_form_about_each_axis(dtype, atol):
    for theta in (0.3, -1.2, 2.5, math.pi):
        c, s = math.cos(theta), math.sin(theta)
        closed = {
            0: [[1, 0, 0], [0, c, -s], [0, s, c]],
            1: [[c, 0, s], [0, 1, 0], [-s, 0, c]],
            2: [[c, -s, 0], [s, c, 0], [0, 0, 1]],
        }
        for axis, matrix in closed.items():
            omega = torch.zeros(1, 3, dtype=dtype)
            omega[0, axis] = theta
            torch.testing.assert_close(batch_rodrigues(omega)[0], torch.tensor(matrix, dtype=dtype), atol=atol, rtol=0)


@pytest.mark.parametrize("dtype,atol", [(torch.float64, 1e-12), (torch.float32, 2e-6)])
def test_rodrigues_matches_scipy_including_tiny_angles(dtype, atol):
    g = torch.Generator().manual_seed(3)
    directions = torch.nn.functional.normalize(torch.randn(60, 3, generator=g, dtype=torch.float64), dim=1)
    angles = torch.cat(
        [
            torch.rand(40, generator=g, dtype=torch.float64) * 3.1,
            torch.tensor([1e-2, 1e-3, 1e-4, 1e-5, 1e-7, 1e-9] * 3 + [0.0, 0.0]),
        ]
    )
    omega = directions * angles[:, None]
    expected = Rotation.from_rotvec(omega.numpy()).as_matrix()
    got = batch_rodrigues(omega.to(dtype))
    np.testing.assert_allclose(got.double().numpy(), expected, atol=atol, rtol=0)


def test_rodrigues_zero_is_exact_identity_with_exact_gradient():
    rotation = batch_rodrigues(torch.zeros(1, 3, dtype=torch.float64))[0]
    assert torch.equal(rotation, torch.eye(3, dtype=torch.float64))
    # dR/dω_i at ω = 0 is the cross-product matrix [e_i]_× (its column k is e_i × e_k)
    jacobian = torch.autograd.functional.jacobian(
        lambda w: batch_rodrigues(w)[0], torch.zeros(1, 3, dtype=torch.float64)
    )[:, :, 0, :]
    for i in range(3):
        e = torch.zeros(3, dtype=torch.float64)
        e[i] = 1.0
        expected = torch.linalg.cross(e.expand(3, 3), torch.eye(3, dtype=torch.float64)).T  # columns e × e_k
        torch.testing.assert_close(jacobian[:, :, i], expected, atol=1e-12, rtol=0)


def test_rodrigues_gradcheck_away_from_and_near_zero():
    g = torch.Generator().manual_seed(4)
    for scale in (1.0, 1e-4):
        omega = (torch.randn(5, 3, generator=g, dtype=torch.float64) * scale).requires_grad_()
        assert torch.autograd.gradcheck(batch_rodrigues, (omega,), eps=1e-7, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-4.0, 4.0, allow_nan=False), min_size=3, max_size=3))
def test_rodrigues_is_a_rotation(values):
    rotation = batch_rodrigues(torch.tensor([values], dtype=torch.float64))[0]
    torch.testing.assert_close(rotation @ rotation.T, torch.eye(3, dtype=torch.float64), atol=1e-12, rtol=0)
    assert abs(torch.linalg.det(rotation).item() - 1.0) < 1e-12


# ---------------------------------------------------------------- pose correctives
def test_pose_correctives_vanish_at_rest_and_ignore_the_root():
    rig = random_rig()
    rest = torch.eye(3, dtype=torch.float64).expand(2, 5, 3, 3).clone()
    assert torch.equal(pose_corrective_offsets(rest, rig["posedirs"]), torch.zeros(2, 40, 3, dtype=torch.float64))
    rest[:, 0] = batch_rodrigues(torch.tensor([[0.3, -1.0, 0.2]], dtype=torch.float64))
    assert torch.equal(pose_corrective_offsets(rest, rig["posedirs"]), torch.zeros(2, 40, 3, dtype=torch.float64))


def test_pose_correctives_layout_is_joint_then_row_major():
    rig = random_rig()
    rotations = batch_rodrigues(torch.randn(5, 3, dtype=torch.float64)).reshape(1, 5, 3, 3)
    expected = np.zeros((40, 3))
    for joint in range(1, 5):
        delta = rotations[0, joint].numpy() - np.eye(3)
        for r in range(3):
            for c in range(3):
                expected += delta[r, c] * rig["posedirs"][:, :, 9 * (joint - 1) + 3 * r + c].numpy()
    np.testing.assert_allclose(pose_corrective_offsets(rotations, rig["posedirs"])[0].numpy(), expected, atol=1e-12)


# ---------------------------------------------------------------- kinematic chain, skinning
def test_rigid_transform_against_explicit_chain():
    g = torch.Generator().manual_seed(5)
    rotations = batch_rodrigues(torch.randn(10, 3, generator=g, dtype=torch.float64)).reshape(2, 5, 3, 3)
    joints = torch.randn(2, 5, 3, generator=g, dtype=torch.float64)
    posed, transforms = batch_rigid_transform(rotations, joints, FLAME_PARENTS)
    parents = FLAME_PARENTS.tolist()
    for b in range(2):
        world_rot = [rotations[b, 0].numpy()]
        world_pos = [joints[b, 0].numpy()]
        for j in range(1, 5):
            p = parents[j]
            world_rot.append(world_rot[p] @ rotations[b, j].numpy())
            world_pos.append(world_pos[p] + world_rot[p] @ (joints[b, j] - joints[b, p]).numpy())
        np.testing.assert_allclose(posed[b].numpy(), np.stack(world_pos), atol=1e-12)
        for j in range(5):
            # the skinning transform moves the rest joint onto the posed joint
            moved = transforms[b, j, :3, :3].numpy() @ joints[b, j].numpy() + transforms[b, j, :3, 3].numpy()
            np.testing.assert_allclose(moved, world_pos[j], atol=1e-12)
            np.testing.assert_allclose(transforms[b, j, :3, :3].numpy(), world_rot[j], atol=1e-12)
            np.testing.assert_allclose(transforms[b, j, 3].numpy(), [0, 0, 0, 1], atol=0)


def test_skinning_with_one_hot_weights_is_rigid():
    g = torch.Generator().manual_seed(6)
    vertices = torch.randn(1, 8, 3, generator=g, dtype=torch.float64)
    rotations = batch_rodrigues(torch.randn(5, 3, generator=g, dtype=torch.float64)).reshape(1, 5, 3, 3)
    _, transforms = batch_rigid_transform(
        rotations, torch.randn(1, 5, 3, generator=g, dtype=torch.float64), FLAME_PARENTS
    )
    weights = torch.nn.functional.one_hot(torch.arange(8) % 5, 5).double()
    skinned = linear_blend_skinning(vertices, transforms, weights)
    for v in range(8):
        T = transforms[0, v % 5]
        torch.testing.assert_close(skinned[0, v], T[:3, :3] @ vertices[0, v] + T[:3, 3], atol=1e-12, rtol=0)


def _lbs(rig: dict, coeffs: torch.Tensor, pose: torch.Tensor):
    return lbs(
        coeffs,
        pose,
        rig["v_template"],
        rig["shapedirs"],
        rig["posedirs"],
        rig["J_regressor"],
        rig["parents"],
        rig["lbs_weights"],
    )


def test_lbs_zero_parameters_return_the_template_exactly():
    rig = random_rig()
    vertices, joints = _lbs(rig, torch.zeros(2, 6, dtype=torch.float64), torch.zeros(2, 15, dtype=torch.float64))
    assert torch.equal(vertices, rig["v_template"].expand(2, -1, -1))
    torch.testing.assert_close(joints, (rig["J_regressor"] @ rig["v_template"]).expand(2, -1, -1), atol=1e-15, rtol=0)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_lbs_global_rotation_equals_rotating_the_result(seed):
    """Rotating the root by R about the root joint J0 gives R (v − J0) + J0 (eq 10.5 with joint 0)."""
    rig = random_rig(seed % 7)
    g = torch.Generator().manual_seed(seed)
    coeffs = torch.randn(1, 6, generator=g, dtype=torch.float64)
    pose = torch.randn(1, 15, generator=g, dtype=torch.float64) * 0.5
    pose[:, :3] = 0.0
    unrotated, unrotated_joints = _lbs(rig, coeffs, pose)
    root_rotation = torch.randn(1, 3, generator=g, dtype=torch.float64)
    rotated_pose = pose.clone()
    rotated_pose[:, :3] = root_rotation
    rotated, rotated_joints = _lbs(rig, coeffs, rotated_pose)
    R = batch_rodrigues(root_rotation)[0]
    root = unrotated_joints[0, 0]
    torch.testing.assert_close(rotated[0], (unrotated[0] - root) @ R.T + root, atol=1e-12, rtol=0)
    torch.testing.assert_close(rotated_joints[0], (unrotated_joints[0] - root) @ R.T + root, atol=1e-12, rtol=0)


def test_lbs_gradients_match_finite_differences():
    rig = random_rig(n_verts=8)
    g = torch.Generator().manual_seed(7)
    coeffs = torch.randn(2, 6, generator=g, dtype=torch.float64, requires_grad=True)
    pose = (torch.randn(2, 15, generator=g, dtype=torch.float64) * 0.4).requires_grad_()
    weights = rig["lbs_weights"].clone().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda c, p, w: _lbs({**rig, "lbs_weights": w}, c, p),
        (coeffs, pose, weights),
        eps=1e-6,
        atol=1e-7,
        fast_mode=True,
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lbs_keeps_dtype_and_batches_independently(dtype):
    rig = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in random_rig().items()}
    g = torch.Generator().manual_seed(8)
    coeffs = torch.randn(3, 6, generator=g).to(dtype)
    pose = (torch.randn(3, 15, generator=g) * 0.3).to(dtype)
    vertices, joints = _lbs(rig, coeffs, pose)
    assert vertices.dtype == dtype and vertices.shape == (3, 40, 3) and joints.shape == (3, 5, 3)
    for b in range(3):
        single, _ = _lbs(rig, coeffs[b : b + 1], pose[b : b + 1])
        torch.testing.assert_close(vertices[b : b + 1], single, atol=1e-6, rtol=1e-6)
