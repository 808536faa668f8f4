"""Tests for talkinghead_edu.flame.official — the restricted loader of FLAME's generic_model.pkl.

The tests write small pickles in the official layouts: "2020" (chumpy arrays, made with a
fake ``chumpy.ch.Ch`` class registered under that module name, a scipy CSC regressor, written
like the original Python 2 files: protocol 2, byte strings as Python 2 ``str`` opcodes, numpy
and scipy under their old module names) and "2023" (plain numpy arrays, protocol 4). Values
must survive exactly (float64 round trip, tolerance 0).
"""

from __future__ import annotations

import io
import pickle
import struct
import sys
import types

import numpy as np
import pytest
import scipy.sparse
import torch

from talkinghead_edu.flame import FlameFileError, FlameModel, load_landmark_embedding, load_official_flame
from talkinghead_edu.flame.lbs import lbs
from talkinghead_edu.flame.model import _parents_from_kintree

N_VERTS, N_FACES = 20, 24


class Py2StylePickler(pickle._Pickler):
    """Pickles the way Python 2 did for FLAME 2020: ``bytes`` and ASCII ``str`` as Python 2 ``str``
    (BINSTRING, decoded as latin1 on load) and numpy / scipy reconstructors under their old modules."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, value):
        data = value if isinstance(value, bytes) else value.encode("latin1")
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(value)

    def save_str(self, value):
        if value.isascii():
            self.save_py2_str(value)
        else:
            pickle._Pickler.dispatch[str](self, value)

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_str

    def save_global(self, obj, name=None):
        from numpy._core import multiarray

        old = {
            multiarray._reconstruct: b"numpy.core.multiarray\n_reconstruct\n",
            scipy.sparse.csc_matrix: b"scipy.sparse.csc\ncsc_matrix\n",
        }
        if obj in old:
            self.write(pickle.GLOBAL + old[obj])
            self.memoize(obj)
        else:
            super().save_global(obj, name)


def py2_pickle(content) -> bytes:
    buffer = io.BytesIO()
    Py2StylePickler(buffer, protocol=2).dump(content)
    return buffer.getvalue()


@pytest.fixture
def fake_chumpy(monkeypatch):
    """Register a stand-in ``chumpy.ch.Ch`` so that pickles reference it exactly like FLAME 2020's."""

    class Ch:
        def __init__(self, x):
            self.x = x
            self._dirty_vars = set()
            self.label = "shapedirs"

        def __getstate__(self):  # chumpy pickles its __dict__ (minus weak caches)
            return dict(self.__dict__)

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    chumpy = types.ModuleType("chumpy")
    chumpy_ch = types.ModuleType("chumpy.ch")
    chumpy_ch.Ch = Ch
    chumpy.ch = chumpy_ch
    monkeypatch.setitem(sys.modules, "chumpy", chumpy)
    monkeypatch.setitem(sys.modules, "chumpy.ch", chumpy_ch)
    return Ch


def official_arrays(seed: int = 0) -> dict:
    """Random arrays with the official FLAME layout (300 shape + 100 expression columns)."""
    rng = np.random.default_rng(seed)
    regressor = rng.random((5, N_VERTS)) * (rng.random((5, N_VERTS)) < 0.3)
    regressor[:, 0] += 0.1
    regressor /= regressor.sum(1, keepdims=True)
    weights = rng.random((N_VERTS, 5)) ** 3
    return {
        "v_template": rng.normal(size=(N_VERTS, 3)) * 0.1,
        "f": rng.integers(0, N_VERTS, size=(N_FACES, 3)).astype(np.uint32),
        "shapedirs": rng.normal(size=(N_VERTS, 3, 400)) * 1e-3,
        "posedirs": rng.normal(size=(N_VERTS, 3, 36)) * 1e-3,
        "J_regressor": scipy.sparse.csc_matrix(regressor),
        "weights": weights / weights.sum(1, keepdims=True),
        "kintree_table": np.array([[4294967295, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.int64),
        "J": rng.normal(size=(5, 3)),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }


def write_2020(path, arrays: dict, Ch) -> None:
    content = dict(arrays)
    content["shapedirs"] = Ch(arrays["shapedirs"])
    content["v_template"] = Ch(arrays["v_template"])
    data = py2_pickle(content)
    assert (
        b"numpy.core.multiarray\n_reconstruct" in data
        and b"scipy.sparse.csc\ncsc_matrix" in data
        and b"_codecs" not in data
    )
    path.write_bytes(data)


def write_2023(path, arrays: dict) -> None:
    path.write_bytes(pickle.dumps({**arrays, "J_regressor": arrays["J_regressor"].toarray()}, protocol=4))


def _check_round_trip(model: FlameModel, arrays: dict) -> None:
    assert model.n_shape == 300 and model.n_expr == 100
    assert torch.equal(model.shape_std, torch.ones(300, dtype=torch.float64)) and torch.equal(
        model.expr_std, torch.ones(100, dtype=torch.float64)
    )
    assert model.face_labels is None and model.articulation_names == []
    np.testing.assert_array_equal(model.v_template.numpy(), arrays["v_template"])
    np.testing.assert_array_equal(model.shapedirs.numpy(), arrays["shapedirs"])
    np.testing.assert_array_equal(model.posedirs.numpy(), arrays["posedirs"])
    np.testing.assert_array_equal(model.J_regressor.numpy(), arrays["J_regressor"].toarray())
    np.testing.assert_array_equal(model.lbs_weights.numpy(), arrays["weights"])
    np.testing.assert_array_equal(model.faces.numpy(), arrays["f"].astype(np.int64))
    assert model.parents.tolist() == [-1, 0, 1, 1, 1]
    # and the loaded model poses exactly like lbs on the raw arrays
    g = torch.Generator().manual_seed(0)
    shape, expression = (
        torch.randn(2, 300, generator=g, dtype=torch.float64),
        torch.randn(2, 100, generator=g, dtype=torch.float64),
    )
    pose = torch.randn(2, 15, generator=g, dtype=torch.float64) * 0.3
    expected, _ = lbs(
        torch.cat([shape, expression], 1),
        pose,
        torch.from_numpy(arrays["v_template"]),
        torch.from_numpy(arrays["shapedirs"]),
        torch.from_numpy(arrays["posedirs"]),
        torch.from_numpy(arrays["J_regressor"].toarray()),
        torch.tensor([-1, 0, 1, 1, 1]),
        torch.from_numpy(arrays["weights"]),
    )
    torch.testing.assert_close(model(shape=shape, expression=expression, pose=pose).vertices, expected, atol=0, rtol=0)


def test_2020_layout_with_chumpy_round_trips(tmp_path, fake_chumpy):
    arrays = official_arrays()
    write_2020(tmp_path / "generic_model.pkl", arrays, fake_chumpy)
    _check_round_trip(load_official_flame(tmp_path / "generic_model.pkl", dtype=torch.float64), arrays)


def test_2023_layout_round_trips(tmp_path):
    arrays = official_arrays(1)
    write_2023(tmp_path / "flame2023.pkl", arrays)
    _check_round_trip(load_official_flame(tmp_path / "flame2023.pkl", dtype=torch.float64), arrays)


def test_component_truncation_keeps_leading_shape_and_expression(tmp_path):
    arrays = official_arrays(2)
    write_2023(tmp_path / "generic_model.pkl", arrays)
    model = load_official_flame(tmp_path / "generic_model.pkl", n_shape_used=100, n_expr_used=50, dtype=torch.float64)
    assert (model.n_shape, model.n_expr) == (100, 50)
    np.testing.assert_array_equal(model.shapedirs[:, :, :100].numpy(), arrays["shapedirs"][:, :, :100])
    np.testing.assert_array_equal(model.shapedirs[:, :, 100:].numpy(), arrays["shapedirs"][:, :, 300:350])


class Evil:
    """Unpickling this would call ``_record_call`` — the restricted unpickler must refuse first."""

    calls: list = []

    def __reduce__(self):
        return (_record_call, ("pwned",))


def _record_call(message):
    Evil.calls.append(message)
    return message


@pytest.mark.parametrize(
    "intruder",
    [Evil(), types.SimpleNamespace(a=1), __import__("collections").OrderedDict(a=np.zeros(2))],
    ids=["reduce-to-function", "SimpleNamespace", "OrderedDict"],
)
def test_pickle_with_any_other_class_is_refused(tmp_path, intruder):
    content = {**official_arrays(), "extra": intruder}
    (tmp_path / "generic_model.pkl").write_bytes(pickle.dumps(content, protocol=2))
    with pytest.raises(FlameFileError, match=r"generic_model\.pkl: refused to load '.*'"):
        load_official_flame(tmp_path / "generic_model.pkl")
    assert Evil.calls == []


def test_os_system_is_refused_without_running(tmp_path):
    marker = tmp_path / "ran"
    payload = b"cposix\nsystem\n(V" + f"touch {marker}".encode() + b"\ntR."
    (tmp_path / "generic_model.pkl").write_bytes(payload)
    with pytest.raises(FlameFileError, match="refused to load 'posix.system'"):
        load_official_flame(tmp_path / "generic_model.pkl")
    assert not marker.exists()


def test_missing_and_malformed_files_get_one_clear_error(tmp_path, fake_chumpy):
    with pytest.raises(FlameFileError, match=r"FLAME model file .*nothing\.pkl does not exist"):
        load_official_flame(tmp_path / "nothing.pkl")
    (tmp_path / "truncated.pkl").write_bytes(pickle.dumps(official_arrays(), protocol=2)[:500])
    with pytest.raises(FlameFileError, match=r"truncated\.pkl: not a readable pickle"):
        load_official_flame(tmp_path / "truncated.pkl")
    (tmp_path / "list.pkl").write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(FlameFileError, match=r"list\.pkl: expected a pickled dict with FLAME's keys"):
        load_official_flame(tmp_path / "list.pkl")
    arrays = official_arrays()
    del arrays["posedirs"]
    (tmp_path / "noposedirs.pkl").write_bytes(pickle.dumps(arrays, protocol=2))
    with pytest.raises(FlameFileError, match=r"noposedirs\.pkl: missing key\(s\) posedirs"):
        load_official_flame(tmp_path / "noposedirs.pkl")
    arrays = official_arrays()
    arrays["posedirs"] = arrays["posedirs"][:, :, :30]
    (tmp_path / "badposedirs.pkl").write_bytes(pickle.dumps(arrays, protocol=2))
    with pytest.raises(FlameFileError, match=r"badposedirs\.pkl: 'posedirs' must have shape \(20, 3, 36\)"):
        load_official_flame(tmp_path / "badposedirs.pkl")
    arrays = official_arrays()
    arrays["shapedirs"] = fake_chumpy(arrays["shapedirs"])
    arrays["shapedirs"].__dict__.pop("x")
    (tmp_path / "derived.pkl").write_bytes(pickle.dumps(arrays, protocol=2))
    with pytest.raises(FlameFileError, match="chumpy object without a stored array 'x'"):
        load_official_flame(tmp_path / "derived.pkl")


def test_parents_from_kintree_rejects_bad_trees():
    with pytest.raises(ValueError, match="parents must come before their children"):
        _parents_from_kintree(np.array([[9, 2, 0], [0, 1, 2]]), "x.pkl")


def test_landmark_embeddings_in_every_format(tmp_path, fake_chumpy):
    rng = np.random.default_rng(3)
    faces_idx = rng.integers(0, N_FACES, size=68)
    bary = rng.dirichlet(np.ones(3), size=68)
    # FLAME's static embedding (Python 2 pickle of a dict, 51 points)
    (tmp_path / "flame_static_embedding.pkl").write_bytes(
        py2_pickle({"lmk_face_idx": faces_idx[17:].astype(np.uint32), "lmk_b_coords": bary[17:]})
    )
    got_faces, got_bary = load_landmark_embedding(tmp_path / "flame_static_embedding.pkl")
    np.testing.assert_array_equal(got_faces, faces_idx[17:])
    np.testing.assert_allclose(got_bary, bary[17:].astype(np.float32), atol=0)
    # DECA-style .npy holding a pickled dict, 68 points preferred over the static 51
    deca = {
        "static_lmk_faces_idx": faces_idx[17:],
        "static_lmk_bary_coords": bary[17:],
        "full_lmk_faces_idx": faces_idx[None],
        "full_lmk_bary_coords": bary[None],
    }
    np.save(tmp_path / "landmark_embedding.npy", np.array(deca, dtype=object), allow_pickle=True)
    got_faces, _ = load_landmark_embedding(tmp_path / "landmark_embedding.npy")
    np.testing.assert_array_equal(got_faces, faces_idx)
    # the package's own .npz names
    np.savez(tmp_path / "lmk.npz", lmk_faces_idx=faces_idx, lmk_bary_coords=bary)
    np.testing.assert_array_equal(load_landmark_embedding(tmp_path / "lmk.npz")[0], faces_idx)
    # a poisoned .npy is refused like a poisoned pickle
    np.save(tmp_path / "evil.npy", np.array({"x": Evil()}, dtype=object), allow_pickle=True)
    with pytest.raises(FlameFileError, match="refused to load"):
        load_landmark_embedding(tmp_path / "evil.npy")
    np.savez(tmp_path / "empty.npz", other=np.zeros(3))
    with pytest.raises(FlameFileError, match=r"empty\.npz: no landmark arrays found"):
        load_landmark_embedding(tmp_path / "empty.npz")

    # and the landmarks follow the official mesh
    arrays = official_arrays()
    write_2020(tmp_path / "generic_model.pkl", arrays, fake_chumpy)
    model = load_official_flame(
        tmp_path / "generic_model.pkl", landmark_embedding=tmp_path / "landmark_embedding.npy", dtype=torch.float64
    )
    out = model(pose=torch.tensor([[0.1, 0.2, 0.0, 0.3, 0, 0, 0.2, 0, 0, 0, 0, 0, 0, 0, 0]], dtype=torch.float64))
    corners = out.vertices[0][model.faces[torch.from_numpy(faces_idx)]]  # (68, 3, 3)
    expected = (corners * torch.from_numpy(bary.astype(np.float32)).double()[:, :, None]).sum(1)
    torch.testing.assert_close(out.landmarks[0], expected, atol=1e-12, rtol=0)
    assert load_official_flame(tmp_path / "generic_model.pkl")().landmarks.shape == (1, 0, 3)
