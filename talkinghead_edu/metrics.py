"""Evaluation metrics (paper §4.2): image fidelity and landmark distance.

Image tensors are ``(..., H, W, 3)`` in ``[0, 1]``.
"""
from __future__ import annotations

import torch


def psnr(prediction: torch.Tensor, target: torch.Tensor, max_value: float = 1.0, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, ``10 log10(max² / MSE)``.

    Args:
        prediction, target: images of the same shape ``(..., H, W, C)``.
        max_value: the largest possible pixel value.
        mask: optional ``(..., H, W, 1)`` or ``(..., H, W)`` weights; the MSE is taken over masked pixels.
    """
    if prediction.shape != target.shape:
        raise ValueError(f"psnr: prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ in shape")
    squared_error = (prediction - target) ** 2
    if mask is None:
        mse = squared_error.mean()
    else:
        weights = mask if mask.dim() == squared_error.dim() else mask.unsqueeze(-1)
        weights = weights.to(squared_error.dtype).expand_as(squared_error)
        mse = (squared_error * weights).sum() / weights.sum().clamp_min(1.0)
    return 10.0 * torch.log10(max_value**2 / mse.clamp_min(1e-12))


def landmark_distance(predicted: torch.Tensor, ground_truth: torch.Tensor) -> torch.Tensor:
    """LMD: the mean Euclidean distance between corresponding landmarks.

    Args:
        predicted, ground_truth: ``(..., K, D)`` landmark positions (D = 2 pixels or 3 metres).

    Returns:
        Scalar mean over all leading dimensions and the K landmarks (same unit as the input).
    """
    if predicted.shape != ground_truth.shape:
        raise ValueError(f"landmark_distance: shapes {tuple(predicted.shape)} and {tuple(ground_truth.shape)} differ")
    return (predicted - ground_truth).norm(dim=-1).mean()
