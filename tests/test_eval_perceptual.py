"""Fréchet distance vs closed forms; LPIPS / FID code paths on a tiny random backbone read from a file;
Inception-v3 (the paper's FID network) in torchvision's layout."""

from fractions import Fraction

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F
from torch import nn

from talkinghead_edu.eval.inception import inception_v3_features, load_inception_v3
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


@pytest.mark.parametrize("sizes", [(4, 5), (3, 30)])
def test_frechet_of_few_samples_uses_an_exact_identity(sizes):
    # N < D: the sample (SVD) form must equal the covariance (eigh) form
    g = torch.Generator().manual_seed(7)
    a = torch.randn(sizes[0], 8, generator=g, dtype=torch.float64)
    b = 2 * torch.randn(sizes[1], 8, generator=g, dtype=torch.float64) + 1
    expected = frechet_distance(*feature_statistics(a), *feature_statistics(b))
    # the eigh reference takes square roots of rank-deficient matrices: zero eigenvalues come out as
    # ±1e-16·scale, whose square roots are ~1e-8·scale — so agreement to 1e-6, not to 1e-12
    assert frechet_distance_of_features(a, b) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance_of_features(a, a) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="of one D"):
        frechet_distance_of_features(a, b[:, :5])


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


# --------------------------------------------------------------------------- Inception-v3 (paper's FID network)
# torchvision's Inception3 feature part: block -> conv units (each ``conv.weight`` + ``bn.{weight, bias,
# running_mean, running_var, num_batches_tracked}``); the 5 stem convs are units of their own.
_STEM = ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3"]
_BRANCHES = {
    "A": "branch1x1 branch5x5_1 branch5x5_2 branch3x3dbl_1 branch3x3dbl_2 branch3x3dbl_3 branch_pool",
    "B": "branch3x3 branch3x3dbl_1 branch3x3dbl_2 branch3x3dbl_3",
    "C": "branch1x1 branch7x7_1 branch7x7_2 branch7x7_3 branch7x7dbl_1 branch7x7dbl_2 branch7x7dbl_3 "
    "branch7x7dbl_4 branch7x7dbl_5 branch_pool",
    "D": "branch3x3_1 branch3x3_2 branch7x7x3_1 branch7x7x3_2 branch7x7x3_3 branch7x7x3_4",
    "E": "branch1x1 branch3x3_1 branch3x3_2a branch3x3_2b branch3x3dbl_1 branch3x3dbl_2 branch3x3dbl_3a "
    "branch3x3dbl_3b branch_pool",
}
_BLOCKS = {"Mixed_5b": "A", "Mixed_5c": "A", "Mixed_5d": "A", "Mixed_6a": "B", "Mixed_6b": "C", "Mixed_6c": "C"}
_BLOCKS.update({"Mixed_6d": "C", "Mixed_6e": "C", "Mixed_7a": "D", "Mixed_7b": "E", "Mixed_7c": "E"})
_UNIT = ["conv.weight", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"]


def _inception_parameter_count() -> int:
    """Parameters of the feature part from the architecture: conv c_in·c_out·kh·kw + BN scale and shift (2·c_out)."""
    p = lambda ci, co, kh, kw: ci * co * kh * kw + 2 * co  # noqa: E731
    stem = p(3, 32, 3, 3) + p(32, 32, 3, 3) + p(32, 64, 3, 3) + p(64, 80, 1, 1) + p(80, 192, 3, 3)
    a = lambda ci, pool: (
        (  # noqa: E731
            p(ci, 64, 1, 1) + p(ci, 48, 1, 1) + p(48, 64, 5, 5) + p(ci, 64, 1, 1) + p(64, 96, 3, 3) + p(96, 96, 3, 3)
        )
        + p(ci, pool, 1, 1)
    )
    b = p(288, 384, 3, 3) + p(288, 64, 1, 1) + p(64, 96, 3, 3) + p(96, 96, 3, 3)
    c = lambda c7: (  # noqa: E731
        2 * p(768, 192, 1, 1) + 2 * p(768, c7, 1, 1) + 4 * p(c7, c7, 1, 7) + 2 * p(c7, 192, 1, 7)
    )
    d = p(768, 192, 1, 1) + p(192, 320, 3, 3) + p(768, 192, 1, 1) + 2 * p(192, 192, 1, 7) + p(192, 192, 3, 3)
    e = lambda ci: (
        (  # noqa: E731
            p(ci, 320, 1, 1) + p(ci, 384, 1, 1) + 4 * p(384, 384, 1, 3) + p(ci, 448, 1, 1) + p(448, 384, 3, 3)
        )
        + p(ci, 192, 1, 1)
    )
    return stem + a(192, 32) + a(256, 64) + a(288, 64) + b + c(128) + 2 * c(160) + c(192) + d + e(1280) + e(2048)


def _randomised_inception(seed: int, tf_pooling: bool = False):
    """An Inception-v3 with random weights that keep activations O(1) (He-normal convs, random BN statistics)."""
    g = torch.Generator().manual_seed(seed)
    model = inception_v3_features(tf_pooling=tf_pooling)
    with torch.no_grad():
        for name, t in model.state_dict().items():  # the state dict's tensors are the module's
            if name.endswith("conv.weight"):
                t.normal_(0.0, (2.0 / t[0].numel()) ** 0.5, generator=g)
            elif name.endswith(("bn.weight", "running_var")):
                t.uniform_(0.5, 1.5, generator=g)
            elif name.endswith(("bn.bias", "running_mean")):
                t.uniform_(-0.1, 0.1, generator=g)
    return model


def test_inception_has_torchvision_key_set_and_parameter_count():
    model = inception_v3_features()
    units = _STEM + [f"{block}.{branch}" for block, kind in _BLOCKS.items() for branch in _BRANCHES[kind].split()]
    expected = {f"{unit}.{leaf}" for unit in units for leaf in _UNIT}
    assert set(model.state_dict()) == expected and len(expected) == 94 * 6
    assert _inception_parameter_count() == 21_785_568  # torchvision's 27,161,264 minus fc and AuxLogits
    assert sum(p.numel() for p in model.parameters()) == 21_785_568
    shapes = model.state_dict()
    assert shapes["Mixed_6b.branch7x7_2.conv.weight"].shape == (128, 128, 1, 7)
    assert shapes["Mixed_7c.branch3x3dbl_1.conv.weight"].shape == (448, 2048, 1, 1)
    assert shapes["Mixed_7a.branch3x3_2.conv.weight"].shape == (320, 192, 3, 3)
    assert all(m.eps == 0.001 for m in model.modules() if isinstance(m, nn.BatchNorm2d))


def test_inception_round_trip_through_safetensors_ignores_classifier_heads(tmp_path):
    from safetensors.torch import save_file

    source = _randomised_inception(0)
    state = {k: v.clone() for k, v in source.state_dict().items()}
    state |= {"fc.weight": torch.zeros(1000, 2048), "fc.bias": torch.zeros(1000)}  # heads of the full network
    state |= {"AuxLogits.conv0.conv.weight": torch.zeros(128, 768, 1, 1), "AuxLogits.fc.bias": torch.zeros(1000)}
    save_file(state, str(tmp_path / "inception.safetensors"))
    loaded = load_inception_v3(tmp_path / "inception.safetensors")
    images = torch.rand(2, 3, 299, 299, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = source(images), loaded(images)
    assert got.shape == (2, 2048)
    assert torch.equal(got, expected)
    assert torch.isfinite(got).all() and got.std() > 1e-3  # not a network that maps everything to ~0
    assert not loaded.training


def test_inception_loads_a_file_without_batch_counters(tmp_path):
    source = _randomised_inception(2)
    state = {k: v for k, v in source.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "old.pth")  # older torchvision files lack the counters
    loaded = load_inception_v3(tmp_path / "old.pth")
    for name, value in loaded.state_dict().items():
        if not name.endswith("num_batches_tracked"):
            assert torch.equal(value, state[name]), name


def test_inception_refuses_truncated_and_misshaped_files(tmp_path):
    from safetensors.torch import save_file

    state = {k: v.clone() for k, v in inception_v3_features().state_dict().items()}
    truncated = {k: v for k, v in state.items() if not k.startswith("Mixed_7c.")}
    save_file(truncated, str(tmp_path / "truncated.safetensors"))
    with pytest.raises(ValueError, match=r"lacks backbone weights: 45 of 564 .*Mixed_7c\.branch1x1\.conv\.weight"):
        load_inception_v3(tmp_path / "truncated.safetensors")
    state["Mixed_5b.branch_pool.conv.weight"] = torch.zeros(64, 192, 1, 1)  # Mixed_5c's width, not 5b's
    save_file(state, str(tmp_path / "misshaped.safetensors"))
    with pytest.raises(ValueError, match=r"Mixed_5b\.branch_pool\.conv\.weight: file has \(64, 192, 1, 1\)"):
        load_inception_v3(tmp_path / "misshaped.safetensors")
    with pytest.raises(ValueError, match="H, W >= 75"):
        inception_v3_features()(torch.rand(1, 3, 64, 64))


def test_inception_tf_pooling_changes_only_the_pooling():
    # same weights, same keys; counting padding or not changes the border of every pool branch
    default, tf = _randomised_inception(3), _randomised_inception(3, tf_pooling=True)
    assert set(default.state_dict()) == set(tf.state_dict())
    x = torch.rand(2, 192, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(
            tf.Mixed_5b.branch_pool(F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)), tf.Mixed_5b(x)[:, 224:]
        )
        torch.testing.assert_close(default.Mixed_5b.branch_pool(F.avg_pool2d(x, 3, 1, 1)), default.Mixed_5b(x)[:, 224:])
        x8 = torch.rand(2, 2048, 4, 4)
        torch.testing.assert_close(tf.Mixed_7c.branch_pool(F.max_pool2d(x8, 3, 1, 1)), tf.Mixed_7c(x8)[:, -192:])
        images = torch.rand(2, 3, 107, 107)
        assert not torch.allclose(default(images), tf(images))


def test_fid_with_inception_features():
    model = _randomised_inception(4)
    g = torch.Generator().manual_seed(5)
    real = torch.rand(3, 48, 48, 3, generator=g)
    fake = (real + 0.3 * torch.rand(3, 48, 48, 3, generator=g)).clamp(0, 1)
    with torch.no_grad():
        resized = lambda im: F.interpolate(  # noqa: E731
            im.permute(0, 3, 1, 2), size=(107, 107), mode="bilinear", antialias=True, align_corners=False
        )
        f_real, f_fake = model(resized(real)), model(resized(fake))
    assert f_real.shape == (3, 2048)
    expected = frechet_distance_of_features(f_real, f_fake)
    assert expected > 0
    assert fid(real, fake, model, batch=3, size=107) == pytest.approx(expected, rel=1e-6)
    scale = float(feature_statistics(f_real)[1].trace())  # tr Σ: the size of a typical distance
    assert 0 <= fid(real, real, model, batch=2, size=107) < 1e-8 * scale
