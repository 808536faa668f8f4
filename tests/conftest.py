"""Session set-up shared by every test process.

The numba kernels (rasterizer, projection, SH, binding) take over a minute of CPU to compile on this
2-core machine and are cached on disk after the first compilation. On a fresh checkout every process that
needs them before the cache exists compiles them again — both xdist workers and each notebook kernel
started early — so the controller compiles them once, before xdist starts its workers.
"""

import pytest
import torch


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    if hasattr(session.config, "workerinput"):  # an xdist worker: the controller has warmed the cache
        return
    from talkinghead_edu.gaussians import GaussianHead, fused, psi_from_flame
    from talkinghead_edu.render import Camera, fast, render

    if not (fast.available() and fused.available("cpu")):
        return  # no numba: the tests that need it say so themselves
    # one float32 frame of a tiny head, forward and backward: the kernels the notebooks and most tests use
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    vertices = torch.tensor([[[-0.1, -0.1, 0.0], [0.1, -0.1, 0.0], [0.1, 0.1, 0.0], [-0.1, 0.1, 0.0]]])
    head = GaussianHead(faces, psi_dim=5, gaussians_per_triangle=2, sh_degree=1, latent_dim=4, seed=0)
    camera = Camera.look_at((0.0, 0.0, 1.0), (0, 0, 0), fov_y_deg=30, width=32, height=32)
    bound = head(vertices, psi_from_flame(torch.zeros(1, 3), torch.zeros(1, 2)))
    render(bound.frame(0), camera, backend="fast").image.sum().backward()
