"""What :func:`talkinghead_edu.render.render` returns, and its one-line fallback warnings (shared by the backends)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch


@dataclass
class RenderOutput:
    """What :func:`render` returns (H, W from the camera; N Gaussians; C feature channels).

    Attributes:
        image: (H, W, 3) composited colour over the background.
        alpha: (H, W, 1) accumulated opacity ``1 − Π(1 − α_i)``.
        depth: (H, W, 1) expected camera-space depth ``Σ w_i z_i / alpha`` (0 where alpha = 0).
        features: (H, W, C) composited extra channels (no background), or ``None``.
        means2d: (N, 2) pixel positions; a non-leaf tensor whose ``.grad`` is kept after
            ``backward()`` (the view-space positional gradient used for densification).
        radii: (N,) int screen radius in pixels (0 = culled).
        visible: (N,) bool, ``radii > 0``.
        backend: the backend that actually ran.
    """

    image: torch.Tensor
    alpha: torch.Tensor
    depth: torch.Tensor
    features: torch.Tensor | None
    means2d: torch.Tensor
    radii: torch.Tensor
    visible: torch.Tensor
    backend: str


def warn_once(message: str, _seen: set = set()) -> None:  # noqa: B006 (deliberate: one warning per message)
    """Emit ``message`` as a single warning line, once per process."""
    if message not in _seen:
        _seen.add(message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)
