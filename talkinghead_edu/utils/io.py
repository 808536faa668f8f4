"""Atomic writes and safe checkpoints.

Every file the package writes (checkpoints, datasets, rendered videos, benchmark
results) goes through :func:`atomic_writer`: the bytes land in a temporary file in the
same folder, are flushed to disk, and only then renamed over the target, so an
interrupted run never leaves a half-written file behind.

Checkpoints are stored with ``safetensors`` (plain tensors + a JSON string map) so
that loading a file never runs code; nothing here ever unpickles.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator, Mapping

import numpy as np
import torch

__all__ = [
    "atomic_writer",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_save_npz",
    "save_checkpoint",
    "load_checkpoint",
]


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file next to ``path``; rename it onto ``path`` on success.

    Example:
        >>> with atomic_writer("out.json", "w") as fh:
        ...     fh.write("{}")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_name, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_writer(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically and return the path."""
    with atomic_writer(path, "w") as fh:
        fh.write(text)
    return Path(path)


def atomic_save_npz(path: str | os.PathLike, compressed: bool = True, **arrays: np.ndarray) -> Path:
    """``np.savez(_compressed)`` through a temporary file. Load with ``np.load(path, allow_pickle=False)``."""
    saver = np.savez_compressed if compressed else np.savez
    with atomic_writer(path, "wb") as fh:
        saver(fh, **arrays)
    return Path(path)


def save_checkpoint(
    path: str | os.PathLike,
    tensors: Mapping[str, torch.Tensor],
    meta: Mapping[str, object] | None = None,
) -> Path:
    """Save named tensors plus JSON-serialisable metadata as one ``.safetensors`` file, atomically.

    Args:
        path: target file (conventionally ``*.safetensors``).
        tensors: name -> tensor (any shape/dtype; moved to CPU and made contiguous).
        meta: small JSON-serialisable dict (step, config, ...), stored in the file header.
    """
    from safetensors.torch import save

    flat = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    header = {"talkinghead_edu_meta": json.dumps(dict(meta or {}))}
    return atomic_write_bytes(path, save(flat, metadata=header))


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[dict[str, torch.Tensor], dict]:
    """Load a file written by :func:`save_checkpoint` -> ``(tensors, meta)``. Never unpickles.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is not a safetensors checkpoint.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        raw = path.read_bytes()
        tensors = load(raw)
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as fh:
            header = fh.metadata() or {}
    except (SafetensorError, Exception) as exc:  # safetensors raises several types on garbage input
        raise ValueError(f"{path} is not a safetensors checkpoint written by talkinghead_edu ({exc})") from exc
    meta = json.loads(header.get("talkinghead_edu_meta", "{}"))
    return {k: v.to(device) for k, v in tensors.items()}, meta
