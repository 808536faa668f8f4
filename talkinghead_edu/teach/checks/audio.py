"""Self-checks for notebooks 01 (audio features) and 02 (contrastive decoupling)."""

from __future__ import annotations

from typing import Callable

import torch

from ...audio.features import frame_context, frame_index_of_time, log_mel
from ...decoupling import info_nce
from ._core import compare_to_library

__all__ = [
    "check_log_mel",
    "check_frame_index",
    "check_frame_context",
    "check_info_nce",
    "check_info_nce_usual",
    "library_eq2_limits",
    "check_eq2_limits",
]


def _chirp(generator: torch.Generator) -> tuple[torch.Tensor]:
    """A random 0.4 s test clip: a chirp plus a little noise, ``(6400,)``."""
    t = torch.arange(6400) / 16000
    start = 100 + 400 * torch.rand(1, generator=generator)
    wave = 0.4 * torch.sin(2 * torch.pi * (start + 1500 * t) * t) + 0.02 * torch.randn(6400, generator=generator)
    return (wave,)


def check_log_mel(user_fn: Callable) -> bool:
    """``user_fn(waveform (L,)) -> (F, 80)`` natural-log mel power, 400-sample windows, hop 160, centred."""

    return compare_to_library(
        "log-mel spectrogram",
        user_fn,
        lambda w: log_mel(w),
        _chirp,
        trials=3,
        atol=1e-3,
        rtol=1e-3,
        hint=(
            "Check the frame layout (time first), the power |STFT|² (not the magnitude), "
            "the mel matrix product and the natural log."
        ),
    )


def check_frame_index(user_fn: Callable) -> bool:
    """``user_fn(seconds (N,) tensor) -> (N,) long``: the 25 fps video frame containing each time."""

    def make(generator):
        seconds = torch.rand(20, generator=generator, dtype=torch.float64) * 5
        seconds[:5] = torch.tensor(
            [0.0, 0.04, 1.16, 2.28, 4.52], dtype=torch.float64
        )  # boundaries, incl. round-off traps
        return (seconds,)

    return compare_to_library(
        "frame index of a time",
        lambda s: torch.as_tensor(user_fn(s)).long(),
        lambda s: torch.as_tensor(frame_index_of_time(s.numpy())),
        make,
        atol=0,
        rtol=0,
        hint=(
            "Frame t covers [t/25, (t+1)/25): take the floor of seconds × 25 (beware 1.16 × 25 = 28.999999999999996 "
            "in floating point: add a tiny epsilon before the floor)."
        ),
    )


def check_frame_context(user_fn: Callable) -> bool:
    """``user_fn(features (T, D), k) -> (T, 2k+1, D)`` with edge frames repeated."""

    def make(generator):
        k = int(torch.randint(1, 4, (1,), generator=generator))
        return torch.randn(int(torch.randint(3, 12, (1,), generator=generator)), 5, generator=generator), k

    return compare_to_library(
        "context windows", user_fn, frame_context, make, hint="Window t holds frames t-k..t+k, clamped to [0, T-1]."
    )


def check_info_nce(user_fn: Callable) -> bool:
    """``user_fn(anchor (B, D), positive (B, D), negatives (B, k, D), temperature) -> scalar`` = eq 2 as printed."""

    def make(generator):
        batch, k, dim = 4, int(torch.randint(2, 6, (1,), generator=generator)), 8
        return (
            torch.randn(batch, dim, generator=generator),
            torch.randn(batch, dim, generator=generator),
            torch.randn(batch, k, dim, generator=generator),
            float(0.05 + 0.5 * torch.rand(1, generator=generator)),
        )

    return compare_to_library(
        "InfoNCE (eq 2)",
        user_fn,
        lambda a, p, n, tau: info_nce(a, p, n, tau, include_positive=False),
        make,
        hint="L2-normalise the features, divide the dot products by τ, keep only the k negatives in the denominator "
        "(eq 2 as printed), average over the batch. Use logsumexp for stability.",
    )


def check_info_nce_usual(user_fn: Callable) -> bool:
    """``user_fn(anchor (B, D), positive (B, D), negatives (B, k, D), temperature) -> scalar``: the usual
    InfoNCE, positive included in the denominator (a (k+1)-way cross-entropy)."""

    def make(generator):
        k = int(torch.randint(2, 6, (1,), generator=generator))
        return (
            torch.randn(4, 8, generator=generator),
            torch.randn(4, 8, generator=generator),
            torch.randn(4, k, 8, generator=generator),
            float(0.05 + 0.5 * torch.rand(1, generator=generator)),
        )

    return compare_to_library(
        "InfoNCE, usual form",
        user_fn,
        lambda a, p, n, tau: info_nce(a, p, n, tau, include_positive=True),
        make,
        hint="Normalise, logits = [a·p, a·n_1 … a·n_k] / τ (shape (B, k+1)), cross-entropy with class 0.",
    )


def library_eq2_limits(k: int, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq 2 as printed, evaluated by :func:`~talkinghead_edu.decoupling.info_nce` on constructed features:
    ``(collapsed, perfect)`` = (every feature equal; positive cosine 1 and every negative cosine −1)."""
    f = torch.zeros(1, 4, dtype=torch.float64)
    f[0, 0] = 1.0
    collapsed = info_nce(f, f, f[:, None].repeat(1, k, 1), temperature, include_positive=False)
    perfect = info_nce(f, f, -f[:, None].repeat(1, k, 1), temperature, include_positive=False)
    return collapsed, perfect


def check_eq2_limits(user_fn: Callable) -> bool:
    """``user_fn(k, temperature) -> (collapsed, perfect)``: the values of eq 2 (as printed) for a collapsed
    encoder and for a perfect one, as closed-form expressions in ``k`` and ``τ``."""

    def make(generator):
        return int(torch.randint(2, 9, (1,), generator=generator)), float(0.05 + torch.rand(1, generator=generator))

    return compare_to_library(
        "eq 2 at collapse and at perfection",
        lambda k, t: tuple(torch.as_tensor(v, dtype=torch.float64) for v in user_fn(k, t)),
        library_eq2_limits,
        make,
        atol=1e-9,
        rtol=1e-9,
        hint=(
            "Collapsed: every cosine is 1, so numerator e^{1/τ} and denominator k·e^{1/τ}. Perfect: "
            "numerator e^{1/τ}, "
            "denominator k·e^{−1/τ}. L = −log(numerator / denominator)."
        ),
    )
