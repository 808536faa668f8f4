"""Rasterization of 3D Gaussians (paper eq 9; semantic images of eq 22 via ``features``).

>>> from talkinghead_edu.render import Camera, Gaussians, RenderOutput, render
>>> out = render(gaussians, camera, backend="auto", bg=1.0)

Backends: ``reference`` (readable PyTorch, notebook 06), ``fast`` (numba CPU kernels with
their own backward), ``gsplat`` (CUDA). Conventions: :mod:`.camera`.
"""

from .api import BACKENDS, RenderOutput, render, resolve_backend
from .camera import Camera, intrinsics_from_focal, intrinsics_from_fov, look_at_viewmat, project_points
from .gaussians import Gaussians
from .projection import Projection, project_gaussians
from .sh import sh_basis, sh_to_rgb

__all__ = [
    "BACKENDS",
    "Camera",
    "Gaussians",
    "Projection",
    "RenderOutput",
    "intrinsics_from_focal",
    "intrinsics_from_fov",
    "look_at_viewmat",
    "project_points",
    "project_gaussians",
    "render",
    "resolve_backend",
    "sh_basis",
    "sh_to_rgb",
]
