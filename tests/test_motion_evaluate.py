"""Evaluation measures against direct computations on the tiny head."""

import math

import pytest
import torch
from _motion_fixtures import one_thread as _one_thread  # noqa: E402
from _motion_fixtures import synthetic_examples, tiny_head

from talkinghead_edu.motion import MotionTranslator, head_vertices
from talkinghead_edu.motion.evaluate import (
    evaluate_translator,
    jaw_amplitude,
    lip_jitter_mm,
    lip_landmark_distance_mm,
    lip_vertex_error_mm,
    style_ratio,
    summarize,
)

single_thread = pytest.fixture(autouse=True)(_one_thread)


def test_lip_error_is_zero_for_truth_and_matches_direct_computation():
    head = tiny_head()
    g = torch.Generator().manual_seed(0)
    truth, predicted = torch.randn(6, 12, generator=g) * 0.3, torch.randn(6, 12, generator=g) * 0.3
    assert lip_vertex_error_mm(head, truth, truth) == 0.0
    lips = head.lip_vertex_ids
    direct = (
        1000
        * (head_vertices(head, predicted)[:, lips] - head_vertices(head, truth)[:, lips]).norm(dim=-1).mean().item()
    )
    assert lip_vertex_error_mm(head, predicted, truth) == pytest.approx(direct, rel=1e-6)
    assert lip_landmark_distance_mm(head, truth, truth) == 0.0
    assert lip_landmark_distance_mm(head, predicted, truth) > 0.0
    with pytest.raises(ValueError, match="differ"):
        lip_vertex_error_mm(head, predicted[:5], truth)


def test_jitter_of_linear_motion_is_zero_and_jaw_amplitude_closed_form():
    head = tiny_head()
    ramp = torch.linspace(0, 1, 10)[:, None] * torch.cat([torch.zeros(6), torch.zeros(6)])[None]
    ramp[:, :6] = torch.linspace(0, 1, 10)[:, None] * 0.5  # expression changes linearly, no pose: vertices linear in t
    assert lip_jitter_mm(head, ramp) == pytest.approx(0.0, abs=1e-3)
    jaw = torch.tensor([[0.1, 0.0, 0.0], [0.0, 0.3, 0.0], [0.0, 0.0, 0.0]])
    assert jaw_amplitude(jaw) == pytest.approx(math.sqrt((0.01 + 0.09) / 3))


def test_evaluate_summary_and_style_ratio():
    head = tiny_head()
    examples = synthetic_examples(per_speaker=2, frames=20)
    torch.manual_seed(0)
    translator = MotionTranslator(["spk_a", "spk_b"], 16, 6, d_model=16, window=3).eval()
    scores = evaluate_translator(translator, examples, head)
    assert len(scores) == 4 and all(s.lip_error_mm > 0 for s in scores)
    summary = summarize(scores)
    assert set(summary["jaw"]) == {"spk_a", "spk_b"}
    ratio = style_ratio(summary, "spk_b", "spk_a")
    # the synthetic data scale spk_b's motion by 1.8 relative to spk_a
    assert ratio["true"] == pytest.approx(1.8, rel=0.25)
    with pytest.raises(KeyError, match="no scores"):
        style_ratio(summary, "spk_a", "zed")
    unseen = synthetic_examples(speakers=("stranger",), per_speaker=1, frames=20)
    assert evaluate_translator(translator, unseen, head, unseen="nearest")[0].speaker == "stranger"


def test_mouth_probe_matches_full_head_landmarks():
    head = tiny_head()
    params = 0.3 * torch.randn(5, 12, generator=torch.Generator().manual_seed(2))
    from talkinghead_edu.flame import FlameParams
    from talkinghead_edu.motion.evaluate import MouthProbe

    lips, mouth = MouthProbe(head)(params)
    motion = FlameParams.from_motion_vector(params, n_expr=head.n_expr)
    full = head(expression=motion.expression, pose=motion.pose)
    torch.testing.assert_close(lips, full.vertices[:, head.lip_vertex_ids], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(mouth, full.landmarks[:, 48:68], atol=1e-6, rtol=1e-5)
