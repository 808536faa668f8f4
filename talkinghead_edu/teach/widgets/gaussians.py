"""Figures and widgets for notebooks 05 (binding) and 07 (losses and training).

Every widget is a :class:`~talkinghead_edu.teach.widgets._display.LiveFigure`: controls over a pure
``*_figure`` function that returns a plotly ``go.Figure`` (tested headless).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from ...conventions import SH_C0
from ...gaussians import GaussianHead, triangle_frames
from ...gaussians.binding import barycentric_origin
from ._display import LiveFigure

__all__ = [
    "triangle_frame_figure",
    "binding_widget",
    "lip_gaussians_figure",
    "lip_gaussians_widget",
    "image_row_figure",
    "training_curves_figure",
    "render_browser_widget",
]

_AXIS_COLORS = ("#d62728", "#2ca02c", "#1f77b4")  # n0 red, n1 (normal) green, n2 blue


def _mesh_trace(vertices: np.ndarray, faces: np.ndarray, opacity: float = 0.35, color: str = "#c8b4a0") -> go.Mesh3d:
    return go.Mesh3d(
        x=vertices[:, 0],
        y=vertices[:, 1],
        z=vertices[:, 2],
        i=faces[:, 0],
        j=faces[:, 1],
        k=faces[:, 2],
        color=color,
        opacity=opacity,
        flatshading=True,
        hoverinfo="skip",
        name="mesh",
    )


def _scene_layout(
    fig: go.Figure, title: str, center: np.ndarray | None = None, radius: float | None = None
) -> go.Figure:
    scene = dict(
        aspectmode="data",
        xaxis_title="x",
        yaxis_title="y",
        zaxis_title="z",
        camera=dict(eye=dict(x=0.0, y=0.0, z=1.6), up=dict(x=0, y=1, z=0)),
    )
    if center is not None and radius is not None:
        scene.update(
            {f"{axis}axis": dict(range=[center[i] - radius, center[i] + radius]) for i, axis in enumerate("xyz")}
        )
        scene["aspectmode"] = "cube"
    fig.update_layout(title=title, scene=scene, margin=dict(l=0, r=0, t=40, b=0), height=480, showlegend=True)
    return fig


def triangle_frame_figure(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    triangle: int,
    eta: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3),
    local_offset: tuple[float, float, float] = (0.0, 0.0, 0.0),
    zoom: float = 6.0,
) -> go.Figure:
    """The frame of one triangle (eqs 11–14) drawn on the mesh, and a Gaussian centre ``u = R ū + P`` (eq 15).

    Args:
        vertices: ``(V, 3)`` mesh vertices; faces: ``(F, 3)``.
        triangle: which triangle to show.
        eta: barycentric coefficients (normalised to sum 1 here).
        local_offset: ``ū`` in metres along ``(n0, n1, n2)``.
        zoom: the view spans ``zoom`` mean edge lengths around the triangle.
    """
    if not 0 <= triangle < faces.shape[0]:
        raise ValueError(f"triangle must be in 0..{faces.shape[0] - 1}, got {triangle}")
    eta_t = torch.tensor(eta, dtype=vertices.dtype).clamp_min(0.0)
    if eta_t.sum() <= 0:
        raise ValueError("eta needs at least one positive entry")
    eta_t = eta_t / eta_t.sum()
    frames = triangle_frames(vertices, faces[triangle : triangle + 1])
    rotation, scale = frames.rotation[0, 0], float(frames.scale[0, 0])
    origin = barycentric_origin(frames.corners[0, 0], eta_t)
    centre = rotation @ torch.tensor(local_offset, dtype=vertices.dtype) + origin
    v, f = vertices.detach().numpy(), faces.numpy()
    corners = frames.corners[0, 0].detach().numpy()
    fig = go.Figure()
    near = np.linalg.norm(v[f].mean(1) - corners.mean(0), axis=1) < zoom * scale
    fig.add_trace(_mesh_trace(v, f[near], opacity=0.5))
    loop = np.vstack([corners, corners[:1]])
    fig.add_trace(
        go.Scatter3d(
            x=loop[:, 0],
            y=loop[:, 1],
            z=loop[:, 2],
            mode="lines+markers",
            line=dict(color="black", width=5),
            marker=dict(size=3),
            name=f"triangle {triangle}",
        )
    )
    o = origin.detach().numpy()
    for axis, (name, color) in enumerate(zip(("n0 (first edge)", "n1 (normal)", "n2 = n0 × n1"), _AXIS_COLORS)):
        tip = o + scale * rotation[:, axis].detach().numpy()
        fig.add_trace(
            go.Scatter3d(
                x=[o[0], tip[0]],
                y=[o[1], tip[1]],
                z=[o[2], tip[2]],
                mode="lines",
                line=dict(color=color, width=8),
                name=name,
            )
        )
        fig.add_trace(
            go.Cone(
                x=[tip[0]],
                y=[tip[1]],
                z=[tip[2]],
                u=[0.3 * scale * rotation[0, axis].item()],
                v=[0.3 * scale * rotation[1, axis].item()],
                w=[0.3 * scale * rotation[2, axis].item()],
                colorscale=[[0, color], [1, color]],
                showscale=False,
                sizemode="absolute",
                sizeref=0.3 * scale,
                hoverinfo="skip",
                showlegend=False,
            )
        )
    fig.add_trace(
        go.Scatter3d(
            x=[o[0]], y=[o[1]], z=[o[2]], mode="markers", marker=dict(size=5, color="orange"), name="P (eq 11)"
        )
    )
    c = centre.detach().numpy()
    fig.add_trace(
        go.Scatter3d(
            x=[c[0]],
            y=[c[1]],
            z=[c[2]],
            mode="markers",
            marker=dict(size=7, color="purple", symbol="diamond"),
            name="u = R ū + P (eq 15)",
        )
    )
    return _scene_layout(
        fig,
        f"triangle {triangle}: S = {1000 * scale:.2f} mm, η = ({eta_t[0]:.2f}, {eta_t[1]:.2f}, {eta_t[2]:.2f})",
        corners.mean(0),
        zoom * scale / 1.5,
    )


def binding_widget(vertices: torch.Tensor, faces: torch.Tensor, triangle: int) -> LiveFigure:
    """Sliders for ``η0, η1`` (``η2 = 1 − η0 − η1``) and ``ū`` (mm) -> :func:`triangle_frame_figure`."""
    import ipywidgets as widgets

    def update(eta0, eta1, u_n0_mm, u_n1_mm, u_n2_mm):
        eta2 = max(1.0 - eta0 - eta1, 0.0)
        return triangle_frame_figure(
            vertices, faces, triangle, (eta0, eta1, eta2), (u_n0_mm / 1000, u_n1_mm / 1000, u_n2_mm / 1000)
        )

    slider = dict(continuous_update=False)
    return LiveFigure(
        update,
        dict(
            eta0=widgets.FloatSlider(value=1 / 3, min=0.0, max=1.0, step=0.01, description="η0", **slider),
            eta1=widgets.FloatSlider(value=1 / 3, min=0.0, max=1.0, step=0.01, description="η1", **slider),
            u_n0_mm=widgets.FloatSlider(value=0.0, min=-5.0, max=5.0, step=0.1, description="ū·n0 mm", **slider),
            u_n1_mm=widgets.FloatSlider(value=0.0, min=-5.0, max=5.0, step=0.1, description="ū·n1 mm", **slider),
            u_n2_mm=widgets.FloatSlider(value=0.0, min=-5.0, max=5.0, step=0.1, description="ū·n2 mm", **slider),
        ),
    )


def lip_gaussians_figure(
    flame, head: GaussianHead, jaw_rad: float = 0.0, articulation: str = "smile", amount: float = 0.0
) -> go.Figure:
    """Gaussian centres bound to the lip triangles following the jaw and an articulation.

    Args:
        flame: the head model (:class:`~talkinghead_edu.flame.FlameModel`).
        head: a :class:`GaussianHead` on ``flame.faces`` (e.g. populated only on the lips).
        jaw_rad: jaw rotation about +x; articulation/amount: one named articulation.
    """
    if articulation not in flame.articulation_names:
        raise ValueError(f"unknown articulation {articulation!r}; expected one of {flame.articulation_names}")
    with torch.no_grad():
        weights = flame.articulation_weights({articulation: amount})
        pose = torch.zeros(1, 15)
        pose[0, 6] = jaw_rad
        vertices = flame(expression=flame.expression_from_articulation(weights), pose=pose).vertices
        bound = head(vertices)
    v = vertices[0].numpy()
    mouth = np.unique(flame.faces[head.triangle_ids].numpy())
    center, radius = v[mouth].mean(0), 1.4 * np.abs(v[mouth] - v[mouth].mean(0)).max()
    f = flame.faces.numpy()
    near = np.abs(v[f].mean(1) - center).max(1) < radius
    fig = go.Figure(_mesh_trace(v, f[near], opacity=0.3))
    m = bound.means[0].numpy()
    colors = (255 * np.clip(SH_C0 * head.gaussian_params["sh_dc"][:, 0].detach().numpy() + 0.5, 0, 1)).astype(int)
    fig.add_trace(
        go.Scatter3d(
            x=m[:, 0],
            y=m[:, 1],
            z=m[:, 2],
            mode="markers",
            marker=dict(size=3, color=[f"rgb({r},{g},{b})" for r, g, b in colors]),
            name=f"{head.num_gaussians} lip Gaussians",
        )
    )
    return _scene_layout(fig, f"jaw {jaw_rad:.2f} rad, {articulation} {amount:.2f}", center, radius)


def lip_gaussians_widget(flame, head: GaussianHead) -> LiveFigure:
    """Sliders for the jaw and one articulation -> :func:`lip_gaussians_figure`."""
    import ipywidgets as widgets

    limit = flame.jaw_open_max_rad or 0.3
    return LiveFigure(
        lambda jaw_rad, articulation, amount: lip_gaussians_figure(flame, head, jaw_rad, articulation, amount),
        dict(
            jaw_rad=widgets.FloatSlider(
                value=0.0, min=0.0, max=float(limit), step=0.01, description="jaw (rad)", continuous_update=False
            ),
            articulation=widgets.Dropdown(
                options=list(flame.articulation_names),
                value="smile" if "smile" in flame.articulation_names else flame.articulation_names[0],
                description="articulation",
            ),
            amount=widgets.FloatSlider(
                value=0.0, min=-1.0, max=1.5, step=0.05, description="amount", continuous_update=False
            ),
        ),
    )


def image_row_figure(images: list, titles: list[str], height: int = 320) -> go.Figure:
    """Images ``(H, W, 3)`` in [0, 1] (tensors or arrays) side by side; a ``(H, W)`` map is shown as a heatmap."""
    if len(images) != len(titles):
        raise ValueError(f"{len(images)} images but {len(titles)} titles")
    fig = make_subplots(rows=1, cols=len(images), subplot_titles=titles, horizontal_spacing=0.02)
    for column, image in enumerate(images, start=1):
        array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
        if array.ndim == 2:
            fig.add_trace(
                go.Heatmap(z=array[::-1], colorscale="Viridis", showscale=column == len(images)), row=1, col=column
            )
        else:
            fig.add_trace(go.Image(z=(255 * np.clip(array, 0, 1)).astype(np.uint8)), row=1, col=column)
        fig.update_xaxes(visible=False, row=1, col=column)
        fig.update_yaxes(visible=False, row=1, col=column)
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=40, b=0))
    return fig


def training_curves_figure(history: dict) -> go.Figure:
    """Training loss (log scale), validation PSNR and the number of Gaussians against the step."""
    fig = make_subplots(
        rows=1, cols=3, subplot_titles=("training loss (eq 24)", "validation PSNR (dB)", "number of Gaussians")
    )
    fig.add_trace(go.Scatter(x=history["step"], y=history["loss"], mode="lines", name="loss"), row=1, col=1)
    fig.add_trace(
        go.Scatter(x=history["val_step"], y=history["val_psnr"], mode="lines+markers", name="val PSNR"), row=1, col=2
    )
    fig.add_trace(go.Scatter(x=history["step"], y=history["num_gaussians"], mode="lines", name="N"), row=1, col=3)
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_layout(height=320, showlegend=False, margin=dict(l=40, r=10, t=40, b=30))
    return fig


def render_browser_widget(trainer, split: str = "test") -> LiveFigure:
    """A frame slider over a split: ground truth | pasted render | absolute error."""
    import ipywidgets as widgets

    frames = [int(i) for i in trainer.video.splits[split]]

    def update(position):
        index = frames[position]
        with torch.no_grad():
            composite = trainer.render_frame(index)[3].clamp(0, 1)  # with the corrections where they exist
        truth = trainer.video.frame(index)
        return image_row_figure(
            [truth, composite, (composite - truth).abs().mean(-1)],
            [f"frame {index}", "Gaussian head pasted (eq 19 input)", "|error|"],
        )

    return LiveFigure(
        update,
        dict(
            position=widgets.IntSlider(
                value=0, min=0, max=len(frames) - 1, description=f"{split} frame", continuous_update=False
            )
        ),
    )
