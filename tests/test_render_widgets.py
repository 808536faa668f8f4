"""Notebook 06 widgets (headless: set slider values, read the drawn figure) and self-checks."""

import numpy as np
import pytest
import torch
from _widget_display import displayed, redraws

from talkinghead_edu.render.projection import conic_from_covariance_2d
from talkinghead_edu.render.reference import composite_tile
from talkinghead_edu.render.scenes import head_camera, head_scene
from talkinghead_edu.teach import checks
from talkinghead_edu.teach.checks import CheckFailed
from talkinghead_edu.teach.widgets import render as widgets


def test_ellipse_widget_follows_rotation():
    widget = displayed(widgets.ellipse_widget)
    before, after = redraws(widget, 2, 90.0)  # rotate a 3:1 Gaussian by 90°: its screen box swaps width and height
    box_before, box_after = before.data[3].x, after.data[3].x
    assert box_after[1] - box_after[0] < box_before[1] - box_before[0]
    assert "Σ'" in after.layout.title.text


def test_compositing_widget_swaps_front_splat():
    widget = displayed(widgets.compositing_widget)
    _, red_front = redraws(widget, 0, 1.0)  # still in front: the image stays, the view from above shows the move
    assert red_front.data[1].y[0] == 1.0
    red_front, blue_front = redraws(widget, 0, 1.2)  # red behind blue now
    assert red_front.layout.title.text.startswith("red") and blue_front.layout.title.text.startswith("blue")
    assert (
        np.abs(np.asarray(blue_front.data[0].z, dtype=float) - np.asarray(red_front.data[0].z, dtype=float)).max() > 20
    )


def test_orbit_widget_and_tiles_figure():
    gaussians = head_scene(2000, sh_degree=3, generator=torch.Generator().manual_seed(0))
    widget = displayed(widgets.orbit_widget, gaussians, size=48)
    assert not any(control.continuous_update for control in widget.controls.values()), "a head render per drag step"
    front, side = redraws(widget, 0, 90.0)
    assert "azimuth 90" in side.layout.title.text
    assert np.abs(np.asarray(side.data[0].z, dtype=float) - np.asarray(front.data[0].z, dtype=float)).mean() > 1
    figure = widgets.tiles_figure(gaussians, head_camera(64, 48))
    counts = np.asarray(figure.data[1].z)
    assert counts.shape == (3, 4) and counts.sum() > 2000


def test_checks_accept_the_library_and_reject_mistakes():
    assert checks.check_conic(conic_from_covariance_2d)
    assert checks.check_composite(composite_tile)
    with pytest.raises(CheckFailed):
        checks.check_conic(lambda cov, eps: conic_from_covariance_2d(cov, 0.0))  # forgot the dilation

    def no_early_termination(pixels, means2d, conics, opacities, channels):
        d = pixels[:, None] - means2d[None]
        a, b, c = conics.unbind(-1)
        sigma = 0.5 * (a * d[..., 0] ** 2 + c * d[..., 1] ** 2) + b * d[..., 0] * d[..., 1]
        alpha = (opacities * torch.exp(-sigma)).clamp(max=0.999)
        t = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1 - alpha[:, :-1]], 1), 1)
        return (alpha * t) @ channels, (alpha * t).sum(1)

    with pytest.raises(CheckFailed, match="compositing"):
        checks.check_composite(no_early_termination)
    with pytest.raises(NotImplementedError):
        checks.check_projection_jacobian(lambda m, K: (_ for _ in ()).throw(NotImplementedError("Exercise: ...")))
