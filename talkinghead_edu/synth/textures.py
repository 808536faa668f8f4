"""Procedural appearance of the synthetic target speakers: skin, lips, eyes, hair, teeth.

Colours are computed as *solid textures*: functions of a point's rest position on the
head template (``v_template``, metres, +y up, +z out of the face), of the semantic label
of its triangle, and of the 68 landmarks (which say where the eyes, nose and mouth are).
:func:`bake_textures` evaluates them at the centre of every texel of the head's UV layout
(``vt``/``ft``), so that the frame renderer only needs a UV lookup
(:func:`talkinghead_edu.synth.mesh_render.sample_texture`).

Besides the static albedo there are *crease maps*: expression-dependent detail that the
mesh does not carry — nasolabial folds and crow's feet that appear with a smile, forehead
lines with a brow raise, vertical frown lines between the brows. :func:`apply_creases`
darkens the albedo by ``sum_c w_c * crease_c`` where ``w_c`` comes from the frame's
articulation weights. This is exactly the kind of appearance change the paper's
speaker-specific colour blendshapes (eq 18) have to learn.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ..semantics import LABEL_IDS
from .mesh_render import face_values, interpolate, rasterize_uv

__all__ = [
    "Appearance",
    "HeadTextures",
    "CREASE_NAMES",
    "value_noise",
    "fractal_noise",
    "landmarks_on_template",
    "procedural_albedo",
    "crease_intensity",
    "bake_textures",
    "crease_weights",
    "apply_creases",
]

#: The crease maps and the articulation that drives each of them.
CREASE_NAMES: tuple[str, ...] = ("smile", "brow_raise", "brow_frown")


@dataclass(frozen=True)
class Appearance:
    """Colours (linear RGB in ``[0, 1]``) and style switches of one synthetic speaker."""

    skin: tuple[float, float, float] = (0.80, 0.60, 0.50)
    lips: tuple[float, float, float] = (0.70, 0.36, 0.36)
    iris: tuple[float, float, float] = (0.30, 0.45, 0.25)
    hair: tuple[float, float, float] = (0.20, 0.13, 0.08)
    brows: tuple[float, float, float] = (0.18, 0.12, 0.07)
    shirt: tuple[float, float, float] = (0.20, 0.30, 0.55)
    wall: tuple[float, float, float] = (0.55, 0.60, 0.62)
    cap: bool = False  # a knitted cap instead of hair (uses ``hair`` as the cap colour)
    stubble: float = 0.0  # 0..1 darkening of the beard area
    crease_depth: float = 0.45  # how dark a fully expressed crease is (fraction of the albedo)


@dataclass
class HeadTextures:
    """Baked UV textures of one speaker (``S × S`` texels, v up).

    Attributes:
        albedo: ``(S, S, 3)`` float32 neutral-face colour.
        specular: ``(S, S)`` float32 Blinn–Phong specular strength.
        creases: ``(C, S, S)`` float32 in ``[0, 1]``, one map per :data:`CREASE_NAMES`.
        crease_depth: darkening of a crease at weight 1.
    """

    albedo: np.ndarray
    specular: np.ndarray
    creases: np.ndarray
    crease_depth: float
    names: tuple[str, ...] = field(default=CREASE_NAMES)


# --------------------------------------------------------------------------- noise
def _hash01(ix: np.ndarray, iy: np.ndarray, iz: np.ndarray, seed: int) -> np.ndarray:
    """A deterministic pseudo-random value in [0, 1) per integer lattice point."""
    h = (
        (ix.astype(np.int64) * 73856093)
        ^ (iy.astype(np.int64) * 19349663)
        ^ (iz.astype(np.int64) * 83492791)
        ^ (seed * 2654435761)
    )
    h = (h ^ (h >> 13)) * 1274126177
    h = h ^ (h >> 16)
    return (h & 0xFFFFFF).astype(np.float64) / float(0x1000000)


def value_noise(points: np.ndarray, frequency: float, seed: int = 0) -> np.ndarray:
    """Smooth lattice noise in ``[-1, 1]`` at ``(N, 3)`` points (metres), cells of size ``1/frequency``.

    Random values on an integer lattice, blended with the smoothstep ``3t² − 2t³`` (trilinear).
    """
    scaled = np.asarray(points, dtype=np.float64) * frequency
    cell = np.floor(scaled)
    t = scaled - cell
    t = t * t * (3.0 - 2.0 * t)
    ix, iy, iz = cell[:, 0].astype(np.int64), cell[:, 1].astype(np.int64), cell[:, 2].astype(np.int64)
    result = np.zeros(len(scaled))
    for dx in (0, 1):
        wx = t[:, 0] if dx else 1.0 - t[:, 0]
        for dy in (0, 1):
            wy = t[:, 1] if dy else 1.0 - t[:, 1]
            for dz in (0, 1):
                wz = t[:, 2] if dz else 1.0 - t[:, 2]
                result += wx * wy * wz * _hash01(ix + dx, iy + dy, iz + dz, seed)
    return 2.0 * result - 1.0


def fractal_noise(points: np.ndarray, frequency: float, octaves: int = 4, seed: int = 0) -> np.ndarray:
    """Sum of :func:`value_noise` octaves (frequency ×2, amplitude ×½), normalised to about ``[-1, 1]``."""
    total, amplitude, norm = np.zeros(len(points)), 1.0, 0.0
    for octave in range(octaves):
        total += amplitude * value_noise(points, frequency * 2**octave, seed + 101 * octave)
        norm += amplitude
        amplitude *= 0.5
    return total / norm


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _distance_to_segment(points: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Euclidean distance ``(N,)`` from points ``(N, D)`` to the segment ``start``–``end`` (D = 2 or 3)."""
    direction = end - start
    t = np.clip(((points - start) @ direction) / max(float(direction @ direction), 1e-12), 0.0, 1.0)
    return np.linalg.norm(points - (start + t[:, None] * direction), axis=1)


def _polyline_line(points: np.ndarray, nodes: np.ndarray, width: float) -> np.ndarray:
    """A soft line of half-width ``width`` along a polyline: ``exp(-(d / width)²)``."""
    distance = np.min([_distance_to_segment(points, a, b) for a, b in zip(nodes[:-1], nodes[1:])], axis=0)
    return np.exp(-((distance / width) ** 2))


# --------------------------------------------------------------------------- layout
def landmarks_on_template(head: dict) -> np.ndarray:
    """The 68 landmarks ``(68, 3)`` on the rest mesh, from ``lmk_faces_idx`` and ``lmk_bary_coords``."""
    corners = head["v_template"][head["f"][head["lmk_faces_idx"]]]  # (68, 3, 3)
    return np.einsum("lk,lkc->lc", head["lmk_bary_coords"], corners)


def _eye_centres(points: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the subject's right (x < 0) and left (x > 0) eyeballs from eye-labelled points."""
    eye = points[labels == LABEL_IDS["eyes"]]
    return eye[eye[:, 0] < 0].mean(axis=0), eye[eye[:, 0] > 0].mean(axis=0)


# --------------------------------------------------------------------------- colours
def procedural_albedo(
    points: np.ndarray,
    labels: np.ndarray,
    landmarks: np.ndarray,
    eye_centres: tuple[np.ndarray, np.ndarray],
    appearance: Appearance,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Neutral-face colour and specular strength at rest-pose surface points.

    Args:
        points: ``(N, 3)`` rest positions (metres).
        labels: ``(N,)`` semantic label ids (``semantics.LABEL_NAMES``).
        landmarks: ``(68, 3)`` rest landmarks (:func:`landmarks_on_template`).
        eye_centres: eyeball centres (right, left), each ``(3,)``.
        appearance: the speaker's colours.
        seed: noise seed.

    Returns:
        ``albedo (N, 3)`` float32 in ``[0, 1]`` and ``specular (N,)`` float32.
    """
    n = len(points)
    albedo = np.zeros((n, 3))
    specular = np.zeros(n)
    low = fractal_noise(points, 18.0, 3, seed)  # blotches, ~5 cm
    pores = value_noise(points, 900.0, seed + 7)  # ~1 mm
    fine = fractal_noise(points, 250.0, 2, seed + 11)

    # skin (and the neck): base tone, slow variation, pores, redness on cheeks, nose and lips' surroundings
    skin_tone = np.asarray(appearance.skin)
    cheeks = [0.5 * (landmarks[3] + landmarks[31]), 0.5 * (landmarks[13] + landmarks[35])]
    redness = sum(np.exp(-np.sum((points - c) ** 2, axis=1) / 0.018**2) for c in cheeks)
    redness += 0.6 * np.exp(-np.sum((points - landmarks[30]) ** 2, axis=1) / 0.012**2)
    skin = skin_tone * (1.0 + 0.07 * low[:, None] + 0.035 * pores[:, None] + 0.02 * fine[:, None])
    skin = skin * (1.0 - 0.18 * redness[:, None]) + np.array([0.75, 0.25, 0.22]) * 0.18 * redness[:, None]
    if appearance.stubble > 0:
        chin_centre = landmarks[8] + np.array([0.0, 0.02, 0.0])
        beard = np.exp(-np.sum(((points - chin_centre) * np.array([0.6, 1.0, 1.0])) ** 2, axis=1) / 0.035**2)
        beard *= points[:, 1] < landmarks[33, 1] - 0.005
        beard *= 0.6 + 0.4 * (value_noise(points, 1500.0, seed + 3) > 0)
        skin = skin * (1.0 - appearance.stubble * 0.35 * beard[:, None])
    is_skin = (labels == LABEL_IDS["skin"]) | (labels == LABEL_IDS["neck_torso"])
    neck_shade = np.where(labels == LABEL_IDS["neck_torso"], 0.9, 1.0)
    albedo[is_skin] = (skin * neck_shade[:, None])[is_skin]
    t_zone = np.exp(-((points[:, 0] / 0.02) ** 2))
    specular[is_skin] = (0.08 + 0.1 * t_zone)[is_skin]

    # lips: darker, redder, fine vertical lines, a lighter centre
    is_lips = labels == LABEL_IDS["lips"]
    lines = value_noise(points * np.array([1.0, 0.08, 1.0]), 700.0, seed + 5)
    lip = np.asarray(appearance.lips) * (1.0 + 0.08 * lines[:, None] + 0.05 * low[:, None])
    albedo[is_lips] = lip[is_lips]
    specular[is_lips] = 0.25

    # eyes: sclera, iris with radial streaks and dark limbal ring, pupil
    is_eye = labels == LABEL_IDS["eyes"]
    if is_eye.any():
        right, left = eye_centres
        centre = np.where((points[:, 0] < 0)[:, None], right, left)
        direction = points - centre
        direction /= np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-9)
        cos_angle = direction[:, 2]  # the eyes look along +z
        angle = np.arctan2(direction[:, 1], direction[:, 0])
        streaks = value_noise(np.stack([np.cos(angle), np.sin(angle), np.zeros(n)], 1), 12.0, seed + 9)
        sclera = np.array([0.92, 0.90, 0.86]) - 0.1 * _smoothstep(0.6, 0.0, cos_angle)[:, None] * np.array(
            [0.0, 0.3, 0.3]
        )
        iris = np.asarray(appearance.iris) * (1.0 + 0.35 * streaks[:, None])
        limbus = _smoothstep(0.86, 0.9, cos_angle) * (1.0 - _smoothstep(0.9, 0.93, cos_angle))
        iris = iris * (1.0 - 0.6 * limbus[:, None])
        in_iris = _smoothstep(0.86, 0.875, cos_angle)[:, None]
        in_pupil = _smoothstep(0.968, 0.975, cos_angle)[:, None]
        eye_colour = sclera * (1 - in_iris) + iris * in_iris
        eye_colour = eye_colour * (1 - in_pupil) + np.array([0.02, 0.02, 0.02]) * in_pupil
        albedo[is_eye] = eye_colour[is_eye]
        specular[is_eye] = 0.9

    # brows and hair (or a knitted cap): strands = noise stretched along the strand direction
    strands_x = value_noise(points * np.array([0.15, 1.0, 1.0]), 1200.0, seed + 13)
    strands_y = value_noise(points * np.array([1.0, 0.12, 1.0]), 900.0, seed + 17)
    is_brow = labels == LABEL_IDS["eyebrows"]
    albedo[is_brow] = (np.asarray(appearance.brows) * (1.0 + 0.45 * strands_x[:, None]))[is_brow]
    specular[is_brow] = 0.05
    is_hair = labels == LABEL_IDS["hair"]
    if appearance.cap:
        rib = 0.5 + 0.5 * np.sin(np.arctan2(points[:, 0], points[:, 2]) * 60.0)
        hair = np.asarray(appearance.hair) * (0.8 + 0.25 * rib[:, None] + 0.08 * fine[:, None])
        specular[is_hair] = 0.03
    else:
        hair = np.asarray(appearance.hair) * (1.0 + 0.5 * strands_y[:, None] + 0.15 * low[:, None])
        specular[is_hair] = 0.15
    albedo[is_hair] = hair[is_hair]

    # teeth: off-white with darker gaps between neighbouring teeth and a yellowish edge
    is_teeth = labels == LABEL_IDS["teeth"]
    if is_teeth.any():
        mouth_centre = landmarks[48:60].mean(axis=0)
        around = np.arctan2(points[:, 0] - mouth_centre[0], points[:, 2] - (mouth_centre[2] - 0.04))
        gaps = np.abs(np.sin(around * 14.0)) ** 8  # ~14 teeth per half circle
        tooth = np.array([0.93, 0.91, 0.84]) * (1.0 - 0.45 * gaps[:, None]) + 0.03 * fine[:, None]
        albedo[is_teeth] = tooth[is_teeth]
        specular[is_teeth] = 0.35

    # mouth interior: dark red, darker further back, a pinker tongue at the bottom
    is_mouth = labels == LABEL_IDS["mouth_interior"]
    if is_mouth.any():
        mouth_centre = landmarks[60:68].mean(axis=0)
        depth = np.clip((mouth_centre[2] - points[:, 2]) / 0.04, 0.0, 1.0)
        tongue = _smoothstep(0.0, -0.01, points[:, 1] - mouth_centre[1])
        cavity = np.array([0.30, 0.08, 0.08]) * (1 - tongue)[:, None] + np.array([0.55, 0.25, 0.27]) * tongue[:, None]
        cavity = cavity * (1.0 - 0.8 * depth)[:, None]
        albedo[is_mouth] = cavity[is_mouth]
        specular[is_mouth] = 0.1

    unlabelled = ~(is_skin | is_lips | is_eye | is_brow | is_hair | is_teeth | is_mouth)
    albedo[unlabelled] = skin[unlabelled]
    return np.clip(albedo, 0.0, 1.0).astype(np.float32), specular.astype(np.float32)


def crease_intensity(points: np.ndarray, labels: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The three crease maps ``(C, N)`` in ``[0, 1]`` at rest points (order :data:`CREASE_NAMES`).

    * ``smile``: nasolabial folds (nose wing → past the mouth corner) and crow's feet
      (three short lines fanning out from each outer eye corner);
    * ``brow_raise``: four slightly arched horizontal forehead lines above the brows;
    * ``brow_frown``: two short vertical lines between the brows.
    Lines are drawn in the frontal projection (distances in x, y) so that they lie on the
    curved skin, on the front of the head only (in front of the jaw-line landmarks). Only
    skin carries creases.
    """
    outward = np.array([1.0, 0.0])
    up = np.array([0.0, 1.0])
    front = points[:, 2] > landmarks[[0, 16], 2].mean()
    points = points[:, :2]
    landmarks = landmarks[:, :2]
    smile = np.zeros(len(points))
    for nose_wing, mouth_corner, side in ((landmarks[31], landmarks[48], -1.0), (landmarks[35], landmarks[54], 1.0)):
        nodes = np.stack(
            [
                nose_wing + side * 0.008 * outward + 0.004 * up,
                0.5 * (nose_wing + mouth_corner) + side * 0.014 * outward,
                mouth_corner + side * 0.012 * outward - 0.012 * up,
            ]
        )
        smile = np.maximum(smile, _polyline_line(points, nodes, 0.0026))
    for eye_corner, side in ((landmarks[36], -1.0), (landmarks[45], 1.0)):
        start = eye_corner + side * 0.006 * outward
        for tilt in (-0.5, 0.0, 0.5):
            end = start + side * 0.012 * outward + tilt * 0.012 * up
            smile = np.maximum(smile, 0.8 * np.exp(-((_distance_to_segment(points, start, end) / 0.0015) ** 2)))

    brow_top = max(landmarks[19, 1], landmarks[24, 1])
    brow_half_width = 0.5 * abs(landmarks[26, 0] - landmarks[17, 0])
    arch = 0.15 * points[:, 0] ** 2 / max(brow_half_width, 1e-3)
    raise_lines = np.zeros(len(points))
    for level in (0.014, 0.022, 0.030, 0.038):
        raise_lines = np.maximum(raise_lines, np.exp(-(((points[:, 1] - arch - brow_top - level) / 0.0018) ** 2)))
    raise_lines *= _smoothstep(brow_half_width, 0.6 * brow_half_width, np.abs(points[:, 0]))

    between = 0.5 * (landmarks[21] + landmarks[22])
    frown = np.zeros(len(points))
    for side in (-1.0, 1.0):
        start = between + side * 0.005 * outward - 0.004 * up
        frown = np.maximum(frown, np.exp(-((_distance_to_segment(points, start, start + 0.016 * up) / 0.0016) ** 2)))

    on_skin = ((labels == LABEL_IDS["skin"]) & front).astype(np.float64)
    return (np.stack([smile, raise_lines, frown]) * on_skin).astype(np.float32)


# --------------------------------------------------------------------------- baking
def bake_textures(head: dict, appearance: Appearance, size: int = 512, seed: int = 0) -> HeadTextures:
    """Evaluate the procedural appearance at every texel of the head's UV layout.

    Args:
        head: the arrays of ``procedural_head.npz`` (at least ``v_template, f, vt, ft,
            face_labels, lmk_faces_idx, lmk_bary_coords``).
        appearance: the speaker's colours.
        size: texture side ``S``.
        seed: noise seed.

    Returns:
        :class:`HeadTextures`. Empty texels are filled with the nearest covered texel so
        that bilinear lookups at UV seams do not pick up black.
    """
    missing = [
        k for k in ("v_template", "f", "vt", "ft", "face_labels", "lmk_faces_idx", "lmk_bary_coords") if k not in head
    ]
    if missing:
        raise KeyError(f"bake_textures: the head arrays lack {missing}")
    fragments = rasterize_uv(head["vt"], head["ft"], size)
    covered = fragments.covered
    if not covered.any():
        raise ValueError("bake_textures: the UV layout covers no texel; vt must lie in [0, 1]")
    faces = head["f"]
    points = interpolate(head["v_template"][faces], fragments)[covered]
    labels = face_values(np.asarray(head["face_labels"]), fragments)[covered]
    landmarks = landmarks_on_template(head)
    vertex_labels = np.zeros(len(head["v_template"]), dtype=np.int64)
    vertex_labels[faces.reshape(-1)] = np.repeat(np.asarray(head["face_labels"]), 3)
    eyes = _eye_centres(head["v_template"], vertex_labels)

    albedo_values, specular_values = procedural_albedo(points, labels, landmarks, eyes, appearance, seed)
    crease_values = crease_intensity(points, labels, landmarks)

    # nearest covered texel for every texel (fills the gaps between UV islands)
    _, (rows, cols) = ndimage.distance_transform_edt(~covered, return_indices=True)

    def to_image(values: np.ndarray) -> np.ndarray:
        image = np.zeros((size, size) + values.shape[1:], dtype=np.float32)
        image[covered] = values
        return image[rows, cols]

    return HeadTextures(
        albedo=to_image(albedo_values),
        specular=to_image(specular_values),
        creases=np.stack([to_image(c) for c in crease_values]),
        crease_depth=appearance.crease_depth,
    )


def crease_weights(articulation: np.ndarray, articulation_names: list[str] | tuple[str, ...]) -> np.ndarray:
    """How strongly each crease shows in each frame: ``(T, A)`` articulation -> ``(T, C)`` in ``[0, 1]``.

    ``smile`` ← the ``smile`` articulation, ``brow_raise`` ← ``brow_raise``, ``brow_frown`` ←
    ``brow_frown`` (negative amounts clipped to 0; amounts above 1 saturate).
    """
    articulation = np.atleast_2d(np.asarray(articulation, dtype=np.float32))
    names = list(articulation_names)
    if articulation.shape[-1] != len(names):
        raise ValueError(
            f"articulation has {articulation.shape[-1]} columns but {len(names)} articulation names were given"
        )
    columns = []
    for crease in CREASE_NAMES:
        if crease not in names:
            raise KeyError(f"crease_weights: articulation {crease!r} missing from {names}")
        columns.append(articulation[:, names.index(crease)])
    return np.clip(np.stack(columns, axis=1), 0.0, 1.0)


def apply_creases(albedo: np.ndarray, creases: np.ndarray, weights: np.ndarray, depth: float) -> np.ndarray:
    """Darken an albedo by the expressed creases: ``albedo * (1 - depth * clip(sum_c w_c crease_c, 0, 1))``.

    Args:
        albedo: ``(..., 3)`` colours (a texture or colours sampled at pixels).
        creases: ``(..., C)`` crease intensities at the same texels/pixels.
        weights: ``(C,)`` crease weights of the frame (:func:`crease_weights`).
        depth: darkening of a fully expressed crease (``HeadTextures.crease_depth``).

    Returns:
        ``(..., 3)`` float32.
    """
    weights = np.asarray(weights, dtype=np.float32)
    if weights.shape != (creases.shape[-1],):
        raise ValueError(f"weights must be ({creases.shape[-1]},), one per crease {CREASE_NAMES}, got {weights.shape}")
    darkening = np.clip(creases @ weights, 0.0, 1.0)
    return (albedo * (1.0 - depth * darkening)[..., None]).astype(np.float32)
