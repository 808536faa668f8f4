"""The fast CPU rasterizer: numba kernels with their own forward and backward pass.

Same numbers as :mod:`.reference` (same projection, same tile lists, same alpha rules),
organised for speed:

* **forward** (:func:`_forward_kernel`), one thread per 16×16 tile (``numba.prange``,
  dynamic scheduling, busiest tiles first): the tile's splats are visited front to back
  and each one only touches the pixels it can reach — for every row, the interval of
  ``x`` where ``σ ≤ log(255 o)`` is solved from the conic's quadratic, so rows and pixels
  outside the splat's ellipse are skipped; pixels that became opaque are skipped and a
  tile stops when all its pixels are done. It stores, per pixel, the final transmittance
  and the index (in the tile list) after the last contributing splat.
* **backward** (:func:`_backward_kernel`), per tile, walks the list back to front from
  the last contributor, recovering each splat's transmittance as
  ``T_i = T_{i+1} / (1 − α_i)`` (3DGS) and the colour behind it as a running sum, and
  writes the gradients of that (splat, tile) pair into its own row of a buffer — no two
  threads write the same memory; one serial pass sums the rows per splat.

Gradients (per pixel, ``w_i = α_i T_i``, ``S_i = Σ_{j>i} w_j c_j``, output ``C`` and
accumulated alpha ``A = 1 − T_final``)::

    ∂C/∂c_i = w_i
    ∂C/∂α_i = c_i T_i − S_i / (1 − α_i),      ∂A/∂α_i = T_final / (1 − α_i)
    α_i = o_i exp(−σ_i)  (0 gradient where clamped at 0.999)
    σ = ½ (a dx² + c dy²) + b dx dy,  dx = px + 0.5 − u,  dy = py + 0.5 − v

The kernels are compiled by numba on first use and cached on disk (``cache=True``;
if the package folder is read-only the cache goes to ``paths.cache_dir()/numba``). If
numba is missing or compilation fails, :func:`available` returns ``False`` and
:func:`talkinghead_edu.render.render` uses the reference with one warning line.
The projection step has its own numba forward/backward in :mod:`.fast_projection`.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from .projection import ALPHA_MAX, ALPHA_MIN, TILE_SIZE, TRANSMITTANCE_MIN, tile_ranges

if not os.access(Path(__file__).parent, os.W_OK) and "NUMBA_CACHE_DIR" not in os.environ:
    from ..paths import cache_dir

    os.environ["NUMBA_CACHE_DIR"] = str(cache_dir() / "numba")

try:
    import numba
    from numba import njit, prange

    _IMPORT_ERROR = None
except Exception as exc:  # pragma: no cover - numba ships with librosa; this is the no-numba path
    numba = None
    _IMPORT_ERROR = exc

    def njit(*args, **kwargs):
        return (lambda f: f) if not args or not callable(args[0]) else args[0]

    prange = range

if numba is not None and "NUMBA_CACHE_DIR" in os.environ:
    numba.config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]


# LLVM fast-math without reassociation or FMA contraction, so that the forward and backward kernels
# compute bit-identical alphas (they must agree on which splats passed the 1/255 and 1e-4 tests)
_FASTMATH = {"nnan", "ninf", "nsz", "arcp", "afn"}


@njit(cache=True, inline="always")
def _row_interval(a, b, c, dy, two_s, mx, x0, x1):
    """Pixel columns ``[lo, hi)`` in ``[x0, x1)`` of a row at offset ``dy`` where ``a dx² + 2b dx dy + c dy² ≤ 2s``.

    One pixel of slack on each side; the caller still tests every pixel exactly.
    """
    disc = b * b * dy * dy - a * (c * dy * dy - two_s)
    if disc < 0.0:
        return 0, 0
    root = math.sqrt(disc)
    lo = max(mx + (-b * dy - root) / a - 0.5, float(x0))
    hi = min(mx + (-b * dy + root) / a - 0.5, float(x1 - 1))
    if lo > hi:
        return 0, 0
    return int(math.floor(lo)), int(math.ceil(hi)) + 1


@njit(cache=True, inline="always")
def _row_range(a, b, c, two_s, my, y0, y1):
    """Rows ``[lo, hi)`` in ``[y0, y1)`` whose centres lie within the ellipse's vertical extent."""
    det = a * c - b * b
    if det <= 0.0:
        return 0, 0
    half = math.sqrt(two_s * a / det)  # sqrt(2s · Σ'_yy), Σ'_yy = a / (ac − b²)
    lo = max(my - half - 0.5, float(y0))
    hi = min(my + half - 0.5, float(y1 - 1))
    if lo > hi:
        return 0, 0
    return int(math.floor(lo)), int(math.ceil(hi)) + 1


@njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _forward_kernel(means2d, conics, opacities, channels, tile_offsets, gaussian_ids, tile_order, width, height,
                    tiles_x, tile_size, out_color, out_transmittance, out_last):
    n_channels = channels.shape[1]
    for r in prange(tile_order.shape[0]):
        tile = tile_order[r]
        ty = tile // tiles_x
        tx = tile - ty * tiles_x
        x0, y0 = tx * tile_size, ty * tile_size
        x1, y1 = min(x0 + tile_size, width), min(y0 + tile_size, height)
        transmittance = np.ones((y1 - y0, x1 - x0))
        color = np.zeros((y1 - y0, x1 - x0, n_channels))
        last = np.zeros((y1 - y0, x1 - x0), np.int32)
        done = np.zeros((y1 - y0, x1 - x0), np.bool_)
        active = (y1 - y0) * (x1 - x0)
        start = tile_offsets[tile]
        for k in range(start, tile_offsets[tile + 1]):
            if active == 0:
                break
            g = gaussian_ids[k]
            o = float(opacities[g])
            if 255.0 * o <= 1.0:
                continue
            mx, my = float(means2d[g, 0]), float(means2d[g, 1])
            a, b, c = float(conics[g, 0]), float(conics[g, 1]), float(conics[g, 2])
            s_max = math.log(255.0 * o)  # alpha >= 1/255  <=>  sigma <= log(255 o)
            two_s = 2.0 * s_max
            row_lo, row_hi = _row_range(a, b, c, two_s, my, y0, y1)
            for py in range(row_lo, row_hi):
                dy = py + 0.5 - my
                col_lo, col_hi = _row_interval(a, b, c, dy, two_s, mx, x0, x1)
                j = py - y0
                for px in range(col_lo, col_hi):
                    i = px - x0
                    if done[j, i]:
                        continue
                    dx = px + 0.5 - mx
                    sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy
                    if sigma > s_max + 1e-5:  # cheap test first: alpha is surely < 1/255 here
                        continue
                    alpha = min(ALPHA_MAX, o * math.exp(-sigma))
                    if alpha < ALPHA_MIN:
                        continue
                    t = transmittance[j, i]
                    t_next = t * (1.0 - alpha)
                    if t_next < TRANSMITTANCE_MIN:  # early termination: this splat is not composited
                        done[j, i] = True
                        active -= 1
                        continue
                    weight = alpha * t  # eq 9
                    for ch in range(n_channels):
                        color[j, i, ch] += weight * channels[g, ch]
                    transmittance[j, i] = t_next
                    last[j, i] = k - start + 1
        for j in range(y1 - y0):
            for i in range(x1 - x0):
                out_transmittance[y0 + j, x0 + i] = transmittance[j, i]
                out_last[y0 + j, x0 + i] = last[j, i]
                for ch in range(n_channels):
                    out_color[y0 + j, x0 + i, ch] = color[j, i, ch]


@njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _backward_kernel(means2d, conics, opacities, channels, tile_offsets, gaussian_ids, tile_order, width, height,
                     tiles_x, tile_size, final_transmittance, last, grad_color, grad_alpha, isect_grad):
    # isect_grad[k] = d loss / d (u, v, a, b, c, opacity, channels...) of the k-th (splat, tile) pair
    n_channels = channels.shape[1]
    for r in prange(tile_order.shape[0]):
        tile = tile_order[r]
        ty = tile // tiles_x
        tx = tile - ty * tiles_x
        x0, y0 = tx * tile_size, ty * tile_size
        x1, y1 = min(x0 + tile_size, width), min(y0 + tile_size, height)
        transmittance = np.empty((y1 - y0, x1 - x0))
        behind = np.zeros((y1 - y0, x1 - x0, n_channels))  # S = sum of w_j c_j over splats behind
        max_last = 0
        for j in range(y1 - y0):
            for i in range(x1 - x0):
                transmittance[j, i] = final_transmittance[y0 + j, x0 + i]
                max_last = max(max_last, last[y0 + j, x0 + i])
        start = tile_offsets[tile]
        for k in range(start + max_last - 1, start - 1, -1):
            g = gaussian_ids[k]
            o = float(opacities[g])
            if 255.0 * o <= 1.0:
                continue
            mx, my = float(means2d[g, 0]), float(means2d[g, 1])
            a, b, c = float(conics[g, 0]), float(conics[g, 1]), float(conics[g, 2])
            s_max = math.log(255.0 * o)
            two_s = 2.0 * s_max
            g_u = g_v = g_a = g_b = g_c = g_o = 0.0
            row_lo, row_hi = _row_range(a, b, c, two_s, my, y0, y1)
            for py in range(row_lo, row_hi):
                dy = py + 0.5 - my
                col_lo, col_hi = _row_interval(a, b, c, dy, two_s, mx, x0, x1)
                j = py - y0
                for px in range(col_lo, col_hi):
                    i = px - x0
                    if k - start >= last[py, px]:
                        continue
                    dx = px + 0.5 - mx
                    sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy
                    if sigma > s_max + 1e-5:
                        continue
                    gaussian = math.exp(-sigma)
                    alpha = min(ALPHA_MAX, o * gaussian)
                    if alpha < ALPHA_MIN:
                        continue
                    one_minus_alpha = 1.0 - alpha
                    t = transmittance[j, i] / one_minus_alpha  # T_i recovered from T_{i+1}
                    weight = alpha * t
                    d_alpha = grad_alpha[py, px] * final_transmittance[py, px] / one_minus_alpha
                    for ch in range(n_channels):
                        d_out = grad_color[py, px, ch]
                        isect_grad[k, 6 + ch] += weight * d_out
                        d_alpha += d_out * (channels[g, ch] * t - behind[j, i, ch] / one_minus_alpha)
                        behind[j, i, ch] += weight * channels[g, ch]
                    transmittance[j, i] = t
                    if o * gaussian < ALPHA_MAX:  # the clamp has zero gradient
                        g_o += gaussian * d_alpha
                        d_sigma = -alpha * d_alpha
                        g_u -= d_sigma * (a * dx + b * dy)  # d sigma / d u = −(a dx + b dy)
                        g_v -= d_sigma * (b * dx + c * dy)
                        g_a += d_sigma * 0.5 * dx * dx
                        g_b += d_sigma * dx * dy
                        g_c += d_sigma * 0.5 * dy * dy
            isect_grad[k, 0] = g_u
            isect_grad[k, 1] = g_v
            isect_grad[k, 2] = g_a
            isect_grad[k, 3] = g_b
            isect_grad[k, 4] = g_c
            isect_grad[k, 5] = g_o


@njit(cache=True)
def _fill_tile_lists(low, high, by_depth, tiles_x, n_tiles):
    """Tile lists (offsets (n_tiles + 1,), ids (M,)) from per-splat tile ranges, splats visited in depth order."""
    counts = np.zeros(n_tiles + 1, np.int64)
    for g in by_depth:
        for ty in range(low[g, 1], high[g, 1] + 1):
            for tx in range(low[g, 0], high[g, 0] + 1):
                counts[ty * tiles_x + tx + 1] += 1
    offsets = np.cumsum(counts)
    cursor = offsets[:-1].copy()
    ids = np.empty(offsets[-1], np.int64)
    for g in by_depth:
        for ty in range(low[g, 1], high[g, 1] + 1):
            for tx in range(low[g, 0], high[g, 0] + 1):
                tile = ty * tiles_x + tx
                ids[cursor[tile]] = g
                cursor[tile] += 1
    return offsets, ids


@njit(cache=True)
def _sum_per_gaussian(isect_grad, gaussian_ids, n):
    """Sum the per-(splat, tile) gradient rows (M, P) into per-splat rows (N, P)."""
    total = np.zeros((n, isect_grad.shape[1]))
    for k in range(gaussian_ids.shape[0]):
        for j in range(isect_grad.shape[1]):
            total[gaussian_ids[k], j] += isect_grad[k, j]
    return total


def bin_gaussians_fast(means2d, radii, depths, width: int, height: int, tile_size: int = TILE_SIZE):
    """Same tile lists as :func:`talkinghead_edu.render.reference.bin_gaussians` (numpy arrays)."""
    tiles_x, tiles_y = (width + tile_size - 1) // tile_size, (height + tile_size - 1) // tile_size
    low, high = tile_ranges(means2d, radii, width, height, tile_size)
    visible = (radii > 0).all(-1)
    by_depth = torch.argsort(depths.detach(), stable=True)
    by_depth = by_depth[visible[by_depth]]
    return _fill_tile_lists(low.numpy(), high.numpy(), by_depth.numpy(), tiles_x, tiles_x * tiles_y)


def _as_numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to(device="cpu", dtype=torch.float32).contiguous().numpy()


def _busiest_first(tile_offsets: np.ndarray) -> np.ndarray:
    return np.argsort(-np.diff(tile_offsets), kind="stable").astype(np.int64)


class _RasterizeFast(torch.autograd.Function):
    """Autograd wrapper around the numba kernels (inputs as in :func:`rasterize_fast`)."""

    @staticmethod
    def forward(ctx, means2d, conics, opacities, channels, tile_offsets, gaussian_ids, width, height):
        arrays = [_as_numpy(t) for t in (means2d, conics, opacities, channels)]
        tile_order = _busiest_first(tile_offsets)
        tiles_x = (width + TILE_SIZE - 1) // TILE_SIZE
        color = np.zeros((height, width, channels.shape[1]), np.float32)
        final_transmittance = np.ones((height, width), np.float32)
        last = np.zeros((height, width), np.int32)
        with numba.parallel_chunksize(1):
            _forward_kernel(*arrays, tile_offsets, gaussian_ids, tile_order, width, height, tiles_x, TILE_SIZE,
                            color, final_transmittance, last)
        ctx.arrays, ctx.lists, ctx.size = arrays, (tile_offsets, gaussian_ids, tile_order), (width, height)
        ctx.final_transmittance, ctx.last = final_transmittance, last
        ctx.like = [(t.device, t.dtype) for t in (means2d, conics, opacities, channels)]  # no tensor refs on ctx
        to = dict(device=means2d.device, dtype=channels.dtype)
        alpha = torch.from_numpy(1.0 - final_transmittance).to(**to)[..., None]
        return torch.from_numpy(color).to(**to), alpha

    @staticmethod
    def backward(ctx, grad_color, grad_alpha):
        tile_offsets, gaussian_ids, tile_order = ctx.lists
        width, height = ctx.size
        n, n_channels = ctx.arrays[3].shape
        isect_grad = np.zeros((gaussian_ids.shape[0], 6 + n_channels), np.float64)
        with numba.parallel_chunksize(1):
            _backward_kernel(*ctx.arrays, tile_offsets, gaussian_ids, tile_order, width, height,
                             (width + TILE_SIZE - 1) // TILE_SIZE, TILE_SIZE, ctx.final_transmittance, ctx.last,
                             _as_numpy(grad_color), _as_numpy(grad_alpha[..., 0]), isect_grad)
        per_gaussian = torch.from_numpy(_sum_per_gaussian(isect_grad, gaussian_ids, n))
        parts = (per_gaussian[:, 0:2], per_gaussian[:, 2:5], per_gaussian[:, 5], per_gaussian[:, 6:])
        grads = [part.to(device=device, dtype=dtype) for part, (device, dtype) in zip(parts, ctx.like)]
        return (*grads, None, None, None, None)


def rasterize_fast(means2d: torch.Tensor, conics: torch.Tensor, opacities: torch.Tensor, channels: torch.Tensor,
                   radii: torch.Tensor, depths: torch.Tensor, width: int, height: int):
    """Same contract as :func:`talkinghead_edu.render.reference.rasterize_reference`: ``(H, W, C)``, ``(H, W, 1)``."""
    tile_offsets, gaussian_ids = bin_gaussians_fast(means2d.detach().cpu(), radii.cpu(), depths.cpu(), width, height)
    return _RasterizeFast.apply(means2d, conics, opacities, channels, tile_offsets, gaussian_ids, width, height)


_STATUS: dict[str, bool] = {}


def available() -> bool:
    """True when the numba kernels import and compile (tried once per process, on a tiny scene)."""
    if "ok" not in _STATUS:
        try:
            if numba is None:
                raise RuntimeError(f"numba is not importable ({_IMPORT_ERROR})")
            with torch.enable_grad():
                means2d = torch.tensor([[4.0, 4.0]], requires_grad=True)
                conics = torch.tensor([[0.5, 0.0, 0.5]])
                radii = torch.tensor([[4, 4]], dtype=torch.int32)
                color, alpha = rasterize_fast(means2d, conics, torch.tensor([0.9]), torch.ones(1, 2), radii,
                                              torch.ones(1), 8, 8)
                (color.sum() + alpha.sum()).backward()
                from . import fast_projection  # compiles the projection kernels too
                from .camera import Camera

                camera = Camera(torch.tensor([[8.0, 0, 4], [0, 8.0, 4], [0, 0, 1]]), torch.eye(4), 8, 8)
                means = torch.tensor([[0.0, 0.0, 1.0]], requires_grad=True)
                projection = fast_projection.project_gaussians_fast(means, torch.tensor([[1.0, 0, 0, 0]]),
                                                                    torch.full((1, 3), 0.1), torch.ones(1), camera, 0.3)
                projection.conics.sum().backward()
            _STATUS["ok"] = True
        except Exception as exc:  # any JIT/toolchain failure: fall back, say it once
            from .api import warn_once

            warn_once(f"render: fast CPU backend unavailable ({type(exc).__name__}: {exc}); using the reference backend.")
            _STATUS["ok"] = False
    return _STATUS["ok"]
