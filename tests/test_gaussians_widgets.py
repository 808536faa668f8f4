"""Widgets of notebooks 05/07, driven headless: set slider values, check the returned figures."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from _widget_display import displayed, redraws

from talkinghead_edu.teach.widgets import gaussians as w


def test_triangle_frame_figure_draws_the_frame_and_the_gaussian():
    verts = torch.tensor([[0.0, 0.0, 0.0], [0.01, 0.0, 0.0], [0.0, 0.01, 0.0]])
    faces = torch.tensor([[0, 1, 2]])
    widget = displayed(w.binding_widget, verts, faces, triangle=0)
    redraws(widget, 0, 1.0)  # η0 = 1: P at v0
    redraws(widget, 1, 0.0)
    _, fig = redraws(widget, 3, 2.0)  # ū along n1 (the normal, +z here) by 2 mm
    traces = {t.name: t for t in fig.data}
    np.testing.assert_allclose(
        [traces["P (eq 11)"].x[0], traces["P (eq 11)"].y[0], traces["P (eq 11)"].z[0]], [0, 0, 0], atol=1e-7
    )
    u = traces["u = R ū + P (eq 15)"]
    np.testing.assert_allclose([u.x[0], u.y[0], u.z[0]], [0.0, 0.0, 0.002], atol=1e-7)
    with pytest.raises(ValueError, match="triangle must be"):
        w.triangle_frame_figure(verts, faces, triangle=3)


def test_image_row_and_curves():
    fig = w.image_row_figure([torch.rand(8, 8, 3), np.random.rand(8, 8)], ["a", "b"])
    assert isinstance(fig.data[0], go.Image) and isinstance(fig.data[1], go.Heatmap)
    with pytest.raises(ValueError, match="titles"):
        w.image_row_figure([torch.rand(8, 8, 3)], ["a", "b"])
    history = {"step": [1, 2], "loss": [1.0, 0.5], "val_step": [2], "val_psnr": [20.0], "num_gaussians": [10, 12]}
    fig = w.training_curves_figure(history)
    assert list(fig.data[1].y) == [20.0]


def test_lip_gaussians_follow_the_jaw():
    from talkinghead_edu.flame import load_head_model
    from talkinghead_edu.gaussians import GaussianHead
    from talkinghead_edu.semantics import label_id

    try:
        flame = load_head_model()
    except Exception as exc:  # the bundled head is built by another stage
        pytest.skip(f"bundled head model unavailable: {exc}")
    lips = torch.nonzero(flame.face_labels == label_id("lips")).squeeze(1)
    head = GaussianHead(flame.faces, psi_dim=3 + flame.n_expr, triangles=lips)
    widget = displayed(w.lip_gaussians_widget, flame, head)
    closed, opened = redraws(widget, 0, 0.2)  # open the jaw
    closed, opened = np.array(closed.data[1].y), np.array(opened.data[1].y)
    assert opened.min() < closed.min() - 1e-3  # the lower lip moved down with the jaw


def test_render_browser_draws_each_test_frame():
    from talkinghead_edu.data.video_dataset import list_video_speakers, load_video_dataset
    from talkinghead_edu.flame import load_head_model
    from talkinghead_edu.gaussians.train import RendererConfig, RendererTrainer

    video = load_video_dataset(list_video_speakers()[0], resolution=32)
    trainer = RendererTrainer(video, load_head_model(), RendererConfig(seed=0))
    widget = displayed(w.render_browser_widget, trainer, "test")
    first, second = redraws(widget, 0, 1)
    frames = [int(i) for i in video.splits["test"][:2]]
    for figure, index in zip((first, second), frames):
        assert figure.layout.annotations[0].text == f"frame {index}"
        np.testing.assert_array_equal(
            np.asarray(figure.data[0].z), (255 * video.frame(index).clamp(0, 1).numpy()).astype(np.uint8)
        )
