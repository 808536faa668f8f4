"""Facial articulations of the procedural head: displacement fields on the neutral mesh.

Each articulation maps the neutral vertices (V, 3) of an identity to a displacement
(V, 3) for a unit amount — the raw material of the expression PCA (as FLAME's
expression space comes from PCA over registered expression scans). Fields are written
in face coordinates ``(u, v)`` (see :mod:`builder_geometry`): lateral and vertical metres
on the face, measured from the mouth or the eyes. The mouth cavity and the eye pockets
follow the lip / lid margin they hang from, fading with depth; teeth, eyeballs and ears
never deform (they move by pose only).

Named articulations (stored in the asset, in this order) are :data:`ARTICULATION_NAMES`;
:data:`EXTRA_ARTICULATIONS` (asymmetric and secondary actions) and random localized
micro-fields only enrich the PCA.
"""

from __future__ import annotations

import numpy as np

from ..data.speech import ARTICULATION_NAMES  # the speech data's articulation columns
from . import head_geometry as geo
from .head_geometry import FACE_RADIUS as R
from .head_geometry import bump, smoothstep

__all__ = ["ARTICULATION_NAMES", "EXTRA_ARTICULATIONS", "articulation_field", "micro_fields", "JAW_OPEN_MAX_RAD"]

EXTRA_ARTICULATIONS: tuple[str, ...] = (
    "smile_left",
    "smile_right",
    "brow_raise_left",
    "brow_raise_right",
    "frown_corners",
    "upper_lip_raise",
    "lower_lip_depress",
    "chin_raise",
    "nose_wrinkle",
    "squint",
    "eyes_wide",
    "lip_funnel",
    "lip_suck",
    "cheek_suck",
    "dimpler",
    "lip_stretch",
)
#: Jaw rotation (rad, about +x) that goes with ``jaw_open`` = 1 (its expression part is the lip shape).
JAW_OPEN_MAX_RAD = 0.35

_CAVITY_FOLLOW = (1.0, 0.75, 0.35, 0.1, 0.0)  # how much each cavity ring follows the lips
_POCKET_FOLLOW = (0.6, 0.2)  # ... each eye-pocket ring follows the lids


def _face_coords(topo: geo.Topology):
    """Face coordinates of the skin vertices: u (lateral, m), dv (height above the lip line, m),
    s (+1 upper lip side / above, -1 lower side / below)."""
    u = R * topo.skin_uv[:, 0]
    v = R * topo.skin_uv[:, 1]
    dv = v - R * geo.MOUTH_PHI
    s = np.where((dv > 1e-9) | ((np.abs(dv) <= 1e-9) & (topo.skin_side >= 0)), 1.0, -1.0)
    return u, v, dv, s


def _lid_rotation(topo, V0, frames, eye: str, upper_angle: float, lower_angle: float) -> np.ndarray:
    """Skin displacement (V_skin, 3) of rotating the lids of one eye about its lid centre.

    Positive angles close the lids: the upper lid comes down, the lower lid goes up.
    """
    up_w, low_w = geo.lid_motion_weights(topo.skin_uv, topo.skin_side, eye)
    angle = upper_angle * up_w - lower_angle * low_w
    skin = V0[: topo.n_skin]
    moved = geo.rotate_about_x(skin, frames[eye][1], angle)
    return moved - skin


def _skin_field(name: str, topo, V0, frames, amount: float) -> np.ndarray:
    """Skin displacement (V_skin, 3) of articulation ``name`` at ``amount``."""
    u, v, dv, s = _face_coords(topo)
    au = np.abs(u)
    side_sign = np.sign(u)
    half = R * geo.MOUTH_HALF_WIDTH
    ve = R * geo.EYE_PHI
    ue = R * geo.EYE_THETA
    D = np.zeros((topo.n_skin, 3))
    mouth_zone = np.exp(-((u / 0.030) ** 2) - (dv / 0.020) ** 2)
    lips_zone = np.exp(-((u / 0.028) ** 2) - (dv / 0.009) ** 2)
    slit_open = np.exp(-((u / 0.012) ** 2) - (dv / 0.007) ** 2)
    corners = bump(au, dv, half, 0.002, 0.014, 0.013)
    cheeks = bump(au, dv, 0.040, 0.025, 0.018, 0.020)
    left = smoothstep(-0.01, 0.01, u)

    if name == "jaw_open":  # lip shape that goes with opening: lips part, corners narrow
        D[:, 1] = lips_zone * np.where(s > 0, 0.0015, -0.0030)
        D[:, 0] = -0.0025 * side_sign * corners
        D[:, 1] += -0.0020 * bump(au, dv, 0.035, -0.015, 0.020, 0.025)
    elif name == "lip_round":  # "oo": corners come in, lips push forward, a small round opening
        D[:, 0] = -0.45 * u * mouth_zone
        D[:, 2] = 0.0070 * mouth_zone
        D[:, 1] = s * 0.0030 * slit_open
    elif name == "lip_spread":  # "ee": corners go out and back, lips flatten
        D[:, 0] = 0.40 * u * mouth_zone
        D[:, 1] = s * 0.0012 * slit_open + 0.0010 * corners
        D[:, 2] = -0.0035 * mouth_zone * (u / half) ** 2
    elif name == "lip_press":  # lips pressed together: the vermilion thins and rolls in
        band = np.exp(-((u / 0.028) ** 2))
        D[:, 1] = -0.35 * dv * np.exp(-((dv / 0.009) ** 2)) * band
        D[:, 2] = -0.0025 * lips_zone
    elif name in ("smile", "smile_left", "smile_right"):
        mask = {"smile": 1.0, "smile_left": left, "smile_right": 1.0 - left}[name]
        D[:, 0] = 0.0060 * side_sign * corners
        D[:, 1] = 0.0065 * corners + 0.0030 * cheeks + 0.0012 * bump(au, v, ue, ve - 0.009, 0.012, 0.005)
        D[:, 2] = -0.0040 * corners + 0.0025 * cheeks
        D[:, 1] += s * 0.0010 * slit_open
        D *= np.asarray(mask)[..., None] if np.ndim(mask) else mask
    elif name in ("brow_raise", "brow_raise_left", "brow_raise_right"):
        mask = {"brow_raise": 1.0, "brow_raise_left": left, "brow_raise_right": 1.0 - left}[name]
        forehead = np.exp(-(((au - 0.026) / 0.040) ** 2)) * smoothstep(ve + 0.005, ve + 0.016, v)
        forehead *= np.exp(-(((v - ve - 0.022) / 0.040) ** 2))
        D[:, 1] = 0.0065 * forehead * mask
        D[:, 2] = 0.0008 * forehead * mask
    elif name == "brow_frown":  # inner brows down and together
        inner = bump(au, v, 0.014, ve + 0.017, 0.013, 0.012)
        D[:, 1] = -0.0040 * inner
        D[:, 0] = -0.0030 * side_sign * inner
        D[:, 2] = 0.0010 * inner
    elif name == "cheek_puff":
        puff = bump(au, dv, 0.038, 0.006, 0.022, 0.022) * (1.0 - lips_zone)
        ray = V0[: topo.n_skin] - geo.ORIGIN
        ray /= np.linalg.norm(ray, axis=1, keepdims=True)
        D = 0.0080 * puff[:, None] * ray
        D[:, 2] += 0.0015 * lips_zone
    elif name in ("mouth_left", "mouth_right"):
        D[:, 0] = (1.0 if name == "mouth_left" else -1.0) * 0.0070 * np.exp(-((u / 0.040) ** 2) - (dv / 0.025) ** 2)
    elif name == "frown_corners":
        D[:, 1] = -0.0045 * corners
    elif name == "upper_lip_raise":
        D[:, 1] = 0.0030 * np.exp(-((u / 0.020) ** 2)) * np.exp(-(((dv - 0.006) / 0.010) ** 2)) * (s > 0)
    elif name == "lower_lip_depress":
        D[:, 1] = -0.0030 * np.exp(-((u / 0.020) ** 2)) * np.exp(-(((dv + 0.006) / 0.010) ** 2)) * (s < 0)
        D[:, 2] = 0.0015 * np.exp(-((u / 0.020) ** 2)) * np.exp(-(((dv + 0.004) / 0.006) ** 2)) * (s < 0)
    elif name == "chin_raise":
        chin = bump(u, dv, 0.0, -0.030, 0.018, 0.014)
        D[:, 1] = 0.0030 * chin + 0.0015 * lips_zone * (s < 0)
        D[:, 2] = 0.0015 * chin
    elif name == "nose_wrinkle":
        D[:, 1] = 0.0020 * bump(au, v, 0.010, R * geo.NOSE_PHI[1] + 0.005, 0.010, 0.015)
    elif name in ("squint", "eyes_wide"):
        for eye in ("eye_left", "eye_right"):
            if name == "squint":
                D += _lid_rotation(topo, V0, frames, eye, 0.30 * geo.LID_OPEN_UP, 0.45 * geo.LID_OPEN_DOWN)
            else:
                D += _lid_rotation(topo, V0, frames, eye, -0.35 * geo.LID_OPEN_UP, 0.0)
    elif name == "lip_funnel":
        D[:, 2] = 0.0050 * mouth_zone
        D[:, 1] = s * 0.0040 * np.exp(-((u / 0.016) ** 2) - (dv / 0.007) ** 2)
    elif name == "lip_suck":
        D[:, 2] = -0.0030 * lips_zone
    elif name == "cheek_suck":
        ray = V0[: topo.n_skin] - geo.ORIGIN
        ray /= np.linalg.norm(ray, axis=1, keepdims=True)
        D = -0.0040 * (bump(au, dv, 0.040, 0.0, 0.015, 0.018))[:, None] * ray
    elif name == "dimpler":
        D[:, 2] = -0.0030 * corners
        D[:, 0] = 0.0015 * side_sign * corners
    elif name == "lip_stretch":
        D[:, 0] = 0.0050 * side_sign * corners
        D[:, 1] = -0.0025 * corners
    elif name in ("blink_left", "blink_right"):
        eye = "eye_left" if name == "blink_left" else "eye_right"
        opening = geo.LID_OPEN_UP + 0.7 * geo.LID_OPEN_DOWN
        D = _lid_rotation(topo, V0, frames, eye, opening * amount, 0.3 * geo.LID_OPEN_DOWN * amount)
        return D  # already nonlinear in the amount
    else:
        raise KeyError(f"unknown articulation {name!r}; expected one of {ARTICULATION_NAMES + EXTRA_ARTICULATIONS}")
    return amount * D


def _spread_to_pockets(topo, skin_displacement: np.ndarray) -> np.ndarray:
    """Full (V, 3) displacement: the skin's, plus pocket rings following their margin loop."""
    D = np.zeros((topo.n_vertices, 3))
    D[: topo.n_skin] = skin_displacement
    for name, follow in (("mouth", _CAVITY_FOLLOW), ("eye_left", _POCKET_FOLLOW), ("eye_right", _POCKET_FOLLOW)):
        rings = topo.pocket_rings[name]
        loop_disp = skin_displacement[rings[0]]
        for ring, weight in zip(rings[1:], follow):
            D[ring] = weight * loop_disp
    return D


def articulation_field(name: str, topo, V0: np.ndarray, frames: dict, amount: float = 1.0) -> np.ndarray:
    """Displacement (V, 3) of articulation ``name`` at ``amount`` on the neutral mesh ``V0`` (V, 3)."""
    return _spread_to_pockets(topo, _skin_field(name, topo, V0, frames, amount))


def micro_fields(topo, V0: np.ndarray, rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` random localized displacement fields (count, V, 3) on the lower face and brows.

    Small smooth bumps (random centre, size and 3D direction, 1.5 mm peak) standing for the
    many minor muscle actions a real expression space also contains.
    """
    u, v, dv, s = _face_coords(topo)
    fields = np.zeros((count, topo.n_vertices, 3))
    for k in range(count):
        cu = rng.uniform(-0.05, 0.05)
        cv = rng.uniform(R * geo.MOUTH_PHI - 0.04, R * geo.EYE_PHI + 0.03)
        size = rng.uniform(0.008, 0.02)
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        weight = bump(u, v, cu, cv, size, size)
        if abs(cv - R * geo.MOUTH_PHI) < 0.015:  # near the lips: the two lips move independently
            weight = weight * (s == (1.0 if rng.random() < 0.5 else -1.0))
        fields[k] = _spread_to_pockets(topo, 0.0015 * weight[:, None] * direction)
    return fields
