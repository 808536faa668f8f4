"""The vertex-subset LBS reproduces the full head model on the chosen vertices."""

import pytest
import torch
from _motion_fixtures import one_thread as _one_thread  # noqa: E402
from _motion_fixtures import tiny_head

from talkinghead_edu.motion import head_vertices
from talkinghead_edu.motion.vertex_subset import VertexSubsetHead

single_thread = pytest.fixture(autouse=True)(_one_thread)


def test_subset_matches_full_model_with_pose_correctives_and_dense_regressor():
    head = tiny_head()
    g = torch.Generator().manual_seed(3)
    head.posedirs.copy_(0.002 * torch.randn(head.posedirs.shape, generator=g))
    regressor = torch.rand(head.J_regressor.shape, generator=g)
    head.J_regressor.copy_(regressor / regressor.sum(1, keepdim=True))  # joints depend on every vertex
    params = 0.3 * torch.randn(2, 7, 12, generator=g)  # (B, T, P): expression, jaw, neck
    ids = torch.tensor([30, 2, 17, 5, 5, 33])
    expected = head_vertices(head, params)[:, :, ids]
    got = VertexSubsetHead(head, ids)(params)
    assert got.shape == (2, 7, 6, 3)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)


def test_subset_gradient_flows_and_bad_ids():
    head = tiny_head()
    params = torch.zeros(3, 12, requires_grad=True)
    VertexSubsetHead(head, head.lip_vertex_ids)(params).sum().backward()
    assert params.grad.abs().sum() > 0
    for bad in (torch.tensor([], dtype=torch.long), torch.tensor([head.n_vertices])):
        with pytest.raises(ValueError, match="vertex_ids"):
            VertexSubsetHead(head, bad)
