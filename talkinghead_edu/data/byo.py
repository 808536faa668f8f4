"""Bring your own video: load a face tracker's output in the common ``transforms.json`` layout.

Monocular FLAME trackers (the GaussianAvatars / VHAP export, NeRF-style datasets) write::

    <folder>/transforms.json        cameras and one entry per frame (below)
    <folder>/images/00000.png ...   the frames (any format Pillow reads)
    <folder>/flame_param/00000.npz  per-frame FLAME parameters
    <folder>/audio.wav              optional: the soundtrack (any rate; resampled to 16 kHz)
    <folder>/transforms_{train,val,test}.json   optional: the split (same frame entries)

``transforms.json``::

    {"fl_x": 600.0, "fl_y": 600.0, "cx": 128.0, "cy": 128.0, "w": 256, "h": 256,
     "fps": 25, "audio_path": "audio.wav",                     # optional
     "camera_convention": "opengl",                            # optional, default "opengl"
     "frames": [{"timestep_index": 0,
                 "file_path": "images/00000.png",
                 "transform_matrix": [[...4x4 camera-to-world...]],
                 "flame_param_path": "flame_param/00000.npz",
                 "label_path": "parsing/00000.png",            # optional: semantic ids (semantics.LABEL_NAMES)
                 "face_mask_path": "face_mask/00000.png",      # optional: mask M of eq 19 (non-zero = face)
                 "fl_x": ..., "fl_y": ..., "cx": ..., "cy": ...}]}   # optional per-frame intrinsics

``transform_matrix`` is camera-to-world in the OpenGL/Blender convention of NeRF datasets
(camera x right, y up, looking down −z); set ``"camera_convention": "opencv"`` if your
tracker writes OpenCV axes. The loader converts to the package's world-to-camera OpenCV
``viewmats`` (the camera convention of `talkinghead_edu.conventions`): ``w2c = inverse(c2w_gl · diag(1, −1, −1, 1))``.

Each ``flame_param`` npz holds ``shape`` (S,), ``expr`` (1, E), ``rotation`` (1, 3) (global),
``neck_pose`` (1, 3), ``jaw_pose`` (1, 3), ``eyes_pose`` (1, 6), ``translation`` (1, 3); only
``shape``, ``expr`` and ``jaw_pose`` are required (missing poses/translation are zeros).
They become :class:`~talkinghead_edu.data.video_dataset.FlameParams` with
``pose = [rotation, neck, jaw, eyes]`` (T, 15). Use :meth:`FlameParams.resized` to match the
coefficient counts of your head model (the bundled head has S=100, E=50; the official FLAME
300/100).

:func:`export_byo` writes a bundled speaker in this layout (used by the tests, and a template
for your own converter). The export is atomic: it is built in a temporary sibling folder and
renamed into place when complete, so a failed export (disk full) leaves nothing behind and an
earlier export in the same place survives.

Every fault in a folder (malformed JSON, a frame entry that is not an object, a non-positive
focal length, a singular or non-finite camera, NaN in a tracked pose, a truncated npz or
image) is a :class:`BYOFormatError` naming the file and what was expected.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np

from ..conventions import POSE_SLICES, SAMPLES_PER_FRAME
from ..errors import FileFormatError, InputError
from ..flame.params import FlameParams
from ..utils.io import atomic_directory, atomic_save_npz, atomic_write_text
from .video_dataset import VideoDataset, face_mask_from_labels

__all__ = ["load_byo_video", "export_byo", "BYOFormatError", "OPENGL_TO_OPENCV"]

#: Flips camera y and z: OpenGL camera axes (y up, looking down −z) <-> OpenCV (y down, +z forward).
OPENGL_TO_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])

_REQUIRED_FLAME_KEYS = ("shape", "expr", "jaw_pose")


class BYOFormatError(FileFormatError):
    """A bring-your-own video folder does not follow the documented layout."""


def _read_json(path: Path) -> dict:
    """A JSON file holding an object (dict); anything else is a :class:`BYOFormatError`."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BYOFormatError(
            f"{path} not found; a bring-your-own video folder needs a transforms.json (see talkinghead_edu.data.byo)"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError, IsADirectoryError, RecursionError) as exc:
        raise BYOFormatError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(content, dict):
        raise BYOFormatError(
            f"{path} holds a JSON {type(content).__name__}; expected an object with 'frames' and the camera intrinsics"
        )
    return content


def _number(value, where: str, positive: bool = False) -> float:
    """A finite number from JSON (``> 0`` if ``positive``), else a :class:`BYOFormatError` naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BYOFormatError(f"{where} must be a number, got {value!r}")
    number = float(value)
    if not np.isfinite(number) or (positive and number <= 0):
        raise BYOFormatError(f"{where} must be a finite number{' > 0' if positive else ''}, got {value!r}")
    return number


def _camera_to_world(value, where: str) -> np.ndarray:
    """A finite, invertible 4x4 ``transform_matrix``."""
    try:
        c2w = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise BYOFormatError(
            f"{where}: transform_matrix must be a 4x4 list of numbers, got {str(value)[:60]}"
        ) from None
    if c2w.shape != (4, 4):
        raise BYOFormatError(f"{where}: transform_matrix must be 4x4, got {c2w.shape}")
    if not np.isfinite(c2w).all():
        raise BYOFormatError(f"{where}: transform_matrix holds NaN or infinite values")
    if abs(np.linalg.det(c2w[:3, :3])) < 1e-9 or not np.allclose(c2w[3], [0.0, 0.0, 0.0, 1.0]):
        raise BYOFormatError(
            f"{where}: transform_matrix must be a rigid camera-to-world transform (invertible rotation, "
            f"last row 0 0 0 1); got rotation determinant {np.linalg.det(c2w[:3, :3]):.3g} and last row "
            f"{c2w[3].tolist()}"
        )
    return c2w


def _flame_from_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise BYOFormatError(f"FLAME parameter file {path} not found")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            values = {k: np.asarray(arrays[k], dtype=np.float64).reshape(-1) for k in arrays.files}
    except Exception as exc:  # truncated zips (BadZipFile, EOFError), pickled or text arrays (ValueError)...
        raise BYOFormatError(
            f"{path} is not a readable npz file of FLAME parameters ({type(exc).__name__}: {exc})"
        ) from None
    missing = [k for k in _REQUIRED_FLAME_KEYS if k not in values]
    if missing:
        raise BYOFormatError(
            f"{path} lacks {missing}; expected keys shape, expr, jaw_pose (+ optional rotation, neck_pose, eyes_pose, "
            "translation)"
        )
    expected_sizes = {"jaw_pose": 3, "rotation": 3, "neck_pose": 3, "eyes_pose": 6, "translation": 3}
    for key, size in expected_sizes.items():
        if key in values and values[key].size != size:
            raise BYOFormatError(f"{path}: {key!r} has {values[key].size} numbers, expected {size}")
    for key, value in values.items():
        if not np.all(np.isfinite(value)):
            raise BYOFormatError(f"{path}: {key!r} contains NaN or infinite values")
    return values


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image

    if not path.is_file():
        raise BYOFormatError(f"image {path} not found")
    try:
        with Image.open(path) as image:
            return np.asarray(image)
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError... on truncated or foreign files
        raise BYOFormatError(
            f"image {path} cannot be decoded ({type(exc).__name__}: {exc}); expected a PNG or JPEG"
        ) from None


def _resolve(folder: Path, relative: str, suffixes: tuple[str, ...] = ("", ".png", ".jpg")) -> Path:
    """NeRF-style file paths may omit the extension; try the common ones."""
    for suffix in suffixes:
        candidate = folder / f"{relative}{suffix}"
        if candidate.is_file():
            return candidate
    return folder / relative


def load_byo_video(folder: str | Path, name: str | None = None, fps: int = 25) -> VideoDataset:
    """Load a tracked video in the ``transforms.json`` + ``flame_param`` layout (module docstring).

    Args:
        folder: the folder holding ``transforms.json``.
        name: the speaker name (default: the folder name).
        fps: frame rate if ``transforms.json`` does not give one (audio alignment assumes 25).

    Returns:
        :class:`~talkinghead_edu.data.video_dataset.VideoDataset` with ``flame_true = None``;
        ``labels``/``face_mask``/``audio`` are ``None`` when the folder does not provide them,
        ``landmarks2d`` is ``None``. Splits come from ``transforms_{train,val,test}.json`` if
        present, else contiguous 80/10/10 % blocks.

    Raises:
        BYOFormatError: a missing/malformed file, naming it and what was expected.
    """
    folder = Path(folder)
    transforms_path = folder / "transforms.json"
    transforms = _read_json(transforms_path)
    frames = transforms.get("frames")
    if not isinstance(frames, list) or not frames:
        raise BYOFormatError(f"{transforms_path}: 'frames' must be a non-empty list of frame entries")
    for index, entry in enumerate(frames):
        if not isinstance(entry, dict):
            raise BYOFormatError(
                f"{transforms_path}: frame {index} is a {type(entry).__name__}; expected an object with "
                "file_path, transform_matrix and flame_param_path"
            )
        if "timestep_index" in entry:
            _number(entry["timestep_index"], f"{transforms_path}: frame {index} timestep_index")
    frames = sorted(frames, key=lambda entry: entry.get("timestep_index", 0))
    convention = transforms.get("camera_convention", "opengl")
    if convention not in ("opengl", "opencv"):
        raise BYOFormatError(f"camera_convention must be 'opengl' or 'opencv', got {convention!r}")

    K_list, viewmats, flame, frame_paths, label_paths, mask_paths = [], [], [], [], [], []
    for index, entry in enumerate(frames):
        where = f"{transforms_path}: frame {index}"
        for key in ("file_path", "transform_matrix", "flame_param_path"):
            if key not in entry:
                raise BYOFormatError(f"transforms.json frame {index} lacks {key!r}")
        for key in ("file_path", "flame_param_path", "label_path", "face_mask_path"):
            if key in entry and not isinstance(entry[key], str):
                raise BYOFormatError(f"{where}: {key} must be a relative path string, got {entry[key]!r}")
        intrinsics = [entry.get(k, transforms.get(k)) for k in ("fl_x", "fl_y", "cx", "cy")]
        if any(v is None for v in intrinsics):
            raise BYOFormatError(
                f"transforms.json frame {index}: intrinsics fl_x, fl_y, cx, cy missing (top level or per frame)"
            )
        fl_x, fl_y = (
            _number(v, f"{where}: {k} (focal length in pixels)", positive=True)
            for k, v in zip(("fl_x", "fl_y"), intrinsics)
        )
        cx, cy = (_number(v, f"{where}: {k}") for k, v in zip(("cx", "cy"), intrinsics[2:]))
        K_list.append(np.array([[fl_x, 0.0, cx], [0.0, fl_y, cy], [0.0, 0.0, 1.0]]))
        c2w = _camera_to_world(entry["transform_matrix"], where)
        viewmats.append(np.linalg.inv(c2w @ OPENGL_TO_OPENCV if convention == "opengl" else c2w))
        flame.append(_flame_from_npz(folder / entry["flame_param_path"]))
        frame_paths.append(_resolve(folder, entry["file_path"]))
        label_paths.append(entry.get("label_path"))
        mask_paths.append(entry.get("face_mask_path"))
    T = len(frames)
    if not all(p.is_file() for p in frame_paths):
        missing = next(p for p in frame_paths if not p.is_file())
        raise BYOFormatError(f"frame image {missing} not found")

    def stack(key: str, size: int) -> np.ndarray:
        return np.stack([f[key] if key in f else np.zeros(size) for f in flame]).astype(np.float32)

    shapes = {f["shape"].size for f in flame}
    exprs = {f["expr"].size for f in flame}
    if len(shapes) != 1 or len(exprs) != 1:
        raise BYOFormatError(
            f"every flame_param file must have the same number of shape and expr coefficients, got {shapes} and {exprs}"
        )
    pose = np.concatenate(
        [stack("rotation", 3), stack("neck_pose", 3), stack("jaw_pose", 3), stack("eyes_pose", 6)], axis=1
    )
    tracked = FlameParams(
        expression=stack("expr", exprs.pop()),
        pose=pose,
        translation=stack("translation", 3),
        shape=np.mean([f["shape"] for f in flame], axis=0).astype(np.float32),
    )

    first = _read_image(frame_paths[0])
    height = int(_number(transforms.get("h", first.shape[0]), f"{transforms_path}: h", positive=True))
    width = int(_number(transforms.get("w", first.shape[1]), f"{transforms_path}: w", positive=True))
    if first.shape[:2] != (height, width):
        raise BYOFormatError(
            f"{frame_paths[0]} is {first.shape[1]}x{first.shape[0]}, transforms.json says {width}x{height}"
        )
    if any(not np.allclose(k, K_list[0]) for k in K_list):
        raise BYOFormatError("per-frame intrinsics differ; this loader supports one camera intrinsics per video")

    labels = face_mask = None
    if all(label_paths):
        labels = np.stack([_read_map(folder / p, (height, width)) for p in label_paths]).astype(np.uint8)
        face_mask = face_mask_from_labels(labels)
    if all(mask_paths):
        face_mask = np.stack([_read_map(folder / p, (height, width)) for p in mask_paths]) > 0

    audio = None
    audio_rel = transforms.get("audio_path", "audio.wav")
    if not isinstance(audio_rel, str):
        raise BYOFormatError(f"{transforms_path}: audio_path must be a relative path string, got {audio_rel!r}")
    audio_path = folder / audio_rel
    if audio_path.is_file():
        audio = _load_audio_16k(audio_path)
        expected = SAMPLES_PER_FRAME * T
        if abs(len(audio) - expected) > SAMPLES_PER_FRAME:
            raise BYOFormatError(
                f"{audio_path} lasts {len(audio) / 16000:.2f} s but the {T} frames at 25 fps last {T / 25:.2f} s"
            )
        audio = np.pad(audio, (0, max(0, expected - len(audio))))[:expected].astype(np.float32)

    splits = _splits(folder, frames, T)
    return VideoDataset(
        speaker=name or folder.name,
        fps=int(_number(transforms.get("fps", fps), f"{transforms_path}: fps", positive=True)),
        height=height,
        width=width,
        labels=labels,
        face_mask=face_mask,
        K=K_list[0].astype(np.float32),
        viewmats=np.stack(viewmats).astype(np.float32),
        flame_tracked=tracked,
        flame_true=None,
        landmarks2d=None,
        audio=audio,
        splits=splits,
        meta={"source": str(folder), "format": "transforms.json + flame_param"},
        frame_paths=frame_paths,
    )


def _read_map(path: Path, size: tuple[int, int]) -> np.ndarray:
    """A label map or mask image ``(H, W)`` (the first channel of a colour image) of the frames' size."""
    image = _read_image(path)
    image = image[..., 0] if image.ndim == 3 else image
    if image.shape != size:
        raise BYOFormatError(
            f"{path} is {image.shape[1::-1] if image.ndim == 2 else image.shape}; expected a map of the "
            f"frames' size {size[1]}x{size[0]}"
        )
    return image


def _load_audio_16k(path: Path) -> np.ndarray:
    """Any wav/flac -> 16 kHz mono float32 (through the package's audio loader when present)."""
    try:
        from ..audio.io import load_audio
    except ImportError:
        import librosa

        audio, _ = librosa.load(str(path), sr=16000, mono=True)
        return audio.astype(np.float32)
    return load_audio(path, target_sr=16000)


def _splits(folder: Path, frames: list[dict], T: int) -> dict[str, np.ndarray]:
    position = {entry.get("timestep_index", i): i for i, entry in enumerate(frames)}
    split_files = {name: folder / f"transforms_{name}.json" for name in ("train", "val", "test")}
    if all(path.is_file() for path in split_files.values()):
        splits = {}
        for name, path in split_files.items():
            entries = _read_json(path).get("frames", [])
            if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
                raise BYOFormatError(f"{path}: 'frames' must be a list of frame objects with timestep_index")
            try:
                splits[name] = np.array(sorted(position[e.get("timestep_index")] for e in entries), dtype=np.int64)
            except (KeyError, TypeError) as exc:
                raise BYOFormatError(f"{path} refers to timestep {exc} that transforms.json does not have") from None
        return splits
    train_end, val_end = int(round(0.8 * T)), int(round(0.9 * T))
    return {"train": np.arange(0, train_end), "val": np.arange(train_end, val_end), "test": np.arange(val_end, T)}


def export_byo(video: VideoDataset, folder: str | Path, frames: np.ndarray | slice | None = None) -> Path:
    """Write a :class:`VideoDataset` in the ``transforms.json`` layout (module docstring), atomically.

    Frames are copied as stored (no re-encoding), label maps and masks written as PNG, the
    FLAME parameters (the *tracked* ones) as one npz per frame, the audio as 16-bit WAV.
    Everything is written into a temporary sibling folder that replaces ``folder`` only when
    complete: a failed export leaves ``folder`` as it was (an earlier export survives whole).

    Args:
        video: e.g. ``load_video_dataset("speaker_a")``.
        folder: output folder (created; an earlier export there is replaced, any other
            non-empty folder is refused so that nothing of yours is deleted).
        frames: which frames (a contiguous block keeps the audio aligned); default all.

    Raises:
        InputError: no frames, a non-contiguous block, a resized video, or ``folder`` is a
            non-empty folder that is not an earlier export.
        WriteError: the disk filled or a write was refused (nothing is left behind).
    """
    import soundfile
    from PIL import Image

    folder = Path(folder)
    try:
        index = np.arange(video.num_frames)[frames if frames is not None else slice(None)]
    except (IndexError, TypeError, ValueError) as exc:
        raise InputError(
            f"export_byo: frames must be a slice or index array within 0..{video.num_frames - 1} ({exc})"
        ) from None
    if len(index) == 0 or np.any(np.diff(index) != 1):
        raise InputError("export_byo needs a non-empty contiguous block of frames")
    if _read_image(video.frame_paths[index[0]]).shape[:2] != (video.height, video.width):
        raise InputError("export_byo copies the stored frames: load the video at its stored resolution")
    if folder.exists() and not folder.is_dir():
        raise InputError(f"export_byo: {folder} is a file; expected a folder to write the export into")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / "transforms.json").is_file():
        raise InputError(
            f"export_byo: {folder} is a non-empty folder without transforms.json; refusing to replace it "
            "(choose a new or empty folder, or an earlier export)"
        )
    tracked = video.flame_tracked
    with atomic_directory(folder) as out:
        for sub in ("images", "flame_param", "parsing"):
            (out / sub).mkdir()
        entries = []
        for t_out, t in enumerate(index):
            source = video.frame_paths[t]
            image_rel = f"images/{t_out:05d}{source.suffix}"
            shutil.copyfile(source, out / image_rel)
            flame_rel = f"flame_param/{t_out:05d}.npz"
            atomic_save_npz(
                out / flame_rel,
                shape=tracked.shape,
                expr=tracked.expression[t][None],
                rotation=tracked.pose[t, POSE_SLICES["global"]][None],
                neck_pose=tracked.pose[t, POSE_SLICES["neck"]][None],
                jaw_pose=tracked.pose[t, POSE_SLICES["jaw"]][None],
                eyes_pose=tracked.pose[t, POSE_SLICES["eye_left"].start : POSE_SLICES["eye_right"].stop][None],
                translation=tracked.translation[t][None],
            )
            c2w = np.linalg.inv(video.viewmats[t].astype(np.float64)) @ OPENGL_TO_OPENCV
            entry = {
                "timestep_index": int(t_out),
                "file_path": image_rel,
                "flame_param_path": flame_rel,
                "transform_matrix": c2w.tolist(),
            }
            if video.labels is not None:
                label_rel = f"parsing/{t_out:05d}.png"
                Image.fromarray(video.labels[t]).save(out / label_rel)
                entry["label_path"] = label_rel
            entries.append(entry)
        K = video.K.astype(np.float64)
        transforms = {
            "fl_x": K[0, 0],
            "fl_y": K[1, 1],
            "cx": K[0, 2],
            "cy": K[1, 2],
            "w": video.width,
            "h": video.height,
            "fps": video.fps,
            "camera_convention": "opengl",
            "frames": entries,
        }
        if video.audio is not None:
            wav = io.BytesIO()  # encoded in memory: a full disk then fails as a plain OSError, not inside libsndfile
            soundfile.write(wav, video.audio_for_frames(index), 16000, format="WAV", subtype="PCM_16")
            (out / "audio.wav").write_bytes(wav.getvalue())
            transforms["audio_path"] = "audio.wav"
        atomic_write_text(out / "transforms.json", json.dumps(transforms, indent=1))
    return folder
