"""Procedural textures of the target speakers: noise, baking on the head asset, creases."""

import numpy as np
import pytest

from talkinghead_edu.paths import ASSETS_DIR
from talkinghead_edu.semantics import LABEL_IDS
from talkinghead_edu.synth.mesh_render import face_values, interpolate, rasterize_uv
from talkinghead_edu.synth.textures import (
    CREASE_NAMES,
    Appearance,
    _hash01,
    apply_creases,
    bake_textures,
    crease_intensity,
    crease_weights,
    fractal_noise,
    landmarks_on_template,
    value_noise,
)

SIZE = 256


@pytest.fixture(scope="module")
def head():
    with np.load(ASSETS_DIR / "procedural_head.npz", allow_pickle=False) as asset:
        return {k: asset[k] for k in asset.files}


@pytest.fixture(scope="module")
def texel_layout(head):
    """Per-texel rest position and label, computed here from the UV rasterization."""
    fragments = rasterize_uv(head["vt"], head["ft"], SIZE)
    points = interpolate(head["v_template"][head["f"]], fragments)
    labels = face_values(head["face_labels"], fragments)
    return fragments.covered, points, labels


def test_value_noise_interpolates_the_lattice_values():
    lattice = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [-4.0, 5.0, 1.0]])
    expected = 2.0 * _hash01(lattice[:, 0].astype(int), lattice[:, 1].astype(int), lattice[:, 2].astype(int), 3) - 1.0
    np.testing.assert_allclose(value_noise(lattice, 1.0, seed=3), expected, atol=1e-12)


def test_value_noise_is_bounded_smooth_and_seeded():
    points = np.random.default_rng(0).uniform(-1, 1, (2000, 3))
    noise = value_noise(points, 7.0, seed=1)
    assert noise.min() >= -1 and noise.max() <= 1 and noise.std() > 0.1
    np.testing.assert_array_equal(noise, value_noise(points, 7.0, seed=1))
    assert not np.allclose(noise, value_noise(points, 7.0, seed=2))
    # Lipschitz: trilinear blend of values in [0, 1] with smoothstep (slope <= 1.5 per cell)
    # -> |dn| <= 2 * 1.5 * 3 * f * |dp|
    step = 1e-4
    shifted = value_noise(points + step, 7.0, seed=1)
    assert np.abs(shifted - noise).max() <= 2 * 1.5 * 3 * 7.0 * step * np.sqrt(3)
    assert np.abs(fractal_noise(points, 7.0, 4, 1)).max() <= 1.0


def test_baked_colours_follow_the_semantic_regions(head, texel_layout):
    covered, _, labels = texel_layout
    textures = bake_textures(head, Appearance(), size=SIZE, seed=0)
    assert textures.albedo.shape == (SIZE, SIZE, 3) and textures.creases.shape == (len(CREASE_NAMES), SIZE, SIZE)
    assert textures.albedo.min() >= 0 and textures.albedo.max() <= 1
    mean = {
        name: textures.albedo[covered & (labels == LABEL_IDS[name])].mean(axis=0)
        for name in ("skin", "lips", "mouth_interior", "teeth", "eyes", "hair")
    }
    redness = lambda rgb: rgb[0] / rgb[1]  # noqa: E731
    assert redness(mean["lips"]) > redness(mean["skin"])
    assert mean["mouth_interior"].sum() < 0.5 * mean["skin"].sum()
    assert mean["teeth"].min() > mean["skin"].min()
    eye_texels = textures.albedo[covered & (labels == LABEL_IDS["eyes"])]
    assert eye_texels.sum(1).max() > 2.4 and eye_texels.sum(1).min() < 0.2  # white sclera, black pupil
    assert mean["hair"].sum() < mean["skin"].sum()
    # no texel is left empty (gaps filled from the nearest island)
    assert (textures.albedo.sum(-1) > 0).all()


def test_creases_sit_where_they_belong(head, texel_layout):
    covered, points, labels = texel_layout
    landmarks = landmarks_on_template(head)
    creases = crease_intensity(points[covered], labels[covered], landmarks)
    assert creases.shape == (3, covered.sum()) and creases.min() >= 0 and creases.max() <= 1
    assert (creases[:, labels[covered] != LABEL_IDS["skin"]] == 0).all(), "only skin creases"
    smile, brow_raise, frown = (c > 0.5 for c in creases)
    assert smile.sum() > 0 and brow_raise.sum() > 0 and frown.sum() > 0
    y = points[covered][:, 1]
    brow_top = landmarks[17:27, 1].max()
    assert (y[brow_raise] > brow_top).all(), "forehead lines above the brows"
    mouth_y, eye_y = landmarks[48:60, 1].mean(), landmarks[36:48, 1].mean()
    assert (y[smile] < eye_y + 0.01).all() and (y[smile] > mouth_y - 0.03).all(), "smile creases between eyes and chin"
    assert (np.abs(points[covered][frown, 0]) < 0.02).all(), "frown lines between the brows"


def test_crease_weights_and_their_effect():
    names = ["jaw_open", "smile", "brow_raise", "brow_frown"]
    articulation = np.array([[0.5, 0.2, 1.5, -0.3]])
    np.testing.assert_allclose(crease_weights(articulation, names), [[0.2, 1.0, 0.0]])
    with pytest.raises(KeyError, match="brow_frown"):
        crease_weights(articulation[:, :3], names[:3])
    with pytest.raises(ValueError, match="columns"):
        crease_weights(articulation, names[:3])
    albedo = np.full((2, 3), 0.8, np.float32)
    creases = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5]], np.float32)
    darkened = apply_creases(albedo, creases, np.array([1.0, 0.0, 1.0]), depth=0.5)
    np.testing.assert_allclose(darkened[0], 0.8 * (1 - 0.5 * 1.0))
    np.testing.assert_allclose(darkened[1], 0.8 * (1 - 0.5 * 1.0))  # 0.5 + 0.5 clipped at 1
    np.testing.assert_allclose(apply_creases(albedo, creases, np.zeros(3), 0.5), albedo)
