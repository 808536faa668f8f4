"""Load the official FLAME model (``generic_model.pkl``) without chumpy and without trusting pickle.

The FLAME 2020 and 2023 releases are Python pickles of a dict::

    v_template (5023, 3)   f (9976, 3)        shapedirs (5023, 3, 400)  300 shape + 100 expression
    posedirs (5023, 3, 36) J_regressor (5, 5023) scipy.sparse   weights (5023, 5)
    kintree_table (2, 5)   J (5, 3)           bs_style 'lbs'   bs_type 'lrotmin'

Some arrays are ``chumpy.ch.Ch`` objects (2020; chumpy no longer installs on current Python)
and the regressor is a scipy sparse matrix. A plain ``pickle.load`` would run whatever code a
file names, so :class:`RestrictedUnpickler` only lets through the few reconstructors such a
file needs — numpy arrays, dtypes and scalars, scipy CSC/CSR matrices and chumpy arrays —
and rebuilds the last two as inert placeholders that are converted to numpy here. Any other
class is refused with :class:`FlameFileError`.

The landmark embedding comes as a separate file: the static embedding
(``flame_static_embedding.pkl``: ``lmk_face_idx`` (51,), ``lmk_b_coords`` (51, 3)), a
DECA-style ``landmark_embedding.npy`` (a pickled dict with ``full_lmk_faces_idx`` (68)), or
an ``.npz`` with ``lmk_faces_idx`` / ``lmk_bary_coords``.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import scipy.sparse
import torch

from ..errors import FileFormatError
from .model import FlameModel, FlameModelError, _parents_from_kintree

__all__ = ["FlameFileError", "RestrictedUnpickler", "restricted_load", "load_official_flame", "load_landmark_embedding"]

#: Column counts of the official releases: 300 shape then 100 expression components.
OFFICIAL_N_SHAPE = 300
_REQUIRED_KEYS = ("v_template", "f", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table")


#: Deepest nesting of dicts/lists accepted in a FLAME pickle (real files nest two levels).
MAX_NESTING = 32


class FlameFileError(FlameModelError, FileFormatError):
    """A FLAME file is missing, malformed, or names a class the restricted unpickler refuses."""


class _ChumpyArray:
    """Inert stand-in for ``chumpy.ch.Ch``: keeps the pickled state, whose ``x`` is the array."""

    def __setstate__(self, state) -> None:
        self.state = state

    def to_numpy(self, where: str) -> np.ndarray:
        state = getattr(self, "state", None)
        if not isinstance(state, dict) or not isinstance(state.get("x"), np.ndarray):
            raise FlameFileError(
                f"{where}: a chumpy object without a stored array 'x' (only plain chumpy arrays are supported)"
            )
        return state["x"]


class _SparseMatrix:
    """Inert stand-in for a pickled scipy CSC/CSR matrix (its state dict holds the index arrays)."""

    format = ""

    def __setstate__(self, state) -> None:
        self.state = state

    def to_numpy(self, where: str) -> np.ndarray:
        state = getattr(self, "state", None)
        keys = ("data", "indices", "indptr")
        if not isinstance(state, dict) or not all(isinstance(state.get(k), np.ndarray) for k in keys):
            raise FlameFileError(f"{where}: a sparse matrix without data/indices/indptr arrays")
        shape = state.get("_shape", state.get("shape"))
        if not (isinstance(shape, tuple) and len(shape) == 2):
            raise FlameFileError(f"{where}: a sparse matrix without a 2-D shape")
        build = scipy.sparse.csc_matrix if self.format == "csc" else scipy.sparse.csr_matrix
        try:
            matrix = build((state["data"], state["indices"], state["indptr"]), shape=tuple(int(s) for s in shape))
            return matrix.toarray()
        except ValueError as exc:
            raise FlameFileError(f"{where}: inconsistent sparse matrix ({exc})") from None


class _CscMatrix(_SparseMatrix):
    format = "csc"


class _CsrMatrix(_SparseMatrix):
    format = "csr"


_PLACEHOLDERS = (_ChumpyArray, _CscMatrix, _CsrMatrix)


def _safe_reconstructor(cls, base, state):
    """``copyreg._reconstructor`` (protocol 0/1 objects), limited to the placeholders."""
    if cls not in _PLACEHOLDERS or base is not object or state is not None:
        raise pickle.UnpicklingError("copyreg._reconstructor may only rebuild chumpy or sparse placeholders")
    return object.__new__(cls)


def _safe_newobj(cls, *args):
    """``copyreg.__newobj__`` written out by old picklers, limited to the placeholders."""
    if cls not in _PLACEHOLDERS:
        raise pickle.UnpicklingError("copyreg.__newobj__ may only rebuild chumpy or sparse placeholders")
    return object.__new__(cls)


def _numpy_multiarray():
    try:
        from numpy._core import multiarray  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray
    return multiarray


def _allowed_globals() -> dict[tuple[str, str], object]:
    multiarray = _numpy_multiarray()
    try:
        from numpy._core.numeric import _frombuffer
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.numeric import _frombuffer
    import _codecs

    allowed: dict[tuple[str, str], object] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        # Python 3 pickles (protocol ≤ 2) spell bytes as _codecs.encode(text, "latin1")
        ("_codecs", "encode"): _codecs.encode,
        ("chumpy.ch", "Ch"): _ChumpyArray,
    }
    # Python 2 module names first, then their Python 3 spelling
    for py2, py3 in (("copy_reg", "copyreg"), ("__builtin__", "builtins")):
        for module in (py2, py3):
            allowed[(module, "_reconstructor")] = _safe_reconstructor
            allowed[(module, "__newobj__")] = _safe_newobj
    for module in ("__builtin__", "builtins"):
        allowed[(module, "object")] = object
        allowed[(module, "set")] = set
        allowed[(module, "frozenset")] = frozenset
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = multiarray._reconstruct
        allowed[(module, "scalar")] = multiarray.scalar
    for module in ("numpy.core.numeric", "numpy._core.numeric"):
        allowed[(module, "_frombuffer")] = _frombuffer
    for module in ("scipy.sparse.csc", "scipy.sparse._csc"):
        allowed[(module, "csc_matrix")] = _CscMatrix
    for module in ("scipy.sparse.csr", "scipy.sparse._csr"):
        allowed[(module, "csr_matrix")] = _CsrMatrix
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals a FLAME file needs (see module docstring).

    Python 2 pickles are read with ``encoding="latin1"`` (numpy's byte strings survive it);
    the allow-list spells each global under its Python 2 and Python 3 module name.
    """

    def __init__(self, file, source: str = "<pickle>") -> None:
        super().__init__(file, encoding="latin1", fix_imports=True)
        self.source = source
        self._allowed = _allowed_globals()

    def find_class(self, module: str, name: str):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise FlameFileError(
                f"{self.source}: refused to load '{module}.{name}' — a FLAME file may only contain numpy arrays, "
                "scipy sparse matrices and chumpy arrays"
            ) from None

    def persistent_load(self, pid):
        raise FlameFileError(f"{self.source}: persistent references are not allowed in a FLAME file")


def _to_numpy(value, where: str, depth: int = 0):
    """Placeholders → numpy arrays; dicts, lists and tuples converted recursively; rest unchanged.

    Containers nested deeper than :data:`MAX_NESTING` (or containing themselves) are refused.
    """
    if depth > MAX_NESTING:
        raise FlameFileError(
            f"{where}: containers nested deeper than {MAX_NESTING} levels (or containing themselves); "
            "a FLAME file is a flat dict of arrays"
        )
    if isinstance(value, _PLACEHOLDERS):
        return value.to_numpy(where)
    if isinstance(value, dict):
        return {key: _to_numpy(item, f"{where}[{key!r}]", depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_numpy(item, where, depth + 1) for item in value)
    return value


def restricted_load(data: bytes, source: str = "<pickle>"):
    """Unpickle ``data`` with :class:`RestrictedUnpickler` and convert placeholders to numpy.

    Raises:
        FlameFileError: a refused class, or bytes that are not a valid pickle.
    """
    try:
        obj = RestrictedUnpickler(io.BytesIO(data), source=source).load()
    except FlameFileError:
        raise
    except Exception as exc:  # truncated or corrupt pickles raise many exception types (RecursionError too)
        raise FlameFileError(f"{source}: not a readable pickle ({type(exc).__name__}: {exc})") from None
    return _to_numpy(obj, source)


def _read_file(path: Path, what: str) -> bytes:
    if path.is_dir():
        raise FlameFileError(f"{what} {path} is a folder; expected the file itself (e.g. generic_model.pkl)")
    if not path.is_file():
        raise FlameFileError(f"{what} {path} does not exist")
    return path.read_bytes()


def _load_npy_pickled_dict(path: Path) -> dict:
    """An ``.npy`` holding one pickled object (``np.save`` of a dict), read without ``allow_pickle``."""
    with open(path, "rb") as handle:
        try:
            version = np.lib.format.read_magic(handle)
            read_header = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            )
            _, _, dtype = read_header(handle)
        except ValueError as exc:
            raise FlameFileError(f"{path}: not a valid .npy file ({exc})") from None
        if dtype.hasobject:
            array = restricted_load(handle.read(), source=str(path))
        else:
            handle.seek(0)
            try:
                array = np.load(handle, allow_pickle=False)
            except (ValueError, OSError, EOFError) as exc:
                raise FlameFileError(f"{path}: not a valid .npy file ({exc})") from None
    array = np.asarray(array, dtype=object) if not isinstance(array, np.ndarray) else array
    value = array.item() if array.shape == () else array
    if not isinstance(value, dict):
        raise FlameFileError(f"{path}: expected a dict of landmark arrays, found {type(value).__name__}")
    return value


_LANDMARK_FACE_KEYS = ("full_lmk_faces_idx", "lmk_faces_idx", "lmk_face_idx", "static_lmk_faces_idx")
_LANDMARK_BARY_KEYS = ("full_lmk_bary_coords", "lmk_bary_coords", "lmk_b_coords", "static_lmk_bary_coords")


def load_landmark_embedding(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a FLAME landmark embedding: triangle index and barycentric coordinates per landmark.

    Accepts ``flame_static_embedding.pkl`` (51 points), DECA's ``landmark_embedding.npy``
    (the 68-point ``full_*`` entries are preferred), or an ``.npz`` with
    ``lmk_faces_idx`` / ``lmk_bary_coords``.

    Returns:
        faces_idx (L,) int64 and bary_coords (L, 3) float32.
    """
    path = Path(path)
    _read_file(path, "landmark embedding")
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as archive:
                content = {key: archive[key] for key in archive.files}
        except Exception as exc:
            raise FlameFileError(f"{path}: not a readable .npz of plain arrays ({exc})") from None
    elif path.suffix == ".npy":
        content = _load_npy_pickled_dict(path)
    else:
        content = restricted_load(path.read_bytes(), source=str(path))
    if not isinstance(content, dict):
        raise FlameFileError(f"{path}: expected a dict with landmark arrays, found {type(content).__name__}")
    for face_key, bary_key in zip(_LANDMARK_FACE_KEYS, _LANDMARK_BARY_KEYS):
        if face_key in content and bary_key in content:
            try:
                faces_idx = np.asarray(content[face_key]).astype(np.int64).reshape(-1)
                bary = np.asarray(content[bary_key], dtype=np.float32).reshape(-1, 3)
            except (TypeError, ValueError, OverflowError) as exc:
                raise FlameFileError(
                    f"{path}: {face_key}/{bary_key} must be (L,) integers and (L, 3) numbers ({exc})"
                ) from None
            if bary.shape[0] != faces_idx.shape[0]:
                raise FlameFileError(
                    f"{path}: {face_key} has {faces_idx.shape[0]} entries but {bary_key} has {bary.shape[0]}"
                )
            return faces_idx, bary
    raise FlameFileError(
        f"{path}: no landmark arrays found; expected one of the pairs "
        + ", ".join(f"{f}/{b}" for f, b in zip(_LANDMARK_FACE_KEYS, _LANDMARK_BARY_KEYS))
        + f" (found keys: {', '.join(map(str, content)) or 'none'})"
    )


def load_official_flame(
    path: str | Path,
    landmark_embedding: str | Path | None = None,
    n_shape: int = OFFICIAL_N_SHAPE,
    n_shape_used: int | None = None,
    n_expr_used: int | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> FlameModel:
    """Build a :class:`FlameModel` from the official ``generic_model.pkl`` (2020 or 2023 layout).

    Args:
        path: the FLAME model pickle.
        landmark_embedding: optional landmark embedding file (see :func:`load_landmark_embedding`);
            without it the model returns zero landmarks, shape (B, 0, 3).
        n_shape: how many leading ``shapedirs`` columns are identity shape (300 in every release;
            the remaining columns are expression).
        n_shape_used, n_expr_used: keep only the leading components (e.g. 100 and 50, as most
            trackers do); ``None`` keeps all.
        device, dtype: where and in which dtype to keep the model.

    Returns:
        a :class:`FlameModel` without semantic labels or articulations; its ``shape_std`` and
        ``expr_std`` are ones (FLAME's bases are scaled so that coefficients are ~ N(0, 1)).

    Raises:
        FlameFileError: missing file, refused class, missing key or wrong shape — the message
            names the file and what was expected.
    """
    path = Path(path)
    content = restricted_load(_read_file(path, "FLAME model file"), source=str(path))
    if not isinstance(content, dict):
        raise FlameFileError(
            f"{path}: expected a pickled dict with FLAME's keys {', '.join(_REQUIRED_KEYS)}, "
            f"found {type(content).__name__}"
        )
    missing = [key for key in _REQUIRED_KEYS if key not in content]
    if missing:
        raise FlameFileError(
            f"{path}: missing key(s) {', '.join(missing)}; expected FLAME's keys {', '.join(_REQUIRED_KEYS)}"
        )
    arrays = {}
    for key in _REQUIRED_KEYS:
        value = content[key]
        if not isinstance(value, np.ndarray) or not np.issubdtype(value.dtype, np.number):
            raise FlameFileError(f"{path}: {key!r} should be a numeric array, found {type(value).__name__}")
        arrays[key] = value
    shapedirs = arrays["shapedirs"]
    if shapedirs.ndim != 3 or shapedirs.shape[2] < n_shape:
        raise FlameFileError(f"{path}: 'shapedirs' must be (V, 3, K) with K ≥ n_shape={n_shape}, got {shapedirs.shape}")
    n_expr = shapedirs.shape[2] - n_shape
    keep_shape = n_shape if n_shape_used is None else min(n_shape_used, n_shape)
    keep_expr = n_expr if n_expr_used is None else min(n_expr_used, n_expr)
    shapedirs = np.concatenate([shapedirs[:, :, :keep_shape], shapedirs[:, :, n_shape : n_shape + keep_expr]], axis=2)

    lmk_faces_idx = lmk_bary_coords = None
    if landmark_embedding is not None:
        lmk_faces_idx, lmk_bary_coords = load_landmark_embedding(landmark_embedding)
    try:
        model = FlameModel(
            v_template=arrays["v_template"],
            faces=arrays["f"].astype(np.int64),
            shapedirs=shapedirs,
            n_shape=keep_shape,
            posedirs=arrays["posedirs"],
            J_regressor=arrays["J_regressor"],
            weights=arrays["weights"],
            parents=_parents_from_kintree(arrays["kintree_table"], str(path)),
            lmk_faces_idx=lmk_faces_idx,
            lmk_bary_coords=lmk_bary_coords,
            # the official bases are scaled by each component's standard deviation, so the
            # coefficients themselves are ~ N(0, 1)
            shape_std=np.ones(keep_shape),
            expr_std=np.ones(keep_expr),
            source=path.name,
            dtype=dtype,
        )
    except FlameModelError as exc:
        raise FlameFileError(str(exc)) from None
    return model.to(device=device)
