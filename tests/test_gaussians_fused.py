"""The fused binding kernel (eqs 11, 15–18) and GaussianHead.forward against a plain einsum version of the paper.

Both code paths of :meth:`GaussianHead.forward` — the numba kernel and the PyTorch fallback (no numba,
or a GPU) — are compared in float64 with a direct transcription of eqs 11–18 written here: values and
the gradients w.r.t. every parameter, the vertices and ψ, for B = 1 and B = 3.
"""

from __future__ import annotations

import pytest
import torch

from talkinghead_edu.gaussians import GaussianHead, fused
from talkinghead_edu.gaussians.binding import (
    axis_angle_to_quat,
    face_orientations,
    quat_multiply,
    rotmat_to_quat,
    triangle_frames,
)

TIGHT = dict(atol=1e-10, rtol=1e-10)  # float64: only round-off differs between the implementations


def reference_forward(head: GaussianHead, vertices: torch.Tensor, psi: torch.Tensor | None):
    """Eqs 11–18 per Gaussian with einsum, as the paper writes them: (means, quats, log_scales, colors, ū')."""
    p = head.gaussian_params
    corners = vertices[:, head.faces[head.triangle_ids]]  # (B, N, 3 corners, 3)
    v0, v1, v2 = corners.unbind(2)
    e01, e02, e12 = v1 - v0, v2 - v0, v2 - v1
    n0 = e01 / e01.norm(dim=-1, keepdim=True)  # eq 14
    normal = torch.cross(e01, e02, dim=-1)
    n1 = normal / normal.norm(dim=-1, keepdim=True)
    n2 = torch.cross(n0, n1, dim=-1)
    rotation = torch.stack([n0, n1, n2], dim=-1)  # eq 12: columns n0 n1 n2
    scale = (e01.norm(dim=-1) + e02.norm(dim=-1) + e12.norm(dim=-1)) / 3  # eq 13
    eta = torch.softmax(p["eta_logits"], dim=-1)
    origin = torch.einsum("nk,bnkd->bnd", eta, corners)  # eq 11
    batch = vertices.shape[0]
    local_means = p["local_means"].expand(batch, -1, -1)
    local_quats = p["local_quats"].expand(batch, -1, -1)
    dc = p["sh_dc"][:, 0].expand(batch, -1, -1)
    if psi is not None:
        gamma = head.latent_mlp(psi)  # eq 16
        local_means = local_means + torch.einsum("bl,nld->bnd", gamma, p["bs_pos"])  # eq 17
        local_quats = quat_multiply(local_quats, axis_angle_to_quat(torch.einsum("bl,nld->bnd", gamma, p["bs_rot"])))
        dc = dc + torch.einsum("bl,nld->bnd", gamma, p["bs_color"])  # eq 18
    means = torch.einsum("bnij,bnj->bni", rotation, local_means) + origin  # eq 15
    quats = quat_multiply(rotmat_to_quat(rotation), local_quats / local_quats.norm(dim=-1, keepdim=True))
    log_scales = scale.log().unsqueeze(-1) + p["local_log_scales"]
    colors = torch.cat([dc.unsqueeze(2), p["sh_rest"].expand(batch, -1, -1, -1)], dim=2)
    return means, quats, log_scales, colors, local_means


def random_head(batch: int, seed: int = 0):
    """A float64 head on a random mesh with every parameter random, shuffled triangle ids; vertices, ψ."""
    generator = torch.Generator().manual_seed(seed)
    vertices = torch.randn(batch, 9, 3, generator=generator, dtype=torch.float64)
    faces = torch.stack([torch.randperm(9, generator=generator)[:3] for _ in range(7)])
    head = GaussianHead(faces, psi_dim=5, gaussians_per_triangle=3, sh_degree=1, latent_dim=4, seed=seed).double()
    with torch.no_grad():
        for name, param in head.gaussian_params.items():
            param.copy_(torch.randn(param.shape, generator=generator, dtype=torch.float64))
        head.gaussian_params["bs_rot"][:2] = 0.0  # the zero rotation: axis_angle_to_quat's Taylor branch
        head.gaussian_params["bs_rot"].mul_(0.3)
    head.triangle_ids = head.triangle_ids[torch.randperm(head.num_gaussians, generator=generator)]
    psi = torch.randn(batch, 5, generator=generator, dtype=torch.float64)
    return head, vertices, psi


def _outputs(bound):
    return bound.means, bound.quats, bound.log_scales, bound.colors, bound.local_means


@pytest.mark.parametrize("use_numba", [True, False], ids=["numba", "torch"])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("blendshapes", [True, False])
def test_forward_and_gradients_match_the_equations(monkeypatch, use_numba, batch, blendshapes):
    if use_numba and not fused.available("cpu"):
        pytest.skip("numba is not importable")
    monkeypatch.setattr(fused, "available", lambda device: use_numba)
    head, vertices, psi = random_head(batch)
    vertices.requires_grad_()
    psi = psi.requires_grad_() if blendshapes else None
    inputs = [vertices] + ([psi] if blendshapes else [])
    params = [param for _, param in head.named_parameters()]
    got = _outputs(head(vertices, psi))
    want = reference_forward(head, vertices, psi)
    for name, g, w in zip(("means", "quats", "log_scales", "colors", "local_means"), got, want):
        torch.testing.assert_close(g, w, **TIGHT, msg=lambda m, name=name: f"{name}: {m}")
    weights = [torch.randn(w.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(i)) for i, w in
               enumerate(want)]  # fmt: skip
    grads = {}
    for label, outputs in (("got", got), ("want", want)):
        loss = sum((weight * out).sum() for weight, out in zip(weights, outputs))
        grads[label] = torch.autograd.grad(loss, inputs + params, allow_unused=True)
    names = ["vertices"] + (["psi"] if blendshapes else []) + [name for name, _ in head.named_parameters()]
    for name, g, w in zip(names, grads["got"], grads["want"]):
        if w is None:  # unused without blendshapes: W and the MLP
            assert g is None or not g.abs().any(), name
            continue
        assert g is not None, name
        torch.testing.assert_close(g, w, **TIGHT, msg=lambda m, name=name: f"d/d{name}: {m}")


@pytest.mark.skipif(not fused.available("cpu"), reason="numba is not importable")
def test_face_table_matches_the_pytorch_frames_and_passes_gradcheck():
    generator = torch.Generator().manual_seed(2)
    vertices = torch.randn(2, 9, 3, generator=generator, dtype=torch.float64)
    faces = torch.stack([torch.randperm(9, generator=generator)[:3] for _ in range(12)])
    # rotations whose largest quaternion component is each of w, x, y, z (every Shepperd branch)
    frames = triangle_frames(vertices, faces)
    face_quats, face_log_scales = face_orientations(frames)
    assert set(face_quats.abs().argmax(-1).flatten().tolist()) == {0, 1, 2, 3}
    expected = torch.cat(
        [frames.corners.flatten(-2), frames.rotation.flatten(-2), face_quats, face_log_scales.unsqueeze(-1)], -1
    )
    torch.testing.assert_close(fused.face_table(vertices, faces), expected, **TIGHT)
    assert torch.autograd.gradcheck(
        lambda v: fused.face_table(v, faces), vertices.requires_grad_(), eps=1e-6, atol=1e-6
    )


@pytest.mark.skipif(not fused.available("cpu"), reason="numba is not importable")
def test_fused_kernel_passes_gradcheck():
    """Every input of the per-Gaussian kernel, B = 2, triangles shared by several Gaussians, zero rotations."""
    head, vertices, psi = random_head(2, seed=4)
    p = head.gaussian_params
    table = torch.randn(2, 7, 23, dtype=torch.float64)
    inputs = [
        table, p["eta_logits"], p["local_means"], p["local_quats"], p["local_log_scales"], p["sh_dc"], p["sh_rest"],
        torch.randn(2, 4, dtype=torch.float64), p["bs_pos"], p["bs_rot"], p["bs_color"],
    ]  # fmt: skip
    inputs = [x.detach().clone().requires_grad_() for x in inputs]

    def fn(table, *args):
        return fused.bind_gaussians_fused(table, head.triangle_ids, *args)

    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6)
