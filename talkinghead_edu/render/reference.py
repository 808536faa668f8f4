"""The readable reference rasterizer (pure PyTorch, autograd for the backward) — taught in notebook 06.

After :mod:`.projection` has turned every Gaussian into a 2D splat, this module

1. bins splats into 16×16-pixel tiles (:func:`bin_gaussians`): each splat is listed in
   every tile its screen box touches, each tile's list sorted front to back by depth;
2. composites every tile front to back (:func:`composite_tile`), eq 9::

       C = Σ_i c_i α_i Π_{j<i} (1 − α_j),   α_i = min(0.999, o_i exp(−σ_i(pixel)))

   skipping contributions with ``α < 1/255`` and stopping a pixel ("early termination")
   before its transmittance would drop below 1e-4.

The per-tile compositing runs under :func:`torch.utils.checkpoint.checkpoint` when
gradients are needed, so memory stays at one tile's worth of intermediates (30k
Gaussians at 256² fit in well under 2 GB); it is slow on purpose — every step is a
visible tensor operation. The fast backend (:mod:`.fast`) computes the same numbers.
"""

from __future__ import annotations

import torch
from torch.utils.checkpoint import checkpoint

from .projection import ALPHA_MAX, ALPHA_MIN, TILE_SIZE, TRANSMITTANCE_MIN, tile_ranges


def bin_gaussians(
    means2d: torch.Tensor,
    radii: torch.Tensor,
    depths: torch.Tensor,
    width: int,
    height: int,
    tile_size: int = TILE_SIZE,
):
    """Tile lists of splat ids, front to back.

    Args:
        means2d: (N, 2) pixel positions. radii: (N, 2) int box half-widths (0 = culled).
        depths: (N,) sort keys. width, height: image size.

    Returns:
        ``tile_offsets`` (n_tiles + 1,) long and ``gaussian_ids`` (M,) long: the splats of tile
        ``t = ty * tiles_x + tx`` are ``gaussian_ids[tile_offsets[t]:tile_offsets[t + 1]]``, nearest first.
    """
    tiles_x, tiles_y = (width + tile_size - 1) // tile_size, (height + tile_size - 1) // tile_size
    low, high = tile_ranges(means2d, radii, width, height, tile_size)
    counts_xy = (high - low + 1).clamp_min(0)  # (N, 2) tiles spanned along x and y
    counts = counts_xy[:, 0] * counts_xy[:, 1]  # (N,)
    by_depth = torch.argsort(depths.detach(), stable=True)
    by_depth = by_depth[counts[by_depth] > 0]
    # one row per (splat, tile) intersection, splats in depth order
    ids = torch.repeat_interleave(by_depth, counts[by_depth])
    first_of_splat = torch.cumsum(counts[by_depth], 0) - counts[by_depth]
    local = torch.arange(ids.numel(), device=ids.device) - torch.repeat_interleave(first_of_splat, counts[by_depth])
    span_x = counts_xy[ids, 0]
    tile_x = low[ids, 0] + local % span_x
    tile_y = low[ids, 1] + local // span_x
    tile_of_row = tile_y * tiles_x + tile_x
    tile_of_row, order = torch.sort(tile_of_row, stable=True)  # stable: depth order kept inside each tile
    gaussian_ids = ids[order]
    tile_offsets = torch.zeros(tiles_x * tiles_y + 1, dtype=torch.long, device=ids.device)
    tile_offsets[1:] = torch.cumsum(torch.bincount(tile_of_row, minlength=tiles_x * tiles_y), 0)
    return tile_offsets, gaussian_ids


def composite_tile(
    pixels: torch.Tensor, means2d: torch.Tensor, conics: torch.Tensor, opacities: torch.Tensor, channels: torch.Tensor
):
    """Front-to-back alpha compositing (eq 9) of n depth-sorted splats at P pixel centres.

    Args:
        pixels: (P, 2) pixel centres ``(i + 0.5, j + 0.5)``.
        means2d: (n, 2), conics: (n, 3), opacities: (n,), channels: (n, C) — nearest splat first.

    Returns:
        ``color`` (P, C) = Σ_i w_i c_i and ``alpha`` (P,) = Σ_i w_i with ``w_i = α_i T_i``.
    """
    delta = pixels[:, None, :] - means2d[None, :, :]  # (P, n, 2)
    dx, dy = delta[..., 0], delta[..., 1]
    a, b, c = conics.unbind(-1)
    sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy  # Mahalanobis²/2, (P, n)
    alpha = torch.clamp(opacities * torch.exp(-sigma), max=ALPHA_MAX)
    alpha = torch.where(alpha >= ALPHA_MIN, alpha, torch.zeros_like(alpha))
    # early termination: a splat only counts if the transmittance after it stays >= 1e-4
    transmittance_after = torch.cumprod(1.0 - alpha, dim=1)
    alpha = torch.where(transmittance_after >= TRANSMITTANCE_MIN, alpha, torch.zeros_like(alpha))
    ones = torch.ones_like(alpha[:, :1])
    transmittance = torch.cumprod(torch.cat([ones, 1.0 - alpha[:, :-1]], dim=1), dim=1)  # T_i = Π_{j<i}(1 − α_j)
    weights = alpha * transmittance  # eq 9
    return weights @ channels, weights.sum(dim=1)


def rasterize_reference(
    means2d: torch.Tensor,
    conics: torch.Tensor,
    opacities: torch.Tensor,
    channels: torch.Tensor,
    radii: torch.Tensor,
    depths: torch.Tensor,
    width: int,
    height: int,
    tile_size: int = TILE_SIZE,
):
    """Composite N splats into an image, tile by tile (no background).

    Args:
        means2d (N, 2), conics (N, 3), opacities (N,), channels (N, C), radii (N, 2), depths (N,).

    Returns:
        ``image`` (H, W, C) = Σ_i w_i c_i and ``alpha`` (H, W, 1) = Σ_i w_i.
    """
    tiles_x, tiles_y = (width + tile_size - 1) // tile_size, (height + tile_size - 1) // tile_size
    tile_offsets, gaussian_ids = bin_gaussians(means2d, radii, depths, width, height, tile_size)
    n_channels = channels.shape[1]
    needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in (means2d, conics, opacities, channels))
    rows = []
    for ty in range(tiles_y):
        y0, y1 = ty * tile_size, min((ty + 1) * tile_size, height)
        row_blocks = []
        for tx in range(tiles_x):
            x0, x1 = tx * tile_size, min((tx + 1) * tile_size, width)
            tile = ty * tiles_x + tx
            ids = gaussian_ids[tile_offsets[tile] : tile_offsets[tile + 1]]
            ys, xs = torch.meshgrid(
                torch.arange(y0, y1, dtype=means2d.dtype, device=means2d.device) + 0.5,
                torch.arange(x0, x1, dtype=means2d.dtype, device=means2d.device) + 0.5,
                indexing="ij",
            )
            pixels = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=-1)
            args = (pixels, means2d[ids], conics[ids], opacities[ids], channels[ids])
            # an empty tile composites to zeros but stays in the graph, so backward() works even if all is culled
            checkpointed = needs_grad and ids.numel() > 0
            if checkpointed:
                color, alpha = checkpoint(composite_tile, *args, use_reentrant=False)
            else:
                color, alpha = composite_tile(*args)
            row_blocks.append(torch.cat([color, alpha[:, None]], dim=-1).reshape(y1 - y0, x1 - x0, n_channels + 1))
        rows.append(torch.cat(row_blocks, dim=1))
    result = torch.cat(rows, dim=0)
    return result[..., :n_channels], result[..., n_channels:]
