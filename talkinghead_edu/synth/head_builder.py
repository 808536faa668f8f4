"""Build the bundled procedural head ("the package's own FLAME").

    python -m talkinghead_edu.synth.head_builder --seed 0 --out talkinghead_edu/flame/assets/procedural_head.npz
    talkinghead-edu build-head --seed 0 --out procedural_head.npz

The official FLAME model is learnt from thousands of registered 3D scans: its identity
basis is the PCA of the neutral shapes, its expression basis the PCA of expression
offsets, its pose correctives a regression of the residual that plain skinning leaves.
This builder does the same with a procedural generator in place of the scanner:

1. **Topology** (:mod:`builder_geometry`): a head grid with slits for the lips and the
   lids, a mouth cavity, eye pockets, eyeballs, teeth rows and ears; labels and UVs.
2. **Identity** : sample ``n_identities`` parameter sets (head and face proportions,
   nose, lips, chin, eyes, ears, random smooth detail), build each neutral head, and take
   the PCA of the vertices → ``v_template`` (the mean) and ``shapedirs[..., :n_shape]``.
3. **Expression** (:mod:`builder_articulations`): sample combinations of articulations
   (blinks applied as true lid rotations), PCA of the offsets → ``shapedirs[..., n_shape:]``.
4. **Skinning**: joints (root at the neck base, neck, jaw, two eyes) as convex
   combinations of vertices (``J_regressor``) and smooth weights (``weights``).
5. **Pose correctives**: pose the template with a finer articulation (each vertex turns
   by its own fraction of the joint rotation instead of blending transformed positions),
   and regress the part that linear blend skinning misses onto FLAME's 36 pose features
   → ``posedirs``.
6. **Landmarks**: the 68 iBUG points as (triangle, barycentric coordinates).

Coefficient convention: the bases are orthonormal as (V·3)-vectors, so a coefficient
is the Euclidean norm (in metres, over all V·3 coordinates) of the displacement along its
component; a coefficient of 1 would be an absurdly large 1 m displacement norm. Sample
``coeff ~ N(0, std²)`` with the stored ``shape_std`` (about 0.22 down to 0.003) and
``expr_std`` (about 0.05 down to 0.001). ``articulation_expr[a]`` holds the expression
coefficients of one unit of articulation ``a`` (its displacement projected on the
expression basis): ``smile`` = 1 lifts the mouth corners ~6 mm, ``blink_left`` = 1 closes
the left lids, ``jaw_open`` = 1 is the lip shape that goes with a jaw rotation of
``jaw_open_max_rad`` about +x (the rotation itself is pose, not expression).

Sizes: the bundled asset has 64 identity components (they keep >99.8 % of the sampled
identity variance; 100 would push the float32 file past its 8 MB budget at this vertex
count) and 50 expression components.

The same seed gives identical arrays (one ``numpy.random.Generator`` drives everything).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

from ..paths import ASSETS_DIR
from ..utils.args import ArgumentParser, existing_file, non_negative_int, positive_int
from ..utils.io import atomic_save_npz
from . import head_geometry as geo
from .head_articulations import (
    ARTICULATION_NAMES,
    EXTRA_ARTICULATIONS,
    JAW_OPEN_MAX_RAD,
    articulation_field,
    micro_fields,
)

__all__ = ["build_head", "main", "BUILDER_VERSION", "KINTREE_PARENTS"]

BUILDER_VERSION = "procedural-head-1"
#: parents of the 5 FLAME joints: 0 global (root), 1 neck, 2 jaw, 3 left eye, 4 right eye
KINTREE_PARENTS = np.array([-1, 0, 1, 1, 1], dtype=np.int64)
ROOT, NECK, JAW, EYE_LEFT, EYE_RIGHT = range(5)
_ROUNDOFF = 1e-9  # basis entries below this are floating-point noise


# ----------------------------------------------------------------------------- identity
def sample_identity(rng: np.random.Generator, n_detail: int = 24) -> dict:
    """One random identity: every parameter ~ N(mean, std²) (clipped at ±2.5 std) plus
    ``n_detail`` random smooth bumps (grid angles, width, amplitude)."""
    params = {}
    for name, (mean, std) in geo.IDENTITY_PARAMS.items():
        params[name] = mean + std * float(np.clip(rng.normal(), -2.5, 2.5))
    bumps = np.stack(
        [
            rng.uniform(-np.pi, np.pi, n_detail),  # theta
            rng.uniform(-1.0, 1.4, n_detail),  # phi
            rng.uniform(0.12, 0.45, n_detail),  # width (rad)
            rng.normal(0.0, 0.0015, n_detail),  # amplitude (m)
        ],
        axis=1,
    )
    bumps[: n_detail // 2, 0] *= 0.25  # half of them on the face
    bumps[: n_detail // 2, 1] = rng.uniform(-0.9, 0.6, n_detail // 2)
    bumps[: n_detail // 2, 2] *= 0.5
    params["detail_bumps"] = bumps
    return params


def _pca(samples: np.ndarray, n_components: int, centre: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PCA of samples (N, D) → (mean (D,), components (D, K) orthonormal, std (K,)), by variance.

    With ``centre=False`` the second moment about zero is decomposed (expression offsets
    are measured from the neutral face, so zero coefficients must stay neutral).
    """
    if samples.shape[0] < n_components:
        raise ValueError(f"PCA needs at least {n_components} samples, got {samples.shape[0]}")
    mean = samples.mean(0) if centre else np.zeros(samples.shape[1])
    X = samples - mean
    # eigen-decomposition of the small (N, N) Gram matrix instead of an SVD of (N, D): same
    # components (X = U S Vᵀ ⇒ X Xᵀ = U S² Uᵀ, V = Xᵀ U / S), many times faster for N << D
    eigval, eigvec = np.linalg.eigh(X @ X.T)
    order = np.argsort(eigval)[::-1][:n_components]
    singular = np.sqrt(np.maximum(eigval[order], 0.0))
    components = (X.T @ eigvec[:, order]) / np.maximum(singular, 1e-30)
    components, _ = np.linalg.qr(components)  # exact orthonormality (removes round-off)
    k = n_components
    # fix the sign of each component so that rebuilding is deterministic across LAPACKs
    flip = np.sign(components[np.argmax(np.abs(components), axis=0), np.arange(k)])
    components = components * flip
    std = singular[:k] / np.sqrt(max(len(samples) - (1 if centre else 0), 1))
    return mean, components, std


# ----------------------------------------------------------------------------- skinning
def _skinning_weights(topo: geo.Topology) -> np.ndarray:
    """Skinning weights (V, 5): root for the lower neck, neck for the head, jaw for the lower
    face (a sharp boundary along the lips, a smooth one over the cheeks), eyes for eyeballs."""
    W = np.zeros((topo.n_vertices, 5))
    th, ph = topo.skin_uv[:, 0], topo.skin_uv[:, 1]
    at = np.abs(th)
    # jaw: below a line that follows the lips and rises toward the ear (temporomandibular joint)
    beyond = np.maximum(at - geo.MOUTH_HALF_WIDTH, 0.0)
    line = geo.MOUTH_PHI + 0.26 * beyond
    width = 0.004 + 0.11 * beyond
    below = geo.smoothstep(-width, width, line - ph)
    on_slit = np.abs(ph - geo.MOUTH_PHI) < 1e-9
    in_slit = on_slit & (at < geo.MOUTH_HALF_WIDTH)
    below = np.where(in_slit, (topo.skin_side < 0).astype(float), below)
    # fade out behind the jaw angle and down the throat; both ramps are wide so that opening the
    # jaw by up to jaw_open_max_rad stretches the skin there instead of folding it
    behind = 1.0 - geo.smoothstep(1.20, 1.95, at)
    throat = geo.smoothstep(geo.BOTTOM_PHI, -0.65, ph)
    jaw = below * behind * throat
    root = geo.smoothstep(geo.NECK_TOP_PHI - 0.02, geo.BOTTOM_PHI, ph)
    skin = slice(0, topo.n_skin)
    W[skin, JAW] = jaw
    W[skin, ROOT] = root * (1 - jaw)
    W[skin, NECK] = 1.0 - W[skin, JAW] - W[skin, ROOT]
    # mouth cavity: each ring follows its lip-loop vertex; the throat end is shared
    rings = topo.pocket_rings["mouth"]
    loop_jaw = W[rings[0], JAW]
    for k, ring in enumerate(rings[1:], start=1):
        frac = k / len(rings)
        W[ring, JAW] = (1 - frac) * loop_jaw + frac * np.where(
            topo.slits["mouth"].loop_sides() < 0, 0.8, 0.2 * loop_jaw + 0.1
        )
        W[ring, NECK] = 1.0 - W[ring, JAW]
    W[topo.pocket_apex["mouth"], [NECK, JAW]] = 0.5
    for eye in ("eye_left", "eye_right"):
        W[topo.parts["eye_pocket_" + eye.split("_")[1]].index, NECK] = 1.0
    W[topo.parts["teeth_upper"].index, NECK] = 1.0
    W[topo.parts["teeth_lower"].index, JAW] = 1.0
    W[topo.parts["eyeball_left"].index, EYE_LEFT] = 1.0
    W[topo.parts["eyeball_right"].index, EYE_RIGHT] = 1.0
    W[topo.parts["ear_left"].index, NECK] = 1.0
    W[topo.parts["ear_right"].index, NECK] = 1.0
    return W / W.sum(1, keepdims=True)


def _convex_weights(points: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Non-negative weights (K,) summing to 1 with ``weights @ points ≈ target`` (NNLS)."""
    A = np.vstack([points.T, 100.0 * np.ones((1, len(points)))])
    b = np.concatenate([target, [100.0]])
    w, _ = nnls(A, b)
    return w / w.sum()


def _joint_regressor(topo: geo.Topology, V: np.ndarray) -> np.ndarray:
    """J_regressor (5, V): each joint a convex combination of template vertices."""
    J = np.zeros((5, topo.n_vertices))
    # root: centre of the neck cut (each vertex weighted by its share of the ring's arc)
    arc = np.diff(np.concatenate([topo.theta, [topo.theta[0] + 2 * np.pi]]))
    arc = 0.5 * (arc + np.roll(arc, 1))
    J[ROOT, topo.grid[-1]] = arc / arc.sum()
    # neck: the head's pivot inside the upper neck, from vertices on both sides and the back of the neck
    cols = np.argmin(np.abs(topo.theta[None, :] - np.array([[np.pi / 2], [-np.pi / 2], [-np.pi]])), axis=1)
    rows = np.argsort(np.abs(topo.phi - (-0.95)))[:4]
    candidates = topo.grid[np.ix_(rows, cols)].ravel()
    J[NECK, candidates] = _convex_weights(V[candidates], np.array([0.0, -0.075, -0.025]))
    # jaw hinge: between the two temporomandibular joints, just in front of the ears
    side_col = np.argmin(np.abs(topo.theta[None, :] - np.array([[1.45], [-1.45]])), axis=1)
    rows = np.argsort(np.abs(topo.phi - (-0.15)))[:3]
    candidates = topo.grid[np.ix_(rows, side_col)].ravel()
    mouth = V[topo.grid[topo.slits["mouth"].row, int(np.argmin(np.abs(topo.theta)))]]
    target = np.array([0.0, mouth[1] + 0.030, V[candidates, 2].mean()])
    J[JAW, candidates] = _convex_weights(V[candidates], target)
    for joint, part in ((EYE_LEFT, "eyeball_left"), (EYE_RIGHT, "eyeball_right")):
        idx = topo.parts[part].index
        J[joint, idx] = 1.0 / len(idx)  # a symmetric UV sphere: the vertex mean is its centre
    return J


# ----------------------------------------------------------------------------- posing (numpy, float64)
def _rodrigues(axis_angle: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) from axis-angle vectors (..., 3)."""
    angle = np.linalg.norm(axis_angle, axis=-1, keepdims=True)
    axis = axis_angle / np.maximum(angle, 1e-12)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    K = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(axis.shape[:-1] + (3, 3))
    s, c = np.sin(angle)[..., None], np.cos(angle)[..., None]
    return np.eye(3) + s * K + (1 - c) * (K @ K)


def _world_transforms(rotations: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """Skinning transforms (J, 4, 4) for per-joint rotations (J, 3, 3) about rest joints (J, 3)."""
    world = [None] * 5
    out = np.zeros((5, 4, 4))
    for j in range(5):
        local = np.eye(4)
        local[:3, :3] = rotations[j]
        parent = KINTREE_PARENTS[j]
        local[:3, 3] = joints[j] - (joints[parent] if parent >= 0 else 0.0)
        world[j] = local if parent < 0 else world[parent] @ local
        out[j] = world[j]
        out[j, :3, 3] = world[j][:3, 3] - world[j][:3, :3] @ joints[j]
    return out


def _lbs(V: np.ndarray, W: np.ndarray, transforms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear blend skinning of rest vertices (V, 3) → posed (V, 3) and blended matrices (V, 3, 3)."""
    blended = np.einsum("vj,jkl->vkl", W, transforms)
    return np.einsum("vkl,vl->vk", blended[:, :3, :3], V) + blended[:, :3, 3], blended[:, :3, :3]


def _fine_pose(V: np.ndarray, W: np.ndarray, joints: np.ndarray, neck_aa: np.ndarray, jaw_aa: np.ndarray) -> np.ndarray:
    """The "finer articulation" the correctives are fitted to.

    Each vertex turns by its own fraction of each rotation (about the joint) instead of
    blending the transformed positions: a cheek vertex with jaw weight 0.5 turns by half
    the jaw angle and keeps its distance to the hinge, where LBS would pull it toward the
    chord (the volume loss that pose correctives exist to repair).
    """
    head = 1.0 - W[:, ROOT]
    jaw_frac = np.where(head > 1e-9, W[:, JAW] / np.maximum(head, 1e-9), 0.0)
    R_jaw = _rodrigues(jaw_frac[:, None] * jaw_aa[None])
    P = np.einsum("vkl,vl->vk", R_jaw, V - joints[JAW]) + joints[JAW]
    R_neck = _rodrigues(head[:, None] * neck_aa[None])
    return np.einsum("vkl,vl->vk", R_neck, P - joints[NECK]) + joints[NECK]


def _fit_posedirs(
    topo,
    V: np.ndarray,
    W: np.ndarray,
    J_regressor: np.ndarray,
    rng: np.random.Generator,
    n_poses: int = 240,
    ridge: float = 1e-4,
) -> tuple[np.ndarray, float, float]:
    """Least-squares pose correctives (V, 3, 36) and the RMS residual (m) before / after."""
    joints = J_regressor @ V
    features, targets = [], []
    for _ in range(n_poses):
        neck_aa = rng.uniform(-0.45, 0.45, 3) * np.array([1.0, 1.0, 0.6])
        jaw_aa = np.array([rng.uniform(-0.05, 0.45), rng.uniform(-0.06, 0.06), rng.uniform(-0.04, 0.04)])
        eye_l, eye_r = rng.uniform(-0.3, 0.3, 3), rng.uniform(-0.3, 0.3, 3)
        aa = np.stack([np.zeros(3), neck_aa, jaw_aa, eye_l, eye_r])
        rotations = _rodrigues(aa)
        transforms = _world_transforms(rotations, joints)
        posed, blended = _lbs(V, W, transforms)
        fine = _fine_pose(V, W, joints, neck_aa, jaw_aa)
        eyes = (W[:, EYE_LEFT] + W[:, EYE_RIGHT]) > 0
        fine[eyes] = posed[eyes]  # eyeballs are rigid: LBS is exact for them
        # the corrective is added before skinning: undo the blended rotation of each vertex
        residual = np.linalg.solve(blended, (fine - posed)[..., None])[..., 0]
        features.append((rotations[1:] - np.eye(3)).reshape(-1))
        targets.append(residual.reshape(-1))
    F = np.asarray(features)  # (K, 36)
    T = np.asarray(targets)  # (K, V*3)
    P = np.linalg.solve(F.T @ F + ridge * np.eye(F.shape[1]), F.T @ T)  # (36, V*3)
    before = float(np.sqrt(np.mean(T**2)))
    after = float(np.sqrt(np.mean((T - F @ P) ** 2)))
    return P.T.reshape(topo.n_vertices, 3, 36), before, after


# ----------------------------------------------------------------------------- landmarks
def _landmark_params(topo: geo.Topology) -> list[tuple[float, float, int]]:
    """The 68 iBUG landmarks as (theta, phi, side) on the skin grid (side: +1 upper, -1 lower, 0 any)."""
    R = geo.FACE_RADIUS
    pts: list[tuple[float, float, int]] = []
    # 0–16 jaw line, subject's right (-x) to left, through the chin
    for k in range(17):
        a = np.pi / 2 * (1 - abs(k - 8) / 8)
        pts.append((np.sign(k - 8) * 1.12 * np.cos(a), 0.17 - (0.17 + 0.86) * np.sin(a), 0))
    # 17–21 right brow (outer → inner), 22–26 left brow (inner → outer)
    for sign, ks in ((-1, range(5)), (1, range(4, -1, -1))):
        for k in ks:
            th = sign * (geo.EYE_THETA + 0.20 - 0.10 * k)
            pts.append((th, float(geo.brow_centre(np.array([R * th]))[0] / R), 0))
    # 27–30 nose bridge to tip, 31–35 nostrils
    nasion, tip, subnasale = geo.EYE_PHI, geo.NOSE_PHI[1], geo.NOSE_PHI[2]
    for k in range(4):
        pts.append((0.0, nasion + (tip - nasion) * k / 3, 0))
    for th in (-0.09, -0.045, 0.0, 0.045, 0.09):
        pts.append((th, subnasale + 0.012 * (abs(th) / 0.09), 0))

    # 36–41 right eye, 42–47 left eye (corner, upper, upper, corner, lower, lower)
    def eye_points(slit: geo.Slit, outer_first: bool):
        c_out, c_in = (topo.theta[slit.c0], topo.theta[slit.c1])
        centre = 0.5 * (c_out + c_in)
        third = (c_in - c_out) / 6
        a, b = (c_out, c_in)
        seq = [(a, 0), (centre - third, 1), (centre + third, 1), (b, 0), (centre + third, -1), (centre - third, -1)]
        return [(th, geo.EYE_PHI, side) for th, side in seq]

    pts += eye_points(topo.slits["eye_right"], True)  # c0 (more negative) is the outer corner
    pts += eye_points(topo.slits["eye_left"], False)  # c0 is the inner corner
    # 48–59 outer lip, 60–67 inner lip
    mouth = topo.slits["mouth"]
    corner = topo.theta[mouth.c1]
    vm = geo.MOUTH_PHI
    up, low = (
        (lambda th: geo.lip_heights(np.array([R * th]))[0][0] / R),
        (lambda th: geo.lip_heights(np.array([R * th]))[1][0] / R),
    )
    half = geo.MOUTH_HALF_WIDTH
    pts.append((-corner, vm, 0))
    for f in (-0.62, -0.28, 0.0, 0.28, 0.62):
        pts.append((f * half, vm + up(f * half), 1))
    pts.append((corner, vm, 0))
    for f in (0.62, 0.28, 0.0, -0.28, -0.62):
        pts.append((f * half, vm - low(f * half), -1))
    pts.append((-corner, vm, 0))
    for f in (-0.5, 0.0, 0.5):
        pts.append((f * half, vm, 1))
    pts.append((corner, vm, 0))
    for f in (0.5, 0.0, -0.5):
        pts.append((f * half, vm, -1))
    assert len(pts) == 68
    return pts


def _landmark_embedding(topo: geo.Topology) -> tuple[np.ndarray, np.ndarray]:
    """(lmk_faces_idx (68,), lmk_bary_coords (68, 3)) by locating each landmark in grid angles."""
    skin_faces = np.nonzero(topo.face_part == 0)[0]
    tri = topo.skin_uv[topo.faces[skin_faces]]  # (Fs, 3, 2)
    not_seam = np.ptp(tri[:, :, 0], axis=1) < np.pi  # triangles across the back seam wrap around
    skin_faces, tri = skin_faces[not_seam], tri[not_seam]
    tri_side = topo.skin_side[topo.faces[skin_faces]]  # (Fs, 3)
    faces_idx, barys = [], []
    for th, ph, side in _landmark_params(topo):
        a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
        v0, v1, v2 = b - a, c - a, np.array([th, ph]) - a
        den = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
        ok_den = np.abs(den) > 1e-12
        den = np.where(ok_den, den, 1.0)
        l1 = (v2[:, 0] * v1[:, 1] - v1[:, 0] * v2[:, 1]) / den
        l2 = (v0[:, 0] * v2[:, 1] - v2[:, 0] * v0[:, 1]) / den
        l0 = 1 - l1 - l2
        bary = np.stack([l0, l1, l2], 1)
        inside = ok_den & (bary.min(1) > -1e-7)
        if side != 0:  # take the triangle of the requested lip / lid (above or below a slit)
            inside &= ~np.any(tri_side == -side, axis=1)
            if min(abs(ph - geo.MOUTH_PHI), abs(ph - geo.EYE_PHI)) < 1e-9:
                inside &= np.sign(tri[:, :, 1].mean(1) - ph) == side
        hits = np.nonzero(inside)[0]
        if len(hits) == 0:
            raise RuntimeError(f"landmark at theta={th:.3f}, phi={ph:.3f} is not on the skin grid")
        best = hits[np.argmax(bary[hits].min(1))]
        faces_idx.append(skin_faces[best])
        barys.append(np.clip(bary[best], 0.0, 1.0) / np.clip(bary[best], 0.0, 1.0).sum())
    return np.asarray(faces_idx, dtype=np.int32), np.asarray(barys)


# ----------------------------------------------------------------------------- the whole build
def build_head(
    seed: int = 0,
    resolution: float = 1.0,
    n_shape: int = 64,
    n_expr: int = 50,
    n_identities: int = 240,
    n_expression_samples: int = 600,
    verbose: bool = False,
) -> dict[str, np.ndarray]:
    """Build every array of the head asset (C1 layout). Deterministic for a given seed.

    Args:
        seed: seed of the one random generator that drives every sample.
        resolution: 1.0 for the bundled asset (~7.8k vertices); smaller for quick tests.
        n_shape, n_expr: number of identity / expression components (S, E).
        n_identities: identities sampled for the shape PCA (must exceed ``n_shape``).
        n_expression_samples: expression samples for the expression PCA.

    Returns:
        dict of numpy arrays with FLAME's keys plus labels, UVs, articulations (see module doc).
    """
    if n_identities <= n_shape:
        raise ValueError(f"n_identities must exceed n_shape (got {n_identities} <= {n_shape})")
    if n_expression_samples < n_expr:
        raise ValueError(f"n_expression_samples must be at least n_expr (got {n_expression_samples} < {n_expr})")
    if min(n_shape, n_expr) < 1:
        raise ValueError(f"n_shape and n_expr must be positive (got {n_shape}, {n_expr})")
    if not 0.3 <= resolution <= 2.0:
        raise ValueError(f"resolution must be between 0.3 and 2.0 (got {resolution})")
    rng = np.random.default_rng(seed)
    tick = time.perf_counter()

    def log(message):
        if verbose:
            print(f"[build-head {time.perf_counter() - tick:5.1f}s] {message}", flush=True)

    topo = geo.build_topology(resolution)
    log(f"topology: {topo.n_vertices} vertices, {len(topo.faces)} triangles")

    # --- identity PCA
    mean_params = geo.default_identity()
    samples = np.empty((n_identities, topo.n_vertices * 3))
    for i in range(n_identities):
        samples[i] = geo.neutral_vertices(topo, sample_identity(rng))[0].reshape(-1)
    template_flat, shape_basis, shape_std = _pca(samples, n_shape, centre=True)
    v_template = template_flat.reshape(-1, 3)
    log(f"identity PCA over {n_identities} heads: std[0]={shape_std[0]:.4f}, std[-1]={shape_std[-1]:.2e}")

    # --- expression PCA on the mean identity (frames from the mean parameters)
    _, frames = geo.neutral_vertices(topo, mean_params)  # eye and mouth frames of the mean identity
    unit_fields = {
        name: articulation_field(name, topo, v_template, frames) for name in ARTICULATION_NAMES + EXTRA_ARTICULATIONS
    }
    micro = micro_fields(topo, v_template, rng, 30)
    expr_samples = np.empty((n_expression_samples, topo.n_vertices * 3))
    amplitude = {name: 1.0 for name in ARTICULATION_NAMES}
    for i in range(n_expression_samples):
        D = np.zeros((topo.n_vertices, 3))
        for name in ARTICULATION_NAMES:
            if name.startswith("blink"):
                continue
            if rng.random() < 0.45:
                D += rng.uniform(0.0, amplitude[name]) * unit_fields[name]
        blink = rng.uniform(0.0, 1.0) if rng.random() < 0.6 else 0.0  # blinks, winks and half-closed lids
        both = rng.random() < 0.5
        left = blink if (both or rng.random() < 0.5) else 0.0
        right = blink if (both or left == 0.0) else 0.0
        for name, amount in (("blink_left", left), ("blink_right", right)):
            if amount > 0:
                D += articulation_field(name, topo, v_template, frames, amount)
        for name in EXTRA_ARTICULATIONS:
            if rng.random() < 0.3:
                D += rng.normal(0.0, 0.45) * unit_fields[name]
        active = rng.random(len(micro)) < 0.3
        D += np.tensordot(rng.normal(0.0, 0.5, len(micro)) * active, micro, axes=1)
        expr_samples[i] = D.reshape(-1)
    _, expr_basis, expr_std = _pca(expr_samples, n_expr, centre=False)
    log(f"expression PCA over {n_expression_samples} samples: std[0]={expr_std[0]:.4f}, std[-1]={expr_std[-1]:.2e}")

    articulation_expr = np.stack([expr_basis.T @ unit_fields[name].reshape(-1) for name in ARTICULATION_NAMES])

    shapedirs = np.concatenate([shape_basis, expr_basis], axis=1).reshape(topo.n_vertices, 3, n_shape + n_expr)
    shapedirs[np.abs(shapedirs) < _ROUNDOFF] = (
        0.0  # exact zeros where nothing moves (teeth, eyes, scalp): compresses well
    )

    # --- skinning, joints, pose correctives
    weights = _skinning_weights(topo)
    J_regressor = _joint_regressor(topo, v_template)
    posedirs, rms_before, rms_after = _fit_posedirs(topo, v_template, weights, J_regressor, rng)
    posedirs[np.abs(posedirs) < _ROUNDOFF] = 0.0
    log(f"pose correctives: residual RMS {rms_before * 1000:.3f} mm -> {rms_after * 1000:.3f} mm")

    lmk_faces_idx, lmk_bary_coords = _landmark_embedding(topo)

    f32 = np.float32
    asset = {
        "v_template": v_template.astype(f32),
        "f": topo.faces.astype(np.int32),
        "shapedirs": shapedirs.astype(f32),
        "n_shape": np.array(n_shape, dtype=np.int64),
        "shape_std": shape_std.astype(f32),
        "expr_std": expr_std.astype(f32),
        "posedirs": posedirs.astype(f32),
        "J_regressor": J_regressor.astype(f32),
        "weights": weights.astype(f32),
        "kintree_table": np.stack([KINTREE_PARENTS, np.arange(5)]).astype(np.int64),
        "lmk_faces_idx": lmk_faces_idx,
        "lmk_bary_coords": lmk_bary_coords.astype(f32),
        "face_labels": topo.face_labels.astype(np.uint8),
        "vt": topo.uvs.astype(f32),
        "ft": topo.uv_faces.astype(np.int32),
        "articulation_names": np.array(ARTICULATION_NAMES),
        "articulation_expr": articulation_expr.astype(f32),
        "jaw_open_max_rad": np.array(JAW_OPEN_MAX_RAD, dtype=f32),
        "builder_seed": np.array(seed, dtype=np.int64),
        "builder_version": np.array(BUILDER_VERSION),
    }
    log("done")
    return asset


def main(argv: list[str] | None = None) -> int:
    """Command line: build the head asset and write it atomically."""
    parser = ArgumentParser(prog="talkinghead-edu build-head", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0, the bundled asset)")
    parser.add_argument("--out", type=Path, default=ASSETS_DIR / "procedural_head.npz", help="output .npz path")
    parser.add_argument("--resolution", type=float, default=1.0, help="grid density (1.0 = bundled asset)")
    parser.add_argument(
        "--n-shape",
        type=positive_int,
        default=64,
        help="identity components (64 keep >99.8%% of the variance and the file < 8 MB)",
    )
    parser.add_argument("--n-expr", type=positive_int, default=50)
    parser.add_argument("--identities", type=positive_int, default=240, help="identities sampled for the shape PCA")
    parser.add_argument("--expression-samples", type=positive_int, default=600, help="samples for the expression PCA")
    parser.add_argument(
        "--check",
        type=existing_file,
        default=None,
        metavar="NPZ",
        help="do not write: rebuild and compare with this asset (exit status 1 if an array differs)",
    )
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.out.suffix != ".npz":
        parser.error(f"--out must end in .npz, got {args.out}")
    if not 0.3 <= args.resolution <= 2.0:
        parser.error(f"--resolution must be between 0.3 and 2.0, got {args.resolution}")
    asset = build_head(
        seed=args.seed,
        resolution=args.resolution,
        n_shape=args.n_shape,
        n_expr=args.n_expr,
        n_identities=args.identities,
        n_expression_samples=args.expression_samples,
        verbose=not args.quiet,
    )
    if args.check is not None:
        with np.load(args.check, allow_pickle=False) as stored:
            differing = sorted(set(asset) ^ set(stored.files))
            differing += [key for key in asset if key in stored.files and not np.array_equal(asset[key], stored[key])]
        print(
            f"{args.check}: "
            + ("identical to a fresh build" if not differing else f"differs in {', '.join(differing)}")
        )
        return 1 if differing else 0
    atomic_save_npz(args.out, **asset)
    os.chmod(args.out, 0o644)  # package data: readable by everyone (the temporary file was private)
    if not args.quiet:
        print(
            f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB): {len(asset['v_template'])} vertices, "
            f"{len(asset['f'])} triangles"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
