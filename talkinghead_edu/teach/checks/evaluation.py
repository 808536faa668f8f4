"""Self-checks of notebook 09 (evaluation): LSE's offset curve and scores, the Fréchet distance, LMD.

``solution_offset_distances`` is the reference of the notebook's from-scratch offset curve (tested in
``tests/test_checks_evaluation.py``); the solutions of exercises 09.1–09.3 live in the exercise registry
(:mod:`talkinghead_edu.teach.exercises`).
"""

from __future__ import annotations

import torch

from ...eval.lse import offset_distances, sync_scores
from ...eval.metrics import landmark_distance
from ...eval.perceptual import frechet_distance
from ._core import compare_to_library

__all__ = [
    "check_offset_distances",
    "check_lse_scores",
    "check_frechet_distance",
    "check_lmd",
    "solution_offset_distances",
]


def _embeddings(generator: torch.Generator):
    T, D = int(torch.randint(20, 40, (1,), generator=generator)), 8
    audio = torch.nn.functional.normalize(torch.randn(T, D, generator=generator), dim=-1)
    shift = int(torch.randint(-4, 5, (1,), generator=generator))
    video = torch.nn.functional.normalize(
        torch.roll(audio, -shift, dims=0) + 0.3 * torch.randn(T, D, generator=generator), dim=-1
    )
    return video, audio


def check_offset_distances(user_fn) -> bool:
    """``user_fn(video (T, D), audio (T, D), max_offset) -> (2K+1,)`` mean distances ``D(k)``."""
    return compare_to_library(
        "offset curve D(k) of LSE",
        lambda v, a: user_fn(v, a, 15),
        lambda v, a: offset_distances(v, a, 15),
        _embeddings,
        hint="D(k) averages ||v_t - a_{t+k}|| over the frames t where t+k is inside the clip; k runs from -K to K.",
    )


def check_lse_scores(user_fn) -> bool:
    """``user_fn(video, audio) -> (lse_d, lse_c, offset)`` of one clip."""

    def library(v, a):
        s = sync_scores(v, a)
        return torch.tensor(s.lse_d), torch.tensor(s.lse_c), torch.tensor(s.offset)

    return compare_to_library(
        "LSE-D, LSE-C and offset of one clip",
        lambda v, a: tuple(torch.as_tensor(x) for x in user_fn(v, a)),
        library,
        _embeddings,
        hint="LSE-D = min_k D(k); LSE-C = median_k D(k) - min_k D(k); offset = the k of the minimum.",
    )


def check_frechet_distance(user_fn) -> bool:
    """``user_fn(mean_1, cov_1, mean_2, cov_2) -> float``."""

    def make_inputs(generator):
        a = torch.randn(5, 5, generator=generator, dtype=torch.float64)
        b = torch.randn(5, 5, generator=generator, dtype=torch.float64)
        return (
            torch.randn(5, generator=generator, dtype=torch.float64),
            a @ a.T + 0.1 * torch.eye(5, dtype=torch.float64),
            torch.randn(5, generator=generator, dtype=torch.float64),
            b @ b.T + 0.1 * torch.eye(5, dtype=torch.float64),
        )

    return compare_to_library(
        "Fréchet distance of two Gaussians",
        lambda *x: torch.as_tensor(float(user_fn(*x)), dtype=torch.float64),
        lambda *x: torch.as_tensor(frechet_distance(*x), dtype=torch.float64),
        make_inputs,
        atol=1e-6,
        rtol=1e-6,
        hint="|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr(sqrtm(S1 S2)); take the real part of sqrtm.",
    )


def check_lmd(user_fn) -> bool:
    """``user_fn(predicted (T, K, 2), truth (T, K, 2)) -> float``."""
    return compare_to_library(
        "landmark distance (LMD)",
        lambda p, t: torch.as_tensor(float(user_fn(p, t))),
        lambda p, t: landmark_distance(p, t),
        lambda g: (torch.rand(6, 31, 2, generator=g) * 100, torch.rand(6, 31, 2, generator=g) * 100),
        hint="the mean over frames and landmarks of the Euclidean distance (not squared, not summed).",
    )


# ------------------------------------------------------------------ reference solution
def solution_offset_distances(video: torch.Tensor, audio: torch.Tensor, max_offset: int = 15) -> torch.Tensor:
    """``(T, D)``, ``(T, D)`` -> ``(2K + 1,)``: ``D(k)``, the mean of ``|v_t − a_{t+k}|`` over the frames where
    ``t + k`` is inside the clip, ``k = −K … K``."""
    T = len(video)
    curve = []
    for k in range(-max_offset, max_offset + 1):
        frames = [t for t in range(T) if 0 <= t + k < T]
        curve.append(torch.stack([(video[t] - audio[t + k]).norm() for t in frames]).mean())
    return torch.stack(curve)
