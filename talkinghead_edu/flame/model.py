"""The FLAME head model as a PyTorch module (paper eq 10).

``FlameModel`` holds FLAME's arrays (template, blendshape bases, joint regressor,
skinning weights, kinematic tree, landmark embedding) as buffers and maps parameters

    shape β (B, S), expression ε (B, E), pose ψ (B, 15), translation (B, 3)

to posed vertices (B, V, 3), joints (B, 5, 3) and landmarks (B, L, 3) with the functions
of :mod:`talkinghead_edu.flame.lbs`. The pose holds five axis-angle rotations, in this
order: global (root), neck, jaw, left eye, right eye.

Two sources fill it:

* :func:`load_head_model` — the package's own procedural head
  (``flame/assets/procedural_head.npz``, built by ``synth/head_builder.py``), which also
  carries per-triangle semantic labels, UVs and named articulations;
* :func:`talkinghead_edu.flame.official.load_official_flame` — the official
  ``generic_model.pkl`` when you have downloaded it under its licence.

Coordinates are metres, +y up, +z out of the face, +x toward the subject's left.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..conventions import JOINT_NAMES, pack_pose
from ..errors import InputError, InputTypeError, TalkingHeadError
from ..paths import ASSETS_DIR
from ..semantics import label_id
from .lbs import lbs

__all__ = ["FlameModel", "FlameOutput", "FlameModelError", "load_head_model", "DEFAULT_HEAD_PATH"]

DEFAULT_HEAD_PATH = ASSETS_DIR / "procedural_head.npz"

_REQUIRED_KEYS = ("v_template", "f", "shapedirs", "n_shape", "posedirs", "J_regressor", "weights", "kintree_table")


#: How far a row of skinning weights may stray from summing to 1 (float32 files store ~1e-7).
WEIGHT_SUM_TOLERANCE = 1e-3
#: Largest magnitude accepted in a model array or a parameter: heads are in metres, coefficients
#: ~N(0, 1), poses in radians — anything larger is a damaged file or a unit mistake (and overflows).
MAX_MAGNITUDE = 1e4


class FlameModelError(TalkingHeadError):
    """A head-model file or array is missing, does not have FLAME's layout, or holds unusable values."""


@dataclass
class FlameOutput:
    """Result of :meth:`FlameModel.forward`.

    Attributes:
        vertices:  (B, V, 3) posed mesh vertices in metres.
        joints:    (B, J, 3) posed joints (J = 5: global, neck, jaw, left eye, right eye).
        landmarks: (B, L, 3) landmarks on the posed mesh (L = 68 iBUG points for the
            bundled head; whatever the embedding holds for an official model).
    """

    vertices: torch.Tensor
    joints: torch.Tensor
    landmarks: torch.Tensor


def _parents_from_kintree(kintree_table: np.ndarray, source: str) -> np.ndarray:
    """(2, J) kintree table → (J,) parent indices with ``-1`` for the root.

    FLAME stores the root's parent as an arbitrary sentinel (often 2³²−1); the second row
    lists the joint ids, which must be 0..J−1 in order.
    """
    kintree_table = np.asarray(kintree_table)
    if kintree_table.ndim != 2 or kintree_table.shape[0] != 2:
        raise FlameModelError(f"{source}: 'kintree_table' must have shape (2, J), got {kintree_table.shape}")
    n_joints = kintree_table.shape[1]
    if not np.array_equal(kintree_table[1].astype(np.int64), np.arange(n_joints)):
        raise FlameModelError(
            f"{source}: 'kintree_table' row 1 must list joints 0..{n_joints - 1} in order, got {kintree_table[1]}"
        )
    parents = kintree_table[0].astype(np.int64)
    parents[0] = -1
    if not all(0 <= parents[j] < j for j in range(1, n_joints)):
        raise FlameModelError(
            f"{source}: 'kintree_table' parents must come before their children, got {parents.tolist()}"
        )
    return parents


class FlameModel(nn.Module):
    """FLAME-compatible head model: parameters in, posed mesh out (eq 10).

    Build it with :func:`load_head_model` or :func:`load_official_flame` rather than by hand.

    Args:
        v_template:      (V, 3) template vertices (metres).
        faces:           (F, 3) triangle vertex indices, counter-clockwise from outside.
        shapedirs:       (V, 3, S+E) shape columns first, then expression columns.
        n_shape:         S, the number of shape columns.
        posedirs:        (V, 3, 36) pose-corrective basis.
        J_regressor:     (5, V) joint regressor.
        weights:         (V, 5) skinning weights.
        parents:         (5,) kinematic tree, ``parents[0] == -1``.
        lmk_faces_idx:   (L,) triangle of each landmark (optional).
        lmk_bary_coords: (L, 3) barycentric coordinates of each landmark (optional).
        face_labels:     (F,) semantic label id per triangle (:mod:`talkinghead_edu.semantics`), optional.
        articulation_names: A names of articulations (``jaw_open``, ``smile``, ...), optional.
        articulation_expr:  (A, E) expression coefficients of a unit amount of each articulation.
        jaw_open_max_rad:   jaw rotation (about +x) that goes with ``jaw_open`` = 1.
        shape_std, expr_std: (S,), (E,) standard deviation of each coefficient (for sampling).
        source:          where the arrays came from (used in messages and ``repr``).
        dtype:           floating dtype of the buffers (``model.to(dtype)`` also works later).
    """

    def __init__(
        self,
        v_template: np.ndarray,
        faces: np.ndarray,
        shapedirs: np.ndarray,
        n_shape: int,
        posedirs: np.ndarray,
        J_regressor: np.ndarray,
        weights: np.ndarray,
        parents: np.ndarray,
        lmk_faces_idx: np.ndarray | None = None,
        lmk_bary_coords: np.ndarray | None = None,
        face_labels: np.ndarray | None = None,
        articulation_names: Sequence[str] = (),
        articulation_expr: np.ndarray | None = None,
        jaw_open_max_rad: float | None = None,
        shape_std: np.ndarray | None = None,
        expr_std: np.ndarray | None = None,
        source: str = "arrays",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.source = source
        v_template = np.asarray(v_template)
        n_verts = v_template.shape[0] if v_template.ndim == 2 else -1
        self._check(v_template.ndim == 2 and v_template.shape[1] == 3, "v_template", "(V, 3)", v_template.shape)
        faces = np.asarray(faces)
        self._check(faces.ndim == 2 and faces.shape[1] == 3, "f", "(F, 3)", faces.shape)
        if faces.size and (faces.min() < 0 or faces.max() >= n_verts):
            raise FlameModelError(f"{source}: 'f' indexes vertices outside 0..{n_verts - 1}")
        shapedirs = np.asarray(shapedirs)
        self._check(
            shapedirs.ndim == 3 and shapedirs.shape[:2] == (n_verts, 3),
            "shapedirs",
            f"({n_verts}, 3, S+E)",
            shapedirs.shape,
        )
        if not 0 <= int(n_shape) <= shapedirs.shape[2]:
            raise FlameModelError(f"{source}: n_shape={n_shape} but 'shapedirs' has only {shapedirs.shape[2]} columns")
        parents = np.asarray(parents, dtype=np.int64)
        n_joints = parents.shape[0]
        J_regressor = np.asarray(J_regressor)
        self._check(
            J_regressor.shape == (n_joints, n_verts), "J_regressor", f"({n_joints}, {n_verts})", J_regressor.shape
        )
        weights = np.asarray(weights)
        self._check(weights.shape == (n_verts, n_joints), "weights", f"({n_verts}, {n_joints})", weights.shape)
        posedirs = np.asarray(posedirs)
        self._check(
            posedirs.shape == (n_verts, 3, 9 * (n_joints - 1)),
            "posedirs",
            f"({n_verts}, 3, {9 * (n_joints - 1)})",
            posedirs.shape,
        )
        for key, array in (
            ("v_template", v_template),
            ("shapedirs", shapedirs),
            ("posedirs", posedirs),
            ("J_regressor", J_regressor),
            ("weights", weights),
        ):
            self._check_values(key, array)
        row_sums = weights.sum(axis=1, dtype=np.float64)
        worst = int(np.argmax(np.abs(row_sums - 1.0))) if n_verts else 0
        if n_verts and (abs(row_sums[worst] - 1.0) > WEIGHT_SUM_TOLERANCE or weights.min() < -WEIGHT_SUM_TOLERANCE):
            raise FlameModelError(
                f"{source}: skinning 'weights' must be non-negative and sum to 1 per vertex (within "
                f"{WEIGHT_SUM_TOLERANCE:g}); "
                f"vertex {worst} sums to {row_sums[worst]:.6g} and the smallest weight is {weights.min():.3g}"
            )

        if lmk_faces_idx is None:
            lmk_faces_idx, lmk_bary_coords = np.zeros(0, np.int64), np.zeros((0, 3), np.float32)
        lmk_faces_idx = np.asarray(lmk_faces_idx).reshape(-1)
        lmk_bary_coords = np.asarray(lmk_bary_coords)
        self._check(
            lmk_bary_coords.shape == (lmk_faces_idx.shape[0], 3),
            "lmk_bary_coords",
            f"({lmk_faces_idx.shape[0]}, 3)",
            lmk_bary_coords.shape,
        )
        if lmk_faces_idx.size and (lmk_faces_idx.min() < 0 or lmk_faces_idx.max() >= faces.shape[0]):
            raise FlameModelError(f"{source}: landmark triangle indices must lie in 0..{faces.shape[0] - 1}")

        n_expr = shapedirs.shape[2] - int(n_shape)
        names = [str(name) for name in articulation_names]
        if articulation_expr is None:
            articulation_expr = np.zeros((len(names), n_expr), np.float32)
        articulation_expr = np.asarray(articulation_expr)
        self._check(
            articulation_expr.shape == (len(names), n_expr),
            "articulation_expr",
            f"({len(names)}, {n_expr})",
            articulation_expr.shape,
        )
        for key, array in (
            ("f", faces),
            ("lmk_faces_idx", lmk_faces_idx),
            ("lmk_bary_coords", lmk_bary_coords),
            ("articulation_expr", articulation_expr),
        ):
            self._check_values(key, array)

        def floats(array) -> torch.Tensor:
            return torch.as_tensor(np.asarray(array, dtype=np.float64)).to(dtype)

        def longs(array) -> torch.Tensor:
            return torch.as_tensor(np.asarray(array).astype(np.int64))

        self.register_buffer("v_template", floats(v_template))
        self.register_buffer("shapedirs", floats(shapedirs))
        self.register_buffer("posedirs", floats(posedirs))
        self.register_buffer("J_regressor", floats(J_regressor))
        self.register_buffer("lbs_weights", floats(weights))
        self.register_buffer("parents", longs(parents))
        self.register_buffer("faces", longs(faces))
        self.register_buffer("lmk_faces_idx", longs(lmk_faces_idx))
        self.register_buffer("lmk_bary_coords", floats(lmk_bary_coords))
        self.register_buffer("articulation_expr", floats(articulation_expr))
        self.register_buffer("face_labels", None if face_labels is None else longs(face_labels))
        self.register_buffer("shape_std", None if shape_std is None else floats(shape_std))
        self.register_buffer("expr_std", None if expr_std is None else floats(expr_std))
        if face_labels is not None:
            self._check(
                self.face_labels.shape == (faces.shape[0],),
                "face_labels",
                f"({faces.shape[0]},)",
                self.face_labels.shape,
            )
        self.n_shape = int(n_shape)
        self.n_expr = int(n_expr)
        self.articulation_names: list[str] = names
        self.jaw_open_max_rad: float | None = None if jaw_open_max_rad is None else float(jaw_open_max_rad)

    def _check(self, ok: bool, key: str, expected: str, got) -> None:
        if not ok:
            raise FlameModelError(f"{self.source}: {key!r} must have shape {expected}, got {tuple(got)}")

    def _check_values(self, key: str, array: np.ndarray) -> None:
        """A model array must be numbers; floating ones finite and below :data:`MAX_MAGNITUDE` (checked in float32)."""
        if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
            raise FlameModelError(f"{self.source}: {key!r} must be a numeric array, got dtype {array.dtype}")
        if np.issubdtype(array.dtype, np.integer):
            return  # indices: their ranges are checked where they are used
        with np.errstate(over="ignore", invalid="ignore"):
            ok = np.abs(array.astype(np.float32)) <= MAX_MAGNITUDE  # False for NaN, inf and overflow in float32
        if not ok.all():
            raise FlameModelError(
                f"{self.source}: {key!r} {array.shape} holds {int((~ok).sum())} NaN, infinite or huge "
                f"value(s); expected finite numbers with |value| <= {MAX_MAGNITUDE:g} (metres, unit coefficients)"
            )

    # ------------------------------------------------------------------ sizes
    @property
    def n_vertices(self) -> int:
        return self.v_template.shape[0]

    @property
    def n_faces(self) -> int:
        return self.faces.shape[0]

    @property
    def n_joints(self) -> int:
        return self.parents.shape[0]

    @property
    def n_landmarks(self) -> int:
        return self.lmk_faces_idx.shape[0]

    def extra_repr(self) -> str:
        return (
            f"source={self.source}, V={self.n_vertices}, F={self.n_faces}, S={self.n_shape}, E={self.n_expr}, "
            f"joints={self.n_joints}, landmarks={self.n_landmarks}"
        )

    # ------------------------------------------------------------------ semantics
    def vertex_ids(self, label_name: str) -> torch.Tensor:
        """Sorted ids of the vertices touching at least one triangle labelled ``label_name``.

        Args:
            label_name: a name from :data:`talkinghead_edu.semantics.LABEL_NAMES` (``"lips"``...).

        Returns:
            (M,) long tensor.
        """
        if self.face_labels is None:
            raise FlameModelError(
                f"{self.source} has no per-triangle semantic labels (official FLAME files do not ship them)"
            )
        wanted = self.face_labels == label_id(label_name)
        return torch.unique(self.faces[wanted])

    @property
    def lip_vertex_ids(self) -> torch.Tensor:
        """(M_L,) ids of the lip vertices (used by the lip-reading encoder)."""
        return self.vertex_ids("lips")

    def expression_from_articulation(self, weights: torch.Tensor) -> torch.Tensor:
        """Expression coefficients for an amount of each named articulation.

        Args:
            weights: (..., A) amounts, ordered as :attr:`articulation_names`.

        Returns:
            (..., E) expression coefficients ``weights @ articulation_expr``.
        """
        weights = torch.as_tensor(weights, dtype=self.articulation_expr.dtype, device=self.articulation_expr.device)
        if weights.shape[-1:] != (len(self.articulation_names),):
            raise ValueError(
                f"expression_from_articulation: weights must end in A={len(self.articulation_names)} "
                f"({', '.join(self.articulation_names) or 'this model has no articulations'}), "
                f"got shape {tuple(weights.shape)}"
            )
        return weights @ self.articulation_expr

    def articulation_weights(self, amounts: Mapping[str, float], batch: int = 1) -> torch.Tensor:
        """(batch, A) weight tensor from a ``{name: amount}`` dict (unnamed articulations are 0)."""
        weights = torch.zeros(
            batch,
            len(self.articulation_names),
            dtype=self.articulation_expr.dtype,
            device=self.articulation_expr.device,
        )
        for name, amount in amounts.items():
            if name not in self.articulation_names:
                raise KeyError(
                    f"unknown articulation {name!r}; this model has {', '.join(self.articulation_names) or 'none'}"
                )
            weights[:, self.articulation_names.index(name)] = amount
        return weights

    def params_from_articulation(self, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Expression and pose for articulation amounts, the jaw rotation included.

        ``jaw_open`` is both an expression (lips and cheeks stretching) and a rotation of the
        jaw joint about +x by ``jaw_open · jaw_open_max_rad``; this returns both.

        Args:
            weights: (B, A) articulation amounts.

        Returns:
            expression (B, E) and pose (B, 15) (only the jaw entry is non-zero).
        """
        expression = self.expression_from_articulation(weights)
        pose = torch.zeros(expression.shape[0], 3 * self.n_joints, dtype=expression.dtype, device=expression.device)
        if "jaw_open" in self.articulation_names and self.jaw_open_max_rad is not None:
            jaw = JOINT_NAMES.index("jaw")
            pose[:, 3 * jaw] = weights[:, self.articulation_names.index("jaw_open")] * self.jaw_open_max_rad
        return expression, pose

    # ------------------------------------------------------------------ forward
    def _prepare(
        self, value: torch.Tensor | None, name: str, width: int, batch: int, allow_fewer: bool
    ) -> torch.Tensor:
        """Validate one parameter tensor and bring it to (batch, width) in the model's dtype."""
        dtype, device = self.v_template.dtype, self.v_template.device
        if value is None:
            return torch.zeros(batch, width, dtype=dtype, device=device)
        value = torch.as_tensor(value, device=device)
        if not value.is_floating_point():
            raise InputTypeError(f"FlameModel: {name} must be a floating-point tensor, got {value.dtype}")
        value = value.to(dtype)
        if value.dim() == 1:
            value = value[None]
        ok_width = value.shape[-1] <= width if allow_fewer else value.shape[-1] == width
        if value.dim() != 2 or not ok_width or value.shape[0] not in (1, batch):
            expected = f"at most {width}" if allow_fewer else f"{width}"
            raise InputError(
                f"FlameModel: {name} must be (B, {expected}) with B = {batch} or 1, got shape {tuple(value.shape)}"
            )
        if value.numel() and not bool(
            value.abs().max() <= MAX_MAGNITUDE
        ):  # after the cast: float64 1e39 is inf in float32
            raise InputError(
                f"FlameModel: {name} holds NaN or infinite values (in {dtype}, the model's dtype) or values "
                f"beyond ±{MAX_MAGNITUDE:g}; expected finite coefficients, radians and metres"
            )
        if value.shape[-1] < width:  # fewer shape/expression components: the rest are zero
            value = torch.cat([value, value.new_zeros(value.shape[0], width - value.shape[-1])], dim=-1)
        return value.expand(batch, width)

    @staticmethod
    def _batch_size(**values) -> int:
        """The batch B shared by the parameter tensors: 1-D and batch-1 tensors broadcast to it."""
        sizes = {}
        for name, value in values.items():
            if value is None:
                continue
            try:
                value = torch.as_tensor(value)
            except (TypeError, ValueError, RuntimeError) as exc:
                raise InputTypeError(
                    f"FlameModel: {name} must be a tensor of numbers, got {type(value).__name__} ({exc})"
                ) from None
            if value.dim() == 0:
                raise InputError(f"FlameModel: {name} must be (B, D) or (D,), got a scalar")
            if value.dim() > 1 and value.shape[0] != 1:
                sizes[name] = value.shape[0]
        if len(set(sizes.values())) > 1:
            raise InputError(
                f"FlameModel: the parameters have different batch sizes {sizes}; expected one B (or 1 to broadcast)"
            )
        return next(iter(sizes.values()), 1)

    def forward(
        self,
        shape: torch.Tensor | None = None,
        expression: torch.Tensor | None = None,
        pose: torch.Tensor | None = None,
        translation: torch.Tensor | None = None,
        *,
        global_pose: torch.Tensor | None = None,
        neck_pose: torch.Tensor | None = None,
        jaw_pose: torch.Tensor | None = None,
        eye_left_pose: torch.Tensor | None = None,
        eye_right_pose: torch.Tensor | None = None,
    ) -> FlameOutput:
        """Posed mesh for a batch of parameters (eq 10).

        Give the pose either packed (``pose``) or by joint, as smplx does
        (``jaw_pose=...``, ``neck_pose=...``; a joint left out does not rotate).

        Args:
            shape:       (B, S') identity coefficients β, S' ≤ S (missing trailing ones are 0).
            expression:  (B, E') expression coefficients ε, E' ≤ E.
            pose:        (B, 15) axis-angle ψ: global, neck, jaw, left eye, right eye
                         (layout in :mod:`talkinghead_edu.conventions`).
            translation: (B, 3) added to every output point.
            global_pose, neck_pose, jaw_pose, eye_left_pose, eye_right_pose: (B, 3) axis-angle
                         each, instead of ``pose``.
            Any may be ``None`` (zeros), 1-D (one sample) or have batch 1 (broadcast).

        Returns:
            :class:`FlameOutput` with vertices (B, V, 3), joints (B, 5, 3), landmarks (B, L, 3).

        Example:
            >>> head = load_head_model()
            >>> open_mouth = head(jaw_pose=torch.tensor([[0.25, 0.0, 0.0]])).vertices  # (1, V, 3)
        """
        named = {
            "global_pose": global_pose,
            "neck_pose": neck_pose,
            "jaw_pose": jaw_pose,
            "eye_left_pose": eye_left_pose,
            "eye_right_pose": eye_right_pose,
        }
        if any(value is not None for value in named.values()):
            if pose is not None:
                raise FlameModelError(
                    "FlameModel: give the pose either packed (pose=) or by joint (jaw_pose=...), not both"
                )
            if self.n_joints != len(JOINT_NAMES):
                raise FlameModelError(
                    f"FlameModel: named poses need FLAME's {len(JOINT_NAMES)} joints, this model has {self.n_joints}"
                )
            pose = pack_pose(
                **{
                    name: torch.as_tensor(value, dtype=self.v_template.dtype, device=self.v_template.device)
                    for name, value in named.items()
                    if value is not None
                }
            )
        batch = self._batch_size(shape=shape, expression=expression, pose=pose, translation=translation)
        shape = self._prepare(shape, "shape", self.n_shape, batch, allow_fewer=True)
        expression = self._prepare(expression, "expression", self.n_expr, batch, allow_fewer=True)
        pose = self._prepare(pose, "pose", 3 * self.n_joints, batch, allow_fewer=False)
        translation = self._prepare(translation, "translation", 3, batch, allow_fewer=False)
        if batch == 0:  # an empty batch (e.g. a slice of zero frames) gives empty outputs
            empty = self.v_template.new_zeros
            return FlameOutput(
                vertices=empty(0, self.n_vertices, 3),
                joints=empty(0, self.n_joints, 3),
                landmarks=empty(0, self.n_landmarks, 3),
            )

        vertices, joints = lbs(
            torch.cat([shape, expression], dim=1),
            pose,
            self.v_template,
            self.shapedirs,
            self.posedirs,
            self.J_regressor,
            self.parents,
            self.lbs_weights,
        )
        vertices = vertices + translation[:, None]
        joints = joints + translation[:, None]
        return FlameOutput(vertices=vertices, joints=joints, landmarks=self.landmarks_from_vertices(vertices))

    def landmarks_from_vertices(self, vertices: torch.Tensor) -> torch.Tensor:
        """Landmarks as barycentric points on the mesh triangles.

        Args:
            vertices: (B, V, 3) posed vertices.

        Returns:
            (B, L, 3) with ``landmark_l = Σ_k bary[l, k] · vertices[faces[lmk_face[l], k]]``.
        """
        corners = vertices[:, self.faces[self.lmk_faces_idx]]  # (B, L, 3 corners, 3)
        return torch.einsum("blkc,lk->blc", corners, self.lmk_bary_coords)


def _scalar(arrays: Mapping[str, np.ndarray], key: str, default=None):
    return arrays[key].item() if key in arrays else default


def load_head_model(
    path: str | Path | None = None, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> FlameModel:
    """Load the bundled procedural head (or another ``.npz`` in the same layout).

    Args:
        path: an ``.npz`` in FLAME's key layout; ``None`` for ``flame/assets/procedural_head.npz``.
        device, dtype: where and in which floating dtype to keep the model.

    Returns:
        a :class:`FlameModel` with semantic labels, landmarks and articulations.

    Raises:
        FlameModelError: the file is missing, unreadable, or lacks a FLAME key.
    """
    path = Path(path) if path is not None else DEFAULT_HEAD_PATH
    if path.is_dir():
        raise FlameModelError(
            f"head model file {path} is a folder; expected an .npz file with FLAME's keys {', '.join(_REQUIRED_KEYS)}"
        )
    if not path.is_file():
        hint = " (build it with talkinghead_edu.synth.head_builder)" if path == DEFAULT_HEAD_PATH else ""
        raise FlameModelError(
            f"head model file {path} does not exist{hint}; expected an .npz with FLAME's keys "
            f"{', '.join(_REQUIRED_KEYS)}"
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except Exception as exc:  # zip errors, pickled object arrays, truncated files
        raise FlameModelError(f"head model file {path} is not a readable .npz of plain arrays ({exc})") from None
    missing = [key for key in _REQUIRED_KEYS if key not in arrays]
    if missing:
        raise FlameModelError(
            f"head model file {path} lacks the key(s) {', '.join(missing)}; "
            f"expected FLAME's keys {', '.join(_REQUIRED_KEYS)}"
        )
    has_landmarks = "lmk_faces_idx" in arrays and "lmk_bary_coords" in arrays
    try:
        model = _model_from_arrays(arrays, has_landmarks, path, dtype)
    except TalkingHeadError:
        raise
    except (
        ValueError,
        TypeError,
        IndexError,
        OverflowError,
    ) as exc:  # e.g. a non-scalar n_shape, text where numbers belong
        raise FlameModelError(
            f"head model file {path} holds an array of the wrong kind ({type(exc).__name__}: {exc})"
        ) from None
    return model.to(device=device)


def _model_from_arrays(
    arrays: Mapping[str, np.ndarray], has_landmarks: bool, path: Path, dtype: torch.dtype
) -> FlameModel:
    """:class:`FlameModel` from the arrays of a bundled-layout ``.npz`` (keys as in :data:`_REQUIRED_KEYS`)."""
    return FlameModel(
        v_template=arrays["v_template"],
        faces=arrays["f"],
        shapedirs=arrays["shapedirs"],
        n_shape=int(arrays["n_shape"]),
        posedirs=arrays["posedirs"],
        J_regressor=arrays["J_regressor"],
        weights=arrays["weights"],
        parents=_parents_from_kintree(arrays["kintree_table"], str(path)),
        lmk_faces_idx=arrays["lmk_faces_idx"] if has_landmarks else None,
        lmk_bary_coords=arrays["lmk_bary_coords"] if has_landmarks else None,
        face_labels=arrays.get("face_labels"),
        articulation_names=[str(n) for n in arrays.get("articulation_names", np.array([], dtype=str))],
        articulation_expr=arrays.get("articulation_expr"),
        jaw_open_max_rad=_scalar(arrays, "jaw_open_max_rad"),
        shape_std=arrays.get("shape_std"),
        expr_std=arrays.get("expr_std"),
        source=str(path.name),
        dtype=dtype,
    )
