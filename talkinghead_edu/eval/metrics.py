"""Evaluation metrics (paper §4.2): image fidelity and landmark distance.

Image tensors are ``(..., H, W, 3)`` in ``[0, 1]``.
"""

from __future__ import annotations

import torch


def psnr(
    prediction: torch.Tensor, target: torch.Tensor, max_value: float = 1.0, mask: torch.Tensor | None = None
) -> torch.Tensor:
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


def _gaussian_window(size: int, sigma: float, dtype, device) -> torch.Tensor:
    coords = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2.0
    window = torch.exp(-(coords**2) / (2.0 * sigma**2))
    return window / window.sum()


def ssim_map(
    prediction: torch.Tensor,
    target: torch.Tensor,
    max_value: float = 1.0,
    window_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> torch.Tensor:
    """Per-pixel structural similarity (Wang et al. 2004) with a Gaussian window.

    ``SSIM = (2 μx μy + C1)(2 σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2))`` with
    ``C1 = (k1 L)²``, ``C2 = (k2 L)²`` and local statistics from an ``window_size``-tap
    Gaussian of std ``sigma`` ("valid" windows only, as in the reference code, so the map is
    ``window_size - 1`` pixels smaller in each direction).

    Args:
        prediction, target: ``(H, W, C)`` or ``(B, H, W, C)`` images in ``[0, max_value]``.

    Returns:
        ``(B, H', W', C)`` (or ``(H', W', C)``) SSIM values, 1 where the images agree.
    """
    if prediction.shape != target.shape:
        raise ValueError(f"ssim: prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ in shape")
    if prediction.dim() not in (3, 4):
        raise ValueError(f"ssim: images must be (H, W, C) or (B, H, W, C), got {tuple(prediction.shape)}")
    unbatched = prediction.dim() == 3
    x = (prediction.unsqueeze(0) if unbatched else prediction).permute(0, 3, 1, 2)
    y = (target.unsqueeze(0) if unbatched else target).permute(0, 3, 1, 2)
    height, width = x.shape[-2:]
    if min(height, width) < window_size:
        raise ValueError(f"ssim: images of {height}x{width} pixels are smaller than the {window_size}-pixel window")
    channels = x.shape[1]
    window = _gaussian_window(window_size, sigma, x.dtype, x.device)
    kernel_rows = window.view(1, 1, window_size, 1).expand(channels, 1, window_size, 1)
    kernel_cols = window.view(1, 1, 1, window_size).expand(channels, 1, 1, window_size)

    def blur(image: torch.Tensor) -> torch.Tensor:  # separable Gaussian, per channel, valid
        image = torch.nn.functional.conv2d(image, kernel_rows, groups=channels)
        return torch.nn.functional.conv2d(image, kernel_cols, groups=channels)

    c1, c2 = (k1 * max_value) ** 2, (k2 * max_value) ** 2
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov_xy = blur(x * y) - mu_x * mu_y
    values = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    values = values.permute(0, 2, 3, 1)
    return values[0] if unbatched else values


def ssim(
    prediction: torch.Tensor, target: torch.Tensor, max_value: float = 1.0, window_size: int = 11, sigma: float = 1.5
) -> torch.Tensor:
    """Mean SSIM of ``(…, H, W, C)`` images (see :func:`ssim_map`); a scalar, 1 for identical images."""
    return ssim_map(prediction, target, max_value=max_value, window_size=window_size, sigma=sigma).mean()
