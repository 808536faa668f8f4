"""The Gaussian-head rows of the evaluation tables (recipes.evaluate.pipeline_methods) on a tiny clip."""

import numpy as np
import pytest
import torch

from talkinghead_edu.data import load_video_dataset
from talkinghead_edu.recipes import evaluate as ev

FRAMES = 3


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_pipeline_rows_name_the_style_and_the_encoder_ablation():
    rows = ev.pipeline_methods()
    # the bundled translator knows the video speakers (issue 14): the full system uses each head's own style,
    # and the average style is the paper's identity ablation
    assert list(rows) == ["Gaussian head (full)", "Gaussian head, average style", "Gaussian head, raw E_asr"]


def test_gaussian_row_renders_the_clip_on_its_own_frames():
    clip = ev.self_driven_clips(speakers=("speaker_a",), max_frames=FRAMES)[0]
    made = ev.gaussian_method()(ev.eval_head(clip.head), clip)
    frames = made["frames"]
    assert frames.shape == (FRAMES, 256, 256, 3) and frames.dtype == np.uint8
    assert np.isfinite(made["fps"]) and made["fps"] > 0
    # eq 19 keeps I_ori outside the face mask: there the output must be the clip's own ground-truth frames
    video = load_video_dataset("speaker_a", resolution=256)
    for t, index in enumerate(clip.frame_indices):
        outside = np.asarray(video.face_mask[index]) == 0
        truth = video.frames[index][outside].astype(int)
        assert outside.mean() > 0.5
        assert np.abs(frames[t][outside].astype(int) - truth).max() <= 1
    # and a neighbouring frame's background differs (the check can fail)
    first = clip.frame_indices[0]
    outside = np.asarray(video.face_mask[first]) == 0
    assert np.abs(frames[0][outside].astype(int) - video.frames[first - 40][outside].astype(int)).max() > 1


def test_gaussian_row_rejects_audio_that_does_not_match_the_clip():
    clip = ev.self_driven_clips(speakers=("speaker_a",), max_frames=FRAMES)[0]
    clip.frame_indices = clip.frame_indices[:2]
    clip.audio = clip.audio[: 640 * 2 + 100]  # 2.2 frames of audio: the pipeline makes 3, the clip has 2
    with pytest.raises(ValueError, match="frames"):
        ev.gaussian_method()(ev.eval_head(clip.head), clip)
