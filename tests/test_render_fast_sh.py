"""The numba SH colour (forward and hand-written backward) against :func:`sh_to_rgb` under autograd.

float64 inputs, every degree, colours clamped at 0 for some Gaussians (the clamp's gradient
mask); tolerance 1e-10 relative to each tensor's largest value.
"""

import pytest
import torch

from talkinghead_edu.render import fast, sh_to_rgb

pytestmark = pytest.mark.skipif(not fast.available(), reason="numba kernels unavailable (see the warning)")


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_values_and_gradients_match_autograd(degree):
    from talkinghead_edu.render.fast_sh import sh_to_rgb_fast

    generator = torch.Generator().manual_seed(degree)
    coeffs = torch.randn(300, (degree + 1) ** 2, 3, generator=generator, dtype=torch.float64)
    means = torch.randn(300, 3, generator=generator, dtype=torch.float64)
    center = torch.tensor([0.1, -0.2, 1.5], dtype=torch.float64)
    weights = torch.randn(300, 3, generator=generator, dtype=torch.float64)
    results = []
    for fn in (lambda c, m: sh_to_rgb(c, m - center), lambda c, m: sh_to_rgb_fast(c, m, center)):
        c, m = coeffs.clone().requires_grad_(), means.clone().requires_grad_()
        rgb = fn(c, m)
        (rgb * weights).sum().backward()
        results.append({"rgb": rgb, "grad coeffs": c.grad, "grad means": m.grad})
    reference, ours = results
    assert (reference["rgb"] == 0).any() and (reference["rgb"] > 0).any()  # both sides of the clamp are exercised
    for name, expected in reference.items():
        if expected is None:  # degree 0: the colour does not depend on the direction
            assert name == "grad means" and degree == 0 and torch.all(ours[name] == 0)
            continue
        scale = expected.abs().max().item()
        torch.testing.assert_close(ours[name], expected, atol=1e-10 * scale, rtol=0, msg=name)
