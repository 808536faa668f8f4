"""Interactive views for notebook 06 (rasterization). Each widget is a
:class:`~talkinghead_edu.teach.widgets._display.LiveFigure` over a pure function returning a plotly
``go.Figure`` (tested headless).

* :func:`ellipse_figure` / :func:`ellipse_widget` — one Gaussian, its rendered splat and its 1σ/3σ ellipses;
* :func:`compositing_figure` / :func:`compositing_widget` — two overlapping splats, move their depths;
* :func:`tiles_figure` — the image with its 16×16 tiles and how many splats each tile lists;
* :func:`orbit_figure` / :func:`orbit_widget` — spherical-harmonics colour changing with the view.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from ...render import Camera, Gaussians, project_gaussians, render
from ...render.projection import TILE_SIZE
from ...render.reference import bin_gaussians
from ._display import LiveFigure

__all__ = [
    "ellipse_figure",
    "ellipse_widget",
    "compositing_figure",
    "compositing_widget",
    "tiles_figure",
    "orbit_figure",
    "orbit_widget",
    "image_trace",
]

_FOCAL, _SIZE = 200.0, 64


def image_trace(image: torch.Tensor) -> go.Image:
    """A plotly image trace from an (H, W, 3) tensor in [0, 1]."""
    return go.Image(z=(image.detach().clamp(0, 1).cpu().numpy() * 255).astype(np.uint8))


def _front_camera(size: int = _SIZE) -> Camera:
    return Camera.look_at((0, 0, 1), (0, 0, 0), focal=_FOCAL, width=size, height=size)


def _quat_about_z(angle_deg: float) -> torch.Tensor:
    half = math.radians(angle_deg) / 2
    return torch.tensor([[math.cos(half), 0.0, 0.0, math.sin(half)]])


def ellipse_figure(
    scale_x: float = 0.03,
    scale_y: float = 0.01,
    angle_deg: float = 30.0,
    opacity: float = 0.8,
    backend: str = "reference",
) -> go.Figure:
    """Render one Gaussian (std ``scale_x``, ``scale_y`` metres, rotated in the image plane) 1 m in front of the camera.

    Overlays the 1σ and 3σ ellipses of its dilated 2D covariance ``J Σ Jᵀ + 0.3 I`` and the
    screen box (radius) used for tile binning.
    """
    logit = math.log(opacity / (1 - opacity)) if 0 < opacity < 1 else (20.0 if opacity >= 1 else -20.0)
    g = Gaussians(
        torch.zeros(1, 3),
        _quat_about_z(angle_deg),
        torch.log(torch.tensor([[scale_x, scale_y, 0.01]])),
        torch.tensor([logit]),
        torch.tensor([[1.0, 0.85, 0.3]]),
    )
    cam = _front_camera()
    out = render(g, cam, backend=backend, bg=0.0)
    p = project_gaussians(g.means, g.quats, g.scales, g.opacities, cam)
    a, b, c = p.conics[0].tolist()
    cov = np.linalg.inv(np.array([[a, b], [b, c]]))
    values, vectors = np.linalg.eigh(cov)
    t = np.linspace(0, 2 * np.pi, 100)
    circle = np.stack([np.cos(t), np.sin(t)])
    fig = go.Figure(image_trace(out.image))
    u, v = p.means2d[0].tolist()
    for k, dash in ((1, "solid"), (3, "dash")):
        ellipse = vectors @ (k * np.sqrt(values)[:, None] * circle)
        # pixel (i, j) is drawn centred at integer i, j in plotly; our pixel centres are at +0.5
        fig.add_scatter(
            x=ellipse[0] + u - 0.5,
            y=ellipse[1] + v - 0.5,
            mode="lines",
            name=f"{k}σ",
            line=dict(color="cyan", dash=dash),
        )
    rx, ry = p.radii[0].tolist()
    fig.add_scatter(
        x=[u - rx - 0.5, u + rx - 0.5, u + rx - 0.5, u - rx - 0.5, u - rx - 0.5],
        y=[v - ry - 0.5, v - ry - 0.5, v + ry - 0.5, v + ry - 0.5, v - ry - 0.5],
        mode="lines",
        name="screen box (radius)",
        line=dict(color="white", width=1),
    )
    fig.update_layout(
        title=f"Σ' = [[{cov[0, 0]:.1f}, {cov[0, 1]:.1f}], [{cov[0, 1]:.1f}, {cov[1, 1]:.1f}]] px², "
        f"peak alpha {out.alpha.max().item():.2f}",
        width=520,
        height=520,
        margin=dict(l=10, r=10, t=40, b=10),
    )
    return fig


def ellipse_widget() -> LiveFigure:
    """Sliders for the scales, in-plane rotation and opacity of one Gaussian → :func:`ellipse_figure`."""
    import ipywidgets as w

    return LiveFigure(
        ellipse_figure,
        dict(
            scale_x=w.FloatLogSlider(value=0.03, base=10, min=-3, max=-1, description="scale x (m)"),
            scale_y=w.FloatLogSlider(value=0.01, base=10, min=-3, max=-1, description="scale y (m)"),
            angle_deg=w.FloatSlider(value=30, min=-90, max=90, step=5, description="rotation °"),
            opacity=w.FloatSlider(value=0.8, min=0.01, max=0.99, step=0.01, description="opacity"),
        ),
    )


def compositing_figure(
    red_depth: float = 0.9, blue_depth: float = 1.1, opacity: float = 0.7, backend: str = "reference"
) -> go.Figure:
    """Two overlapping splats (red left, blue right) at the given camera distances;
    the nearer one is in front (eq 9)."""
    means = torch.tensor([[-0.01, 0.0, 1.0 - red_depth], [0.01, 0.0, 1.0 - blue_depth]])
    means[:, 0] *= torch.tensor([red_depth, blue_depth])  # keep their image positions fixed
    logit = math.log(opacity / (1 - opacity))
    g = Gaussians(
        means,
        torch.tensor([[1.0, 0, 0, 0]] * 2),
        torch.log(torch.full((2, 3), 0.02)) + torch.log(means.new_tensor([[red_depth], [blue_depth]])),
        torch.full((2,), logit),
        torch.tensor([[1.0, 0.1, 0.1], [0.1, 0.3, 1.0]]),
    )
    out = render(g, _front_camera(), backend=backend, bg=1.0)
    front = "red" if red_depth < blue_depth else "blue"
    # The image alone does not move while the order stays the same (sizes and positions scale with depth),
    # so the scene is also drawn from above: the camera at depth 0 looking up the depth axis.
    fig = make_subplots(1, 2, column_widths=[0.62, 0.38], subplot_titles=("image", "seen from above"))
    fig.add_trace(image_trace(out.image), 1, 1)
    fig.add_trace(
        go.Scatter(
            x=means[:, 0].tolist(),
            y=[red_depth, blue_depth],
            mode="markers+text",
            marker=dict(color=["red", "blue"], size=14),
            text=[f"{red_depth:.2f}", f"{blue_depth:.2f}"],
            textposition="middle right",
            showlegend=False,
        ),
        1,
        2,
    )
    fig.add_trace(
        go.Scatter(
            x=[0.0],
            y=[0.0],
            mode="markers+text",
            text=["camera"],
            textposition="middle right",
            marker=dict(symbol="triangle-up", size=14, color="black"),
            showlegend=False,
        ),
        1,
        2,
    )
    fig.update_xaxes(title="x (m)", range=[-0.03, 0.03], row=1, col=2)
    fig.update_yaxes(title="distance from the camera (m)", range=[-0.05, 1.3], row=1, col=2)
    fig.update_layout(
        title=f"{front} is nearer, so it is composited first",
        width=680,
        height=420,
        margin=dict(l=10, r=10, t=60, b=10),
    )
    return fig


def compositing_widget() -> LiveFigure:
    """Depth sliders for two splats → :func:`compositing_figure` (swap them and watch the overlap change)."""
    import ipywidgets as w

    return LiveFigure(
        compositing_figure,
        dict(
            red_depth=w.FloatSlider(value=0.9, min=0.8, max=1.2, step=0.01, description="red depth"),
            blue_depth=w.FloatSlider(value=1.1, min=0.8, max=1.2, step=0.01, description="blue depth"),
            opacity=w.FloatSlider(value=0.7, min=0.05, max=0.99, step=0.01, description="opacity"),
        ),
    )


def tiles_figure(gaussians: Gaussians, camera: Camera, backend: str = "fast") -> go.Figure:
    """The rendered image beside a heat map of how many splats each 16×16 tile lists, tile grid drawn on both."""
    with torch.no_grad():
        out = render(gaussians, camera, backend=backend, bg=1.0)
        p = project_gaussians(gaussians.means, gaussians.quats, gaussians.scales, gaussians.opacities, camera)
        offsets, _ = bin_gaussians(p.means2d, p.radii, p.depths, camera.width, camera.height)
    tiles_x = (camera.width + TILE_SIZE - 1) // TILE_SIZE
    counts = (offsets[1:] - offsets[:-1]).reshape(-1, tiles_x).numpy()
    fig = make_subplots(1, 2, subplot_titles=("rendered image", "splats listed per 16×16 tile (sorted by depth)"))
    fig.add_trace(image_trace(out.image), 1, 1)
    fig.add_trace(
        go.Heatmap(
            z=counts,
            x0=TILE_SIZE / 2 - 0.5,
            dx=TILE_SIZE,
            y0=TILE_SIZE / 2 - 0.5,
            dy=TILE_SIZE,
            colorscale="Viridis",
            colorbar=dict(title="splats"),
        ),
        1,
        2,
    )
    for col in (1, 2):
        for x in range(0, camera.width + 1, TILE_SIZE):
            fig.add_shape(
                type="line",
                x0=x - 0.5,
                x1=x - 0.5,
                y0=-0.5,
                y1=camera.height - 0.5,
                line=dict(width=0.5, color="gray"),
                row=1,
                col=col,
            )
        for y in range(0, camera.height + 1, TILE_SIZE):
            fig.add_shape(
                type="line",
                y0=y - 0.5,
                y1=y - 0.5,
                x0=-0.5,
                x1=camera.width - 0.5,
                line=dict(width=0.5, color="gray"),
                row=1,
                col=col,
            )
    fig.update_yaxes(autorange="reversed", row=1, col=2)
    fig.update_layout(width=900, height=460, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def orbit_figure(
    gaussians: Gaussians, azimuth_deg: float = 0.0, elevation_deg: float = 0.0, size: int = 128, backend: str = "fast"
) -> go.Figure:
    """Render the head scene from an orbiting camera; with SH colours the shading follows the view."""
    from ...render.scenes import head_camera

    with torch.no_grad():
        out = render(
            gaussians,
            head_camera(size, size, azimuth_deg=azimuth_deg, elevation_deg=elevation_deg),
            backend=backend,
            bg=1.0,
        )
    fig = go.Figure(image_trace(out.image))
    fig.update_layout(
        title=f"azimuth {azimuth_deg:.0f}°, elevation {elevation_deg:.0f}°",
        width=420,
        height=420,
        margin=dict(l=10, r=10, t=40, b=10),
    )
    return fig


def orbit_widget(gaussians: Gaussians, size: int = 128, backend: str = "fast") -> LiveFigure:
    """Azimuth/elevation sliders → :func:`orbit_figure`.

    The sliders redraw on release (``continuous_update=False``): one render of the 30 000-Gaussian
    head of notebook 06 at 160 px takes about 0.4 s of CPU, too slow to follow a drag (the ellipse
    and compositing widgets render one or two splats, 0.03-0.06 s, and do follow it)."""
    import ipywidgets as w

    on_release = dict(continuous_update=False)
    return LiveFigure(
        lambda azimuth_deg, elevation_deg: orbit_figure(gaussians, azimuth_deg, elevation_deg, size, backend),
        dict(
            azimuth_deg=w.FloatSlider(value=0, min=-180, max=180, step=5, description="azimuth °", **on_release),
            elevation_deg=w.FloatSlider(value=0, min=-60, max=60, step=5, description="elevation °", **on_release),
        ),
    )
