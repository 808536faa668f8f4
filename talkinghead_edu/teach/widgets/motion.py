"""Widgets and figures for notebook 04 (motion translator).

Every widget's callback is a pure figure function here, tested headless:

* :func:`identity_interpolation_figure` / :func:`identity_interpolation_widget` — slide between
  two speakers' identity embeddings and watch the jaw-opening amplitude change;
* :func:`motion_curves_figure` — predicted vs ground-truth jaw angle and lip aperture;
* :func:`attention_figure` — one decoder head's banded attention over an utterance;
* :func:`mesh_animation_figure` / :func:`utterance_animation_widget` — the head mesh animated by
  an utterance, driven in any training speaker's style (plotly frames with a play button).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import plotly.graph_objects as go
import torch

from ...flame.params import FlameParams
from ...motion.evaluate import lip_gap_mm as lip_aperture_mm
from ...motion.model import MotionTranslator
from ...semantics import LABEL_COLORS, LABEL_IDS
from ._display import LiveFigure

__all__ = [
    "jaw_angle_deg",
    "lip_aperture_mm",
    "identity_interpolation_figure",
    "identity_interpolation_widget",
    "motion_curves_figure",
    "attention_figure",
    "mesh_animation_figure",
    "utterance_animation_widget",
]


def jaw_angle_deg(sequence: FlameParams) -> np.ndarray:
    """``(T,)`` jaw rotation angle in degrees (norm of the axis-angle)."""
    return np.degrees(sequence.jaw_pose.detach().cpu().norm(dim=-1).numpy())


def _rms(values: np.ndarray) -> float:
    return float(np.sqrt(np.mean(values**2)))


def identity_interpolation_figure(
    translator: MotionTranslator, features: torch.Tensor, speaker_a: str, speaker_b: str, alpha: float = 0.5
) -> go.Figure:
    """Jaw angle for the identity ``(1 − α) E_id(a) + α E_id(b)`` on the same audio features ``(T, D)``."""
    if translator.identity is None:
        raise ValueError("identity_interpolation_figure: this translator has no identity embedding")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    table = translator.identity.table.weight.detach()
    a, b = table[translator.speaker_index(speaker_a)], table[translator.speaker_index(speaker_b)]
    time_s = np.arange(features.shape[0]) / 25.0
    figure = go.Figure()
    for name, identity, style in (
        (speaker_a, a, "dot"),
        (speaker_b, b, "dash"),
        (f"mix α={alpha:.2f}", (1 - alpha) * a + alpha * b, "solid"),
    ):
        angle = jaw_angle_deg(translator.predict(features, identity_features=identity))
        figure.add_trace(
            go.Scatter(
                x=time_s,
                y=angle,
                name=f"{name} (RMS {_rms(angle):.2f}°)",
                line=dict(dash=style, width=3 if style == "solid" else 1.5),
            )
        )
    figure.update_layout(
        title="Same audio, interpolated identity embedding: jaw opening",
        xaxis_title="time (s)",
        yaxis_title="jaw angle (°)",
        height=350,
    )
    return figure


def identity_interpolation_widget(
    translator: MotionTranslator, features: torch.Tensor, speaker_a: str, speaker_b: str
) -> LiveFigure:
    """A :class:`~talkinghead_edu.teach.widgets._display.LiveFigure` with a slider ``alpha`` (children[0])."""
    import ipywidgets as widgets

    slider = widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="α (a→b)", continuous_update=False)
    return LiveFigure(
        lambda alpha: identity_interpolation_figure(translator, features, speaker_a, speaker_b, alpha),
        dict(alpha=slider),
    )


def motion_curves_figure(
    predicted: FlameParams, truth: FlameParams | None = None, head=None, title: str = ""
) -> go.Figure:
    """Jaw angle (and, with ``head``, inner-lip aperture) over time, predicted vs ground truth."""
    from plotly.subplots import make_subplots

    rows = 2 if head is not None else 1
    figure = make_subplots(
        rows=rows, cols=1, shared_xaxes=True, subplot_titles=["jaw angle (°)", "lip aperture (mm)"][:rows]
    )
    for sequence, name, color in ((truth, "ground truth", "black"), (predicted, "predicted", "crimson")):
        if sequence is None:
            continue
        time_s = np.arange(sequence.num_frames) / 25.0
        figure.add_trace(
            go.Scatter(x=time_s, y=jaw_angle_deg(sequence), name=name, line=dict(color=color)), row=1, col=1
        )
        if head is not None:
            figure.add_trace(
                go.Scatter(
                    x=time_s, y=lip_aperture_mm(head, sequence), name=name, line=dict(color=color), showlegend=False
                ),
                row=2,
                col=1,
            )
    figure.update_layout(title=title or "Predicted vs ground-truth motion", height=250 * rows + 100)
    figure.update_xaxes(title_text="time (s)", row=rows, col=1)
    return figure


def attention_figure(weights: torch.Tensor, head_index: int = 0, title: str = "") -> go.Figure:
    """Heatmap of one head's attention ``weights (H, T, T)`` (rows: output frame, columns: input frame)."""
    if weights.dim() != 3 or weights.shape[1] != weights.shape[2]:
        raise ValueError(f"attention_figure: expected (H, T, T) weights, got {tuple(weights.shape)}")
    figure = go.Figure(go.Heatmap(z=weights[head_index].detach().cpu().numpy(), colorscale="Viridis"))
    figure.update_layout(
        title=title or f"decoder attention, head {head_index}",
        xaxis_title="input frame",
        yaxis_title="output frame",
        yaxis_autorange="reversed",
        height=400,
        width=450,
    )
    return figure


_FACE_LABELS = ("skin", "lips", "teeth", "mouth_interior", "eyes", "eyebrows")


def mesh_animation_figure(
    head, sequence: FlameParams, max_frames: int = 40, stride: int = 1, title: str = ""
) -> go.Figure:
    """The front of the head (face labels, centroid ``z > 0``) animated by ``sequence`` at 25/stride fps.

    Args:
        head: FLAME model with ``face_labels``.
        sequence: the motion (its first ``max_frames * stride`` frames are shown).
    """
    faces = head.faces.cpu().numpy()
    template = head.v_template.cpu().numpy()
    keep = template[faces].mean(axis=1)[:, 2] > 0.0
    if head.face_labels is not None:
        labels = head.face_labels.cpu().numpy()
        keep &= np.isin(labels, [LABEL_IDS[name] for name in _FACE_LABELS])
        colors = LABEL_COLORS[labels[keep]]
    else:
        colors = np.tile(LABEL_COLORS[LABEL_IDS["skin"]], (int(keep.sum()), 1))
    used, local_faces = np.unique(faces[keep], return_inverse=True)
    local_faces = local_faces.reshape(-1, 3)
    frame_ids = np.arange(0, sequence.num_frames, stride)[:max_frames]
    expression, pose = sequence.expression.detach()[frame_ids], sequence.pose.detach()[frame_ids]
    with torch.no_grad():
        vertices = (
            head(expression=expression.to(head.v_template.device), pose=pose.to(head.v_template.device))
            .vertices[:, used]
            .cpu()
            .numpy()
        )
    vertices = np.round(vertices, 5)
    face_colors = [f"rgb({int(255 * r)},{int(255 * g)},{int(255 * b)})" for r, g, b in colors]

    def mesh(v):
        return go.Mesh3d(
            x=v[:, 0],
            y=v[:, 1],
            z=v[:, 2],
            i=local_faces[:, 0],
            j=local_faces[:, 1],
            k=local_faces[:, 2],
            facecolor=face_colors,
            flatshading=True,
            lighting=dict(ambient=0.5, diffuse=0.8, specular=0.1),
        )

    frames = [go.Frame(data=[mesh(v)], name=str(int(f))) for v, f in zip(vertices, frame_ids)]
    duration_ms = 40 * stride
    figure = go.Figure(data=[mesh(vertices[0])], frames=frames)
    figure.update_layout(
        title=title or "animated head",
        height=500,
        width=500,
        scene=dict(
            aspectmode="data",
            camera=dict(eye=dict(x=0, y=0, z=1.6), up=dict(x=0, y=1, z=0)),
            xaxis=dict(visible=False),
            yaxis=dict(visible=False),
            zaxis=dict(visible=False),
        ),
        updatemenus=[
            dict(
                type="buttons",
                showactive=False,
                buttons=[
                    dict(
                        label="▶ play",
                        method="animate",
                        args=[None, dict(frame=dict(duration=duration_ms, redraw=True), fromcurrent=True)],
                    ),
                    dict(
                        label="❚❚",
                        method="animate",
                        args=[[None], dict(frame=dict(duration=0, redraw=False), mode="immediate")],
                    ),
                ],
            )
        ],
        sliders=[
            dict(
                steps=[
                    dict(
                        method="animate",
                        label=f"{int(f) / 25:.2f}s",
                        args=[[str(int(f))], dict(mode="immediate", frame=dict(duration=0, redraw=True))],
                    )
                    for f in frame_ids
                ]
            )
        ],
    )
    return figure


def utterance_animation_widget(
    translator: MotionTranslator,
    head,
    features_by_utterance: Mapping[str, torch.Tensor],
    max_frames: int = 40,
    stride: int = 2,
) -> LiveFigure:
    """Dropdowns ``utterance`` (children[0]) and ``speaker`` (children[1], the target style) -> animated mesh."""
    import ipywidgets as widgets

    if not features_by_utterance:
        raise ValueError("utterance_animation_widget: no utterances given")
    speakers = translator.speakers if translator.identity is not None else ["(no identity)"]

    def update(utterance: str, speaker: str) -> go.Figure:
        style = speaker if translator.identity is not None else None
        sequence = translator.predict(features_by_utterance[utterance], style)
        return mesh_animation_figure(
            head, sequence, max_frames=max_frames, stride=stride, title=f"{utterance} in the style of {speaker}"
        )

    return LiveFigure(
        update,
        dict(
            utterance=widgets.Dropdown(options=list(features_by_utterance), description="utterance"),
            speaker=widgets.Dropdown(options=speakers, description="style of"),
        ),
    )
