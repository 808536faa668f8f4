"""The notebook self-checks of notebooks 01/02 accept right answers and reject wrong ones."""

import pytest
import torch

import talkinghead_edu as th
from talkinghead_edu.audio import features as af
from talkinghead_edu.decoupling import info_nce
from talkinghead_edu.teach.checks import CheckFailed


def test_checks_accept_the_library():
    assert th.teach.checks.check_log_mel(lambda w: af.log_mel(w))
    assert th.teach.checks.check_frame_index(lambda s: torch.as_tensor(af.frame_index_of_time(s.numpy())))
    assert th.teach.checks.check_frame_context(af.frame_context)
    assert th.teach.checks.check_info_nce(lambda a, p, n, t: info_nce(a, p, n, t, include_positive=False))


def test_checks_reject_common_mistakes():
    with pytest.raises(CheckFailed, match="log-mel"):  # magnitude instead of power
        th.teach.checks.check_log_mel(lambda w: af.log_mel(w) / 2)
    with pytest.raises(CheckFailed, match="frame index"):  # rounding instead of floor
        th.teach.checks.check_frame_index(lambda s: torch.round(s * 25).long())
    with pytest.raises(CheckFailed, match="frame index"):  # no guard against 0.12 * 25 = 2.999...
        th.teach.checks.check_frame_index(lambda s: torch.floor(s * 25).long())
    with pytest.raises(CheckFailed, match="InfoNCE"):  # the usual form is not eq 2 as printed
        th.teach.checks.check_info_nce(lambda a, p, n, t: info_nce(a, p, n, t, include_positive=True))


def test_exercise_falls_back_to_the_library(capsys):
    def unfinished(a, p, n, t):
        raise NotImplementedError("Exercise: ...")

    chosen = th.teach.checks.exercise_or_library("InfoNCE", unfinished, info_nce, th.teach.checks.check_info_nce)
    assert chosen is info_nce and "not attempted" in capsys.readouterr().out
