"""Generate the target-speaker videos of ``datasets_small/video/`` (the Gaussian renderer's data).

For each target speaker (:data:`TARGET_SPEAKERS`):

1. **Speech and motion.** Sentences are spoken with the speaker's espeak-ng voice and turned
   into ground-truth FLAME motion with the speaker's talking style
   (:func:`talkinghead_edu.data.speech.synthesize_utterance`), then joined into one track
   of at least ``min_seconds`` (:func:`~talkinghead_edu.data.speech.concatenate_utterances`).
2. **Identity and appearance.** Shape coefficients ``β ~ N(0, shape_std²)`` (seeded) give
   the face shape; :func:`talkinghead_edu.synth.textures.bake_textures` gives skin tone,
   lips, eyes, brows, hair/cap, teeth and the expression creases.
3. **Frames.** The head model (:func:`talkinghead_edu.flame.load_head_model`) poses the mesh
   with the *true* parameters; a static torso and a static background complete the frame;
   :mod:`talkinghead_edu.synth.mesh_render` draws it at 2× supersampling (box-filtered down)
   with a key and a fill light. The label map is rasterized at 1× (one label per pixel
   centre); the mask M of eq 19 is :func:`~talkinghead_edu.data.video_dataset.face_mask_from_labels`.
4. **Tracking.** What a face tracker would deliver: true parameters + i.i.d. frame jitter +
   a slow bias (:func:`simulate_tracking`). The true ones are stored separately,
   for evaluation only. The 68 landmarks are projected exactly from the true mesh.

Camera: fixed, OpenCV axes (x right, y down, z forward), looking at the face along −z.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import soundfile
import torch
from PIL import Image
from tqdm.auto import tqdm

from ..conventions import POSE_SLICES
from ..data.speech import (
    ARTICULATION_NAMES,
    HeadMotionMap,
    SpeakerStyle,
    VoiceSpec,
    concatenate_utterances,
    load_head_motion_map,
)
from ..data.video_dataset import face_mask_from_labels
from ..flame import load_head_model
from ..flame.params import FlameParams
from ..paths import ASSETS_DIR
from ..semantics import LABEL_IDS
from ..utils.io import atomic_save_npz, atomic_write_bytes, atomic_write_text
from .espeak import synthesize_isolated
from .mesh_render import face_values, project, rasterize, sample_texture, shade, vertex_normals, world_to_camera
from .speech_generate import DEFAULT_SEED
from .speech_motion import synthesize_utterance
from .textures import Appearance, apply_creases, bake_textures, crease_weights, fractal_noise

__all__ = [
    "TargetSpeakerSpec",
    "TARGET_SPEAKERS",
    "GENERATOR_VERSION",
    "look_at_front",
    "build_torso",
    "make_background",
    "simulate_tracking",
    "FrameRenderer",
    "encode_jpeg",
    "generate_speaker",
    "generate_video_part",
]

GENERATOR_VERSION = "1"
DEFAULT_HEAD_PATH = ASSETS_DIR / "procedural_head.npz"
JPEG_QUALITY = 95


@dataclass(frozen=True)
class TargetSpeakerSpec:
    """Everything that makes one target speaker different.

    Attributes:
        name: folder name under ``video/``.
        voice: espeak-ng voice (variant, pitch, range, rate) as ``VoiceSpec`` fields.
        style: talking style as ``SpeakerStyle`` fields.
        appearance: colours (:class:`~talkinghead_edu.synth.textures.Appearance`).
        shape_seed: seed of the identity coefficients.
        shape_scale: scale on ``shape_std`` (how far from the mean face).
        sentences: ``(language, text)`` pairs spoken in order (repeated until long enough).
    """

    name: str
    voice: dict
    style: dict
    appearance: Appearance
    shape_seed: int
    shape_scale: float
    sentences: tuple[tuple[str, str], ...]


_SHARED_SENTENCES = (
    ("en", "The quick brown fox jumps over the lazy dog."),
    ("en", "Please call Stella and ask her to bring these things with her from the store."),
    ("en", "We were away a year ago, but now we are back at home."),
    ("en", "My mother made a warm apple pie before the big party."),
)

TARGET_SPEAKERS: tuple[TargetSpeakerSpec, ...] = (
    TargetSpeakerSpec(
        name="speaker_a",
        voice={"variant": "m3", "pitch": 50, "pitch_range": 60, "rate": 160},
        style={
            "mouth_amplitude": 1.25,
            "lip_gain": 1.1,
            "articulation_speed": 1.1,
            "smile_bias": 0.35,
            "asymmetry": 0.1,
            "brow_expressivity": 0.8,
            "blink_rate_hz": 0.35,
            "head_motion_deg": 2.5,
        },
        appearance=Appearance(
            skin=(0.85, 0.64, 0.53),
            lips=(0.74, 0.38, 0.38),
            iris=(0.25, 0.40, 0.55),
            hair=(0.30, 0.18, 0.09),
            brows=(0.22, 0.14, 0.08),
            shirt=(0.18, 0.30, 0.55),
            wall=(0.62, 0.66, 0.70),
            cap=False,
            stubble=0.6,
        ),
        shape_seed=101,
        shape_scale=1.3,
        sentences=_SHARED_SENTENCES
        + (
            ("en", "Bob bought a bamboo boat, and Mia made maple bread."),
            ("en", "Open your mouth wide and say a long, calm ah."),
            ("en", "Every morning I walk to the park with my dog."),
            ("en", "Who would believe that a whale could sing so well?"),
            ("en", "Maybe the best map of the bay is in the museum."),
            ("en", "Think about what you would do with a thousand pounds."),
        ),
    ),
    TargetSpeakerSpec(
        name="speaker_b",
        voice={"variant": "f1", "pitch": 45, "pitch_range": 40, "rate": 175},
        style={
            "mouth_amplitude": 0.75,
            "lip_gain": 0.85,
            "articulation_speed": 0.85,
            "smile_bias": 0.05,
            "asymmetry": -0.15,
            "brow_expressivity": 0.35,
            "blink_rate_hz": 0.25,
            "head_motion_deg": 1.5,
        },
        appearance=Appearance(
            skin=(0.55, 0.37, 0.27),
            lips=(0.45, 0.24, 0.24),
            iris=(0.22, 0.14, 0.08),
            hair=(0.55, 0.12, 0.15),
            brows=(0.08, 0.06, 0.05),
            shirt=(0.75, 0.72, 0.62),
            wall=(0.70, 0.62, 0.52),
            cap=True,
            stubble=0.0,
        ),
        shape_seed=202,
        shape_scale=1.3,
        sentences=_SHARED_SENTENCES
        + (
            ("en", "She sells sea shells by the sea shore."),
            ("en", "Few people knew the answer to the final question."),
            ("en", "Put the blue box beside the window, please."),
            ("en", "Our garden is full of roses in the early summer."),
            ("en", "Many big ships were moored in the harbour at night."),
            ("en", "I would love a cup of hot chocolate right now."),
        ),
    ),
)


# --------------------------------------------------------------------------- scene pieces
def look_at_front(target: np.ndarray, distance: float) -> np.ndarray:
    """World-to-camera ``(4, 4)`` of a camera on the +z axis through ``target`` looking back along −z.

    OpenCV axes: camera x = world +x (the subject's left is image right), camera y = world
    −y (image down), camera z = world −z (forward, towards the face).
    """
    rotation = np.diag([1.0, -1.0, -1.0])
    eye = np.asarray(target, dtype=np.float64) + np.array([0.0, 0.0, distance])
    viewmat = np.eye(4)
    viewmat[:3, :3] = rotation
    viewmat[:3, 3] = -rotation @ eye
    return viewmat


def build_torso(
    neck_vertices: np.ndarray, shirt: tuple[float, float, float], seed: int = 0, rings: int = 24, segments: int = 64
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A static shoulders-and-chest surface under the head's neck.

    A tube whose horizontal cross-sections are superellipses, a collar just wider than the
    neck at the top, widening over the shoulders to about 0.2 m half-width.

    Args:
        neck_vertices: ``(M, 3)`` rest vertices of the neck (label ``neck_torso``).
        shirt: shirt colour.

    Returns:
        ``vertices (Vt, 3)``, ``faces (Ft, 3)`` (outward, counter-clockwise), ``colors (Vt, 3)``.
    """
    bottom = neck_vertices[:, 1].min()
    top_y = bottom + 0.012
    centre_x = float(np.median(neck_vertices[:, 0]))
    centre_z = float(np.median(neck_vertices[:, 2]))
    neck_radius_x = float(np.percentile(np.abs(neck_vertices[:, 0] - centre_x), 90))
    neck_radius_z = float(np.percentile(np.abs(neck_vertices[:, 2] - centre_z), 90))
    depth_down = np.linspace(0.0, 0.32, rings)  # metres below the collar
    shoulder = 1.0 - np.exp(-depth_down / 0.035)  # 0 at the collar, -> 1 on the chest
    half_width = neck_radius_x * 1.15 + (0.20 - neck_radius_x * 1.15) * shoulder
    half_depth = neck_radius_z * 1.15 + (0.11 - neck_radius_z * 1.15) * shoulder
    y = top_y - depth_down  # the shoulder slope comes from the widening
    angle = np.linspace(0.0, 2 * np.pi, segments, endpoint=False)
    c, s = np.cos(angle), np.sin(angle)
    exponent = 0.6  # superellipse: flatter front and back
    sx = np.sign(s) * np.abs(s) ** exponent
    cz = np.sign(c) * np.abs(c) ** exponent
    vertices = np.stack(
        [
            centre_x + half_width[:, None] * sx[None, :],
            np.repeat(y[:, None], segments, axis=1),
            centre_z + half_depth[:, None] * cz[None, :],
        ],
        axis=-1,
    ).reshape(-1, 3)
    faces = []
    for ring in range(rings - 1):
        for seg in range(segments):
            a = ring * segments + seg
            b = ring * segments + (seg + 1) % segments
            c0, d = a + segments, b + segments
            faces += [[a, b, c0], [b, d, c0]]
    faces = np.asarray(faces, dtype=np.int64)
    # orient outward: flip if the first face's normal points to the axis
    corners = vertices[faces[0]]
    normal = np.cross(corners[1] - corners[0], corners[2] - corners[0])
    if normal @ (corners.mean(0) - np.array([centre_x, corners[0, 1], centre_z])) < 0:
        faces = faces[:, ::-1].copy()
    fabric = fractal_noise(vertices, 40.0, 3, seed + 31)
    collar = np.exp(-depth_down / 0.012).repeat(segments)
    colors = np.asarray(shirt)[None, :] * (1.0 + 0.08 * fabric[:, None]) * (1.0 - 0.25 * collar[:, None])
    return vertices, faces, np.clip(colors, 0, 1).astype(np.float32)


def make_background(wall: tuple[float, float, float], height: int, width: int, seed: int = 0) -> np.ndarray:
    """A static wall: vertical light gradient, soft blotches, a vignette -> ``(H, W, 3)`` float32."""
    rows, cols = np.meshgrid((np.arange(height) + 0.5) / height, (np.arange(width) + 0.5) / width, indexing="ij")
    points = np.stack([cols.ravel(), rows.ravel(), np.zeros(rows.size)], axis=1)
    blotches = fractal_noise(points, 4.0, 4, seed + 41).reshape(height, width)
    gradient = 1.05 - 0.25 * rows
    vignette = 1.0 - 0.35 * ((rows - 0.45) ** 2 + (cols - 0.5) ** 2)
    image = np.asarray(wall)[None, None, :] * (gradient * vignette * (1.0 + 0.06 * blotches))[..., None]
    return np.clip(image, 0, 1).astype(np.float32)


def _slow_bias(rng: np.random.Generator, num_frames: int, dims: int, std: np.ndarray, fps: float = 25.0) -> np.ndarray:
    """A smooth random drift ``(T, D)``: a few sinusoids (0.03–0.3 Hz) with random phases, per-dim std ``std``."""
    t = np.arange(num_frames) / fps
    drift = np.zeros((num_frames, dims))
    for _ in range(4):
        frequency = rng.uniform(0.03, 0.3, size=dims)
        phase = rng.uniform(0, 2 * np.pi, size=dims)
        drift += rng.normal(size=dims) * np.sin(2 * np.pi * frequency * t[:, None] + phase)
    drift /= np.maximum(drift.std(axis=0), 1e-9)
    return drift * std


def simulate_tracking(true: FlameParams, shape_std: np.ndarray, rng: np.random.Generator) -> FlameParams:
    """What a monocular face tracker would report: true + frame jitter + slow bias.

    * shape: a constant error ``N(0, (0.1 shape_std)²)``;
    * expression: jitter std ``0.1 σ_k + 0.01`` and drift std ``0.15 σ_k + 0.01`` per component,
      with ``σ_k`` the component's std over the video (error grows with the motion);
    * neck: jitter 0.004 rad, drift 0.015 rad; jaw: jitter 0.008 rad, drift 0.01 rad;
      global rotation and eyes unchanged;
    * translation: jitter 0.4 mm, drift 1.5 mm.
    """
    T, E = true.expression.shape
    motion_std = true.expression.std(axis=0)
    expression = (
        true.expression
        + rng.normal(size=(T, E)) * (0.1 * motion_std + 0.01)
        + _slow_bias(rng, T, E, 0.15 * motion_std + 0.01)
    )
    pose = true.pose.copy()
    pose[:, POSE_SLICES["neck"]] += rng.normal(size=(T, 3)) * 0.004 + _slow_bias(rng, T, 3, np.full(3, 0.015))
    pose[:, POSE_SLICES["jaw"]] += rng.normal(size=(T, 3)) * 0.008 + _slow_bias(rng, T, 3, np.full(3, 0.01))
    translation = true.translation + rng.normal(size=(T, 3)) * 0.0004 + _slow_bias(rng, T, 3, np.full(3, 0.0015))
    shape = true.shape + rng.normal(size=true.shape.shape) * 0.1 * shape_std[: len(true.shape)]
    as32 = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731
    return FlameParams(shape=as32(shape), expression=as32(expression), pose=as32(pose), translation=as32(translation))


# --------------------------------------------------------------------------- frames
class FrameRenderer:
    """Draws one speaker's frames: textured head + torso + background, and the label map.

    Args:
        head_arrays: the arrays of ``procedural_head.npz``.
        appearance: the speaker's colours.
        rest_vertices: ``(V, 3)`` the speaker's neutral head (to place torso and camera).
        height, width: frame size.
        supersample: colour is rendered at ``supersample ×`` and box-filtered down.
        seed: noise seed.
    """

    #: Lights: direction towards the light (world) and colour. Key from the upper front-left
    #: of the camera, a cooler fill from the right, a weak rim from behind.
    LIGHT_DIRS = np.array([[-0.45, 0.55, 0.70], [0.70, 0.05, 0.70], [0.0, 0.6, -0.8]])
    LIGHT_COLORS = np.array([[0.78, 0.74, 0.68], [0.22, 0.24, 0.28], [0.15, 0.15, 0.15]])

    def __init__(
        self,
        head_arrays: dict,
        appearance: Appearance,
        rest_vertices: np.ndarray,
        height: int = 256,
        width: int = 256,
        supersample: int = 2,
        seed: int = 0,
    ):
        self.height, self.width, self.supersample = height, width, supersample
        self.head_faces = np.asarray(head_arrays["f"], dtype=np.int64)
        self.n_head_vertices = len(rest_vertices)
        self.textures = bake_textures(head_arrays, appearance, size=512, seed=seed)
        # one lookup gives albedo (3), specular (1) and the crease maps (C)
        self.texture_stack = np.concatenate(
            [self.textures.albedo, self.textures.specular[..., None], np.moveaxis(self.textures.creases, 0, -1)],
            axis=-1,
        )

        neck_label = LABEL_IDS["neck_torso"]
        face_labels = np.asarray(head_arrays["face_labels"]).astype(np.uint8)
        neck_ids = np.unique(self.head_faces[face_labels == neck_label])
        self.torso_vertices, torso_faces, torso_colors = build_torso(rest_vertices[neck_ids], appearance.shirt, seed)
        self.torso_normals = vertex_normals(self.torso_vertices, torso_faces)
        self.faces = np.concatenate([self.head_faces, torso_faces + self.n_head_vertices])
        self.labels = np.concatenate([face_labels, np.full(len(torso_faces), neck_label, np.uint8)])
        self.is_head_face = np.arange(len(self.faces)) < len(self.head_faces)
        F_head, F_torso = len(self.head_faces), len(torso_faces)
        uv = np.asarray(head_arrays["vt"], dtype=np.float32)[np.asarray(head_arrays["ft"], dtype=np.int64)]
        self.corner_uv = np.concatenate([uv, np.zeros((F_torso, 3, 2), np.float32)])
        self.corner_torso_color = np.concatenate([np.zeros((F_head, 3, 3), np.float32), torso_colors[torso_faces]])

        # camera 1 m in front of the face; the view spans 1.15 x (crown to neck bottom) vertically,
        # from just above the crown down to the top of the shoulders
        top, bottom = rest_vertices[:, 1].max(), rest_vertices[:, 1].min()
        head_height = top - bottom
        visible_height = 1.15 * head_height
        target = np.array([0.0, top + 0.06 * head_height - 0.5 * visible_height, float(np.median(rest_vertices[:, 2]))])
        distance = 1.0
        focal = height * distance / visible_height
        self.K = np.array([[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]])
        self.viewmat = look_at_front(target, distance)
        self.camera_centre = target + np.array([0.0, 0.0, distance])
        self.K_supersampled = self.K.copy()
        self.K_supersampled[:2] *= supersample
        self.background = make_background(appearance.wall, height * supersample, width * supersample, seed)
        self.light_dirs = self.LIGHT_DIRS / np.linalg.norm(self.LIGHT_DIRS, axis=1, keepdims=True)

    def render(self, head_vertices: np.ndarray, creases: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One frame.

        Args:
            head_vertices: ``(V, 3)`` posed head (world, metres).
            creases: ``(C,)`` crease weights of the frame.

        Returns:
            ``image (H, W, 3)`` float32 in ``[0, 1]`` and ``labels (H, W)`` uint8.
        """
        vertices = np.concatenate([head_vertices, self.torso_vertices])
        camera_vertices = world_to_camera(vertices, self.viewmat)
        ss = self.supersample
        fragments = rasterize(camera_vertices, self.faces, self.K_supersampled, self.height * ss, self.width * ss)
        covered = fragments.covered
        # work on the P covered pixels only: p-th pixel lies in triangle face[p] with barycentrics bary[p]
        face = fragments.face_index[covered]
        bary = fragments.bary[covered]

        def at_pixels(
            corner_values: np.ndarray,
        ) -> np.ndarray:  # (F, 3, C) -> (P, C): sum_k bary[p, k] corner[face[p], k]
            corners = corner_values[face].astype(np.float32, copy=False)
            return corners[:, 0] * bary[:, 0:1] + corners[:, 1] * bary[:, 1:2] + corners[:, 2] * bary[:, 2:3]

        on_head = self.is_head_face[face]
        texels = sample_texture(self.texture_stack, at_pixels(self.corner_uv)[on_head])  # (P_head, 3 + 1 + C)
        albedo = at_pixels(self.corner_torso_color)
        albedo[on_head] = apply_creases(texels[:, :3], texels[:, 4:], creases, self.textures.crease_depth)
        specular = np.full(len(face), 0.02, np.float32)
        specular[on_head] = texels[:, 3]
        shininess = np.where(self.labels[face] == LABEL_IDS["eyes"], 120.0, 24.0)
        normals = np.concatenate([vertex_normals(head_vertices, self.head_faces), self.torso_normals])
        view_dirs = self.camera_centre - at_pixels(vertices[self.faces])
        view_dirs /= np.maximum(np.linalg.norm(view_dirs, axis=-1, keepdims=True), 1e-9)
        color = self.background.copy()
        color[covered] = shade(
            albedo,
            at_pixels(normals[self.faces]),
            view_dirs,
            self.light_dirs,
            self.LIGHT_COLORS,
            ambient=0.32,
            specular=specular,
            shininess=shininess,
        )
        image = color.reshape(self.height, ss, self.width, ss, 3).mean(axis=(1, 3))
        label_fragments = rasterize(camera_vertices, self.faces, self.K, self.height, self.width)
        labels = face_values(self.labels, label_fragments).astype(np.uint8)
        return image.astype(np.float32), labels

    def project_landmarks(self, landmarks: np.ndarray) -> np.ndarray:
        """``(..., 68, 3)`` world landmarks -> ``(..., 68, 2)`` pixels."""
        return project(world_to_camera(landmarks, self.viewmat), self.K).astype(np.float32)


def encode_jpeg(image: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """``(H, W, 3)`` uint8 -> JPEG bytes, 4:4:4 chroma (no subsampling)."""

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality, subsampling=0, optimize=True)
    return buffer.getvalue()


def _decode_jpeg(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


# --------------------------------------------------------------------------- one speaker
def _speaker_track(spec: TargetSpeakerSpec, min_seconds: float, seed: int, head_map: HeadMotionMap):
    """The speaker's concatenated utterances (audio + true motion), at least ``min_seconds`` long."""
    voice, style = VoiceSpec(**spec.voice), SpeakerStyle.from_dict(spec.style)
    sentences = list(spec.sentences)
    results = synthesize_isolated([(text, language, voice) for language, text in sentences])
    utterances, total = [], 0.0
    index = 0
    while total < min_seconds:
        k = index % len(sentences)
        language, text = sentences[k]
        u = synthesize_utterance(
            text,
            language,
            voice,
            style,
            seed + 1000 * index,
            head=head_map,
            speaker=spec.name,
            utterance_id=f"{spec.name}_{index:02d}",
            sentence_id=f"video_{k:02d}",
            espeak_result=results[k],
        )
        utterances.append(u)
        total += u.duration_s
        index += 1
    return concatenate_utterances(utterances), utterances


def generate_speaker(
    spec: TargetSpeakerSpec,
    out_dir: Path,
    seed: int = DEFAULT_SEED,
    min_seconds: float = 20.0,
    resolution: int = 256,
    progress: bool = True,
    head_path: Path = DEFAULT_HEAD_PATH,
) -> dict:
    """Render one target speaker into ``out_dir`` (format: :mod:`talkinghead_edu.data.video_dataset`).

    ``head_path`` is the head asset (C1 layout) that poses, skins and textures the speaker.

    Returns:
        The speaker's ``meta.json`` content.
    """

    out_dir = Path(out_dir)
    with np.load(head_path, allow_pickle=False) as asset:
        head_arrays = {k: asset[k] for k in asset.files}
    head = load_head_model(head_path, device="cpu", dtype=torch.float32)
    rng = np.random.default_rng([seed, spec.shape_seed])

    track, utterances = _speaker_track(spec, min_seconds, seed + spec.shape_seed, load_head_motion_map(head_path))
    T = track.num_frames
    shape_std = np.asarray(head_arrays["shape_std"], dtype=np.float64)
    shape = (rng.normal(size=head.n_shape) * spec.shape_scale * shape_std).astype(np.float32)
    true = replace(track.flame, shape=shape)
    tracked = simulate_tracking(true, shape_std, rng)

    with torch.no_grad():
        rest = head(shape=torch.from_numpy(shape)[None]).vertices[0].numpy()
        outputs = [head(**true.tensors(slice(start, start + 64))) for start in range(0, T, 64)]
    vertices = np.concatenate([o.vertices.numpy() for o in outputs])
    landmarks3d = np.concatenate([o.landmarks.numpy() for o in outputs])

    renderer = FrameRenderer(
        head_arrays, spec.appearance, rest, resolution, resolution, supersample=2, seed=seed + spec.shape_seed
    )
    creases = crease_weights(track.articulation, ARTICULATION_NAMES)
    frames_dir = out_dir / "frames"
    frames_dir.mkdir(parents=True, exist_ok=True)
    for stale in frames_dir.glob("*.jpg"):  # frames of an earlier, possibly longer, run
        stale.unlink()
    labels = np.zeros((T, resolution, resolution), np.uint8)
    codec_psnr = []
    for t in tqdm(range(T), desc=f"rendering {spec.name}", disable=not progress):
        image, labels[t] = renderer.render(vertices[t], creases[t])
        pixels = np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)
        data = encode_jpeg(pixels)
        atomic_write_bytes(frames_dir / f"{t:05d}.jpg", data)
        error = (_decode_jpeg(data).astype(np.float64) - pixels) / 255.0
        codec_psnr.append(10 * np.log10(1.0 / max(np.mean(error**2), 1e-12)))
    face_mask = face_mask_from_labels(labels)
    landmarks2d = renderer.project_landmarks(landmarks3d)

    atomic_save_npz(out_dir / "masks.npz", labels=labels, face_mask=face_mask)
    camera = {
        "K": renderer.K.astype(np.float32),
        "viewmats": np.repeat(renderer.viewmat[None].astype(np.float32), T, axis=0),
    }
    atomic_save_npz(out_dir / "tracking.npz", **camera, landmarks2d=landmarks2d, **asdict(tracked))
    atomic_save_npz(
        out_dir / "ground_truth_eval_only.npz",
        **asdict(true),
        articulation=track.articulation.astype(np.float32),
        articulation_names=np.array(ARTICULATION_NAMES),
    )
    buffer = io.BytesIO()
    soundfile.write(buffer, track.audio, 16000, format="FLAC", subtype="PCM_16")
    atomic_write_bytes(out_dir / "audio.flac", buffer.getvalue())

    train_end, val_end = int(round(0.8 * T)), int(round(0.9 * T))
    meta = {
        "speaker": spec.name,
        "fps": 25,
        "height": resolution,
        "width": resolution,
        "num_frames": T,
        "duration_s": T / 25.0,
        "splits": {"train": [0, train_end], "val": [train_end, val_end], "test": [val_end, T]},
        "codec": {
            "format": "JPEG",
            "quality": JPEG_QUALITY,
            "chroma": "4:4:4",
            "psnr_db_vs_uncompressed": {"mean": float(np.mean(codec_psnr)), "min": float(np.min(codec_psnr))},
        },
        "voice": spec.voice,
        "style": spec.style,
        "appearance": asdict(spec.appearance),
        "shape_scale": spec.shape_scale,
        "camera": "fixed; K and world-to-camera viewmats in tracking.npz, OpenCV axes",
        "face_mask_labels": "skin, lips, teeth, mouth_interior, eyes, eyebrows, hair (eq 19 mask M)",
        "tracking_noise": "tracked = true + frame jitter + slow drift (see video_generate.simulate_tracking)",
        "utterances": [
            {
                "id": u.id,
                "sentence_id": u.sentence_id,
                "language": u.language,
                "text": u.text,
                "start_frame": int(sum(v.num_frames for v in utterances[:i])),
                "num_frames": u.num_frames,
            }
            for i, u in enumerate(utterances)
        ],
        "phonemes": [[p.symbol, p.viseme, round(p.start_s, 6), round(p.end_s, 6)] for p in track.phonemes],
    }
    atomic_write_text(out_dir / "meta.json", json.dumps(meta, indent=1, ensure_ascii=False))
    return meta


def generate_video_part(
    root: str | Path,
    seed: int = DEFAULT_SEED,
    speakers: tuple[TargetSpeakerSpec, ...] = TARGET_SPEAKERS,
    min_seconds: float = 20.0,
    resolution: int = 256,
    progress: bool = True,
    head_path: str | Path = DEFAULT_HEAD_PATH,
) -> Path:
    """Regenerate ``<root>/video/`` deterministically from ``seed``.

    Args:
        root: the ``datasets_small`` folder.
        seed: master seed (identity, tracking noise, textures, non-speech motion).
        speakers: which target speakers.
        min_seconds: minimum video length per speaker.
        resolution: frame side in pixels.
        head_path: the head asset (default: the bundled procedural head).

    Returns:
        The ``video/`` folder. ``video/metadata.json`` lists the speakers and the sha256 of every file.
    """
    video_root = Path(root) / "video"
    head_sha256 = hashlib.sha256(Path(head_path).read_bytes()).hexdigest()
    started = time.time()
    for spec in speakers:
        generate_speaker(
            spec,
            video_root / spec.name,
            seed=seed,
            min_seconds=min_seconds,
            resolution=resolution,
            progress=progress,
            head_path=Path(head_path),
        )
    checksums = {}
    for spec in speakers:
        for path in sorted((video_root / spec.name).rglob("*")):
            if path.is_file():
                checksums[str(path.relative_to(video_root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    metadata = {
        "speakers": [spec.name for spec in speakers],
        "seed": seed,
        "generator_version": GENERATOR_VERSION,
        "generation_seconds": round(time.time() - started, 1),
        "head_asset_sha256": head_sha256,
        "licence": "CC0-1.0 (synthetic; espeak-ng voices, procedural head)",
        "sha256": checksums,
    }
    atomic_write_text(video_root / "metadata.json", json.dumps(metadata, indent=1))
    return video_root
