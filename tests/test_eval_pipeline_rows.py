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


class _Knows:
    """Stands in for a loaded translator: only its ``speakers`` decide the rows."""

    def __init__(self, speakers):
        self.speakers = list(speakers)


@pytest.mark.parametrize(
    "speakers, full, average",
    [
        (["arno", "bruno"], "Gaussian head (full, average style)", False),  # the video speakers are unknown
        (["arno", "speaker_a", "speaker_b"], "Gaussian head (full)", True),  # a translator that knows them
    ],
)
def test_pipeline_rows_follow_what_the_translator_knows(monkeypatch, speakers, full, average):
    monkeypatch.setattr(ev, "_translator", lambda name: _Knows(speakers))
    ablations = [ev.RAW_ASR, ev.NO_BLENDSHAPES, ev.NO_INPAINTING]
    expected = [full] + ([ev.AVERAGE_STYLE] if average else []) + ablations
    assert list(ev.pipeline_methods()) == expected
    # the cross-driven table keeps the methods (and F, which exists for cross-driven mismatches), not Table 3's ablation
    cross = list(ev.cross_driven_methods(pipeline_rows=True))
    assert cross[:4] == [
        "ground truth",
        "mesh + predicted FLAME",
        "mesh + predicted FLAME (raw E_asr)",
        "loudness jaw (floor)",
    ]
    assert cross[4:] == [name for name in expected if name != ev.NO_BLENDSHAPES]
    assert list(ev.self_driven_methods(pipeline_rows=True))[5:] == expected
    assert "mesh + true FLAME" in ev.self_driven_methods(pipeline_rows=False)


def test_the_bundled_translator_gives_the_full_row_its_style_in_the_name():
    knows_heads = {"speaker_a", "speaker_b"} <= set(ev._translator("motion_translator").speakers)
    assert next(iter(ev.pipeline_methods())) == (
        "Gaussian head (full)" if knows_heads else "Gaussian head (full, average style)"
    )


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


def test_ablation_rows_share_the_loaded_head_and_switch_only_their_part():
    clip = ev.self_driven_clips(speakers=("speaker_a",), max_frames=FRAMES)[0]
    full = ev.gaussian_method()(ev.eval_head(clip.head), clip)["frames"]
    loads = ev._talking_head.cache_info().misses
    pasted = ev.gaussian_method(inpaint=False)(ev.eval_head(clip.head), clip)["frames"]
    without = ev.gaussian_method(blendshapes=False)(ev.eval_head(clip.head), clip)["frames"]
    assert ev._talking_head.cache_info().misses == loads  # no second load of the same head
    cached = ev._talking_head("speaker_a", None, "motion_translator")
    assert cached.blendshapes and cached.inpaint  # the switches went on copies
    video = load_video_dataset("speaker_a", resolution=256)
    inside = np.stack([np.asarray(video.face_mask[i]) for i in clip.frame_indices]).astype(bool)
    for frames in (pasted, without):
        difference = np.abs(frames.astype(int) - full.astype(int))
        assert difference[inside].max() > 8  # a visible change on the face (0 if the switch were ignored)
        assert difference[~inside].max() <= 1  # and none outside the face mask (eq 19)


def test_gaussian_row_drives_a_head_with_another_voice():
    clip = ev.cross_driven_clips("speaker_b", split="test_unseen_language", language="de", voices=1)[0]
    clip.audio = clip.audio[: 640 * FRAMES]
    made = ev.gaussian_method()(ev.eval_head(clip.head), clip)
    assert made["frames"].shape == (FRAMES, 256, 256, 3) and np.isfinite(made["fps"])
