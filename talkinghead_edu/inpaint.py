"""The inpainting generator ``F`` and the blend of eq 19 (paper §3.3.3).

    ``I = (1 − M) · I_ori + M · F(I_gau + (1 − M) I_ori)``                    (eq 19)

``I_ori`` is the original video frame, ``M`` the face mask (1 on the face region that the
Gaussian head replaces), and ``I_gau`` the Gaussian render *premultiplied by its alpha*
(i.e. rendered over a black background), so ``I_gau + (1 − M) I_ori`` is the rendered face
pasted into the frame. Outside the mask the frame is untouched by construction; inside,
``F`` repairs the seam where the rendered face and the original frame disagree — most
visibly at the chin when other audio opens the jaw differently from the original video.

``F`` is a small U-Net (:class:`InpaintingUNet`) that sees the composite and the mask.
:func:`train_inpainter` fits it on the target video itself: the input is the composite of
the frame's own Gaussian render, with random *holes* cut from the render along the mask
border (the render does not cover the region there, as happens when the jaw of a
cross-driven frame is more closed than in the original), and the target is the original
frame. Images are ``(B, H, W, 3)`` in ``[0, 1]``; masks ``(B, H, W)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

__all__ = [
    "InpaintingUNet",
    "composite",
    "blend",
    "border_holes",
    "InpaintConfig",
    "train_inpainter",
    "hole_repair_error",
]


def _check(images: dict[str, torch.Tensor], masks: torch.Tensor) -> None:
    reference = next(iter(images.values())).shape
    for name, image in images.items():
        if image.dim() != 4 or image.shape[-1] != 3 or image.shape != reference:
            raise ValueError(f"{name} must be (B, H, W, 3) like the others, got {tuple(image.shape)}")
    if masks.shape != reference[:-1]:
        raise ValueError(f"mask must be (B, H, W) = {tuple(reference[:-1])}, got {tuple(masks.shape)}")


def composite(gaussian_image: torch.Tensor, original: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The input of ``F`` in eq 19: ``I_gau + (1 − M) I_ori`` (``(B, H, W, 3)``, clamped to [0, 1])."""
    _check({"gaussian_image": gaussian_image, "original": original}, mask)
    m = mask.to(original.dtype).unsqueeze(-1)
    return (gaussian_image + (1.0 - m) * original).clamp(0.0, 1.0)


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1),
        nn.GroupNorm(4, c_out),
        nn.SiLU(),
        nn.Conv2d(c_out, c_out, 3, padding=1),
        nn.SiLU(),
    )


class InpaintingUNet(nn.Module):
    """``F``: a three-level U-Net, (composite RGB + mask) -> RGB in [0, 1].

    It predicts a residual on top of its RGB input (``clamp(x + Δ, 0, 1)``, the last layer
    starts at zero), so an untrained ``F`` is the identity and training learns only repairs.

    Args:
        width: channels of the first level (doubled per level).
    """

    def __init__(self, width: int = 16):
        super().__init__()
        self.down1 = _block(4, width)
        self.down2 = _block(width, 2 * width)
        self.bottom = _block(2 * width, 4 * width)
        self.up2 = _block(4 * width + 2 * width, 2 * width)
        self.up1 = _block(2 * width + width, width)
        self.head = nn.Conv2d(width, 3, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``image (B, H, W, 3)``, ``mask (B, H, W)`` -> ``(B, H, W, 3)``; H and W divisible by 4."""
        if image.shape[1] % 4 or image.shape[2] % 4:
            raise ValueError(f"InpaintingUNet needs H and W divisible by 4, got {tuple(image.shape[1:3])}")
        x = torch.cat([image.permute(0, 3, 1, 2), mask.to(image.dtype).unsqueeze(1)], dim=1)
        d1 = self.down1(x)
        d2 = self.down2(nn.functional.avg_pool2d(d1, 2))
        b = self.bottom(nn.functional.avg_pool2d(d2, 2))
        u2 = self.up2(torch.cat([nn.functional.interpolate(b, scale_factor=2.0, mode="nearest"), d2], dim=1))
        u1 = self.up1(torch.cat([nn.functional.interpolate(u2, scale_factor=2.0, mode="nearest"), d1], dim=1))
        return (image + self.head(u1).permute(0, 2, 3, 1)).clamp(0.0, 1.0)


def blend(
    generator: nn.Module | None, gaussian_image: torch.Tensor, original: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Eq 19: ``I = (1 − M) I_ori + M F(I_gau + (1 − M) I_ori)``, all ``(B, H, W, 3)``.

    ``generator=None`` puts the identity in place of ``F`` (the "without inpainting" ablation):
    for a binary mask that is ``I = M I_gau + (1 − M) I_ori``, the render pasted inside the mask.
    """
    pasted = composite(gaussian_image, original, mask)
    m = mask.to(original.dtype).unsqueeze(-1)
    repaired = pasted if generator is None else generator(pasted, mask)
    return (1.0 - m) * original + m * repaired


def border_holes(
    mask: torch.Tensor, alpha: torch.Tensor, generator: torch.Generator, max_radius: int = 12
) -> torch.Tensor:
    """Randomly shrink the rendered region near the lower mask border (training augmentation).

    Cuts one disc per image, centred on a random mask pixel in the lower half of the mask's
    bounding box, so the render no longer covers part of the chin/contour.

    Args:
        mask: ``(B, H, W)`` face masks; alpha: ``(B, H, W)`` render coverage in [0, 1].
    Returns:
        ``(B, H, W)`` the alpha with the holes cut (0 inside a hole).
    """
    batch, height, width = mask.shape
    rows = torch.arange(height, device=mask.device).view(height, 1).float()
    cols = torch.arange(width, device=mask.device).view(1, width).float()
    out = alpha.clone()
    for b in range(batch):
        ys, xs = torch.nonzero(mask[b] > 0.5, as_tuple=True)
        if ys.numel() == 0:
            continue
        lower = ys >= (ys.min() + ys.max()) // 2
        candidates = torch.nonzero(lower).squeeze(1)
        pick = candidates[torch.randint(0, candidates.numel(), (1,), generator=generator).item()]
        radius = float(torch.randint(3, max_radius + 1, (1,), generator=generator).item())
        disc = (rows - ys[pick].float()) ** 2 + (cols - xs[pick].float()) ** 2 <= radius**2
        out[b] = torch.where(disc, torch.zeros_like(out[b]), out[b])
    return out


@dataclass
class InpaintConfig:
    """Training knobs of :func:`train_inpainter`."""

    steps: int = 300
    batch_size: int = 4
    lr: float = 2e-3
    hole_probability: float = 0.75
    hole_max_radius: int = 12
    seed: int = 0


def train_inpainter(
    generator_net: InpaintingUNet,
    originals: torch.Tensor,
    renders: torch.Tensor,
    alphas: torch.Tensor,
    masks: torch.Tensor,
    config: InpaintConfig | None = None,
    progress: bool = True,
) -> list[float]:
    """Fit ``F`` on a target video: masked L1 of the eq-19 blend against the original frames.

    Args:
        generator_net: the U-Net to train (in place).
        originals: ``(T, H, W, 3)`` video frames ``I_ori``.
        renders: ``(T, H, W, 3)`` the Gaussian renders of the same frames on black (premultiplied).
        alphas: ``(T, H, W)`` their coverage (render alpha), used to cut border holes.
        masks: ``(T, H, W)`` face masks ``M``.
        config: :class:`InpaintConfig`.

    Returns:
        The per-step losses.
    """
    config = config or InpaintConfig()
    _check({"originals": originals, "renders": renders}, masks)
    if alphas.shape != masks.shape:
        raise ValueError(f"alphas must be (T, H, W) = {tuple(masks.shape)}, got {tuple(alphas.shape)}")
    rng = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.Adam(generator_net.parameters(), lr=config.lr)
    losses = []
    generator_net.train()
    for _ in tqdm(range(config.steps), desc="inpainting F", disable=not progress):
        index = torch.randint(0, originals.shape[0], (config.batch_size,), generator=rng)
        original, render, alpha, mask = originals[index], renders[index], alphas[index], masks[index].float()
        if torch.rand((), generator=rng) < config.hole_probability:
            cut = border_holes(mask, alpha, rng, config.hole_max_radius)
            render = render * (cut / alpha.clamp_min(1e-6)).clamp(0.0, 1.0).unsqueeze(
                -1
            )  # premultiplied: scale with the coverage
        output = blend(generator_net, render, original, mask)
        m = mask.unsqueeze(-1)
        loss = ((output - original).abs() * m).sum() / (3.0 * m.sum()).clamp_min(1.0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    generator_net.eval()
    return losses


@torch.no_grad()
def hole_repair_error(
    generator_net: nn.Module,
    originals: torch.Tensor,
    renders: torch.Tensor,
    alphas: torch.Tensor,
    masks: torch.Tensor,
    seed: int = 1234,
    max_radius: int = 12,
) -> float:
    """Masked L1 of the eq-19 blend on a *fixed* set of border holes (seeded), for before/after comparisons.

    Args: as :func:`train_inpainter`; ``seed`` fixes the holes so two calls see the same inputs.
    """
    masks = masks.float()
    cut = border_holes(masks, alphas, torch.Generator().manual_seed(seed), max_radius)
    holed = renders * (cut / alphas.clamp_min(1e-6)).clamp(0.0, 1.0).unsqueeze(-1)
    output = blend(generator_net, holed, originals, masks)
    m = masks.unsqueeze(-1)
    return float(((output - originals).abs() * m).sum() / (3.0 * m.sum()).clamp_min(1.0))
