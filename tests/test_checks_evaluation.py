"""Notebook 09's self-checks accept the reference solutions (the exercises' from the registry) and reject typical
mistakes."""

import numpy as np
import pytest

from talkinghead_edu.teach.checks import (
    CheckFailed,
    check_frechet_distance,
    check_lmd,
    check_lse_scores,
    check_offset_distances,
    solution_offset_distances,
)
from talkinghead_edu.teach.exercises import solve_frechet_distance as solution_frechet_distance
from talkinghead_edu.teach.exercises import solve_lmd as solution_lmd
from talkinghead_edu.teach.exercises import solve_lse_scores as solution_lse_scores


def test_solutions_pass():
    assert check_offset_distances(solution_offset_distances)
    assert check_lse_scores(solution_lse_scores)
    assert check_frechet_distance(solution_frechet_distance)
    assert check_lmd(solution_lmd)


def test_typical_mistakes_fail():
    with pytest.raises(CheckFailed):  # mean minus min instead of median minus min
        check_lse_scores(
            lambda v, a: (
                float(solution_offset_distances(v, a).min()),
                float(solution_offset_distances(v, a).mean() - solution_offset_distances(v, a).min()),
                int(solution_offset_distances(v, a).argmin()) - 15,
            )
        )
    with pytest.raises(CheckFailed):  # squared distances
        check_lmd(lambda p, t: float(((p - t) ** 2).sum(-1).mean()))
    with pytest.raises(CheckFailed):  # forgot the cross term's factor 2
        check_frechet_distance(
            lambda m1, c1, m2, c2: (
                solution_frechet_distance(m1, c1, m2, c2)
                + 0.5 * np.trace(__import__("scipy.linalg").linalg.sqrtm(c1.numpy() @ c2.numpy()).real)
            )
        )


def test_unfinished_exercise_passes_through():
    def stub(*args):
        raise NotImplementedError("Exercise: ...")

    with pytest.raises(NotImplementedError):
        check_offset_distances(stub)
