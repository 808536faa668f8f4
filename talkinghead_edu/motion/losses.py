"""Training objective of the Speaker-specific Motion Translator (paper §3.2.3, eqs 5–8).

Shapes: parameters ``(B, T, N)`` (``N = P`` parameters per frame), vertices ``(B, T, K, 3)``,
features ``(B, T, D)``. Every term is a mean over its index set, written so that each line
matches the paper's normalisation:

* eq 5  ``L_rec = λ_y/(N T) Σ_t ||y_t − ŷ_t||² + λ_v/(K T) Σ_t ||v_t − v̂_t||²``
  (the vertex norm sums x, y, z; in training, parameters are standardized and vertices are
  in millimetres so both terms are O(1)).
* eq 6  ``L_sth = λ_sth/(N (T−1)) Σ_{t=2..T} ||(y_t − y_{t−1}) − (ŷ_t − ŷ_{t−1})||²``
  (the paper writes 1/(N T) and Σ from t=1; there are only T−1 differences, so we average
  over those).
* eq 7  ``L_lat = λ_lat/(D T) ||E_asr(A) − E_lip(V̂, M_L)||²``.
* eq 8  ``L = L_rec + L_sth + L_lat``.
"""

from __future__ import annotations

import torch

__all__ = ["reconstruction_loss", "smoothness_loss", "latent_consistency_loss", "total_loss"]


def _same_shape(name: str, a: torch.Tensor, b: torch.Tensor, rank: int, layout: str) -> None:
    if a.dim() != rank or b.dim() != rank:
        raise ValueError(f"{name}: expected {layout} tensors, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape != b.shape:
        raise ValueError(
            f"{name}: prediction {tuple(a.shape)} and ground truth {tuple(b.shape)} differ (mismatched frame counts?)"
        )


def reconstruction_loss(
    params_pred: torch.Tensor,
    params_true: torch.Tensor,
    vertices_pred: torch.Tensor | None = None,
    vertices_true: torch.Tensor | None = None,
    lambda_y: float = 1.0,
    lambda_v: float = 1.0,
) -> torch.Tensor:
    """Eq 5. ``params_*`` ``(B, T, N)``; ``vertices_*`` ``(B, T, K, 3)`` or both ``None`` (parameter term only)."""
    _same_shape("reconstruction_loss (parameters)", params_pred, params_true, 3, "(B, T, N)")
    loss = lambda_y * ((params_true - params_pred) ** 2).mean()  # λ_y/(N T) Σ_t ||y_t − ŷ_t||²  (also / B)
    if (vertices_pred is None) != (vertices_true is None):
        raise ValueError("reconstruction_loss: pass both vertices_pred and vertices_true, or neither")
    if vertices_pred is not None:
        _same_shape("reconstruction_loss (vertices)", vertices_pred, vertices_true, 4, "(B, T, K, 3)")
        if vertices_pred.shape[:2] != params_pred.shape[:2]:
            raise ValueError(
                f"reconstruction_loss: vertices cover {tuple(vertices_pred.shape[:2])} "
                f"(B, T) but parameters {tuple(params_pred.shape[:2])}"
            )
        squared_norm = ((vertices_true - vertices_pred) ** 2).sum(dim=-1)  # ||v_t,k − v̂_t,k||²  (B, T, K)
        loss = loss + lambda_v * squared_norm.mean()  # λ_v/(K T) Σ_t ||v_t − v̂_t||²
    return loss


def smoothness_loss(params_pred: torch.Tensor, params_true: torch.Tensor, lambda_sth: float = 1.0) -> torch.Tensor:
    """Eq 6: match the frame-to-frame velocity of the ground truth. ``(B, T, N)`` each, ``T >= 2``."""
    _same_shape("smoothness_loss", params_pred, params_true, 3, "(B, T, N)")
    if params_pred.shape[1] < 2:
        raise ValueError(f"smoothness_loss: needs at least 2 frames, got T={params_pred.shape[1]}")
    velocity_true = params_true[:, 1:] - params_true[:, :-1]  # y_t − y_{t−1}
    velocity_pred = params_pred[:, 1:] - params_pred[:, :-1]  # ŷ_t − ŷ_{t−1}
    return lambda_sth * ((velocity_true - velocity_pred) ** 2).mean()


def latent_consistency_loss(
    asr_features: torch.Tensor, lip_features: torch.Tensor, lambda_lat: float = 1.0
) -> torch.Tensor:
    """Eq 7: ``λ_lat/(D T) ||E_asr(A) − E_lip(V̂)||²`` for ``(B, T, D)`` features (also averaged over B)."""
    _same_shape("latent_consistency_loss", lip_features, asr_features, 3, "(B, T, D)")
    return lambda_lat * ((asr_features - lip_features) ** 2).mean()


def total_loss(rec: torch.Tensor, sth: torch.Tensor, lat: torch.Tensor) -> torch.Tensor:
    """Eq 8: ``L = L_rec + L_sth + L_lat`` (the λ weights are inside each term)."""
    return rec + sth + lat
