"""Evaluation (paper §4.2): image metrics (PSNR, SSIM), landmark distance (LMD)."""
from .metrics import landmark_distance, psnr, ssim

__all__ = ["landmark_distance", "psnr", "ssim"]
