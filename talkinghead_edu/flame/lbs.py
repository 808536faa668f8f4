"""FLAME deformation, one function per step (paper eq 10).

Eq 10 of the paper writes the posed FLAME vertices as

    v = LBS( v_base + BS({β; ε; ψ}; W_bs),  J(ψ),  W )

which unpacks into the five classic steps of FLAME / SMPL skinning:

1. shape and expression blendshapes  (``blend_shapes``)              — eq 10.1 below
2. joint regression on the shaped mesh (``vertices_to_joints``)       — eq 10.2
3. per-joint rotations from axis-angle (``batch_rodrigues``) and the
   pose-corrective blendshapes they drive (``pose_corrective_offsets``) — eqs 10.3, 10.4
4. the kinematic chain: rest-pose joints → world transforms
   (``batch_rigid_transform``)                                        — eq 10.5
5. linear blend skinning of the corrected mesh (``linear_blend_skinning``) — eq 10.6

``lbs`` chains the five. The sub-numbers 10.1–10.6 are this package's labels for the
parts of eq 10 (the paper defers them to FLAME), used in comments here and in notebook 03:

    (10.1)  v_shaped = v_base + Σ_k c_k · D_k            c = [β; ε], D = shapedirs
    (10.2)  J = 𝒥 · v_shaped                               𝒥 = J_regressor (J, V)
    (10.3)  R(ω) = I + sin θ · K + (1 − cos θ) · K²        θ = |ω|, K = [ω/θ]_×
    (10.4)  v_posed = v_shaped + Σ_m (R_j − I)_m · P_m     joints j ≥ 1, P = posedirs
    (10.5)  A_j = A_parent(j) · [R_j | (I − R_j) J_j]        (= G_j · [I | −J_j], G_j the joint's frame)
    (10.6)  v'_i = (Σ_j W_ij A_j) · [v_posed,i ; 1]        W = skinning weights (V, J)

Glossary: B batch, V vertices, J joints, K blendshape components.
All functions work in any floating dtype and on any device; gradients flow to every
tensor argument.
"""

from __future__ import annotations

import torch

__all__ = [
    "blend_shapes",
    "vertices_to_joints",
    "batch_rodrigues",
    "pose_corrective_offsets",
    "batch_rigid_transform",
    "linear_blend_skinning",
    "lbs",
]

# Below this squared angle (rad²) Rodrigues uses its Taylor series: the closed form
# divides by θ² and loses all precision near θ = 0 (and its gradient would be NaN at 0).
_SMALL_ANGLE_SQ = 1e-6


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def blend_shapes(coeffs: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    """Linear blendshape offsets (eq 10.1): ``Σ_k coeffs[b, k] · dirs[:, :, k]``.

    Args:
        coeffs: (B, K) blendshape coefficients (shape β, expression ε, or pose features).
        dirs:   (V, 3, K) blendshape basis, one (V, 3) displacement field per column.

    Returns:
        (B, V, 3) vertex offsets.
    """
    _require(coeffs.dim() == 2, f"blend_shapes: coeffs must be (B, K), got shape {tuple(coeffs.shape)}")
    _require(
        dirs.dim() == 3 and dirs.shape[1] == 3, f"blend_shapes: dirs must be (V, 3, K), got shape {tuple(dirs.shape)}"
    )
    _require(
        coeffs.shape[1] == dirs.shape[2],
        f"blend_shapes: coeffs has {coeffs.shape[1]} components but dirs has {dirs.shape[2]}",
    )
    # offsets[b, v, c] = sum_k coeffs[b, k] * dirs[v, c, k]
    return torch.einsum("bk,vck->bvc", coeffs, dirs)


def vertices_to_joints(J_regressor: torch.Tensor, vertices: torch.Tensor) -> torch.Tensor:
    """Joint locations regressed from the mesh (eq 10.2): ``J = J_regressor · vertices``.

    Args:
        J_regressor: (J, V) regression weights (each row a weighted average of vertices).
        vertices:    (B, V, 3) vertex positions.

    Returns:
        (B, J, 3) joint positions.
    """
    _require(J_regressor.dim() == 2, f"vertices_to_joints: J_regressor must be (J, V), got {tuple(J_regressor.shape)}")
    _require(
        vertices.dim() == 3 and vertices.shape[2] == 3 and vertices.shape[1] == J_regressor.shape[1],
        f"vertices_to_joints: vertices must be (B, {J_regressor.shape[1]}, 3), got {tuple(vertices.shape)}",
    )
    # joints[b, j, c] = sum_v J_regressor[j, v] * vertices[b, v, c]
    return torch.einsum("jv,bvc->bjc", J_regressor, vertices)


def _skew(vectors: torch.Tensor) -> torch.Tensor:
    """(N, 3) vectors → (N, 3, 3) cross-product matrices ``[w]_×`` with ``[w]_× x = w × x``."""
    x, y, z = vectors.unbind(-1)
    zero = torch.zeros_like(x)
    return torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(-1, 3, 3)


def batch_rodrigues(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rotation matrices from axis-angle vectors, Rodrigues' formula (eq 10.3).

    With ``θ = |ω|`` and ``K = [ω]_×`` (the *unnormalised* cross-product matrix),

        R = I + (sin θ / θ) · K + ((1 − cos θ) / θ²) · K².

    This is the textbook ``I + sin θ [k]_× + (1 − cos θ)[k]_×²`` with ``k = ω/θ``, but it
    never divides ω by θ: the two scalar factors are evaluated with their Taylor series
    when θ is tiny, so ``ω = 0`` gives exactly ``I`` and a finite, correct gradient.

    Args:
        axis_angle: (N, 3) rotation vectors (axis × angle in radians).

    Returns:
        (N, 3, 3) rotation matrices, same dtype and device.
    """
    _require(
        axis_angle.dim() == 2 and axis_angle.shape[1] == 3,
        f"batch_rodrigues: axis_angle must be (N, 3), got shape {tuple(axis_angle.shape)}",
    )
    theta_sq = (axis_angle * axis_angle).sum(-1)  # (N,)
    small = theta_sq < _SMALL_ANGLE_SQ
    # Evaluate the closed form only where it is safe: feed a harmless θ² = 1 elsewhere so
    # that neither the value nor the gradient of the unused branch can be NaN.
    safe_theta_sq = torch.where(small, torch.ones_like(theta_sq), theta_sq)
    safe_theta = safe_theta_sq.sqrt()
    sin_over_theta = torch.where(small, 1.0 - theta_sq / 6.0 + theta_sq**2 / 120.0, torch.sin(safe_theta) / safe_theta)
    one_minus_cos_over_theta_sq = torch.where(
        small, 0.5 - theta_sq / 24.0 + theta_sq**2 / 720.0, (1.0 - torch.cos(safe_theta)) / safe_theta_sq
    )
    K = _skew(axis_angle)  # (N, 3, 3)
    identity = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device).expand_as(K)
    # eq 10.3
    return identity + sin_over_theta[:, None, None] * K + one_minus_cos_over_theta_sq[:, None, None] * (K @ K)


def pose_corrective_offsets(rotations: torch.Tensor, posedirs: torch.Tensor) -> torch.Tensor:
    """Pose-corrective blendshape offsets (eq 10.4).

    FLAME's pose features are the entries of ``R_j − I`` for every joint except the root
    (the global rotation must not deform the face), flattened joint by joint in row-major
    order: for FLAME's 5 joints that is 4 × 9 = 36 features, matching ``posedirs`` (V, 3, 36).

    Args:
        rotations: (B, J, 3, 3) per-joint rotation matrices (joint 0 is the root).
        posedirs:  (V, 3, 9·(J−1)) pose-corrective basis.

    Returns:
        (B, V, 3) vertex offsets, zero when every non-root rotation is the identity.
    """
    _require(
        rotations.dim() == 4 and rotations.shape[2:] == (3, 3),
        f"pose_corrective_offsets: rotations must be (B, J, 3, 3), got {tuple(rotations.shape)}",
    )
    batch, n_joints = rotations.shape[:2]
    _require(
        posedirs.dim() == 3 and posedirs.shape[2] == 9 * (n_joints - 1),
        f"pose_corrective_offsets: posedirs must be (V, 3, {9 * (n_joints - 1)}) for {n_joints} joints, "
        f"got {tuple(posedirs.shape)}",
    )
    identity = torch.eye(3, dtype=rotations.dtype, device=rotations.device)
    pose_features = (rotations[:, 1:] - identity).reshape(batch, -1)  # (B, 9·(J−1))
    return blend_shapes(pose_features, posedirs)


def batch_rigid_transform(
    rotations: torch.Tensor, joints: torch.Tensor, parents: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Walk the kinematic chain (eq 10.5).

    Each joint ``j`` rotates by ``R_j`` about its rest position ``J_j``, carried along by its
    parent. In world terms joint j's frame is ``G_j = G_parent(j) · [R_j | J_j − J_parent(j)]``
    and the *skinning* transform that maps a rest-pose point to its posed position is
    ``A_j = G_j · [I | −J_j]``. Multiplying out gives the form computed here,

        A_j = A_parent(j) · [R_j | (I − R_j) J_j],        A_root = [R_0 | (I − R_0) J_0],

    "rotate about your own rest joint, then move with your parent". It never forms
    ``J_j − J_parent + J_parent``, so the rest pose (all ``R_j = I``) gives exactly the identity.

    Args:
        rotations: (B, J, 3, 3) per-joint rotations, relative to the parent.
        joints:    (B, J, 3) rest-pose joint positions.
        parents:   (J,) long, ``parents[0] == -1`` and ``parents[j] < j`` (parents first).

    Returns:
        posed_joints: (B, J, 3) joint positions after posing, ``A_j · J_j``.
        transforms:   (B, J, 4, 4) skinning transforms ``A_j`` (rest pose → posed).
    """
    _require(
        rotations.dim() == 4 and rotations.shape[2:] == (3, 3),
        f"batch_rigid_transform: rotations must be (B, J, 3, 3), got {tuple(rotations.shape)}",
    )
    batch, n_joints = rotations.shape[:2]
    _require(
        joints.shape == (batch, n_joints, 3),
        f"batch_rigid_transform: joints must be ({batch}, {n_joints}, 3), got {tuple(joints.shape)}",
    )
    parent_list = [int(p) for p in parents.reshape(-1).tolist()]
    _require(
        len(parent_list) == n_joints
        and parent_list[0] == -1
        and all(0 <= p < j for j, p in enumerate(parent_list) if j > 0),
        f"batch_rigid_transform: parents must be ({n_joints},) with parents[0] == -1 and parents[j] < j, "
        f"got {parent_list}",
    )
    # local rest → posed motion of each joint: rotate by R_j about J_j, i.e. [R_j | J_j − R_j J_j]
    local_translation = joints - (rotations @ joints[..., None])[..., 0]
    bottom_row = torch.zeros(batch, n_joints, 1, 4, dtype=rotations.dtype, device=rotations.device)
    bottom_row[..., 3] = 1.0
    local = torch.cat(
        [torch.cat([rotations, local_translation[..., None]], dim=-1), bottom_row], dim=-2
    )  # (B, J, 4, 4)

    chain = [local[:, 0]]
    for j in range(1, n_joints):
        chain.append(chain[parent_list[j]] @ local[:, j])  # eq 10.5: A_j = A_parent · local_j
    transforms = torch.stack(chain, dim=1)  # (B, J, 4, 4)
    posed_joints = (transforms[:, :, :3, :3] @ joints[..., None])[..., 0] + transforms[:, :, :3, 3]
    return posed_joints, transforms


def linear_blend_skinning(vertices: torch.Tensor, transforms: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Linear blend skinning (eq 10.6): each vertex moves by its weighted mix of joint transforms.

    ``v' = (Σ_j W_vj A_j) · [v; 1]``. Because the rows of ``W`` sum to 1 this equals
    ``v + (Σ_j W_vj (A_j − I)) · [v; 1]``, which is what is computed: the rest pose then
    returns the input bit for bit, even when the float weights sum to 1 only approximately.

    Args:
        vertices:   (B, V, 3) rest-pose vertices (shaped and pose-corrected).
        transforms: (B, J, 4, 4) skinning transforms from :func:`batch_rigid_transform`.
        weights:    (V, J) skinning weights, rows summing to 1.

    Returns:
        (B, V, 3) posed vertices.
    """
    _require(
        vertices.dim() == 3 and vertices.shape[2] == 3,
        f"linear_blend_skinning: vertices must be (B, V, 3), got {tuple(vertices.shape)}",
    )
    batch, n_verts = vertices.shape[:2]
    _require(
        transforms.dim() == 4 and transforms.shape[0] == batch and transforms.shape[2:] == (4, 4),
        f"linear_blend_skinning: transforms must be ({batch}, J, 4, 4), got {tuple(transforms.shape)}",
    )
    _require(
        weights.shape == (n_verts, transforms.shape[1]),
        f"linear_blend_skinning: weights must be ({n_verts}, {transforms.shape[1]}), got {tuple(weights.shape)}",
    )
    identity = torch.eye(4, dtype=transforms.dtype, device=transforms.device)
    # blended motion per vertex: M[b, v] = sum_j weights[v, j] * (transforms[b, j] - I)   (B, V, 4, 4)
    blended = torch.einsum("vj,bjkl->bvkl", weights, transforms - identity)
    # eq 10.6: v' = v + M[:3, :3] v + M[:3, 3]
    return vertices + (blended[..., :3, :3] @ vertices[..., None])[..., 0] + blended[..., :3, 3]


def lbs(
    coeffs: torch.Tensor,
    pose: torch.Tensor,
    v_template: torch.Tensor,
    shapedirs: torch.Tensor,
    posedirs: torch.Tensor,
    J_regressor: torch.Tensor,
    parents: torch.Tensor,
    lbs_weights: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole of eq 10: blendshapes → joints → Rodrigues → pose correctives → chain → skinning.

    Args:
        coeffs:      (B, K) concatenated shape and expression coefficients ``[β; ε]``.
        pose:        (B, 3·J) axis-angle rotation of every joint, joint by joint.
        v_template:  (V, 3) template mesh ``v_base``.
        shapedirs:   (V, 3, K) shape and expression basis (``W_bs`` of eq 10).
        posedirs:    (V, 3, 9·(J−1)) pose-corrective basis.
        J_regressor: (J, V) joint regressor.
        parents:     (J,) long kinematic tree (``parents[0] == -1``).
        lbs_weights: (V, J) skinning weights ``W``.

    Returns:
        vertices: (B, V, 3) posed vertices.
        joints:   (B, J, 3) posed joints.
    """
    batch = coeffs.shape[0]
    n_joints = J_regressor.shape[0]
    _require(
        pose.shape == (batch, 3 * n_joints),
        f"lbs: pose must be ({batch}, {3 * n_joints}) axis-angle for {n_joints} joints, got {tuple(pose.shape)}",
    )
    _require(
        v_template.dim() == 2 and v_template.shape[1] == 3,
        f"lbs: v_template must be (V, 3), got {tuple(v_template.shape)}",
    )
    # 1. shape and expression blendshapes (eq 10.1)
    v_shaped = v_template + blend_shapes(coeffs, shapedirs)
    # 2. joints regressed from the shaped mesh (eq 10.2)
    rest_joints = vertices_to_joints(J_regressor, v_shaped)
    # 3. rotations (eq 10.3) and the pose-corrective offsets they drive (eq 10.4)
    rotations = batch_rodrigues(pose.reshape(-1, 3)).reshape(batch, n_joints, 3, 3)
    v_posed = v_shaped + pose_corrective_offsets(rotations, posedirs)
    # 4. kinematic chain (eq 10.5)
    posed_joints, transforms = batch_rigid_transform(rotations, rest_joints, parents)
    # 5. skinning (eq 10.6)
    vertices = linear_blend_skinning(v_posed, transforms, lbs_weights)
    return vertices, posed_joints
