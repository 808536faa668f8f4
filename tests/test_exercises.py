"""The exercise registry: every solution passes its own check; unsolved, wrong and crashing answers are
reported without raising and the library's version is returned."""

from __future__ import annotations

import pytest
import torch

import talkinghead_edu as th
from talkinghead_edu.teach import exercises
from talkinghead_edu.teach.checks import CheckFailed


@pytest.mark.parametrize("exercise", exercises.EXERCISES.values(), ids=lambda e: e.id)
def test_solution_passes_its_check(exercise, capsys):
    assert exercise.check(exercise.solution) is True
    assert th.teach.check(exercise.id, None, solved=True) is exercise.solution
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("exercise", exercises.EXERCISES.values(), ids=lambda e: e.id)
def test_unsolved_stub_falls_back_to_the_library(exercise, capsys):
    def stub(*args):
        raise NotImplementedError(f"Exercise {exercise.id}: ...")

    assert th.teach.check(exercise.id, stub) is exercise.library
    out = capsys.readouterr().out
    assert f"Exercise {exercise.id}" in out and "not attempted" in out


@pytest.mark.parametrize("exercise", exercises.EXERCISES.values(), ids=lambda e: e.id)
def test_library_fallback_passes_the_check(exercise):
    """The function a notebook goes on with must itself be right."""
    assert exercise.check(exercise.library) is True


def _off_by_a_bit(fn):
    def wrong(*args):
        out = fn(*args)
        if isinstance(out, tuple):
            return (torch.as_tensor(out[0]) * 1.1 + 0.01,) + tuple(out[1:])
        return torch.as_tensor(out).double() * 1.1 + 0.01

    return wrong


@pytest.mark.parametrize("exercise", exercises.EXERCISES.values(), ids=lambda e: e.id)
def test_wrong_answer_is_reported_not_raised(exercise, capsys):
    if exercise.id == "00.2":  # a boolean mask: a wrong answer forgets the neck/torso exclusion
        wrong = lambda labels: torch.as_tensor(labels) > 0  # noqa: E731
    elif exercise.id == "01.2":
        wrong = lambda seconds: torch.floor(seconds * 25).long()  # noqa: E731 - the round-off trap
    else:
        wrong = _off_by_a_bit(exercise.solution)
    with pytest.raises(CheckFailed):
        exercise.check(wrong)
    assert th.teach.check(exercise.id, wrong) is exercise.library
    out = capsys.readouterr().out
    assert "not right yet" in out and f"th.teach.hint({exercise.id!r}" in out


def test_a_crashing_answer_is_reported(capsys):
    assert th.teach.check("06.1", lambda cov, eps: cov[99]) is exercises.EXERCISES["06.1"].library
    assert "IndexError" in capsys.readouterr().out


def test_backward_check_catches_a_front_to_back_mistake():
    """Using the colour in front (instead of behind) in ∂C/∂α_i is the classic mistake; the check must see it."""

    def forgets_the_running_sum(*args):
        grads = exercises.solve_composite_backward(*args)
        return grads[0], grads[1] * 0.5, grads[2], grads[3]

    with pytest.raises(CheckFailed, match="back to front"):
        th.teach.checks.check_composite_backward(forgets_the_running_sum)


def test_every_notebook_has_three_exercises_of_mixed_kinds():
    for notebook in ("00", "01", "02", "03", "04", "05", "06", "07", "08", "09"):
        assert len(exercises.exercises_of(notebook)) >= 3, notebook
    assert {e.kind for e in exercises.EXERCISES.values()} <= set(exercises.KINDS)
    assert len({e.kind for e in exercises.EXERCISES.values()}) >= 2


def test_speak_checks_catch_the_classic_mistakes():
    """Notebook 08's checks see the mistakes their hints warn about."""
    with pytest.raises(CheckFailed, match="ping-pong"):  # plain wrap-around: a jump from row n−1 back to row 0
        th.teach.checks.check_ping_pong(lambda t, n: t % n)
    with pytest.raises(CheckFailed, match="each video frame"):  # floor instead of ceil: the last partial frame lost
        th.teach.checks.check_video_frame_chunks(lambda wave: wave[: len(wave) // 640 * 640].reshape(-1, 640))
    with pytest.raises(CheckFailed, match="16 kHz"):  # the samples relabelled as 16 kHz, never resampled
        th.teach.checks.check_mono_16k(lambda samples, rate: samples.mean(axis=1))
    with pytest.raises(CheckFailed, match="whole pipeline"):  # the slowest stage's FPS
        th.teach.checks.check_overall_fps(lambda stage_fps: min(stage_fps.values()))


def test_hints_and_solution_are_revealed(capsys):
    text = th.teach.hint("06.2", 2)
    assert "hint 1" in text and "hint 2" in text and "hint 3" not in text
    source = th.teach.solution("06.2")
    assert "def solve_composite_backward" in source and source in capsys.readouterr().out
    with pytest.raises(ValueError, match="hints 1"):
        th.teach.hint("06.2", 9)
    with pytest.raises(KeyError, match="known"):
        th.teach.hint("99.9")
