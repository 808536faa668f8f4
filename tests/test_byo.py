"""The bring-your-own-video loader, on data the test exports from a bundled speaker."""

import json

import numpy as np
import pytest

from talkinghead_edu.data.byo import BYOFormatError, export_byo, load_byo_video
from talkinghead_edu.data.video_dataset import face_mask_from_labels, list_video_speakers, load_video_dataset

N_FRAMES = 30


@pytest.fixture(scope="module")
def bundled():
    return load_video_dataset(list_video_speakers()[0])


@pytest.fixture()
def exported(bundled, tmp_path):
    return export_byo(bundled, tmp_path / "tracked", frames=slice(10, 10 + N_FRAMES))


def test_round_trip_reproduces_the_bundled_speaker(bundled, exported):
    loaded = load_byo_video(exported, name="mine")
    block = np.arange(10, 10 + N_FRAMES)
    assert loaded.speaker == "mine" and loaded.num_frames == N_FRAMES
    np.testing.assert_array_equal(loaded.frames, bundled.frames[block])
    np.testing.assert_allclose(loaded.K, bundled.K, rtol=1e-6)
    np.testing.assert_allclose(loaded.viewmats, bundled.viewmats[block], atol=1e-5)
    tracked = bundled.flame_tracked
    np.testing.assert_allclose(loaded.flame_tracked.shape, tracked.shape)
    np.testing.assert_allclose(loaded.flame_tracked.expression, tracked.expression[block])
    np.testing.assert_allclose(loaded.flame_tracked.pose, tracked.pose[block])
    np.testing.assert_allclose(loaded.flame_tracked.translation, tracked.translation[block])
    np.testing.assert_array_equal(loaded.labels, bundled.labels[block])
    np.testing.assert_array_equal(loaded.face_mask, face_mask_from_labels(loaded.labels))
    # 16-bit WAV: one quantisation step
    np.testing.assert_allclose(loaded.audio, bundled.audio_for_frames(block), atol=1.5 / 32768)
    assert loaded.flame_true is None and loaded.landmarks2d is None
    assert sum(len(v) for v in loaded.splits.values()) == N_FRAMES


def test_opengl_camera_to_world_is_converted(exported, bundled):
    transforms = json.loads((exported / "transforms.json").read_text())
    c2w = np.array(transforms["frames"][0]["transform_matrix"])
    # independent check: the camera centre in world coordinates and its viewing direction
    R, t = bundled.viewmats[0][:3, :3].astype(np.float64), bundled.viewmats[0][:3, 3].astype(np.float64)
    np.testing.assert_allclose(c2w[:3, 3], -R.T @ t, atol=1e-5)
    forward_world = R.T @ np.array([0.0, 0.0, 1.0])  # OpenCV +z
    np.testing.assert_allclose(-c2w[:3, 2], forward_world, atol=1e-6)  # OpenGL looks down -z


def test_split_files_are_honoured(exported):
    transforms = json.loads((exported / "transforms.json").read_text())
    frames = transforms["frames"]
    for name, part in (("train", frames[:20]), ("val", frames[20:25]), ("test", frames[25:])):
        (exported / f"transforms_{name}.json").write_text(json.dumps({"frames": part}))
    loaded = load_byo_video(exported)
    np.testing.assert_array_equal(loaded.splits["val"], np.arange(20, 25))


def test_opencv_convention_and_missing_optionals(exported, bundled):
    transforms = json.loads((exported / "transforms.json").read_text())
    for entry in transforms["frames"]:
        entry["transform_matrix"] = np.linalg.inv(np.asarray(bundled.viewmats[0], np.float64)).tolist()
        entry.pop("label_path")
    transforms["camera_convention"] = "opencv"
    transforms.pop("audio_path")
    (exported / "audio.wav").unlink()
    (exported / "transforms.json").write_text(json.dumps(transforms))
    loaded = load_byo_video(exported)
    np.testing.assert_allclose(loaded.viewmats[0], bundled.viewmats[0], atol=1e-5)
    assert loaded.labels is None and loaded.face_mask is None and loaded.audio is None


def _rewrite_flame(path, **changes):
    with np.load(path) as arrays:
        values = {k: arrays[k] for k in arrays.files}
    for key, value in changes.items():
        if value is None:
            values.pop(key)
        else:
            values[key] = value
    np.savez(path, **values)


def test_bad_inputs_name_the_file_and_the_problem(exported):
    with pytest.raises(BYOFormatError, match="transforms.json"):
        load_byo_video(exported / "nowhere")
    flame_file = exported / "flame_param" / "00003.npz"
    _rewrite_flame(flame_file, expr=None)
    with pytest.raises(BYOFormatError, match=r"00003\.npz.*expr"):
        load_byo_video(exported)
    _rewrite_flame(flame_file, expr=np.full((1, 50), np.nan, np.float32))
    with pytest.raises(BYOFormatError, match="NaN"):
        load_byo_video(exported)
    _rewrite_flame(flame_file, expr=np.zeros((1, 50), np.float32), jaw_pose=np.zeros(4))
    with pytest.raises(BYOFormatError, match="jaw_pose"):
        load_byo_video(exported)


def test_audio_of_the_wrong_length_is_rejected(exported):
    import soundfile

    noise = np.random.default_rng(0).uniform(-0.5, 0.5, 16000 * 5).astype(np.float32)
    soundfile.write(exported / "audio.wav", noise, 16000)
    with pytest.raises(BYOFormatError, match="audio.wav"):
        load_byo_video(exported)


def test_audio_at_another_rate_is_resampled(exported, bundled):
    import librosa
    import soundfile

    block = bundled.audio_for_frames(slice(10, 10 + N_FRAMES))
    soundfile.write(exported / "audio.wav", librosa.resample(block, orig_sr=16000, target_sr=22050), 22050)
    loaded = load_byo_video(exported)
    assert len(loaded.audio) == 640 * N_FRAMES
