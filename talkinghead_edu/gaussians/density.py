"""Adaptive density control with inherited binding (3DGS §5.2; paper §3.3.1).

Every ``refine_every`` steps, Gaussians whose average view-space positional gradient is
large are

* **cloned** when small (an exact copy; the optimiser moves the two apart), or
* **split** when large: two children sampled from the parent's Gaussian, each with the
  parent's scale divided by 1.6;

and Gaussians that are almost transparent or too large are **pruned**. Every
``reset_every`` steps the opacities are clamped down so the optimiser can rediscover
which Gaussians matter.

Bound-Gaussian rules: a child copies *every* per-Gaussian tensor of its parent, so it
inherits the parent's triangle ``T``, its barycentric ``η`` and its blendshape weights
(the local coordinate system "is inherited", paper §3.3.1); the split children are
sampled in the parent's *local* frame; and pruning never removes the last Gaussian of a
triangle (the most opaque one survives), so every triangle keeps a representative.

Why not gsplat's ``DefaultStrategy``? Its ``duplicate``/``remove``/``reset_opa`` ops do carry
extra per-Gaussian tensors, but its ``split`` samples children with world-space
``means``/``scales`` (wrong for local-space Gaussians whose world scale depends on the
current triangle) and it knows nothing about "keep one per triangle". The few operations
needed are short enough to write here, on CPU or CUDA alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .binding import quat_to_rotmat
from .model import GaussianHead

__all__ = ["DensityConfig", "DensityController", "protect_last_per_triangle"]


@dataclass
class DensityConfig:
    """Knobs of adaptive density control (3DGS defaults where they apply).

    ``grad_threshold`` is on the view-space gradient in normalised device coordinates
    (pixel gradient × image size / 2), as 3DGS and gsplat measure it; sizes are in
    metres of the world-space Gaussian (``S · s̄``).
    """

    grad_threshold: float = 2e-4
    clone_max_size: float = 0.004
    prune_opacity: float = 0.005
    prune_max_size: float = 0.05
    refine_start: int = 100
    refine_stop: int = 10_000
    refine_every: int = 100
    reset_every: int = 3000
    reset_opacity: float = 0.01
    max_gaussians: int = 60_000


def protect_last_per_triangle(
    prune: torch.Tensor, triangle_ids: torch.Tensor, opacity_logits: torch.Tensor, num_triangles: int
) -> torch.Tensor:
    """Unmark, for every triangle that would lose all its Gaussians, its most opaque one.

    Args:
        prune: ``(N,)`` bool, the Gaussians proposed for removal.
        triangle_ids: ``(N,)`` long parent triangles.
        opacity_logits: ``(N,)`` the opacities' logits (the tie-breaker).
        num_triangles: F.

    Returns:
        ``(N,)`` bool, the prune mask that leaves every populated triangle populated.
    """
    keep_count = torch.zeros(num_triangles, dtype=torch.long, device=prune.device).index_add_(
        0, triangle_ids, (~prune).long()
    )
    orphaned = keep_count[triangle_ids] == 0  # Gaussians whose triangle would become empty
    if not orphaned.any():
        return prune
    # the most opaque Gaussian of each orphaned triangle: sort by opacity, keep the last per triangle
    order = torch.argsort(opacity_logits, stable=True)
    best = torch.full((num_triangles,), -1, dtype=torch.long, device=prune.device)
    best[triangle_ids[order]] = order  # later (more opaque) indices overwrite earlier ones
    rescue = torch.zeros_like(prune)
    rescue[best[triangle_ids[orphaned]]] = True
    return prune & ~rescue


@dataclass
class DensityController:
    """Accumulates gradient statistics and applies clone / split / prune / reset.

    Usage inside a training loop (after ``loss.backward()``)::

        controller.accumulate(out.means2d, out.visible, width, height)
        controller.step(step, head, optimizer, world_log_scales)
    """

    config: DensityConfig = field(default_factory=DensityConfig)
    grad_sum: torch.Tensor | None = None
    seen: torch.Tensor | None = None
    history: list = field(default_factory=list)

    def _reset_stats(self, n: int, device) -> None:
        self.grad_sum = torch.zeros(n, device=device)
        self.seen = torch.zeros(n, device=device)

    @torch.no_grad()
    def accumulate(self, means2d: torch.Tensor, visible: torch.Tensor, width: int, height: int) -> None:
        """Add one view's positional gradients: ``means2d (N, 2)`` (with ``.grad``), ``visible (N,)`` bool."""
        if means2d.grad is None:
            raise ValueError("means2d has no .grad: call loss.backward() before accumulate()")
        n = means2d.shape[0]
        if self.grad_sum is None or self.grad_sum.shape[0] != n:
            self._reset_stats(n, means2d.device)
        grad_ndc = means2d.grad * torch.tensor([width / 2.0, height / 2.0], device=means2d.device)
        self.grad_sum += grad_ndc.norm(dim=-1) * visible
        self.seen += visible.to(self.seen.dtype)

    @torch.no_grad()
    def step(
        self,
        step: int,
        head: GaussianHead,
        optimizer: torch.optim.Optimizer,
        world_log_scales: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> dict | None:
        """Densify/prune at the configured steps; returns the step's statistics or ``None``.

        Args:
            step: the 1-based training step just finished.
            head: the model (its ``gaussian_params`` are replaced in place).
            optimizer: the Adam optimiser holding those parameters (its moments are
                copied for clones and zeroed for new children).
            world_log_scales: ``(N, 3)`` world-space log scales of the last rendered frame.
        """
        cfg = self.config
        stats = None
        if cfg.refine_start < step <= cfg.refine_stop and step % cfg.refine_every == 0 and self.grad_sum is not None:
            stats = self.densify_and_prune(head, optimizer, world_log_scales, generator)
            stats["step"] = step
            self.history.append(stats)
            self._reset_stats(head.num_gaussians, world_log_scales.device)
        if cfg.reset_every and step % cfg.reset_every == 0 and step < cfg.refine_stop:
            reset_opacity(head, optimizer, cfg.reset_opacity)
        return stats

    @torch.no_grad()
    def densify_and_prune(
        self,
        head: GaussianHead,
        optimizer: torch.optim.Optimizer,
        world_log_scales: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> dict:
        """One round of clone + split + prune; returns counts ``{"cloned", "split", "pruned", "total"}``."""
        cfg = self.config
        n_before = head.num_gaussians
        mean_grad = self.grad_sum / self.seen.clamp_min(1.0)
        world_size = world_log_scales.exp().amax(dim=-1)
        hot = mean_grad > cfg.grad_threshold
        budget = max(cfg.max_gaussians - n_before, 0)
        if int(hot.sum()) > budget:  # keep only the hottest ones that fit the budget
            keep = torch.topk(torch.where(hot, mean_grad, torch.zeros_like(mean_grad)), budget).indices
            hot = torch.zeros_like(hot)
            hot[keep] = True
        clone = hot & (world_size <= cfg.clone_max_size)
        split = hot & (world_size > cfg.clone_max_size)

        # split children, sampled in the parent's local frame: ū + r̄ diag(S s̄) z, z ~ N(0, I)
        parents = split.nonzero().squeeze(1)
        p = head.gaussian_params
        triangle_scale = (world_log_scales[parents] - p["local_log_scales"][parents]).exp()  # S s̄ / s̄ = S
        local_std = p["local_log_scales"][parents].exp() * triangle_scale  # (M, 3) metres
        rotation = quat_to_rotmat(p["local_quats"][parents])
        noise = torch.randn(2, parents.shape[0], 3, generator=generator).to(
            local_std.device
        )  # drawn on the CPU: repeatable anywhere
        offsets = torch.einsum("mij,mj,kmj->kmi", rotation, local_std, noise)  # (2, M, 3)

        def children(name: str, tensor: torch.Tensor) -> torch.Tensor:
            cloned = tensor[clone]
            split_children = tensor[parents].repeat(2, *([1] * (tensor.dim() - 1)))
            if name == "local_means":
                split_children = split_children + offsets.reshape(-1, 3)
            elif name == "local_log_scales":
                split_children = split_children - torch.log(torch.tensor(1.6))
            return torch.cat([tensor[~split], cloned, split_children])

        def fresh_moments(name: str, moment: torch.Tensor) -> torch.Tensor:
            zeros = torch.zeros(
                (int(clone.sum()) + 2 * parents.shape[0], *moment.shape[1:]), dtype=moment.dtype, device=moment.device
            )
            return torch.cat([moment[~split], zeros])

        new_triangles = torch.cat(
            [head.triangle_ids[~split], head.triangle_ids[clone], head.triangle_ids[parents].repeat(2)]
        )
        _rebuild(head, optimizer, children, fresh_moments, new_triangles)

        # prune (world sizes of the new set: parents' sizes, children of splits shrink by 1.6)
        sizes = torch.cat([world_size[~split], world_size[clone], (world_size[parents] / 1.6).repeat(2)])
        opacity = torch.sigmoid(head.gaussian_params["opacity_logits"])
        prune = (opacity < cfg.prune_opacity) | (sizes > cfg.prune_max_size)
        prune = protect_last_per_triangle(
            prune, head.triangle_ids, head.gaussian_params["opacity_logits"], head.faces.shape[0]
        )
        _rebuild(head, optimizer, lambda name, t: t[~prune], lambda name, m: m[~prune], head.triangle_ids[~prune])
        return {
            "cloned": int(clone.sum()),
            "split": int(parents.shape[0]),
            "pruned": int(prune.sum()),
            "total": head.num_gaussians,
            "before": n_before,
        }


@torch.no_grad()
def reset_opacity(head: GaussianHead, optimizer: torch.optim.Optimizer, value: float) -> None:
    """Clamp every opacity to at most ``value`` and zero its Adam moments (3DGS opacity reset)."""
    limit = torch.logit(torch.tensor(value)).item()
    _rebuild(
        head,
        optimizer,
        lambda name, t: t.clamp_max(limit) if name == "opacity_logits" else t,
        lambda name, m: torch.zeros_like(m) if name == "opacity_logits" else m,
        head.triangle_ids,
    )


def _rebuild(
    head: GaussianHead, optimizer: torch.optim.Optimizer, param_fn, moment_fn, triangle_ids: torch.Tensor
) -> None:
    """Replace every per-Gaussian parameter by ``param_fn(name, old)`` and its Adam moments by ``moment_fn``."""
    for name, old in list(head.gaussian_params.items()):
        new = torch.nn.Parameter(param_fn(name, old.detach()), requires_grad=old.requires_grad)
        for group in optimizer.param_groups:
            for index, param in enumerate(group["params"]):
                if param is old:
                    group["params"][index] = new
                    state = optimizer.state.pop(old, None)
                    if state:
                        optimizer.state[new] = {
                            key: (value if key == "step" else moment_fn(name, value)) for key, value in state.items()
                        }
        head.gaussian_params[name] = new
    head.triangle_ids = triangle_ids
