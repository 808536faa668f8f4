"""Thin adapter over ``gsplat.rasterization`` (CUDA only) with the same inputs and outputs as the CPU backends.

Colours are evaluated from SH here (the same :func:`sh_to_rgb` as the CPU path) and
passed to gsplat together with the feature channels as one (N, 3 + C) colour tensor,
so one gsplat pass renders colour, features and accumulated depth (``render_mode="RGB+D"``).
"""

from __future__ import annotations

import torch

from .camera import Camera
from .gaussians import Gaussians
from .output import RenderOutput
from .sh import sh_to_rgb


def render_gsplat(
    gaussians: Gaussians, camera: Camera, background: torch.Tensor, features: torch.Tensor | None, eps2d: float
):
    """Render with gsplat; see :func:`talkinghead_edu.render.render` for the arguments and outputs."""
    if gaussians.means.device.type != "cuda":
        raise RuntimeError(
            "render(backend='gsplat') needs CUDA tensors (gsplat rasterizes on the GPU only); "
            "use backend='fast' or 'reference' on the CPU"
        )
    from gsplat import rasterization

    device, dtype = gaussians.means.device, gaussians.means.dtype
    cam = camera.to(device=device, dtype=dtype)
    if gaussians.sh_degree is None:
        rgb = gaussians.colors
    else:
        rgb = sh_to_rgb(gaussians.colors, gaussians.means - cam.center)
    colors = rgb if features is None else torch.cat([rgb, features.to(dtype)], dim=-1)
    rendered, alpha, meta = rasterization(
        gaussians.means,
        torch.nn.functional.normalize(gaussians.quats, dim=-1),
        gaussians.scales,
        gaussians.opacities,
        colors,
        cam.viewmat[None],
        cam.K[None],
        cam.width,
        cam.height,
        near_plane=cam.near,
        far_plane=cam.far,
        eps2d=eps2d,
        sh_degree=None,
        packed=False,
        render_mode="RGB+D",
        rasterize_mode="classic",
    )
    rendered, alpha = rendered[0], alpha[0]  # (H, W, 3 + C + 1), (H, W, 1)
    means2d = meta["means2d"][0]  # (N, 2) view of gsplat's (1, N, 2) tensor
    if means2d.requires_grad:
        # gsplat's kernels use the (1, N, 2) tensor, so its gradient is copied onto the view's .grad
        meta["means2d"].register_hook(lambda grad: setattr(means2d, "grad", grad[0].detach()))
    radii = meta["radii"][0]
    radii = radii.max(dim=-1).values if radii.dim() == 2 else radii
    depth = torch.where(alpha > 1e-6, rendered[..., -1:] / alpha.clamp_min(1e-6), torch.zeros_like(alpha))
    return RenderOutput(
        image=rendered[..., :3] + (1.0 - alpha) * background,
        alpha=alpha,
        depth=depth,
        features=rendered[..., 3:-1] if features is not None else None,
        means2d=means2d,
        radii=radii.int(),
        visible=radii > 0,
        backend="gsplat",
    )
