"""Self-checks of the tour notebook's video cells (camera projection, the face mask M)."""

from __future__ import annotations

import numpy as np
import torch

from ...data.video_dataset import face_mask_from_labels
from ...inpaint import blend
from ...render.camera import project_points
from ._core import compare_to_library

__all__ = ["check_projection", "check_face_mask", "library_blend", "check_blend"]


def check_projection(user_fn) -> bool:
    """``user_fn(points_world (N, 3), K (3, 3), viewmat (4, 4)) -> (N, 2)`` pixels, OpenCV pinhole."""

    def make_inputs(generator: torch.Generator):
        points = torch.randn(20, 3, generator=generator, dtype=torch.float64) * 0.1
        angle = float(torch.rand(1, generator=generator)) * 0.5
        c, s = np.cos(angle), np.sin(angle)
        viewmat = torch.eye(4, dtype=torch.float64)
        viewmat[:3, :3] = torch.tensor([[c, 0.0, s], [0.0, -1.0, 0.0], [s, 0.0, -c]], dtype=torch.float64)
        viewmat[:3, 3] = torch.tensor([0.0, 0.0, 1.0 + float(torch.rand(1, generator=generator))], dtype=torch.float64)
        focal = 300.0 + 200.0 * float(torch.rand(1, generator=generator))
        K = torch.tensor([[focal, 0.0, 128.0], [0.0, focal, 120.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
        return points, K, viewmat

    return compare_to_library(
        "pinhole projection (OpenCV camera convention)",
        user_fn,
        project_points,
        make_inputs,
        atol=1e-6,
        rtol=1e-6,
        hint="x_cam = R x + t with viewmat = [[R, t], [0, 1]]; then (u, v) = (K @ x_cam)[:2] / z.",
    )


def check_face_mask(user_fn) -> bool:
    """``user_fn(labels (H, W) long) -> (H, W) bool``: the mask M of eq 19."""

    def make_inputs(generator: torch.Generator):
        return (torch.randint(0, 9, (32, 32), generator=generator),)

    return compare_to_library(
        "face mask M (eq 19)",
        lambda labels: torch.as_tensor(np.asarray(user_fn(labels))),
        lambda labels: torch.from_numpy(face_mask_from_labels(labels.numpy())),
        make_inputs,
        hint=(
            "M is True on skin, lips, teeth, mouth_interior, eyes, eyebrows and hair; "
            "False on neck_torso and background."
        ),
    )


def _toy_generator(pasted: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """A stand-in for the inpainting network ``F`` (any function of the pasted image works for eq 19)."""
    return (0.8 * pasted + 0.1 * mask[..., None]).clamp(0, 1).flip(-1)


def library_blend(gaussian_image: torch.Tensor, original: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Eq 19 with the toy ``F``: :func:`talkinghead_edu.inpaint.blend` on ``(B, H, W, 3)`` images and ``(B, H, W)``
    masks."""
    return blend(_toy_generator, gaussian_image, original, mask)


def check_blend(user_fn) -> bool:
    """``user_fn(F, gaussian_image (B, H, W, 3), original (B, H, W, 3), mask (B, H, W)) -> (B, H, W, 3)``: eq 19,
    ``I = (1 − M) I_ori + M F(I_gau + (1 − M) I_ori)`` with the pasted image clamped to [0, 1]."""

    def make_inputs(generator: torch.Generator):
        mask = (torch.rand(2, 12, 10, generator=generator) > 0.4).float()
        render = torch.rand(2, 12, 10, 3, generator=generator) * mask[..., None]
        return render, torch.rand(2, 12, 10, 3, generator=generator), mask

    return compare_to_library(
        "the blend of eq 19",
        lambda g, o, m: user_fn(_toy_generator, g, o, m),
        library_blend,
        make_inputs,
        atol=1e-6,
        hint=(
            "pasted = clamp(I_gau + (1 − M)·I_ori, 0, 1); I = (1 − M)·I_ori + M·F(pasted, M). M has no channel axis: "
            "use M[..., None]."
        ),
    )
