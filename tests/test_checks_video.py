"""The tour notebook's self-checks accept right answers and reject wrong ones."""

import numpy as np
import pytest
import torch

from talkinghead_edu.data.video_dataset import face_mask_from_labels
from talkinghead_edu.render.camera import project_points as library_projection
from talkinghead_edu.teach.checks import CheckFailed, exercise_or_library
from talkinghead_edu.teach.checks.video import check_face_mask, check_projection


def _independent_projection(points_world, K, viewmat):
    homogeneous = torch.cat([points_world, torch.ones(len(points_world), 1, dtype=points_world.dtype)], dim=1)
    camera = (viewmat @ homogeneous.T).T[:, :3]
    pixels = (K @ camera.T).T
    return pixels[:, :2] / pixels[:, 2:3]


def test_projection_check_accepts_an_independent_implementation():
    assert check_projection(_independent_projection)


def test_projection_check_rejects_a_missing_divide():
    with pytest.raises(CheckFailed, match="projection"):
        check_projection(lambda p, K, v: _independent_projection(p, K, v) * 1.01)


def test_unfinished_exercise_falls_back_to_the_library():
    def stub(points_world, K, viewmat):
        raise NotImplementedError("Exercise: ...")

    assert exercise_or_library("projection", stub, library_projection, check_projection) is library_projection


def test_face_mask_check():
    assert check_face_mask(face_mask_from_labels)
    with pytest.raises(CheckFailed, match="mask M"):
        check_face_mask(lambda labels: np.asarray(labels) > 0)  # forgets to exclude neck/torso
