"""The fast CPU rasterizer: numba kernels with their own forward and backward pass.

Same numbers as :mod:`.reference` (same projection, same tile lists, same alpha rules),
organised for speed — every stage is compiled, and every loop that has enough work runs on
all cores (``numba.prange``; ``numba.set_num_threads`` picks how many):

* **binning** (:func:`bin_gaussians_fast`): per splat its tile rectangle (parallel), a stable
  radix sort of the splats by depth (the bit patterns of positive floats sort like the
  floats), then a counting sort into per-tile lists — so each list comes out front to back
  without sorting the lists, the same lists as the reference's ``argsort`` + ``sort``.
* **forward** (:func:`_forward_kernel`), one work item per 16×16 tile (dynamic scheduling,
  busiest tiles first): the tile's splats are visited front to back and each one only
  touches the pixels it can reach — for every row, the interval of ``x`` where
  ``σ ≤ log(255 o)`` is solved from the conic's quadratic, so rows and pixels outside the
  splat's ellipse are skipped; rows whose pixels all stopped are skipped, and a tile stops
  when all its pixels are done. It stores, per pixel, the final transmittance and the index
  (in the tile list) after the last contributing splat.
* **backward** (:func:`_backward_kernel`), per tile, walks the list back to front from
  the last contributor, recovering each splat's transmittance as
  ``T_i = T_{i+1} / (1 − α_i)`` (3DGS) and the colour behind it as a running sum. Each
  thread adds its splat gradients into its own (N, P) slice of a buffer kept between calls
  (no two threads write the same memory, no atomics); a parallel pass sums the slices.

Buffers are float32 (inputs, images, gradients); the arithmetic of one pixel runs in float64
registers, which costs nothing on a CPU and keeps the backward's division-based recovery of
``T_i`` accurate. :func:`profile_stages` times each stage (``python -m talkinghead_edu.bench render``
prints them).

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
The projection and the SH colours have their own numba forward/backward in
:mod:`.fast_projection` and :mod:`.fast_sh`.
"""

from __future__ import annotations

import math
import threading

import numpy as np
import torch

from ._jit import get_thread_id, njit, numba, numba_import_error, prange
from .profiling import profile_stages, stage  # noqa: F401 (the profiler lives with the kernels it times)
from .projection import ALPHA_MAX, ALPHA_MIN, TILE_SIZE, TRANSMITTANCE_MIN

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


@njit(parallel=True, cache=True)
def _prepare_bins(means2d, radii, opacities, tiles_x, tiles_y, rects, log_255o):
    """Per splat: its inclusive tile rectangle and ``log(255 o)`` (the σ below which alpha ≥ 1/255).

    rects: (N, 4) int32 ``x_lo, x_hi, y_lo, y_hi``, clamped to the tile grid (``x_hi < x_lo``
    when culled or off-screen), exactly :func:`talkinghead_edu.render.projection.tile_ranges`.
    log_255o: (N,) float64, ``≤ 0`` when the opacity is below 1/255.
    """
    for g in prange(means2d.shape[0]):
        log_255o[g] = math.log(max(255.0 * float(opacities[g]), 1e-30))
        rx, ry = radii[g, 0], radii[g, 1]
        if rx <= 0 or ry <= 0:
            rects[g, 0], rects[g, 1], rects[g, 2], rects[g, 3] = 0, -1, 0, -1
            continue
        u, v = means2d[g, 0], means2d[g, 1]
        rects[g, 0] = min(max(math.floor((u - rx) / TILE_SIZE), 0), tiles_x)
        rects[g, 1] = max(min(math.floor((u + rx) / TILE_SIZE), tiles_x - 1), -1)
        rects[g, 2] = min(max(math.floor((v - ry) / TILE_SIZE), 0), tiles_y)
        rects[g, 3] = max(min(math.floor((v + ry) / TILE_SIZE), tiles_y - 1), -1)


@njit(cache=True)
def _depth_order(depth_keys, rects, n_bits):
    """Ids (int32) of the splats that touch a tile, nearest first: a stable LSD radix sort, 8 bits per pass.

    ``depth_keys`` (N,) int64 are the bit patterns of the depths, which order like the depths
    themselves because every binned splat has ``depth > near > 0``; stable, so ties keep the
    lower index first — the order of the reference's ``argsort(depths, stable=True)``.
    """
    n = 0
    for g in range(rects.shape[0]):
        n += rects[g, 1] >= rects[g, 0] and rects[g, 3] >= rects[g, 2]
    order, scratch = np.empty(n, np.int32), np.empty(n, np.int32)
    i = 0
    for g in range(rects.shape[0]):
        if rects[g, 1] >= rects[g, 0] and rects[g, 3] >= rects[g, 2]:
            order[i] = g
            i += 1
    counts = np.empty(257, np.int64)
    for shift in range(0, n_bits, 8):
        counts[:] = 0
        for i in range(n):
            counts[((depth_keys[order[i]] >> shift) & 255) + 1] += 1
        if counts.max() == n:  # every key has the same digit here: nothing to move
            continue
        for d in range(256):
            counts[d + 1] += counts[d]
        for i in range(n):
            digit = (depth_keys[order[i]] >> shift) & 255
            scratch[counts[digit]] = order[i]
            counts[digit] += 1
        order, scratch = scratch, order
    return order


@njit(cache=True)
def _fill_tile_lists(rects, by_depth, tiles_x, n_tiles):
    """Tile lists ``offsets`` (n_tiles + 1,) int64 and ``ids`` (M,) int32: splats visited nearest first,
    so that every tile's list comes out sorted (a counting sort by tile of the depth-sorted splats)."""
    offsets = np.zeros(n_tiles + 1, np.int64)
    for g in by_depth:
        for ty in range(rects[g, 2], rects[g, 3] + 1):
            for tx in range(rects[g, 0], rects[g, 1] + 1):
                offsets[ty * tiles_x + tx + 1] += 1
    for t in range(n_tiles):
        offsets[t + 1] += offsets[t]
    cursor = offsets[:-1].copy()
    ids = np.empty(offsets[-1], np.int32)
    for g in by_depth:
        for ty in range(rects[g, 2], rects[g, 3] + 1):
            for tx in range(rects[g, 0], rects[g, 1] + 1):
                tile = ty * tiles_x + tx
                ids[cursor[tile]] = g
                cursor[tile] += 1
    return offsets, ids


@njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _forward_kernel(
    means2d,
    conics,
    opacities,
    log_255o,
    channels,
    tile_offsets,
    gaussian_ids,
    tile_order,
    tiles_x,
    out_color,
    out_transmittance,
    out_last,
):
    height, width, n_channels = out_color.shape
    for r in prange(tile_order.shape[0]):
        tile = tile_order[r]
        ty = tile // tiles_x
        tx = tile - ty * tiles_x
        x0, y0 = tx * TILE_SIZE, ty * TILE_SIZE
        x1, y1 = min(x0 + TILE_SIZE, width), min(y0 + TILE_SIZE, height)
        tile_w = x1 - x0
        # the tile's pixels, row-major: transmittance (negative once the pixel stopped), colour, last index
        transmittance = np.ones(TILE_SIZE * TILE_SIZE)
        color = np.zeros((TILE_SIZE * TILE_SIZE, n_channels))
        last = np.zeros(TILE_SIZE * TILE_SIZE, np.int32)
        row_active = np.full(TILE_SIZE, tile_w, np.int32)  # pixels of each row still compositing
        active = (y1 - y0) * tile_w
        start = tile_offsets[tile]
        for k in range(start, tile_offsets[tile + 1]):
            if active == 0:
                break
            g = gaussian_ids[k]
            s_max = log_255o[g]  # alpha >= 1/255  <=>  sigma <= log(255 o)
            if s_max <= 0.0:
                continue
            o = float(opacities[g])
            mx, my = float(means2d[g, 0]), float(means2d[g, 1])
            a, b, c = float(conics[g, 0]), float(conics[g, 1]), float(conics[g, 2])
            two_s = 2.0 * s_max
            row_lo, row_hi = _row_range(a, b, c, two_s, my, y0, y1)
            for py in range(row_lo, row_hi):
                j = py - y0
                if row_active[j] == 0:
                    continue
                dy = py + 0.5 - my
                col_lo, col_hi = _row_interval(a, b, c, dy, two_s, mx, x0, x1)
                for px in range(col_lo, col_hi):
                    p = j * TILE_SIZE + px - x0
                    t = transmittance[p]
                    if t < 0.0:  # this pixel already stopped
                        continue
                    dx = px + 0.5 - mx
                    sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy
                    if sigma > s_max + 1e-5:  # cheap test first: alpha is surely < 1/255 here
                        continue
                    alpha = min(ALPHA_MAX, o * math.exp(-sigma))
                    if alpha < ALPHA_MIN:
                        continue
                    t_next = t * (1.0 - alpha)
                    if t_next < TRANSMITTANCE_MIN:  # early termination: this splat is not composited
                        transmittance[p] = -t
                        row_active[j] -= 1
                        active -= 1
                        continue
                    weight = alpha * t  # eq 9
                    for ch in range(n_channels):
                        color[p, ch] += weight * channels[g, ch]
                    transmittance[p] = t_next
                    last[p] = k - start + 1
        for py in range(y0, y1):
            for px in range(x0, x1):
                p = (py - y0) * TILE_SIZE + px - x0
                out_transmittance[py, px] = abs(transmittance[p])
                out_last[py, px] = last[p]
                for ch in range(n_channels):
                    out_color[py, px, ch] = color[p, ch]


@njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _backward_kernel(
    means2d,
    conics,
    opacities,
    log_255o,
    channels,
    tile_offsets,
    gaussian_ids,
    tile_order,
    tiles_x,
    final_transmittance,
    last,
    grad_color,
    grad_alpha,
    thread_grads,
):
    # thread_grads[thread, g] accumulates d loss / d (u, v, a, b, c, opacity, channels...) of splat g
    height, width, n_channels = grad_color.shape
    for r in prange(tile_order.shape[0]):
        grads = thread_grads[get_thread_id()]  # (N, 6 + C), written by this thread only
        tile = tile_order[r]
        ty = tile // tiles_x
        tx = tile - ty * tiles_x
        x0, y0 = tx * TILE_SIZE, ty * TILE_SIZE
        x1, y1 = min(x0 + TILE_SIZE, width), min(y0 + TILE_SIZE, height)
        transmittance = np.empty(TILE_SIZE * TILE_SIZE)
        behind = np.zeros((TILE_SIZE * TILE_SIZE, n_channels))  # S = sum of w_j c_j over splats behind
        grad_channels = np.empty(n_channels)
        row_last = np.zeros(TILE_SIZE, np.int32)  # per row: the largest last-contributor index
        for py in range(y0, y1):
            for px in range(x0, x1):
                transmittance[(py - y0) * TILE_SIZE + px - x0] = final_transmittance[py, px]
                row_last[py - y0] = max(row_last[py - y0], last[py, px])
        max_last = row_last.max()
        start = tile_offsets[tile]
        for k in range(start + max_last - 1, start - 1, -1):
            g = gaussian_ids[k]
            s_max = log_255o[g]
            if s_max <= 0.0:
                continue
            o = float(opacities[g])
            mx, my = float(means2d[g, 0]), float(means2d[g, 1])
            a, b, c = float(conics[g, 0]), float(conics[g, 1]), float(conics[g, 2])
            two_s = 2.0 * s_max
            g_u = g_v = g_a = g_b = g_c = g_o = 0.0
            grad_channels[:] = 0.0
            row_lo, row_hi = _row_range(a, b, c, two_s, my, y0, y1)
            for py in range(row_lo, row_hi):
                if k - start >= row_last[py - y0]:  # every pixel of this row stopped before splat k
                    continue
                dy = py + 0.5 - my
                col_lo, col_hi = _row_interval(a, b, c, dy, two_s, mx, x0, x1)
                for px in range(col_lo, col_hi):
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
                    p = (py - y0) * TILE_SIZE + px - x0
                    inv_one_minus_alpha = 1.0 / (1.0 - alpha)
                    t = transmittance[p] * inv_one_minus_alpha  # T_i recovered from T_{i+1}
                    weight = alpha * t
                    d_alpha = grad_alpha[py, px] * final_transmittance[py, px] * inv_one_minus_alpha
                    for ch in range(n_channels):
                        d_out = grad_color[py, px, ch]
                        grad_channels[ch] += weight * d_out
                        d_alpha += d_out * (channels[g, ch] * t - behind[p, ch] * inv_one_minus_alpha)
                        behind[p, ch] += weight * channels[g, ch]
                    transmittance[p] = t
                    if o * gaussian < ALPHA_MAX:  # the clamp has zero gradient
                        g_o += gaussian * d_alpha
                        d_sigma = -alpha * d_alpha
                        g_u -= d_sigma * (a * dx + b * dy)  # d sigma / d u = −(a dx + b dy)
                        g_v -= d_sigma * (b * dx + c * dy)
                        g_a += d_sigma * 0.5 * dx * dx
                        g_b += d_sigma * dx * dy
                        g_c += d_sigma * 0.5 * dy * dy
            grads[g, 0] += g_u
            grads[g, 1] += g_v
            grads[g, 2] += g_a
            grads[g, 3] += g_b
            grads[g, 4] += g_c
            grads[g, 5] += g_o
            for ch in range(n_channels):
                grads[g, 6 + ch] += grad_channels[ch]


@njit(parallel=True, cache=True)
def _sum_threads(thread_grads, out):
    """``out[g] = Σ_t thread_grads[t, g]`` (N, P), in parallel over splats; zeroes ``thread_grads`` for next time."""
    for g in prange(out.shape[0]):
        for j in range(out.shape[1]):
            total = 0.0
            for t in range(thread_grads.shape[0]):
                total += thread_grads[t, g, j]
                thread_grads[t, g, j] = 0.0
            out[g, j] = total


_THREAD_GRADS: dict[str, np.ndarray] = {}
_THREAD_GRADS_LOCK = threading.Lock()


def _thread_grads(n_threads: int, n: int, n_params: int) -> np.ndarray:
    """Per-thread gradient accumulators (n_threads, N, P) float32, all zero: kept between calls (grown when
    needed) because :func:`_sum_threads` zeroes what it reads. Call with ``_THREAD_GRADS_LOCK`` held."""
    size = n_threads * n * n_params
    if _THREAD_GRADS.get("buffer") is None or _THREAD_GRADS["buffer"].size < size:
        _THREAD_GRADS["buffer"] = np.zeros(max(size, 1), np.float32)
    return _THREAD_GRADS["buffer"][:size].reshape(n_threads, n, n_params)


def bin_gaussians_fast(
    means2d: np.ndarray, radii: np.ndarray, depths: np.ndarray, opacities: np.ndarray, width: int, height: int
):
    """Tile lists identical to :func:`talkinghead_edu.render.reference.bin_gaussians`, all in compiled code.

    Args:
        means2d (N, 2) float32, radii (N, 2) int32, depths (N,), opacities (N,) float32 — numpy arrays.

    Returns:
        ``tile_offsets`` (n_tiles + 1,) int64, ``gaussian_ids`` (M,) int32 (each tile's splats nearest first)
        and ``log_255o`` (N,) float64 (see :func:`_prepare_bins`).
    """
    tiles_x, tiles_y = (width + TILE_SIZE - 1) // TILE_SIZE, (height + TILE_SIZE - 1) // TILE_SIZE
    n = means2d.shape[0]
    rects, log_255o = np.empty((n, 4), np.int32), np.empty(n)
    with stage("binning"):
        _prepare_bins(means2d, radii, opacities, tiles_x, tiles_y, rects, log_255o)
    with stage("sort"):
        # positive floats order like their bit patterns (as integers of the same width)
        keys = depths.view(np.int32).astype(np.int64) if depths.dtype == np.float32 else depths.view(np.int64)
        by_depth = _depth_order(keys, rects, 8 * depths.dtype.itemsize)
    with stage("binning"):
        tile_offsets, gaussian_ids = _fill_tile_lists(rects, by_depth, tiles_x, tiles_x * tiles_y)
    return tile_offsets, gaussian_ids, log_255o


def _as_numpy(tensor: torch.Tensor, dtype=torch.float32) -> np.ndarray:
    """A C-contiguous numpy view (a copy only when the dtype, device or layout differ)."""
    return tensor.detach().to(device="cpu", dtype=dtype).contiguous().numpy()


class _RasterizeFast(torch.autograd.Function):
    """Autograd wrapper around the numba kernels (inputs as in :func:`rasterize_fast`)."""

    @staticmethod
    def forward(ctx, means2d, conics, opacities, channels, radii, depths, width, height):
        arrays = [_as_numpy(t) for t in (means2d, conics, opacities, channels)]
        tile_offsets, gaussian_ids, log_255o = bin_gaussians_fast(
            arrays[0], _as_numpy(radii, torch.int32), _as_numpy(depths, depths.dtype), arrays[2], width, height
        )
        with stage("composite"):
            tile_order = np.argsort(-np.diff(tile_offsets), kind="stable")  # busiest tiles first
            tiles_x = (width + TILE_SIZE - 1) // TILE_SIZE
            color = np.empty((height, width, channels.shape[1]), np.float32)
            final_transmittance = np.empty((height, width), np.float32)
            last = np.empty((height, width), np.int32)
            with numba.parallel_chunksize(1):
                _forward_kernel(
                    *arrays[:3],
                    log_255o,
                    arrays[3],
                    tile_offsets,
                    gaussian_ids,
                    tile_order,
                    tiles_x,
                    color,
                    final_transmittance,
                    last,
                )
            ctx.arrays, ctx.lists = arrays, (log_255o, tile_offsets, gaussian_ids, tile_order, tiles_x)
            ctx.final_transmittance, ctx.last = final_transmittance, last
            ctx.like = [(t.device, t.dtype) for t in (means2d, conics, opacities, channels)]  # no tensor refs on ctx
            to = dict(device=means2d.device, dtype=channels.dtype)
            alpha = torch.from_numpy(1.0 - final_transmittance).to(**to)[..., None]
            return torch.from_numpy(color).to(**to), alpha

    @staticmethod
    def backward(ctx, grad_color, grad_alpha):
        with stage("backward: composite"):
            log_255o, tile_offsets, gaussian_ids, tile_order, tiles_x = ctx.lists
            n, n_channels = ctx.arrays[3].shape
            with _THREAD_GRADS_LOCK:
                thread_grads = _thread_grads(numba.get_num_threads(), n, 6 + n_channels)
                per_gaussian = np.empty((n, 6 + n_channels), np.float32)
                try:
                    with numba.parallel_chunksize(1):
                        _backward_kernel(
                            *ctx.arrays[:3],
                            log_255o,
                            ctx.arrays[3],
                            tile_offsets,
                            gaussian_ids,
                            tile_order,
                            tiles_x,
                            ctx.final_transmittance,
                            ctx.last,
                            _as_numpy(grad_color),
                            _as_numpy(grad_alpha[..., 0]),
                            thread_grads,
                        )
                    _sum_threads(thread_grads, per_gaussian)
                except BaseException:
                    _THREAD_GRADS.clear()  # possibly left non-zero: allocate a fresh one next time
                    raise
            per_gaussian = torch.from_numpy(per_gaussian)
            parts = (per_gaussian[:, 0:2], per_gaussian[:, 2:5], per_gaussian[:, 5], per_gaussian[:, 6:])
            grads = [part.to(device=device, dtype=dtype) for part, (device, dtype) in zip(parts, ctx.like)]
            return (*grads, None, None, None, None)


def rasterize_fast(
    means2d: torch.Tensor,
    conics: torch.Tensor,
    opacities: torch.Tensor,
    channels: torch.Tensor,
    radii: torch.Tensor,
    depths: torch.Tensor,
    width: int,
    height: int,
):
    """Same contract as :func:`talkinghead_edu.render.reference.rasterize_reference`: ``(H, W, C)``, ``(H, W, 1)``."""
    return _RasterizeFast.apply(means2d, conics, opacities, channels, radii, depths, width, height)


_STATUS: dict[str, bool] = {}


def available() -> bool:
    """True when the numba kernels import and compile (tried once per process, on a tiny scene)."""
    if "ok" not in _STATUS:
        try:
            if numba is None:
                raise RuntimeError(f"numba is not importable ({numba_import_error})")
            with torch.enable_grad():
                means2d = torch.tensor([[4.0, 4.0]], requires_grad=True)
                conics = torch.tensor([[0.5, 0.0, 0.5]])
                radii = torch.tensor([[4, 4]], dtype=torch.int32)
                color, alpha = rasterize_fast(
                    means2d, conics, torch.tensor([0.9]), torch.ones(1, 2), radii, torch.ones(1), 8, 8
                )
                (color.sum() + alpha.sum()).backward()
                from . import fast_projection, fast_sh  # compiles the projection and SH kernels too
                from .camera import Camera

                camera = Camera(torch.tensor([[8.0, 0, 4], [0, 8.0, 4], [0, 0, 1]]), torch.eye(4), 8, 8)
                means = torch.tensor([[0.0, 0.0, 1.0]], requires_grad=True)
                projection = fast_projection.project_gaussians_fast(
                    means, torch.tensor([[1.0, 0, 0, 0]]), torch.full((1, 3), 0.1), torch.ones(1), camera, 0.3
                )
                projection.conics.sum().backward()
                rgb = fast_sh.sh_to_rgb_fast(torch.zeros(1, 4, 3, requires_grad=True), means, torch.zeros(3))
                rgb.sum().backward()
            _STATUS["ok"] = True
        except Exception as exc:  # any JIT/toolchain failure: fall back, say it once
            from .output import warn_once

            warn_once(
                f"render: fast CPU backend unavailable ({type(exc).__name__}: {exc}); using the reference backend."
            )
            _STATUS["ok"] = False
    return _STATUS["ok"]
