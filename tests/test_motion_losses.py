"""Eqs 5–8 against hand computations (loops over frames, explicit norms); tolerance 1e-6 relative."""

import pytest
import torch
from _motion_fixtures import one_thread as _one_thread  # noqa: E402

from talkinghead_edu.motion import (
    LipReadingEncoder,
    latent_consistency_loss,
    lip_reading_loss,
    reconstruction_loss,
    smoothness_loss,
    total_loss,
)

single_thread = pytest.fixture(autouse=True)(_one_thread)


def test_reconstruction_loss_by_hand():
    g = torch.Generator().manual_seed(0)
    B, T, N, K = 2, 5, 4, 7
    y, y_hat = torch.randn(B, T, N, generator=g), torch.randn(B, T, N, generator=g)
    v, v_hat = torch.randn(B, T, K, 3, generator=g), torch.randn(B, T, K, 3, generator=g)
    expected = 0.0
    for b in range(B):
        param_term = sum(float(torch.sum((y[b, t] - y_hat[b, t]) ** 2)) for t in range(T)) / (N * T)
        vertex_term = sum(float(torch.sum((v[b, t] - v_hat[b, t]) ** 2)) for t in range(T)) / (K * T)
        expected += (0.7 * param_term + 2.5 * vertex_term) / B
    got = reconstruction_loss(y_hat, y, v_hat, v, lambda_y=0.7, lambda_v=2.5)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    assert reconstruction_loss(y_hat, y, lambda_y=0.7).item() == pytest.approx(
        0.7 * float(((y - y_hat) ** 2).sum()) / (B * N * T), rel=1e-6
    )


def test_smoothness_loss_by_hand():
    y = torch.tensor([[[0.0], [1.0], [3.0], [6.0]]])  # velocities 1, 2, 3
    y_hat = torch.tensor([[[0.0], [2.0], [2.0], [2.0]]])  # velocities 2, 0, 0
    expected = ((1 - 2) ** 2 + (2 - 0) ** 2 + (3 - 0) ** 2) / 3  # N = 1, T - 1 = 3 differences
    assert smoothness_loss(y_hat, y, lambda_sth=2.0).item() == pytest.approx(2.0 * expected)
    # a constant offset does not change velocities
    assert smoothness_loss(y + 5.0, y).item() == pytest.approx(0.0, abs=1e-6)


def test_latent_consistency_and_total():
    a = torch.zeros(1, 2, 3)
    b = torch.tensor([[[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]]])
    assert latent_consistency_loss(a, b, lambda_lat=0.5).item() == pytest.approx(0.5 * 15 / 6)
    assert total_loss(torch.tensor(1.0), torch.tensor(2.0), torch.tensor(3.0)).item() == 6.0


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError, match="mismatched frame counts"):
        reconstruction_loss(torch.zeros(1, 5, 3), torch.zeros(1, 6, 3))
    with pytest.raises(ValueError, match="both"):
        reconstruction_loss(torch.zeros(1, 5, 3), torch.zeros(1, 5, 3), torch.zeros(1, 5, 2, 3))
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        reconstruction_loss(
            torch.zeros(1, 5, 3), torch.zeros(1, 5, 3), torch.zeros(1, 4, 2, 3), torch.zeros(1, 4, 2, 3)
        )
    with pytest.raises(ValueError, match="at least 2 frames"):
        smoothness_loss(torch.zeros(1, 1, 3), torch.zeros(1, 1, 3))
    with pytest.raises(ValueError, match="differ"):
        latent_consistency_loss(torch.zeros(1, 5, 3), torch.zeros(1, 5, 4))


def test_lip_encoder_shapes_gradients_and_errors():
    torch.manual_seed(0)
    rest = torch.randn(6, 3) * 0.01
    encoder = LipReadingEncoder(rest, asr_dim=5, hidden=16)
    lips = (rest + 0.001 * torch.randn(2, 9, 6, 3)).requires_grad_(True)
    features = encoder(lips)
    assert features.shape == (2, 9, 5)
    loss = lip_reading_loss(encoder, lips, torch.randn(2, 9, 5))
    loss.backward()
    assert lips.grad is not None and lips.grad.abs().sum() > 0  # eq 7 reaches the motion
    with pytest.raises(ValueError, match=r"\(B, T, 6, 3\)"):
        encoder(torch.zeros(2, 9, 5, 3))
    with pytest.raises(ValueError, match="E_asr"):
        lip_reading_loss(encoder, lips, torch.randn(2, 8, 5))


def test_loss_gradient_matches_finite_differences():
    """d(eq 5 + eq 6)/dŷ by autograd vs central differences (float64, tol 1e-6)."""
    g = torch.Generator().manual_seed(1)
    y = torch.randn(1, 4, 2, dtype=torch.float64, generator=g)
    y_hat = torch.randn(1, 4, 2, dtype=torch.float64, generator=g, requires_grad=True)

    def objective(pred):
        return reconstruction_loss(pred, y, lambda_y=0.3) + smoothness_loss(pred, y, lambda_sth=1.7)

    assert torch.autograd.gradcheck(objective, (y_hat,), eps=1e-6, atol=1e-6)
