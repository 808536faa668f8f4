"""Tests for talkinghead_edu.flame.model — the FlameModel module and the bundled head.

Two kinds of tests:
* API tests on a small synthetic ``.npz`` written here in the C1 key layout (loading,
  errors, broadcasting, semantics, articulations, finite-difference gradients);
* the issue's required properties on the bundled ``procedural_head.npz``: zero parameters
  give the template exactly, orthonormal bases, a jaw opening of 0.3 rad opens a ≥ 1 cm lip
  gap at the mouth centre and moves the lower teeth, landmarks follow the mesh, global
  rotation equivariance, gradients to every input, float32/float64, batching.
Tolerances are stated next to each comparison.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
import scipy.sparse.csgraph
import torch

from talkinghead_edu.data.speech import ARTICULATION_NAMES
from talkinghead_edu.errors import TalkingHeadError
from talkinghead_edu.flame import FlameModelError, load_head_model
from talkinghead_edu.flame.lbs import batch_rodrigues
from talkinghead_edu.semantics import LABEL_IDS

ARTICULATIONS = ["jaw_open", "smile", "blink_left"]


def synthetic_head_arrays(seed: int = 0, n_shape: int = 4, n_expr: int = 3) -> dict:
    """A small random head in the C1 layout (arbitrary geometry, valid structure)."""
    rng = np.random.default_rng(seed)
    n_verts, n_faces = 30, 40
    regressor = rng.random((5, n_verts)) ** 4
    weights = rng.random((n_verts, 5)) ** 3
    shape_basis = np.linalg.qr(rng.normal(size=(n_verts * 3, n_shape)))[0].reshape(n_verts, 3, n_shape)
    expr_basis = np.linalg.qr(rng.normal(size=(n_verts * 3, n_expr)))[0].reshape(n_verts, 3, n_expr)
    return {
        "v_template": (rng.normal(size=(n_verts, 3)) * 0.1).astype(np.float32),
        "f": rng.integers(0, n_verts, size=(n_faces, 3)).astype(np.int32),
        "shapedirs": np.concatenate([shape_basis, expr_basis], axis=2).astype(np.float32),
        "n_shape": np.array(n_shape),
        "shape_std": np.linspace(0.02, 0.01, n_shape).astype(np.float32),
        "expr_std": np.linspace(0.01, 0.005, n_expr).astype(np.float32),
        "posedirs": (rng.normal(size=(n_verts, 3, 36)) * 1e-3).astype(np.float32),
        "J_regressor": (regressor / regressor.sum(1, keepdims=True)).astype(np.float32),
        "weights": (weights / weights.sum(1, keepdims=True)).astype(np.float32),
        "kintree_table": np.array([[-1, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.int64),
        "lmk_faces_idx": rng.integers(0, n_faces, size=68).astype(np.int32),
        "lmk_bary_coords": rng.dirichlet(np.ones(3), size=68).astype(np.float32),
        "face_labels": rng.integers(1, 9, size=n_faces).astype(np.uint8),
        "articulation_names": np.array(ARTICULATIONS),
        "articulation_expr": rng.normal(size=(3, n_expr)).astype(np.float32),
        "jaw_open_max_rad": np.array(0.35, dtype=np.float32),
    }


@pytest.fixture
def synthetic_path(tmp_path):
    path = tmp_path / "head.npz"
    np.savez(path, **synthetic_head_arrays())
    return path


# ====================================================================== API (synthetic head)
def test_load_synthetic_head_and_sizes(synthetic_path):
    head = load_head_model(synthetic_path)
    assert (head.n_vertices, head.n_faces, head.n_shape, head.n_expr, head.n_joints, head.n_landmarks) == (
        30,
        40,
        4,
        3,
        5,
        68,
    )
    assert head.faces.dtype == torch.long and head.face_labels.dtype == torch.long
    assert head.articulation_names == ARTICULATIONS and head.jaw_open_max_rad == pytest.approx(0.35)
    out = head()
    assert out.vertices.shape == (1, 30, 3) and out.joints.shape == (1, 5, 3) and out.landmarks.shape == (1, 68, 3)


def test_loading_errors_name_the_file_and_what_was_expected(tmp_path):
    with pytest.raises(FlameModelError, match=r"missing\.npz does not exist; expected an \.npz with FLAME's keys"):
        load_head_model(tmp_path / "missing.npz")
    arrays = synthetic_head_arrays()
    del arrays["posedirs"]
    np.savez(tmp_path / "noposedirs.npz", **arrays)
    with pytest.raises(FlameModelError, match=r"noposedirs\.npz lacks the key\(s\) posedirs"):
        load_head_model(tmp_path / "noposedirs.npz")
    arrays = synthetic_head_arrays()
    arrays["weights"] = arrays["weights"][:, :4]
    np.savez(tmp_path / "badweights.npz", **arrays)
    with pytest.raises(FlameModelError, match=r"badweights\.npz: 'weights' must have shape \(30, 5\), got \(30, 4\)"):
        load_head_model(tmp_path / "badweights.npz")
    (tmp_path / "garbage.npz").write_bytes(b"not a zip file")
    with pytest.raises(FlameModelError, match=r"garbage\.npz is not a readable \.npz"):
        load_head_model(tmp_path / "garbage.npz")


def test_parameter_errors_are_clear(synthetic_path):
    head = load_head_model(synthetic_path)
    with pytest.raises(ValueError, match=r"pose must be \(B, 15\)"):
        head(pose=torch.zeros(2, 12))
    with pytest.raises(ValueError, match=r"shape must be \(B, at most 4\)"):
        head(shape=torch.zeros(1, 5))
    with pytest.raises(ValueError, match="expression holds NaN or infinite"):
        head(expression=torch.full((1, 3), float("nan")))
    with pytest.raises(ValueError, match=r"pose holds NaN or infinite"):
        head(pose=torch.full((1, 15), float("-inf")))
    with pytest.raises(ValueError, match=r"translation holds NaN or infinite values \(in torch.float32"):
        head(translation=torch.full((1, 3), 1e39, dtype=torch.float64))  # finite in float64, inf in float32
    with pytest.raises(ValueError, match=r"different batch sizes \{'shape': 2, 'pose': 3\}"):
        head(shape=torch.zeros(2, 4), pose=torch.zeros(3, 15))
    with pytest.raises(TypeError, match="translation must be a floating-point tensor"):
        head(translation=torch.zeros(1, 3, dtype=torch.long))
    with pytest.raises(TalkingHeadError):  # the package's family, catchable as one
        head(pose=torch.zeros(2, 12))


def test_empty_batch_gives_empty_outputs(synthetic_path):
    head = load_head_model(synthetic_path)
    out = head(pose=torch.zeros(0, 15), shape=torch.zeros(1, 4))  # a batch of 1 broadcasts to 0 frames
    assert out.vertices.shape == (0, head.n_vertices, 3)
    assert out.joints.shape == (0, 5, 3) and out.landmarks.shape == (0, head.n_landmarks, 3)


def test_model_arrays_must_be_finite_and_weights_normalised(synthetic_path, tmp_path):
    with np.load(synthetic_path) as archive:
        arrays = dict(archive)
    bad = dict(
        arrays,
        shapedirs=np.where(
            np.arange(arrays["shapedirs"].size).reshape(arrays["shapedirs"].shape) == 7, np.nan, arrays["shapedirs"]
        ),
    )
    np.savez(tmp_path / "nan.npz", **bad)
    with pytest.raises(FlameModelError, match=r"nan\.npz: 'shapedirs' .* holds 1 NaN, infinite or huge value"):
        load_head_model(tmp_path / "nan.npz")
    np.savez(tmp_path / "heavy.npz", **dict(arrays, weights=arrays["weights"] * 3))
    with pytest.raises(
        FlameModelError, match=r"heavy\.npz: skinning 'weights' must be non-negative and sum to 1 per vertex"
    ):
        load_head_model(tmp_path / "heavy.npz")
    with pytest.raises(FlameModelError, match=r"is a folder; expected an \.npz file"):
        load_head_model(tmp_path)


def test_broadcasting_and_fewer_components(synthetic_path):
    head = load_head_model(synthetic_path)
    g = torch.Generator().manual_seed(0)
    expression = torch.randn(4, 3, generator=g)
    shape = torch.randn(4, generator=g)  # one identity for the whole batch, 1-D
    out = head(shape=shape, expression=expression)
    for b in range(4):
        single = head(shape=shape[None], expression=expression[b : b + 1])
        torch.testing.assert_close(out.vertices[b : b + 1], single.vertices, atol=1e-6, rtol=0)  # float32 rounding
    # two of four shape components == padding with zeros
    torch.testing.assert_close(
        head(shape=shape[None, :2]).vertices,
        head(shape=torch.cat([shape[:2], torch.zeros(2)])[None]).vertices,
        atol=0,
        rtol=0,
    )


def test_vertex_ids_and_articulations(synthetic_path):
    arrays = synthetic_head_arrays()
    head = load_head_model(synthetic_path)
    lips = arrays["f"][arrays["face_labels"] == LABEL_IDS["lips"]]
    assert head.lip_vertex_ids.tolist() == sorted(set(lips.reshape(-1).tolist()))
    with pytest.raises(KeyError, match="unknown semantic label 'lipz'"):
        head.vertex_ids("lipz")
    weights = torch.tensor([[0.5, 1.0, 0.0], [0.0, 0.0, 2.0]])
    np.testing.assert_allclose(
        head.expression_from_articulation(weights).numpy(), weights.numpy() @ arrays["articulation_expr"], atol=1e-6
    )
    with pytest.raises(ValueError, match=r"weights must end in A=3 \(jaw_open, smile, blink_left\)"):
        head.expression_from_articulation(torch.zeros(2))
    expression, pose = head.params_from_articulation(head.articulation_weights({"jaw_open": 0.5}))
    expected_pose = torch.zeros(1, 15)
    expected_pose[0, 6] = 0.5 * 0.35  # jaw is joint 2, rotation about +x
    torch.testing.assert_close(pose, expected_pose)
    with pytest.raises(KeyError, match="unknown articulation 'frown'"):
        head.articulation_weights({"frown": 1.0})


def test_model_gradients_match_finite_differences(synthetic_path):
    head = load_head_model(synthetic_path, dtype=torch.float64)
    g = torch.Generator().manual_seed(1)
    inputs = (
        torch.randn(2, 4, generator=g, dtype=torch.float64, requires_grad=True),
        torch.randn(2, 3, generator=g, dtype=torch.float64, requires_grad=True),
        (torch.randn(2, 15, generator=g, dtype=torch.float64) * 0.4).requires_grad_(),
        torch.randn(2, 3, generator=g, dtype=torch.float64, requires_grad=True),
    )

    def posed(shape, expression, pose, translation):
        out = head(shape=shape, expression=expression, pose=pose, translation=translation)
        return out.vertices, out.joints, out.landmarks

    assert torch.autograd.gradcheck(posed, inputs, eps=1e-6, atol=1e-7, fast_mode=True)


# ====================================================================== the bundled head
@pytest.fixture(scope="module")
def head():
    return load_head_model()


@pytest.fixture(scope="module")
def head64():
    return load_head_model(dtype=torch.float64)


def test_bundled_head_sizes(head):
    assert 3000 <= head.n_vertices <= 8000
    assert head.n_shape >= 50 and head.n_expr >= 50
    assert head.n_landmarks == 68 and head.n_joints == 5
    assert head.parents.tolist() == [-1, 0, 1, 1, 1]


def test_zero_parameters_give_the_template_exactly(head):
    out = head()
    assert torch.equal(out.vertices[0], head.v_template)
    out = head(
        shape=torch.zeros(3, head.n_shape),
        expression=torch.zeros(3, head.n_expr),
        pose=torch.zeros(3, 15),
        translation=torch.zeros(3, 3),
    )
    assert torch.equal(out.vertices, head.v_template.expand(3, -1, -1))


def test_bases_are_orthonormal_and_ordered(head64):
    """Each block of shapedirs, as (V·3)-vectors, is orthonormal (float32 storage: atol 1e-4)."""
    for block, std in (
        (head64.shapedirs[:, :, : head64.n_shape], head64.shape_std),
        (head64.shapedirs[:, :, head64.n_shape :], head64.expr_std),
    ):
        basis = block.reshape(-1, block.shape[-1])
        torch.testing.assert_close(basis.T @ basis, torch.eye(basis.shape[1], dtype=torch.float64), atol=1e-4, rtol=0)
        assert std is not None and (std > 0).all() and (std[:-1] >= std[1:]).all(), (
            "components must be ordered by variance"
        )


def _mouth_centre_gap(landmarks: torch.Tensor) -> torch.Tensor:
    """Vertical distance between the inner-lip centre landmarks 62 (upper) and 66 (lower), (B,)."""
    return landmarks[:, 62, 1] - landmarks[:, 66, 1]


def _teeth_rows(head) -> tuple[torch.Tensor, torch.Tensor]:
    """(lower, upper) vertex ids of the teeth, split into connected pieces by mesh connectivity."""
    teeth_faces = head.faces[head.face_labels == LABEL_IDS["teeth"]].numpy()
    assert len(teeth_faces), "no teeth triangles"
    edges = np.concatenate([teeth_faces[:, [0, 1]], teeth_faces[:, [1, 2]], teeth_faces[:, [2, 0]]])
    graph = scipy.sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(head.n_vertices,) * 2)
    _, component = scipy.sparse.csgraph.connected_components(graph, directed=False)
    teeth = np.unique(teeth_faces)
    heights = head.v_template[:, 1].numpy()
    piece_height = {c: heights[teeth[component[teeth] == c]].mean() for c in np.unique(component[teeth])}
    is_lower = np.array([piece_height[c] < heights[teeth].mean() for c in component[teeth]])
    return torch.from_numpy(teeth[is_lower]), torch.from_numpy(teeth[~is_lower])


def test_jaw_opening_opens_the_lips_and_moves_the_lower_teeth(head):
    pose = torch.zeros(1, 15)
    pose[0, 6] = 0.3  # jaw, about +x
    rest, opened = head(), head(pose=pose)
    gap_rest = _mouth_centre_gap(rest.landmarks).item()
    gap_open = _mouth_centre_gap(opened.landmarks).item()
    assert gap_open - gap_rest >= 0.01 and gap_open >= 0.01, (
        f"lip gap {gap_rest * 100:.2f} cm → {gap_open * 100:.2f} cm"
    )
    # lower teeth: the connected pieces of the teeth mesh whose centre lies below the teeth's mean
    # height (each row may be one piece or one per tooth); they must drop with the jaw, the upper stay
    lower, upper = _teeth_rows(head)
    assert lower.numel() > 0 and upper.numel() > 0
    drop = rest.vertices[0, lower, 1] - opened.vertices[0, lower, 1]
    assert drop.mean() >= 0.005, f"lower teeth moved down only {drop.mean() * 1000:.1f} mm"
    upper_motion = (opened.vertices[0, upper] - rest.vertices[0, upper]).norm(dim=-1)
    assert upper_motion.max() < 0.002, f"upper teeth moved {upper_motion.max() * 1000:.1f} mm with the jaw"


def test_landmarks_follow_the_mesh(head):
    g = torch.Generator().manual_seed(2)
    pose = torch.randn(2, 15, generator=g) * 0.2
    out = head(
        shape=torch.randn(2, head.n_shape, generator=g) * head.shape_std,
        expression=torch.randn(2, head.n_expr, generator=g) * head.expr_std,
        pose=pose,
    )
    corners = out.vertices[:, head.faces[head.lmk_faces_idx]]  # (B, 68, 3, 3), independent gather
    expected = (corners * head.lmk_bary_coords[None, :, :, None]).sum(2)
    torch.testing.assert_close(out.landmarks, expected, atol=1e-6, rtol=0)
    bary = head.lmk_bary_coords
    assert (bary >= -1e-6).all() and torch.allclose(bary.sum(1), torch.ones(68), atol=1e-5)


def test_landmarks_have_the_ibug_layout(head):
    """Coarse anatomy of the 68 iBUG points on the neutral head (+x is the subject's left)."""
    lm = head().landmarks[0]
    assert lm[0, 0] < 0 < lm[16, 0], "jaw line runs from the subject's right (x<0) to left"
    assert lm[36:42, 0].mean() < 0 < lm[42:48, 0].mean(), "points 36-41 are the right eye, 42-47 the left"
    assert lm[27:36, 2].argmax() == 30 - 27, "point 30 (nose tip) sticks out furthest"
    assert lm[17:27, 1].mean() > lm[36:48, 1].mean() > lm[30, 1] > lm[48:68, 1].mean() > lm[8, 1], (
        "brows > eyes > nose tip > mouth > chin"
    )


def test_global_rotation_rotates_the_whole_result(head64):
    g = torch.Generator().manual_seed(3)
    shape = torch.randn(1, head64.n_shape, generator=g, dtype=torch.float64) * head64.shape_std
    pose = torch.randn(1, 15, generator=g, dtype=torch.float64) * 0.2
    pose[:, :3] = 0.0
    base = head64(shape=shape, pose=pose)
    root_rotation = torch.tensor([[0.3, -0.5, 0.2]], dtype=torch.float64)
    rotated = head64(shape=shape, pose=torch.cat([root_rotation, pose[:, 3:]], 1))
    R = batch_rodrigues(root_rotation)[0]
    root = base.joints[0, 0]
    for before, after in (
        (base.vertices, rotated.vertices),
        (base.joints, rotated.joints),
        (base.landmarks, rotated.landmarks),
    ):
        # 10 nm: the float32-stored skinning weights sum to 1 only up to ~1e-7
        torch.testing.assert_close(after[0], (before[0] - root) @ R.T + root, atol=1e-8, rtol=0)


def test_gradients_flow_to_every_input(head):
    g = torch.Generator().manual_seed(4)
    inputs = {
        "shape": torch.randn(2, head.n_shape, generator=g).mul(0.5).requires_grad_(),
        "expression": torch.randn(2, head.n_expr, generator=g).mul(0.5).requires_grad_(),
        "pose": torch.randn(2, 15, generator=g).mul(0.2).requires_grad_(),
        "translation": torch.randn(2, 3, generator=g).requires_grad_(),
    }
    out = head(**inputs)
    (out.vertices.square().sum() + out.landmarks.sum() + out.joints.sum()).backward()
    for name, value in inputs.items():
        assert value.grad is not None and torch.isfinite(value.grad).all(), name
        assert (value.grad.abs().sum(0) > 0).all(), f"some {name} entries get no gradient"


def test_float32_and_float64_agree_and_batches_are_independent(head, head64):
    g = torch.Generator().manual_seed(5)
    params = dict(
        shape=torch.randn(3, head.n_shape, generator=g, dtype=torch.float64) * head64.shape_std,
        expression=torch.randn(3, head.n_expr, generator=g, dtype=torch.float64) * head64.expr_std * 2,
        pose=torch.randn(3, 15, generator=g, dtype=torch.float64) * 0.2,
        translation=torch.randn(3, 3, generator=g, dtype=torch.float64) * 0.1,
    )
    out64 = head64(**params)
    out32 = head(**{k: v.float() for k, v in params.items()})
    assert out64.vertices.dtype == torch.float64 and out32.vertices.dtype == torch.float32
    torch.testing.assert_close(out32.vertices.double(), out64.vertices, atol=1e-5, rtol=0)  # 10 µm
    for b in range(3):
        single = head64(**{k: v[b : b + 1] for k, v in params.items()})
        torch.testing.assert_close(single.vertices, out64.vertices[b : b + 1], atol=1e-12, rtol=0)


def test_articulations_and_semantics_are_present(head):
    assert set(ARTICULATION_NAMES) <= set(head.articulation_names)  # the articulations the speech data drives
    assert head.articulation_expr.shape == (len(head.articulation_names), head.n_expr)
    assert head.jaw_open_max_rad is not None and 0.05 < head.jaw_open_max_rad < 0.6
    for label in ("skin", "lips", "teeth", "mouth_interior", "eyes", "eyebrows"):
        assert head.vertex_ids(label).numel() > 0, f"no {label} triangles"
