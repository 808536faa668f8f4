"""The evaluation world: heads to render on, fixed crop boxes, and the clip cache the sync
expert and the landmark detector train on.

Everything is evaluated at :data:`EVAL_RESOLUTION` (128 px): ground-truth frames are loaded
box-filtered to 128, 256-pixel outputs are box-filtered by 2, mesh renders are drawn at 128.

Clips (``build_clip_cache``):

* ``render/<split>/<utterance>`` — the speech set's ground-truth motion (all 8 voices) drawn by
  the textured mesh renderer (:mod:`talkinghead_edu.synth.mesh_render` via ``FrameRenderer``) on
  the head of ``speaker_a`` (even utterance index) or ``speaker_b`` (odd), with its own audio;
* ``video/<speaker>/<utterance>`` — the bundled ground-truth video, one clip per utterance that
  lies inside the train block, and the whole test block as one held-out clip.

Per clip the cache keeps the lower-face region (uint8, fixed per head, covering both crop
boxes), the 68 landmarks in frame pixels, and the 40-band log-mel of the audio.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..audio.features import log_mel
from ..data import load_head_motion_map, load_speech_dataset, load_video_dataset
from ..eval.crops import crop_square, square_box
from ..eval.landmarks import lower_face_box
from ..eval.sync import mouth_box
from ..flame import load_head_model
from ..paths import cache_dir, dataset_root
from ..synth.textures import crease_weights
from ..synth.video_generate import DEFAULT_HEAD_PATH, TARGET_SPEAKERS, FrameRenderer
from ..utils.io import atomic_save_npz

__all__ = [
    "EVAL_RESOLUTION",
    "N_MELS",
    "EvalHead",
    "eval_head",
    "Clip",
    "build_clip_cache",
    "load_clip_cache",
    "held_out_clips",
    "clip_log_mel",
]

EVAL_RESOLUTION = 128
N_MELS = 40
VIDEO_SEED = 2024  # video/metadata.json "seed": the renderer's noise seed is seed + shape_seed
CACHE_VERSION = "1"


def clip_log_mel(audio: np.ndarray) -> torch.Tensor:
    """``(640 T,)`` 16 kHz audio -> ``(4 T + 1, 40)`` log-mel, the sync expert's input."""
    return log_mel(torch.as_tensor(np.asarray(audio, dtype=np.float32)), n_mels=N_MELS, n_fft=400, hop_length=160)


@dataclass
class EvalHead:
    """One video speaker's head for evaluation: renderer, camera and fixed crop boxes (128 px)."""

    speaker: str
    shape: np.ndarray
    renderer: FrameRenderer
    neutral_landmarks: np.ndarray  # (68, 2) pixels at EVAL_RESOLUTION
    mouth_box: torch.Tensor  # (3,) cx, cy, side
    face_box: torch.Tensor  # (3,) the landmark detector's lower-face box
    region: torch.Tensor  # (3,) the cached region, covering both boxes with a margin

    def render(
        self, expression: np.ndarray, pose: np.ndarray, articulation: np.ndarray | None = None, progress: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Textured mesh frames of this head for FLAME motion.

        Args:
            expression: ``(T, E)``; pose: ``(T, 15)`` (global, neck, jaw, eyes).
            articulation: ``(T, A)`` crease weights' source; ``None`` recovers it from the
                expression by least squares on the head's articulation basis (clipped at 0).

        Returns:
            ``frames (T, 128, 128, 3)`` float32 in [0, 1] and ``landmarks (T, 68, 2)`` pixels.
        """
        head, motion_map = _head_model(), load_head_motion_map()
        expression = np.asarray(expression, np.float32)
        if articulation is None:
            E = motion_map.articulation_expr.shape[1]
            articulation = np.clip(expression[:, :E] @ np.linalg.pinv(motion_map.articulation_expr), 0.0, None)
        creases = crease_weights(articulation, motion_map.articulation_names)
        T = len(expression)
        frames = np.zeros((T, EVAL_RESOLUTION, EVAL_RESOLUTION, 3), np.float32)
        landmarks = np.zeros((T, 68, 2), np.float32)
        for start in tqdm(range(0, T, 32), desc=f"mesh render {self.speaker}", disable=not progress, leave=False):
            stop = min(T, start + 32)
            with torch.no_grad():
                out = head(
                    shape=torch.from_numpy(self.shape)[None].expand(stop - start, -1),
                    expression=torch.from_numpy(expression[start:stop, : head.n_expr]),
                    pose=torch.as_tensor(np.asarray(pose[start:stop], np.float32)),
                )
            landmarks[start:stop] = self.renderer.project_landmarks(out.landmarks.numpy())
            for t in range(start, stop):
                frames[t] = self.renderer.render(out.vertices[t - start].numpy(), creases[t])[0]
        return frames, landmarks


@lru_cache(maxsize=1)
def _head_model():
    return load_head_model(DEFAULT_HEAD_PATH, device="cpu", dtype=torch.float32)


@lru_cache(maxsize=4)
def eval_head(speaker: str) -> EvalHead:
    """The :class:`EvalHead` of a bundled video speaker (``speaker_a`` / ``speaker_b``)."""
    specs = {spec.name: spec for spec in TARGET_SPEAKERS}
    if speaker not in specs:
        raise ValueError(f"eval_head: unknown video speaker {speaker!r}; expected one of {sorted(specs)}")
    spec = specs[speaker]
    video = load_video_dataset(speaker, resolution=EVAL_RESOLUTION)
    shape = video.flame_true.shape
    head = _head_model()
    with np.load(DEFAULT_HEAD_PATH, allow_pickle=False) as asset:
        arrays = {k: asset[k] for k in asset.files}
    with torch.no_grad():
        neutral = head(shape=torch.from_numpy(shape)[None])
    renderer = FrameRenderer(
        arrays,
        spec.appearance,
        neutral.vertices[0].numpy(),
        EVAL_RESOLUTION,
        EVAL_RESOLUTION,
        supersample=1,
        seed=VIDEO_SEED + spec.shape_seed,
    )
    landmarks = renderer.project_landmarks(neutral.landmarks[0].numpy())
    m_box, f_box = mouth_box(landmarks), lower_face_box(landmarks)
    corners = torch.stack(
        [m_box[:2] - m_box[2] / 2, m_box[:2] + m_box[2] / 2, f_box[:2] - f_box[2] / 2, f_box[:2] + f_box[2] / 2]
    )
    region = square_box(corners, 1.25)
    return EvalHead(speaker, shape, renderer, landmarks, m_box, f_box, region)


@dataclass
class Clip:
    """One cached clip (see the module docstring)."""

    name: str
    head: str
    voice: str
    split: str  # "train" or "test"
    patches: np.ndarray  # (T, P, P, 3) uint8, the head's region
    landmarks: np.ndarray  # (T, 68, 2) pixels at EVAL_RESOLUTION
    log_mel: np.ndarray  # (4T+1, 40)

    @property
    def num_frames(self) -> int:
        return len(self.patches)


def _region_patches(frames: np.ndarray, region: torch.Tensor) -> np.ndarray:
    patches = crop_square(torch.as_tensor(frames), region)  # (T, 3, P, P)
    return (patches.permute(0, 2, 3, 1).clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()


def _speech_clips(splits: tuple[str, ...], progress: bool, limit: int | None = None) -> list[Clip]:
    """Mesh renders of the speech set; ``limit`` keeps that many evenly spaced utterances per split
    (each keeps the head it has in the full cache)."""
    dataset = load_speech_dataset()
    heads = [eval_head(name) for name in ("speaker_a", "speaker_b")]
    clips = []
    for split in splits:
        utterances = list(enumerate(dataset.split(split)))
        if limit is not None:
            utterances = (
                [utterances[i] for i in np.unique(np.linspace(0, len(utterances) - 1, limit).round().astype(int))]
                if limit
                else []
            )
        for index, u in tqdm(utterances, desc=f"rendering speech {split}", disable=not progress):
            head = heads[index % 2]
            frames, landmarks = head.render(u.expression, u.flame.pose, u.articulation)
            clips.append(
                Clip(
                    f"render/{split}/{u.id}",
                    head.speaker,
                    u.speaker,
                    "train" if split == "train" else "test",
                    _region_patches(frames, head.region),
                    landmarks,
                    clip_log_mel(u.audio).numpy(),
                )
            )
    return clips


def _video_clips(only_test: bool = False) -> list[Clip]:
    clips = []
    for speaker in ("speaker_a", "speaker_b"):
        head, video = eval_head(speaker), load_video_dataset(speaker, resolution=EVAL_RESOLUTION)
        train_end = int(video.splits["train"][-1]) + 1
        blocks = [
            (f"video/{speaker}/{u['id']}", u["start_frame"], u["start_frame"] + u["num_frames"], "train")
            for u in video.meta["utterances"]
            if u["start_frame"] + u["num_frames"] <= train_end and not only_test
        ]
        test = video.splits["test"]
        blocks.append((f"video/{speaker}/test", int(test[0]), int(test[-1]) + 1, "test"))
        for name, start, stop, split in blocks:
            frames = video.frames[start:stop].astype(np.float32) / 255.0
            clips.append(
                Clip(
                    name,
                    speaker,
                    speaker,
                    split,
                    _region_patches(frames, head.region),
                    video.landmarks2d[start:stop],
                    clip_log_mel(video.audio_for_frames(slice(start, stop))).numpy(),
                )
            )
    return clips


def held_out_clips(n_rendered: int = 40, progress: bool = True) -> list[Clip]:
    """The expert's validation clips without the full cache: both video test blocks and
    ``n_rendered`` evenly spaced speech test-split renders (all 40 = the cache's held-out set)."""
    return _video_clips(only_test=True) + _speech_clips(("test",), progress, limit=n_rendered)


def _cache_path(speech_splits: tuple[str, ...]) -> Path:
    # the two datasets' metadata list every file's sha256: regenerated data means a new cache
    metadata = [dataset_root() / part / "metadata.json" for part in ("speech", "video")]
    key = hashlib.sha256(
        f"{CACHE_VERSION}|{speech_splits}|{DEFAULT_HEAD_PATH.read_bytes()[:4096].hex()}".encode()
        + b"".join(path.read_bytes() for path in metadata if path.is_file())
    ).hexdigest()[:12]
    return cache_dir() / f"eval_clips_{key}.npz"


def build_clip_cache(
    speech_splits: tuple[str, ...] = ("train", "test"), progress: bool = True, path: Path | None = None
) -> Path:
    """Render and crop every clip once; returns the cache file (reused when it exists)."""
    path = Path(path) if path is not None else _cache_path(speech_splits)
    if path.is_file():
        return path
    clips = _video_clips() + _speech_clips(speech_splits, progress)
    lengths = np.array([c.num_frames for c in clips])
    mel_lengths = np.array([len(c.log_mel) for c in clips])
    arrays = dict(
        names=np.array([c.name for c in clips]),
        heads=np.array([c.head for c in clips]),
        voices=np.array([c.voice for c in clips]),
        splits=np.array([c.split for c in clips]),
        lengths=lengths,
        mel_lengths=mel_lengths,
        patches_a=np.concatenate([c.patches for c in clips if c.head == "speaker_a"]),
        patches_b=np.concatenate([c.patches for c in clips if c.head == "speaker_b"]),
        landmarks=np.concatenate([c.landmarks for c in clips]),
        log_mel=np.concatenate([c.log_mel for c in clips]),
    )
    atomic_save_npz(path, compressed=False, **arrays)
    return path


def load_clip_cache(path: Path | None = None, speech_splits: tuple[str, ...] = ("train", "test")) -> list[Clip]:
    """The clips written by :func:`build_clip_cache` (building them first if needed)."""
    path = build_clip_cache(speech_splits) if path is None else Path(path)
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    clips, offsets = [], {"speaker_a": 0, "speaker_b": 0}
    frame_start = mel_start = 0
    for i, name in enumerate(arrays["names"]):
        head, T, Fm = str(arrays["heads"][i]), int(arrays["lengths"][i]), int(arrays["mel_lengths"][i])
        patches = arrays["patches_a" if head == "speaker_a" else "patches_b"]
        clips.append(
            Clip(
                str(name),
                head,
                str(arrays["voices"][i]),
                str(arrays["splits"][i]),
                patches[offsets[head] : offsets[head] + T],
                arrays["landmarks"][frame_start : frame_start + T],
                arrays["log_mel"][mel_start : mel_start + Fm],
            )
        )
        offsets[head] += T
        frame_start += T
        mel_start += Fm
    return clips
