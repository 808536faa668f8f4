"""The reference rasterizer: closed forms, finite differences (float64), tile binning by brute force."""

import math

import torch

from talkinghead_edu.render import Camera, Gaussians, project_gaussians, render
from talkinghead_edu.render.projection import tile_ranges
from talkinghead_edu.render.reference import bin_gaussians, composite_tile

F64 = torch.float64


def single(mean, scale, opacity, rgb, dtype=F64):
    logit = math.log(opacity / (1 - opacity))
    return Gaussians(
        torch.tensor([mean], dtype=dtype),
        torch.tensor([[1.0, 0, 0, 0]], dtype=dtype),
        torch.full((1, 3), math.log(scale), dtype=dtype),
        torch.tensor([logit], dtype=dtype),
        torch.tensor([rgb], dtype=dtype),
    )


def front_camera(width=64, height=64, focal=100.0, dtype=F64):
    return Camera.look_at((0, 0, 1), (0, 0, 0), focal=focal, width=width, height=height, dtype=dtype)


def test_single_gaussian_peak_and_mass():
    """Centred isotropic Gaussian (std s at depth 1, focal f): peak alpha = o, Σ alpha ≈ o·2π((f s)² + 0.3)."""
    cam = front_camera()
    # the mean exactly on the centre of pixel (32, 32): u = 32.5 → x = 0.5 / f; v = 32.5 → world y = −0.5 / f (y down)
    g = single((0.5 / 100.0, -0.5 / 100.0, 0.0), scale=0.04, opacity=0.3, rgb=(0.2, 0.4, 0.8))
    out = render(g, cam, backend="reference")
    torch.testing.assert_close(out.alpha[32, 32, 0], torch.tensor(0.3, dtype=F64), atol=1e-12, rtol=0)
    torch.testing.assert_close(out.image[32, 32], torch.tensor([0.06, 0.12, 0.24], dtype=F64), atol=1e-12, rtol=0)
    variance_px = (100.0 * 0.04) ** 2 + 0.3
    expected_mass = 0.3 * 2 * math.pi * variance_px
    # alpha < 1/255 is cut: the Gaussian's mass beyond σ = log(255 o) is exp(−log(76.5)) = 1.3 % of it
    assert abs(out.alpha.sum().item() / expected_mass - (1 - 1 / 76.5)) < 0.01
    assert abs(out.depth[32, 32, 0].item() - 1.0) < 1e-12


def test_compositing_order_follows_depth():
    """Eq 9 for two splats on one pixel: C = o1 c1 + (1 − o1) o2 c2; swapping depths swaps the roles."""
    cam = front_camera(16, 16)
    red, green = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0)

    def on_pixel_8_8(z):  # a point on the ray through the centre of pixel (8, 8): u = 8.5 = f x / depth + 8
        depth = 1.0 - z  # camera at z = 1 looking toward −z; image y points down (world −y)
        return (0.5 / 100.0 * depth, -0.5 / 100.0 * depth, z)

    def two(z_red, z_green):
        g1 = single(on_pixel_8_8(z_red), 0.03, 0.6, red)
        g2 = single(on_pixel_8_8(z_green), 0.03, 0.5, green)
        both = Gaussians(*(torch.cat([a, b]) for a, b in zip(g1.parameters(), g2.parameters())))
        return render(both, cam, backend="reference").image[8, 8]

    torch.testing.assert_close(two(0.1, 0.0), torch.tensor([0.6, (1 - 0.6) * 0.5, 0.0], dtype=F64), atol=1e-12, rtol=0)
    torch.testing.assert_close(two(0.0, 0.1), torch.tensor([(1 - 0.5) * 0.6, 0.5, 0.0], dtype=F64), atol=1e-12, rtol=0)


def test_early_termination_and_alpha_threshold():
    """Composite by hand: alphas below 1/255 skipped, compositing stops before T < 1e-4."""
    pixels = torch.tensor([[0.5, 0.5]], dtype=F64)
    alphas = [0.99, 0.002, 0.99, 0.9, 0.5]  # T after: 0.01, (skip), 1e-4·(not < 1e-4), then 1e-5 → stop
    n = len(alphas)
    channels = torch.arange(1.0, n + 1, dtype=F64)[:, None]
    means2d = pixels.expand(n, 2)
    conics = torch.ones(n, 3, dtype=F64) * torch.tensor([1.0, 0.0, 1.0], dtype=F64)
    color, alpha = composite_tile(pixels, means2d, conics, torch.tensor(alphas, dtype=F64), channels)
    t, expected, acc = 1.0, 0.0, 0.0
    for index, a in enumerate(alphas):
        if a < 1 / 255:
            continue
        if t * (1 - a) < 1e-4:
            break
        expected += (index + 1) * a * t
        acc += a * t
        t *= 1 - a
    assert index == 3  # the fourth splat terminated the pixel
    torch.testing.assert_close(color[0, 0], torch.tensor(expected, dtype=F64), rtol=1e-12, atol=0)
    torch.testing.assert_close(alpha[0], torch.tensor(acc, dtype=F64), rtol=1e-12, atol=0)


def test_binning_matches_brute_force():
    g = Gaussians.random(400, extent=0.2, scale=0.015, generator=torch.Generator().manual_seed(3))
    cam = Camera.look_at((0.05, 0, 0.8), (0, 0, 0), fov_y_deg=35, width=70, height=45)
    p = project_gaussians(g.means, g.quats, g.scales, g.opacities, cam)
    offsets, ids = bin_gaussians(p.means2d, p.radii, p.depths, cam.width, cam.height)
    tiles_x, tiles_y = 5, 3
    for ty in range(tiles_y):
        for tx in range(tiles_x):
            tile = ty * tiles_x + tx
            expected = []
            for n in range(len(g)):
                u, v = p.means2d[n].tolist()
                rx, ry = p.radii[n].tolist()
                if rx == 0:
                    continue
                if math.floor((u - rx) / 16) <= tx <= math.floor((u + rx) / 16) and math.floor(
                    (v - ry) / 16
                ) <= ty <= math.floor((v + ry) / 16):
                    expected.append(n)
            got = ids[offsets[tile] : offsets[tile + 1]].tolist()
            assert sorted(got) == sorted(expected)
            assert all(p.depths[a] <= p.depths[b] for a, b in zip(got, got[1:]))  # front to back
    low, high = tile_ranges(p.means2d, p.radii, cam.width, cam.height)
    assert ((high - low + 1).clamp_min(0).prod(-1).sum()) == ids.numel()


def test_reference_gradients_match_finite_differences():
    """torch.autograd.gradcheck in float64 (eps 1e-6, atol 1e-5, rtol 1e-3) on a small scene, SH degree 1, features."""
    g = Gaussians.random(
        6,
        extent=0.05,
        scale=0.012,
        sh_degree=1,
        opacity=(0.3, 0.7),
        generator=torch.Generator().manual_seed(1),
        dtype=F64,
    )
    cam = Camera.look_at((0.01, 0.02, 0.5), (0, 0, 0), fov_y_deg=30, width=14, height=12, dtype=F64)
    features = torch.rand(6, 2, generator=torch.Generator().manual_seed(2), dtype=F64)

    def fn(means, quats, log_scales, logits, colors, feats):
        out = render(
            Gaussians(means, quats, log_scales, logits, colors), cam, backend="reference", bg=0.3, features=feats
        )
        return out.image, out.alpha, out.depth, out.features

    inputs = [t.detach().clone().requires_grad_() for t in g.parameters()] + [features.requires_grad_()]
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, fast_mode=True)


def test_reference_memory_stays_bounded_with_checkpointing():
    """Backward through 3000 overlapping splats works tile by tile (smoke check of the checkpointed path)."""
    g = Gaussians.random(3000, extent=0.05, scale=0.01, generator=torch.Generator().manual_seed(0)).requires_grad_()
    cam = Camera.look_at((0, 0, 1), (0, 0, 0), fov_y_deg=10, width=32, height=32)
    out = render(g, cam, backend="reference")
    out.image.sum().backward()
    assert torch.isfinite(g.means.grad).all() and g.means.grad.abs().sum() > 0
