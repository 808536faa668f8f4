"""Adaptive density control with inherited binding."""

from __future__ import annotations

import torch

from talkinghead_edu.gaussians import DensityConfig, DensityController, GaussianHead, protect_last_per_triangle
from talkinghead_edu.gaussians.density import reset_opacity


def _setup(per_triangle: int = 2):
    verts = torch.tensor([[0.0, 0.0, 0.0], [0.01, 0.0, 0.0], [0.0, 0.01, 0.0], [0.0, 0.0, 0.01]])
    faces = torch.tensor([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    head = GaussianHead(faces, psi_dim=4, latent_dim=3, gaussians_per_triangle=per_triangle)
    with torch.no_grad():
        for name, param in head.gaussian_params.items():
            param.add_(0.01 * torch.randn(param.shape, generator=torch.Generator().manual_seed(len(name))))
    optimizer = torch.optim.Adam([{"params": [p], "lr": 1e-3} for p in head.gaussian_params.values()])
    # one Adam step so every parameter has moments
    out = head(verts, torch.zeros(1, 4))
    (
        out.means.sum() + out.quats[..., 1:].sum() + out.colors.sum() + out.opacity_logits.sum() + out.log_scales.sum()
    ).backward()
    optimizer.step()
    return verts, head, optimizer, out


def test_protect_last_per_triangle_keeps_the_most_opaque():
    triangle_ids = torch.tensor([0, 0, 1, 1, 2])
    logits = torch.tensor([0.0, 1.0, -1.0, 2.0, 0.0])
    prune = torch.tensor([True, True, True, False, True])
    kept = protect_last_per_triangle(prune, triangle_ids, logits, num_triangles=4)
    assert kept.tolist() == [True, False, True, False, False]


def test_clone_and_split_children_inherit_everything_and_optimizer_follows():
    verts, head, optimizer, out = _setup()
    n = head.num_gaussians
    world_log_scales = out.log_scales[0].detach()
    sizes = world_log_scales.exp().amax(-1)
    threshold = float(sizes.median())  # the small half is cloned, the large half split
    config = DensityConfig(grad_threshold=0.0, clone_max_size=threshold, prune_opacity=0.0, prune_max_size=1.0)
    controller = DensityController(config)
    controller.grad_sum = torch.ones(n)
    controller.seen = torch.ones(n)
    clone = sizes <= threshold
    assert clone.any() and (~clone).any(), "the toy needs both small and large Gaussians"
    before = {k: v.detach().clone() for k, v in head.gaussian_params.items()}
    triangles_before = head.triangle_ids.clone()
    stats = controller.densify_and_prune(head, optimizer, world_log_scales, torch.Generator().manual_seed(0))
    assert stats["cloned"] == int(clone.sum()) and stats["split"] == int((~clone).sum())
    assert head.num_gaussians == n + stats["cloned"] + stats["split"]
    keep, n_clone = ~(~clone), int(clone.sum())
    # layout: [not split] + [clones] + [2 × split children]
    expected_triangles = torch.cat(
        [triangles_before[keep], triangles_before[clone], triangles_before[~clone].repeat(2)]
    )
    assert torch.equal(head.triangle_ids, expected_triangles)
    p = head.gaussian_params
    m = int(keep.sum())
    for name in ("eta_logits", "bs_pos", "bs_rot", "bs_color", "sh_dc", "opacity_logits", "local_quats"):
        torch.testing.assert_close(p[name][m : m + n_clone], before[name][clone])  # clones: exact copies
        torch.testing.assert_close(
            p[name][m + n_clone :], before[name][~clone].repeat(2, *([1] * (before[name].dim() - 1)))
        )
    torch.testing.assert_close(
        p["local_log_scales"][m + n_clone :],
        before["local_log_scales"][~clone].repeat(2, 1) - torch.log(torch.tensor(1.6)),
    )
    assert not torch.allclose(
        p["local_means"][m + n_clone :], before["local_means"][~clone].repeat(2, 1)
    )  # children were moved
    # the optimizer now holds the new tensors, with zeroed moments for the new rows
    params_in_optimizer = [g["params"][0] for g in optimizer.param_groups]
    for name, param in p.items():
        assert any(param is q for q in params_in_optimizer)
        state = optimizer.state[param]
        assert state["exp_avg"].shape == param.shape
        assert state["exp_avg"][m:].abs().sum() == 0
        if name in ("local_means", "local_log_scales", "sh_dc", "opacity_logits"):  # had gradients in _setup
            assert state["exp_avg"][:m].abs().sum() > 0, name
    # training continues with the new tensors
    out = head(verts, torch.zeros(1, 4))
    out.means.sum().backward()
    optimizer.step()


def test_prune_removes_transparent_gaussians_but_never_empties_a_triangle():
    verts, head, optimizer, out = _setup(per_triangle=2)
    with torch.no_grad():
        head.gaussian_params["opacity_logits"][:] = -10.0  # everything transparent...
        head.gaussian_params["opacity_logits"][2] = 5.0  # ...except one Gaussian of triangle 1
    controller = DensityController(DensityConfig(grad_threshold=1e9))
    controller.grad_sum = torch.zeros(8)
    controller.seen = torch.ones(8)
    stats = controller.densify_and_prune(head, optimizer, out.log_scales[0].detach())
    assert stats["pruned"] == 4
    assert sorted(head.triangle_ids.tolist()) == [0, 1, 2, 3]
    assert 5.0 in head.gaussian_params["opacity_logits"].tolist()


def test_opacity_reset_and_schedule():
    verts, head, optimizer, out = _setup()
    reset_opacity(head, optimizer, 0.01)
    assert torch.sigmoid(head.gaussian_params["opacity_logits"]).max() <= 0.01 + 1e-6
    controller = DensityController(DensityConfig(refine_start=0, refine_every=10, reset_every=0, grad_threshold=1e9))
    out = head(verts)
    out.means.sum().backward()
    means2d = torch.zeros(head.num_gaussians, 2, requires_grad=True)
    (means2d * torch.arange(head.num_gaussians).unsqueeze(1)).sum().backward()
    controller.accumulate(means2d, torch.ones(head.num_gaussians, dtype=torch.bool), 64, 64)
    assert controller.step(5, head, optimizer, out.log_scales[0].detach()) is None
    stats = controller.step(10, head, optimizer, out.log_scales[0].detach())
    assert stats is not None and stats["step"] == 10 and controller.history == [stats]
