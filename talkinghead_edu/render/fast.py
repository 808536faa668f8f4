"""The fast CPU rasterizer: numba kernels with their own forward and backward pass.

Same numbers as :mod:`.reference` (same projection, same tile lists, same alpha rules),
organised for speed. Every stage is compiled, and the two compositing kernels use every core.

What made it fast (notebook 06 tells the story; ``python -m talkinghead_edu.bench render``
prints the time of each stage):

* **Both cores really work.** The kernels loop ``prange`` over *workers* (one per numba
  thread), and each worker owns a fixed set of tiles (:func:`_deal_tiles`: tiles sorted by the
  length of their list, each given to the worker with the least work so far). A ``prange``
  over the tiles themselves looks parallel, but numba hands each thread one contiguous block
  of iterations — with the busiest tiles first, one thread got the whole face and the other
  the empty background, so two threads ran as fast as one.
* **No exp per pixel.** Along a row, ``σ`` grows by ``a dx + a/2 + b dy`` from one pixel to
  the next and that step grows by ``a``, so ``exp(−σ)`` is two multiplications per pixel
  (:func:`_row_gaussian`, float64) after two exps per row — the exp had been most of a
  pixel's cost (half the forward on the head scene of ``bench head``, whose splats are wide).
* **float32 where the reference is float32.** Alphas are rounded to float32 and compared
  with the 1/255 and 1e-4 limits there, and the forward's transmittance product and colours
  are float32, in the reference's order — one shared function (:func:`_alpha`) gives both
  kernels the same alphas, so they take the same decisions. The backward does the rest of a
  pixel's gradient in float64 (its division-based recovery of ``T_i`` accumulates rounding
  over hundreds of splats).
* **Little memory traffic.** A splat is one packed 32-byte record (:func:`_prepare_bins`),
  a tile's pixels live in small per-worker arrays reused from tile to tile, colour arrays
  are channel-major so a channel's pixels are contiguous, and the backward sums into one
  (N, P) gradient slice per worker (no two workers write the same memory, no atomics).
* **Work skipped.** For every row of a splat the interval of ``x`` where ``σ ≤ log(255 o)``
  is solved from the conic's quadratic, so pixels outside its ellipse are never visited;
  rows whose pixels all stopped are skipped, and a tile stops when all its pixels are done.
  The backward starts each tile at its last contributing splat.

Stages: **binning** (:func:`bin_gaussians_fast`): per splat its tile rectangle and record
(parallel), a stable radix sort of the splats by depth (the bit patterns of positive floats
sort like the floats), then a counting sort into per-tile lists — so each list comes out
front to back, the same lists as the reference's ``argsort`` + ``sort``. **forward**
(:func:`_forward_kernel`): each tile's splats front to back; per pixel the final
transmittance and the index (in the tile list) after the last contributing splat are kept.
**backward** (:func:`_backward_kernel`): per tile, back to front from the last contributor,
recovering each splat's transmittance as ``T_i = T_{i+1} / (1 − α_i)`` (3DGS) and the colour
behind it as a running sum.

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

import numpy as np
import torch

from ._jit import njit, numba, numba_import_error, prange
from .profiling import profile_stages, stage  # noqa: F401 (the profiler lives with the kernels it times)
from .projection import ALPHA_MAX, ALPHA_MIN, TILE_SIZE, TRANSMITTANCE_MIN

# LLVM fast-math without reassociation or FMA contraction, so that the forward and backward kernels
# compute bit-identical alphas (they must agree on which splats passed the 1/255 and 1e-4 tests)
_FASTMATH = {"nnan", "ninf", "nsz", "arcp", "afn"}
TILE_PIXELS = TILE_SIZE * TILE_SIZE
# float32 constants: a Python float in a numba expression would promote the whole expression to float64
_ZERO, _ONE = np.float32(0.0), np.float32(1.0)
_ALPHA_MAX, _ALPHA_MIN, _T_MIN = np.float32(ALPHA_MAX), np.float32(ALPHA_MIN), np.float32(TRANSMITTANCE_MIN)
_ALPHA_MAX_64 = float(_ALPHA_MAX)  # the float32 clamp, compared in float64
# fields of a splat record (one row of ``splats``, float32): centre, conic, opacity, log(255 o)
_U, _V, _A, _B, _C, _O, _S_MAX = range(7)
_RECORD = 8  # fields per record (one unused): 32 bytes
_ELLIPSE_MARGIN = 1e-5  # σ units, see _ellipse_bound


@njit(cache=True, inline="always")
def _ellipse_bound(s_max):
    """``2 s`` of the ellipse ``σ ≤ s`` the kernels visit: ``s_max = log(255 o)`` widened by 1e-5 (float64).

    A pixel passes the 1/255 test only where ``σ ≤ s_max`` up to float32 rounding (~3e-7 here: ``s_max``
    is stored as float32), so visiting ``σ ≤ s_max + 1e-5`` misses none, and the intervals below can be
    exact: no pixel of slack, which had been a quarter of the pixel visits on the head scene of ``bench render``.
    """
    return 2.0 * (float(s_max) + _ELLIPSE_MARGIN)


@njit(cache=True, inline="always")
def _row_interval(a, b, c, dy, two_s, mx, x0, x1):
    """Pixel columns ``[lo, hi)`` in ``[x0, x1)`` of a row at offset ``dy`` whose centres satisfy
    ``a dx² + 2b dx dy + c dy² ≤ 2s`` (float64; the caller still tests every pixel's alpha exactly)."""
    disc = b * b * dy * dy - a * (c * dy * dy - two_s)
    if disc < 0.0:
        return 0, 0
    root = math.sqrt(disc)
    lo = max(mx + (-b * dy - root) / a - 0.5, float(x0))
    hi = min(mx + (-b * dy + root) / a - 0.5, float(x1 - 1))
    if lo > hi:
        return 0, 0
    return int(math.ceil(lo)), int(math.floor(hi)) + 1


@njit(cache=True, inline="always")
def _row_range(a, b, c, two_s, my, y0, y1):
    """Rows ``[lo, hi)`` in ``[y0, y1)`` whose centres lie within the ellipse's vertical extent (float64)."""
    det = a * c - b * b
    if det <= 0.0:
        return 0, 0
    half = math.sqrt(two_s * a / det)  # sqrt(2s · Σ'_yy), Σ'_yy = a / (ac − b²)
    lo = max(my - half - 0.5, float(y0))
    hi = min(my + half - 0.5, float(y1 - 1))
    if lo > hi:
        return 0, 0
    return int(math.ceil(lo)), int(math.floor(hi)) + 1


@njit(cache=True, inline="always")
def _tile_bounds(tile, tiles_x, width, height):
    """Pixel bounds ``x0, x1, y0, y1`` (end-exclusive) of tile number ``tile`` (row-major, ``tiles_x`` per row)."""
    ty = tile // tiles_x
    tx = tile - ty * tiles_x
    x0, y0 = tx * TILE_SIZE, ty * TILE_SIZE
    return x0, min(x0 + TILE_SIZE, width), y0, min(y0 + TILE_SIZE, height)


@njit(cache=True, inline="always")
def _row_gaussian(a, b, c, dx, dy):
    """``exp(−σ)`` at a row's first pixel (offset ``dx, dy``) and the factor to the next pixel (float64).

    Along a row ``σ(dx + 1) = σ(dx) + a dx + a/2 + b dy``, and that increment grows by ``a`` from pixel to
    pixel, so ``exp(−σ)`` needs two exps per row and then two multiplications per pixel:
    ``gaussian *= step; step *= exp(−a)`` — the exp was most of a pixel's cost.
    """
    sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy
    return math.exp(-sigma), math.exp(-(a * dx + 0.5 * a + b * dy))


@njit(cache=True, inline="always")
def _alpha(o, gaussian):
    """``(min(0.999, o exp(−σ)) as float32, o exp(−σ) < 0.999)``: the one place both kernels turn a Gaussian
    value into alpha, so they take the same 1/255 and 1e-4 decisions (in float32, as the reference does)."""
    unclamped = o * gaussian
    return np.float32(min(_ALPHA_MAX_64, unclamped)), unclamped < _ALPHA_MAX_64


@njit(parallel=True, cache=True)
def _prepare_bins(means2d, conics, opacities, radii, tiles_x, tiles_y, rects, splats):
    """Per splat: its inclusive tile rectangle and its packed record.

    rects: (N, 4) int32 ``x_lo, x_hi, y_lo, y_hi``, clamped to the tile grid (``x_hi < x_lo``
    when culled or off-screen), exactly :func:`talkinghead_edu.render.projection.tile_ranges`.
    splats: (N, 8) float32 ``u, v, a, b, c, o, log(255 o)`` (the σ below which alpha ≥ 1/255;
    ``≤ 0`` when the opacity is below 1/255) and one unused field.
    """
    for g in prange(means2d.shape[0]):
        splats[g, _U], splats[g, _V] = means2d[g, 0], means2d[g, 1]
        splats[g, _A], splats[g, _B], splats[g, _C] = conics[g, 0], conics[g, 1], conics[g, 2]
        splats[g, _O] = opacities[g]
        splats[g, _S_MAX] = math.log(max(255.0 * float(opacities[g]), 1e-30))
        splats[g, 7] = 0.0
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


@njit(cache=True)
def _deal_tiles(tile_offsets, n_workers):
    """Split the tiles among ``n_workers``: ``(worker_offsets (W + 1,) int64, worker_tiles (n_tiles,) int32)``.

    Worker ``w`` composites ``worker_tiles[worker_offsets[w]:worker_offsets[w + 1]]``. Tiles are dealt
    longest list first, each to the worker with the shortest total so far (the list length stands in
    for the work), so every worker gets about the same share of the busy tiles.
    """
    n_tiles = tile_offsets.shape[0] - 1
    lengths = tile_offsets[1:] - tile_offsets[:-1]
    owner = np.empty(n_tiles, np.int64)
    load = np.zeros(n_workers, np.int64)
    counts = np.zeros(n_workers + 1, np.int64)
    for tile in np.argsort(-lengths, kind="mergesort"):
        w = np.argmin(load)
        owner[tile] = w
        load[w] += lengths[tile] + 1  # + 1: an empty tile still costs its pixels' write-out
        counts[w + 1] += 1
    worker_offsets = np.cumsum(counts)
    cursor = worker_offsets[:-1].copy()
    worker_tiles = np.empty(n_tiles, np.int32)
    for tile in np.argsort(-lengths, kind="mergesort"):
        worker_tiles[cursor[owner[tile]]] = tile
        cursor[owner[tile]] += 1
    return worker_offsets, worker_tiles


@njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _forward_kernel(
    splats, channels, tile_offsets, gaussian_ids, worker_offsets, worker_tiles, tiles_x, out_color, out_T, out_last
):
    """Composite every tile front to back (eq 9), float32.

    splats (N, 8) float32 records, channels (N, C) float32. Writes ``out_color`` (H, W, C) float32,
    ``out_T`` (H, W) float32 final transmittance and ``out_last`` (H, W) int32: per pixel the index in its
    tile's list after the last composited splat.
    """
    height, width, n_channels = out_color.shape
    for w in prange(worker_offsets.shape[0] - 1):
        # this worker's tile buffers, pixels row-major; transmittance is negative once a pixel stopped
        transmittance = np.empty(TILE_PIXELS, np.float32)
        color = np.empty((n_channels, TILE_PIXELS), np.float32)
        last = np.empty(TILE_PIXELS, np.int32)
        row_active = np.empty(TILE_SIZE, np.int32)  # pixels of each row still compositing
        for r in range(worker_offsets[w], worker_offsets[w + 1]):
            tile = worker_tiles[r]
            x0, x1, y0, y1 = _tile_bounds(tile, tiles_x, width, height)
            transmittance[:] = _ONE
            color[:] = _ZERO
            last[:] = 0
            row_active[:] = x1 - x0
            active = (y1 - y0) * (x1 - x0)
            start = tile_offsets[tile]
            for k in range(start, tile_offsets[tile + 1]):
                if active == 0:
                    break
                g = gaussian_ids[k]
                s_max = splats[g, _S_MAX]  # alpha >= 1/255  <=>  sigma <= log(255 o)
                if s_max <= _ZERO:
                    continue
                mx, my, o = float(splats[g, _U]), float(splats[g, _V]), float(splats[g, _O])
                a, b, c = float(splats[g, _A]), float(splats[g, _B]), float(splats[g, _C])
                two_s, decay = _ellipse_bound(s_max), math.exp(-a)
                row_lo, row_hi = _row_range(a, b, c, two_s, my, y0, y1)
                for py in range(row_lo, row_hi):
                    j = py - y0
                    if row_active[j] == 0:
                        continue
                    dy = py + 0.5 - my
                    col_lo, col_hi = _row_interval(a, b, c, dy, two_s, mx, x0, x1)
                    gaussian, step = _row_gaussian(a, b, c, col_lo + 0.5 - mx, dy)
                    for px in range(col_lo, col_hi):
                        p = j * TILE_SIZE + px - x0
                        alpha, _ = _alpha(o, gaussian)
                        gaussian *= step
                        step *= decay
                        t = transmittance[p]
                        if t < _ZERO or alpha < _ALPHA_MIN:  # the pixel already stopped, or alpha < 1/255
                            continue
                        t_next = t * (_ONE - alpha)
                        if t_next < _T_MIN:  # early termination: this splat is not composited
                            transmittance[p] = -t
                            row_active[j] -= 1
                            active -= 1
                            continue
                        weight = alpha * t  # eq 9
                        for ch in range(n_channels):
                            color[ch, p] += weight * channels[g, ch]
                        transmittance[p] = t_next
                        last[p] = k - start + 1
            for py in range(y0, y1):
                for px in range(x0, x1):
                    p = (py - y0) * TILE_SIZE + px - x0
                    out_T[py, px] = abs(transmittance[p])
                    out_last[py, px] = last[p]
                    for ch in range(n_channels):
                        out_color[py, px, ch] = color[ch, p]


@njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _backward_kernel(
    splats,
    channels,
    tile_offsets,
    gaussian_ids,
    worker_offsets,
    worker_tiles,
    tiles_x,
    final_T,
    last,
    grad_color,
    grad_alpha,
    worker_grads,
):
    """Gradients of the loss w.r.t. every splat, given ``grad_color`` (H, W, C) and ``grad_alpha`` (H, W).

    ``worker_grads`` (W, N, 6 + C) float32, zero on entry: worker ``w`` adds ``∂L/∂(u, v, a, b, c, o,
    channels)`` of the splats in its tiles to ``worker_grads[w]`` (summed by :func:`_sum_workers`).
    """
    height, width, n_channels = grad_color.shape
    for w in prange(worker_offsets.shape[0] - 1):
        grads = worker_grads[w]
        transmittance = np.empty(TILE_PIXELS)  # float64: T_{i+1}, recovered splat by splat
        behind = np.empty((n_channels, TILE_PIXELS))  # S = Σ w_j c_j over the splats behind
        d_color = np.empty((n_channels, TILE_PIXELS))  # the tile's grad_color, channel-major
        d_alpha_final = np.empty(TILE_PIXELS)  # ∂L/∂A · T_final
        tile_last = np.empty(TILE_PIXELS, np.int32)
        row_last = np.empty(TILE_SIZE, np.int32)  # per row: the largest last-contributor index
        grad_channels = np.empty(n_channels)
        for r in range(worker_offsets[w], worker_offsets[w + 1]):
            tile = worker_tiles[r]
            x0, x1, y0, y1 = _tile_bounds(tile, tiles_x, width, height)
            behind[:] = 0.0
            tile_last[:] = 0
            row_last[:] = 0
            for py in range(y0, y1):
                for px in range(x0, x1):
                    p = (py - y0) * TILE_SIZE + px - x0
                    transmittance[p] = final_T[py, px]
                    d_alpha_final[p] = float(grad_alpha[py, px]) * float(final_T[py, px])
                    tile_last[p] = last[py, px]
                    row_last[py - y0] = max(row_last[py - y0], last[py, px])
                    for ch in range(n_channels):
                        d_color[ch, p] = grad_color[py, px, ch]
            start = tile_offsets[tile]
            for k in range(start + row_last.max() - 1, start - 1, -1):
                g = gaussian_ids[k]
                s_max = splats[g, _S_MAX]
                if s_max <= _ZERO:
                    continue
                mx, my, o = float(splats[g, _U]), float(splats[g, _V]), float(splats[g, _O])
                a, b, c = float(splats[g, _A]), float(splats[g, _B]), float(splats[g, _C])
                two_s, decay = _ellipse_bound(s_max), math.exp(-a)
                g_u = g_v = g_a = g_b = g_c = g_o = 0.0
                grad_channels[:] = 0.0
                row_lo, row_hi = _row_range(a, b, c, two_s, my, y0, y1)
                for py in range(row_lo, row_hi):
                    if k - start >= row_last[py - y0]:  # every pixel of this row stopped before splat k
                        continue
                    dy = py + 0.5 - my
                    col_lo, col_hi = _row_interval(a, b, c, dy, two_s, mx, x0, x1)
                    gaussian, step = _row_gaussian(a, b, c, col_lo + 0.5 - mx, dy)
                    for px in range(col_lo, col_hi):
                        p = (py - y0) * TILE_SIZE + px - x0
                        alpha32, unclamped = _alpha(o, gaussian)
                        pixel_gaussian = gaussian
                        gaussian *= step
                        step *= decay
                        if k - start >= tile_last[p] or alpha32 < _ALPHA_MIN:
                            continue
                        alpha = float(alpha32)
                        inv_one_minus_alpha = 1.0 / (1.0 - alpha)
                        t = transmittance[p] * inv_one_minus_alpha  # T_i recovered from T_{i+1}
                        weight = alpha * t
                        d_alpha = d_alpha_final[p] * inv_one_minus_alpha
                        for ch in range(n_channels):
                            d_out = d_color[ch, p]
                            c_g = float(channels[g, ch])
                            grad_channels[ch] += weight * d_out
                            d_alpha += d_out * (c_g * t - behind[ch, p] * inv_one_minus_alpha)
                            behind[ch, p] += weight * c_g
                        transmittance[p] = t
                        if unclamped:  # the clamp at 0.999 has zero gradient
                            g_o += pixel_gaussian * d_alpha
                            d_sigma = -alpha * d_alpha
                            dx = px + 0.5 - mx
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
def _sum_workers(worker_grads, out):
    """``out[g] = Σ_w worker_grads[w, g]`` (N, P), in parallel over splats."""
    for g in prange(out.shape[0]):
        for j in range(out.shape[1]):
            total = np.float32(0.0)
            for w in range(worker_grads.shape[0]):
                total += worker_grads[w, g, j]
            out[g, j] = total


def bin_gaussians_fast(
    means2d: np.ndarray,
    conics: np.ndarray,
    opacities: np.ndarray,
    radii: np.ndarray,
    depths: np.ndarray,
    width: int,
    height: int,
):
    """Tile lists identical to :func:`talkinghead_edu.render.reference.bin_gaussians`, all in compiled code.

    Args:
        means2d (N, 2), conics (N, 3), opacities (N,) float32, radii (N, 2) int32, depths (N,) — numpy arrays.

    Returns:
        ``tile_offsets`` (n_tiles + 1,) int64, ``gaussian_ids`` (M,) int32 (each tile's splats nearest first)
        and ``splats`` (N, 8) float32 records (see :func:`_prepare_bins`).
    """
    tiles_x, tiles_y = (width + TILE_SIZE - 1) // TILE_SIZE, (height + TILE_SIZE - 1) // TILE_SIZE
    n = means2d.shape[0]
    rects, splats = np.empty((n, 4), np.int32), np.empty((n, _RECORD), np.float32)
    with stage("binning"):
        _prepare_bins(means2d, conics, opacities, radii, tiles_x, tiles_y, rects, splats)
    with stage("sort"):
        # positive floats order like their bit patterns (as integers of the same width)
        keys = depths.view(np.int32).astype(np.int64) if depths.dtype == np.float32 else depths.view(np.int64)
        by_depth = _depth_order(keys, rects, 8 * depths.dtype.itemsize)
    with stage("binning"):
        tile_offsets, gaussian_ids = _fill_tile_lists(rects, by_depth, tiles_x, tiles_x * tiles_y)
    return tile_offsets, gaussian_ids, splats


def _as_numpy(tensor: torch.Tensor, dtype=torch.float32) -> np.ndarray:
    """A C-contiguous numpy view (a copy only when the dtype, device or layout differ)."""
    return tensor.detach().to(device="cpu", dtype=dtype).contiguous().numpy()


class _RasterizeFast(torch.autograd.Function):
    """Autograd wrapper around the numba kernels (inputs as in :func:`rasterize_fast`)."""

    @staticmethod
    def forward(ctx, means2d, conics, opacities, channels, radii, depths, width, height):
        tile_offsets, gaussian_ids, splats = bin_gaussians_fast(
            _as_numpy(means2d),
            _as_numpy(conics),
            _as_numpy(opacities),
            _as_numpy(radii, torch.int32),
            _as_numpy(depths, depths.dtype),
            width,
            height,
        )
        with stage("composite"):
            colors = _as_numpy(channels)
            worker_offsets, worker_tiles = _deal_tiles(tile_offsets, numba.get_num_threads())
            tiles_x = (width + TILE_SIZE - 1) // TILE_SIZE
            color = np.empty((height, width, colors.shape[1]), np.float32)
            final_T = np.empty((height, width), np.float32)
            last = np.empty((height, width), np.int32)
            lists = (tile_offsets, gaussian_ids, worker_offsets, worker_tiles, tiles_x)
            _forward_kernel(splats, colors, *lists, color, final_T, last)
            ctx.kernel_args = (splats, colors, *lists, final_T, last)
            ctx.like = [(t.device, t.dtype) for t in (means2d, conics, opacities, channels)]  # no tensor refs on ctx
            to = dict(device=means2d.device, dtype=channels.dtype)
            alpha = torch.from_numpy(1.0 - final_T).to(**to)[..., None]
            return torch.from_numpy(color).to(**to), alpha

    @staticmethod
    def backward(ctx, grad_color, grad_alpha):
        with stage("backward: composite"):
            colors, worker_offsets = ctx.kernel_args[1], ctx.kernel_args[4]
            n, n_channels = colors.shape
            worker_grads = np.zeros((worker_offsets.shape[0] - 1, n, 6 + n_channels), np.float32)
            _backward_kernel(*ctx.kernel_args, _as_numpy(grad_color), _as_numpy(grad_alpha[..., 0]), worker_grads)
            per_gaussian = np.empty((n, 6 + n_channels), np.float32)
            _sum_workers(worker_grads, per_gaussian)
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
