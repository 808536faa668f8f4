"""Atomic writes and safe checkpoints (talkinghead_edu.utils.io)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from talkinghead_edu.utils.io import atomic_save_npz, atomic_write_text, atomic_writer, load_checkpoint, save_checkpoint


def test_atomic_writer_leaves_old_file_when_interrupted(tmp_path):
    target = tmp_path / "result.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_writer(target, "w") as fh:
            fh.write("half written")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["result.txt"], "temporary file was not cleaned up"


def test_checkpoint_round_trip(tmp_path):
    tensors = {"weight": torch.randn(3, 4), "step_ids": torch.arange(5), "half": torch.randn(2).half()}
    path = save_checkpoint(tmp_path / "ckpt.safetensors", tensors, meta={"step": 7, "config": {"lr": 1e-3}})
    loaded, meta = load_checkpoint(path)
    assert meta == {"step": 7, "config": {"lr": 1e-3}}
    for name, value in tensors.items():
        assert torch.equal(loaded[name], value)


def test_load_checkpoint_rejects_non_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.safetensors")
    garbage = tmp_path / "pickled.pt"
    torch.save({"a": torch.zeros(1)}, garbage)  # a pickle-based file must not be accepted
    with pytest.raises(ValueError, match="not a safetensors checkpoint"):
        load_checkpoint(garbage)


def test_atomic_save_npz_round_trip(tmp_path):
    path = atomic_save_npz(tmp_path / "arrays.npz", a=np.arange(4), b=np.eye(2, dtype=np.float32))
    with np.load(path, allow_pickle=False) as data:
        np.testing.assert_array_equal(data["a"], np.arange(4))
        np.testing.assert_array_equal(data["b"], np.eye(2))


def test_atomic_writer_uses_normal_permissions(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "shared.txt", "x")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644
