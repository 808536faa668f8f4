"""Gaussians bound to FLAME triangles (paper §3.3, eqs 11–18).

* :mod:`.binding` — triangle frames (eqs 11–14) and local → world (eq 15);
* :mod:`.model` — :class:`GaussianHead`: bound Gaussians + speaker-specific blendshapes (eqs 16–18);
* :mod:`.density` — adaptive density control where children inherit their parent's triangle;
* :mod:`.train` — the training loop of the dynamic Gaussian renderer (eqs 20–24).
"""

from .binding import TriangleFrames, barycentric_origin, local_to_world, triangle_frames
from .density import DensityConfig, DensityController, protect_last_per_triangle
from .model import BoundGaussians, GaussianHead, psi_from_flame

__all__ = [
    "TriangleFrames",
    "triangle_frames",
    "barycentric_origin",
    "local_to_world",
    "GaussianHead",
    "BoundGaussians",
    "psi_from_flame",
    "DensityConfig",
    "DensityController",
    "protect_last_per_triangle",
]
