"""Perceptual metrics: Fréchet distance (FID), LPIPS — with backbones loaded from local files.

FID (Heusel et al. 2017) compares two sets of images through the mean ``μ`` and covariance
``Σ`` of a network's features:

    FD = ||μ_1 - μ_2||² + tr(Σ_1 + Σ_2 - 2 (Σ_1^{1/2} Σ_2 Σ_1^{1/2})^{1/2})

(the Fréchet / 2-Wasserstein distance of two Gaussians). The paper's FID uses Inception-v3
pool3 features (2048-d): :func:`fid` with :func:`~talkinghead_edu.eval.inception.load_inception_v3`
computes it from a local weights file. This package ships no Inception weights, so on the bundled
experiment :func:`frechet_distance` is run on the sync expert's visual embeddings of mouth
windows — **a Fréchet distance that is not comparable with the paper's FID** (different network,
different crop, 64-d instead of 2048-d).

LPIPS (Zhang et al. 2018):

    LPIPS(x, y) = sum_l mean_{h,w} || w_l ⊙ (f̂_l(x) - f̂_l(y)) ||²,

``f̂_l`` the channel-normalised activations of layer ``l`` of a backbone (AlexNet or VGG-16),
``w_l`` non-negative per-channel weights (all ones without a learned linear-layer file: the
"baseline" variant of the LPIPS paper). Inputs are scaled to [-1, 1] and shifted/scaled per
channel as in the reference implementation.

Weights are read from local files only — ``.safetensors`` or a PyTorch state dict read with
``torch.load(weights_only=True)`` — never downloaded, never unpickled. The architectures
:func:`alexnet_features` / :func:`vgg16_features` (and Inception-v3 in :mod:`.inception`) use
torchvision's parameter names (``features.0.weight`` ...), so torchvision's state dicts load directly.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "feature_statistics",
    "frechet_distance",
    "frechet_distance_of_features",
    "load_state_dict_file",
    "FeatureTaps",
    "alexnet_features",
    "vgg16_features",
    "load_backbone",
    "LPIPS",
    "fid",
]


# --------------------------------------------------------------------------- Fréchet distance
def feature_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(N, D)`` features -> mean ``(D,)`` and unbiased covariance ``(D, D)``, float64."""
    if features.dim() != 2 or features.shape[0] < 2:
        raise ValueError(f"feature_statistics: need (N >= 2, D) features, got {tuple(features.shape)}")
    x = features.detach().double()
    mean = x.mean(dim=0)
    centred = x - mean
    return mean, centred.T @ centred / (x.shape[0] - 1)


def _sqrtm_psd(matrix: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix by eigendecomposition."""
    values, vectors = torch.linalg.eigh(0.5 * (matrix + matrix.T))
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


def frechet_distance(mean_1: torch.Tensor, cov_1: torch.Tensor, mean_2: torch.Tensor, cov_2: torch.Tensor) -> float:
    """The Fréchet distance of ``N(mean_1, cov_1)`` and ``N(mean_2, cov_2)`` (module docstring).

    The trace term uses ``Σ_1^{1/2} Σ_2 Σ_1^{1/2}``, which is symmetric PSD, so both square roots
    are taken by ``eigh`` (stable, no complex parts to discard).
    """
    if mean_1.shape != mean_2.shape or cov_1.shape != cov_2.shape or cov_1.shape != (len(mean_1), len(mean_1)):
        raise ValueError(
            f"frechet_distance: shapes {tuple(mean_1.shape)}, {tuple(cov_1.shape)}, {tuple(mean_2.shape)}, "
            f"{tuple(cov_2.shape)} do not match"
        )
    mean_1, cov_1, mean_2, cov_2 = (t.double() for t in (mean_1, cov_1, mean_2, cov_2))
    root_1 = _sqrtm_psd(cov_1)
    cross = _sqrtm_psd(root_1 @ cov_2 @ root_1)
    value = (mean_1 - mean_2).square().sum() + torch.trace(cov_1) + torch.trace(cov_2) - 2.0 * torch.trace(cross)
    return float(value.clamp_min(0.0))


def frechet_distance_of_features(features_1: torch.Tensor, features_2: torch.Tensor) -> float:
    """Fréchet distance between the Gaussians fitted to two ``(N_1, D)`` and ``(N_2, D)`` feature sets.

    With fewer samples than dimensions (a few images, 2048-d Inception features) the covariances have
    rank < D and the ``(D, D)`` square roots are both slow and ill-conditioned; the trace term is then
    taken from the samples: write ``Σ_i = A_i A_iᵀ`` with ``A_i`` the centred features over
    ``sqrt(N_i - 1)``, shape ``(D, N_i)``. ``Σ_1^{1/2} Σ_2 Σ_1^{1/2}`` has the nonzero eigenvalues of
    ``Σ_1 Σ_2 = A_1 A_1ᵀ A_2 A_2ᵀ``, i.e. of ``(A_1ᵀ A_2)(A_1ᵀ A_2)ᵀ``, so the trace of its square root
    is the sum of the singular values of the ``(N_1, N_2)`` matrix ``A_1ᵀ A_2`` — exact, O(N² D).
    """
    shapes = [tuple(f.shape) for f in (features_1, features_2)]
    if any(len(s) != 2 or s[0] < 2 for s in shapes) or shapes[0][1] != shapes[1][1]:
        raise ValueError(f"frechet_distance_of_features: need two (N >= 2, D) feature sets of one D, got {shapes}")
    if min(shapes[0][0], shapes[1][0]) >= shapes[0][1]:
        return frechet_distance(*feature_statistics(features_1), *feature_statistics(features_2))
    samples = [f.detach().double() for f in (features_1, features_2)]
    a_1, a_2 = ((x - x.mean(dim=0)).T / (len(x) - 1) ** 0.5 for x in samples)  # (D, N_i)
    value = (
        (samples[0].mean(dim=0) - samples[1].mean(dim=0)).square().sum()
        + a_1.square().sum()  # tr Σ_1
        + a_2.square().sum()  # tr Σ_2
        - 2.0 * torch.linalg.svdvals(a_1.T @ a_2).sum()  # tr (Σ_1^{1/2} Σ_2 Σ_1^{1/2})^{1/2}
    )
    return float(value.clamp_min(0.0))


# --------------------------------------------------------------------------- backbones from files
def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a local weights file: ``.safetensors``, or ``.pt``/``.pth`` read with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist (nothing is downloaded; pass a local file)")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    if path.suffix in (".pt", ".pth", ".bin"):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # weights_only refuses anything but tensors and plain containers
            raise ValueError(f"{path} is not a plain state dict of tensors ({exc})") from exc
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise ValueError(f"{path} must hold a dict of name -> tensor, got {type(state).__name__}")
        return state
    raise ValueError(f"weights file {path}: expected .safetensors, .pt or .pth")


class FeatureTaps(nn.Module):
    """A sequential backbone that returns the activations after chosen layers.

    Args:
        features: the layers, run in order.
        taps: indices of the layers whose outputs are returned.
    """

    def __init__(self, features: nn.Sequential, taps: tuple[int, ...]):
        super().__init__()
        if not taps or max(taps) >= len(features):
            raise ValueError(f"FeatureTaps: taps {taps} must index the {len(features)} layers")
        self.features, self.taps = features, tuple(taps)

    input_size = None  # fid() keeps the images' size unless told otherwise

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.taps:
                outputs.append(x)
            if index == self.taps[-1]:
                break
        return outputs

    def pooled_features(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` images in [0, 1] -> ``(B, C)``: the last tap, fed ``2 x - 1``, averaged over the grid."""
        return self(images * 2 - 1)[-1].mean(dim=(2, 3))


def alexnet_features() -> FeatureTaps:
    """AlexNet's convolutional part (torchvision layout), tapped after relu1 … relu5 (LPIPS 'alex')."""
    layers = nn.Sequential(
        nn.Conv2d(3, 64, 11, 4, 2),
        nn.ReLU(),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(3, 2),
    )
    return FeatureTaps(layers, (1, 4, 7, 9, 11))


def vgg16_features() -> FeatureTaps:
    """VGG-16's convolutional part (torchvision layout), tapped after relu1_2 … relu5_3 (LPIPS 'vgg')."""
    layers, channels = [], 3
    for block, (width, convs) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]):
        for _ in range(convs):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
            channels = width
        layers.append(nn.MaxPool2d(2, 2))
    return FeatureTaps(nn.Sequential(*layers), (3, 8, 15, 22, 29))


def load_backbone(backbone: nn.Module, path: str | Path) -> nn.Module:
    """Fill ``backbone`` with the weights in ``path``, matched by name (torchvision's state-dict layout).

    Keys of other parts of the network (``classifier.*``, ``fc.*``, ``AuxLogits.*`` …) are ignored,
    and so are absent BatchNorm ``num_batches_tracked`` counters (older files lack them; they do not
    affect an eval-mode forward). A missing or mis-shaped backbone key is a ``ValueError`` naming it.
    """
    state = load_state_dict_file(path)
    wanted = backbone.state_dict()
    missing = [k for k in wanted if k not in state and not k.endswith("num_batches_tracked")]
    if missing:
        shown = ", ".join(missing[:6]) + (" ..." if len(missing) > 6 else "")
        raise ValueError(
            f"{path} lacks backbone weights: {len(missing)} of {len(wanted)} keys missing ({shown}); "
            f"is it a {type(backbone).__name__} file in torchvision's layout?"
        )
    wrong = [
        f"{k}: file has {tuple(state[k].shape)}, network needs {tuple(v.shape)}"
        for k, v in wanted.items()
        if k in state and state[k].shape != v.shape
    ]
    if wrong:
        raise ValueError(f"{path} has weights of the wrong shape: {'; '.join(wrong[:3])}")
    backbone.load_state_dict({k: state[k] for k in wanted if k in state})
    return backbone.eval()


# --------------------------------------------------------------------------- LPIPS
class LPIPS(nn.Module):
    """Learned perceptual image patch similarity on a tapped backbone (module docstring).

    Args:
        backbone: a :class:`FeatureTaps` with loaded weights.
        linear_weights: optional ``[(C_l,)]`` non-negative channel weights per tap (the LPIPS
            "lin" layers, e.g. read from the official ``alex.pth`` with
            :func:`load_state_dict_file`, keys ``lin{l}.model.1.weight`` of shape ``(1, C_l, 1, 1)``);
            ``None`` = all ones.
    """

    SHIFT = (-0.030, -0.088, -0.188)  # the reference implementation's input scaling layer
    SCALE = (0.458, 0.448, 0.450)

    def __init__(self, backbone: FeatureTaps, linear_weights: list[torch.Tensor] | None = None):
        super().__init__()
        self.backbone = backbone.eval()
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        self.linear_weights = None if linear_weights is None else [w.flatten().float() for w in linear_weights]
        self.register_buffer("shift", torch.tensor(self.SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(self.SCALE).view(1, 3, 1, 1))

    @staticmethod
    def linear_weights_from_state(state: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """The ``lin{l}.model.1.weight`` tensors of an official LPIPS weights dict, in tap order."""
        keys = sorted(
            (k for k in state if k.startswith("lin") and k.endswith("weight")), key=lambda k: int(k[3:].split(".")[0])
        )
        if not keys:
            raise ValueError("no 'lin{l}...weight' entries: not an LPIPS linear-layer file")
        return [state[k] for k in keys]

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``(B, H, W, 3)`` images in [0, 1] -> ``(B,)`` distances (0 for identical images)."""
        if x.shape != y.shape or x.dim() != 4 or x.shape[-1] != 3:
            raise ValueError(
                f"LPIPS: expected two (B, H, W, 3) images of one shape, got {tuple(x.shape)} and {tuple(y.shape)}"
            )
        prepare = lambda im: ((im.permute(0, 3, 1, 2) * 2 - 1) - self.shift) / self.scale  # noqa: E731
        total = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        features_x, features_y = self.backbone(prepare(x)), self.backbone(prepare(y))
        for index, (fx, fy) in enumerate(zip(features_x, features_y)):
            diff = (F.normalize(fx, dim=1, eps=1e-10) - F.normalize(fy, dim=1, eps=1e-10)) ** 2  # (B, C, h, w)
            if self.linear_weights is not None:
                diff = diff * self.linear_weights[index].to(diff).view(1, -1, 1, 1)
            total = total + diff.sum(dim=1).mean(dim=(1, 2))
        return total


# --------------------------------------------------------------------------- FID
@torch.no_grad()
def fid(real: torch.Tensor, fake: torch.Tensor, backbone: nn.Module, batch: int = 32, size: int | None = None) -> float:
    """Fréchet distance of two image sets on a backbone's pooled features (the paper: Inception-v3 pool3).

    Args:
        real, fake: ``(N, H, W, 3)`` images in [0, 1] (N >= 2 each).
        backbone: a module with ``pooled_features((B, 3, H, W) in [0, 1]) -> (B, D)`` and ``input_size``
            — a :class:`FeatureTaps` (its last tap, averaged) or
            :class:`~talkinghead_edu.eval.inception.InceptionV3Features` (2048-d pool3), weights loaded.
        size: resize images to ``size × size`` first (bilinear, antialiased); ``None`` = the backbone's
            ``input_size`` (299 for Inception-v3; a :class:`FeatureTaps` keeps the images' size).
    """
    size = backbone.input_size if size is None else size

    def features(images: torch.Tensor) -> torch.Tensor:
        out = []
        for i in range(0, len(images), batch):
            x = images[i : i + batch].permute(0, 3, 1, 2).float()
            if size is not None:
                x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
            out.append(backbone.pooled_features(x))
        return torch.cat(out)

    return frechet_distance_of_features(features(real), features(fake))
