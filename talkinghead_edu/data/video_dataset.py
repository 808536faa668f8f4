"""Loader for the bundled target-speaker videos (``datasets_small/video/<speaker>/``).

On-disk format of one speaker (written by :mod:`talkinghead_edu.synth.video_generate`)::

    video/metadata.json            speakers, seed, generator version, sha256 of every file
    video/<speaker>/meta.json      fps, size, number of frames, splits, codec and its PSNR,
                                   the speaker's appearance/voice/style, the utterances
    video/<speaker>/frames/00000.jpg ...   RGB frames, JPEG quality 95, 4:4:4 chroma
    video/<speaker>/masks.npz      labels (T, H, W) uint8 ids of semantics.LABEL_NAMES,
                                   face_mask (T, H, W) bool = the mask M of eq 19
    video/<speaker>/tracking.npz   what a face tracker delivers: K (3, 3), viewmats (T, 4, 4)
                                   world->camera (OpenCV axes), shape (S,), expression (T, E),
                                   pose (T, 15), translation (T, 3), landmarks2d (T, 68, 2)
    video/<speaker>/ground_truth_eval_only.npz   the true FLAME parameters (same keys) and
                                   the true articulation weights (T, A) — for evaluation only
    video/<speaker>/audio.flac     16 kHz mono, exactly 640 samples per frame

Load with ``np.load(path, allow_pickle=False)``; :func:`load_video_dataset` does all of it,
and refuses a damaged folder (malformed ``meta.json``, a missing key, a truncated npz, NaN in
the tracking, a non-positive focal length, a frame that does not decode) with a
:class:`~talkinghead_edu.errors.DatasetError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..conventions import SAMPLES_PER_FRAME
from ..errors import DatasetError, InputError, MissingFileError
from ..flame.params import FlameParams
from ..paths import dataset_root
from ..semantics import LABEL_IDS

__all__ = [
    "FlameParams",
    "VideoDataset",
    "load_video_dataset",
    "list_video_speakers",
    "verify_video_checksums",
    "FACE_MASK_LABELS",
    "face_mask_from_labels",
    "SAMPLES_PER_FRAME",
]


#: Labels inside the facial mask M of eq 19: the head the Gaussians re-render (face,
#: lips, teeth, mouth interior, eyes, brows, hair) — not the neck/torso, not the background.
FACE_MASK_LABELS: tuple[str, ...] = ("skin", "lips", "teeth", "mouth_interior", "eyes", "eyebrows", "hair")


def face_mask_from_labels(labels: np.ndarray) -> np.ndarray:
    """The mask M of eq 19 from a label map: ``(..., H, W)`` uint8 -> bool, True on :data:`FACE_MASK_LABELS`."""
    return np.isin(labels, [LABEL_IDS[name] for name in FACE_MASK_LABELS])


@dataclass
class VideoDataset:
    """One target speaker's video with everything a face tracker and a face parser deliver.

    Attributes:
        speaker: speaker name.
        fps: 25.
        height, width: ``H, W`` of the frames (after resizing to the requested resolution).
        labels: ``(T, H, W)`` uint8 semantic label ids (``semantics.LABEL_NAMES``, 0 background).
        face_mask: ``(T, H, W)`` bool, the facial mask M of eq 19 (:data:`FACE_MASK_LABELS`).
        K: ``(3, 3)`` float32 intrinsics (pixel centres at +0.5, see ``render``).
        viewmats: ``(T, 4, 4)`` float32 world->camera, OpenCV axes.
        flame_tracked: the tracker's FLAME parameters (true + jitter + slow bias) — train on these.
        flame_true: the true FLAME parameters — **evaluation only**.
        landmarks2d: ``(T, 68, 2)`` float32 pixel positions of the 68 landmarks (exact).
        audio: ``(L,)`` float32 16 kHz, ``L = 640 T``.
        splits: ``{"train", "val", "test"}`` -> frame indices (contiguous blocks).
        meta: the speaker's ``meta.json``.

    A video loaded with :func:`talkinghead_edu.data.byo.load_byo_video` may lack the
    fields a real tracker does not deliver: ``labels``/``face_mask`` (no parsing maps),
    ``flame_true`` (always None for real data), ``landmarks2d``, ``audio`` are then ``None``.

    Frames are loaded lazily: :attr:`frames` decodes every JPEG on first access and keeps
    the ``(T, H, W, 3)`` uint8 array; :meth:`frame` decodes (or reuses) a single frame.
    """

    speaker: str
    fps: int
    height: int
    width: int
    labels: np.ndarray | None
    face_mask: np.ndarray | None
    K: np.ndarray
    viewmats: np.ndarray
    flame_tracked: FlameParams
    flame_true: FlameParams | None
    landmarks2d: np.ndarray | None
    audio: np.ndarray | None
    splits: dict[str, np.ndarray]
    meta: dict
    frame_paths: list[Path] = field(repr=False, default_factory=list)
    sample_rate: int = 16000
    _frames: np.ndarray | None = field(default=None, repr=False)

    @property
    def num_frames(self) -> int:
        return len(self.frame_paths)

    def _decode(self, index: int) -> np.ndarray:
        from PIL import Image

        path = self.frame_paths[index]
        try:
            with Image.open(path) as image:
                image = image.convert("RGB")
                if image.size != (self.width, self.height):
                    image = image.resize((self.width, self.height), Image.Resampling.BOX)
                return np.asarray(image, dtype=np.uint8)
        except FileNotFoundError:
            raise MissingFileError(f"frame {index} of {self.speaker}: {path} does not exist") from None
        except Exception as exc:  # PIL: OSError "image file is truncated", UnidentifiedImageError, SyntaxError...
            raise DatasetError(
                f"frame {index} of {self.speaker}: {path} cannot be decoded ({type(exc).__name__}: {exc}); "
                "expected a complete JPEG/PNG image"
            ) from None

    @property
    def frames(self) -> np.ndarray:
        """``(T, H, W, 3)`` uint8, decoded on first access."""
        if self._frames is None:
            self._frames = np.stack([self._decode(i) for i in range(self.num_frames)])
        return self._frames

    def frame(self, index: int, device: str | torch.device = "cpu") -> torch.Tensor:
        """Frame ``index`` as a float tensor ``(H, W, 3)`` in ``[0, 1]``."""
        if not -self.num_frames <= index < self.num_frames:
            raise IndexError(f"frame index {index} out of range for {self.num_frames} frames of {self.speaker}")
        pixels = self._frames[index] if self._frames is not None else self._decode(index % self.num_frames)
        return torch.from_numpy(pixels.astype(np.float32) / 255.0).to(device)

    def audio_for_frames(self, frames: np.ndarray | slice) -> np.ndarray:
        """The audio samples ``(640 k,)`` under a contiguous block of frames."""
        if self.audio is None:
            raise InputError(f"video {self.speaker!r} has no audio track")
        index = np.arange(self.num_frames)[frames]
        if len(index) and not np.all(np.diff(index) == 1):
            raise InputError("audio_for_frames needs a contiguous block of frames")
        start = int(index[0]) * SAMPLES_PER_FRAME if len(index) else 0
        return self.audio[start : start + len(index) * SAMPLES_PER_FRAME]


def _video_root(root: str | Path | None) -> Path:
    return Path(root) if root is not None else dataset_root() / "video"


def list_video_speakers(root: str | Path | None = None) -> list[str]:
    """Names of the bundled target speakers (from ``video/metadata.json``)."""
    metadata_path = _video_root(root) / "metadata.json"
    if not metadata_path.is_file():
        raise MissingFileError(f"{metadata_path} not found; regenerate the data with `talkinghead-edu make-dataset`")
    speakers = _read_meta(metadata_path, ("speakers",))["speakers"]
    if not isinstance(speakers, list) or not all(isinstance(name, str) for name in speakers):
        raise DatasetError(f"{metadata_path}: 'speakers' must be a list of names, got {speakers!r}")
    return speakers


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verify_video_checksums(root: str | Path | None = None) -> list[str]:
    """Paths (relative to ``video/``) whose sha256 differs from ``metadata.json``; empty when all match."""
    video_root = _video_root(root)
    expected = json.loads((video_root / "metadata.json").read_text())["sha256"]
    return [
        rel
        for rel, digest in sorted(expected.items())
        if not (video_root / rel).is_file() or _sha256(video_root / rel) != digest
    ]


def _read_meta(path: Path, keys: tuple[str, ...]) -> dict:
    """A speaker's ``meta.json`` as a dict holding ``keys``; anything else is a :class:`DatasetError`."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(
            f"{path} is not valid JSON ({exc}); regenerate the data with `talkinghead-edu make-dataset`"
        ) from None
    missing = [key for key in keys if key not in meta] if isinstance(meta, dict) else list(keys)
    if missing:
        raise DatasetError(f"{path} lacks {', '.join(missing)}; expected a JSON object with {', '.join(keys)}")
    return meta


def _read_npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The ``keys`` of an npz as arrays of text or finite numbers; a missing,
    truncated or damaged file is a :class:`DatasetError`."""
    if not path.is_file():
        raise MissingFileError(f"{path} does not exist; regenerate the data with `talkinghead-edu make-dataset`")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in keys if key not in archive.files]
            if missing:
                raise DatasetError(f"{path} lacks {', '.join(missing)}; expected the keys {', '.join(keys)}")
            arrays = {key: np.asarray(archive[key]) for key in keys}
    except DatasetError:
        raise
    except Exception as exc:  # BadZipFile, EOFError, zlib.error, ValueError (pickled arrays)...
        raise DatasetError(f"{path} is not a readable npz of plain arrays ({type(exc).__name__}: {exc})") from None
    for key, array in arrays.items():
        if array.dtype.kind not in "biufU":
            raise DatasetError(f"{path}: {key!r} has dtype {array.dtype}; expected numbers (or text)")
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise DatasetError(
                f"{path}: {key!r} {array.shape} holds {int((~np.isfinite(array)).sum())} NaN or infinite value(s)"
            )
    return arrays


_FLAME_KEYS = ("shape", "expression", "pose", "translation")


def _resize_nearest(maps: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of ``(T, H0, W0)`` maps by pixel centres."""
    rows = np.minimum(((np.arange(height) + 0.5) * maps.shape[1] / height).astype(np.int64), maps.shape[1] - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * maps.shape[2] / width).astype(np.int64), maps.shape[2] - 1)
    return maps[:, rows][:, :, cols]


def load_video_dataset(speaker: str, root: str | Path | None = None, resolution: int = 256) -> VideoDataset:
    """Load one bundled target speaker.

    Args:
        speaker: a name from :func:`list_video_speakers` (e.g. ``"speaker_a"``).
        root: the ``video/`` folder; default ``dataset_root()/"video"``.
        resolution: output width in pixels. Frames are box-filtered, label maps and masks
            resized by nearest neighbour, ``K`` and the landmarks scaled by
            ``resolution / stored width`` (pixel-edge origin, so ``u' = s u``).

    Returns:
        :class:`VideoDataset`.
    """
    import soundfile

    video_root = _video_root(root)
    folder = video_root / speaker
    if not (folder / "meta.json").is_file():
        try:
            known = ", ".join(list_video_speakers(root))
        except FileNotFoundError:
            known = "none (no metadata.json)"
        except DatasetError as exc:
            known = f"unknown ({exc})"
        raise MissingFileError(f"no video data for speaker {speaker!r} in {video_root}; available speakers: {known}")
    if (
        isinstance(resolution, bool)
        or not isinstance(resolution, (int, float, np.integer, np.floating))
        or not np.isfinite(resolution)
        or resolution != int(resolution)
        or resolution <= 0
    ):
        raise InputError(f"resolution must be a positive whole number of pixels, got {resolution!r}")
    meta = _read_meta(folder / "meta.json", ("height", "width", "num_frames", "fps", "splits"))
    try:
        stored_h, stored_w, T = int(meta["height"]), int(meta["width"]), int(meta["num_frames"])
        splits = {name: np.arange(int(start), int(stop)) for name, (start, stop) in meta["splits"].items()}
        fps = int(meta["fps"])
    except (TypeError, ValueError, AttributeError) as exc:
        raise DatasetError(
            f"{folder / 'meta.json'}: height, width, num_frames, fps must be whole numbers and splits a "
            f"{{name: [start, stop]}} object ({type(exc).__name__}: {exc})"
        ) from None
    if min(stored_h, stored_w, T, fps) <= 0:
        raise DatasetError(
            f"{folder / 'meta.json'}: height, width, num_frames and fps must be positive, got "
            f"{stored_h}, {stored_w}, {T}, {fps}"
        )
    scale = int(resolution) / stored_w
    height, width = int(round(stored_h * scale)), int(resolution)

    tracking = _read_npz(folder / "tracking.npz", ("K", "viewmats", "landmarks2d") + _FLAME_KEYS)
    K = tracking["K"].astype(np.float32)
    viewmats = tracking["viewmats"].astype(np.float32)
    landmarks2d = tracking["landmarks2d"].astype(np.float32)
    truth = _read_npz(folder / "ground_truth_eval_only.npz", _FLAME_KEYS)
    try:
        flame_tracked = FlameParams.from_npz(tracking)
        flame_true = FlameParams.from_npz(truth)
    except InputError as exc:
        raise DatasetError(f"{folder}: tracking.npz / ground_truth_eval_only.npz: {exc}") from None
    masks = _read_npz(folder / "masks.npz", ("labels", "face_mask"))
    labels, face_mask = masks["labels"], masks["face_mask"]
    if K.shape != (3, 3) or viewmats.ndim != 3 or viewmats.shape[1:] != (4, 4):
        raise DatasetError(
            f"{folder / 'tracking.npz'}: K must be (3, 3) and viewmats (T, 4, 4), got {K.shape} and {viewmats.shape}"
        )
    if not (K[0, 0] > 0 and K[1, 1] > 0):
        raise DatasetError(
            f"{folder / 'tracking.npz'}: focal lengths must be positive pixels, got fx={K[0, 0]}, fy={K[1, 1]}"
        )
    try:
        audio, sample_rate = soundfile.read(folder / "audio.flac", dtype="float32")
    except Exception as exc:  # LibsndfileError, RuntimeError on a damaged file
        raise DatasetError(f"{folder / 'audio.flac'} is not a readable FLAC file ({exc})") from None
    frame_paths = [folder / "frames" / f"{i:05d}.jpg" for i in range(T)]

    problems = []
    if labels.shape != (T, stored_h, stored_w) or face_mask.shape != labels.shape:
        problems.append(f"masks {labels.shape}/{face_mask.shape} != ({T}, {stored_h}, {stored_w})")
    if len(viewmats) != T or len(landmarks2d) != T or flame_tracked.num_frames != T or flame_true.num_frames != T:
        problems.append("per-frame arrays do not all have num_frames rows")
    if sample_rate != 16000 or len(audio) != SAMPLES_PER_FRAME * T:
        problems.append(
            f"audio has {len(audio)} samples at {sample_rate} Hz, expected {SAMPLES_PER_FRAME * T} at 16000 Hz"
        )
    if not all(p.is_file() for p in (frame_paths[0], frame_paths[-1])):
        problems.append("frame files are missing")
    if problems:
        raise DatasetError(f"{folder} is inconsistent: " + "; ".join(problems))

    if (height, width) != (stored_h, stored_w):
        labels = _resize_nearest(labels, height, width)
        face_mask = _resize_nearest(face_mask, height, width)
        K = K.copy()
        K[:2] *= scale
        landmarks2d = landmarks2d * scale
    return VideoDataset(
        speaker=speaker,
        fps=fps,
        height=height,
        width=width,
        labels=labels,
        face_mask=face_mask,
        K=K,
        viewmats=viewmats,
        flame_tracked=flame_tracked,
        flame_true=flame_true,
        landmarks2d=landmarks2d.astype(np.float32),
        audio=audio,
        splits=splits,
        meta=meta,
        frame_paths=frame_paths,
        sample_rate=int(sample_rate),
    )
