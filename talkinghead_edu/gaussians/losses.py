"""Training losses of the dynamic Gaussian renderer (paper §3.3.4, eqs 20–24).

* image similarity (eq 20): ``L_rgb = λ1 L1 + λ2 L_vgg + λ3 L_ssim`` —
  :func:`l1_loss`, :class:`PerceptualLoss` (VGG features from a *user-supplied* weights
  file; nothing is downloaded), :func:`ssim_loss` (``1 − SSIM``, SSIM written in
  :mod:`talkinghead_edu.eval.metrics`, no extra dependency);
* Gaussian attributes (eq 21): :func:`attribute_loss`, hinge penalties on the local
  position ``ū'`` and local scale ``s̄``;
* semantic category (eqs 22–23): :func:`gaussian_label_colors` gives each Gaussian the
  fixed colour of its parent triangle's label (rendered with ``render(..., features=...)``),
  :func:`label_map_colors` turns the dataset's label map into the same colours, and
  :func:`semantic_loss` is their mean squared error;
* eq 24: :func:`renderer_loss` adds them with the weights of :class:`LossWeights`.

Images are ``(H, W, 3)`` (or ``(B, H, W, 3)``) in ``[0, 1]``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from ..eval.metrics import ssim
from ..semantics import LABEL_COLORS

__all__ = [
    "l1_loss",
    "ssim_loss",
    "VGG16_LAYERS",
    "vgg_features",
    "PerceptualLoss",
    "attribute_loss",
    "gaussian_label_colors",
    "label_map_colors",
    "semantic_loss",
    "LossWeights",
    "renderer_loss",
]


def l1_loss(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """``L1 = mean |I − I_gt|`` over all pixels (or over ``mask`` ``(…, H, W)``/``(…, H, W, 1)`` weights)."""
    if prediction.shape != target.shape:
        raise ValueError(
            f"l1_loss: prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ in shape"
        )
    error = (prediction - target).abs()
    if mask is None:
        return error.mean()
    weights = (mask if mask.dim() == error.dim() else mask.unsqueeze(-1)).to(error.dtype).expand_as(error)
    return (error * weights).sum() / weights.sum().clamp_min(1.0)


def ssim_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``L_ssim = 1 − SSIM(I, I_gt)`` (11-tap Gaussian window, σ = 1.5)."""
    return 1.0 - ssim(prediction, target)


# ----------------------------------------------------------------------------- perceptual
#: VGG-16's convolution widths ("M" = 2×2 max-pool), the layout of torchvision's ``vgg16().features``.
VGG16_LAYERS: tuple = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
#: indices (in ``features``) of relu1_2, relu2_2, relu3_3, relu4_3 for the standard layout
VGG16_TAPS: tuple[int, ...] = (3, 8, 15, 22)


def vgg_features(layers: tuple = VGG16_LAYERS) -> nn.Sequential:
    """A VGG-style feature stack (3×3 conv + ReLU, max-pools), randomly initialised.

    The module indices match torchvision's ``vgg16().features`` for the default layout, so
    its ``state_dict`` keys (``"0.weight"``, ``"2.weight"``, …; a ``"features."`` prefix is
    accepted by :class:`PerceptualLoss`) load directly.
    """
    modules: list[nn.Module] = []
    channels = 3
    for item in layers:
        if item == "M":
            modules.append(nn.MaxPool2d(2, 2))
        else:
            modules += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU(inplace=False)]
            channels = int(item)
    return nn.Sequential(*modules)


class PerceptualLoss(nn.Module):
    """``L_vgg``: mean absolute difference of VGG feature maps (ImageNet-normalised inputs).

    Args:
        weights_path: a ``.safetensors`` or ``.pth`` file with VGG weights (``torchvision``'s
            ``vgg16`` state dict or just its ``features``). ``.pth`` files are read with
            ``torch.load(weights_only=True)``; nothing is ever unpickled or downloaded.
        network: instead of a file, an ``nn.Sequential`` feature stack (e.g. a randomly
            initialised :func:`vgg_features` to test the code path).
        taps: indices of the layers whose outputs are compared.
        device: where the network runs.

    Raises:
        ValueError: neither or both of ``weights_path`` and ``network`` given, or the file
            does not hold the expected tensors.
    """

    MEAN = (0.485, 0.456, 0.406)
    STD = (0.229, 0.224, 0.225)

    def __init__(
        self,
        weights_path: str | os.PathLike | None = None,
        network: nn.Sequential | None = None,
        taps: tuple[int, ...] = VGG16_TAPS,
        device: str | torch.device = "cpu",
    ):
        super().__init__()
        if (weights_path is None) == (network is None):
            raise ValueError("PerceptualLoss needs exactly one of weights_path (a VGG-16 weights file) or network")
        if network is None:
            network = vgg_features()
            network.load_state_dict(_read_vgg_state(Path(weights_path), network))
        if max(taps) >= len(network):
            raise ValueError(f"taps {taps} point past the network's {len(network)} layers")
        self.network = network.to(device).eval().requires_grad_(False)
        self.taps = tuple(sorted(taps))
        self.register_buffer("mean", torch.tensor(self.MEAN, device=device).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(self.STD, device=device).view(1, 3, 1, 1))

    def features(self, image: torch.Tensor) -> list[torch.Tensor]:
        """``(B, H, W, 3)`` or ``(H, W, 3)`` image -> feature maps at the taps."""
        x = image.unsqueeze(0) if image.dim() == 3 else image
        x = (x.permute(0, 3, 1, 2) - self.mean) / self.std
        taps, outputs = set(self.taps), []
        for index, layer in enumerate(self.network):
            x = layer(x)
            if index in taps:
                outputs.append(x)
            if index >= self.taps[-1]:
                break
        return outputs

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if prediction.shape != target.shape:
            raise ValueError(
                f"PerceptualLoss: prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ in shape"
            )
        return sum((a - b).abs().mean() for a, b in zip(self.features(prediction), self.features(target)))


def _read_vgg_state(path: Path, network: nn.Sequential) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise ValueError(
            f"VGG weights file {path} does not exist (pass the path of a vgg16 .safetensors/.pth you downloaded "
            "yourself)"
        )
    if path.suffix == ".safetensors":
        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    state = {key.removeprefix("features."): value for key, value in state.items() if not key.startswith("classifier.")}
    expected = set(network.state_dict())
    missing = sorted(expected - set(state))
    if missing:
        raise ValueError(f"{path} is not a VGG-16 weights file: missing {missing[:4]}{'…' if len(missing) > 4 else ''}")
    return {key: state[key] for key in expected}


# ----------------------------------------------------------------------------- eq 21
def attribute_loss(
    local_means: torch.Tensor,
    local_log_scales: torch.Tensor,
    eps_position: float,
    eps_scale: float,
    weight_position: float = 1.0,
    weight_scale: float = 1.0,
) -> torch.Tensor:
    """Eq 21: ``λp ‖max(0, |ū'| − εp)‖² + λs ‖max(0, s̄ − εs)‖²``, averaged over Gaussians.

    The position hinge acts on the *magnitude* of each local coordinate (a Gaussian may sit
    on either side of its triangle); ``s̄ = exp(log s̄)`` is positive anyway. Averaging over
    the N Gaussians (instead of summing) keeps ``λ`` independent of how many there are.

    Args:
        local_means: ``(…, N, 3)`` ``ū'`` (metres, local frame).
        local_log_scales: ``(N, 3)`` ``log s̄`` (mean-edge units).
        eps_position: ``εp`` in metres; eps_scale: ``εs`` in mean-edge units.
    """
    position_excess = torch.relu(local_means.abs() - eps_position)  # max(0, |ū'| − εp)
    scale_excess = torch.relu(local_log_scales.exp() - eps_scale)  # max(0, s̄ − εs)
    # squared norm per Gaussian, averaged over Gaussians (and frames)
    return weight_position * (position_excess**2).sum(-1).mean() + weight_scale * (scale_excess**2).sum(-1).mean()


# ----------------------------------------------------------------------------- eqs 22–23
def gaussian_label_colors(face_labels: torch.Tensor, triangle_ids: torch.Tensor) -> torch.Tensor:
    """``c_fix`` of eq 22: ``(N, 3)`` the fixed colour of each Gaussian's parent-triangle label.

    Args:
        face_labels: ``(F,)`` label id per triangle (``semantics.LABEL_NAMES``).
        triangle_ids: ``(N,)`` the Gaussians' parent triangles.
    """
    palette = torch.as_tensor(LABEL_COLORS, device=face_labels.device)
    return palette[face_labels.long()[triangle_ids]]


def label_map_colors(labels: torch.Tensor) -> torch.Tensor:
    """``M_gt``: ``(…, H, W)`` integer label map -> ``(…, H, W, 3)`` colours (background black)."""
    labels = torch.as_tensor(labels)
    if labels.min() < 0 or labels.max() >= len(LABEL_COLORS):
        raise ValueError(
            f"label ids must be in 0..{len(LABEL_COLORS) - 1}, got [{int(labels.min())}, {int(labels.max())}]"
        )
    return torch.as_tensor(LABEL_COLORS, device=labels.device)[labels.long()]


def semantic_loss(semantic_render: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Eq 23 (without λ): mean squared error between ``M_aux`` ``(…, H, W, 3)`` and the colours of ``labels``
    ``(…, H, W)``."""
    target = label_map_colors(labels).to(semantic_render.dtype)
    if semantic_render.shape != target.shape:
        raise ValueError(
            f"semantic_loss: render {tuple(semantic_render.shape)} does not match labels {tuple(labels.shape)} + (3,)"
        )
    return ((semantic_render - target) ** 2).mean()


# ----------------------------------------------------------------------------- eq 24
@dataclass
class LossWeights:
    """The ``λ``s and thresholds of eqs 20–23 (``vgg`` is used only when a perceptual loss is given)."""

    l1: float = 0.8
    vgg: float = 0.1
    ssim: float = 0.2
    position: float = 1.0
    scale: float = 1.0
    eps_position: float = 0.005
    eps_scale: float = 1.5
    seg: float = 0.1


def renderer_loss(
    image: torch.Tensor,
    target: torch.Tensor,
    local_means: torch.Tensor,
    local_log_scales: torch.Tensor,
    weights: LossWeights,
    semantic_render: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    perceptual: PerceptualLoss | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Eq 24: ``L = L_rgb + L_attr + L_seg``; returns the total and each term's value.

    ``semantic_render``/``labels`` may be ``None`` (the "w/o semantic loss" ablation);
    ``perceptual`` ``None`` drops ``L_vgg`` (no VGG weights supplied).
    """
    terms = {"l1": l1_loss(image, target), "ssim": ssim_loss(image, target)}
    total = weights.l1 * terms["l1"] + weights.ssim * terms["ssim"]  # eq 20
    if perceptual is not None:
        terms["vgg"] = perceptual(image, target)
        total = total + weights.vgg * terms["vgg"]
    terms["attr"] = attribute_loss(
        local_means, local_log_scales, weights.eps_position, weights.eps_scale, weights.position, weights.scale
    )  # eq 21
    total = total + terms["attr"]
    if semantic_render is not None:
        terms["seg"] = semantic_loss(semantic_render, labels)  # eq 23
        total = total + weights.seg * terms["seg"]
    return total, {name: float(value.detach()) for name, value in terms.items()}
