"""Renderer losses (eqs 20–24) against brute-force references and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from talkinghead_edu.eval import metrics
from talkinghead_edu.gaussians import losses
from talkinghead_edu.semantics import LABEL_COLORS


def brute_force_ssim(x: np.ndarray, y: np.ndarray, size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """SSIM of one channel by explicit windows (the textbook definition), valid region."""
    coords = np.arange(size) - (size - 1) / 2
    g = np.exp(-(coords**2) / (2 * sigma**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = 0.01**2, 0.03**2
    out = np.zeros((x.shape[0] - size + 1, x.shape[1] - size + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            a, b = x[i : i + size, j : j + size], y[i : i + size, j : j + size]
            mx, my = (w * a).sum(), (w * b).sum()
            vx, vy = (w * a * a).sum() - mx**2, (w * b * b).sum() - my**2
            cxy = (w * a * b).sum() - mx * my
            out[i, j] = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return out


def test_ssim_matches_brute_force_windows():
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(20, 18, 3, generator=generator, dtype=torch.float64)
    y = (x + 0.1 * torch.randn(20, 18, 3, generator=generator, dtype=torch.float64)).clamp(0, 1)
    fast = metrics.ssim_map(x, y)
    for c in range(3):
        expected = brute_force_ssim(x[..., c].numpy(), y[..., c].numpy())
        np.testing.assert_allclose(fast[..., c].numpy(), expected, atol=1e-10)
    assert metrics.ssim(x, x).item() == pytest.approx(1.0, abs=1e-12)
    assert losses.ssim_loss(x, y).item() == pytest.approx(1.0 - fast.mean().item(), abs=1e-12)
    with pytest.raises(ValueError, match="smaller than"):
        metrics.ssim(x[:5, :5], y[:5, :5])


def test_l1_with_and_without_mask():
    prediction, target = torch.zeros(4, 4, 3), torch.zeros(4, 4, 3)
    prediction[0, 0] = 1.0
    assert losses.l1_loss(prediction, target).item() == pytest.approx(3 / 48)
    mask = torch.zeros(4, 4)
    mask[0, :2] = 1
    assert losses.l1_loss(prediction, target, mask).item() == pytest.approx(3 / 6)


def test_perceptual_loss_code_path_with_a_random_vgg_file(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    tiny_layers = (8, 8, "M", 16, 16, "M")
    network = losses.vgg_features(tiny_layers)
    save_file(
        {f"features.{k}": v.contiguous() for k, v in network.state_dict().items()}, str(tmp_path / "vgg.safetensors")
    )
    # the file path loads the standard VGG-16 layout, so a tiny file must be refused with a clear message
    with pytest.raises(ValueError, match="not a VGG-16 weights file"):
        losses.PerceptualLoss(tmp_path / "vgg.safetensors")
    with pytest.raises(ValueError, match="does not exist"):
        losses.PerceptualLoss(tmp_path / "missing.pth")
    # full-size random VGG-16 written as .pth, read back with weights_only=True
    full = losses.vgg_features()
    torch.save({f"features.{k}": v for k, v in full.state_dict().items()}, tmp_path / "vgg16.pth")
    loaded = losses.PerceptualLoss(tmp_path / "vgg16.pth", taps=(3, 8))
    torch.testing.assert_close(loaded.network[0].weight, full[0].weight)
    image = torch.rand(32, 32, 3)
    other = torch.rand(32, 32, 3, requires_grad=True)
    assert loaded(image, image).item() == 0.0
    value = loaded(other, image)
    value.backward()
    assert value.item() > 0 and other.grad.abs().sum() > 0
    # the in-memory network path
    small = losses.PerceptualLoss(network=network, taps=(1, 6))
    assert small(other, image).item() > 0


def test_attribute_hinge_closed_form():
    local_means = torch.tensor([[0.0, 0.003, -0.009], [0.02, 0.0, 0.0]])
    log_scales = torch.log(torch.tensor([[1.0, 2.0, 1.0], [0.5, 0.5, 0.5]]))
    value = losses.attribute_loss(
        local_means, log_scales, eps_position=0.005, eps_scale=1.5, weight_position=2.0, weight_scale=3.0
    )
    position = ((0.009 - 0.005) ** 2 + (0.02 - 0.005) ** 2) / 2
    scale = (2.0 - 1.5) ** 2 / 2
    assert value.item() == pytest.approx(2.0 * position + 3.0 * scale, rel=1e-5)
    inside = losses.attribute_loss(torch.zeros(3, 3), torch.zeros(3, 3), 0.005, 1.5)
    assert inside.item() == 0.0


def test_semantic_colours_and_loss():
    face_labels = torch.tensor([1, 2, 3])
    triangle_ids = torch.tensor([2, 0, 1, 1])
    colours = losses.gaussian_label_colors(face_labels, triangle_ids)
    torch.testing.assert_close(colours, torch.as_tensor(LABEL_COLORS)[[3, 1, 2, 2]])
    labels = torch.tensor([[0, 1], [2, 2]])
    perfect = losses.label_map_colors(labels)
    assert losses.semantic_loss(perfect, labels).item() == 0.0
    wrong = perfect.clone()
    wrong[0, 0] = 1.0
    assert losses.semantic_loss(wrong, labels).item() == pytest.approx(3.0 / 12.0)
    with pytest.raises(ValueError, match="label ids"):
        losses.label_map_colors(torch.tensor([[42]]))


def test_renderer_loss_sums_the_terms():
    generator = torch.Generator().manual_seed(1)
    image, target = torch.rand(16, 16, 3, generator=generator), torch.rand(16, 16, 3, generator=generator)
    labels = torch.randint(0, 9, (16, 16), generator=generator)
    semantic = torch.rand(16, 16, 3, generator=generator)
    means, log_scales = 0.01 * torch.randn(5, 3, generator=generator), torch.randn(5, 3, generator=generator)
    weights = losses.LossWeights()
    total, terms = losses.renderer_loss(image, target, means, log_scales, weights, semantic, labels)
    expected = weights.l1 * terms["l1"] + weights.ssim * terms["ssim"] + terms["attr"] + weights.seg * terms["seg"]
    assert total.item() == pytest.approx(expected, rel=1e-5)
    total_without, terms_without = losses.renderer_loss(image, target, means, log_scales, weights)
    assert "seg" not in terms_without and total_without.item() == pytest.approx(
        expected - weights.seg * terms["seg"], rel=1e-5
    )
