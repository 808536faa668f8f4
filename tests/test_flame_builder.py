"""Tests of the bundled procedural head and of its builder.

Most tests read the shipped asset ``talkinghead_edu/flame/assets/procedural_head.npz``;
the builder itself is exercised at a reduced resolution (a full build takes ~40 s).
Posing uses a small numpy skinning written here with scipy's rotations, independent of
both the builder's and the FLAME module's code.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from talkinghead_edu.data.speech import ARTICULATION_NAMES
from talkinghead_edu.paths import ASSETS_DIR
from talkinghead_edu.semantics import LABEL_NAMES, label_id
from talkinghead_edu.synth import head_builder as builder
from talkinghead_edu.synth import head_geometry as geo

ASSET = ASSETS_DIR / "procedural_head.npz"
REQUIRED = {
    "v_template": np.float32,
    "f": np.int32,
    "shapedirs": np.float32,
    "n_shape": np.integer,
    "posedirs": np.float32,
    "J_regressor": np.float32,
    "weights": np.float32,
    "kintree_table": np.int64,
    "lmk_faces_idx": np.int32,
    "lmk_bary_coords": np.float32,
    "face_labels": np.uint8,
    "vt": np.float32,
    "ft": np.int32,
    "articulation_names": np.str_,
    "articulation_expr": np.float32,
    "jaw_open_max_rad": np.float32,
    "shape_std": np.float32,
    "expr_std": np.float32,
    "builder_seed": np.integer,
    "builder_version": np.str_,
}


@pytest.fixture(scope="module")
def head() -> dict[str, np.ndarray]:
    with np.load(ASSET, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def topo() -> geo.Topology:
    return geo.build_topology(1.0)


def pose_vertices(head, expression=None, pose=None, shape=None):
    """Independent FLAME forward pass (numpy, float64): blendshapes, correctives, chain, LBS."""
    S = int(head["n_shape"])
    V = head["v_template"].astype(np.float64).copy()
    dirs = head["shapedirs"].astype(np.float64)
    if shape is not None:
        V += dirs[:, :, : len(shape)] @ shape
    if expression is not None:
        V += dirs[:, :, S : S + len(expression)] @ expression
    joints = head["J_regressor"].astype(np.float64) @ V
    rotvecs = np.zeros((5, 3)) if pose is None else np.asarray(pose, dtype=np.float64).reshape(5, 3)
    rotations = Rotation.from_rotvec(rotvecs).as_matrix()
    V = V + head["posedirs"].astype(np.float64) @ (rotations[1:] - np.eye(3)).reshape(-1)
    parents = head["kintree_table"][0]
    world = []
    for j in range(5):
        G = np.eye(4)
        G[:3, :3] = rotations[j]
        G[:3, 3] = joints[j] - (joints[parents[j]] if parents[j] >= 0 else 0)
        world.append(G if parents[j] < 0 else world[parents[j]] @ G)
    A = np.stack(world)
    A[:, :3, 3] -= np.einsum("jkl,jl->jk", A[:, :3, :3], joints)
    T = np.einsum("vj,jkl->vkl", head["weights"].astype(np.float64), A)
    return np.einsum("vkl,vl->vk", T[:, :3, :3], V) + T[:, :3, 3]


def jaw_pose(angle: float) -> np.ndarray:
    pose = np.zeros(15)
    pose[6] = angle
    return pose


def part_index(topo, name):
    return topo.parts[name].index


# ----------------------------------------------------------------------------- layout
def test_asset_has_the_c1_layout(head):
    for key, dtype in REQUIRED.items():
        assert key in head, f"missing key {key}"
        assert np.issubdtype(head[key].dtype, dtype), f"{key} has dtype {head[key].dtype}, expected {dtype}"
    V = len(head["v_template"])
    F = len(head["f"])
    S, E = int(head["n_shape"]), head["shapedirs"].shape[2] - int(head["n_shape"])
    assert 3000 <= V <= 8000
    assert S >= 50 and E >= 50
    assert head["shapedirs"].shape == (V, 3, S + E)
    assert head["posedirs"].shape == (V, 3, 36)
    assert head["J_regressor"].shape == (5, V) and head["weights"].shape == (V, 5)
    assert head["kintree_table"].tolist()[0] == [-1, 0, 1, 1, 1]
    assert head["lmk_faces_idx"].shape == (68,) and head["lmk_bary_coords"].shape == (68, 3)
    assert head["face_labels"].shape == (F,) and head["ft"].shape == (F, 3)
    assert head["f"].min() == 0 and head["f"].max() == V - 1
    assert head["ft"].max() == len(head["vt"]) - 1
    assert head["shape_std"].shape == (S,) and head["expr_std"].shape == (E,)
    assert ASSET.stat().st_size < 8e6, f"asset is {ASSET.stat().st_size / 1e6:.1f} MB, budget 8 MB"


def test_head_proportions_and_axes(head):
    V = head["v_template"]
    height = V[:, 1].max() - V[:, 1].min()
    width = V[:, 0].max() - V[:, 0].min()
    assert 0.15 < width < 0.20, width  # ear to ear, ears included
    assert 0.28 < height < 0.40, height  # crown to the neck cut
    assert np.abs(V[:, 0].mean()) < 1e-3  # left-right symmetric about x = 0
    nose_tip = V[np.argmax(V[:, 2])]
    assert abs(nose_tip[0]) < 0.005 and -0.05 < nose_tip[1] < 0.02  # the most forward point is the nose
    assert np.linalg.norm(V.mean(0)[[0, 2]]) < 0.03  # head centred on the y axis


def test_topology_of_the_shipped_asset_matches_the_code(head, topo):
    """The connectivity, labels, UVs, weights and landmarks do not depend on the random samples."""
    np.testing.assert_array_equal(head["f"], topo.faces)
    np.testing.assert_array_equal(head["ft"], topo.uv_faces)
    np.testing.assert_array_equal(head["face_labels"], topo.face_labels)
    np.testing.assert_allclose(head["vt"], topo.uvs, atol=1e-7)
    np.testing.assert_allclose(head["weights"], builder._skinning_weights(topo), atol=1e-7)
    faces_idx, bary = builder._landmark_embedding(topo)
    np.testing.assert_array_equal(head["lmk_faces_idx"], faces_idx)
    np.testing.assert_allclose(head["lmk_bary_coords"], bary, atol=1e-7)


# ----------------------------------------------------------------------------- mesh quality
def test_triangles_are_consistently_oriented_and_not_degenerate(head, topo):
    F = head["f"].astype(np.int64)
    V = head["v_template"].astype(np.float64)
    # each directed edge occurs at most once: neighbouring triangles agree on the winding
    edges = np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]])
    keys = edges[:, 0] * len(V) + edges[:, 1]
    assert len(np.unique(keys)) == len(keys), "some edge is traversed twice in the same direction"
    area = 0.5 * np.linalg.norm(np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]]), axis=1)
    assert area.min() > 1e-10, "degenerate triangle"
    # closed parts have positive signed volume (normals point outward)
    for name in ("teeth_upper", "teeth_lower", "eyeball_left", "eyeball_right", "ear_left", "ear_right"):
        tri = V[F[topo.face_part == geo.PART_NAMES.index(name)]]
        volume = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6
        assert volume > 0, f"{name} is inside out"
    # the skin faces away from the inside of the head
    skin = V[F[topo.face_part == 0]]
    normals = np.cross(skin[:, 1] - skin[:, 0], skin[:, 2] - skin[:, 0])
    outward = np.einsum("ij,ij->i", normals, skin.mean(1) - geo.ORIGIN) > 0
    assert outward.mean() > 0.97, outward.mean()


def test_every_semantic_label_is_present_where_expected(head, topo):
    labels = head["face_labels"]
    assert set(np.unique(labels)) == set(range(1, len(LABEL_NAMES)))
    V = head["v_template"]
    centroid = V[head["f"]].mean(1)
    hair = centroid[labels == label_id("hair")]
    neck = centroid[labels == label_id("neck_torso")]
    lips = centroid[labels == label_id("lips")]
    assert hair[:, 1].mean() > 0.05 and neck[:, 1].mean() < -0.1
    assert np.all(np.abs(lips[:, 0]) < 0.035) and np.all(lips[:, 2] > 0.06)
    for part, label in (("teeth_upper", "teeth"), ("eyeball_left", "eyes"), ("mouth_cavity", "mouth_interior")):
        assert label_id(label) in labels[topo.face_part == geo.PART_NAMES.index(part)]


def test_uvs_in_unit_square_and_charts_do_not_fold(head, topo):
    vt, ft = head["vt"], head["ft"]
    assert vt.min() >= 0 and vt.max() <= 1
    uv = vt[ft].astype(np.float64)
    signed = (uv[:, 1, 0] - uv[:, 0, 0]) * (uv[:, 2, 1] - uv[:, 0, 1]) - (uv[:, 2, 0] - uv[:, 0, 0]) * (
        uv[:, 1, 1] - uv[:, 0, 1]
    )
    assert np.abs(signed).min() > 1e-10, "degenerate UV triangle"
    for index, name in enumerate(geo.PART_NAMES):  # one chart per part: no flipped (folded) UV triangle
        signs = np.sign(signed[topo.face_part == index])
        assert np.all(signs == signs[0]), f"the UV chart of {name} folds"
    # charts do not overlap: their bounding boxes are disjoint
    boxes = [
        (uv[topo.face_part == i].reshape(-1, 2).min(0), uv[topo.face_part == i].reshape(-1, 2).max(0))
        for i in range(len(geo.PART_NAMES))
    ]
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            overlap = np.minimum(boxes[i][1], boxes[j][1]) - np.maximum(boxes[i][0], boxes[j][0])
            assert np.any(overlap <= 1e-9), (geo.PART_NAMES[i], geo.PART_NAMES[j])


# ----------------------------------------------------------------------------- bases
@pytest.mark.parametrize("block", ["shape", "expression"])
def test_bases_orthonormal_and_ordered_by_variance(head, block):
    S = int(head["n_shape"])
    dirs = head["shapedirs"].astype(np.float64)
    basis = dirs[:, :, :S] if block == "shape" else dirs[:, :, S:]
    B = basis.reshape(-1, basis.shape[2])
    np.testing.assert_allclose(B.T @ B, np.eye(B.shape[1]), atol=2e-5)  # float32 storage
    std = head["shape_std" if block == "shape" else "expr_std"]
    assert np.all(np.diff(std) <= 0) and std[-1] > 0


def test_named_articulations_live_in_the_leading_expression_components(head):
    """Each named articulation is reproduced by its stored coefficients, mostly from the first 20 components."""
    S = int(head["n_shape"])
    E = head["shapedirs"][:, :, S:].astype(np.float64).reshape(-1, head["expr_std"].shape[0])
    names = list(head["articulation_names"])
    for required in ARTICULATION_NAMES:  # the articulations the speech data drives
        assert required in names
    coeffs = head["articulation_expr"].astype(np.float64)
    for name, c in zip(names, coeffs):
        energy = np.sum(c**2)
        assert energy > 0, name
        assert np.sum(c[:20] ** 2) / energy > 0.9, f"{name} is not covered by the leading components"
        assert np.linalg.norm(E @ c) > 1e-3, name


def test_expression_zero_is_neutral_and_articulations_move_the_right_region(head):
    V0 = pose_vertices(head)
    np.testing.assert_allclose(V0, head["v_template"], atol=1e-6)
    names = list(head["articulation_names"])
    labels = head["face_labels"]
    lips = np.unique(head["f"][labels == label_id("lips")])
    brows = np.unique(head["f"][labels == label_id("eyebrows")])
    hair = np.unique(head["f"][labels == label_id("hair")])

    def displacement(name):
        return np.linalg.norm(pose_vertices(head, expression=head["articulation_expr"][names.index(name)]) - V0, axis=1)

    for name in ("lip_round", "lip_spread", "smile"):
        d = displacement(name)
        assert d[lips].max() > 0.003, name
        assert d[brows].max() < 0.001 and d[hair].max() < 1e-4, name
    d = displacement("brow_raise")
    assert d[brows].max() > 0.004 and d[lips].max() < 1e-3


def _flipped_triangles(head, V):
    """Number of triangles whose normal turned against the template's (a fold in the surface)."""
    F = head["f"]

    def normals(verts):
        tri = verts[F]
        return np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])

    return int((np.einsum("ij,ij->i", normals(V), normals(head["v_template"].astype(np.float64))) < 0).sum())


def test_extreme_identities_and_full_articulations_do_not_fold_the_mesh(head):
    S = int(head["n_shape"])
    for k in range(S):  # every identity component at ±3 std
        for sign in (-3.0, 3.0):
            shape = np.zeros(S)
            shape[k] = sign * head["shape_std"][k]
            assert _flipped_triangles(head, pose_vertices(head, shape=shape)) == 0, (k, sign)
    names = list(head["articulation_names"])
    jaw = float(head["jaw_open_max_rad"])
    for name, coeffs in zip(names, head["articulation_expr"]):  # every articulation at full amount
        pose = jaw_pose(jaw) if name == "jaw_open" else None
        assert _flipped_triangles(head, pose_vertices(head, expression=coeffs, pose=pose)) == 0, name


def test_blink_closes_the_lids(head, topo):
    names = list(head["articulation_names"])
    for eye in ("eye_left", "eye_right"):
        slit = topo.slits[eye]
        centre = np.argsort(np.abs(topo.theta[slit.c0 + 1 : slit.c1] - topo.theta[slit.c0 + 1 : slit.c1].mean()))[0]
        upper, lower = slit.upper[centre], slit.lower[centre]
        open_gap = np.linalg.norm(head["v_template"][upper] - head["v_template"][lower])
        blink = "blink_left" if eye == "eye_left" else "blink_right"
        V = pose_vertices(head, expression=head["articulation_expr"][names.index(blink)])
        closed_gap = np.linalg.norm(V[upper] - V[lower])
        assert open_gap > 0.006, f"{eye} fissure only {open_gap * 1000:.1f} mm open"
        assert closed_gap < 0.0015, f"{blink} leaves a {closed_gap * 1000:.1f} mm gap"
        # the lid stays in front of the eyeball while closing
        ball = head["v_template"][part_index(topo, "eyeball_" + eye.split("_")[1])]
        centre_ball = ball.mean(0)
        radius = np.linalg.norm(ball - centre_ball, axis=1).max()
        assert np.linalg.norm(V[upper] - centre_ball) > radius


# ----------------------------------------------------------------------------- skinning and pose
def test_weights_and_regressor_are_convex(head, topo):
    W = head["weights"].astype(np.float64)
    J = head["J_regressor"].astype(np.float64)
    assert W.min() >= 0 and np.allclose(W.sum(1), 1, atol=1e-6)
    assert J.min() >= 0 and np.allclose(J.sum(1), 1, atol=1e-6)
    joints = J @ head["v_template"]
    for joint, part in ((3, "eyeball_left"), (4, "eyeball_right")):
        np.testing.assert_allclose(joints[joint], head["v_template"][part_index(topo, part)].mean(0), atol=1e-6)
    assert joints[3, 0] > 0 > joints[4, 0]  # joint 3 is the left eye (+x)
    assert joints[0, 1] < joints[1, 1] < joints[2, 1]  # root below neck below jaw
    assert np.all(W[part_index(topo, "teeth_lower"), 2] == 1) and np.all(W[part_index(topo, "teeth_upper"), 1] == 1)


def test_jaw_opening_opens_the_lips_and_moves_the_lower_teeth(head, topo):
    mouth = topo.slits["mouth"]
    centre = int(np.argmin(np.abs(topo.theta[mouth.c0 + 1 : mouth.c1])))
    upper_lip, lower_lip = mouth.upper[centre], mouth.lower[centre]
    V0 = pose_vertices(head)
    V = pose_vertices(head, pose=jaw_pose(0.3))
    gap = np.linalg.norm(V[upper_lip] - V[lower_lip])
    assert gap >= 0.01, f"jaw 0.3 rad opens the lips by {gap * 1000:.1f} mm"
    lower_teeth = part_index(topo, "teeth_lower")
    upper_teeth = part_index(topo, "teeth_upper")
    assert np.linalg.norm(V[lower_teeth] - V0[lower_teeth], axis=1).min() > 0.005
    np.testing.assert_allclose(V[upper_teeth], V0[upper_teeth], atol=1e-6)
    # the lower teeth move rigidly with the jaw: pairwise distances are kept
    d0 = np.linalg.norm(V0[lower_teeth][:, None] - V0[lower_teeth][None], axis=-1)
    d1 = np.linalg.norm(V[lower_teeth][:, None] - V[lower_teeth][None], axis=-1)
    np.testing.assert_allclose(d0, d1, atol=1e-6)
    # ... and stay behind the lower lip
    assert V[lower_teeth][:, 2].max() < V[lower_lip][2]


def test_head_pose_moves_upper_teeth_and_eyes_rigidly(head, topo):
    pose = np.zeros(15)
    pose[3:6] = [0.2, 0.3, -0.1]  # neck
    V0, V = pose_vertices(head), pose_vertices(head, pose=pose)
    idx = np.concatenate([part_index(topo, "teeth_upper"), part_index(topo, "eyeball_left")])
    R = Rotation.from_rotvec(pose[3:6]).as_matrix()
    moved = (V0[idx] - V0[idx].mean(0)) @ R.T + V[idx].mean(0)
    np.testing.assert_allclose(V[idx], moved, atol=1e-6)


def test_pose_correctives_reduce_the_gap_to_the_finer_articulation(head):
    """Posedirs were fitted so LBS + correctives ≈ the per-vertex partial rotation model."""
    W = head["weights"].astype(np.float64)
    V0 = head["v_template"].astype(np.float64)
    joints = head["J_regressor"].astype(np.float64) @ V0
    jaw_aa = np.array([0.3, 0.0, 0.0])
    fine = builder._fine_pose(V0, W, joints, np.zeros(3), jaw_aa)
    with_correctives = pose_vertices(head, pose=jaw_pose(0.3))
    without = dict(head, posedirs=np.zeros_like(head["posedirs"]))
    plain = pose_vertices(without, pose=jaw_pose(0.3))
    err_plain = np.abs(plain - fine).max()
    err_corrected = np.abs(with_correctives - fine).max()
    assert err_plain > 5e-4  # LBS alone loses volume on the cheeks
    assert err_corrected < 0.25 * err_plain, (err_plain, err_corrected)
    assert np.count_nonzero(head["posedirs"]) > 0


# ----------------------------------------------------------------------------- landmarks
def test_landmarks_follow_the_ibug_layout(head):
    V = head["v_template"].astype(np.float64)
    F = head["f"]
    L = np.einsum("lk,lkc->lc", head["lmk_bary_coords"], V[F[head["lmk_faces_idx"]]])
    assert np.allclose(head["lmk_bary_coords"].sum(1), 1, atol=1e-6) and head["lmk_bary_coords"].min() >= 0
    assert np.argmax(L[:, 2]) == 30  # nose tip is the most forward landmark
    assert np.argmin(L[:17, 1]) == 8  # chin is the lowest jaw-line point
    mirror = {0: 16, 17: 26, 36: 45, 39: 42, 48: 54, 31: 35, 60: 64}
    for a, b in mirror.items():  # left/right pairs mirror each other
        np.testing.assert_allclose(L[a] * [-1, 1, 1], L[b], atol=2e-3)
        assert L[a, 0] < 0 < L[b, 0]  # iBUG point 0 is the subject's right (-x)
    labels = head["face_labels"][head["lmk_faces_idx"]]
    assert np.all(labels[60:68] == label_id("lips"))
    assert (
        L[51, 1] > L[62, 1] >= L[66, 1] - 1e-6 > L[57, 1]
    )  # lip heights: outer top, inner top (closed: = inner bottom), outer bottom
    assert np.all(L[36:48, 1] > L[30, 1]) and np.all(L[17:27, 1] > L[36:48, 1].max())


def test_landmarks_follow_the_jaw(head):
    V0 = pose_vertices(head)
    V = pose_vertices(head, pose=jaw_pose(0.3))
    F = head["f"]

    def landmarks(verts):
        return np.einsum("lk,lkc->lc", head["lmk_bary_coords"].astype(np.float64), verts[F[head["lmk_faces_idx"]]])

    moved = np.linalg.norm(landmarks(V) - landmarks(V0), axis=1)
    assert moved[57] > 0.01 and moved[66] > 0.01 and moved[8] > 0.01  # lower lip and chin drop
    assert moved[51] < 0.002 and moved[30] < 1e-6 and moved[27] < 1e-6  # upper lip and nose stay


# ----------------------------------------------------------------------------- the builder
SMALL = dict(resolution=0.45, n_shape=12, n_expr=16, n_identities=20, n_expression_samples=40)


@pytest.fixture(scope="module")
def small_build():
    return builder.build_head(seed=3, **SMALL)


def test_same_seed_gives_identical_arrays(small_build):
    again = builder.build_head(seed=3, **SMALL)
    assert small_build.keys() == again.keys()
    for key in small_build:
        np.testing.assert_array_equal(small_build[key], again[key], err_msg=key)
    other = builder.build_head(seed=4, **SMALL)
    assert not np.array_equal(other["shapedirs"], small_build["shapedirs"])
    np.testing.assert_array_equal(other["f"], small_build["f"])  # topology never depends on the seed


def test_small_build_has_the_same_layout(small_build, head):
    assert set(small_build) == set(head)
    assert small_build["shapedirs"].shape[2] == SMALL["n_shape"] + SMALL["n_expr"]
    assert 1000 < len(small_build["v_template"]) < len(head["v_template"])


def test_cli_writes_an_asset_atomically(tmp_path, capsys):
    out = tmp_path / "head.npz"
    code = builder.main(
        [
            "--seed",
            "1",
            "--out",
            str(out),
            "--resolution",
            "0.4",
            "--n-shape",
            "8",
            "--n-expr",
            "8",
            "--identities",
            "12",
            "--expression-samples",
            "20",
            "--quiet",
        ]
    )
    assert code == 0 and out.is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["head.npz"]  # no temporary file left behind
    with np.load(out, allow_pickle=False) as data:
        assert int(data["builder_seed"]) == 1 and data["shapedirs"].shape[2] == 16
    with pytest.raises(SystemExit):
        builder.main(["--out", str(tmp_path / "head.txt")])
    assert "--out must end in .npz" in capsys.readouterr().err
    # --check rebuilds and compares: the same arguments reproduce the file, another seed does not
    small = [
        "--resolution",
        "0.4",
        "--n-shape",
        "8",
        "--n-expr",
        "8",
        "--identities",
        "12",
        "--expression-samples",
        "20",
        "--quiet",
    ]
    assert builder.main(["--seed", "1", "--check", str(out)] + small) == 0
    assert builder.main(["--seed", "2", "--check", str(out)] + small) == 1
    assert "differs in" in capsys.readouterr().out


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_shape=10, n_identities=10), "n_identities must exceed n_shape"),
        (dict(n_expr=10, n_expression_samples=5), "n_expression_samples must be at least n_expr"),
        (dict(resolution=0.1), "resolution must be between"),
    ],
)
def test_bad_builder_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        builder.build_head(**kwargs)
