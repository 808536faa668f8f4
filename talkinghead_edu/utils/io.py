"""Atomic writes and safe checkpoints.

Every file the package writes (checkpoints, datasets, rendered videos, benchmark
results) goes through :func:`atomic_writer`: the bytes land in a temporary file in the
same folder, are flushed to disk, and only then renamed over the target, so an
interrupted run never leaves a half-written file behind. A folder written as one unit
(a bring-your-own export) goes through :func:`atomic_directory` the same way. When the
disk fills or a write is refused, the temporary file or folder is removed, the target is
left as it was, and :class:`~talkinghead_edu.errors.WriteError` names the target.

Checkpoints are stored with ``safetensors`` (plain tensors + a JSON string map) so
that loading a file never runs code; nothing here ever unpickles. Floating-point tensors
must be finite both when saved and when loaded (a NaN weight is refused by name).
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

from ..errors import CheckpointError, TalkingHeadError, WriteError, require_file

__all__ = [
    "atomic_writer",
    "atomic_directory",
    "checkpoint_contents",
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
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        if isinstance(exc, OSError) and not isinstance(exc, TalkingHeadError):
            raise WriteError(
                f"could not write {path}: {exc.strerror or exc}; the previous file (if any) is unchanged"
            ) from exc
        raise


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Build a folder in a temporary sibling; it replaces ``path`` only when the body succeeds.

    The body writes into the yielded temporary folder. On success an existing ``path`` is
    moved aside, the new folder renamed onto ``path`` and the old one deleted (two renames on
    the same file system; a crash between them leaves the old folder as ``.NAME.*.old``).
    On any failure the temporary folder is deleted and ``path`` is untouched; an ``OSError``
    (disk full, no permission) becomes :class:`~talkinghead_edu.errors.WriteError`.

    Example:
        >>> with atomic_directory("export") as tmp:
        ...     (tmp / "a.txt").write_text("complete or absent")
    """
    import shutil

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700 folders; give the usual permissions
    try:
        yield tmp
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(exc, TalkingHeadError):
            raise WriteError(
                f"could not write the folder {path}: {exc.strerror or exc}"
                f"{f' ({exc.filename})' if exc.filename else ''}; the previous folder (if any) is unchanged"
            ) from exc
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
    _check_finite(flat, f"refusing to save checkpoint {path}")
    try:
        header = {"talkinghead_edu_meta": json.dumps(dict(meta or {}), allow_nan=False)}
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"refusing to save checkpoint {path}: its metadata is not plain JSON ({exc})") from None
    return atomic_write_bytes(path, save(flat, metadata=header))


def _check_finite(tensors: Mapping[str, torch.Tensor], context: str) -> None:
    """Raise :class:`CheckpointError` naming the first floating-point tensor with NaN or ±inf values."""
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise CheckpointError(
                f"{context}: tensor {name!r} {tuple(tensor.shape)} holds {bad} NaN or infinite "
                "value(s); expected finite weights (a diverged training run?)"
            )


def load_checkpoint(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[dict[str, torch.Tensor], dict]:
    """Load a file written by :func:`save_checkpoint` -> ``(tensors, meta)``. Never unpickles.

    Raises:
        MissingFileError (a ``FileNotFoundError``): ``path`` does not exist or is a folder.
        CheckpointError (a ``ValueError``): ``path`` is not a safetensors checkpoint, its metadata
            is not a JSON object, or a floating-point tensor holds NaN or ±inf.
    """
    from safetensors.torch import load

    path = Path(path)
    require_file(path, "checkpoint", "a .safetensors file written by talkinghead_edu")
    try:
        raw = path.read_bytes()
        tensors = load(raw)
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as fh:
            header = fh.metadata() or {}
    except Exception as exc:  # safetensors raises several types (SafetensorError, OSError...) on garbage input
        raise CheckpointError(f"{path} is not a safetensors checkpoint written by talkinghead_edu ({exc})") from None
    try:
        meta = json.loads(header.get("talkinghead_edu_meta", "{}"))
    except json.JSONDecodeError as exc:
        raise CheckpointError(
            f"{path}: the checkpoint's metadata is not valid JSON ({exc}); "
            "expected the JSON object written by save_checkpoint"
        ) from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: the checkpoint's metadata is a JSON {type(meta).__name__}, expected an object")
    _check_finite(tensors, str(path))
    return {k: v.to(device) for k, v in tensors.items()}, meta


@contextlib.contextmanager
def checkpoint_contents(path: str | os.PathLike, what: str) -> Iterator[None]:
    """Turn a missing key, wrong type or wrong shape met while rebuilding ``what`` from a checkpoint
    into one :class:`CheckpointError` naming the file.

    Example:
        >>> with checkpoint_contents(path, "audio encoder"):
        ...     encoder.load_state_dict(tensors)
    """
    try:
        yield
    except TalkingHeadError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as exc:
        raise CheckpointError(f"{path} does not hold a usable {what} ({type(exc).__name__}: {exc})") from None
