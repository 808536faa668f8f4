"""The pipeline's test-time ablations: ``blendshapes=False`` (no eqs 16–18), ``inpaint=False`` (eq 19, F = identity)."""

import numpy as np
import pytest
import torch

from talkinghead_edu.pipeline import TalkingHead

RESOLUTION = 64  # the shipped 256² heads rendered small keep the tests quick
BLENDSHAPE_WEIGHTS = ("bs_pos", "bs_rot", "bs_color")


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _load(**options) -> TalkingHead:
    return TalkingHead.load("speaker_a", style="average", resolution=RESOLUTION, **options)


@pytest.fixture(scope="module")
def full():
    return _load()


@pytest.fixture(scope="module")
def motion_and_frame(full):
    """A voiced test signal's motion and the frame where the predicted jaw is opened widest."""
    t = np.arange(16000) / 16000
    audio = (0.3 * np.sign(np.sin(2 * np.pi * 140 * t)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    motion = full.speak(audio, sample_rate=16000).motion
    return motion, int(motion.jaw_pose.norm(dim=-1).argmax())


def _mask(head: TalkingHead, motion, t: int) -> np.ndarray:
    return head.layers(motion, t)[2][0].numpy() > 0.5


def test_switches_are_stored_and_shown():
    head = _load(blendshapes=False, inpaint=False)
    assert head.blendshapes is False and head.inpaint is False
    assert "blendshapes=False, inpaint=False" in repr(head)
    assert "blendshapes=True, inpaint=True" in repr(_load())


def test_without_blendshapes_equals_a_head_with_zeroed_blendshape_weights(full, motion_and_frame):
    motion, t = motion_and_frame
    # the shipped head learned blendshapes (else the ablation would be empty)
    assert all(full.head.gaussian_params[name].abs().max() > 0 for name in BLENDSHAPE_WEIGHTS)
    without = _load(blendshapes=False)
    zeroed = _load()
    for name in BLENDSHAPE_WEIGHTS:
        zeroed.head.gaussian_params[name].data.zero_()
    frame, frame_without, frame_zeroed = (h.render_frame(motion, t) for h in (full, without, zeroed))
    np.testing.assert_array_equal(frame_without, frame_zeroed)
    inside = _mask(full, motion, t)
    difference = np.abs(frame.astype(int) - frame_without.astype(int))
    assert difference[inside].mean() > 0.5, "switching the blendshapes off must change the face"
    assert difference[~inside].max() <= 1  # outside the face mask both are the original frame (eq 19)


def test_without_inpainting_pastes_the_render_inside_the_mask(full, motion_and_frame):
    motion, t = motion_and_frame
    pasted = _load(inpaint=False)
    gaussian_image, original, mask = pasted.layers(motion, t)
    m = mask[..., None]
    expected = ((m * gaussian_image + (1 - m) * original)[0] * 255.0 + 0.5).to(torch.uint8).numpy()
    frame_pasted = pasted.render_frame(motion, t)
    np.testing.assert_array_equal(frame_pasted, expected)
    inside = mask[0].numpy() > 0.5
    difference = np.abs(full.render_frame(motion, t).astype(int) - frame_pasted.astype(int))
    assert difference[inside].mean() > 0.5, "the generator F must change the face region"
    assert difference[~inside].max() <= 1
