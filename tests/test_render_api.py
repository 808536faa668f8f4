"""``render()``: inputs, outputs, errors, backend choice and fallback."""

import pytest
import torch

from talkinghead_edu.render import Camera, Gaussians, fast, render, resolve_backend


def small_scene():
    g = Gaussians.random(50, extent=0.1, scale=0.01, sh_degree=2, generator=torch.Generator().manual_seed(0))
    cam = Camera.look_at((0, 0, 1), (0, 0, 0), fov_y_deg=20, width=24, height=20)
    return g, cam


@pytest.mark.parametrize("backend", ["reference", "fast"])
def test_output_shapes_and_means2d_gradient(backend):
    g, cam = small_scene()
    g.requires_grad_()
    out = render(g, cam, backend=backend, bg=1.0, features=torch.rand(50, 5))
    assert out.image.shape == (20, 24, 3) and out.alpha.shape == (20, 24, 1) and out.depth.shape == (20, 24, 1)
    assert out.features.shape == (20, 24, 5) and out.means2d.shape == (50, 2)
    assert out.radii.shape == (50,) and out.visible.dtype == torch.bool and out.visible.any()
    out.image.sum().backward()
    assert out.means2d.grad is not None and out.means2d.grad[out.visible].abs().sum() > 0
    assert torch.all(out.means2d.grad[~out.visible] == 0)
    # where nothing was drawn the image is the background
    empty = out.alpha[..., 0] < 1e-6
    assert torch.allclose(out.image[empty], torch.ones(3))


def test_depth_is_expected_depth():
    """A single opaque-ish splat: depth where alpha > 0 equals its camera-space z."""
    g = Gaussians(
        torch.tensor([[0.0, 0.0, 0.2]]),
        torch.tensor([[1.0, 0, 0, 0]]),
        torch.full((1, 3), -4.0),
        torch.tensor([2.0]),
        torch.tensor([[1.0, 1.0, 1.0]]),
    )
    cam = Camera.look_at((0, 0, 1), (0, 0, 0), fov_y_deg=20, width=16, height=16)
    out = render(g, cam, backend="fast")
    drawn = out.alpha[..., 0] > 0
    assert drawn.sum() > 4
    torch.testing.assert_close(out.depth[..., 0][drawn], torch.full((int(drawn.sum()),), 0.8), atol=1e-5, rtol=0)


def test_bad_inputs_are_named():
    g, cam = small_scene()
    with pytest.raises(ValueError, match="backend must be one of"):
        render(g, cam, backend="opengl")
    with pytest.raises(ValueError, match="features must have shape"):
        render(g, cam, features=torch.rand(49, 2))
    with pytest.raises(ValueError, match="bg must be"):
        render(g, cam, bg=torch.ones(4))
    with pytest.raises(TypeError, match="Camera"):
        render(g, "camera")
    with pytest.raises(ValueError, match=r"quats must have shape"):
        Gaussians(torch.zeros(3, 3), torch.zeros(2, 4), torch.zeros(3, 3), torch.zeros(3), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="SH"):
        Gaussians(torch.zeros(3, 3), torch.zeros(3, 4), torch.zeros(3, 3), torch.zeros(3), torch.zeros(3, 5, 3))


def test_auto_backend_on_cpu_is_fast():
    assert resolve_backend("auto", torch.device("cpu")) == "fast"
    g, cam = small_scene()
    assert render(g, cam).backend == ("fast" if fast.available() else "reference")


def test_jit_failure_falls_back_with_one_warning(monkeypatch):
    monkeypatch.setattr(fast, "_STATUS", {})

    def broken(*args, **kwargs):
        raise RuntimeError("simulated JIT failure")

    monkeypatch.setattr(fast, "rasterize_fast", broken)
    g, cam = small_scene()
    with pytest.warns(RuntimeWarning, match="using the reference backend"):
        out = render(g, cam, backend="fast")
    assert out.backend == "reference"


def test_gsplat_backend_matches_reference():
    if not torch.cuda.is_available():
        reason = "CUDA is not available: gsplat rasterizes on the GPU only"
        print(f"SKIPPED: {reason}")
        pytest.skip(reason)
    g, cam = small_scene()
    g = g.to(device="cuda")
    ref = render(g.to(device="cpu"), cam, backend="reference", bg=0.5, features=torch.rand(50, 2))
    out = render(g, cam.to(device="cuda"), backend="gsplat", bg=0.5, features=torch.rand(50, 2).cuda())
    torch.testing.assert_close(out.image.cpu(), ref.image, atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(out.alpha.cpu(), ref.alpha, atol=1e-3, rtol=1e-3)


def test_gsplat_backend_on_cpu_says_why():
    g, cam = small_scene()
    with pytest.raises(RuntimeError, match="needs CUDA"):
        render(g, cam, backend="gsplat")


@pytest.mark.parametrize("backend", ["reference", "fast"])
def test_large_splat_centred_far_off_screen_is_drawn_in_full(backend):
    """Regression: the screen radius was capped at 4 (W + H) before binning, so a large splat whose centre
    projects more than that far off-screen lost its tiles (drawn nowhere, yet counted visible)."""
    import math

    from talkinghead_edu.render import project_gaussians

    cam = Camera.look_at((0, 0, 1), (0, 0, 0), fov_y_deg=40, width=64, height=64)
    g = Gaussians(
        torch.tensor([[-6.28, 0.0, 0.0]]),
        torch.tensor([[1.0, 0, 0, 0]]),
        torch.full((1, 3), math.log(2.5)),
        torch.tensor([math.log(0.9 / 0.1)]),
        torch.ones(1, 3),
    )
    p = project_gaussians(g.means, g.quats, g.scales, g.opacities, cam)
    (u, v), radius = p.means2d[0].tolist(), p.radii[0, 0].item()
    assert u < -4 * (64 + 64) and u + radius > 64, "centred beyond the old cap, reaching past the image"
    out = render(g, cam, backend=backend)
    # the splat evaluated at every pixel centre, without any tiles: alpha = min(0.999, o exp(−σ)), 0 below 1/255
    ys, xs = torch.meshgrid(torch.arange(64) + 0.5, torch.arange(64) + 0.5, indexing="ij")
    dx, dy = xs - u, ys - v
    a, b, c = p.conics[0]
    alpha = (g.opacities[0] * torch.exp(-(0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy))).clamp(max=0.999)
    alpha = torch.where(alpha >= 1.0 / 255.0, alpha, torch.zeros_like(alpha))
    assert out.visible.all() and alpha.max() > 0.05
    torch.testing.assert_close(out.alpha[..., 0], alpha.detach(), atol=1e-5, rtol=0)


@pytest.mark.parametrize("backend", ["reference", "fast"])
def test_backward_runs_when_every_gaussian_is_culled(backend):
    """Regression: with every Gaussian culled the reference returned an image without grad_fn."""
    g, cam = small_scene()
    g = Gaussians(g.means + torch.tensor([0.0, 0.0, 5.0]), g.quats, g.log_scales, g.opacity_logits, g.colors)
    g.requires_grad_()
    out = render(g, cam, backend=backend, bg=0.3)
    assert not out.visible.any() and out.image.requires_grad
    out.image.sum().backward()
    assert torch.all(out.image == 0.3)
    assert all(p.grad is None or torch.all(p.grad == 0) for p in g.parameters())
