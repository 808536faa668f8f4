"""Inception-v3 up to its pool3 features — the network behind the paper's FID (§4.2).

Szegedy et al. 2016, "Rethinking the Inception Architecture for Computer Vision": a stem of plain
convolutions, then three stages of Inception modules on 35×35, 17×17 and 8×8 grids, each stage
entered through a grid-size reduction module (their Figure 10):

    stem (299² -> 35², 192 ch)
    Mixed_5b, 5c, 5d  — 35×35 modules (Figure 5: the 5×5 path factored into 3×3s), -> 288 ch
    Mixed_6a          — reduction 35 -> 17, -> 768 ch
    Mixed_6b … 6e     — 17×17 modules (Figure 6: n×n factored into 1×n and n×1, n = 7), 768 ch
    Mixed_7a          — reduction 17 -> 8, -> 1280 ch
    Mixed_7b, 7c      — 8×8 modules (Figure 7: 1×3 and 3×1 side by side), -> 2048 ch
    mean over the 8×8 grid -> "pool3", (B, 2048)

Every convolution is bias-free, followed by BatchNorm (eps 0.001) and a ReLU. Parameter and buffer
names follow torchvision's ``Inception3`` state dict (``Conv2d_1a_3x3.conv.weight``,
``Mixed_5b.branch1x1.bn.running_mean`` …), so a local copy of torchvision's ``inception_v3`` weights,
or of pytorch-fid's ``pt_inception-2015-12-05`` FID weights (same layout), loads with
:func:`load_inception_v3`; their ``fc.*`` and ``AuxLogits.*`` entries (the classifier heads) are ignored.

Input scaling: both weight files are ports of Google's TensorFlow graph, which expects pixels in
[-1, 1]. Torchvision's ``transform_input=True`` maps ImageNet-normalised input to exactly that, and with
``transform_input=False`` the network is fed the tensor as-is. This module takes images in [0, 1] and
feeds ``2 x - 1`` itself — the same input pytorch-fid gives its network.

``tf_pooling=True`` reproduces the two pooling details of the TensorFlow FID graph that pytorch-fid
also copies: the 3×3 average pools of the Inception modules divide by the number of *valid* pixels at
the border (``count_include_pad=False``), and Mixed_7c's pool branch is a 3×3 *max* pool. Use it with
the FID weights to get numbers on the scale of published FIDs; the default is torchvision's network.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .perceptual import load_backbone

__all__ = ["InceptionV3Features", "inception_v3_features", "load_inception_v3"]

Pool = Callable[[torch.Tensor], torch.Tensor]


def _avg_pool_counting_padding(x: torch.Tensor) -> torch.Tensor:
    """3×3 stride-1 average pool; border windows divide by 9 (torchvision)."""
    return F.avg_pool2d(x, 3, stride=1, padding=1)


def _avg_pool_valid_pixels(x: torch.Tensor) -> torch.Tensor:
    """3×3 stride-1 average pool; border windows divide by their in-image pixel count (TensorFlow)."""
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


def _max_pool_same(x: torch.Tensor) -> torch.Tensor:
    """3×3 stride-1 max pool keeping the grid size (TensorFlow's Mixed_7c pool branch)."""
    return F.max_pool2d(x, 3, stride=1, padding=1)


def _chain(x: torch.Tensor, *layers: nn.Module) -> torch.Tensor:
    for layer in layers:
        x = layer(x)
    return x


class _ConvBN(nn.Module):
    """Bias-free convolution -> BatchNorm (eps 0.001) -> ReLU; submodules ``conv`` and ``bn``."""

    def __init__(self, c_in: int, c_out: int, kernel, stride: int = 1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class _Grid35(nn.Module):
    """35×35 module (Figure 5): 1×1 | 1×1->5×5 | 1×1->3×3->3×3 | pool->1×1; ``c_in`` -> 224 + ``pool_features``."""

    def __init__(self, c_in: int, pool_features: int, pool: Pool):
        super().__init__()
        self.branch1x1 = _ConvBN(c_in, 64, 1)
        self.branch5x5_1 = _ConvBN(c_in, 48, 1)
        self.branch5x5_2 = _ConvBN(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = _ConvBN(c_in, 64, 1)
        self.branch3x3dbl_2 = _ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _ConvBN(96, 96, 3, padding=1)
        self.branch_pool = _ConvBN(c_in, pool_features, 1)
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [
                self.branch1x1(x),
                _chain(x, self.branch5x5_1, self.branch5x5_2),
                _chain(x, self.branch3x3dbl_1, self.branch3x3dbl_2, self.branch3x3dbl_3),
                self.branch_pool(self.pool(x)),
            ],
            dim=1,
        )


class _Reduce35To17(nn.Module):
    """Grid reduction 35 -> 17 (Figure 10): stride-2 3×3 | 1×1->3×3->stride-2 3×3 | max pool; 288 -> 768."""

    def __init__(self, c_in: int):
        super().__init__()
        self.branch3x3 = _ConvBN(c_in, 384, 3, stride=2)
        self.branch3x3dbl_1 = _ConvBN(c_in, 64, 1)
        self.branch3x3dbl_2 = _ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _ConvBN(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [
                self.branch3x3(x),
                _chain(x, self.branch3x3dbl_1, self.branch3x3dbl_2, self.branch3x3dbl_3),
                F.max_pool2d(x, 3, stride=2),
            ],
            dim=1,
        )


class _Grid17(nn.Module):
    """17×17 module (Figure 6, n = 7): 1×1 | 1×1->1×7->7×1 | 1×1->(7×1->1×7)×2 | pool->1×1; 768 -> 768.

    ``c7`` is the width inside the factored 7×7 paths (128, 160, 160, 192 in Mixed_6b … 6e).
    """

    def __init__(self, c_in: int, c7: int, pool: Pool):
        super().__init__()
        self.branch1x1 = _ConvBN(c_in, 192, 1)
        self.branch7x7_1 = _ConvBN(c_in, c7, 1)
        self.branch7x7_2 = _ConvBN(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = _ConvBN(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = _ConvBN(c_in, c7, 1)
        self.branch7x7dbl_2 = _ConvBN(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = _ConvBN(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = _ConvBN(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = _ConvBN(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = _ConvBN(c_in, 192, 1)
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        double = (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4)
        return torch.cat(
            [
                self.branch1x1(x),
                _chain(x, self.branch7x7_1, self.branch7x7_2, self.branch7x7_3),
                _chain(x, *double, self.branch7x7dbl_5),
                self.branch_pool(self.pool(x)),
            ],
            dim=1,
        )


class _Reduce17To8(nn.Module):
    """Grid reduction 17 -> 8 (Figure 10): 1×1->stride-2 3×3 | 1×1->1×7->7×1->stride-2 3×3 | max pool; 768 -> 1280."""

    def __init__(self, c_in: int):
        super().__init__()
        self.branch3x3_1 = _ConvBN(c_in, 192, 1)
        self.branch3x3_2 = _ConvBN(192, 320, 3, stride=2)
        self.branch7x7x3_1 = _ConvBN(c_in, 192, 1)
        self.branch7x7x3_2 = _ConvBN(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = _ConvBN(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = _ConvBN(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seven = (self.branch7x7x3_1, self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4)
        return torch.cat(
            [_chain(x, self.branch3x3_1, self.branch3x3_2), _chain(x, *seven), F.max_pool2d(x, 3, stride=2)], dim=1
        )


class _Grid8(nn.Module):
    """8×8 module (Figure 7): 1×1 | 1×1->[1×3, 3×1] | 1×1->3×3->[1×3, 3×1] | pool->1×1; -> 2048 ch."""

    def __init__(self, c_in: int, pool: Pool):
        super().__init__()
        self.branch1x1 = _ConvBN(c_in, 320, 1)
        self.branch3x3_1 = _ConvBN(c_in, 384, 1)
        self.branch3x3_2a = _ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = _ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = _ConvBN(c_in, 448, 1)
        self.branch3x3dbl_2 = _ConvBN(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = _ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = _ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = _ConvBN(c_in, 192, 1)
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        single = self.branch3x3_1(x)
        double = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch3x3_2a(single),
                self.branch3x3_2b(single),
                self.branch3x3dbl_3a(double),
                self.branch3x3dbl_3b(double),
                self.branch_pool(self.pool(x)),
            ],
            dim=1,
        )


class InceptionV3Features(nn.Module):
    """Inception-v3 from pixels to pool3 features (module docstring); torchvision's parameter names.

    Args:
        tf_pooling: use the TensorFlow FID graph's pooling (module docstring) instead of torchvision's.

    Forward: ``(B, 3, H, W)`` images in [0, 1] (H, W >= 75; the network is trained at 299) ->
    ``(B, 2048)`` features. :func:`~talkinghead_edu.eval.perceptual.fid` resizes to :attr:`input_size`.
    """

    input_size = 299
    MIN_SIZE = 75  # smallest input for which the 17 -> 8 reduction still has a 3×3 window

    def __init__(self, tf_pooling: bool = False):
        super().__init__()
        avg = _avg_pool_valid_pixels if tf_pooling else _avg_pool_counting_padding
        self.Conv2d_1a_3x3 = _ConvBN(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = _ConvBN(32, 32, 3)
        self.Conv2d_2b_3x3 = _ConvBN(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = _ConvBN(64, 80, 1)
        self.Conv2d_4a_3x3 = _ConvBN(80, 192, 3)
        self.Mixed_5b = _Grid35(192, 32, avg)
        self.Mixed_5c = _Grid35(256, 64, avg)
        self.Mixed_5d = _Grid35(288, 64, avg)
        self.Mixed_6a = _Reduce35To17(288)
        self.Mixed_6b = _Grid17(768, 128, avg)
        self.Mixed_6c = _Grid17(768, 160, avg)
        self.Mixed_6d = _Grid17(768, 160, avg)
        self.Mixed_6e = _Grid17(768, 192, avg)
        self.Mixed_7a = _Reduce17To8(768)
        self.Mixed_7b = _Grid8(1280, avg)
        self.Mixed_7c = _Grid8(2048, _max_pool_same if tf_pooling else avg)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4 or images.shape[1] != 3 or min(images.shape[2:]) < self.MIN_SIZE:
            raise ValueError(
                f"InceptionV3Features: expected (B, 3, H, W) images with H, W >= {self.MIN_SIZE} "
                f"(299 is the trained size), got {tuple(images.shape)}"
            )
        x = images * 2 - 1  # [0, 1] -> [-1, 1], the range the ported TensorFlow weights expect
        x = _chain(x, self.Conv2d_1a_3x3, self.Conv2d_2a_3x3, self.Conv2d_2b_3x3)  # (B, 64, 147, 147) at 299²
        x = F.max_pool2d(x, 3, stride=2)
        x = _chain(x, self.Conv2d_3b_1x1, self.Conv2d_4a_3x3)  # (B, 192, 71, 71)
        x = F.max_pool2d(x, 3, stride=2)  # (B, 192, 35, 35)
        x = _chain(x, self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a)  # (B, 768, 17, 17)
        x = _chain(x, self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e, self.Mixed_7a)  # (B, 1280, 8, 8)
        x = _chain(x, self.Mixed_7b, self.Mixed_7c)  # (B, 2048, 8, 8)
        return x.mean(dim=(2, 3))  # pool3

    def pooled_features(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` in [0, 1] -> ``(B, 2048)``: the interface :func:`fid` uses."""
        return self(images)


def inception_v3_features(tf_pooling: bool = False) -> InceptionV3Features:
    """Inception-v3 pool3 features with random weights, in eval mode (fill them with :func:`load_inception_v3`)."""
    return InceptionV3Features(tf_pooling=tf_pooling).eval()


def load_inception_v3(path: str | Path, tf_pooling: bool = False) -> InceptionV3Features:
    """Inception-v3 features with the weights of a local torchvision-layout file (``.safetensors``/``.pt``/``.pth``).

    Extra ``fc.*`` / ``AuxLogits.*`` entries are ignored; a missing or mis-shaped feature weight is a
    ``ValueError`` naming it (see :func:`~talkinghead_edu.eval.perceptual.load_backbone`).
    """
    return load_backbone(inception_v3_features(tf_pooling=tf_pooling), path)
