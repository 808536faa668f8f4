"""The bound Gaussian head: Gaussians on FLAME triangles plus speaker-specific blendshapes.

Per Gaussian (paper §3.3.1–3.3.2) the model stores, in the local frame of its parent
triangle ``T``:

==================  ==========  ==================================================
name                shape       meaning
==================  ==========  ==================================================
``local_means``     (N, 3)      ``ū`` (metres along the triangle axes), init 0
``local_quats``     (N, 4)      ``r̄`` as a quaternion (w, x, y, z), init identity
``local_log_scales`` (N, 3)     ``log s̄`` (``s̄`` in mean-edge units), init 0 (``s̄ = 1``)
``opacity_logits``  (N,)        ``α = sigmoid(logit)``
``sh_dc``           (N, 1, 3)   ``κ0``, the zeroth SH coefficient (base colour)
``sh_rest``         (N, K-1, 3) ``κ_rest``, SH degrees 1..d
``eta_logits``      (N, 3)      ``η = softmax(eta_logits)`` (eq 11; sums to 1)
``bs_pos``          (N, L, 3)   ``W_pos`` (eq 17), init 0
``bs_rot``          (N, L, 3)   ``W_rot`` (eq 17), axis-angle per latent unit, init 0
``bs_color``        (N, L, 3)   ``W_color`` (eq 18), init 0
==================  ==========  ==================================================

plus the buffer ``triangle_ids (N,)`` (``T``) and the MLP ``W_Y`` of eq 16. Everything
with a leading ``N`` lives in :attr:`GaussianHead.gaussian_params`, so densification
(:mod:`.density`) copies or drops all of it together and children inherit their
parent's triangle, ``η`` and blendshape weights.

**ψ (eq 16).** The pose parameters fed to ``W_Y`` are the jaw rotation (3 axis-angle
numbers) followed by the E expression coefficients: ``ψ = [θ_jaw, ε]``, shape
``(B, 3 + E)``; the global and neck rotations are left out because they move the head
rigidly and carry no speaker-specific wrinkle or teeth detail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..conventions import SH_C0
from ..errors import CheckpointError
from ..render import Gaussians
from . import fused
from .binding import axis_angle_to_quat, check_mesh, local_to_world, quat_multiply, triangle_frames

__all__ = ["GaussianHead", "BoundGaussians", "psi_from_flame"]


def psi_from_flame(jaw_pose: torch.Tensor, expression: torch.Tensor) -> torch.Tensor:
    """``ψ = [θ_jaw, ε]``: ``(B, 3)`` jaw axis-angle and ``(B, E)`` expression -> ``(B, 3 + E)``."""
    if jaw_pose.shape[:-1] != expression.shape[:-1] or jaw_pose.shape[-1] != 3:
        raise ValueError(
            "jaw_pose must be (B, 3) and expression (B, E) with the same B, "
            f"got {tuple(jaw_pose.shape)} and {tuple(expression.shape)}"
        )
    return torch.cat([jaw_pose, expression], dim=-1)


@dataclass
class BoundGaussians:
    """World-space Gaussians of B frames (eq 15 after eqs 16–18), ready for ``render``.

    Attributes:
        means ``(B, N, 3)``; quats ``(B, N, 4)``; log_scales ``(B, N, 3)``;
        opacity_logits ``(N,)``; colors ``(B, N, K, 3)`` SH coefficients;
        local_means ``(B, N, 3)`` the ``ū'`` of eq 17 (for the hinge loss, eq 21).
    """

    means: torch.Tensor
    quats: torch.Tensor
    log_scales: torch.Tensor
    opacity_logits: torch.Tensor
    colors: torch.Tensor
    local_means: torch.Tensor

    def frame(self, index: int):
        """The render API's :class:`~talkinghead_edu.render.Gaussians` of frame ``index``."""

        return Gaussians(
            means=self.means[index],
            quats=self.quats[index],
            log_scales=self.log_scales[index],
            opacity_logits=self.opacity_logits,
            colors=self.colors[index],
        )


class GaussianHead(nn.Module):
    """Gaussians bound to the triangles of a head mesh, with speaker-specific blendshapes.

    Args:
        faces: ``(F, 3)`` long triangles of the head mesh.
        psi_dim: size of ``ψ`` (3 + E, see :func:`psi_from_flame`).
        gaussians_per_triangle: how many Gaussians start on every triangle.
        sh_degree: SH degree ``d`` of the colours (``K = (d + 1)²`` coefficients).
        latent_dim: size ``L`` of the latent pose ``γ`` (eq 16).
        hidden_dim: width of the MLP ``W_Y``.
        init_opacity: starting ``α`` of every Gaussian.
        init_rgb: ``(3,)`` or ``(F, 3)`` starting colour (per triangle), in [0, 1].
        triangles: optional ``(F',)`` subset of triangle ids to populate (default: all).
        seed: makes the initial ``η`` spread and ``W_Y`` repeatable.
        device: where the parameters live.

    Example:
        >>> head = GaussianHead(faces, psi_dim=3 + 50)
        >>> bound = head(vertices, psi)          # vertices (B, V, 3), psi (B, 53)
        >>> out = render(bound.frame(0), camera)
    """

    def __init__(
        self,
        faces: torch.Tensor,
        psi_dim: int,
        gaussians_per_triangle: int = 1,
        sh_degree: int = 0,
        latent_dim: int = 16,
        hidden_dim: int = 64,
        init_opacity: float = 0.5,
        init_rgb: torch.Tensor | float = 0.5,
        triangles: torch.Tensor | None = None,
        seed: int = 0,
        device: str | torch.device = "cpu",
    ):
        super().__init__()
        if faces.dim() != 2 or faces.shape[1] != 3:
            raise ValueError(f"faces must be (F, 3), got {tuple(faces.shape)}")
        if gaussians_per_triangle < 1:
            raise ValueError(f"gaussians_per_triangle must be >= 1, got {gaussians_per_triangle}")
        if not 0 <= sh_degree <= 3:
            raise ValueError(f"sh_degree must be 0..3, got {sh_degree}")
        if not 0.0 < init_opacity < 1.0:
            raise ValueError(f"init_opacity must be in (0, 1), got {init_opacity}")
        generator = torch.Generator().manual_seed(seed)
        self.register_buffer("faces", faces.long().to(device))
        self.sh_degree = sh_degree
        self.latent_dim = latent_dim
        self.psi_dim = psi_dim

        chosen = torch.arange(faces.shape[0]) if triangles is None else triangles.long().cpu()
        triangle_ids = chosen.repeat_interleave(gaussians_per_triangle)
        n = triangle_ids.shape[0]
        self.register_buffer("triangle_ids", triangle_ids.to(device))

        # η: the centroid for the first Gaussian of a triangle, random interior points for the others.
        eta = torch.full((n, 3), 1.0 / 3.0)
        extra = torch.arange(n) % gaussians_per_triangle != 0
        if extra.any():
            eta[extra] = _dirichlet(int(extra.sum()), generator)
        rgb = torch.as_tensor(init_rgb, dtype=torch.float32).cpu()
        rgb = rgb[triangle_ids] if rgb.dim() == 2 else rgb.expand(n, 3)
        k = (sh_degree + 1) ** 2
        self.gaussian_params = nn.ParameterDict(
            {
                "local_means": torch.zeros(n, 3),
                "local_quats": torch.tensor([1.0, 0.0, 0.0, 0.0]).repeat(n, 1),
                "local_log_scales": torch.zeros(n, 3),
                "opacity_logits": torch.full((n,), math.log(init_opacity / (1.0 - init_opacity))),
                "sh_dc": ((rgb.clamp(0.0, 1.0) - 0.5) / SH_C0).unsqueeze(1),
                "sh_rest": torch.zeros(n, k - 1, 3),
                "eta_logits": eta.log(),
                "bs_pos": torch.zeros(n, latent_dim, 3),
                "bs_rot": torch.zeros(n, latent_dim, 3),
                "bs_color": torch.zeros(n, latent_dim, 3),
            }
        ).to(device)
        # eq 16: the MLP W_Y
        self.latent_mlp = nn.Sequential(nn.Linear(psi_dim, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, latent_dim))
        with torch.no_grad():
            for layer in self.latent_mlp:
                if isinstance(layer, nn.Linear):
                    bound = 1.0 / math.sqrt(layer.in_features)
                    layer.weight.copy_(torch.empty_like(layer.weight).uniform_(-bound, bound, generator=generator))
                    layer.bias.zero_()
        self.latent_mlp.to(device)

    @property
    def num_gaussians(self) -> int:
        return int(self.triangle_ids.shape[0])

    def load_tensors(self, tensors: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
        """Replace the Gaussians and ``W_Y`` with a checkpoint's ``gaussian/*``, ``triangle_ids`` and ``mlp/*``.

        The checkpoint's Gaussian count ``N`` may differ from this head's (densification),
        but every ``gaussian/<name>`` must have ``N`` rows and this head's trailing shape
        (same SH degree and latent size), and ``triangle_ids`` must be ``(N,)`` integers that
        index this mesh's triangles.

        Raises:
            CheckpointError: a missing tensor, a wrong shape, triangle ids out of range, no Gaussians.
        """
        names = ["triangle_ids"] + [f"gaussian/{name}" for name in self.gaussian_params]
        missing = [name for name in names if name not in tensors]
        if missing:
            raise CheckpointError(f"{source} lacks the Gaussian head tensor(s) {', '.join(missing)}")
        triangle_ids = tensors["triangle_ids"]
        if triangle_ids.dim() != 1 or triangle_ids.is_floating_point() or triangle_ids.dtype == torch.bool:
            raise CheckpointError(
                f"{source}: 'triangle_ids' must be (N,) integers, got {tuple(triangle_ids.shape)} {triangle_ids.dtype}"
            )
        n, n_faces = triangle_ids.shape[0], self.faces.shape[0]
        if n == 0:
            raise CheckpointError(f"{source} holds 0 Gaussians; expected a trained head with at least one")
        if int(triangle_ids.min()) < 0 or int(triangle_ids.max()) >= n_faces:
            raise CheckpointError(
                f"{source}: 'triangle_ids' range over {int(triangle_ids.min())}..{int(triangle_ids.max())}, "
                f"but this mesh has triangles 0..{n_faces - 1} (a checkpoint of another head model?)"
            )
        for name, current in self.gaussian_params.items():
            value = tensors[f"gaussian/{name}"]
            expected = (n,) + tuple(current.shape[1:])
            if tuple(value.shape) != expected or not value.is_floating_point():
                raise CheckpointError(
                    f"{source}: 'gaussian/{name}' must be a float tensor of shape {expected} "
                    f"(N = {n} from triangle_ids), got {tuple(value.shape)} {value.dtype}"
                )
        mlp_state = {k.removeprefix("mlp/"): v for k, v in tensors.items() if k.startswith("mlp/")}
        try:
            self.latent_mlp.load_state_dict(mlp_state)
        except RuntimeError as exc:  # missing keys or shapes that do not fit psi_dim / latent_dim
            raise CheckpointError(
                f"{source}: the blendshape MLP W_Y does not fit this head ({exc})".replace("\n", " ")
            ) from None
        device = self.faces.device
        for name in list(self.gaussian_params):
            self.gaussian_params[name] = nn.Parameter(tensors[f"gaussian/{name}"].to(device).clone())
        self.triangle_ids = triangle_ids.to(device).long()

    @property
    def eta(self) -> torch.Tensor:
        """``(N, 3)`` barycentric coefficients ``η`` (eq 11)."""
        return torch.softmax(self.gaussian_params["eta_logits"], dim=-1)

    def latent(self, psi: torch.Tensor) -> torch.Tensor:
        """Eq 16: ``γ = W_Y(ψ)``, ``(B, P) -> (B, L)``."""
        if psi.dim() != 2 or psi.shape[1] != self.psi_dim:
            raise ValueError(f"psi must be (B, {self.psi_dim}) = jaw pose + expression, got {tuple(psi.shape)}")
        return self.latent_mlp(psi)

    def forward(self, vertices: torch.Tensor, psi: torch.Tensor | None = None) -> BoundGaussians:
        """Eqs 11–18: world-space Gaussians for B posed meshes.

        Args:
            vertices: ``(B, V, 3)`` posed mesh vertices (e.g. FLAME output, eq 10).
            psi: ``(B, 3 + E)`` jaw pose + expression for the speaker-specific
                blendshapes; ``None`` switches them off (the "w/o blendshapes" ablation).

        Returns:
            :class:`BoundGaussians`.
        """
        if vertices.dim() == 2:
            vertices = vertices.unsqueeze(0)
        p = self.gaussian_params
        batch = vertices.shape[0]
        n = self.num_gaussians
        if psi is not None and psi.shape[0] != batch:
            raise ValueError(f"psi has {psi.shape[0]} rows but there are {batch} meshes")
        gamma = self.latent(psi) if psi is not None else None  # eq 16: (B, L)
        if fused.available(vertices.device):  # eqs 11–18 as two numba kernels (see .fused for why)
            table = fused.face_table(check_mesh(vertices, self.faces), self.faces)
            means, quats, log_scales, colors, local_means = fused.bind_gaussians_fused(
                table, self.triangle_ids, p["eta_logits"], p["local_means"], p["local_quats"],
                p["local_log_scales"], p["sh_dc"], p["sh_rest"],
                vertices.new_zeros(batch, 0) if gamma is None else gamma, p["bs_pos"], p["bs_rot"], p["bs_color"],
            )  # fmt: skip
        else:  # the same equations in PyTorch (no numba, or a GPU)
            local_means = p["local_means"].expand(batch, n, 3)
            local_quats = p["local_quats"].expand(batch, n, 4)
            sh_dc = p["sh_dc"].expand(batch, n, 1, 3)
            if gamma is not None:
                # eq 17, ū' = ū + BS(γ; W_pos), where BS(γ; W)[b, n, d] = sum_l γ[b, l] * W[n, l, d]
                local_means = local_means + torch.einsum("bl,nld->bnd", gamma, p["bs_pos"])
                delta_rotation = axis_angle_to_quat(torch.einsum("bl,nld->bnd", gamma, p["bs_rot"]))
                local_quats = quat_multiply(local_quats, delta_rotation)  # eq 17, r̄' = r̄ · BS(γ; W_rot)
                sh_dc = sh_dc + torch.einsum("bl,nld->bnd", gamma, p["bs_color"]).unsqueeze(2)  # eq 18
            frames = triangle_frames(vertices, self.faces)
            means, quats, log_scales = local_to_world(
                frames, self.triangle_ids, self.eta, local_means, local_quats, p["local_log_scales"]
            )
            colors = torch.cat([sh_dc, p["sh_rest"].expand(batch, n, -1, 3)], dim=2)
        return BoundGaussians(means, quats, log_scales, p["opacity_logits"], colors, local_means)


def _dirichlet(count: int, generator: torch.Generator) -> torch.Tensor:
    """``(count, 3)`` random barycentric points in the triangle interior (Dirichlet(2,2,2))."""
    gamma_samples = -torch.log(torch.rand(count, 3, 2, generator=generator).clamp_min(1e-12)).sum(-1)
    return gamma_samples / gamma_samples.sum(-1, keepdim=True)
