"""Interactive views of the FLAME head for notebook 03.

* :func:`head_figure` — one plotly 3D mesh (semantic or natural colours, landmarks);
* :func:`flame_explorer_figure` — the pure update behind :func:`flame_explorer`;
* :func:`flame_explorer` — a :class:`~talkinghead_edu.teach.widgets._display.LiveFigure` with sliders
  for shape, expression, an articulation, jaw, neck and eyes;
* :func:`mesh_grid` — several posed meshes side by side (e.g. random identities);
* :func:`contact_sheet` — a grid of named expressions (neutral, jaw open, "oo", "ee",
  smile, blink, brows up) built from the head's articulations.

Plotly's scene is set up with +y up and the camera on the +z axis, looking at the face.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from ...flame.model import JOINT_NAMES, FlameModel
from ...semantics import LABEL_COLORS, LABEL_IDS
from ._display import LiveFigure

__all__ = [
    "NATURAL_COLORS",
    "CONTACT_SHEET_EXPRESSIONS",
    "face_colors",
    "trace_face_colors",
    "head_figure",
    "flame_explorer_figure",
    "flame_explorer",
    "mesh_grid",
    "contact_sheet_params",
    "contact_sheet",
]

#: Display colours per semantic label (RGB in [0, 1]), a "natural" palette next to LABEL_COLORS.
NATURAL_COLORS: np.ndarray = np.array(
    [
        [0.00, 0.00, 0.00],  # background
        [0.87, 0.69, 0.58],  # skin
        [0.78, 0.42, 0.42],  # lips
        [0.96, 0.95, 0.90],  # teeth
        [0.35, 0.08, 0.10],  # mouth interior
        [0.96, 0.96, 0.96],  # eyes (sclera; iris and pupil added from geometry)
        [0.30, 0.20, 0.12],  # eyebrows
        [0.22, 0.15, 0.10],  # hair
        [0.84, 0.66, 0.55],  # neck / torso
    ],
    dtype=np.float32,
)
_IRIS, _PUPIL = np.array([0.30, 0.45, 0.55]), np.array([0.02, 0.02, 0.02])

#: Articulation amounts of each expression on the contact sheet (``jaw_open`` also rotates the jaw).
CONTACT_SHEET_EXPRESSIONS: dict[str, dict[str, float]] = {
    "neutral": {},
    "jaw open": {"jaw_open": 1.0},
    '"oo"': {"lip_round": 1.0, "jaw_open": 0.25},
    '"ee"': {"lip_spread": 1.0, "jaw_open": 0.2},
    "smile": {"smile": 1.0},
    "blink": {"blink_left": 1.0, "blink_right": 1.0},
    "brows up": {"brow_raise": 1.0},
}

_SCENE = dict(
    aspectmode="data",
    xaxis=dict(visible=False),
    yaxis=dict(visible=False),
    zaxis=dict(visible=False),
    camera=dict(up=dict(x=0, y=1, z=0), eye=dict(x=0.35, y=0.1, z=1.9), projection=dict(type="perspective")),
)


def _numpy(array) -> np.ndarray:
    return (
        array.detach().cpu().double().numpy()
        if isinstance(array, torch.Tensor)
        else np.asarray(array, dtype=np.float64)
    )


def face_colors(head: FlameModel, color_by: str = "natural") -> np.ndarray:
    """(F, 3) RGB per triangle.

    Args:
        color_by: ``"semantic"`` (the fixed label colours of eq 22, :data:`LABEL_COLORS`),
            ``"natural"`` (skin tones, with iris and pupil painted on the eyeballs from the
            rest geometry so that gaze is visible), or ``"plain"`` (one grey).
    """
    n_faces = head.n_faces
    if color_by == "plain" or head.face_labels is None:
        return np.full((n_faces, 3), 0.8)
    labels = head.face_labels.cpu().numpy()
    if color_by == "semantic":
        return LABEL_COLORS[labels].astype(np.float64)
    if color_by != "natural":
        raise ValueError(f"color_by must be 'natural', 'semantic' or 'plain', got {color_by!r}")
    colors = NATURAL_COLORS[labels].astype(np.float64)
    eye_faces = np.flatnonzero(labels == LABEL_IDS["eyes"])
    if eye_faces.size:
        rest = _numpy(head.v_template)
        centroids = rest[head.faces.cpu().numpy()[eye_faces]].mean(1)
        eye_centres = _numpy(head.J_regressor @ head.v_template)[
            [JOINT_NAMES.index("eye_left"), JOINT_NAMES.index("eye_right")]
        ]
        nearest = np.argmin(np.linalg.norm(centroids[:, None] - eye_centres[None], axis=-1), axis=1)
        direction = centroids - eye_centres[nearest]
        facing = direction[:, 2] / np.maximum(np.linalg.norm(direction, axis=1), 1e-12)  # cos of angle to +z
        colors[eye_faces[facing > 0.88]] = _IRIS
        colors[eye_faces[facing > 0.97]] = _PUPIL
    return colors


def _rgb(color) -> str:
    r, g, b = (int(round(float(c) * 255)) for c in np.clip(color, 0.0, 1.0))
    return f"rgb({r},{g},{b})"


def _mesh_trace(head: FlameModel, vertices: np.ndarray, colors: np.ndarray, name: str = "head") -> go.Mesh3d:
    """Mesh3d of the head with one colour per triangle.

    Colours are sent as a per-cell palette index with a stepwise colorscale (a few bytes per
    triangle) instead of one ``"rgb(...)"`` string per triangle, and coordinates as float32,
    which keeps each figure small in the notebook.
    """
    faces = head.faces.cpu().numpy().astype(np.int16 if head.n_vertices < 2**15 else np.int32)
    palette, palette_index = np.unique(
        np.round(np.clip(colors, 0, 1) * 255).astype(np.uint8), axis=0, return_inverse=True
    )
    n_colors = len(palette)
    colorscale = []
    for index, color in enumerate(palette):
        rgb = _rgb(color / 255.0)
        colorscale += [[index / n_colors, rgb], [(index + 1) / n_colors, rgb]]
    vertices = vertices.astype(np.float32)
    return go.Mesh3d(
        x=vertices[:, 0],
        y=vertices[:, 1],
        z=vertices[:, 2],
        i=faces[:, 0],
        j=faces[:, 1],
        k=faces[:, 2],
        # palette index k maps to (k + 0.5) / n, the middle of colour k's band of the colorscale
        intensity=palette_index.reshape(-1).astype(np.uint8 if n_colors < 256 else np.int32),
        intensitymode="cell",
        colorscale=colorscale,
        cmin=-0.5,
        cmax=n_colors - 0.5,
        showscale=False,
        flatshading=False,
        name=name,
        hoverinfo="skip",
        lighting=dict(ambient=0.45, diffuse=0.75, specular=0.15, roughness=0.6),
        lightposition=dict(x=0.5, y=2.0, z=3.0),
    )


def trace_face_colors(trace: go.Mesh3d) -> list[str]:
    """The ``"rgb(r,g,b)"`` colour of each triangle of a mesh trace made here (decodes the palette)."""
    return [trace.colorscale[2 * int(i)][1] for i in np.asarray(trace.intensity)]


def head_figure(
    head: FlameModel,
    vertices: torch.Tensor | np.ndarray | None = None,
    landmarks: torch.Tensor | np.ndarray | None = None,
    color_by: str = "natural",
    title: str = "",
    height: int = 520,
) -> go.Figure:
    """A plotly figure of one head mesh.

    Args:
        head: the model (faces and labels come from it).
        vertices: (V, 3) posed vertices; ``None`` shows the template.
        landmarks: (L, 3) points drawn as markers (``None`` for none).
        color_by: see :func:`face_colors`.
    """
    vertices = _numpy(head.v_template if vertices is None else vertices)
    if vertices.shape != (head.n_vertices, 3):
        raise ValueError(f"head_figure: vertices must be ({head.n_vertices}, 3), got {vertices.shape}")
    figure = go.Figure(_mesh_trace(head, vertices, face_colors(head, color_by)))
    if landmarks is not None:
        points = _numpy(landmarks)
        figure.add_trace(
            go.Scatter3d(
                x=points[:, 0],
                y=points[:, 1],
                z=points[:, 2] + 1e-3,
                mode="markers",
                marker=dict(size=3, color="rgb(20,200,60)"),
                name="68 landmarks",
                text=[f"landmark {i}" for i in range(len(points))],
                hoverinfo="text",
            )
        )
    figure.update_layout(
        scene=_SCENE, title=title, height=height, margin=dict(l=0, r=0, t=40 if title else 10, b=0), showlegend=False
    )
    return figure


def flame_explorer_figure(
    head: FlameModel,
    shape_1: float = 0.0,
    shape_2: float = 0.0,
    shape_3: float = 0.0,
    expression_1: float = 0.0,
    expression_2: float = 0.0,
    expression_3: float = 0.0,
    articulation: str = "smile",
    amount: float = 0.0,
    jaw: float = 0.0,
    neck_pitch: float = 0.0,
    neck_yaw: float = 0.0,
    eyes_yaw: float = 0.0,
    eyes_pitch: float = 0.0,
    color_by: str = "natural",
    show_landmarks: bool = True,
) -> go.Figure:
    """The explorer's pure update: slider values in, posed head figure out.

    Shape and expression sliders are in units of each component's standard deviation
    (``shape_std``, ``expr_std``); ``articulation``/``amount`` add a named articulation's
    expression; ``jaw``, ``neck_*`` and ``eyes_*`` are rotations in radians (pitch about +x,
    yaw about +y; both eyes turn together).
    """
    device, dtype = head.v_template.device, head.v_template.dtype
    shape = torch.zeros(1, head.n_shape, dtype=dtype, device=device)
    expression = torch.zeros(1, head.n_expr, dtype=dtype, device=device)
    shape_std = head.shape_std if head.shape_std is not None else torch.ones(head.n_shape, dtype=dtype, device=device)
    expr_std = head.expr_std if head.expr_std is not None else torch.ones(head.n_expr, dtype=dtype, device=device)
    for index, value in enumerate((shape_1, shape_2, shape_3)[: head.n_shape]):
        shape[0, index] = value * shape_std[index]
    for index, value in enumerate((expression_1, expression_2, expression_3)[: head.n_expr]):
        expression[0, index] = value * expr_std[index]
    if amount and head.articulation_names:
        expression = expression + head.expression_from_articulation(head.articulation_weights({articulation: amount}))
    pose = torch.zeros(1, 15, dtype=dtype, device=device)
    pose[0, 3:6] = torch.tensor([neck_pitch, neck_yaw, 0.0])  # neck
    pose[0, 6] = jaw  # jaw opens about +x
    pose[0, 9:12] = pose[0, 12:15] = torch.tensor([eyes_pitch, eyes_yaw, 0.0])  # both eyes
    with torch.no_grad():
        out = head(shape=shape, expression=expression, pose=pose)
    return head_figure(head, out.vertices[0], out.landmarks[0] if show_landmarks else None, color_by=color_by)


def flame_explorer(head: FlameModel) -> LiveFigure:
    """Sliders for shape, expression, an articulation, jaw, neck and eyes over a live 3D head.

    Every slider redraws on release (``continuous_update=False``): posing and re-sending the
    head takes a few tenths of a second.

    Returns:
        a :class:`~talkinghead_edu.teach.widgets._display.LiveFigure` (children: 6 component sliders,
        articulation dropdown, amount, jaw, neck ×2, eyes ×2, colour dropdown, landmark
        checkbox, then the figure).
    """
    import ipywidgets as widgets

    def slider(description: str, low: float, high: float, step: float) -> widgets.FloatSlider:
        return widgets.FloatSlider(
            value=0.0, min=low, max=high, step=step, description=description, continuous_update=False
        )

    controls = dict(
        shape_1=slider("shape 1 (σ)", -3, 3, 0.1),
        shape_2=slider("shape 2 (σ)", -3, 3, 0.1),
        shape_3=slider("shape 3 (σ)", -3, 3, 0.1),
        expression_1=slider("expr 1 (σ)", -3, 3, 0.1),
        expression_2=slider("expr 2 (σ)", -3, 3, 0.1),
        expression_3=slider("expr 3 (σ)", -3, 3, 0.1),
        articulation=widgets.Dropdown(options=head.articulation_names or ["(none)"], description="articulation"),
        amount=slider("amount", -1, 1.5, 0.05),
        jaw=slider("jaw (rad)", -0.05, 0.5, 0.01),
        neck_pitch=slider("neck pitch", -0.5, 0.5, 0.02),
        neck_yaw=slider("neck yaw", -0.7, 0.7, 0.02),
        eyes_yaw=slider("eyes yaw", -0.5, 0.5, 0.02),
        eyes_pitch=slider("eyes pitch", -0.4, 0.4, 0.02),
        color_by=widgets.Dropdown(options=["natural", "semantic", "plain"], description="colours"),
        show_landmarks=widgets.Checkbox(value=True, description="landmarks"),
    )

    return LiveFigure(lambda **values: flame_explorer_figure(head, **values), controls)


def contact_sheet_params(head: FlameModel, expressions: Mapping[str, Mapping[str, float]] = CONTACT_SHEET_EXPRESSIONS):
    """Expression (X, E) and pose (X, 15) for each named expression (X of them), via the articulations."""
    weights = torch.cat([head.articulation_weights(amounts) for amounts in expressions.values()])
    return head.params_from_articulation(weights)


def mesh_grid(
    head: FlameModel,
    vertices: torch.Tensor | np.ndarray,
    titles: list[str],
    columns: int = 4,
    color_by: str = "natural",
    row_height: int = 300,
) -> go.Figure:
    """A grid of 3D heads seen from the front, one per row of ``vertices`` (X, V, 3)."""
    vertices = _numpy(vertices)
    if vertices.ndim != 3 or vertices.shape[0] != len(titles) or vertices.shape[1:] != (head.n_vertices, 3):
        raise ValueError(
            f"mesh_grid: vertices must be ({len(titles)}, {head.n_vertices}, 3) for {len(titles)} titles, "
            f"got {vertices.shape}"
        )
    rows = -(-len(titles) // columns)
    figure = make_subplots(
        rows=rows,
        cols=columns,
        specs=[[{"type": "scene"}] * columns] * rows,
        subplot_titles=titles,
        horizontal_spacing=0.0,
        vertical_spacing=0.04,
    )
    colors = face_colors(head, color_by)
    for index, title in enumerate(titles):
        figure.add_trace(
            _mesh_trace(head, vertices[index], colors, name=title), row=index // columns + 1, col=index % columns + 1
        )
    figure.update_scenes(**{**_SCENE, "camera": dict(up=dict(x=0, y=1, z=0), eye=dict(x=0.0, y=0.0, z=1.5))})
    figure.update_layout(height=row_height * rows, margin=dict(l=0, r=0, t=30, b=0), showlegend=False)
    return figure


def contact_sheet(
    head: FlameModel,
    expressions: Mapping[str, Mapping[str, float]] = CONTACT_SHEET_EXPRESSIONS,
    columns: int = 4,
    color_by: str = "natural",
) -> go.Figure:
    """A grid of 3D heads, one per named expression (default: :data:`CONTACT_SHEET_EXPRESSIONS`)."""
    expression, pose = contact_sheet_params(head, expressions)
    with torch.no_grad():
        vertices = head(expression=expression, pose=pose).vertices
    return mesh_grid(head, vertices, list(expressions), columns=columns, color_by=color_by)
