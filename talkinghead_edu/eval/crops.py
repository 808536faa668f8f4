"""Square crops of face regions, shared by the sync expert and the landmark detector.

Evaluation looks at frames through a fixed square box per head (``(cx, cy, side)`` in
pixels), the stand-in for the face detector of SyncNet/Wav2Lip: the box comes from the
head's *neutral* landmarks, never from the frame being scored, so generated and ground-truth
frames are cropped identically.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["square_box", "snap_box", "crop_square", "downsample_frames"]


def square_box(points: torch.Tensor, scale: float) -> torch.Tensor:
    """The square around 2D points: centre of their bounding box, side ``scale * max(extent)``.

    Args:
        points: ``(K, 2)`` pixel positions.
        scale: side / largest extent of the points.

    Returns:
        ``(3,)`` float tensor ``(cx, cy, side)`` in pixels.
    """
    points = torch.as_tensor(points, dtype=torch.float32)
    if points.dim() != 2 or points.shape[1] != 2 or len(points) < 2:
        raise ValueError(f"square_box: points must be (K >= 2, 2), got {tuple(points.shape)}")
    low, high = points.min(dim=0).values, points.max(dim=0).values
    centre = 0.5 * (low + high)
    return torch.stack([centre[0], centre[1], scale * (high - low).max()])


def snap_box(box: torch.Tensor) -> tuple[int, int, int]:
    """``(cx, cy, side)`` -> the whole-pixel square ``(x0, y0, side_px)`` that :func:`crop_square` cuts."""
    cx, cy, side = (float(v) for v in torch.as_tensor(box).flatten()[:3])
    return int(round(cx - side / 2)), int(round(cy - side / 2)), max(int(round(side)), 1)


def crop_square(frames: torch.Tensor, box: torch.Tensor, size: int | None = None) -> torch.Tensor:
    """Cut the square ``box`` out of every frame and resize it to ``size × size``.

    The box is snapped to whole pixels (left/top edge ``round(c - side/2)``, side
    ``round(side)``); pixels outside the frame repeat the border. Resizing is bilinear with
    antialiasing (a box filter when shrinking), so a 256-pixel frame and its 128-pixel
    version give nearly the same crop.

    Args:
        frames: ``(T, H, W, 3)`` float images in [0, 1] (uint8 is converted).
        box: ``(3,)`` ``(cx, cy, side)`` in pixels of these frames.
        size: output side in pixels; ``None`` keeps ``round(side)`` (no resampling).

    Returns:
        ``(T, 3, size, size)`` float32, channels first (the layout of the conv nets).
    """
    frames = torch.as_tensor(frames)
    if frames.dim() != 4 or frames.shape[-1] != 3:
        raise ValueError(f"crop_square: frames must be (T, H, W, 3), got {tuple(frames.shape)}")
    if frames.dtype == torch.uint8:
        frames = frames.float() / 255.0
    x0, y0, side_px = snap_box(box)
    H, W = frames.shape[1:3]
    images = frames.permute(0, 3, 1, 2).float()
    pad = (max(0, -x0), max(0, x0 + side_px - W), max(0, -y0), max(0, y0 + side_px - H))
    if any(pad):
        if max(pad) > max(H, W):
            raise ValueError(f"crop_square: box at {x0}, {y0}, side {side_px} lies outside the {W}x{H} frame")
        images = F.pad(images, pad, mode="replicate")
        x0, y0 = x0 + pad[0], y0 + pad[2]
    patch = images[:, :, y0 : y0 + side_px, x0 : x0 + side_px]
    if size is None or size == side_px:
        return patch.contiguous()
    return F.interpolate(patch, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def downsample_frames(frames: torch.Tensor, factor: int) -> torch.Tensor:
    """Box-filter ``(T, H, W, 3)`` frames by an integer ``factor`` (the loaders' ``resolution=`` filter)."""
    frames = torch.as_tensor(frames)
    if frames.dtype == torch.uint8:
        frames = frames.float() / 255.0
    if factor == 1:
        return frames.float()
    if frames.shape[1] % factor or frames.shape[2] % factor:
        raise ValueError(f"downsample_frames: {frames.shape[1]}x{frames.shape[2]} frames do not divide by {factor}")
    return F.avg_pool2d(frames.permute(0, 3, 1, 2).float(), factor).permute(0, 2, 3, 1)
