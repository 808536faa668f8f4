"""Headless tests of the notebook-04 widgets and of the self-checks."""

import plotly.graph_objects as go
import pytest
import torch
from _motion_fixtures import one_thread as _one_thread  # noqa: E402
from _motion_fixtures import tiny_head
from _widget_display import displayed, drawn, redraws

from talkinghead_edu.motion import MotionTranslator, smoothness_loss
from talkinghead_edu.teach.checks import CheckFailed
from talkinghead_edu.teach.checks.motion import (
    check_fusion,
    check_latent_consistency_loss,
    check_reconstruction_loss,
    check_smoothness_loss,
    smoothness_exercise,
)
from talkinghead_edu.teach.widgets.motion import (
    attention_figure,
    identity_interpolation_widget,
    lip_aperture_mm,
    mesh_animation_figure,
    motion_curves_figure,
    utterance_animation_widget,
)

single_thread = pytest.fixture(autouse=True)(_one_thread)


def _translator():
    torch.manual_seed(0)
    return MotionTranslator(["a", "b"], 8, 6, d_model=16, window=3).eval()


def test_identity_slider_moves_between_speakers():
    translator = _translator()
    features = torch.randn(20, 8)
    widget = displayed(identity_interpolation_widget, translator, features, "a", "b")
    _, at_a = redraws(widget, 0, 0.0)
    torch.testing.assert_close(torch.tensor(at_a.data[2].y), torch.tensor(at_a.data[0].y))  # α=0 is speaker a
    _, at_b = redraws(widget, 0, 1.0)
    torch.testing.assert_close(torch.tensor(at_b.data[2].y), torch.tensor(at_b.data[1].y))  # α=1 is speaker b


def test_curves_attention_and_animation():
    head = tiny_head()
    translator = _translator()
    features = torch.randn(12, 8)
    predicted = translator.predict(features, "a")
    figure = motion_curves_figure(predicted, predicted, head=head)
    assert isinstance(figure, go.Figure) and len(figure.data) == 4
    assert lip_aperture_mm(head, predicted).shape == (12,)
    _, attention = translator(features[None], torch.tensor([0]), return_attention=True)
    assert attention_figure(attention[0][0]).data[0].z.shape == (12, 12)
    animation = mesh_animation_figure(head, predicted, max_frames=5, stride=2)
    assert len(animation.frames) == 5
    widget = displayed(
        utterance_animation_widget, translator, head, {"u1": features, "u2": torch.randn(7, 8)}, max_frames=3, stride=1
    )
    assert len(drawn(widget).frames) == 3
    redraws(widget, 0, "u2")
    _, figure = redraws(widget, 1, "b")
    assert "u2 in the style of b" in figure.layout.title.text
    assert len(figure.frames) == 3


def test_checks_accept_library_and_reject_wrong():
    from talkinghead_edu.motion import fuse_identity, latent_consistency_loss, reconstruction_loss

    assert check_fusion(fuse_identity)
    assert check_reconstruction_loss(reconstruction_loss)
    assert check_smoothness_loss(smoothness_loss)
    assert check_latent_consistency_loss(latent_consistency_loss)
    with pytest.raises(CheckFailed):  # forgets the 1/(T-1): sums instead of averaging
        check_smoothness_loss(lambda p, t, lam: lam * (((t[:, 1:] - t[:, :-1]) - (p[:, 1:] - p[:, :-1])) ** 2).sum())

    def unfinished(p, t, lam):
        raise NotImplementedError("Exercise: write L_sth")

    assert smoothness_exercise(unfinished) is smoothness_loss
