"""Tests for talkinghead_edu.teach.checks.flame — the notebook 03 self-checks accept right answers,
reject wrong ones with a hint, and let unfinished exercises fall back to the library."""

from __future__ import annotations

import pytest
import torch

import talkinghead_edu as th
from talkinghead_edu.flame import lbs as flame_lbs
from talkinghead_edu.teach.checks import CheckFailed, exercise_or_library
from talkinghead_edu.teach.checks import flame as flame_checks


def textbook_rodrigues(axis_angle: torch.Tensor) -> torch.Tensor:
    """An independent Rodrigues (unit axis, explicit cross-product matrix), as a learner writes it."""
    theta = axis_angle.norm(dim=1, keepdim=True).clamp_min(1e-12)
    kx, ky, kz = (axis_angle / theta).unbind(1)
    zero = torch.zeros_like(kx)
    K = torch.stack([zero, -kz, ky, kz, zero, -kx, -ky, kx, zero], 1).reshape(-1, 3, 3)
    s, c = torch.sin(theta)[:, :, None], torch.cos(theta)[:, :, None]
    return torch.eye(3, dtype=axis_angle.dtype) + s * K + (1 - c) * K @ K


LIBRARY = {
    "check_blend_shapes": flame_lbs.blend_shapes,
    "check_joint_regression": flame_lbs.vertices_to_joints,
    "check_rodrigues": flame_lbs.batch_rodrigues,
    "check_kinematic_chain": flame_lbs.batch_rigid_transform,
    "check_skinning": flame_lbs.linear_blend_skinning,
    "check_flame_deformation": flame_lbs.lbs,
}


@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_checks_accept_the_library_and_are_reachable_from_th_checks(name, capsys):
    assert getattr(th.teach.checks, name) is getattr(flame_checks, name)
    assert getattr(th.teach.checks, name)(LIBRARY[name])
    assert "✓" in capsys.readouterr().out


def test_rodrigues_check_accepts_an_independent_textbook_version():
    assert flame_checks.check_rodrigues(textbook_rodrigues)


def test_checks_reject_wrong_answers_with_a_hint():
    transposed = lambda w: flame_lbs.batch_rodrigues(w).transpose(1, 2)  # noqa: E731 - rotates the wrong way
    with pytest.raises(CheckFailed, match="Rodrigues.*K = \\[k\\]_×"):
        flame_checks.check_rodrigues(transposed)
    with pytest.raises(CheckFailed, match="shape"):
        flame_checks.check_blend_shapes(lambda c, d: torch.einsum("bk,vck->bcv", c, d))

    def chain_without_rest_offset(rotations, joints, parents):
        posed, transforms = flame_lbs.batch_rigid_transform(rotations, joints, parents)
        return posed, transforms + 0.01

    with pytest.raises(CheckFailed, match="kinematic chain"):
        flame_checks.check_kinematic_chain(chain_without_rest_offset)
    with pytest.raises(CheckFailed, match="skinning"):
        flame_checks.check_skinning(lambda v, t, w: v)


def test_unfinished_exercise_falls_back_to_the_library(capsys):
    def stub(axis_angle):
        raise NotImplementedError("Exercise: implement Rodrigues")

    chosen = exercise_or_library("Rodrigues", stub, flame_lbs.batch_rodrigues, flame_checks.check_rodrigues)
    assert chosen is flame_lbs.batch_rodrigues
    assert "not attempted" in capsys.readouterr().out
    assert (
        exercise_or_library("Rodrigues", textbook_rodrigues, flame_lbs.batch_rodrigues, flame_checks.check_rodrigues)
        is textbook_rodrigues
    )
