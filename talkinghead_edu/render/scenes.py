"""Small synthetic scenes for the benchmark, the tests and notebook 06 (no data files needed)."""

from __future__ import annotations

import math

import torch

from ..conventions import SH_C0
from .camera import Camera
from .gaussians import Gaussians

HEAD_SEMI_AXES = (0.075, 0.1, 0.09)  # metres: a head about 0.15 wide, 0.2 tall, 0.18 deep


def head_scene(
    n: int, sh_degree: int | None = 3, generator: torch.Generator | None = None, dtype=torch.float32, device=None
) -> Gaussians:
    """``n`` flat Gaussians covering an ellipsoidal "head" (semi-axes :data:`HEAD_SEMI_AXES`) at the origin.

    Each Gaussian lies in the surface's tangent plane (its local z axis along the normal),
    sized so neighbours overlap (std ≈ 0.8·sqrt(area / n), 5× thinner along the normal);
    colours are skin-like RGB with a darker band for the "hair", with view-dependent
    SH bands of amplitude 0.05 when ``sh_degree`` is given.
    """
    if n < 1:
        raise ValueError(f"head_scene: n must be >= 1, got {n}")
    axes = torch.tensor(HEAD_SEMI_AXES, dtype=torch.float64)
    unit = torch.nn.functional.normalize(torch.randn(n, 3, generator=generator, dtype=torch.float64), dim=-1)
    means = unit * axes
    normals = torch.nn.functional.normalize(means / axes**2, dim=-1)  # gradient of the implicit surface
    a, b, c = HEAD_SEMI_AXES
    area = 4 * math.pi * ((a * b) ** 1.6 / 3 + (a * c) ** 1.6 / 3 + (b * c) ** 1.6 / 3) ** (1 / 1.6)  # Thomsen
    tangent_std = 0.8 * math.sqrt(area / n)
    log_scales = torch.log(torch.tensor([tangent_std, tangent_std, tangent_std / 5], dtype=torch.float64)).expand(n, 3)
    log_scales = log_scales + 0.2 * torch.randn(n, 3, generator=generator, dtype=torch.float64)
    # quaternion turning +z onto the normal: axis z × n, w = 1 + cos(angle), normalised later
    quats = torch.stack(
        [1 + normals[:, 2] + 1e-6, -normals[:, 1], normals[:, 0], torch.zeros(n, dtype=torch.float64)], -1
    )
    skin = torch.tensor([0.85, 0.64, 0.52], dtype=torch.float64)
    hair = torch.tensor([0.25, 0.17, 0.12], dtype=torch.float64)
    is_hair = ((unit[:, 1] > 0.45) | ((unit[:, 2] < -0.2) & (unit[:, 1] > -0.3))).to(torch.float64)[:, None]
    rgb = (1 - is_hair) * skin + is_hair * hair + 0.05 * torch.randn(n, 3, generator=generator, dtype=torch.float64)
    opacity = 0.85 + 0.1 * torch.rand(n, generator=generator, dtype=torch.float64)
    if sh_degree is None:
        colors = rgb.clamp(0, 1)
    else:
        colors = 0.05 * torch.randn(n, (sh_degree + 1) ** 2, 3, generator=generator, dtype=torch.float64)
        colors[:, 0] = (rgb - 0.5) / SH_C0
    gaussians = Gaussians(means, quats, log_scales.contiguous(), torch.log(opacity / (1 - opacity)), colors)
    return gaussians.to(device=device, dtype=dtype)


def head_camera(
    width: int = 256,
    height: int = 256,
    distance: float = 1.0,
    azimuth_deg: float = 0.0,
    elevation_deg: float = 0.0,
    fill: float = 0.7,
    dtype=torch.float32,
    device=None,
) -> Camera:
    """A camera ``distance`` metres from the head's centre whose image height the head fills by ``fill``."""
    head_height = 2 * HEAD_SEMI_AXES[1]
    focal = fill * height * distance / head_height
    return Camera.orbit(
        azimuth_deg, elevation_deg, distance, focal=focal, width=width, height=height, dtype=dtype, device=device
    )
