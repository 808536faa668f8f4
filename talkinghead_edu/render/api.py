"""``render()``: the one entry point to every rasterization backend (eq 9, and eq 22 via ``features``)."""

from __future__ import annotations

import math

import torch

from ..errors import InputError, InputTypeError
from .camera import Camera
from .gaussians import Gaussians
from .output import RenderOutput, warn_once  # noqa: F401 (re-exported: the public names live here)
from .profiling import stage
from .projection import EPS2D, project_gaussians
from .sh import sh_to_rgb

BACKENDS = ("auto", "reference", "fast", "gsplat")
#: Largest magnitude accepted in a Gaussian tensor (means in metres, logits, SH coefficients).
MAX_MAGNITUDE = 1e6


def resolve_backend(backend: str, device: torch.device) -> str:
    """``"auto"`` → ``"gsplat"`` on CUDA tensors when gsplat is importable, else ``"fast"``."""
    if backend not in BACKENDS:
        raise ValueError(f"render: backend must be one of {BACKENDS}, got {backend!r}")
    if backend != "auto":
        return backend
    if device.type == "cuda":
        try:
            import gsplat  # noqa: F401

            return "gsplat"
        except ImportError:
            pass
    return "fast"


def _background(bg, dtype, device) -> torch.Tensor:
    if bg is None:
        return torch.zeros(3, dtype=dtype, device=device)
    try:
        bg = torch.as_tensor(bg, dtype=dtype, device=device)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InputTypeError(
            f"render: bg must be None, a float or a (3,) tensor, got {type(bg).__name__} ({exc})"
        ) from None
    if bg.dim() == 0:
        bg = bg.expand(3)
    if bg.shape != (3,):
        raise InputError(f"render: bg must be None, a float or a (3,) tensor, got shape {tuple(bg.shape)}")
    if not bool(torch.isfinite(bg).all()):
        raise InputError(f"render: bg must be a finite colour, got {bg.tolist()}")
    return bg


def _checked_inputs(gaussians: Gaussians, features: torch.Tensor | None) -> tuple[Gaussians, torch.Tensor | None]:
    """The entry checks of :func:`render`, the same for every backend (cost: one sum per tensor).

    dtype policy: every tensor must be floating point; all are brought to one dtype —
    float64 if any of them is float64, else float32 (half precision is computed in float32) —
    and the output has that dtype. Gradients flow back to the original tensors.
    Values: NaN or ±inf in any tensor, a magnitude beyond :data:`MAX_MAGNITUDE` (means in metres,
    colours, logits), scales that overflow ``exp``, or an all-zero quaternion are refused with an
    :class:`~talkinghead_edu.errors.InputError` naming the tensor.
    """
    named = {
        f"gaussians.{name}": tensor
        for name, tensor in zip(("means", "quats", "log_scales", "opacity_logits", "colors"), gaussians.parameters())
    }
    if features is not None:
        if not isinstance(features, torch.Tensor):
            raise InputTypeError(f"render: features must be a torch.Tensor (N, C), got {type(features).__name__}")
        named["features"] = features
    for name, tensor in named.items():
        if not tensor.is_floating_point():
            raise InputTypeError(f"render: {name} must be a floating-point tensor, got {tensor.dtype}")
    dtype = torch.float64 if any(t.dtype == torch.float64 for t in named.values()) else torch.float32
    if any(t.dtype != dtype for t in named.values()):
        gaussians = gaussians.to(dtype=dtype)
        features = None if features is None else features.to(dtype)
        named = dict(zip(named, gaussians.parameters() + ([features] if features is not None else [])))
    with torch.no_grad():
        # one reduction per tensor (min and max propagate NaN); the exact search runs only on failure
        ranges = [torch.stack(torch.aminmax(t)) for t in named.values() if t.numel()]
        if ranges and not bool((torch.stack(ranges).abs() <= MAX_MAGNITUDE).all()):
            for name, tensor in named.items():
                bad = ~(tensor.abs() <= MAX_MAGNITUDE)
                if bool(bad.any()):
                    rows = torch.nonzero(bad.reshape(bad.shape[0], -1).any(-1)).flatten()
                    raise InputError(
                        f"render: {name} holds NaN, infinite or huge (beyond ±{MAX_MAGNITUDE:g}) values in "
                        f"{rows.numel()} of {len(gaussians)} Gaussians (first: index {int(rows[0])}); "
                        "expected finite numbers"
                    )
        largest = float(gaussians.log_scales.max()) if len(gaussians) else 0.0
        if largest >= math.log(torch.finfo(dtype).max):
            raise InputError(
                f"render: gaussians.log_scales reach {largest:.4g}, whose exp overflows {dtype}; "
                "expected log standard deviations of a scene (metres, e.g. -8..2)"
            )
        if len(gaussians) and not bool((gaussians.quats.abs().amax(dim=-1) > 0).all()):
            raise InputError(
                "render: gaussians.quats holds an all-zero quaternion, which is no rotation; "
                "expected non-zero (w, x, y, z) (normalised when used)"
            )
    return gaussians, features


def render(
    gaussians: Gaussians,
    camera: Camera,
    backend: str = "auto",
    bg=None,
    features: torch.Tensor | None = None,
    eps2d: float = EPS2D,
) -> RenderOutput:
    """Render Gaussians seen by a camera.

    Args:
        gaussians: the :class:`Gaussians` (N of them).
        camera: the :class:`Camera` (OpenCV axes, pixel centres at +0.5).
        backend: ``"auto"`` (gsplat on CUDA, else ``"fast"``), ``"reference"`` (readable
            PyTorch), ``"fast"`` (numba CPU kernels; falls back to ``"reference"`` with one
            warning if the JIT fails) or ``"gsplat"`` (needs CUDA).
        bg: background colour: ``None`` (black), a float, or a (3,) tensor.
        features: optional (N, C) per-Gaussian channels composited with the same weights
            (e.g. fixed semantic colours, eq 22); returned without background.
        eps2d: low-pass dilation of the 2D covariance (pixels²).

    Returns:
        :class:`RenderOutput`; everything differentiable w.r.t. the Gaussians' tensors and ``features``.

    Example:
        >>> g = Gaussians.random(100, extent=0.1)
        >>> cam = Camera.look_at((0, 0, 1), (0, 0, 0), fov_y_deg=30, width=64, height=64)
        >>> render(g, cam).image.shape
        torch.Size([64, 64, 3])
    """
    if not isinstance(gaussians, Gaussians):
        raise InputTypeError(f"render: expected a Gaussians bundle, got {type(gaussians).__name__}")
    if not isinstance(camera, Camera):
        raise InputTypeError(f"render: expected a Camera, got {type(camera).__name__}")
    gaussians, features = _checked_inputs(gaussians, features)
    n = len(gaussians)
    if features is not None and (features.dim() != 2 or features.shape[0] != n):
        raise InputError(f"render: features must have shape (N, C) with N = {n}, got {tuple(features.shape)}")
    device, dtype = gaussians.means.device, gaussians.means.dtype
    background = _background(bg, dtype, device)
    camera = camera.to(device=device, dtype=dtype)
    chosen = resolve_backend(backend, device)
    if chosen == "gsplat":
        from .gsplat_backend import render_gsplat

        return render_gsplat(gaussians, camera, background, features, eps2d)

    if chosen == "fast":
        from . import fast

        chosen = "fast" if fast.available() else "reference"
    project = project_gaussians
    if chosen == "fast":
        from .fast_projection import project_gaussians_fast as project
    opacities = gaussians.opacities
    with stage("projection"):
        projection = project(gaussians.means, gaussians.quats, gaussians.scales, opacities, camera, eps2d)
    means2d = projection.means2d
    if means2d.requires_grad:
        means2d.retain_grad()
    with stage("sh"):
        if gaussians.sh_degree is None:
            rgb = gaussians.colors
        elif chosen == "fast":
            from .fast_sh import sh_to_rgb_fast

            rgb = sh_to_rgb_fast(gaussians.colors, gaussians.means, camera.center)
        else:
            rgb = sh_to_rgb(gaussians.colors, gaussians.means - camera.center)
    channels = [rgb, projection.depths[:, None]] + ([features.to(dtype)] if features is not None else [])
    channels = torch.cat(channels, dim=-1)  # (N, 3 + 1 + C): colour, depth, features share one pass
    args = (
        means2d,
        projection.conics,
        opacities,
        channels,
        projection.radii,
        projection.depths,
        camera.width,
        camera.height,
    )
    if chosen == "fast":
        composited, alpha = fast.rasterize_fast(*args)
    else:
        from .reference import rasterize_reference

        composited, alpha = rasterize_reference(*args)
    image = composited[..., :3] + (1.0 - alpha) * background
    depth = torch.where(alpha > 1e-6, composited[..., 3:4] / alpha.clamp_min(1e-6), torch.zeros_like(alpha))
    radii = projection.radii.max(dim=-1).values
    return RenderOutput(
        image=image,
        alpha=alpha,
        depth=depth,
        features=composited[..., 4:] if features is not None else None,
        means2d=means2d,
        radii=radii,
        visible=radii > 0,
        backend=chosen,
    )
