"""The numba backend against the reference: images and every gradient, on random scenes and edge cases.

Both run in float32. Tolerances: images/alpha/depth/features atol 2e-5; gradients
``atol = 1e-4 · max|reference grad|`` with rtol 1e-3 (the fast backward recovers
transmittance by division, so it accumulates float rounding differently).
"""

import math

import numpy as np
import pytest
import torch

from talkinghead_edu.render import Camera, Gaussians, fast, project_gaussians, render
from talkinghead_edu.render.reference import bin_gaussians

pytestmark = pytest.mark.skipif(not fast.available(), reason="numba kernels unavailable (see the warning)")


def run(gaussians: Gaussians, camera: Camera, backend: str, features=None):
    g = gaussians.detach().requires_grad_()
    feats = None if features is None else features.detach().clone().requires_grad_()
    out = render(g, camera, backend=backend, bg=torch.tensor([0.2, 0.5, 0.9]), features=feats)
    assert out.backend == backend
    weights = torch.rand(out.image.shape, generator=torch.Generator().manual_seed(7))
    loss = (out.image * weights).sum() + 0.3 * out.alpha.sum() + 0.1 * out.depth.sum()
    if feats is not None:
        loss = loss + (out.features**2).sum()
    if loss.requires_grad:
        loss.backward()
    grads = {
        name: t.grad for name, t in zip(["means", "quats", "log_scales", "opacity_logits", "colors"], g.parameters())
    }
    grads["means2d"] = out.means2d.grad
    if feats is not None:
        grads["features"] = feats.grad
    images = {"image": out.image, "alpha": out.alpha, "depth": out.depth, "features": out.features}
    return images, grads, out


def assert_backends_agree(gaussians, camera, features=None):
    ref_images, ref_grads, ref_out = run(gaussians, camera, "reference", features)
    fast_images, fast_grads, fast_out = run(gaussians, camera, "fast", features)
    for name, ref in ref_images.items():
        if ref is not None:
            torch.testing.assert_close(fast_images[name], ref, atol=2e-5, rtol=1e-4, msg=f"{name} differs")
    for name, ref in ref_grads.items():
        got = fast_grads[name]
        if ref is None:  # no path from the loss (e.g. nothing visible)
            assert got is None or got.abs().max() == 0, name
            continue
        scale = max(ref.abs().max().item(), 1e-6)
        torch.testing.assert_close(got, ref, atol=1e-4 * scale, rtol=1e-3, msg=f"gradient of {name} differs")
    assert torch.equal(fast_out.radii, ref_out.radii) and torch.equal(fast_out.visible, ref_out.visible)


def camera(width=40, height=30):
    return Camera.look_at((0.02, -0.01, 1.0), (0, 0, 0), fov_y_deg=25, width=width, height=height)


@pytest.mark.parametrize("seed, sh_degree", [(0, None), (1, 0), (2, 1), (3, 3)])
def test_random_scenes(seed, sh_degree):
    g = Gaussians.random(
        250, extent=0.15, scale=0.015, sh_degree=sh_degree, generator=torch.Generator().manual_seed(seed)
    )
    features = torch.rand(250, 3, generator=torch.Generator().manual_seed(seed + 100))
    assert_backends_agree(g, camera(), features)


def test_behind_camera_and_outside_the_image():
    g = Gaussians.random(200, extent=0.1, scale=0.01, generator=torch.Generator().manual_seed(4))
    means = g.means.clone()
    means[:50, 2] += 1.5  # behind the camera (at z = 1, looking toward −z)
    means[50:100, 0] += 2.0  # far to the side: outside the image
    means[100:110, 2] = 0.995  # closer than the near plane
    g = Gaussians(means, g.quats, g.log_scales, g.opacity_logits, g.colors)
    assert_backends_agree(g, camera())
    out = render(g, camera(), backend="fast")
    assert not out.visible[:110].any() and out.visible[110:].sum() > 50


def test_zero_opacity_and_extreme_scales():
    g = Gaussians.random(120, extent=0.1, scale=0.01, generator=torch.Generator().manual_seed(5))
    logits, log_scales = g.opacity_logits.clone(), g.log_scales.clone()
    logits[:20] = -30.0  # opacity ~ 1e-13: culled
    log_scales[20:40] = math.log(1e-6)  # far below a pixel: the 0.3 px² dilation keeps them one pixel wide
    log_scales[40:45] = math.log(0.5)  # much larger than the image
    log_scales[45:50, 0] = math.log(0.3)  # needles
    g = Gaussians(g.means, g.quats, log_scales, logits, g.colors)
    assert_backends_agree(g, camera())


def test_empty_scene_and_single_gaussian():
    empty = Gaussians(torch.zeros(0, 3), torch.zeros(0, 4), torch.zeros(0, 3), torch.zeros(0), torch.zeros(0, 3))
    for backend in ("reference", "fast"):
        out = render(empty, camera(), backend=backend, bg=0.5)
        assert torch.all(out.image == 0.5) and torch.all(out.alpha == 0) and out.radii.shape == (0,)
    one = Gaussians.random(1, extent=0.0, scale=0.02, generator=torch.Generator().manual_seed(6))
    assert_backends_agree(one, camera())


def test_more_gaussians_than_fit_in_a_tile():
    """1500 splats inside one 16×16 tile: lists longer than the tile's pixel count, early termination everywhere."""
    cam = camera(32, 32)
    g = Gaussians.random(
        1500, center=(0.0, 0.0, 0.0), extent=0.004, scale=0.003, generator=torch.Generator().manual_seed(8)
    )
    p = project_gaussians(g.means, g.quats, g.scales, g.opacities, cam)
    offsets, _ = bin_gaussians(p.means2d, p.radii, p.depths, 32, 32)
    assert (offsets[1:] - offsets[:-1]).max() > 256
    assert_backends_agree(g, cam)


def test_non_square_tiles_at_the_border():
    g = Gaussians.random(300, extent=0.2, scale=0.02, generator=torch.Generator().manual_seed(9))
    assert_backends_agree(g, camera(37, 21))


def test_deal_tiles_covers_every_tile_once_and_balances_the_work():
    """Regression: a prange over busiest-first tiles gave one thread all the busy tiles (two threads = one)."""
    lengths = torch.randint(0, 400, (256,), generator=torch.Generator().manual_seed(10)).numpy()
    lengths[:100] = 0  # background tiles
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    for n_workers in (1, 2, 3):
        worker_offsets, worker_tiles = fast._deal_tiles(offsets, n_workers)
        assert worker_offsets[0] == 0 and worker_offsets[-1] == 256 and len(worker_offsets) == n_workers + 1
        assert sorted(worker_tiles.tolist()) == list(range(256))
        work = [lengths[worker_tiles[a:b]].sum() for a, b in zip(worker_offsets[:-1], worker_offsets[1:])]
        assert max(work) - min(work) <= lengths.max(), work  # greedy: within one tile's work of each other


def test_any_number_of_workers_gives_the_same_image_and_gradients():
    """The kernels split tiles among workers; the image must not depend on how (bit for bit), the gradients only
    through the order in which the workers' float32 sums are added."""
    cam = camera(53, 41)
    g = Gaussians.random(400, extent=0.2, scale=0.02, generator=torch.Generator().manual_seed(11))
    p = project_gaussians(g.means, g.quats, g.scales, g.opacities, cam)
    arrays = [fast._as_numpy(t) for t in (p.means2d, p.conics, g.opacities)]
    radii = fast._as_numpy(p.radii, torch.int32)
    offsets, ids, splats = fast.bin_gaussians_fast(*arrays, radii, fast._as_numpy(p.depths), 53, 41)
    channels = torch.rand(400, 4, generator=torch.Generator().manual_seed(12)).numpy()
    grad_color = torch.rand(41, 53, 4, generator=torch.Generator().manual_seed(13)).numpy()
    grad_alpha = torch.rand(41, 53, generator=torch.Generator().manual_seed(14)).numpy()
    tiles_x = (53 + 15) // 16
    results = []
    for n_workers in (1, 2, 5):
        deal = fast._deal_tiles(offsets, n_workers)
        color, final_t, last = (
            np.empty((41, 53, 4), np.float32),
            np.empty((41, 53), np.float32),
            np.empty((41, 53), np.int32),
        )
        fast._forward_kernel(splats, channels, offsets, ids, *deal, tiles_x, color, final_t, last)
        worker_grads = np.zeros((n_workers, 400, 10), np.float32)
        fast._backward_kernel(
            splats, channels, offsets, ids, *deal, tiles_x, final_t, last, grad_color, grad_alpha, worker_grads
        )
        grads = np.empty((400, 10), np.float32)
        fast._sum_workers(worker_grads, grads)
        results.append((color, final_t, last, grads))
    assert (results[0][0] > 0).any() and np.abs(results[0][3]).max() > 0
    for color, final_t, last, grads in results[1:]:
        assert np.array_equal(color, results[0][0]) and np.array_equal(final_t, results[0][1])
        assert np.array_equal(last, results[0][2])
        np.testing.assert_allclose(grads, results[0][3], rtol=1e-5, atol=1e-6 * np.abs(results[0][3]).max())


def test_row_recurrence_matches_exp_along_a_tile_row():
    """The kernels step exp(−σ) along a row by two multiplications per pixel; it must match exp(−σ) itself."""
    for a, b, c, dx0, dy in [
        (0.8, -0.3, 0.5, -7.5, 2.5),
        (3.3, 0.0, 3.3, -1.5, 0.5),
        (0.004, 0.001, 0.003, -15.5, -9.5),
    ]:
        gaussian, step = fast._row_gaussian(a, b, c, dx0, dy)
        for i in range(16):
            dx = dx0 + i
            expected = math.exp(-(0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy))
            assert abs(gaussian - expected) <= 1e-13 + 1e-13 * expected, (a, b, c, i)
            gaussian *= step
            step *= math.exp(-a)


def test_exact_row_intervals_visit_every_pixel_that_passes_the_alpha_test():
    """The kernels visit only the rows and columns solved from the ellipse σ ≤ log(255 o) + 1e-5, with no pixel of
    slack; every pixel centre whose alpha reaches 1/255 (in float32, as the kernels test it) must lie inside them —
    for round splats, needles at every angle, and opacities that put the 1/255 line exactly through a pixel centre."""
    rng = np.random.default_rng(11)
    x0, x1, y0, y1 = 16, 32, 32, 48  # one tile
    px, py = np.meshgrid(np.arange(x0, x1) + 0.5, np.arange(y0, y1) + 0.5)
    checked = on_the_line = 0
    for case in range(1500):
        angle, log_sx, log_sy = rng.uniform(0, math.pi), rng.uniform(-1.2, 2.5), rng.uniform(-1.2, 2.5)
        rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        covariance = rotation @ np.diag([math.exp(2 * log_sx) + 0.3, math.exp(2 * log_sy) + 0.3]) @ rotation.T
        inverse = np.linalg.inv(covariance)
        a, b, c = float(inverse[0, 0]), float(inverse[0, 1]), float(inverse[1, 1])
        u, v = rng.uniform(8, 40), rng.uniform(24, 56)
        sigma = 0.5 * (a * (px - u) ** 2 + c * (py - v) ** 2) + b * (px - u) * (py - v)  # (16, 16)
        inside = np.flatnonzero(sigma < math.log(255.0))
        if case % 2 and inside.size:  # put the 1/255 line through one pixel centre
            o = math.exp(sigma.flat[rng.choice(inside)]) / 255.0
            on_the_line += 1
        else:
            o = rng.uniform(0.01, 1.0)
        two_s = fast._ellipse_bound(np.float32(math.log(255.0 * o)))
        passing = np.float32(o) * np.exp(-sigma).astype(np.float32) >= np.float32(1.0 / 255.0)
        visited = np.zeros_like(passing)
        row_lo, row_hi = fast._row_range(a, b, c, two_s, v, y0, y1)
        for row in range(row_lo, row_hi):
            col_lo, col_hi = fast._row_interval(a, b, c, row + 0.5 - v, two_s, u, x0, x1)
            visited[row - y0, col_lo - x0 : col_hi - x0] = True
        assert not (passing & ~visited).any(), f"case {case}: a pixel with alpha >= 1/255 is never visited"
        checked += int(passing.sum())
    assert on_the_line > 400 and checked > 10_000
