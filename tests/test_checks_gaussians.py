"""Notebook self-checks of notebooks 05/07: accept the right answer, reject a wrong one with a hint."""

from __future__ import annotations

import pytest
import torch

from talkinghead_edu.eval.metrics import ssim
from talkinghead_edu.gaussians.losses import attribute_loss, l1_loss, semantic_loss
from talkinghead_edu.teach.checks import CheckFailed, exercise_or_library
from talkinghead_edu.teach.checks import gaussians as checks


def hand_written_frame(v0, v1, v2, eta):
    e01, e02, e12 = v1 - v0, v2 - v0, v2 - v1
    n0 = e01 / e01.norm(dim=-1, keepdim=True)
    n1 = torch.cross(e01, e02, dim=-1)
    n1 = n1 / n1.norm(dim=-1, keepdim=True)
    n2 = torch.cross(n0, n1, dim=-1)
    P = eta[:, :1] * v0 + eta[:, 1:2] * v1 + eta[:, 2:] * v2
    return P, torch.stack([n0, n1, n2], dim=-1), (e01.norm(dim=-1) + e02.norm(dim=-1) + e12.norm(dim=-1)) / 3


def test_triangle_frame_check_accepts_a_correct_and_rejects_a_wrong_answer():
    assert checks.check_triangle_frame(hand_written_frame)

    def rows_instead_of_columns(v0, v1, v2, eta):
        P, R, S = hand_written_frame(v0, v1, v2, eta)
        return P, R.transpose(-1, -2), S

    with pytest.raises(CheckFailed, match="n2 = n0 × n1"):
        checks.check_triangle_frame(rows_instead_of_columns)


def test_bind_to_world_check():
    assert checks.check_bind_to_world(
        lambda R, P, S, u, r, s: ((R @ u.unsqueeze(-1)).squeeze(-1) + P, R @ r, S[:, None] * s)
    )
    with pytest.raises(CheckFailed):
        checks.check_bind_to_world(lambda R, P, S, u, r, s: (u + P, R @ r, S[:, None] * s))


def test_loss_checks_accept_the_library_and_reject_variants():
    assert checks.check_l1(l1_loss) and checks.check_ssim(ssim)
    assert checks.check_attribute_loss(lambda m, ls, ep, es: attribute_loss(m, ls, ep, es))
    assert checks.check_semantic_loss(semantic_loss)
    with pytest.raises(CheckFailed):
        checks.check_l1(lambda a, b: ((a - b) ** 2).mean())
    with pytest.raises(CheckFailed):
        checks.check_attribute_loss(
            lambda m, ls, ep, es: (
                (torch.relu(m - ep) ** 2).sum(-1).mean() + (torch.relu(ls.exp() - es) ** 2).sum(-1).mean()
            )
        )


def test_unfinished_exercise_falls_back_to_the_library(capsys):
    def stub(v0, v1, v2, eta):
        raise NotImplementedError("Exercise: write eqs 11–14")

    chosen = exercise_or_library("triangle frame", stub, checks.library_triangle_frame, checks.check_triangle_frame)
    assert chosen is checks.library_triangle_frame
    assert "not attempted" in capsys.readouterr().out
