"""The numba projection (forward and hand-written backward) against the PyTorch projection under autograd.

float64 inputs; tolerance 1e-9 relative to each tensor's largest value. The scene has
splats behind the camera, beyond the near plane and far outside the field of view (the
Jacobian's clamp is active there), and degenerate (needle) scales.
"""

import math

import pytest
import torch

from talkinghead_edu.render import Camera, Gaussians, fast, project_gaussians

pytestmark = pytest.mark.skipif(not fast.available(), reason="numba kernels unavailable (see the warning)")


def scene():
    g = Gaussians.random(400, extent=0.4, scale=0.03, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    means, log_scales = g.means.clone(), g.log_scales.clone()
    means[:20, 2] += 1.5  # behind the camera (at z = 1, looking toward −z)
    means[20:40, 0] += 1.5  # outside the image: the x/z clamp of the Jacobian is active
    means[40:45, 2] = 0.995  # in front of the camera but closer than the near plane
    log_scales[45:60, 1:] = math.log(1e-7)  # needles
    cam = Camera.look_at((0.1, 0.05, 1.0), (0, 0, 0), fov_y_deg=40, width=64, height=48, dtype=torch.float64)
    return Gaussians(means, g.quats * 3.0, log_scales, g.opacity_logits, g.colors), cam


def test_values_and_gradients_match_autograd():
    from talkinghead_edu.render.fast_projection import project_gaussians_fast

    g, cam = scene()
    results = []
    for project in (project_gaussians, project_gaussians_fast):
        params = g.detach().requires_grad_()
        p = project(params.means, params.quats, params.scales, params.opacities, cam, 0.3)
        generator = torch.Generator().manual_seed(1)
        loss = sum(
            (t * torch.randn(t.shape, generator=generator, dtype=torch.float64)).sum()
            for t in (p.means2d, p.conics, p.depths)
        )
        loss.backward()
        results.append(
            {
                "means2d": p.means2d,
                "conics": p.conics,
                "depths": p.depths,
                "radii": p.radii,
                "grad means": params.means.grad,
                "grad quats": params.quats.grad,
                "grad log_scales": params.log_scales.grad,
            }
        )
    reference, ours = results
    assert torch.equal(ours["radii"], reference["radii"])
    for name, expected in reference.items():
        scale = expected.abs().max().item()
        torch.testing.assert_close(ours[name].double(), expected.double(), atol=1e-9 * scale, rtol=0, msg=name)
    assert (reference["radii"][:20] == 0).all() and (reference["radii"][40:45] == 0).all()
    assert (reference["radii"][60:] > 0).any()
