"""Tests for talkinghead_edu.teach.widgets.flame, headless: set a control's value, check the figure.

The figures' coordinates are compared with the model's own output (exact up to float32
→ float64 conversion, atol 1e-6 m).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from _widget_display import displayed, drawn, redraws

from talkinghead_edu.flame import FlameModel, load_head_model
from talkinghead_edu.semantics import LABEL_COLORS, LABEL_IDS
from talkinghead_edu.teach.widgets import flame as flame_widgets


@pytest.fixture(scope="module")
def head():
    return load_head_model()


def _mesh_xyz(figure: go.Figure, index: int = 0) -> np.ndarray:
    mesh = figure.data[index]
    return np.stack([np.asarray(mesh.x), np.asarray(mesh.y), np.asarray(mesh.z)], axis=1)


def test_explorer_jaw_slider_poses_the_mesh(head):
    explorer = displayed(flame_widgets.flame_explorer, head)
    names = [c.description for c in explorer.children[:-1]]
    assert names[8] == "jaw (rad)" and len(explorer.children) == 16
    neutral, opened = redraws(explorer, 8, 0.3)
    assert len(neutral.data) == 2  # mesh + landmarks
    np.testing.assert_allclose(_mesh_xyz(neutral), head.v_template.numpy(), atol=1e-6)
    pose = torch.zeros(1, 15)
    pose[0, 6] = 0.3
    np.testing.assert_allclose(_mesh_xyz(opened), head(pose=pose).vertices[0].numpy(), atol=1e-6)
    landmarks = opened.data[1]
    np.testing.assert_allclose(np.asarray(landmarks.y), head(pose=pose).landmarks[0, :, 1].numpy(), atol=1e-6)


def test_explorer_shape_slider_redraws_the_head(head):
    """Moving "shape 1" draws the head with the first shape component at that many standard deviations."""
    explorer = displayed(flame_widgets.flame_explorer, head)
    assert explorer.children[0].description.startswith("shape 1")
    _, reshaped = redraws(explorer, 0, 2.0)
    shape = torch.zeros(1, head.n_shape)
    shape[0, 0] = 2.0 * head.shape_std[0]
    np.testing.assert_allclose(_mesh_xyz(reshaped), head(shape=shape).vertices[0].numpy(), atol=1e-6)
    _, semantic = redraws(explorer, 13, "semantic")  # the colour dropdown restyles the same mesh
    assert set(flame_widgets.trace_face_colors(semantic.data[0])) != set(
        flame_widgets.trace_face_colors(reshaped.data[0])
    )


def test_explorer_shape_expression_articulation_neck_and_eyes(head):
    values = dict(
        shape_1=1.5,
        expression_2=-1.0,
        articulation="smile",
        amount=0.8,
        neck_yaw=0.2,
        eyes_pitch=0.1,
        show_landmarks=False,
    )
    figure = flame_widgets.flame_explorer_figure(head, **values)
    assert len(figure.data) == 1
    shape = torch.zeros(1, head.n_shape)
    shape[0, 0] = 1.5 * head.shape_std[0]
    expression = torch.zeros(1, head.n_expr)
    expression[0, 1] = -1.0 * head.expr_std[1]
    expression = expression + head.expression_from_articulation(head.articulation_weights({"smile": 0.8}))
    pose = torch.zeros(1, 15)
    pose[0, 4] = 0.2
    pose[0, 9] = pose[0, 12] = 0.1
    expected = head(shape=shape, expression=expression, pose=pose).vertices[0].numpy()
    np.testing.assert_allclose(_mesh_xyz(figure), expected, atol=1e-6)


def test_semantic_colours_follow_the_labels(head):
    figure = flame_widgets.flame_explorer_figure(head, color_by="semantic")
    labels = head.face_labels.numpy()
    shown = flame_widgets.trace_face_colors(figure.data[0])
    assert len(shown) == head.n_faces
    for label in ("skin", "lips", "teeth", "eyes"):
        face = np.flatnonzero(labels == LABEL_IDS[label])[0]
        r, g, b = (int(round(float(v) * 255)) for v in LABEL_COLORS[LABEL_IDS[label]])
        assert shown[face] == f"rgb({r},{g},{b})", label
    natural = flame_widgets.face_colors(head, "natural")
    eyes = labels == LABEL_IDS["eyes"]
    assert np.isclose(natural[eyes], [0.02, 0.02, 0.02]).all(axis=1).any(), "no pupil painted on the eyeballs"
    with pytest.raises(ValueError, match="color_by must be"):
        flame_widgets.face_colors(head, "rainbow")


def test_contact_sheet_shows_each_expression(head):
    figure = flame_widgets.contact_sheet(head)
    names = list(flame_widgets.CONTACT_SHEET_EXPRESSIONS)
    assert [annotation.text for annotation in figure.layout.annotations] == names
    assert len(figure.data) == len(names)
    expression, pose = flame_widgets.contact_sheet_params(head)
    vertices = head(expression=expression, pose=pose).vertices
    for index in range(len(names)):
        np.testing.assert_allclose(_mesh_xyz(figure, index), vertices[index].numpy(), atol=1e-6)
    np.testing.assert_allclose(_mesh_xyz(figure, 0), head.v_template.numpy(), atol=1e-6)
    # every expression but neutral changes the face by more than a millimetre somewhere
    moved = (vertices[1:] - vertices[:1]).norm(dim=-1).amax(dim=1)
    assert (moved > 1e-3).all(), dict(zip(names[1:], moved.tolist()))


def test_explorer_works_for_a_model_without_labels_or_articulations(head):
    """An official FLAME model has neither semantic labels nor articulations: plain colours, no error."""
    bare = FlameModel(
        v_template=head.v_template.numpy(),
        faces=head.faces.numpy(),
        shapedirs=head.shapedirs.numpy(),
        n_shape=head.n_shape,
        posedirs=head.posedirs.numpy(),
        J_regressor=head.J_regressor.numpy(),
        weights=head.lbs_weights.numpy(),
        parents=head.parents.numpy(),
    )
    explorer = displayed(flame_widgets.flame_explorer, bare)
    explorer.children[7].value = 1.0  # an articulation amount on a model without articulations changes nothing
    figure = drawn(explorer)
    assert set(flame_widgets.trace_face_colors(figure.data[0])) == {"rgb(204,204,204)"}
    assert len(figure.data) == 2 and len(figure.data[1].x) == 0  # no landmark embedding
    np.testing.assert_allclose(_mesh_xyz(figure), head.v_template.numpy(), atol=1e-6)
    redraws(explorer, 8, 0.2)  # the jaw still opens
