"""Figures and widgets of the tour notebook (``notebooks/00_tour.ipynb``).

Every widget is a :class:`~talkinghead_edu.teach.widgets._display.LiveFigure`: controls over a pure
function that returns a plotly ``go.Figure`` (the tests call both).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ...data.speech import ARTICULATION_NAMES
from ...semantics import LABEL_COLORS, LABEL_NAMES
from ._display import LiveFigure

__all__ = [
    "pipeline_diagram",
    "phoneme_spectrogram_figure",
    "video_frame_figure",
    "video_scrubber",
    "style_comparison_figure",
    "label_image",
    "image_source",
]

# (x, y, text, group) of the boxes of the paper's Figure 2; groups colour the boxes.
_BOXES = [
    (0.0, 2.0, "audio<br>(16 kHz)", "input"),
    (1.2, 2.0, "audio features<br>eq 1", "translator"),
    (2.4, 2.0, "universal audio encoder<br>contrastive decoupling, eqs 2–3", "translator"),
    (3.6, 2.0, "identity embedding +<br>motion decoder, eqs 4–8", "translator"),
    (4.8, 2.0, "FLAME params<br>(T × P)", "flame"),
    (4.8, 1.0, "FLAME LBS<br>eq 10", "flame"),
    (3.6, 1.0, "triangle frames +<br>bound Gaussians, eqs 11–15", "renderer"),
    (2.4, 1.0, "speaker-specific<br>blendshapes, eqs 16–18", "renderer"),
    (1.2, 1.0, "rasterization<br>eqs 9, 22", "renderer"),
    (0.0, 1.0, "inpainting blend<br>eq 19", "renderer"),
    (0.0, 0.0, "video frame", "input"),
]
_ARROWS = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 7), (7, 8), (8, 9), (9, 10)]
_GROUP_COLORS = {"input": "#e8e8e8", "translator": "#cfe3ff", "flame": "#ffe2b8", "renderer": "#d4f0d4"}
_GROUP_NAMES = {
    "translator": "(b) speaker-specific motion translator",
    "flame": "FLAME bridge",
    "renderer": "(c) dynamic Gaussian renderer",
}


def pipeline_diagram() -> go.Figure:
    """The pipeline of the paper's Figure 2 as a box-and-arrow diagram (each box names its equations)."""
    figure = go.Figure()
    half_w, half_h = 0.52, 0.32
    for x, y, text, group in _BOXES:
        figure.add_shape(
            type="rect",
            x0=x - half_w,
            x1=x + half_w,
            y0=y - half_h,
            y1=y + half_h,
            fillcolor=_GROUP_COLORS[group],
            line=dict(color="#555555"),
        )
        figure.add_annotation(x=x, y=y, text=text, showarrow=False, font=dict(size=11))
    for start, end in _ARROWS:
        (x0, y0), (x1, y1) = _BOXES[start][:2], _BOXES[end][:2]
        dx, dy = np.sign(x1 - x0) * half_w, np.sign(y1 - y0) * half_h
        figure.add_annotation(
            x=x1 - dx,
            y=y1 - dy,
            ax=x0 + dx,
            ay=y0 + dy,
            xref="x",
            yref="y",
            axref="x",
            ayref="y",
            showarrow=True,
            arrowhead=3,
            arrowwidth=1.5,
            text="",
        )
    for i, (group, name) in enumerate(_GROUP_NAMES.items()):
        figure.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name=name,
                marker=dict(size=14, symbol="square", color=_GROUP_COLORS[group]),
            )
        )
    figure.update_xaxes(visible=False, range=[-0.7, 5.5])
    figure.update_yaxes(visible=False, range=[-0.5, 2.5], scaleanchor="x")
    figure.update_layout(
        title="GaussianTalker pipeline (paper Fig. 2)",
        height=420,
        margin=dict(l=10, r=10, t=40, b=10),
        legend=dict(orientation="h", y=-0.05),
        plot_bgcolor="white",
    )
    return figure


def phoneme_spectrogram_figure(audio: np.ndarray, phonemes, sample_rate: int = 16000, title: str = "") -> go.Figure:
    """Log-mel spectrogram with the phoneme segments drawn over it.

    Args:
        audio: ``(L,)`` waveform.
        phonemes: sequence of objects with ``symbol``, ``viseme``, ``start_s``, ``end_s``.
        sample_rate: audio rate.
    """
    from ...audio.features import log_mel

    spectrogram = log_mel(np.asarray(audio, dtype=np.float32), sample_rate=sample_rate).numpy()  # (F, 80), 10 ms hop
    times = np.arange(spectrogram.shape[0]) * 0.01
    figure = go.Figure(
        go.Heatmap(
            z=spectrogram.T,
            x=times,
            y=np.arange(spectrogram.shape[1]),
            colorscale="Magma",
            showscale=False,
            hoverinfo="skip",
        )
    )
    n_mels = spectrogram.shape[1]
    for index, phone in enumerate(phonemes):
        figure.add_vline(x=phone.start_s, line=dict(color="white", width=1, dash="dot"))
        label = phone.symbol or "∅"
        figure.add_annotation(
            x=0.5 * (phone.start_s + phone.end_s),
            y=n_mels + 4 + 5 * (index % 2),
            text=label,
            showarrow=False,
            font=dict(size=11),
            hovertext=f"{label} ({phone.viseme}) {phone.start_s:.3f}–{phone.end_s:.3f} s",
        )
    figure.update_layout(
        title=title or "phonemes over the log-mel spectrogram",
        height=320,
        xaxis_title="time (s)",
        yaxis_title="mel band",
        margin=dict(l=50, r=10, t=40, b=40),
    )
    figure.update_yaxes(range=[0, n_mels + 12])
    return figure


def label_image(labels: np.ndarray, outline: np.ndarray | None = None) -> np.ndarray:
    """``(H, W)`` label ids -> ``(H, W, 3)`` uint8 colours (``semantics.LABEL_COLORS``).

    ``outline``: an optional ``(H, W)`` bool mask whose boundary pixels are drawn white.
    """
    image = (LABEL_COLORS[np.asarray(labels)] * 255).astype(np.uint8)
    if outline is not None:
        from scipy import ndimage

        image[outline & ~ndimage.binary_erosion(outline)] = 255
    return image


def image_source(pixels: np.ndarray) -> str:
    """``(H, W, 3)`` uint8 -> a PNG data URI for ``go.Image(source=...)`` (lighter than ``z=``)."""
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def video_frame_figure(video, index: int, show_landmarks: bool = True) -> go.Figure:
    """A frame of a :class:`~talkinghead_edu.data.video_dataset.VideoDataset` beside its label map.

    Left: the RGB frame with the 68 landmarks; right: the semantic label map with the
    outline of the face mask M (eq 19) in white.
    """
    if not 0 <= index < video.num_frames:
        raise IndexError(f"frame {index} out of range [0, {video.num_frames})")
    frame = (video.frame(index).numpy() * 255).astype(np.uint8)
    figure = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(f"frame {index} ({index / video.fps:.2f} s)", "labels + mask M"),
        horizontal_spacing=0.03,
    )
    figure.add_trace(go.Image(source=image_source(frame), name="frame"), row=1, col=1)
    if show_landmarks and video.landmarks2d is not None:
        points = video.landmarks2d[index] - 0.5  # plotly puts pixel (0, 0)'s centre at 0
        figure.add_trace(
            go.Scatter(
                x=points[:, 0],
                y=points[:, 1],
                mode="markers",
                name="68 landmarks",
                marker=dict(size=4, color="#00ff66"),
            ),
            row=1,
            col=1,
        )
    if video.labels is not None:
        mask = video.face_mask[index] if video.face_mask is not None else None
        figure.add_trace(
            go.Image(source=image_source(label_image(video.labels[index], outline=mask)), name="labels"), row=1, col=2
        )
        for label_id, name in enumerate(LABEL_NAMES):
            color = "rgb({},{},{})".format(*(LABEL_COLORS[label_id] * 255).astype(int))
            figure.add_trace(
                go.Scatter(
                    x=[None], y=[None], mode="markers", name=name, marker=dict(size=10, symbol="square", color=color)
                ),
                row=1,
                col=2,
            )
    for col in (1, 2):
        figure.update_xaxes(visible=False, row=1, col=col)
        figure.update_yaxes(
            visible=False, autorange="reversed", scaleanchor=f"x{'' if col == 1 else col}", row=1, col=col
        )
    figure.update_layout(height=380, margin=dict(l=5, r=5, t=30, b=5), legend=dict(font=dict(size=9)))
    return figure


def video_scrubber(video, start: int = 0) -> LiveFigure:
    """A frame slider and a landmarks checkbox over :func:`video_frame_figure`.

    Returns:
        a :class:`~talkinghead_edu.teach.widgets._display.LiveFigure`; ``.children[0]`` is the frame
        slider, ``.children[1]`` the landmarks checkbox, ``.view`` the figure.
    """
    import ipywidgets as widgets

    return LiveFigure(
        lambda frame, landmarks: video_frame_figure(video, frame, landmarks),
        dict(
            frame=widgets.IntSlider(
                value=start, min=0, max=video.num_frames - 1, step=1, description="frame", continuous_update=False
            ),
            landmarks=widgets.Checkbox(value=True, description="landmarks"),
        ),
    )


def style_comparison_figure(
    utterances, articulation_names=None, columns=("jaw_open", "lip_round", "smile")
) -> go.Figure:
    """Ground-truth motion curves of several speakers saying the same sentence.

    Top: jaw opening (degrees, from ``jaw_pose``); below: chosen articulation curves. The
    same phonemes give the same rhythm, the talking styles give different amplitudes.

    Args:
        utterances: objects with ``speaker``, ``jaw_pose (T, 3)``, ``articulation (T, A)``.
        articulation_names: column names of ``articulation`` (default: the speech module's).
        columns: which articulations to plot.
    """
    names = list(ARTICULATION_NAMES if articulation_names is None else articulation_names)
    rows = 1 + len(columns)
    titles = ["jaw rotation (deg)"] + list(columns)
    figure = make_subplots(rows=rows, cols=1, shared_xaxes=True, subplot_titles=titles, vertical_spacing=0.06)
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
    for k, u in enumerate(utterances):
        t = np.arange(len(u.jaw_pose)) / 25.0
        color = palette[k % len(palette)]
        figure.add_trace(
            go.Scatter(
                x=t,
                y=np.rad2deg(np.asarray(u.jaw_pose)[:, 0]),
                name=u.speaker,
                line=dict(color=color),
                legendgroup=u.speaker,
            ),
            row=1,
            col=1,
        )
        for r, column in enumerate(columns, start=2):
            figure.add_trace(
                go.Scatter(
                    x=t,
                    y=np.asarray(u.articulation)[:, names.index(column)],
                    name=u.speaker,
                    line=dict(color=color),
                    legendgroup=u.speaker,
                    showlegend=False,
                ),
                row=r,
                col=1,
            )
    figure.update_xaxes(title_text="time (s)", row=rows, col=1)
    figure.update_layout(
        height=160 * rows + 60, margin=dict(l=50, r=10, t=40, b=40), title="same sentence, different talking styles"
    )
    return figure
