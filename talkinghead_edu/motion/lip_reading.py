"""The lip-reading encoder ``E_lip`` (paper §3.2.3, eq 7; after SelfTalk).

``E_lip(V_{1:T}, M_L)`` reads a sequence of lip-region vertices (indices ``M_L`` from the head
model's semantic labels, ``head.lip_vertex_ids``) and outputs one feature per frame in the
space of the ASR encoder ``E_asr(A)`` (width ``D_asr``). It is trained first, on
ground-truth motion, to predict ``E_asr(A)`` from the lips alone (:func:`lip_reading_loss`);
then it is frozen and the latent-consistency loss (eq 7) asks the motion decoder's output
to be "readable": ``E_lip(V̂)`` must again match ``E_asr(A)``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LipReadingEncoder", "lip_reading_loss"]


class LipReadingEncoder(nn.Module):
    """``(B, T, M_L, 3)`` lip vertices (metres) -> ``(B, T, D_asr)`` lip-reading features.

    The vertices are taken relative to ``rest_lip_vertices`` (the neutral mouth) and measured
    in millimetres, flattened per frame, projected, and mixed over time by two 1-D
    convolutions (kernel 5: ±2 frames each, ±4 frames = ±0.16 s in total).

    Args:
        rest_lip_vertices: ``(M_L, 3)`` the neutral lip vertices.
        asr_dim: ``D_asr``.
        hidden: width of the hidden layers.
    """

    def __init__(self, rest_lip_vertices: torch.Tensor, asr_dim: int, hidden: int = 128):
        super().__init__()
        if rest_lip_vertices.dim() != 2 or rest_lip_vertices.shape[1] != 3:
            raise ValueError(f"rest_lip_vertices must be (M_L, 3), got {tuple(rest_lip_vertices.shape)}")
        self.register_buffer("rest_lip_vertices", rest_lip_vertices.detach().float().clone())
        self.num_lip_vertices, self.asr_dim, self.hidden = rest_lip_vertices.shape[0], asr_dim, hidden
        self.project = nn.Sequential(nn.Linear(3 * self.num_lip_vertices, hidden), nn.GELU())
        self.temporal = nn.Sequential(
            nn.Conv1d(hidden, hidden, kernel_size=5, padding=2),
            nn.GELU(),
            nn.Conv1d(hidden, hidden, kernel_size=5, padding=2),
            nn.GELU(),
        )
        self.output = nn.Linear(hidden, asr_dim)

    def forward(self, lip_vertices: torch.Tensor) -> torch.Tensor:
        """``(B, T, M_L, 3)`` -> ``(B, T, D_asr)``."""
        if lip_vertices.dim() != 4 or lip_vertices.shape[2:] != self.rest_lip_vertices.shape:
            raise ValueError(
                f"E_lip: expected lip vertices (B, T, {self.num_lip_vertices}, 3), got {tuple(lip_vertices.shape)}"
            )
        B, T = lip_vertices.shape[:2]
        offsets_mm = 1000.0 * (lip_vertices - self.rest_lip_vertices)  # (B, T, M_L, 3)
        hidden = self.project(offsets_mm.reshape(B, T, -1))  # (B, T, hidden)
        hidden = self.temporal(hidden.transpose(1, 2)).transpose(1, 2)
        return self.output(hidden)


def lip_reading_loss(
    encoder: LipReadingEncoder, lip_vertices: torch.Tensor, asr_features: torch.Tensor
) -> torch.Tensor:
    """Pre-training objective of ``E_lip`` on ground truth: ``mean ||E_asr(A) - E_lip(V)||²`` over (B, T, D)."""
    predicted = encoder(lip_vertices)
    if predicted.shape != asr_features.shape:
        raise ValueError(
            f"lip_reading_loss: E_lip gives {tuple(predicted.shape)} but E_asr features are {tuple(asr_features.shape)}"
        )
    return ((predicted - asr_features) ** 2).mean()
