"""Geometry of the procedural head: mesh topology and the neutral surface of one identity.

The head skin is a latitude–longitude grid seen from a point ``ORIGIN`` inside the head:
column ``c`` is an azimuth ``theta`` (0 = straight ahead along +z, +pi/2 = the subject's
left, +x), row ``r`` an elevation ``phi`` (+pi/2 = the crown; the last row is the cut at
the bottom of the neck). Every grid vertex sits where the ray ``ORIGIN + t · dir(theta,
phi)`` meets a smooth implicit head (cranium ∪ face ∪ neck), pushed out along the ray by
feature fields (nose, brows, cheekbones, lips, chin, hair volume).

Features are placed in *face coordinates* ``(u, v) = FACE_RADIUS · (theta, phi)`` (metres
on a sphere of the size of the face), so every identity has its eyes, nose and mouth
on the same rows and columns: the topology never changes, only the positions.

Openings are slits in the grid: along the mouth row (and each eye row) the vertices
between the corners are duplicated; triangles above the slit use the originals (upper
lip / upper lid), triangles below use the copies (lower lip / lower lid). Behind each
slit hangs a pocket (the mouth cavity, the conjunctival sac) made of rings that start at
the slit's loop. Eyeballs, teeth rows and ears are separate closed parts.

Coordinates: metres, +y up, +z out of the face, +x toward the subject's left.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..semantics import label_id

__all__ = [
    "Topology",
    "build_topology",
    "neutral_vertices",
    "IDENTITY_PARAMS",
    "default_identity",
    "FACE_RADIUS",
    "ORIGIN",
]

#: Rays start here (inside the head, straight above the neck axis).
ORIGIN = np.array([0.0, 0.0, -0.02])
#: Radius (m) that turns grid angles into face coordinates u = R·theta, v = R·phi.
FACE_RADIUS = 0.115

# Feature layout in grid angles (radians); fixed for every identity.
EYE_THETA = 0.30  # eye centres at theta = ±EYE_THETA
EYE_PHI = 0.235  # eye slit row
EYE_HALF_WIDTH = 0.118  # half width of the palpebral fissure (theta)
MOUTH_PHI = -0.385  # lip line row
MOUTH_HALF_WIDTH = 0.205
NOSE_PHI = (0.20, -0.13, -0.215)  # nasion, tip, subnasale
EAR_THETA = 1.64
EAR_PHI = 0.0
NECK_TOP_PHI = -1.08  # above this the neck weights fade out
BOTTOM_PHI = -1.30  # the cut at the bottom of the neck

EYEBALL_RADIUS = 0.0120
TEETH_SEGMENTS = 20  # segments along each dental arch
TEETH_SECTION = 6  # points around a tooth-row cross-section
EYE_RINGS = (12, 16)  # eyeball latitude rings (excluding poles), longitude segments
EAR_RINGS = (9, 16)

#: Identity parameters: name -> (mean, std). Lengths in metres, angles in radians.
IDENTITY_PARAMS: dict[str, tuple[float, float]] = {
    "cranium_width": (0.0745, 0.0040),
    "cranium_height": (0.0950, 0.0045),
    "cranium_depth": (0.0960, 0.0045),
    "face_width": (0.0620, 0.0035),
    "face_height": (0.0820, 0.0045),
    "face_depth": (0.0760, 0.0035),
    "face_forward": (0.0190, 0.0030),
    "neck_radius": (0.0550, 0.0035),
    "jaw_width": (1.00, 0.06),  # scale of the lower face width
    "chin_projection": (0.0070, 0.0025),
    "chin_height": (0.0, 0.004),
    "nose_projection": (0.0215, 0.0030),
    "nose_width": (1.00, 0.10),
    "nose_length": (0.0, 0.015),  # shifts the tip row (radians of phi)
    "nose_bridge": (0.0045, 0.0015),
    "alar_flare": (0.0055, 0.0015),
    "brow_ridge": (0.0040, 0.0015),
    "cheekbone": (0.0040, 0.0015),
    "cheek_fullness": (0.0020, 0.0025),
    "upper_lip": (0.0040, 0.0010),
    "lower_lip": (0.0050, 0.0012),
    "lip_protrusion": (0.0040, 0.0015),
    "eye_depth": (0.0040, 0.0012),  # how far the eyeball front sits behind the skin
    "eye_opening": (1.00, 0.10),  # scale of the lid opening
    "eye_tilt": (0.0, 0.04),  # canthal tilt (radians)
    "ear_size": (1.12, 0.08),
    "ear_flare": (0.33, 0.08),
    "hair_volume": (0.0060, 0.0025),
    "forehead_slope": (0.0, 0.004),
    "face_warp_eye_height": (0.0, 0.010),  # moves the eye region up/down (radians of phi)
    "face_warp_eye_spacing": (0.0, 0.015),  # spreads the eyes apart (radians of theta)
    "face_warp_mouth_height": (0.0, 0.012),
}


def default_identity() -> dict[str, float]:
    """The mean identity (every parameter at its mean)."""
    return {name: mean for name, (mean, _) in IDENTITY_PARAMS.items()}


# ----------------------------------------------------------------------------- helpers
def smoothstep(edge0, edge1, x):
    """Cubic Hermite step: 0 below ``edge0``, 1 above ``edge1`` (works elementwise)."""
    t = np.clip((np.asarray(x, dtype=np.float64) - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def bump(u, v, u0, v0, su, sv):
    """Anisotropic Gaussian bump exp(-((u-u0)/su)² - ((v-v0)/sv)²)."""
    return np.exp(-(((u - u0) / su) ** 2) - ((v - v0) / sv) ** 2)


def ray_directions(theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Unit ray directions (..., 3) for azimuth ``theta`` and elevation ``phi``."""
    return np.stack([np.cos(phi) * np.sin(theta), np.sin(phi), np.cos(phi) * np.cos(theta)], axis=-1)


def rotate_about_x(points: np.ndarray, centre: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate points (N, 3) about the x-axis through ``centre`` by ``angle`` (N,) radians.

    A positive angle moves points in front of the centre (+z) downward (-y), like opening
    the jaw in FLAME.
    """
    rel = points - centre
    cos, sin = np.cos(angle), np.sin(angle)
    out = rel.copy()
    out[:, 1] = rel[:, 1] * cos - rel[:, 2] * sin
    out[:, 2] = rel[:, 1] * sin + rel[:, 2] * cos
    return out + centre


def _strip(ring_a, ring_b, vt_a, vt_b, closed: bool):
    """Triangles (and UV triangles) joining two vertex rings of equal length.

    ``ring_a`` is above / outside ``ring_b``; winding (a_i, b_i, b_i+1), (a_i, b_i+1, a_i+1)
    is counter-clockwise seen from the outside for the grid's (left→right, top→bottom)
    order. For a closed ring the UV rings carry one extra (seam) entry.
    """
    n = len(ring_a)
    count = n if closed else n - 1
    faces, uv_faces = [], []
    for i in range(count):
        j = (i + 1) % n
        vj = i + 1  # UV rings have n+1 entries when closed
        faces.append((ring_a[i], ring_b[i], ring_b[j]))
        uv_faces.append((vt_a[i], vt_b[i], vt_b[vj]))
        faces.append((ring_a[i], ring_b[j], ring_a[j]))
        uv_faces.append((vt_a[i], vt_b[vj], vt_a[vj]))
    return faces, uv_faces


def _fan(centre, ring, vt_centre, vt_ring, closed: bool, apex_first: bool):
    """Triangle fan from ``centre`` to a ring (apex above the ring when ``apex_first``)."""
    n = len(ring)
    count = n if closed else n - 1
    faces, uv_faces = [], []
    for i in range(count):
        j = (i + 1) % n
        if apex_first:
            faces.append((centre, ring[i], ring[j]))
            uv_faces.append((vt_centre, vt_ring[i], vt_ring[i + 1]))
        else:
            faces.append((ring[i], centre, ring[j]))
            uv_faces.append((vt_ring[i], vt_centre, vt_ring[i + 1]))
    return faces, uv_faces


# ----------------------------------------------------------------------------- topology
@dataclass
class Part:
    """A contiguous block of vertices ``[start, stop)`` with a name."""

    name: str
    start: int
    stop: int

    @property
    def index(self) -> np.ndarray:
        return np.arange(self.start, self.stop)


@dataclass
class Slit:
    """A slit (lips, lids) on grid row ``row`` between the corner columns ``c0`` and ``c1``.

    Attributes:
        upper: (m,) ids of the original grid vertices between the corners (upper lip / lid).
        lower: (m,) ids of their duplicates (lower lip / lid).
        corners: the two corner vertex ids, shared by both sides.
    """

    name: str
    row: int
    c0: int
    c1: int
    upper: np.ndarray
    lower: np.ndarray
    corners: tuple[int, int]

    def loop(self) -> np.ndarray:
        """Closed loop: corner c0, upper c0+1..c1-1, corner c1, lower c1-1..c0+1."""
        return np.concatenate([[self.corners[0]], self.upper, [self.corners[1]], self.lower[::-1]])

    def loop_sides(self) -> np.ndarray:
        """(2m+2,) side of each loop vertex: +1 upper, -1 lower, 0 corner."""
        m = len(self.upper)
        return np.concatenate([[0], np.ones(m), [0], -np.ones(m)])


@dataclass
class Topology:
    """Everything about the mesh that does not depend on the identity.

    Attributes:
        theta, phi: (n_cols,), (n_rows,) grid angles.
        grid: (n_rows, n_cols) vertex ids of the skin grid; ``pole`` the crown vertex.
        faces: (F, 3) int triangles, counter-clockwise from outside; ``uv_faces`` (F, 3) into ``uvs``.
        uvs: (Vt, 2) texture coordinates in [0, 1].
        face_labels: (F,) uint8 semantic ids.
        skin_uv: (V_skin, 2) grid angles (theta, phi) of every skin vertex (grid, pole, slit copies).
        skin_side: (V_skin,) +1 upper copy of a slit vertex, -1 lower copy, 0 elsewhere.
        parts: named vertex blocks (skin, mouth_cavity, eye pockets, teeth, eyeballs, ears).
        slits: mouth, eye_left, eye_right.
        pocket_rings: per slit, the rings (vertex ids) of the pocket behind it; ring 0 is the
            slit's loop. ``pocket_apex`` closes each pocket.
        face_part: (F,) index into :data:`PART_NAMES` of the part each triangle belongs to.
    """

    theta: np.ndarray
    phi: np.ndarray
    grid: np.ndarray
    pole: int
    n_vertices: int
    faces: np.ndarray
    uv_faces: np.ndarray
    uvs: np.ndarray
    face_labels: np.ndarray
    skin_uv: np.ndarray
    skin_side: np.ndarray
    parts: dict[str, Part]
    slits: dict[str, Slit]
    pocket_rings: dict[str, list[np.ndarray]]
    pocket_apex: dict[str, int]
    face_part: np.ndarray

    @property
    def n_skin(self) -> int:
        return self.parts["skin"].stop


PART_NAMES = (
    "skin",
    "mouth_cavity",
    "eye_pocket_left",
    "eye_pocket_right",
    "teeth_upper",
    "teeth_lower",
    "eyeball_left",
    "eyeball_right",
    "ear_left",
    "ear_right",
)

CAVITY_RINGS = 5
POCKET_RINGS = 2


def _grid_angles(resolution: float) -> tuple[np.ndarray, np.ndarray]:
    """Column azimuths (dense over the face) and row elevations (dense over eyes and mouth)."""
    n_cols = 2 * int(round(38 * resolution))
    x = -1.0 + 2.0 * np.arange(n_cols) / n_cols
    theta = np.pi * (0.35 * x + 0.65 * x**3)  # x = 0 is straight ahead; column 0 is the back seam
    knots_phi = np.array([1.52, 1.0, 0.62, 0.47, -0.55, -0.78, -0.98, -1.10, BOTTOM_PHI - 0.01])
    knots_step = np.array([0.10, 0.075, 0.05, 0.026, 0.026, 0.032, 0.036, 0.045, 0.045]) / resolution
    rows = [knots_phi[0]]
    while rows[-1] > BOTTOM_PHI:
        rows.append(rows[-1] - float(np.interp(rows[-1], knots_phi[::-1], knots_step[::-1])))
    phi = np.array(rows[:-1] + [BOTTOM_PHI])
    for target in (EYE_PHI, MOUTH_PHI):  # put a row exactly on each slit
        phi[np.argmin(np.abs(phi - target))] = target
    return theta, phi


def build_topology(resolution: float = 1.0) -> Topology:
    """Build the mesh connectivity, UVs and semantic labels (identity independent).

    Args:
        resolution: 1.0 for the bundled asset; smaller values give a coarser head (tests).
    """
    theta, phi = _grid_angles(resolution)
    n_cols, n_rows = len(theta), len(phi)
    grid = np.arange(n_rows * n_cols).reshape(n_rows, n_cols)
    pole = n_rows * n_cols
    n = pole + 1
    skin_uv = [np.stack(np.meshgrid(theta, phi), -1).reshape(-1, 2), np.array([[0.0, np.pi / 2]])]
    skin_side = [np.zeros(n_rows * n_cols), np.zeros(1)]

    # --- slits: duplicate the interior vertices of the mouth / eye rows
    slits: dict[str, Slit] = {}
    lower_ids = {}  # (row, col) -> duplicated id
    slit_specs = [
        ("mouth", MOUTH_PHI, 0.0, MOUTH_HALF_WIDTH),
        ("eye_left", EYE_PHI, EYE_THETA, EYE_HALF_WIDTH),
        ("eye_right", EYE_PHI, -EYE_THETA, EYE_HALF_WIDTH),
    ]
    for name, row_phi, centre, half in slit_specs:
        row = int(np.argmin(np.abs(phi - row_phi)))
        inside = np.nonzero(np.abs(theta - centre) < half)[0]
        c0, c1 = int(inside.min()) - 1, int(inside.max()) + 1
        upper = grid[row, inside]
        lower = np.arange(n, n + len(inside))
        n += len(inside)
        for col, vid in zip(inside, lower):
            lower_ids[(row, int(col))] = int(vid)
        skin_uv.append(np.stack([theta[inside], np.full(len(inside), phi[row])], -1))
        skin_side[0][upper] = 1.0
        skin_side.append(-np.ones(len(inside)))
        slits[name] = Slit(name, row, c0, c1, upper, lower, (int(grid[row, c0]), int(grid[row, c1])))
    skin_uv = np.concatenate(skin_uv)
    skin_side = np.concatenate(skin_side)
    parts = {"skin": Part("skin", 0, n)}

    faces, uv_faces, uvs, face_part = [], [], [], []

    def add(new_faces, new_uv_faces, part_name):
        faces.extend(new_faces)
        uv_faces.extend(new_uv_faces)
        face_part.extend([PART_NAMES.index(part_name)] * len(new_faces))

    def add_uvs(array):
        start = sum(len(a) for a in uvs)
        uvs.append(np.asarray(array, dtype=np.float64).reshape(-1, 2))
        return start + np.arange(len(uvs[-1]))

    # --- skin grid UVs: a cylindrical chart over the top 3/4 of the atlas, seam column duplicated
    u_cols = np.append((theta + np.pi) / (2 * np.pi), 1.0)
    v_rows = 0.26 + 0.74 * (phi - BOTTOM_PHI) / (np.pi / 2 - BOTTOM_PHI)
    grid_vt = add_uvs(np.stack(np.meshgrid(u_cols, v_rows), -1)).reshape(n_rows, n_cols + 1)
    pole_vt = add_uvs(np.stack([u_cols[:-1] + 0.5 / n_cols, np.ones(n_cols)], -1))
    f, ft = [], []
    for c in range(n_cols):  # crown fan
        f.append((pole, grid[0, c], grid[0, (c + 1) % n_cols]))
        ft.append((pole_vt[c], grid_vt[0, c], grid_vt[0, c + 1]))
    add(f, ft, "skin")
    for r in range(n_rows - 1):
        top = grid[r].copy()
        for c in range(n_cols):  # rows just below a slit use its lower copies
            top[c] = lower_ids.get((r, c), top[c])
        add(*_strip(top, grid[r + 1], grid_vt[r], grid_vt[r + 1], closed=True), "skin")

    # --- pockets behind the slits (mouth cavity, conjunctival sacs): rings of the loop length
    pocket_rings: dict[str, list[np.ndarray]] = {}
    pocket_apex: dict[str, int] = {}
    for name, n_rings, part_name in (
        ("mouth", CAVITY_RINGS, "mouth_cavity"),
        ("eye_left", POCKET_RINGS, "eye_pocket_left"),
        ("eye_right", POCKET_RINGS, "eye_pocket_right"),
    ):
        start = n
        loop = slits[name].loop()
        rings = [loop]
        for _ in range(n_rings):
            rings.append(np.arange(n, n + len(loop)))
            n += len(loop)
        apex = n
        n += 1
        pocket_rings[name], pocket_apex[name] = rings, apex
        parts[part_name] = Part(part_name, start, n)
        box = {
            "mouth": (0.0, 0.0, 0.32, 0.12),
            "eye_left": (0.34, 0.0, 0.16, 0.12),
            "eye_right": (0.34, 0.13, 0.16, 0.12),
        }[name]
        s = np.linspace(0, 1, len(loop) + 1)
        t = np.linspace(0, 1, n_rings + 2)
        ring_vt = add_uvs(np.stack(np.meshgrid(box[0] + box[2] * s, box[1] + box[3] * (1 - t)), -1)).reshape(
            n_rings + 2, -1
        )
        for k in range(n_rings):
            add(*_strip(rings[k], rings[k + 1], ring_vt[k], ring_vt[k + 1], closed=True), part_name)
        add(*_fan(apex, rings[-1], ring_vt[-1, 0], ring_vt[-2], closed=True, apex_first=False), part_name)

    # --- closed parts: teeth rows (tubes along the arch), eyeballs and ears (UV spheres)
    def tube(part_name, n_along, n_around, box):
        nonlocal n
        start = n
        rings = [np.arange(n + k * n_around, n + (k + 1) * n_around) for k in range(n_along + 1)]
        n += (n_along + 1) * n_around
        caps = (n, n + 1)
        n += 2
        parts[part_name] = Part(part_name, start, n)
        s = np.linspace(0, 1, n_around + 1)
        t = np.linspace(0, 1, n_along + 1)
        ring_vt = add_uvs(np.stack(np.meshgrid(box[0] + box[2] * s, box[1] + box[3] * t), -1)).reshape(n_along + 1, -1)
        cap_vt = add_uvs([[box[0] + 0.25 * box[2], box[1] - 0.004], [box[0] + 0.75 * box[2], box[1] + box[3] + 0.004]])
        for k in range(n_along):
            add(*_strip(rings[k], rings[k + 1], ring_vt[k], ring_vt[k + 1], closed=True), part_name)
        add(*_fan(caps[0], rings[0], cap_vt[0], ring_vt[0], closed=True, apex_first=True), part_name)
        add(*_fan(caps[1], rings[-1], cap_vt[1], ring_vt[-1], closed=True, apex_first=False), part_name)

    def sphere(part_name, n_lat, n_lon, box):
        nonlocal n
        start = n
        top, bottom = n, n + 1
        n += 2
        rings = [np.arange(n + k * n_lon, n + (k + 1) * n_lon) for k in range(n_lat)]
        n += n_lat * n_lon
        parts[part_name] = Part(part_name, start, n)
        s = np.linspace(0, 1, n_lon + 1)
        t = np.linspace(0, 1, n_lat + 2)[1:-1]
        ring_vt = add_uvs(np.stack(np.meshgrid(box[0] + box[2] * s, box[1] + box[3] * (1 - t)), -1)).reshape(n_lat, -1)
        pole_vt = add_uvs([[box[0] + 0.5 * box[2], box[1] + box[3]], [box[0] + 0.5 * box[2], box[1]]])
        add(*_fan(top, rings[0], pole_vt[0], ring_vt[0], closed=True, apex_first=True), part_name)
        for k in range(n_lat - 1):
            add(*_strip(rings[k], rings[k + 1], ring_vt[k], ring_vt[k + 1], closed=True), part_name)
        add(*_fan(bottom, rings[-1], pole_vt[1], ring_vt[-1], closed=True, apex_first=False), part_name)

    tube("teeth_upper", TEETH_SEGMENTS, TEETH_SECTION, (0.52, 0.005, 0.23, 0.052))
    tube("teeth_lower", TEETH_SEGMENTS, TEETH_SECTION, (0.52, 0.07, 0.23, 0.052))
    sphere("eyeball_left", *EYE_RINGS, (0.77, 0.0, 0.11, 0.12))
    sphere("eyeball_right", *EYE_RINGS, (0.89, 0.0, 0.11, 0.12))
    sphere("ear_left", *EAR_RINGS, (0.52, 0.13, 0.22, 0.12))
    sphere("ear_right", *EAR_RINGS, (0.76, 0.13, 0.22, 0.12))

    faces = np.asarray(faces, dtype=np.int64)
    uv_faces = np.asarray(uv_faces, dtype=np.int64)
    mirrored = np.asarray(face_part) == PART_NAMES.index("ear_right")  # built as the left ear's mirror image
    faces[mirrored] = faces[mirrored][:, [0, 2, 1]]
    uv_faces[mirrored] = uv_faces[mirrored][:, [0, 2, 1]]
    topo = Topology(
        theta=theta,
        phi=phi,
        grid=grid,
        pole=pole,
        n_vertices=n,
        faces=faces,
        uv_faces=uv_faces,
        uvs=np.concatenate(uvs),
        face_labels=np.zeros(len(faces), np.uint8),
        skin_uv=skin_uv,
        skin_side=skin_side,
        parts=parts,
        slits=slits,
        pocket_rings=pocket_rings,
        pocket_apex=pocket_apex,
        face_part=np.asarray(face_part),
    )
    topo.face_labels = _face_labels(topo)
    return topo


# ----------------------------------------------------------------------------- semantic regions
def lip_heights(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vermilion heights (m, face coordinates) of the upper and lower lip at lateral ``u``."""
    half = FACE_RADIUS * MOUTH_HALF_WIDTH
    profile = np.sqrt(np.clip(1.0 - (u / (1.02 * half)) ** 2, 0.0, 1.0))
    bow = 0.0012 * bump(u, 0.0, 0.0, 0.0, 0.004, 1.0)  # Cupid's bow dip at the philtrum
    upper = (0.0075 * profile**0.8 - bow) * (profile > 0)
    lower = 0.0095 * profile**0.7
    return upper, lower


def brow_centre(u: np.ndarray) -> np.ndarray:
    """Face-coordinate height of the eyebrow centre line at lateral ``u`` (arched)."""
    ue = FACE_RADIUS * EYE_THETA
    du = np.abs(u) - ue
    return FACE_RADIUS * EYE_PHI + 0.0175 + 0.004 * np.exp(-(((du - 0.004) / 0.014) ** 2)) - 0.0025 * (du / 0.02) ** 2


def hairline_phi(theta: np.ndarray) -> np.ndarray:
    """Elevation of the hairline: high on the forehead, down the temples, low at the nape."""
    a = np.abs(theta)
    return 0.80 - 0.72 * smoothstep(0.45, 1.35, a) - 0.50 * smoothstep(1.75, 2.7, a)


def _face_labels(topo: Topology) -> np.ndarray:
    """Per-triangle semantic ids (see :mod:`talkinghead_edu.semantics`)."""
    labels = np.full(len(topo.faces), label_id("skin"), dtype=np.uint8)
    part = np.asarray(PART_NAMES)[topo.face_part]
    labels[np.isin(part, ["teeth_upper", "teeth_lower"])] = label_id("teeth")
    labels[np.isin(part, ["eyeball_left", "eyeball_right", "eye_pocket_left", "eye_pocket_right"])] = label_id("eyes")
    # mouth cavity: the first ring strip is the inner (wet) lip, the rest the cavity
    cavity = np.nonzero(part == "mouth_cavity")[0]
    loop_len = len(topo.pocket_rings["mouth"][0])
    labels[cavity] = label_id("mouth_interior")
    labels[cavity[: 2 * loop_len]] = label_id("lips")
    # skin grid: regions decided at the triangle's centroid in grid angles
    skin = np.nonzero(part == "skin")[0]
    tri_uv = topo.skin_uv[topo.faces[skin]].copy()  # (Fs, 3, 2)
    seam = np.ptp(tri_uv[..., 0], axis=1) > np.pi  # triangles across the back seam: unwrap theta first
    tri_uv[seam, :, 0] = np.where(tri_uv[seam, :, 0] < 0, tri_uv[seam, :, 0] + 2 * np.pi, tri_uv[seam, :, 0])
    th, ph = np.angle(np.exp(1j * tri_uv[..., 0].mean(1))), tri_uv[..., 1].mean(1)
    side = topo.skin_side[topo.faces[skin]].sum(1)
    u, v = FACE_RADIUS * th, FACE_RADIUS * ph
    vm = FACE_RADIUS * MOUTH_PHI
    up, low = lip_heights(u)
    lips = ((v >= vm - 1e-9) & (v - vm <= up) & (side >= 0)) | ((v <= vm + 1e-9) & (vm - v <= low) & (side <= 0))
    lips &= np.abs(th) < MOUTH_HALF_WIDTH * 1.02
    ue = FACE_RADIUS * EYE_THETA
    brow_half_width = np.clip(1 - ((np.abs(u) - ue - 0.002) / 0.024) ** 2, 0, 1)
    brows = (np.abs(v - brow_centre(u)) < 0.0048 * np.sqrt(brow_half_width)) & (brow_half_width > 0)
    hair = ph > hairline_phi(th)
    neck = (ph < -1.02) & ~hair
    for mask, name in ((neck, "neck_torso"), (hair, "hair"), (brows, "eyebrows"), (lips, "lips")):
        labels[skin[mask]] = label_id(name)
    return labels


# ----------------------------------------------------------------------------- neutral surface
def _smin(a, b, k):
    """Polynomial smooth minimum (union of two implicit shapes, blend width ``k``)."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b * (1 - h) + a * h - k * h * (1 - h)


def _implicit_head(p: np.ndarray, prm: dict) -> np.ndarray:
    """Approximate signed distance (m) of points (..., 3) to the base head (no features)."""

    def ellipsoid(centre, axes):
        q = (p - centre) / axes
        return (np.linalg.norm(q, axis=-1) - 1.0) * np.min(axes)

    taper = 1.0 - 0.22 * smoothstep(-0.02, -0.11, p[..., 1]) * (2.0 - prm["jaw_width"])
    cranium = ellipsoid(
        np.array([0.0, 0.025 + prm["forehead_slope"], -0.015]),
        np.array([prm["cranium_width"], prm["cranium_height"], prm["cranium_depth"]]),
    )
    face_axes = np.array([prm["face_width"], prm["face_height"], prm["face_depth"]])
    q = (p - np.array([0.0, -0.040 - prm["chin_height"], prm["face_forward"]])) / face_axes
    q[..., 0] = q[..., 0] / taper
    face = ((np.abs(q) ** 2.4).sum(-1) ** (1 / 2.4) - 1.0) * np.min(face_axes)  # squarer jaw than an ellipsoid
    radial = np.hypot(p[..., 0], p[..., 2] - ORIGIN[2])
    neck = np.maximum(radial - prm["neck_radius"], p[..., 1] + 0.02)
    return _smin(_smin(cranium, face, 0.03), neck, 0.012)


def _raycast(directions: np.ndarray, prm: dict) -> np.ndarray:
    """Distance along each ray (N, 3) from ``ORIGIN`` to the implicit head (bisection)."""
    lo = np.zeros(len(directions))
    hi = np.full(len(directions), 0.45)
    for _ in range(26):  # 0.45 m / 2**26 < 10 nm
        mid = 0.5 * (lo + hi)
        inside = _implicit_head(ORIGIN + mid[:, None] * directions, prm) < 0
        lo = np.where(inside, mid, lo)
        hi = np.where(inside, hi, mid)
    return 0.5 * (lo + hi)


def _warp(theta: np.ndarray, phi: np.ndarray, prm: dict) -> tuple[np.ndarray, np.ndarray]:
    """Identity warp of the grid angles: moves the eye and mouth regions (topology unchanged)."""
    face = bump(theta, phi, 0.0, 0.0, 0.9, 0.8)
    dphi = face * (
        prm["face_warp_eye_height"] * bump(theta, phi, 0.0, EYE_PHI, 0.8, 0.25)
        + prm["face_warp_mouth_height"] * bump(theta, phi, 0.0, MOUTH_PHI, 0.6, 0.18)
    )
    dtheta = prm["face_warp_eye_spacing"] * np.tanh(theta / EYE_THETA) * bump(theta, phi, 0.0, EYE_PHI, 0.9, 0.3)
    return theta + dtheta, phi + dphi


def _feature_height(u: np.ndarray, v: np.ndarray, side: np.ndarray, prm: dict, theta, phi) -> np.ndarray:
    """Outward offset (m, along the ray) of nose, brows, cheeks, lips, chin and hair."""
    R = FACE_RADIUS
    vn, vt, vs = (R * p for p in NOSE_PHI)
    vt = vt + R * prm["nose_length"]
    vm = R * MOUTH_PHI
    h = np.zeros_like(u)
    # nose: a ridge rising from the nasion to the tip, then turning back to the subnasale
    rise = np.clip((vn - v) / (vn - vt), 0.0, 1.0)
    under = np.clip((vt - v) / (vt - vs), 0.0, 1.0)  # 0 at the tip, 1 at the subnasale
    ridge = prm["nose_bridge"] + (prm["nose_projection"] - prm["nose_bridge"]) * rise**1.4
    ridge = ridge * (1.0 - 0.55 * under**1.5) * (1.0 - smoothstep(0.75, 1.0, under))
    width = prm["nose_width"] * (0.0075 + 0.0065 * rise**1.5 + 0.003 * under)
    across = np.clip(1.0 - (u / width) ** 2, 0.0, 1.0) ** 1.6
    h += ridge * across * smoothstep(vn + 0.012, vn - 0.004, v)
    alae = bump(np.abs(u), v, 0.0115 * prm["nose_width"], vt - 0.005, 0.0065, 0.0065)
    h += prm["alar_flare"] * alae
    # brow ridge, cheekbones, cheeks
    h += prm["brow_ridge"] * bump(np.abs(u), v, 0.028, R * EYE_PHI + 0.017, 0.030, 0.010)
    h += prm["cheekbone"] * bump(np.abs(u), v, 0.045, R * EYE_PHI - 0.030, 0.018, 0.016)
    h += prm["cheek_fullness"] * bump(np.abs(u), v, 0.042, vm + 0.012, 0.020, 0.022)
    # nasolabial fold: a soft groove from the alae to the mouth corners
    h -= 0.0015 * bump(np.abs(u) - 0.022 - 0.25 * (v - vm), v, 0.0, vm + 0.02, 0.004, 0.02)
    # lips: the philtrum / upper lip and the lower lip bulge; vermilion rolls out at the line
    up, low = lip_heights(u)
    mouth_cols = np.clip(1.0 - (u / (R * MOUTH_HALF_WIDTH * 1.25)) ** 2, 0.0, 1.0)
    upper_zone = (v >= vm) & (side >= 0)
    lower_zone = (v <= vm) & (side <= 0)
    dv_up = np.where(upper_zone, v - vm, 10.0)
    dv_low = np.where(lower_zone, vm - v, 10.0)
    dv_lip = np.abs(v - vm)
    # both lips bulge alike at the lip line, so the closed lips meet; each has its own vermilion roll
    h += prm["lip_protrusion"] * mouth_cols * np.exp(-((dv_lip / 0.013) ** 2))
    h += prm["upper_lip"] * 0.45 * mouth_cols * np.exp(-((dv_lip / 0.0035) ** 2))
    h += (
        prm["upper_lip"]
        * mouth_cols**0.5
        * np.sin(np.clip(dv_up / np.maximum(up, 1e-4), 0, 1) * np.pi) ** 0.7
        * 0.6
        * (dv_up < up)
    )
    h += (
        prm["lower_lip"]
        * mouth_cols**0.5
        * np.sin(np.clip(dv_low / np.maximum(low, 1e-4), 0, 1) * np.pi) ** 0.6
        * (dv_low < low)
    )
    # mentolabial sulcus and chin
    h -= 0.0020 * bump(u, v, 0.0, vm - 0.019, 0.016, 0.005)
    h += prm["chin_projection"] * bump(u, v, 0.0, vm - 0.040, 0.017, 0.014)
    # identity detail: random smooth radial bumps (kept away from the lids, which hug the eyeballs)
    bumps = np.asarray(prm.get("detail_bumps", np.zeros((0, 4))))
    if len(bumps):
        eyes = bump(np.abs(theta), phi, EYE_THETA, EYE_PHI, 0.22, 0.17)
        detail = sum(a * np.exp(-((theta - t0) ** 2 + (phi - p0) ** 2) / w**2) for t0, p0, w, a in bumps)
        h += detail * (1.0 - eyes)
    # hair volume over the scalp
    hair = smoothstep(-0.06, 0.06, phi - hairline_phi(theta))
    h += prm["hair_volume"] * hair
    return h


def _skin_surface(theta: np.ndarray, phi: np.ndarray, side: np.ndarray, prm: dict) -> np.ndarray:
    """Skin points (N, 3) at grid angles: warp, ray-cast the base head, add the features."""
    wth, wph = _warp(theta, phi, prm)
    directions = ray_directions(wth, wph)
    t = _raycast(directions, prm)
    t = t + _feature_height(FACE_RADIUS * theta, FACE_RADIUS * phi, side, prm, theta, phi)
    return ORIGIN + t[:, None] * directions


def eye_frame(vertices_skin_front: np.ndarray, prm: dict) -> tuple[np.ndarray, np.ndarray]:
    """(eyeball centre, lid-sphere centre) from the skin point in front of the eye (3,)."""
    centre = vertices_skin_front - np.array([0.0, 0.0, prm["eye_depth"] + EYEBALL_RADIUS])
    lid_centre = centre - np.array([0.0, 0.0, LID_OFFSET])
    return centre, lid_centre


LID_OFFSET = 0.008  # lid sphere centre behind the eyeball centre
LID_RADIUS = EYEBALL_RADIUS + LID_OFFSET + 0.0012  # lid sphere encloses the eyeball, 1.2 mm in front
LID_OPEN_UP, LID_OPEN_DOWN = 0.31, 0.19  # lid rotation (rad) that opens the fissure at neutral
LID_REACH_UP, LID_REACH_DOWN = 0.016, 0.011  # how far (m, face coords) the lid motion reaches


def lid_motion_weights(skin_uv: np.ndarray, skin_side: np.ndarray, eye: str) -> tuple[np.ndarray, np.ndarray]:
    """Per skin vertex: how much of the upper-lid and of the lower-lid rotation it follows.

    Returns (upper, lower), each (V_skin,) in [0, 1]; 1 at the lid margin, falling to 0
    away from the fissure, zero beyond the eye corners (almond-shaped fissure).
    """
    sign = 1.0 if eye == "eye_left" else -1.0
    u = FACE_RADIUS * (skin_uv[:, 0] - sign * EYE_THETA)
    v = FACE_RADIUS * (skin_uv[:, 1] - EYE_PHI)
    half = FACE_RADIUS * EYE_HALF_WIDTH
    almond = np.clip(1.0 - (u / (1.05 * half)) ** 2, 0.0, 1.0)
    is_upper = (v > 1e-9) | ((np.abs(v) <= 1e-9) & (skin_side >= 0))
    upper = almond * np.clip(1.0 - v / LID_REACH_UP, 0.0, 1.0) ** 2 * is_upper
    lower = almond * np.clip(1.0 + v / LID_REACH_DOWN, 0.0, 1.0) ** 2 * ~is_upper
    return upper, lower


def neutral_vertices(topo: Topology, prm: dict) -> tuple[np.ndarray, dict]:
    """Neutral-pose vertices (V, 3) of one identity, plus the frames used to build them.

    Returns:
        vertices: (V, 3) float64.
        frames: dict with ``eye_left``/``eye_right`` → (eyeball centre, lid centre),
            ``mouth`` → the lip-line point at the centre of the mouth; used to place the
            pockets, teeth and eyeballs here and by the articulations.
    """
    V = np.zeros((topo.n_vertices, 3))
    ns = topo.n_skin
    th, ph = topo.skin_uv[:, 0], topo.skin_uv[:, 1]
    side = topo.skin_side
    skin = _skin_surface(th, ph, side, prm)
    u, v = FACE_RADIUS * th, FACE_RADIUS * ph

    frames = {}
    # eyes: lids hug a sphere around the eyeball, then the fissure opens by rotating the lids
    for eye, sign in (("eye_left", 1.0), ("eye_right", -1.0)):
        front = _skin_surface(np.array([sign * EYE_THETA]), np.array([EYE_PHI]), np.zeros(1), prm)[0]
        centre, lid_centre = eye_frame(front, prm)
        frames[eye] = (centre, lid_centre)
        du = (u - sign * FACE_RADIUS * EYE_THETA) / 0.0185
        dv = (v - FACE_RADIUS * EYE_PHI) / 0.0145
        blend = 1.0 - smoothstep(0.95, 1.75, np.hypot(du, dv))
        rho2 = (skin[:, 0] - lid_centre[0]) ** 2 + (skin[:, 1] - lid_centre[1]) ** 2
        z_lid = lid_centre[2] + np.sqrt(np.maximum(LID_RADIUS**2 - rho2, 0.25 * LID_RADIUS**2))
        skin[:, 2] = np.where(blend > 0, (1 - blend) * skin[:, 2] + blend * z_lid, skin[:, 2])
        # nowhere may the skin dip into the eyeball (plus 1 mm): lift it onto that sphere
        rho2_ball = (skin[:, 0] - centre[0]) ** 2 + (skin[:, 1] - centre[1]) ** 2
        clearance = EYEBALL_RADIUS + 0.001
        z_ball = centre[2] + np.sqrt(np.maximum(clearance**2 - rho2_ball, 0.0))
        covering = (rho2_ball < clearance**2) & (skin[:, 2] > centre[2] - EYEBALL_RADIUS)
        skin[:, 2] = np.where(covering, np.maximum(skin[:, 2], z_ball), skin[:, 2])
        up_w, low_w = lid_motion_weights(topo.skin_uv, side, eye)
        tilt = (
            prm["eye_tilt"]
            * np.clip((u - sign * FACE_RADIUS * EYE_THETA) / (FACE_RADIUS * EYE_HALF_WIDTH), -1, 1)
            * sign
        )
        angle = -prm["eye_opening"] * (LID_OPEN_UP * up_w - LID_OPEN_DOWN * low_w) - tilt * (up_w + low_w)
        moving = (up_w + low_w) > 0
        skin[moving] = rotate_about_x(skin[moving], lid_centre, angle[moving])
    V[:ns] = skin
    frames["mouth"] = skin[topo.grid[topo.slits["mouth"].row, int(np.argmin(np.abs(topo.theta)))]].copy()

    _place_pockets(topo, V, frames)
    _place_teeth(topo, V, frames, prm)
    _place_eyeballs(topo, V, frames)
    _place_ears(topo, V, skin, prm)
    return V, frames


# Mouth cavity rings: (depth behind the lip line (m), vertical half-opening (m), lateral scale)
CAVITY_PROFILE = (
    (0.0055, 0.0045, 0.97),
    (0.0090, 0.0150, 1.0),
    (0.030, 0.019, 1.05),
    (0.050, 0.015, 0.85),
    (0.064, 0.006, 0.45),
)
CAVITY_APEX_DEPTH = 0.074


def _place_pockets(topo: Topology, V: np.ndarray, frames: dict) -> None:
    """Mouth cavity rings behind the lips and conjunctival pockets behind the lids."""
    mouth = topo.slits["mouth"]
    loop = topo.pocket_rings["mouth"][0]
    sides = mouth.loop_sides()
    centre = frames["mouth"]
    lip = V[loop]
    half = np.max(np.abs(lip[:, 0] - centre[0]))
    lateral = (lip[:, 0] - centre[0]) / half  # -1 .. 1 corner to corner
    for k, (depth, opening, scale) in enumerate(CAVITY_PROFILE, start=1):
        ring = topo.pocket_rings["mouth"][k]
        lens = np.clip(1.0 - np.abs(lateral) ** 4, 0.0, 1.0) ** 0.25
        corner_gap = 0.35 * opening * (k >= 2)  # deeper rings open at the corners too
        P = np.empty((len(loop), 3))
        P[:, 0] = centre[0] + scale * (lip[:, 0] - centre[0])
        P[:, 1] = centre[1] + sides * (opening * lens + corner_gap * (1 - lens)) + (lip[:, 1] - centre[1]) * (k == 1)
        P[:, 2] = lip[:, 2] - depth - 0.004 * (k >= 2) * lateral**2
        V[ring] = P
    V[topo.pocket_apex["mouth"]] = centre - np.array([0.0, 0.0, CAVITY_APEX_DEPTH])
    for eye in ("eye_left", "eye_right"):
        eyeball_centre, _ = frames[eye]
        rim = V[topo.pocket_rings[eye][0]]
        for k, frac in enumerate((0.35, 0.75), start=1):
            V[topo.pocket_rings[eye][k]] = rim + frac * (eyeball_centre - rim)
        V[topo.pocket_apex[eye]] = eyeball_centre


def _place_teeth(topo: Topology, V: np.ndarray, frames: dict, prm: dict) -> None:
    """Upper and lower tooth rows: tubes along a parabolic dental arch behind the lips."""
    centre = frames["mouth"]
    s = np.linspace(-1.0, 1.0, TEETH_SEGMENTS + 1)
    around = -np.linspace(
        0, 2 * np.pi, TEETH_SECTION, endpoint=False
    )  # this direction makes the tube's normals point out
    for name, front_depth, half_width, top, bottom in (
        ("teeth_upper", 0.0095, 0.0235 * prm["jaw_width"], 0.0105, -0.0012),
        ("teeth_lower", 0.0118, 0.0220 * prm["jaw_width"], 0.0008, -0.0095),
    ):
        arch_depth = 0.030
        x = half_width * np.sin(s * 1.2) / np.sin(1.2)
        z = -front_depth - arch_depth * (1 - np.cos(s * 1.2)) / (1 - np.cos(1.2))
        tangent = np.stack([np.gradient(x), np.gradient(z)], -1)
        tangent /= np.linalg.norm(tangent, axis=-1, keepdims=True)
        normal = np.stack([tangent[:, 1], -tangent[:, 0]], -1)  # points out of the arch (toward the lips)
        thickness = 0.0035 + 0.0015 * np.abs(s)  # incisors thin, molars thick
        # biting edge scalloped per tooth (incisors ~8 mm wide)
        edge = 0.0006 * np.abs(np.sin(np.pi * (x / 0.0085)))
        part = topo.parts[name].index
        ring_pts = []
        for k in range(TEETH_SEGMENTS + 1):
            a = around
            # rounded-rectangle cross-section: (across the arch, vertical)
            across = thickness[k] * np.clip(1.25 * np.cos(a), -1, 1)
            vert_mid, vert_half = 0.5 * (top + bottom), 0.5 * (top - bottom)
            vertical = vert_mid + vert_half * np.clip(1.25 * np.sin(a), -1, 1)
            biting = (vertical < vert_mid) if name == "teeth_upper" else (vertical > vert_mid)
            vertical = vertical + np.where(biting, 1.0, 0.0) * edge[k] * (1 if name == "teeth_upper" else -1)
            px = centre[0] + x[k] + across * normal[k, 0]
            pz = centre[2] + z[k] + across * normal[k, 1]
            ring_pts.append(np.stack([px, np.full_like(px, centre[1]) + vertical, pz], -1))
        ring_pts = np.concatenate(ring_pts)
        n_ring = (TEETH_SEGMENTS + 1) * TEETH_SECTION
        V[part[:n_ring]] = ring_pts
        first = ring_pts[:TEETH_SECTION].mean(0)
        last = ring_pts[-TEETH_SECTION:].mean(0)
        V[part[n_ring]] = first
        V[part[n_ring + 1]] = last


def _sphere_points(n_lat: int, n_lon: int) -> np.ndarray:
    """Unit UV-sphere points in the order of :func:`build_topology`'s spheres: poles, then rings.

    The polar axis is +z (the poles look forward and backward), so the front pole of an
    eyeball is the pupil centre.
    """
    polar = np.linspace(0, np.pi, n_lat + 2)[1:-1]
    lon = np.linspace(0, 2 * np.pi, n_lon, endpoint=False)
    P, L = np.meshgrid(polar, lon, indexing="ij")
    rings = np.stack([np.sin(P) * np.cos(L), np.sin(P) * np.sin(L), np.cos(P)], -1).reshape(-1, 3)
    return np.concatenate([[[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]], rings])


def _place_eyeballs(topo: Topology, V: np.ndarray, frames: dict) -> None:
    unit = _sphere_points(*EYE_RINGS)
    for eye in ("eye_left", "eye_right"):
        centre, _ = frames[eye]
        V[topo.parts["eyeball_" + eye.split("_")[1]].index] = centre + EYEBALL_RADIUS * unit


def _place_ears(topo: Topology, V: np.ndarray, skin: np.ndarray, prm: dict) -> None:
    """Ears: flattened spheres with a hollow concha, standing off the side of the head."""
    unit = _sphere_points(*EAR_RINGS)  # polar axis = ear normal (thickness)
    size = prm["ear_size"]
    local = unit * np.array([0.0165 * size, 0.030 * size, 0.0045])
    # concha: the outer face is pushed in toward the middle
    outer = unit[:, 2] > 0
    bowl = bump(local[:, 0], local[:, 1], 0.002 * size, -0.004 * size, 0.009 * size, 0.014 * size)
    local[:, 2] -= outer * 0.0075 * bowl
    # helix rim: the outer edge curls outward
    rim = np.clip(np.hypot(unit[:, 0], unit[:, 1]), 0, 1) ** 6
    local[:, 2] += 0.003 * rim
    row = int(np.argmin(np.abs(topo.phi - EAR_PHI)))
    col = int(np.argmin(np.abs(topo.theta - EAR_THETA)))
    attach = skin[topo.grid[row, col]]
    flare = prm["ear_flare"]
    normal = np.array([np.cos(flare), 0.0, -np.sin(flare)])  # out of the left side, turned backward
    up = np.array([0.0, np.cos(0.25), -np.sin(0.25)])  # tilted back by ~14°
    up -= up.dot(normal) * normal
    up /= np.linalg.norm(up)
    backward = -np.cross(normal, up)
    centre = attach + normal * 0.004 + backward * 0.011 * size + np.array([0.0, 0.002, 0.0])
    left = centre + local[:, 0:1] * backward + local[:, 1:2] * up + local[:, 2:3] * normal
    V[topo.parts["ear_left"].index] = left
    V[topo.parts["ear_right"].index] = left * np.array([-1.0, 1.0, 1.0])  # mirror image (faces flipped in the topology)
