"""The Gaussian parameter bundle rendered by :func:`talkinghead_edu.render.render`.

Parameters are stored unconstrained (as optimised): scales as logs, opacities as
logits, quaternions unnormalised; the activated values are properties.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

from ..conventions import SH_C0


@dataclass
class Gaussians:
    """N 3D Gaussians.

    Attributes:
        means: (N, 3) centres in world coordinates.
        quats: (N, 4) rotations as quaternions ``(w, x, y, z)``; normalised when used.
        log_scales: (N, 3) log of the standard deviations along the Gaussian's own axes.
        opacity_logits: (N,) ``opacity = sigmoid(opacity_logits)``.
        colors: (N, K, 3) spherical-harmonics coefficients with ``K = (d + 1)²``, d ≤ 3
            (3DGS/gsplat convention: ``rgb = max(SH(dir) + 0.5, 0)``), or (N, 3) plain RGB.
    """

    means: torch.Tensor
    quats: torch.Tensor
    log_scales: torch.Tensor
    opacity_logits: torch.Tensor
    colors: torch.Tensor

    def __post_init__(self):
        n = self.means.shape[0] if self.means.dim() == 2 else -1
        expected = {"means": (n, 3), "quats": (n, 4), "log_scales": (n, 3), "opacity_logits": (n,)}
        for name, shape in expected.items():
            tensor = getattr(self, name)
            if not isinstance(tensor, torch.Tensor):
                raise TypeError(f"Gaussians.{name} must be a torch.Tensor, got {type(tensor).__name__}")
            if tuple(tensor.shape) != shape or n < 0:
                raise ValueError(
                    f"Gaussians.{name} must have shape {('N',) + shape[1:]} with N = means.shape[0], "
                    f"got {tuple(tensor.shape)} (means {tuple(self.means.shape)})"
                )
        if self.colors.dim() == 2:
            if tuple(self.colors.shape) != (n, 3):
                raise ValueError(
                    f"Gaussians.colors as plain RGB must have shape (N, 3), got {tuple(self.colors.shape)}"
                )
        elif self.colors.dim() == 3:
            k = self.colors.shape[1]
            if self.colors.shape[0] != n or self.colors.shape[2] != 3 or k not in (1, 4, 9, 16):
                raise ValueError(
                    "Gaussians.colors as SH must have shape (N, K, 3) with K in {1, 4, 9, 16} "
                    f"(degree 0..3), got {tuple(self.colors.shape)}"
                )
        else:
            raise ValueError(f"Gaussians.colors must be (N, 3) RGB or (N, K, 3) SH, got {tuple(self.colors.shape)}")
        for f in fields(self):
            tensor = getattr(self, f.name)
            if tensor.device != self.means.device:
                raise ValueError(f"Gaussians.{f.name} is on {tensor.device}, means on {self.means.device}")

    def __len__(self) -> int:
        return self.means.shape[0]

    @property
    def sh_degree(self) -> int | None:
        """SH degree d (0..3), or ``None`` for plain RGB colours."""
        return None if self.colors.dim() == 2 else int(math.isqrt(self.colors.shape[1])) - 1

    @property
    def scales(self) -> torch.Tensor:
        """(N, 3) standard deviations ``exp(log_scales)``."""
        return torch.exp(self.log_scales)

    @property
    def opacities(self) -> torch.Tensor:
        """(N,) opacities in (0, 1)."""
        return torch.sigmoid(self.opacity_logits)

    def to(self, device=None, dtype=None) -> "Gaussians":
        return Gaussians(*(getattr(self, f.name).to(device=device, dtype=dtype) for f in fields(self)))

    def detach(self) -> "Gaussians":
        return Gaussians(*(getattr(self, f.name).detach() for f in fields(self)))

    def requires_grad_(self, requires_grad: bool = True) -> "Gaussians":
        for f in fields(self):
            getattr(self, f.name).requires_grad_(requires_grad)
        return self

    def parameters(self) -> list[torch.Tensor]:
        """The five tensors, e.g. for ``torch.optim.Adam(g.parameters())``."""
        return [getattr(self, f.name) for f in fields(self)]

    @classmethod
    def random(
        cls,
        n: int,
        center=(0.0, 0.0, 0.0),
        extent: float = 0.1,
        scale: float = 0.01,
        sh_degree: int | None = None,
        opacity: tuple[float, float] = (0.3, 0.95),
        generator: torch.Generator | None = None,
        dtype=torch.float32,
        device=None,
    ) -> "Gaussians":
        """``n`` random Gaussians in a cube of half-size ``extent`` around ``center`` (tests, demos).

        Scales are log-uniform in [scale/2, 2·scale]; colours random RGB or random SH
        (DC term from a random colour, higher bands ±0.2).
        """

        def uniform(*shape):
            return torch.rand(*shape, generator=generator, dtype=dtype)

        means = torch.as_tensor(center, dtype=dtype) + extent * (2 * uniform(n, 3) - 1)
        quats = torch.randn(n, 4, generator=generator, dtype=dtype)
        log_scales = math.log(scale) + math.log(2.0) * (2 * uniform(n, 3) - 1)
        low, high = opacity
        p = low + (high - low) * uniform(n)
        opacity_logits = torch.log(p) - torch.log1p(-p)
        rgb = uniform(n, 3)
        if sh_degree is None:
            colors = rgb
        else:
            k = (sh_degree + 1) ** 2
            colors = 0.2 * (2 * uniform(n, k, 3) - 1)
            colors[:, 0] = (rgb - 0.5) / SH_C0  # SH DC: rgb = c0 * Y00 + 0.5
        return cls(means, quats, log_scales, opacity_logits, colors).to(device=device)
