"""Checks of the committed target-speaker videos (``datasets_small/video``) and their loader.

No espeak-ng needed: these read the committed files. Independent checks: sha256 checksums,
frame/sample counts, label maps vs masks, landmarks recomputed with the FLAME model and
the camera, mouth pixels vs jaw opening, tracking error statistics.
"""

import hashlib
import json

import numpy as np
import pytest
import torch

from talkinghead_edu.data.video_dataset import (
    FACE_MASK_LABELS,
    face_mask_from_labels,
    list_video_speakers,
    load_video_dataset,
    verify_video_checksums,
)
from talkinghead_edu.flame import FlameParams
from talkinghead_edu.paths import ASSETS_DIR, dataset_root
from talkinghead_edu.semantics import LABEL_IDS, LABEL_NAMES
from talkinghead_edu.synth.mesh_render import project, world_to_camera

VIDEO_ROOT = dataset_root() / "video"
SPEAKERS = list_video_speakers()


@pytest.fixture(scope="module", params=SPEAKERS)
def video(request):
    return load_video_dataset(request.param)


def test_at_least_two_speakers_and_checksums_match():
    assert len(SPEAKERS) >= 2
    assert verify_video_checksums() == []


def test_data_was_made_with_the_current_head_asset():
    metadata = json.loads((VIDEO_ROOT / "metadata.json").read_text())
    digest = hashlib.sha256((ASSETS_DIR / "procedural_head.npz").read_bytes()).hexdigest()
    assert metadata["head_asset_sha256"] == digest, (
        "the head asset changed since the video data was rendered; "
        "regenerate with `talkinghead-edu make-dataset --part video`"
    )


def test_speakers_differ_in_shape_skin_and_style():
    a, b = (load_video_dataset(name) for name in SPEAKERS[:2])
    assert np.abs(a.flame_true.shape - b.flame_true.shape).max() > 0.1 * np.abs(a.flame_true.shape).max()
    assert a.meta["appearance"]["skin"] != b.meta["appearance"]["skin"]
    assert a.meta["style"] != b.meta["style"]


def test_sizes_and_counts(video):
    T = video.num_frames
    assert T >= 20 * 25, "each target speaker needs at least 20 s at 25 fps"
    assert (video.height, video.width) == (256, 256) and video.fps == 25
    assert video.frames.shape == (T, 256, 256, 3) and video.frames.dtype == np.uint8
    assert len(video.audio) == 640 * T and video.sample_rate == 16000
    assert video.labels.shape == (T, 256, 256) and video.face_mask.shape == (T, 256, 256)
    assert video.landmarks2d.shape == (T, 68, 2) and video.viewmats.shape == (T, 4, 4)
    assert video.flame_tracked.expression.shape[0] == T and video.flame_tracked.pose.shape == (T, 15)
    frame = video.frame(3)
    assert frame.dtype == torch.float32 and frame.shape == (256, 256, 3)
    torch.testing.assert_close(frame, torch.from_numpy(video.frames[3] / 255.0).float())


def test_labels_are_valid_and_consistent_with_the_mask(video):
    assert video.labels.max() < len(LABEL_NAMES)
    np.testing.assert_array_equal(video.face_mask, face_mask_from_labels(video.labels))
    present = set(np.unique(video.labels).tolist())
    for name in ("background", "skin", "lips", "eyes", "eyebrows", "hair", "neck_torso", "mouth_interior", "teeth"):
        assert LABEL_IDS[name] in present, f"label {name} never appears"
    # the mask covers the face: a sizeable region, never the background or the torso
    coverage = video.face_mask.mean(axis=(1, 2))
    assert (coverage > 0.08).all() and (coverage < 0.6).all()
    assert not (video.face_mask & (video.labels == 0)).any()
    assert set(FACE_MASK_LABELS) == {"skin", "lips", "teeth", "mouth_interior", "eyes", "eyebrows", "hair"}


def test_splits_are_contiguous_disjoint_and_cover_everything(video):
    parts = [video.splits[name] for name in ("train", "val", "test")]
    assert all(len(p) > 0 for p in parts)
    joined = np.concatenate(parts)
    np.testing.assert_array_equal(joined, np.arange(video.num_frames))
    assert all(np.all(np.diff(p) == 1) for p in parts)


def test_camera_is_a_proper_rigid_transform(video):
    R = video.viewmats[:, :3, :3].astype(np.float64)
    np.testing.assert_allclose(R @ R.transpose(0, 2, 1), np.broadcast_to(np.eye(3), R.shape), atol=1e-6)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-6)
    assert video.K[0, 0] > 0 and video.K[1, 1] > 0 and video.K[2, 2] == 1


def test_landmarks_are_the_projection_of_the_true_flame_landmarks(video):
    from talkinghead_edu.flame import load_head_model

    head = load_head_model()
    frames = np.array([0, video.num_frames // 2, video.num_frames - 1])
    with torch.no_grad():
        landmarks3d = head(**video.flame_true.tensors(frames)).landmarks.numpy()
    for k, t in enumerate(frames):
        expected = project(world_to_camera(landmarks3d[k], video.viewmats[t]), video.K)
        np.testing.assert_allclose(video.landmarks2d[t], expected, atol=1e-2)  # pixels
    assert (video.landmarks2d >= 0).all() and (video.landmarks2d < 256).all()


def test_landmarks_agree_with_the_label_maps(video):
    """Lip landmarks (48-67) lie on, or within 2 px of, the lips/mouth region; eye landmarks on the face."""
    from scipy import ndimage

    T = video.num_frames
    rows = np.clip(video.landmarks2d[..., 1].astype(int), 0, 255)
    cols = np.clip(video.landmarks2d[..., 0].astype(int), 0, 255)
    mouth_region = np.isin(video.labels, [LABEL_IDS[n] for n in ("lips", "teeth", "mouth_interior")])
    near_mouth = ndimage.binary_dilation(mouth_region, structure=np.ones((1, 5, 5), bool))
    on_mouth = near_mouth[np.arange(T)[:, None], rows[:, 48:68], cols[:, 48:68]]
    assert on_mouth.mean() > 0.95
    labels_at = video.labels[np.arange(T)[:, None], rows, cols]  # (T, 68)
    eyes = np.isin(labels_at[:, 36:48], [LABEL_IDS[n] for n in ("eyes", "skin", "eyebrows")])
    assert eyes.mean() > 0.95


def test_open_mouth_shows_the_mouth_interior(video):
    """Rendering follows the motion: the visible mouth interior + teeth grow with the jaw angle."""
    inside = np.isin(video.labels, [LABEL_IDS["mouth_interior"], LABEL_IDS["teeth"]]).sum(axis=(1, 2))
    jaw = video.flame_true.pose[:, 6]
    assert np.corrcoef(inside, jaw)[0, 1] > 0.5


def test_background_is_static(video):
    """A locked-off camera: background pixels of the first and the last frame agree (up to JPEG)."""
    both = (video.labels[0] == 0) & (video.labels[-1] == 0)
    difference = np.abs(video.frames[0].astype(int) - video.frames[-1].astype(int))[both]
    assert both.sum() > 5000 and difference.mean() < 2.0


def test_tracking_error_has_jitter_and_a_slow_bias(video):
    error = video.flame_tracked.expression - video.flame_true.expression  # (T, E)
    motion_std = video.flame_true.expression.std(axis=0)
    assert np.abs(error).mean() > 0
    assert np.abs(error).mean() < 0.5 * motion_std.mean() + 0.05
    # jitter: frame-to-frame differences of the error are not small
    assert np.diff(error, axis=0).std() > 0.3 * error.std()
    # slow bias: a 2-second moving average of the error does not vanish
    kernel = np.ones(50) / 50
    smoothed = np.stack([np.convolve(error[:, k], kernel, mode="valid") for k in range(error.shape[1])], axis=1)
    assert smoothed.std() > 0.3 * error.std()
    neck_error = video.flame_tracked.pose[:, 3:6] - video.flame_true.pose[:, 3:6]
    assert 0.001 < np.abs(neck_error).mean() < 0.05  # radians
    assert not np.array_equal(video.flame_tracked.shape, video.flame_true.shape)


def test_codec_is_exact_enough_for_psnr(video):
    codec = video.meta["codec"]
    assert codec["psnr_db_vs_uncompressed"]["min"] > 40.0


def test_lower_resolution_scales_frames_labels_camera_and_landmarks():
    full = load_video_dataset(SPEAKERS[0])
    half = load_video_dataset(SPEAKERS[0], resolution=128)
    assert half.frames.shape[1:] == (128, 128, 3) and half.labels.shape[1:] == (128, 128)
    np.testing.assert_allclose(half.K[:2], full.K[:2] * 0.5, rtol=1e-6)
    np.testing.assert_allclose(half.landmarks2d, full.landmarks2d * 0.5, rtol=1e-6)
    np.testing.assert_array_equal(half.face_mask, face_mask_from_labels(half.labels))
    # box filter: the mean colour is preserved
    np.testing.assert_allclose(half.frames[0].mean(), full.frames[0].mean(), atol=1.0)


def test_flame_params_helpers():
    params = FlameParams(
        expression=np.ones((3, 5), np.float32),
        pose=np.zeros((3, 15), np.float32),
        translation=np.zeros((3, 3), np.float32),
        shape=np.ones(4, np.float32),
    )
    resized = params.resized(2, 7)
    assert resized.shape.shape == (2,) and resized.expression.shape == (3, 7)
    np.testing.assert_array_equal(resized.expression[:, 5:], 0)
    batch = params.tensors(np.array([0, 2]))
    assert batch["shape"].shape == (2, 4) and batch["expression"].shape == (2, 5) and batch["pose"].shape == (2, 15)
    with pytest.raises(ValueError, match="pose"):
        FlameParams(expression=np.ones((3, 5)), pose=np.zeros((2, 15)), translation=np.zeros((3, 3)), shape=np.ones(4))


def test_unknown_speaker_names_the_available_ones():
    with pytest.raises(FileNotFoundError, match=SPEAKERS[0]):
        load_video_dataset("nobody")
