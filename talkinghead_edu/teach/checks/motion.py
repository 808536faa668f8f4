"""Self-checks for notebook 04 (motion translator, eqs 4–8)."""

from __future__ import annotations

from typing import Callable

import torch

from ...motion import fuse_identity, latent_consistency_loss, reconstruction_loss, smoothness_loss
from ._core import CheckFailed, compare_to_library, exercise_or_library

__all__ = [
    "check_fusion",
    "check_reconstruction_loss",
    "check_smoothness_loss",
    "check_latent_consistency_loss",
    "smoothness_exercise",
    "check_fools_smoothness",
]


def _params(generator: torch.Generator):
    B, T, N = 2, int(torch.randint(3, 12, (1,), generator=generator)), 7
    return torch.randn(B, T, N, generator=generator), torch.randn(B, T, N, generator=generator)


def check_fusion(user_fn: Callable) -> bool:
    """``user_fn(audio_features (B, T, D), identity_features (B, D)) -> (B, T, D)``: eq 4's decoder input."""

    def make_inputs(g):
        return torch.randn(2, 9, 16, generator=g), torch.randn(2, 16, generator=g)

    return compare_to_library(
        "fusion E_id(p) + E_uni(A) (eq 4)",
        user_fn,
        fuse_identity,
        make_inputs,
        hint="Add the identity feature to every frame: broadcast (B, D) to (B, 1, D).",
    )


def check_reconstruction_loss(user_fn: Callable) -> bool:
    """``user_fn(params_pred, params_true, vertices_pred, vertices_true, lambda_y, lambda_v)`` (eq 5)."""

    def make_inputs(g):
        y_hat, y = _params(g)
        B, T = y.shape[:2]
        return y_hat, y, torch.randn(B, T, 11, 3, generator=g), torch.randn(B, T, 11, 3, generator=g), 0.5, 2.0

    return compare_to_library(
        "reconstruction loss (eq 5)",
        user_fn,
        reconstruction_loss,
        make_inputs,
        hint=(
            "Parameter term: mean over (B, T, N); vertex term: the squared norm over xyz, then the mean over (B, T, K)."
        ),
    )


def check_smoothness_loss(user_fn: Callable) -> bool:
    """``user_fn(params_pred (B, T, N), params_true (B, T, N), lambda_sth) -> scalar`` (eq 6)."""

    def make_inputs(g):
        y_hat, y = _params(g)
        return y_hat, y, float(torch.rand((), generator=g)) + 0.5

    return compare_to_library(
        "smoothness loss (eq 6)",
        user_fn,
        smoothness_loss,
        make_inputs,
        hint=(
            "Velocities are y[:, 1:] - y[:, :-1]; average the squared velocity differences over the T-1 steps, "
            "N entries and B."
        ),
    )


def check_latent_consistency_loss(user_fn: Callable) -> bool:
    """``user_fn(asr_features (B, T, D), lip_features (B, T, D), lambda_lat) -> scalar`` (eq 7)."""

    def make_inputs(g):
        return torch.randn(2, 8, 12, generator=g), torch.randn(2, 8, 12, generator=g), 0.3

    return compare_to_library(
        "latent consistency loss (eq 7)",
        user_fn,
        latent_consistency_loss,
        make_inputs,
        hint="lambda times the mean squared difference over (B, T, D).",
    )


def smoothness_exercise(user_fn: Callable) -> Callable:
    """The notebook's exercise: return the learner's ``L_sth`` if correct, the library's if not written yet."""

    return exercise_or_library("smoothness loss exercise (eq 6)", user_fn, smoothness_loss, check_smoothness_loss)


def check_fools_smoothness(user_fn: Callable) -> bool:
    """``user_fn(params_true (B, T, N)) -> params_pred (B, T, N)``: a prediction that eq 6 scores 0 although it is
    far from the truth (mean squared parameter error ≥ 0.1) — which is why eq 5 is needed beside it."""
    generator = torch.Generator().manual_seed(0)
    for trial in range(3):
        truth, _ = _params(generator)
        predicted = torch.as_tensor(user_fn(truth.clone()))
        if predicted.shape != truth.shape:
            raise CheckFailed(f"fooling L_sth: expected shape {tuple(truth.shape)}, got {tuple(predicted.shape)}")
        sth, error = float(smoothness_loss(predicted, truth, 1.0)), float(((predicted - truth) ** 2).mean())
        if sth > 1e-10 or error < 0.1:
            raise CheckFailed(
                f"fooling L_sth, trial {trial}: expected L_sth = 0 and a mean squared error ≥ 0.1, "
                f"got L_sth = {sth:.3g} "
                f"and error = {error:.3g}. Hint: L_sth only sees differences between neighbouring frames."
            )
    print("✓ fooling L_sth: a prediction far from the truth with L_sth = 0 on 3 random sequences")
    return True
