"""Fréchet distance vs closed forms; LPIPS / FID code paths on a tiny random backbone read from a file."""

from fractions import Fraction

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from talkinghead_edu.eval.perceptual import (
    LPIPS,
    FeatureTaps,
    alexnet_features,
    feature_statistics,
    fid,
    frechet_distance,
    frechet_distance_of_features,
    load_backbone,
    load_state_dict_file,
    vgg16_features,
)


def _random_spd(n, g):
    a = torch.randn(n, n, generator=g, dtype=torch.float64)
    return a @ a.T + 0.1 * torch.eye(n, dtype=torch.float64)


def test_frechet_diagonal_closed_form():
    # diagonal covariances: FD = |mu1 - mu2|^2 + sum (sigma1 - sigma2)^2
    mu1, mu2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    s1, s2 = torch.tensor([1.0, 2.0, 0.5]), torch.tensor([3.0, 2.0, 1.5])
    expected = float(((mu1 - mu2) ** 2).sum() + ((s1 - s2) ** 2).sum())
    assert frechet_distance(mu1, torch.diag(s1**2), mu2, torch.diag(s2**2)) == pytest.approx(expected, rel=1e-10)


def test_frechet_general_matches_scipy_sqrtm():
    g = torch.Generator().manual_seed(0)
    c1, c2 = _random_spd(6, g), _random_spd(6, g)
    m1, m2 = torch.randn(6, generator=g, dtype=torch.float64), torch.randn(6, generator=g, dtype=torch.float64)
    cross = scipy.linalg.sqrtm(c1.numpy() @ c2.numpy()).real  # the usual (non-symmetric) form
    expected = float(((m1 - m2) ** 2).sum()) + np.trace(c1.numpy()) + np.trace(c2.numpy()) - 2 * np.trace(cross)
    assert frechet_distance(m1, c1, m2, c2) == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(m1, c1, m1, c1) == pytest.approx(0.0, abs=1e-8)


def test_frechet_from_samples_approaches_the_gaussians():
    g = torch.Generator().manual_seed(1)
    n = 40000
    a = torch.randn(n, 2, generator=g) * torch.tensor([1.0, 2.0])
    b = torch.randn(n, 2, generator=g) * torch.tensor([2.0, 2.0]) + torch.tensor([3.0, 0.0])
    # exact: 3^2 + (1 - 2)^2 + (2 - 2)^2 = 10
    assert frechet_distance_of_features(a, b) == pytest.approx(10.0, rel=0.03)
    mean, cov = feature_statistics(a)
    torch.testing.assert_close(cov, torch.tensor([[1.0, 0.0], [0.0, 4.0]], dtype=torch.float64), atol=0.08, rtol=0.03)


def _tiny_backbone():
    torch.manual_seed(0)
    layers = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU()
    )
    return FeatureTaps(layers, (1, 3))


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_backbone_round_trip_through_a_file(tmp_path, suffix):
    source = _tiny_backbone()
    path = tmp_path / f"tiny{suffix}"
    state = {k: v.clone() for k, v in source.state_dict().items()}
    state["classifier.weight"] = torch.zeros(2, 2)  # other parts of a full network are ignored
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save(state, path)
    target = FeatureTaps(
        nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU()),
        (1, 3),
    )
    load_backbone(target, path)
    x = torch.rand(2, 3, 12, 12)
    for a, b in zip(source(x), target(x)):
        torch.testing.assert_close(a, b)


def test_pickled_objects_and_wrong_files_are_refused(tmp_path):
    bad = tmp_path / "object.pt"
    torch.save({"weight": Fraction(1, 2)}, bad)  # an arbitrary class: only a full unpickler would build it
    with pytest.raises(ValueError, match="not a plain state dict"):
        load_state_dict_file(bad)
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        load_state_dict_file(tmp_path / "missing.safetensors")
    with pytest.raises(ValueError, match="expected .safetensors"):
        load_state_dict_file(bad.rename(tmp_path / "weights.npz"))
    short = tmp_path / "short.safetensors"
    from safetensors.torch import save_file

    save_file({"features.0.weight": torch.zeros(8, 3, 3, 3)}, str(short))
    with pytest.raises(ValueError, match="lacks backbone weights"):
        load_backbone(_tiny_backbone(), short)


def test_lpips_matches_a_hand_computation():
    backbone = _tiny_backbone()
    weights = [torch.rand(8), torch.rand(16)]
    metric = LPIPS(backbone, weights)
    g = torch.Generator().manual_seed(3)
    x, y = torch.rand(2, 10, 10, 3, generator=g), torch.rand(2, 10, 10, 3, generator=g)
    prep = lambda im: ((im.permute(0, 3, 1, 2) * 2 - 1) - metric.shift) / metric.scale  # noqa: E731
    expected = torch.zeros(2)
    for w, fx, fy in zip(weights, backbone(prep(x)), backbone(prep(y))):
        nx = fx / (fx.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        ny = fy / (fy.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        expected += (w.view(1, -1, 1, 1) * (nx - ny) ** 2).sum(1).mean((1, 2))
    torch.testing.assert_close(metric(x, y), expected, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(metric(x, x), torch.zeros(2))
    torch.testing.assert_close(metric(x, y), metric(y, x))
    assert (
        LPIPS.linear_weights_from_state(
            {"lin1.model.1.weight": torch.ones(1, 16, 1, 1), "lin0.model.1.weight": torch.ones(1, 8, 1, 1)}
        )[0].shape[1]
        == 8
    )


def test_fid_code_path_on_a_tiny_backbone():
    backbone = _tiny_backbone()
    g = torch.Generator().manual_seed(4)
    real = torch.rand(40, 8, 8, 3, generator=g)
    assert fid(real, real, backbone) == pytest.approx(0.0, abs=1e-6)
    darker = real * 0.5
    expected = frechet_distance_of_features(
        backbone(real.permute(0, 3, 1, 2) * 2 - 1)[-1].mean((2, 3)),
        backbone(darker.permute(0, 3, 1, 2) * 2 - 1)[-1].mean((2, 3)),
    )
    assert fid(real, darker, backbone, batch=7) == pytest.approx(expected, rel=1e-6)
    assert expected > 0


def test_named_architectures_have_torchvision_layout():
    assert "features.10.weight" in alexnet_features().state_dict()
    assert alexnet_features()(torch.rand(1, 3, 64, 64))[-1].shape[1] == 256
    assert "features.28.weight" in vgg16_features().state_dict()
