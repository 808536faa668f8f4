"""Contrastive decoupling: Fig. 3 sampling, InfoNCE (eq 2) by hand and at its limits, CTC content loss (eq 3),
metrics."""

import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from talkinghead_edu import decoupling as dc
from talkinghead_edu.audio.encoder import AudioEncoder, EncoderConfig
from talkinghead_edu.data.speech import Phoneme


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
    assert dc.info_nce(feature, feature, negatives, 0.07, include_positive=True) == pytest.approx(
        math.log(k + 1), abs=1e-5
    )


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


def test_parallel_positive_is_the_aligned_span_else_the_timbre_conversion():
    wave = np.arange(640 * 10, dtype=np.float32)
    parallel = np.stack([-wave, np.full_like(wave, np.nan)])  # row 0: "another voice" = -wave; row 1: no recording

    def flip(clip, rng):
        return clip[::-1].copy(), {"reversed": True}

    kinds = set()
    for seed in range(20):
        sample = dc.sample_contrastive_set(
            wave, k=3, segment_samples=640, rng=np.random.default_rng(seed), timbre_fn=flip, parallel=parallel
        )
        if sample.timbre == {"parallel_row": 0}:
            np.testing.assert_array_equal(
                sample.positive, -sample.anchor
            )  # the span under the anchor, sample for sample
        else:
            assert sample.timbre == {"reversed": True}
            np.testing.assert_array_equal(sample.positive, sample.anchor[::-1])
        kinds.add(next(iter(sample.timbre)))
    assert kinds == {"parallel_row", "reversed"}
    with pytest.raises(ValueError, match="aligned to waveform"):
        dc.sample_contrastive_set(
            wave, k=3, segment_samples=640, rng=np.random.default_rng(0), parallel=parallel[:, :100]
        )


@dataclass
class _SpokenUtterance:
    speaker: str
    sentence_id: str
    audio: np.ndarray
    phonemes: list
    sample_rate: int = 16000


def _voiced(phone_seconds, f0, rng):
    """A buzzy vowel-like signal with a 40 ms silence after each phone; returns (audio, phones)."""
    pieces, phones, start = [], [], 0
    for symbol, seconds in phone_seconds:
        n = int(round(seconds * 16000))
        pieces += [0.3 * sum(np.sin(2 * np.pi * h * f0 * np.arange(n) / 16000) / h for h in range(1, 6)), np.zeros(640)]
        phones += [
            Phoneme(symbol, "", start / 16000, (start + n) / 16000),
            Phoneme("", "sil", (start + n) / 16000, (start + n + 640) / 16000),
        ]
        start += n + 640
    audio = np.concatenate(pieces)
    return (audio + 1e-4 * rng.standard_normal(audio.size)).astype(np.float32), phones


def test_warp_to_timing_moves_phones_onto_the_target_boundaries():
    from talkinghead_edu.audio.timbre import warp_to_timing

    rng = np.random.default_rng(0)
    source, source_phones = _voiced([("a", 0.30), ("i", 0.10)], 120.0, rng)
    target, target_phones = _voiced([("a", 0.15), ("i", 0.25)], 200.0, rng)
    bounds = lambda phones: [p.start_s for p in phones] + [phones[-1].end_s]
    warped = warp_to_timing(source, bounds(source_phones), bounds(target_phones), len(target))
    assert warped.shape == target.shape and warped.dtype == np.float32
    np.testing.assert_array_equal(
        warped, warp_to_timing(source, bounds(source_phones), bounds(target_phones), len(target))
    )  # repeatable
    # the silent gaps of the result fall where the target's are (within 15 ms), not where the source's were
    energy = np.convolve(warped.astype(np.float64) ** 2, np.ones(160) / 160, mode="same")
    for gap in (target_phones[1], target_phones[3]):
        middle = int((gap.start_s + gap.end_s) / 2 * 16000)
        voiced_level = energy[int(0.05 * 16000)]
        assert energy[middle] < 0.05 * voiced_level
    source_gap_middle = int((source_phones[1].start_s + source_phones[1].end_s) / 2 * 16000)
    assert energy[source_gap_middle] > 0.2 * energy[int(0.05 * 16000)]  # ... which is voiced now
    with pytest.raises(ValueError, match="one length"):
        warp_to_timing(source, [0.0, 0.1], [0.0, 0.1, 0.2], 1000)
    with pytest.raises(ValueError, match="non-decreasing"):
        warp_to_timing(source, [0.0, 0.2, 0.1], [0.0, 0.1, 0.2], 1000)


def test_one_timing_warper_reused_for_several_targets_equals_fresh_warps():
    """parallel_positives analyses each recording once and warps it onto every other speaker's timing."""
    from talkinghead_edu.audio.timbre import TimingWarper, warp_to_timing

    rng = np.random.default_rng(2)
    source, source_phones = _voiced([("a", 0.30), ("i", 0.10), ("u", 0.2)], 120.0, rng)
    bounds = lambda phones: [p.start_s for p in phones] + [phones[-1].end_s]
    targets = [_voiced([("a", a), ("i", i), ("u", u)], 200.0, rng) for a, i, u in ((0.15, 0.25, 0.1), (0.4, 0.05, 0.3))]
    warper = TimingWarper(source)
    for target, target_phones in targets + targets[:1]:  # the first target again, after the second
        np.testing.assert_array_equal(
            warper(bounds(source_phones), bounds(target_phones), len(target)),
            warp_to_timing(source, bounds(source_phones), bounds(target_phones), len(target)),
        )
    with pytest.raises(ValueError, match="length must be > 0"):
        warper(bounds(source_phones), bounds(source_phones), 0)


def test_parallel_positives_align_shared_sentences_and_mark_the_rest():
    rng = np.random.default_rng(1)
    utterances = []
    for speaker, f0, scale in (("low", 110.0, 1.0), ("high", 220.0, 1.4)):
        for sentence, phones in (("shared", [("a", 0.2), ("o", 0.1)]), (f"only_{speaker}", [("e", 0.15)])):
            audio, timed = _voiced([(s, d * scale) for s, d in phones], f0, rng)
            utterances.append(_SpokenUtterance(speaker, sentence, audio, timed))
    tracks = dc.parallel_positives(utterances, progress=False)
    audio = dc.speaker_audio(utterances)
    for speaker in ("low", "high"):
        shared, own = (u for u in utterances if u.speaker == speaker)
        assert tracks[speaker].shape == (1, len(audio[speaker]))
        assert np.isfinite(tracks[speaker][0, : len(shared.audio)]).all()
        assert np.isnan(tracks[speaker][0, len(shared.audio) :]).all()  # nobody else spoke that sentence


def test_consistency_loss_by_hand_and_feature_scale():
    anchor = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    positive = torch.tensor([[0.0, 2.0], [0.0, 4.0]])
    scale = torch.tensor([1.0, 2.0])
    # standardised differences: (1, 0) and (0, -2) -> squares 1, 0, 0, 4 -> mean 1.25
    assert float(dc.consistency_loss(anchor, positive, scale)) == pytest.approx(1.25)
    torch.manual_seed(0)
    encoder = AudioEncoder(
        EncoderConfig(
            vocabulary=["a"],
            conv_channels=16,
            dim=16,
            n_layers=1,
            n_heads=2,
            ff_dim=32,
            pos_conv_kernel=5,
            pos_conv_groups=4,
        )
    ).eval()
    rng = np.random.default_rng(0)
    spread = dc.feature_scale(
        encoder, {"s": (0.1 * rng.standard_normal(640 * 20)).astype(np.float32)}, segment_samples=640 * 4
    )
    assert spread.shape == (16,) and bool((spread > 0).all())


def test_content_preservation_loss_is_small_when_student_equals_a_confident_teacher():
    path = torch.tensor([[0, 1, 1, 0, 2, 0, 3, 3, 0, 0]])
    confident = 20.0 * F.one_hot(path, 4).float()
    same = dc.content_preservation_loss(confident, confident)
    wrong = dc.content_preservation_loss(
        20.0 * F.one_hot(torch.tensor([[0, 3, 3, 0, 1, 0, 2, 2, 0, 0]]), 4).float(), confident
    )
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
    assert result == {
        "same_sentence_other_speaker": pytest.approx(1.0),
        "other_sentence_same_speaker": pytest.approx(0.0),
    }


def test_fine_tune_runs_and_keeps_the_decoder_frozen():
    torch.manual_seed(0)
    asr = AudioEncoder(
        EncoderConfig(
            vocabulary=["a", "b"],
            conv_channels=16,
            dim=16,
            n_layers=1,
            n_heads=2,
            ff_dim=32,
            pos_conv_kernel=5,
            pos_conv_groups=4,
        )
    ).eval()
    rng = np.random.default_rng(0)
    audio = {s: (0.1 * rng.standard_normal(640 * 30)).astype(np.float32) for s in ("s1", "s2")}
    config = dc.DecouplingConfig(
        steps=3, k=2, segment_seconds=0.2, speakers_per_step=2, lr=1e-2, positives="timbre", lambda_consistency=0.0
    )
    before = {n: p.clone() for n, p in asr.state_dict().items()}
    universal, history = dc.fine_tune_universal(
        asr, audio, config, progress=False, timbre_fn=lambda clip, rng: (clip[::-1].copy(), {})
    )
    assert len(history) == 3 and all(np.isfinite(h["loss"]) for h in history)
    torch.testing.assert_close(universal.ctc_head.weight, before["ctc_head.weight"])  # D_asr frozen
    assert not torch.equal(
        universal.transformer.layers[0].linear1.weight, before["transformer.layers.0.linear1.weight"]
    )
    for name, value in asr.state_dict().items():  # E_asr itself is left untouched
        torch.testing.assert_close(value, before[name])


@dataclass
class _AudioUtterance:
    speaker: str
    audio: np.ndarray


def test_speaker_confusion_counts_every_held_out_segment():
    """Rows = true speaker, columns = probe's answer; the diagonal share equals the probe accuracy."""
    torch.manual_seed(0)
    encoder = AudioEncoder(
        EncoderConfig(
            vocabulary=["a"],
            conv_channels=16,
            dim=16,
            n_layers=1,
            n_heads=2,
            ff_dim=32,
            pos_conv_kernel=5,
            pos_conv_groups=4,
        )
    ).eval()
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


def test_fine_tune_with_parallel_positives_and_consistency():
    torch.manual_seed(0)
    asr = AudioEncoder(
        EncoderConfig(
            vocabulary=["a", "b"],
            conv_channels=16,
            dim=16,
            n_layers=1,
            n_heads=2,
            ff_dim=32,
            pos_conv_kernel=5,
            pos_conv_groups=4,
        )
    ).eval()
    rng = np.random.default_rng(0)
    audio = {s: (0.1 * rng.standard_normal(640 * 30)).astype(np.float32) for s in ("s1", "s2")}
    parallel = {"s1": audio["s2"][None], "s2": audio["s1"][None]}  # pretend each recorded the other's words
    config = dc.DecouplingConfig(
        steps=3, k=2, segment_seconds=0.2, speakers_per_step=2, lr=1e-2, lambda_consistency=5.0, cosine_decay=False
    )
    with pytest.raises(ValueError, match="parallel_positives"):
        dc.fine_tune_universal(asr, audio, config, progress=False)
    universal, history = dc.fine_tune_universal(asr, audio, config, progress=False, parallel=parallel)
    assert len(history) == 3 and all(h["cons"] > 0 and np.isfinite(h["loss"]) for h in history)
    assert all(
        h["loss"] == pytest.approx(h["adv"] + config.lambda_text * h["text"] + 5.0 * h["cons"], rel=1e-5)
        for h in history
    )
    assert [h["lr"] for h in history] == [config.lr] * 3  # constant without cosine decay


def test_cosine_decay_of_the_learning_rate():
    torch.manual_seed(0)
    asr = AudioEncoder(
        EncoderConfig(
            vocabulary=["a", "b"],
            conv_channels=16,
            dim=16,
            n_layers=1,
            n_heads=2,
            ff_dim=32,
            pos_conv_kernel=5,
            pos_conv_groups=4,
        )
    ).eval()
    audio = {s: (0.1 * np.random.default_rng(0).standard_normal(640 * 30)).astype(np.float32) for s in ("s1", "s2")}
    config = dc.DecouplingConfig(
        steps=4,
        k=2,
        segment_seconds=0.2,
        speakers_per_step=2,
        lr=1e-2,
        positives="timbre",
        lambda_consistency=0.0,
        cosine_decay=True,
    )
    _, history = dc.fine_tune_universal(
        asr, audio, config, progress=False, timbre_fn=lambda clip, rng: (clip[::-1].copy(), {})
    )
    expected = [1e-2 * 0.5 * (1 + math.cos(math.pi * step / 4)) for step in range(4)]  # 1e-2, 8.5e-3, 5e-3, 1.5e-3
    assert [h["lr"] for h in history] == pytest.approx(expected)
