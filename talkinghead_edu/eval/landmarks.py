"""A small 2D landmark detector for LMD (paper §4.2): jaw line and mouth, read off the image.

LMD must look at the *pixels* a method produced, not at the mesh that drove it (reading it off
the driver scores a perfect 0 for any renderer of that mesh). The detector sees a fixed
lower-face crop (:func:`lower_face_box` of the head's neutral landmarks, the face-detector
stand-in) and regresses the :data:`DETECTED_LANDMARKS` — the lower jaw line (points 3–13) and
the 20 mouth points (48–67) of the 68-point layout — as pixel positions of the frame.

LMD of a method = mean distance between the detector's landmarks on its frames and on the
ground-truth frames; the detector's own error on held-out ground truth is LMD's floor.
"""

from __future__ import annotations

import torch
from torch import nn

from .crops import crop_square, snap_box, square_box

__all__ = [
    "DETECTED_LANDMARKS",
    "lower_face_box",
    "LandmarkRegressor",
    "crop_units_to_pixels",
    "pixels_to_crop_units",
    "save_landmark_regressor",
    "load_landmark_regressor",
]

#: The detected points: lower jaw line 3..13 and mouth 48..67 (31 of the 68).
DETECTED_LANDMARKS: tuple[int, ...] = tuple(range(3, 14)) + tuple(range(48, 68))


def lower_face_box(landmarks: torch.Tensor, scale: float = 1.25) -> torch.Tensor:
    """The detector's crop box ``(cx, cy, side)`` from one face's ``(68, 2)`` (neutral) landmarks."""
    landmarks = torch.as_tensor(landmarks, dtype=torch.float32)
    if landmarks.shape != (68, 2):
        raise ValueError(f"lower_face_box: expected (68, 2) landmarks, got {tuple(landmarks.shape)}")
    return square_box(landmarks[list(DETECTED_LANDMARKS)], scale)


def _conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.GroupNorm(8, c_out), nn.ReLU())


class LandmarkRegressor(nn.Module):
    """Lower-face crop ``(B, 3, S, S)`` -> ``(B, K, 2)`` landmark positions in crop units ``[0, 1]``.

    Four stride-2 convolutions and a two-layer head (about 4 MFLOP per crop at ``S = 64``).

    Args:
        crop: input side ``S`` (a multiple of 16).
        n_landmarks: ``K`` (default: :data:`DETECTED_LANDMARKS`).

    :meth:`detect` does the whole job on frames: crop, regress, map back to frame pixels.
    """

    def __init__(self, crop: int = 64, n_landmarks: int = len(DETECTED_LANDMARKS)):
        super().__init__()
        if crop % 16:
            raise ValueError(f"LandmarkRegressor: crop must be a multiple of 16, got {crop}")
        self.config = dict(crop=crop, n_landmarks=n_landmarks)
        self.features = nn.Sequential(_conv(3, 16), _conv(16, 32), _conv(32, 64), _conv(64, 96))  # S/16
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(96 * (crop // 16) ** 2, 128), nn.ReLU(), nn.Linear(128, 2 * n_landmarks)
        )

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        S = self.config["crop"]
        if crops.dim() != 4 or crops.shape[1:] != (3, S, S):
            raise ValueError(f"LandmarkRegressor: expected crops (B, 3, {S}, {S}), got {tuple(crops.shape)}")
        out = self.head(self.features(crops * 2.0 - 1.0))
        return 0.5 + out.view(-1, self.config["n_landmarks"], 2)

    @torch.no_grad()
    def detect(self, frames: torch.Tensor, box: torch.Tensor, batch: int = 128) -> torch.Tensor:
        """Landmarks of ``(T, H, W, 3)`` frames seen through ``box`` ``(cx, cy, side)`` ->
        ``(T, K, 2)`` frame pixels."""
        was_training = self.training
        self.eval()
        crops = crop_square(frames, box, self.config["crop"])
        device = next(self.parameters()).device
        unit = torch.cat([self(crops[i : i + batch].to(device)).cpu() for i in range(0, len(crops), batch)])
        self.train(was_training)
        return crop_units_to_pixels(unit, box)


def crop_units_to_pixels(unit: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    """``(..., 2)`` positions in crop units (0 = the box's left/top edge, 1 = right/bottom) -> frame pixels."""
    x0, y0, side = snap_box(box)
    return torch.tensor([float(x0), float(y0)]) + unit * side


def pixels_to_crop_units(pixels: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`crop_units_to_pixels`."""
    x0, y0, side = snap_box(box)
    return (torch.as_tensor(pixels, dtype=torch.float32) - torch.tensor([float(x0), float(y0)])) / side


def save_landmark_regressor(path, model: LandmarkRegressor, meta: dict | None = None):
    """Write the detector as safetensors (config and ``meta`` in the header)."""
    from ..utils.io import save_checkpoint

    return save_checkpoint(
        path, model.state_dict(), {"kind": "landmark_regressor", "config": model.config, **(meta or {})}
    )


def load_landmark_regressor(path, device: str | torch.device = "cpu") -> tuple[LandmarkRegressor, dict]:
    """Read a file of :func:`save_landmark_regressor` -> ``(detector in eval mode, metadata)``. Never unpickles."""
    from ..utils.io import load_checkpoint

    tensors, meta = load_checkpoint(path, device)
    if meta.get("kind") != "landmark_regressor":
        raise ValueError(f"{path} is not a landmark detector checkpoint (kind={meta.get('kind')!r})")
    model = LandmarkRegressor(**meta["config"]).to(device)
    model.load_state_dict(tensors)
    return model.eval(), meta
