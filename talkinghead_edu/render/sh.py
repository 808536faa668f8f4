"""Real spherical harmonics up to degree 3 — view-dependent colour of a Gaussian.

Basis order and signs follow 3DGS/gsplat (index ``l² + l + m``), so coefficients
trained with either load here unchanged. Constants are the normalisation factors
``sqrt((2l+1)/(4π) · (l−|m|)!/(l+|m|)!)`` (times √2 for m ≠ 0) written out.
"""

from __future__ import annotations

import torch

from ..conventions import SH_C0

SH_C1 = 0.4886025119029199
SH_C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396)
SH_C3 = (
    -0.5900435899266435,
    2.890611442640554,
    -0.4570457994644658,
    0.3731763325901154,
    -0.4570457994644658,
    1.445305721320277,
    -0.5900435899266435,
)


def sh_basis(degree: int, dirs: torch.Tensor) -> torch.Tensor:
    """Evaluate the real SH basis of ``degree`` (0..3) at unit directions.

    Args:
        degree: 0, 1, 2 or 3.
        dirs: (..., 3) unit vectors.

    Returns:
        (..., (degree + 1)²) basis values.
    """
    if degree not in (0, 1, 2, 3):
        raise ValueError(f"sh_basis: degree must be 0..3, got {degree}")
    if dirs.shape[-1] != 3:
        raise ValueError(f"sh_basis: dirs must have shape (..., 3), got {tuple(dirs.shape)}")
    x, y, z = dirs.unbind(-1)
    basis = [torch.full_like(x, SH_C0)]
    if degree >= 1:
        basis += [-SH_C1 * y, SH_C1 * z, -SH_C1 * x]
    if degree >= 2:
        xx, yy, zz = x * x, y * y, z * z
        basis += [
            SH_C2[0] * x * y,
            SH_C2[1] * y * z,
            SH_C2[2] * (2 * zz - xx - yy),
            SH_C2[3] * x * z,
            SH_C2[4] * (xx - yy),
        ]
    if degree >= 3:
        basis += [
            SH_C3[0] * y * (3 * xx - yy),
            SH_C3[1] * x * y * z,
            SH_C3[2] * y * (4 * zz - xx - yy),
            SH_C3[3] * z * (2 * zz - 3 * xx - 3 * yy),
            SH_C3[4] * x * (4 * zz - xx - yy),
            SH_C3[5] * z * (xx - yy),
            SH_C3[6] * x * (xx - 3 * yy),
        ]
    return torch.stack(basis, dim=-1)


def sh_to_rgb(coeffs: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    """View-dependent colour ``rgb = max(Σ_k coeffs[k] · Y_k(dir) + 0.5, 0)`` (3DGS convention).

    Args:
        coeffs: (N, K, 3) SH coefficients, K = (d + 1)².
        dirs: (N, 3) viewing directions (camera → Gaussian); normalised here.

    Returns:
        (N, 3) colours.
    """
    k = coeffs.shape[-2]
    degree = int(round(k**0.5)) - 1
    if (degree + 1) ** 2 != k or coeffs.shape[-1] != 3:
        raise ValueError(f"sh_to_rgb: coeffs must be (N, K, 3) with K a square ≤ 16, got {tuple(coeffs.shape)}")
    unit_dirs = torch.nn.functional.normalize(dirs, dim=-1)
    basis = sh_basis(degree, unit_dirs)  # (N, K)
    # rgb[n, c] = sum_k basis[n, k] * coeffs[n, k, c]
    return torch.clamp_min(torch.einsum("nk,nkc->nc", basis, coeffs) + 0.5, 0.0)
