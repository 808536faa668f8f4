"""GaussianHead: initialisation as the paper says, speaker-specific blendshapes (eqs 16–18)."""

from __future__ import annotations

import pytest
import torch

from talkinghead_edu.conventions import SH_C0
from talkinghead_edu.gaussians import GaussianHead, psi_from_flame, triangle_frames
from talkinghead_edu.gaussians.binding import axis_angle_to_quat, quat_to_rotmat


def tetrahedron():
    verts = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    faces = torch.tensor([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    return verts, faces


def test_initialisation_puts_gaussians_on_triangle_centroids_with_triangle_size():
    verts, faces = tetrahedron()
    head = GaussianHead(faces, psi_dim=5, gaussians_per_triangle=3, init_rgb=torch.tensor([0.2, 0.4, 0.6]))
    assert head.num_gaussians == 12
    torch.testing.assert_close(head.triangle_ids, torch.arange(4).repeat_interleave(3))
    bound = head(verts)
    frames = triangle_frames(verts, faces)
    centroids = frames.corners[0].mean(1)
    torch.testing.assert_close(bound.means[0, ::3], centroids)  # first Gaussian of each triangle at η = 1/3
    eta = head.eta
    assert (eta > 0).all() and torch.allclose(eta.sum(-1), torch.ones(12))
    # ū = 0, r̄ = I, s̄ = 1: world rotation = the triangle frame, world scale = mean edge length
    torch.testing.assert_close(quat_to_rotmat(bound.quats[0]), frames.rotation[0, head.triangle_ids], atol=1e-6, rtol=0)
    torch.testing.assert_close(
        bound.log_scales[0], frames.scale[0, head.triangle_ids].log().unsqueeze(-1).expand(12, 3)
    )
    torch.testing.assert_close(SH_C0 * bound.colors[0, :, 0] + 0.5, torch.tensor([0.2, 0.4, 0.6]).expand(12, 3))


def test_blendshapes_start_at_zero_and_follow_eqs_17_18():
    verts, faces = tetrahedron()
    head = GaussianHead(faces, psi_dim=5, latent_dim=4, sh_degree=1, seed=3)
    psi = torch.randn(2, 5)
    plain, with_bs = head(verts.expand(2, 4, 3)), head(verts.expand(2, 4, 3), psi)
    for a, b in ((plain.means, with_bs.means), (plain.quats, with_bs.quats), (plain.colors, with_bs.colors)):
        torch.testing.assert_close(a, b)  # zero-initialised W_pos, W_rot, W_color
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name in ("bs_pos", "bs_rot", "bs_color"):
            head.gaussian_params[name].copy_(0.1 * torch.randn(head.gaussian_params[name].shape, generator=generator))
    out = head(verts.expand(2, 4, 3), psi)
    gamma = head.latent(psi)
    p = head.gaussian_params
    n = head.num_gaussians
    for b in range(2):
        offset = torch.stack([sum(gamma[b, l] * p["bs_pos"][i, l] for l in range(4)) for i in range(n)])
        torch.testing.assert_close(out.local_means[b], offset)  # ū' = 0 + BS(γ; W_pos)
        frames = triangle_frames(verts, faces)
        expected = (frames.rotation[0, head.triangle_ids] @ offset.unsqueeze(-1)).squeeze(-1) + plain.means[b]
        torch.testing.assert_close(out.means[b], expected, atol=1e-6, rtol=0)
        delta = axis_angle_to_quat(torch.einsum("l,nld->nd", gamma[b], p["bs_rot"]))
        torch.testing.assert_close(
            quat_to_rotmat(out.quats[b]), quat_to_rotmat(plain.quats[b]) @ quat_to_rotmat(delta), atol=1e-6, rtol=0
        )
        dc = torch.einsum("l,nld->nd", gamma[b], p["bs_color"])
        torch.testing.assert_close(out.colors[b, :, 0], plain.colors[b, :, 0] + dc)
        torch.testing.assert_close(out.colors[b, :, 1:], plain.colors[b, :, 1:])  # only κ0 changes (eq 18)


def test_gradients_reach_every_parameter():
    verts, faces = tetrahedron()
    head = GaussianHead(faces, psi_dim=5, latent_dim=4, gaussians_per_triangle=2)
    with torch.no_grad():
        head.gaussian_params["bs_pos"].normal_(0, 0.1)  # so γ's MLP receives gradient
    out = head(verts, torch.randn(1, 5))
    (
        out.means.square().sum()
        + out.quats[..., 1:].sum()
        + out.log_scales.sum()
        + out.colors.sum()
        + out.opacity_logits.sum()
    ).backward()
    for name, param in list(head.gaussian_params.items()) + list(head.latent_mlp.named_parameters()):
        if name == "sh_rest":
            continue  # degree 0: empty
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_psi_and_argument_errors():
    verts, faces = tetrahedron()
    torch.testing.assert_close(
        psi_from_flame(torch.ones(2, 3), torch.zeros(2, 4)), torch.cat([torch.ones(2, 3), torch.zeros(2, 4)], -1)
    )
    with pytest.raises(ValueError, match="jaw_pose"):
        psi_from_flame(torch.ones(2, 2), torch.zeros(2, 4))
    head = GaussianHead(faces, psi_dim=5)
    with pytest.raises(ValueError, match="psi must be"):
        head(verts, torch.zeros(1, 4))
    with pytest.raises(ValueError, match="gaussians_per_triangle"):
        GaussianHead(faces, psi_dim=5, gaussians_per_triangle=0)
