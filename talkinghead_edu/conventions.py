"""Conventions every stage shares, defined once.

Audio and video clocks
    16 kHz mono audio, 25 fps video, so one video frame is exactly 640 samples.

FLAME pose layout
    A FLAME pose ψ is five axis-angle rotations, ``(B, 15)``, in the order of
    :data:`JOINT_NAMES`: ``[global | neck | jaw | eye_left | eye_right]``. Use
    :data:`POSE_SLICES` (or :func:`pack_pose` / :func:`unpack_pose`) instead of slicing by hand.

Spherical harmonics
    Colours are stored as SH coefficients; degree 0 has the constant basis function
    ``Y_00 = SH_C0`` and ``rgb = SH_C0 * c_00 + 0.5`` (the 3DGS convention).

Cameras and images
    OpenCV camera axes (+x right, +y down, +z forward), a world-to-camera ``(4, 4)``
    matrix ``viewmat`` and pinhole intrinsics ``K`` ``(3, 3)``; pixel centres sit at
    ``+0.5``; images are ``(H, W, 3)`` float in [0, 1]. World coordinates are metres,
    +y up, +z out of the face, +x toward the subject's left.

Glossary of tensor dimensions: B batch, T frames, L audio samples, V vertices, F faces
(triangles), N Gaussians, H/W image height/width, E expression and S shape coefficients.
"""

from __future__ import annotations

import torch

__all__ = [
    "SAMPLE_RATE",
    "FPS",
    "SAMPLES_PER_FRAME",
    "JOINT_NAMES",
    "POSE_SIZE",
    "POSE_SLICES",
    "pack_pose",
    "unpack_pose",
    "SH_C0",
]

SAMPLE_RATE = 16_000
FPS = 25
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 640

#: The five FLAME joints, in pose order: pose[:, 3*j : 3*j+3] rotates joint j.
JOINT_NAMES: tuple[str, ...] = ("global", "neck", "jaw", "eye_left", "eye_right")
POSE_SIZE = 3 * len(JOINT_NAMES)  # 15
#: ``pose[:, POSE_SLICES["jaw"]]`` is the jaw's axis-angle ``(B, 3)``.
POSE_SLICES: dict[str, slice] = {name: slice(3 * j, 3 * j + 3) for j, name in enumerate(JOINT_NAMES)}

#: Degree-0 real spherical harmonic, ``1 / (2 sqrt(pi))``.
SH_C0 = 0.28209479177387814


def pack_pose(batch: int | None = None, **rotations: torch.Tensor | None) -> torch.Tensor:
    """Named axis-angle rotations -> a packed FLAME pose ``(B, 15)`` (missing joints are zero).

    Args:
        batch: ``B`` when no rotation is given (otherwise taken from the rotations).
        **rotations: ``global_pose``, ``neck_pose``, ``jaw_pose``, ``eye_left_pose``,
            ``eye_right_pose``, each ``(B, 3)`` (or ``(3,)`` for one sample) or ``None``.

    Example: ``pack_pose(jaw_pose=torch.tensor([[0.2, 0.0, 0.0]]))`` opens the jaw by 0.2 rad.
    """
    given = {name.removesuffix("_pose"): value for name, value in rotations.items() if value is not None}
    unknown = set(given) - set(JOINT_NAMES)
    bad_names = [name for name in rotations if not name.endswith("_pose")]
    if unknown or bad_names:
        raise ValueError(
            f"pack_pose: unknown rotations {sorted(unknown | set(bad_names))}; "
            f"expected {[name + '_pose' for name in JOINT_NAMES]}"
        )
    values = {
        name: torch.as_tensor(v).reshape(-1, 3) if torch.as_tensor(v).dim() == 1 else torch.as_tensor(v)
        for name, v in given.items()
    }
    for name, value in values.items():
        if value.dim() != 2 or value.shape[1] != 3:
            raise ValueError(f"pack_pose: {name}_pose must be (B, 3) axis-angle, got {tuple(value.shape)}")
    sizes = {value.shape[0] for value in values.values()} | ({batch} if batch is not None else set())
    if len(sizes - {1}) > 1 or not sizes:
        raise ValueError(f"pack_pose: rotations disagree on the batch size: {sorted(sizes)}")
    frames = max(sizes)
    reference = next(iter(values.values()), None)
    pose = torch.zeros(
        frames,
        POSE_SIZE,
        dtype=reference.dtype if reference is not None else torch.float32,
        device=reference.device if reference is not None else None,
    )
    for name, value in values.items():
        pose[:, POSE_SLICES[name]] = value
    return pose


def unpack_pose(pose: torch.Tensor) -> dict[str, torch.Tensor]:
    """A packed pose ``(..., 15)`` -> ``{"global_pose": (..., 3), "neck_pose": ..., ...}`` (views)."""
    if pose.shape[-1] != POSE_SIZE:
        raise ValueError(f"unpack_pose: expected (..., {POSE_SIZE}) axis-angle pose, got {tuple(pose.shape)}")
    return {f"{name}_pose": pose[..., POSE_SLICES[name]] for name in JOINT_NAMES}
