"""Contrastive decoupling: Fig. 3 sampling, InfoNCE (eq 2) by hand and at its limits, CTC content loss (eq 3), metrics."""
import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from talkinghead_edu import decoupling as dc
from talkinghead_edu.audio.encoder import AudioEncoder, EncoderConfig


def test_info_nce_by_hand():
    anchor = torch.tensor([[1.0, 0.0]])
    positive = torch.tensor([[0.6, 0.8]])
    negatives = torch.tensor([[[0.0, 1.0], [-1.0, 0.0]]])
    tau = 0.5
    # cosines: positive 0.6, negatives 0.0 and -1.0
    paper = -math.log(math.exp(0.6 / tau) / (math.exp(0.0 / tau) + math.exp(-1.0 / tau)))
    usual = -math.log(math.exp(0.6 / tau) / (math.exp(0.6 / tau) + math.exp(0.0 / tau) + math.exp(-1.0 / tau)))
    assert dc.info_nce(anchor, positive, negatives, tau) == pytest.approx(paper, abs=1e-6)
    assert dc.info_nce(anchor, positive, negatives, tau, include_positive=True) == pytest.approx(usual, abs=1e-6)
    # normalisation: scaling a feature does not change a cosine
    assert dc.info_nce(3 * anchor, positive, 2 * negatives, tau) == pytest.approx(paper, abs=1e-6)


@pytest.mark.parametrize("k", [1, 4, 9])
def test_info_nce_limit_with_identical_features(k):
    """All features equal: eq 2 as printed -> log k (positive not in the sum); usual form -> log (k + 1)."""
    feature = torch.randn(3, 8)
    negatives = feature[:, None].repeat(1, k, 1)
    assert dc.info_nce(feature, feature, negatives, 0.07) == pytest.approx(math.log(k), abs=1e-5)
    assert dc.info_nce(feature, feature, negatives, 0.07, include_positive=True) == pytest.approx(math.log(k + 1), abs=1e-5)


def test_info_nce_gradient_matches_finite_differences():
    torch.manual_seed(0)
    anchor = torch.randn(2, 5, dtype=torch.float64, requires_grad=True)
    positive, negatives = torch.randn(2, 5, dtype=torch.float64), torch.randn(2, 3, 5, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a: dc.info_nce(a, positive, negatives, 0.3), (anchor,))


def test_info_nce_shape_errors():
    with pytest.raises(ValueError, match="negatives"):
        dc.info_nce(torch.zeros(2, 4), torch.zeros(2, 4), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="temperature"):
        dc.info_nce(torch.zeros(1, 4), torch.zeros(1, 4), torch.zeros(1, 2, 4), temperature=0.0)


def test_split_segments_and_figure3_sampling():
    wave = np.arange(640 * 10, dtype=np.float32)
    segments = dc.split_segments(wave, k=4)
    assert segments.shape == (5, 1280)
    np.testing.assert_array_equal(segments.reshape(-1), wave)
    with pytest.raises(ValueError, match="too short"):
        dc.split_segments(wave, k=4, segment_samples=1920)
    with pytest.raises(ValueError, match="multiple of 640"):
        dc.split_segments(wave, k=1, segment_samples=1000)

    def flip(clip, rng):  # a stand-in "timbre conversion" that is easy to recognise
        return -clip, {"flipped": True}

    sample = dc.sample_contrastive_set(wave, k=3, segment_samples=640, rng=np.random.default_rng(0), timbre_fn=flip)
    assert sample.negatives.shape == (3, 640) and sample.anchor.shape == sample.positive.shape == (640,)
    np.testing.assert_array_equal(sample.positive, -sample.anchor)
    everything = np.concatenate([sample.anchor[None], sample.negatives])
    starts = sorted(int(s[0]) for s in everything)
    assert np.all(np.diff(starts) == 640)  # k + 1 consecutive, disjoint segments of one stretch
    assert all(not np.array_equal(n, sample.anchor) for n in sample.negatives)


def test_content_preservation_loss_is_small_when_student_equals_a_confident_teacher():
    path = torch.tensor([[0, 1, 1, 0, 2, 0, 3, 3, 0, 0]])
    confident = 20.0 * F.one_hot(path, 4).float()
    same = dc.content_preservation_loss(confident, confident)
    wrong = dc.content_preservation_loss(20.0 * F.one_hot(torch.tensor([[0, 3, 3, 0, 1, 0, 2, 2, 0, 0]]), 4).float(), confident)
    assert float(same) < 1e-3 < 1.0 < float(wrong)


def test_edit_distance_and_pooling():
    assert dc.edit_distance("kitten", "sitting") == 3
    assert dc.edit_distance([], [1, 2]) == 2 and dc.edit_distance([1, 2, 3], [1, 2, 3]) == 0
    features = torch.tensor([[[1.0], [3.0], [100.0]]])
    assert float(dc.pooled_features(features, torch.tensor([[True, True, False]]))[0, 0]) == 2.0


def test_speaker_probe_separable_vs_random():
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(4).repeat(30)
    centres = torch.randn(4, 16, generator=generator) * 3
    x = centres[labels] + torch.randn(120, 16, generator=generator)
    assert dc.speaker_probe_accuracy(x[:80], labels[:80], x[80:], labels[80:]) == 1.0
    noise = torch.randn(120, 16, generator=generator)  # no speaker information at all
    assert dc.speaker_probe_accuracy(noise[:80], labels[:80], noise[80:], labels[80:]) < 0.5


@dataclass
class _Utterance:
    speaker: str
    sentence_id: str


def test_same_sentence_similarity():
    utterances = [_Utterance("a", "s1"), _Utterance("b", "s1"), _Utterance("a", "s2")]
    pooled = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    result = dc.same_sentence_similarity(pooled, utterances)
    assert result == {"same_sentence_other_speaker": pytest.approx(1.0), "other_sentence_same_speaker": pytest.approx(0.0)}


def test_fine_tune_runs_and_keeps_the_decoder_frozen():
    torch.manual_seed(0)
    asr = AudioEncoder(EncoderConfig(vocabulary=["a", "b"], conv_channels=16, dim=16, n_layers=1, n_heads=2, ff_dim=32, pos_conv_kernel=5, pos_conv_groups=4)).eval()
    rng = np.random.default_rng(0)
    audio = {s: (0.1 * rng.standard_normal(640 * 30)).astype(np.float32) for s in ("s1", "s2")}
    config = dc.DecouplingConfig(steps=3, k=2, segment_seconds=0.2, speakers_per_step=2, lr=1e-2)
    before = {n: p.clone() for n, p in asr.state_dict().items()}
    universal, history = dc.fine_tune_universal(asr, audio, config, progress=False, timbre_fn=lambda clip, rng: (clip[::-1].copy(), {}))
    assert len(history) == 3 and all(np.isfinite(h["loss"]) for h in history)
    torch.testing.assert_close(universal.ctc_head.weight, before["ctc_head.weight"])  # D_asr frozen
    assert not torch.equal(universal.transformer.layers[0].linear1.weight, before["transformer.layers.0.linear1.weight"])
    for name, value in asr.state_dict().items():  # E_asr itself is left untouched
        torch.testing.assert_close(value, before[name])


@dataclass
class _AudioUtterance:
    speaker: str
    audio: np.ndarray


def test_speaker_confusion_counts_every_held_out_segment():
    """Rows = true speaker, columns = probe's answer; the diagonal share equals the probe accuracy."""
    torch.manual_seed(0)
    encoder = AudioEncoder(EncoderConfig(vocabulary=["a"], conv_channels=16, dim=16, n_layers=1, n_heads=2, ff_dim=32, pos_conv_kernel=5, pos_conv_groups=4)).eval()
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000

    def clip(speaker):  # 1 s: a low hum for "low", a high whistle for "high", plus noise
        tone = np.sin(2 * np.pi * (150 if speaker == "low" else 2500) * t)
        return (0.3 * tone + 0.05 * rng.standard_normal(t.size)).astype(np.float32)

    train = [_AudioUtterance(s, clip(s)) for s in ("low", "high") for _ in range(6)]
    test = [_AudioUtterance(s, clip(s)) for s in ("low", "high") for _ in range(3)]
    speakers, counts = dc.speaker_confusion(encoder, train, test)
    assert speakers == ["high", "low"] and counts.shape == (2, 2)
    assert counts.sum() == 6 and (counts.sum(1) == 3).all()  # one 1 s segment per test clip
    x_train, y_train, x_test, y_test, _, _ = dc._probe_data(encoder, train, test)
    assert np.trace(counts) / counts.sum() == pytest.approx(dc.speaker_probe_accuracy(x_train, y_train, x_test, y_test))
    assert np.trace(counts) == 6  # the two "voices" are trivially separable
    with pytest.raises(ValueError, match="no training utterances"):
        dc.speaker_confusion(encoder, train, [_AudioUtterance("stranger", clip("low"))])
