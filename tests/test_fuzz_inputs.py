"""Fuzzing every loader and public entry point: only a correct result or the package's clear error.

Each test feeds damaged input (truncations, bit flips, random bytes, empty files, wrong types,
NaN/inf, huge values, wrong shapes) to one entry point, built from a tiny valid example so the
suite stays fast. The only outcomes allowed are

* a result that passes the entry point's own sanity checks (finite numbers, right shapes), or
* a :class:`~talkinghead_edu.errors.TalkingHeadError` with a one-line message;

any other exception (``KeyError``, ``BadZipFile``, ``RecursionError``, ``RuntimeError``...) fails
the test. Examples are derandomised (the same inputs in every run). Run with ``-s`` to see how
many inputs each entry point received.

The disk-full tests run a subprocess under ``RLIMIT_FSIZE`` (``SIGXFSZ`` ignored, so a write
past the limit fails with ``EFBIG``) and check that no partial file is left and that an
existing target survives.
"""

from __future__ import annotations

import io
import json
import pickle
import subprocess
import sys
import textwrap
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from talkinghead_edu import cli
from talkinghead_edu.audio.io import load_audio
from talkinghead_edu.data.byo import export_byo, load_byo_video
from talkinghead_edu.data.speech_dataset import load_speech_dataset
from talkinghead_edu.data.video_dataset import FlameParams, VideoDataset, load_video_dataset
from talkinghead_edu.errors import CheckpointError, TalkingHeadError
from talkinghead_edu.flame import load_head_model
from talkinghead_edu.flame.official import load_landmark_embedding, load_official_flame
from talkinghead_edu.gaussians.model import GaussianHead
from talkinghead_edu.paths import dataset_root
from talkinghead_edu.render import Camera, Gaussians, render
from talkinghead_edu.utils.io import load_checkpoint, save_checkpoint

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
FEW = settings(FUZZ, max_examples=20)

TRIED: Counter = Counter()


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    yield
    print("\nfuzz inputs per entry point: " + ", ".join(f"{name} {count}" for name, count in sorted(TRIED.items())))


def outcome(entry: str, fn, *args, **kwargs):
    """Call ``fn``; return its result, or ``None`` after checking a package error is one clear line."""
    TRIED[entry] += 1
    try:
        return fn(*args, **kwargs)
    except TalkingHeadError as exc:
        message = str(exc)
        assert message.strip(), f"{entry}: {type(exc).__name__} without a message"
        assert "\n" not in message.strip("'"), f"{entry}: message is not one line: {message!r}"
        return None


# ---------------------------------------------------------------------------------------------- byte mutations
def _flip(data: bytes, flips: list[tuple[int, int]]) -> bytes:
    buffer = bytearray(data)
    for position, bit in flips:
        buffer[position % len(buffer)] ^= 1 << bit
    return bytes(buffer)


def mutated(data: bytes) -> st.SearchStrategy[bytes]:
    """Truncations, bit flips, random bytes and the empty file, derived from a valid file."""
    return st.one_of(
        st.integers(0, len(data) - 1).map(lambda n: data[:n]),
        st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(0, 7)), min_size=1, max_size=6).map(
            lambda f: _flip(data, f)
        ),
        st.binary(max_size=256),
        st.just(b""),
    )


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=8,
)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, prefix + (index,))


def json_mutated(document) -> st.SearchStrategy[str]:
    """``document`` with one node replaced by an arbitrary JSON value (or deleted), as text."""
    paths = [p for p in _paths(document) if p]

    def apply(choice):
        path, value, delete = choice
        copy = json.loads(json.dumps(document))
        parent = copy
        for key in path[:-1]:
            parent = parent[key]
        if delete and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
        return json.dumps(copy)

    return st.tuples(st.sampled_from(paths), JSON_VALUES, st.booleans()).map(apply)


# ---------------------------------------------------------------------------------------------- tiny valid files
def tiny_head_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    """A 12-vertex, 10-triangle head in FLAME's layout (5 joints, 4 shape + 2 expression columns)."""
    rng = np.random.default_rng(seed)
    n_verts, n_faces = 12, 10
    J = rng.random((5, n_verts))
    weights = rng.random((n_verts, 5))
    return {
        "v_template": rng.normal(0.0, 0.1, (n_verts, 3)).astype(np.float32),
        "f": np.stack([np.arange(n_faces), (np.arange(n_faces) + 1) % n_verts, (np.arange(n_faces) + 2) % n_verts], 1),
        "shapedirs": rng.normal(0.0, 1e-3, (n_verts, 3, 6)).astype(np.float32),
        "n_shape": np.array(4),
        "posedirs": rng.normal(0.0, 1e-3, (n_verts, 3, 36)).astype(np.float32),
        "J_regressor": (J / J.sum(1, keepdims=True)).astype(np.float32),
        "weights": (weights / weights.sum(1, keepdims=True)).astype(np.float32),
        "kintree_table": np.array([[4294967295, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.int64),
        "lmk_faces_idx": np.array([0, 3]),
        "lmk_bary_coords": np.full((2, 3), 1 / 3, dtype=np.float32),
    }


def _npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _check_head(head) -> None:
    out = head(pose=torch.zeros(1, 15))
    assert torch.isfinite(out.vertices).all() and out.vertices.shape == (1, head.n_vertices, 3)


@pytest.fixture(scope="module")
def tiny_head_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("head") / "tiny.npz"
    path.write_bytes(_npz_bytes(**tiny_head_arrays()))
    return path


# ---------------------------------------------------------------------------------------------- FLAME
@FUZZ
@given(data=mutated(_npz_bytes(**tiny_head_arrays())))
def test_head_model_file(tmp_path, data):
    path = tmp_path / "head.npz"
    path.write_bytes(data)
    head = outcome("load_head_model", load_head_model, path)
    if head is not None:
        _check_head(head)


@FUZZ
@given(
    key=st.sampled_from(["v_template", "shapedirs", "posedirs", "J_regressor", "weights", "lmk_bary_coords"]),
    value=st.sampled_from([np.nan, np.inf, -np.inf, 1e39, 1e30, 3.0, -1.0]),
    index=st.integers(0, 10**6),
)
def test_head_model_values(tmp_path, key, value, index):
    arrays = tiny_head_arrays()
    array = arrays[key].astype(np.float64)
    array.reshape(-1)[index % array.size] = value
    arrays[key] = array
    path = tmp_path / "values.npz"
    path.write_bytes(_npz_bytes(**arrays))
    head = outcome("load_head_model", load_head_model, path)
    if head is not None:
        _check_head(head)
        assert torch.allclose(head.lbs_weights.sum(1), torch.ones(head.n_vertices), atol=1e-3)


def _official_pickle(arrays: dict) -> bytes:
    content = {k: v for k, v in arrays.items() if k not in ("n_shape", "lmk_faces_idx", "lmk_bary_coords")}
    return pickle.dumps(content, protocol=2)


@FUZZ
@given(data=mutated(_official_pickle(tiny_head_arrays())))
def test_official_flame_file(tmp_path, data):
    path = tmp_path / "generic_model.pkl"
    path.write_bytes(data)
    head = outcome("load_official_flame", load_official_flame, path, n_shape=4)
    if head is not None:
        _check_head(head)


@pytest.mark.parametrize("nesting", ["self", "deep"])
def test_official_flame_hostile_nesting(tmp_path, nesting):
    """A pickle that contains itself, or nests 3000 lists deep, is refused by name (no RecursionError)."""
    if nesting == "self":
        content: list = []
        content.append(content)
        data = pickle.dumps(content, protocol=2)
    else:  # written by hand: pickle.dumps itself cannot go this deep (EMPTY_LIST x 3000, APPEND x 2999, STOP)
        data = b"\x80\x02" + b"]" * 3000 + b"a" * 2999 + b"."
    path = tmp_path / "generic_model.pkl"
    path.write_bytes(data)
    with pytest.raises(TalkingHeadError, match=r"generic_model\.pkl"):
        load_official_flame(path, n_shape=4)
    TRIED["load_official_flame"] += 1


def test_official_flame_values_are_checked(tmp_path):
    """NaN arrays or skinning weights whose rows sum to 3 are refused, not loaded."""
    for key, change in (("shapedirs", lambda a: np.full_like(a, np.nan)), ("weights", lambda a: a * 3)):
        arrays = tiny_head_arrays()
        arrays[key] = change(arrays[key])
        path = tmp_path / f"{key}.pkl"
        path.write_bytes(_official_pickle(arrays))
        with pytest.raises(TalkingHeadError, match=key):
            load_official_flame(path, n_shape=4)
    with pytest.raises(TalkingHeadError, match="is a folder"):
        load_official_flame(tmp_path, n_shape=4)
    TRIED["load_official_flame"] += 3


@FEW
@given(data=mutated(_npz_bytes(lmk_faces_idx=np.array([0, 3]), lmk_bary_coords=np.full((2, 3), 1 / 3))))
def test_landmark_embedding_file(tmp_path, data):
    path = tmp_path / "landmarks.npz"
    path.write_bytes(data)
    result = outcome("load_landmark_embedding", load_landmark_embedding, path)
    if result is not None:
        faces_idx, bary = result
        assert faces_idx.ndim == 1 and bary.shape == (faces_idx.shape[0], 3)


PARAM_VALUES = st.sampled_from([0.0, 0.3, -1.0, np.nan, np.inf, -np.inf, 1e39, 1e5])


@st.composite
def flame_parameters(draw):
    """A dict of FLAME keyword arguments with random batch sizes, widths, dtypes and values."""
    params = {}
    for name, width in (("shape", 4), ("expression", 2), ("pose", 15), ("translation", 3)):
        if draw(st.booleans()):
            continue
        batch = draw(st.sampled_from([0, 1, 2, 3]))
        cols = draw(st.sampled_from([width, width, width - 1, width + 1, 0]))
        dims = draw(st.sampled_from(["2d", "2d", "1d", "3d", "scalar", "list"]))
        dtype = draw(st.sampled_from([torch.float32, torch.float64, torch.float16, torch.int64]))
        values = (
            np.full((batch, cols), draw(PARAM_VALUES))
            if draw(st.booleans())
            else np.random.default_rng(batch).normal(0, 0.1, (batch, cols))
        )
        tensor = torch.as_tensor(values).to(dtype)
        params[name] = {
            "2d": tensor,
            "1d": tensor.reshape(-1),
            "3d": tensor[None],
            "scalar": torch.tensor(1.0),
            "list": values.tolist(),
        }[dims]
    return params


@FUZZ
@given(params=flame_parameters())
def test_flame_forward(tiny_head_path, params):
    head = load_head_model(tiny_head_path)
    out = outcome("FlameModel.forward", head, **params)
    if out is not None:
        assert out.vertices.dim() == 3 and out.vertices.shape[1:] == (head.n_vertices, 3)
        assert torch.isfinite(out.vertices).all() and torch.isfinite(out.landmarks).all()


# ---------------------------------------------------------------------------------------------- checkpoints
def _checkpoint_bytes(tmp: Path) -> bytes:
    path = save_checkpoint(tmp / "valid.safetensors", {"w": torch.randn(4, 3), "ids": torch.arange(4)}, {"step": 3})
    return path.read_bytes()


@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory):
    return _checkpoint_bytes(tmp_path_factory.mktemp("ckpt"))


@FUZZ
@given(flips=st.data())
def test_checkpoint_file(tmp_path, checkpoint_bytes, flips):
    data = flips.draw(mutated(checkpoint_bytes))
    path = tmp_path / "c.safetensors"
    path.write_bytes(data)
    result = outcome("load_checkpoint", load_checkpoint, path)
    if result is not None:
        tensors, meta = result
        assert isinstance(meta, dict)
        assert all(torch.isfinite(t).all() for t in tensors.values() if t.is_floating_point())


@FEW
@given(meta=st.text(max_size=40) | JSON_VALUES.map(json.dumps), value=st.sampled_from([0.5, np.nan, np.inf]))
def test_checkpoint_metadata_and_values(tmp_path, meta, value):
    from safetensors.torch import save

    path = tmp_path / "m.safetensors"
    path.write_bytes(save({"w": torch.full((2, 2), value)}, metadata={"talkinghead_edu_meta": meta}))
    result = outcome("load_checkpoint", load_checkpoint, path)
    if result is not None:
        assert isinstance(result[1], dict) and torch.isfinite(result[0]["w"]).all()


@st.composite
def head_tensors(draw):
    """A GaussianHead's checkpoint tensors with one of them damaged (or none)."""
    faces = torch.as_tensor(tiny_head_arrays()["f"])
    head = GaussianHead(faces, psi_dim=5, sh_degree=1, latent_dim=4)
    tensors = {f"gaussian/{k}": v.detach().clone() for k, v in head.gaussian_params.items()}
    tensors["triangle_ids"] = head.triangle_ids.clone()
    tensors.update({f"mlp/{k}": v.clone() for k, v in head.latent_mlp.state_dict().items()})
    key = draw(st.sampled_from(sorted(tensors)))
    damage = draw(
        st.sampled_from(
            ["none", "drop", "fewer_rows", "empty", "ids_out_of_range", "negative_ids", "float_ids", "wrong_width"]
        )
    )
    value = tensors[key]
    if damage == "drop":
        del tensors[key]
    elif damage == "fewer_rows" and value.dim():
        tensors[key] = value[: max(0, value.shape[0] - draw(st.integers(1, 10)))]
    elif damage == "empty":
        tensors = {k: v[:0] if k.startswith(("gaussian/", "triangle_ids")) else v for k, v in tensors.items()}
    elif damage == "ids_out_of_range":
        tensors["triangle_ids"] = tensors["triangle_ids"] + draw(st.integers(1, 100))
    elif damage == "negative_ids":
        tensors["triangle_ids"] = tensors["triangle_ids"] - 20
    elif damage == "float_ids":
        tensors["triangle_ids"] = tensors["triangle_ids"].float()
    elif damage == "wrong_width" and value.dim() > 1:
        tensors[key] = torch.cat([value, value[..., :1]], dim=-1)
    return faces, tensors


@FUZZ
@given(example=head_tensors())
def test_gaussian_head_checkpoint(example):
    """What RendererTrainer.load and `bench head` use: GaussianHead.load_tensors."""
    faces, tensors = example
    head = GaussianHead(faces, psi_dim=5, sh_degree=1, latent_dim=4)
    if outcome("GaussianHead.load_tensors", head.load_tensors, tensors, "fuzz") is None:
        return
    vertices = torch.as_tensor(tiny_head_arrays()["v_template"])[None]
    bound = head(vertices, torch.zeros(1, 5))
    assert bound.means.shape == (1, head.num_gaussians, 3) and torch.isfinite(bound.means).all()


# ---------------------------------------------------------------------------------------------- render
TENSOR_FAULTS = st.sampled_from(["ok", "ok", "ok", "nan", "inf", "huge", "float64", "float16", "int"])


def _faulty(tensor: torch.Tensor, fault: str, index: int) -> torch.Tensor:
    tensor = tensor.clone()
    if fault in ("nan", "inf", "huge") and tensor.numel():
        tensor.view(-1)[index % tensor.numel()] = {"nan": float("nan"), "inf": float("inf"), "huge": 1e30}[fault]
    return {"float64": tensor.double(), "float16": tensor.half(), "int": tensor.long()}.get(fault, tensor)


@FUZZ
@given(
    n=st.integers(0, 12),
    sh=st.sampled_from([None, 0, 1]),
    faults=st.lists(TENSOR_FAULTS, min_size=5, max_size=5),
    index=st.integers(0, 1000),
    focal=st.sampled_from([20.0, 20.0, 20.0, 20.0, 0.0, -5.0, float("nan"), 1e-3]),
    backend=st.sampled_from(["reference", "fast"]),
)
def test_render(n, sh, faults, index, focal, backend):
    base = Gaussians.random(n, extent=0.1, sh_degree=sh, generator=torch.Generator().manual_seed(n))
    tensors = [_faulty(t, fault, index) for t, fault in zip(base.parameters(), faults)]
    gaussians = Gaussians(*tensors)
    K = torch.tensor([[focal, 0.0, 8.0], [0.0, focal, 8.0], [0.0, 0.0, 1.0]])
    viewmat = torch.eye(4)
    viewmat[2, 3] = 1.0
    camera = outcome("Camera", Camera, K, viewmat, 16, 16)
    if camera is None:
        return
    out = outcome("render", render, gaussians, camera, backend=backend)
    if out is not None:
        assert out.image.shape == (16, 16, 3) and torch.isfinite(out.image).all() and torch.isfinite(out.alpha).all()
        assert out.image.dtype == (torch.float64 if torch.float64 in {t.dtype for t in tensors} else torch.float32)


def test_render_dtype_policy_is_the_same_in_every_backend():
    """float64 means with float32 rest: promoted to float64 in both backends, same picture."""
    g = Gaussians.random(30, extent=0.1, generator=torch.Generator().manual_seed(1))
    mixed = Gaussians(g.means.double(), g.quats, g.log_scales, g.opacity_logits, g.colors)
    camera = Camera.look_at((0.0, 0.0, 1.0), (0.0, 0.0, 0.0), fov_y_deg=30, width=16, height=16)
    images = [render(mixed, camera, backend=b).image for b in ("reference", "fast")]
    assert all(image.dtype == torch.float64 for image in images)
    torch.testing.assert_close(images[0], images[1], atol=1e-4, rtol=0)
    nan_colour = Gaussians(g.means, g.quats, g.log_scales, g.opacity_logits, g.colors.clone())
    nan_colour.colors[5, 0] = float("nan")
    for backend in ("reference", "fast"):
        with pytest.raises(TalkingHeadError, match=r"gaussians\.colors .* index 5"):
            render(nan_colour, camera, backend=backend)


# ---------------------------------------------------------------------------------------------- audio
def _wav_bytes(seconds: float = 0.1) -> bytes:
    buffer = io.BytesIO()
    t = np.arange(int(16000 * seconds)) / 16000
    soundfile.write(buffer, 0.3 * np.sin(2 * np.pi * 220 * t), 16000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


@FUZZ
@given(data=mutated(_wav_bytes()))
def test_audio_file(tmp_path, data):
    path = tmp_path / "a.wav"
    path.write_bytes(data)
    audio = outcome("load_audio", load_audio, path)
    if audio is not None:
        assert audio.ndim == 1 and audio.dtype == np.float32 and np.isfinite(audio).all()


# ---------------------------------------------------------------------------------------------- bring your own
N_BYO = 3


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _byo_files() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    files = {}
    frames = []
    for t in range(N_BYO):
        files[f"images/{t:05d}.png"] = _png(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8))
        files[f"flame_param/{t:05d}.npz"] = _npz_bytes(
            shape=np.zeros(4),
            expr=np.zeros((1, 2)),
            jaw_pose=np.zeros((1, 3)),
            rotation=np.zeros((1, 3)),
            translation=np.zeros((1, 3)),
        )
        files[f"parsing/{t:05d}.png"] = _png(np.full((8, 8), 1, dtype=np.uint8))
        frames.append(
            {
                "timestep_index": t,
                "file_path": f"images/{t:05d}.png",
                "flame_param_path": f"flame_param/{t:05d}.npz",
                "label_path": f"parsing/{t:05d}.png",
                "transform_matrix": np.eye(4).tolist(),
            }
        )
    transforms = {"fl_x": 10.0, "fl_y": 10.0, "cx": 4.0, "cy": 4.0, "w": 8, "h": 8, "fps": 25, "frames": frames}
    files["transforms.json"] = json.dumps(transforms).encode()
    files["audio.wav"] = _wav_bytes(N_BYO * 0.04)
    return files


BYO_FILES = _byo_files()


def _write_folder(folder: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def _check_video(video: VideoDataset) -> None:
    assert np.isfinite(video.K).all() and video.K[0, 0] > 0 and video.K[1, 1] > 0
    assert np.isfinite(video.viewmats).all() and video.viewmats.shape == (video.num_frames, 4, 4)
    for values in (video.flame_tracked.expression, video.flame_tracked.pose, video.flame_tracked.translation):
        assert np.isfinite(values).all() and len(values) == video.num_frames
    for index in range(video.num_frames):  # frames decode lazily: a damaged one must fail clearly here too
        frame = outcome("VideoDataset.frame", video.frame, index)
        if frame is not None:
            assert frame.shape == (video.height, video.width, 3)


@FUZZ
@given(name=st.sampled_from(sorted(BYO_FILES)), data=st.data())
def test_byo_files(tmp_path_factory, name, data):
    folder = _write_folder(tmp_path_factory.mktemp("byo"), BYO_FILES)
    (folder / name).write_bytes(data.draw(mutated(BYO_FILES[name])))
    video = outcome("load_byo_video", load_byo_video, folder)
    if video is not None:
        _check_video(video)


@FUZZ
@given(text=json_mutated(json.loads(BYO_FILES["transforms.json"])))
def test_byo_transforms_json(tmp_path_factory, text):
    folder = _write_folder(tmp_path_factory.mktemp("byo"), dict(BYO_FILES, **{"transforms.json": text.encode()}))
    video = outcome("load_byo_video", load_byo_video, folder)
    if video is not None:
        _check_video(video)


def _tiny_video(folder: Path) -> VideoDataset:
    _write_folder(folder, {k: v for k, v in BYO_FILES.items() if k.startswith("images/")})
    zeros = np.zeros((N_BYO, 15), np.float32)
    return VideoDataset(
        speaker="tiny",
        fps=25,
        height=8,
        width=8,
        labels=np.ones((N_BYO, 8, 8), np.uint8),
        face_mask=None,
        K=np.array([[10, 0, 4], [0, 10, 4], [0, 0, 1]], np.float32),
        viewmats=np.tile(np.eye(4, dtype=np.float32), (N_BYO, 1, 1)),
        flame_tracked=FlameParams(
            expression=np.zeros((N_BYO, 2), np.float32),
            pose=zeros,
            translation=np.zeros((N_BYO, 3), np.float32),
            shape=np.zeros(4, np.float32),
        ),
        flame_true=None,
        landmarks2d=None,
        audio=np.sin(np.arange(640 * N_BYO) / 7.0).astype(np.float32) * 0.3,
        splits={"train": np.arange(2), "val": np.arange(2, 3), "test": np.arange(2, 3)},
        meta={},
        frame_paths=[folder / f"images/{t:05d}.png" for t in range(N_BYO)],
    )


def test_export_byo_replaces_an_earlier_export_and_refuses_other_folders(tmp_path):
    video = _tiny_video(tmp_path / "source")
    target = tmp_path / "export"
    export_byo(video, target)
    (target / "stale.txt").write_text("from an earlier export")
    export_byo(video, target)
    assert not (target / "stale.txt").exists(), "a re-export must not leave files of the earlier one"
    assert load_byo_video(target).num_frames == N_BYO
    mine = tmp_path / "my_documents"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    with pytest.raises(TalkingHeadError, match="refusing to replace"):
        export_byo(video, mine)
    assert (mine / "thesis.tex").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export", "my_documents", "source"], (
        "temporary folders left behind"
    )


# ---------------------------------------------------------------------------------------------- bundled-layout datasets
T_VIDEO = 2


def _video_files() -> dict[str, bytes]:
    rng = np.random.default_rng(1)
    flame = {
        "shape": np.zeros(4, np.float32),
        "expression": np.zeros((T_VIDEO, 2), np.float32),
        "pose": np.zeros((T_VIDEO, 15), np.float32),
        "translation": np.zeros((T_VIDEO, 3), np.float32),
    }
    files = {
        "meta.json": json.dumps(
            {
                "height": 8,
                "width": 8,
                "num_frames": T_VIDEO,
                "fps": 25,
                "splits": {"train": [0, 1], "val": [1, 2], "test": [1, 2]},
            }
        ).encode(),
        "tracking.npz": _npz_bytes(
            K=np.array([[10, 0, 4], [0, 10, 4], [0, 0, 1]], np.float32),
            viewmats=np.tile(np.eye(4, dtype=np.float32), (T_VIDEO, 1, 1)),
            landmarks2d=np.zeros((T_VIDEO, 68, 2), np.float32),
            **flame,
        ),
        "ground_truth_eval_only.npz": _npz_bytes(**flame),
        "masks.npz": _npz_bytes(labels=np.ones((T_VIDEO, 8, 8), np.uint8), face_mask=np.ones((T_VIDEO, 8, 8), bool)),
    }
    flac = io.BytesIO()
    soundfile.write(flac, rng.normal(0, 0.1, 640 * T_VIDEO), 16000, format="FLAC")
    files["audio.flac"] = flac.getvalue()
    for t in range(T_VIDEO):
        jpeg = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(jpeg, format="JPEG")
        files[f"frames/{t:05d}.jpg"] = jpeg.getvalue()
    return files


VIDEO_FILES = _video_files()


@FUZZ
@given(name=st.sampled_from(sorted(VIDEO_FILES)), data=st.data())
def test_video_dataset_files(tmp_path_factory, name, data):
    root = tmp_path_factory.mktemp("video")
    folder = _write_folder(root / "tiny", VIDEO_FILES)
    mutation = data.draw(
        mutated(VIDEO_FILES[name])
        if name != "meta.json"
        else mutated(VIDEO_FILES[name]) | json_mutated(json.loads(VIDEO_FILES[name])).map(str.encode)
    )
    (folder / name).write_bytes(mutation)
    video = outcome("load_video_dataset", load_video_dataset, "tiny", root=root, resolution=8)
    if video is not None:
        _check_video(video)


@pytest.fixture(scope="module")
def speech_files():
    """One utterance of the bundled speech data: metadata.json cut down to it, head_map.npz, its flac and npz."""
    source = dataset_root() / "speech"
    metadata = json.loads((source / "metadata.json").read_text())
    item = metadata["utterances"][0]
    metadata["utterances"] = [item]
    stem = f"{item['speaker']}/{item['sentence_id']}"
    return {
        "metadata.json": json.dumps(metadata).encode(),
        "head_map.npz": (source / "head_map.npz").read_bytes(),
        f"{stem}.flac": (source / f"{stem}.flac").read_bytes(),
        f"{stem}.npz": (source / f"{stem}.npz").read_bytes(),
    }


@FEW
@given(data=st.data())
def test_speech_dataset_files(tmp_path_factory, speech_files, data):
    name = data.draw(st.sampled_from(sorted(speech_files)))
    original = speech_files[name]
    if name == "metadata.json":
        document = json.loads(original)
        small = {
            k: document[k] for k in ("utterances", "held_out_language", "languages")
        }  # mutate the parts the loader reads per item
        text = data.draw(json_mutated(small))
        mutation = json.dumps(dict(document, **json.loads(text))).encode()
    else:
        mutation = data.draw(mutated(original))
    folder = _write_folder(tmp_path_factory.mktemp("speech"), dict(speech_files, **{name: mutation}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a damaged head_map.npz warns that the head changed
        dataset = outcome("load_speech_dataset", load_speech_dataset, folder)
    if dataset is not None:
        for utterance in dataset.utterances:
            assert np.isfinite(utterance.audio).all() and np.isfinite(utterance.expression).all()
            assert len(utterance.audio) == 640 * len(utterance.articulation)


# ---------------------------------------------------------------------------------------------- command line
@pytest.fixture(scope="module")
def garbage_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "head.safetensors"
    path.write_bytes(b"not a checkpoint at all")
    return path


BAD_COMMANDS = [
    ["build-head", "--n-shape", "-5"],
    ["build-head", "--resolution", "9"],
    ["bench", "render", "--n", "0"],
    ["bench", "render", "--sizes", "abc"],
    ["bench", "flame", "--device", "bogus"],
    ["bench", "flame", "--device", "cuda:7"],
    ["bench", "flame", "--batches", "0"],
    ["bench", "head", "--checkpoint", "/nonexistent/head.safetensors"],
    ["bench", "motion", "--runs", "0"],
    ["course", "--notebooks", "/nonexistent"],
    ["make-dataset", "--workers", "0"],
    ["no-such-command"],
]


@pytest.mark.parametrize("argv", BAD_COMMANDS, ids=[" ".join(a) for a in BAD_COMMANDS])
def test_cli_bad_arguments_give_one_line_and_status_2(argv, capsys):
    TRIED["cli"] += 1
    assert cli.main(argv) == 2 if argv[0] == "no-such-command" else _exit_status(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err and "\n" not in err and "Traceback" not in err, err
    if argv[0] == "course":
        assert "/nonexistent" in err


def _exit_status(argv) -> int:
    try:
        return cli.main(argv)
    except SystemExit as exc:  # argparse errors exit from inside the subcommand
        return int(exc.code)


def test_cli_damaged_checkpoint_gives_one_line_unless_debug(garbage_checkpoint, capsys):
    TRIED["cli"] += 2
    assert cli.main(["bench", "head", "--checkpoint", str(garbage_checkpoint), "--frames", "1", "--size", "8"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "head.safetensors is not a safetensors checkpoint" in err
    with pytest.raises(CheckpointError):
        cli.main(["--debug", "bench", "head", "--checkpoint", str(garbage_checkpoint), "--frames", "1", "--size", "8"])


# ---------------------------------------------------------------------------------------------- disk full
_DISK_FULL = textwrap.dedent("""
    import resource, signal, sys
    from pathlib import Path
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
    target, task = Path(sys.argv[1]), sys.argv[2]
    import numpy as np, torch
    from talkinghead_edu.errors import WriteError
    from talkinghead_edu.utils.io import atomic_write_bytes, save_checkpoint
    if task == "byo":
        sys.path.insert(0, sys.argv[3])
        from test_fuzz_inputs import _tiny_video
        from talkinghead_edu.data.byo import export_byo
        video = _tiny_video(target.parent / "source")
    resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))
    try:
        if task == "checkpoint":
            save_checkpoint(target, {"w": torch.randn(4096)}, {"step": 2})
        elif task == "bytes":
            atomic_write_bytes(target, bytes(100_000))
        else:
            export_byo(video, target)
    except WriteError as exc:
        print("WriteError:", exc)
        sys.exit(3)
    sys.exit(0)
""")


def _run_disk_full(target: Path, task: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", _DISK_FULL, str(target), task, str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("task", ["checkpoint", "bytes"])
def test_disk_full_leaves_no_partial_file_and_keeps_the_old_one(tmp_path, task):
    target = tmp_path / ("model.safetensors" if task == "checkpoint" else "video.mp4")
    if task == "checkpoint":
        save_checkpoint(target, {"w": torch.ones(3)}, {"step": 1})
    else:
        target.write_bytes(b"old video")
    before = target.read_bytes()
    result = _run_disk_full(target, task)
    assert result.returncode == 3, result.stdout + result.stderr
    assert str(target) in result.stdout
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [target.name], "a temporary file was left behind"
    if task == "checkpoint":
        assert load_checkpoint(target)[1] == {"step": 1}


def test_disk_full_during_byo_export_keeps_the_earlier_export(tmp_path):
    target = tmp_path / "export"
    export_byo(_tiny_video(tmp_path / "source"), target, frames=slice(0, 2))
    before = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    result = _run_disk_full(target, "byo")
    assert result.returncode == 3, result.stdout + result.stderr
    after = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    assert after == before, "the earlier export changed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export", "source"], "a temporary folder was left behind"
    assert load_byo_video(target).num_frames == 2
