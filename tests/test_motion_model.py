"""Tests of the identity embedding, fusion (eq 4), banded attention and the decoder's chunking."""

import numpy as np
import pytest
import torch
from _motion_fixtures import one_thread as _one_thread  # noqa: E402

from talkinghead_edu.flame import FlameParams
from talkinghead_edu.motion import (
    BandedSelfAttention,
    IdentityEmbedding,
    MotionDecoder,
    MotionTranslator,
    UnknownSpeakerError,
    fuse_identity,
)

single_thread = pytest.fixture(autouse=True)(_one_thread)


def _translator(**kwargs):
    torch.manual_seed(0)
    return MotionTranslator(
        ["a", "b", "c"], feature_dim=16, n_expr=5, d_model=32, n_layers=2, n_heads=4, window=3, **kwargs
    ).eval()


@pytest.mark.parametrize("frames", [1, 2, 7, 25, 101])
def test_output_shapes_for_any_length(frames):
    translator = _translator()
    sequence = translator.predict(torch.randn(frames, 16), "b")
    assert isinstance(sequence, FlameParams)
    assert sequence.expression.shape == (frames, 5)
    assert sequence.jaw_pose.shape == (frames, 3) and sequence.neck_pose.shape == (frames, 3)
    assert sequence.motion_vector.shape == (frames, 11) and sequence.pose.shape == (frames, 15)


def test_translate_frame_count_from_audio_length():
    translator = _translator()

    def extractor(wave):  # any (B, L) -> (B, L // 640, D) extractor
        return wave.reshape(wave.shape[0], -1, 640)[..., :16]

    for samples in (640, 640 * 13, 640 * 13 + 1, 640 * 40 - 5):
        sequence = translator.translate(torch.randn(samples), "a", feature_extractor=extractor, sample_rate=16000)
        assert sequence.num_frames == -(-samples // 640)
    with pytest.raises(ValueError, match="640"):
        translator.translate(torch.randn(100), "a", feature_extractor=extractor, sample_rate=16000)
    with pytest.raises(ValueError, match="feature extractor"):
        translator.translate(torch.randn(640), "a", sample_rate=16000)


def test_translate_resamples_and_mixes_down_arrays():
    """A 44.1 kHz stereo array of 4 s gives the 100 frames of 4 s, not 4 * 44100 / 640 = 276."""
    translator = _translator()

    def extractor(wave):
        return wave.reshape(wave.shape[0], -1, 640)[..., :16]

    t = np.arange(4 * 44100) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 330 * t)], axis=1).astype(np.float32)
    assert translator.translate(stereo, "a", feature_extractor=extractor, sample_rate=44100).num_frames == 100
    assert (
        translator.translate(torch.from_numpy(stereo), "a", feature_extractor=extractor, sample_rate=44100).num_frames
        == 100
    )


@pytest.mark.parametrize(
    "audio, sample_rate, message",
    [
        (np.zeros(16000, dtype=np.float32), None, "sample_rate"),
        (np.zeros(16000, dtype=np.float32), 0, "positive"),
        (np.zeros(16000, dtype=np.int16), 16000, "int16.*32768"),
        (np.array([0.0, np.nan] * 8000, dtype=np.float32), 16000, "NaN"),
        (np.array([0.0, np.inf] * 8000, dtype=np.float64), 16000, "infinite"),
        (np.zeros((2, 16000), dtype=np.float32), 16000, "channels, samples"),
    ],
)
def test_translate_refuses_unusable_arrays(audio, sample_rate, message):
    translator = _translator()
    with pytest.raises(ValueError, match=message):
        translator.translate(
            audio, "a", feature_extractor=lambda w: w.reshape(1, -1, 640)[..., :16], sample_rate=sample_rate
        )


def test_fusion_is_eq4_sum():
    audio = torch.randn(2, 5, 4)
    identity = torch.randn(2, 4)
    torch.testing.assert_close(fuse_identity(audio, identity), audio + identity[:, None, :])
    assert fuse_identity(audio, None) is audio
    with pytest.raises(ValueError, match="identity features"):
        fuse_identity(audio, torch.randn(2, 3))


def test_identity_embedding_width_and_average():
    embedding = IdentityEmbedding(3, 8)
    assert embedding(torch.tensor([0, 2])).shape == (2, 8)
    torch.testing.assert_close(embedding.average(), embedding.table.weight.mean(0))


def test_banded_attention_mask_and_weights():
    attention = BandedSelfAttention(8, 2, window=2)
    bias = attention.attention_bias(6)
    i, j = torch.meshgrid(torch.arange(6), torch.arange(6), indexing="ij")
    assert torch.isinf(bias[:, (j - i).abs() > 2]).all()
    assert torch.isfinite(bias[:, (j - i).abs() <= 2]).all()
    # inside the band the bias is the learned per-offset table entry
    assert bias[1, 3, 4] == attention.offset_bias[1, 1 + 2]
    _, weights = attention(torch.randn(1, 6, 8), return_attention=True)
    torch.testing.assert_close(weights.sum(-1), torch.ones(1, 2, 6))
    assert (weights[..., (j - i).abs() > 2] == 0).all()


def test_attention_is_local_receptive_field():
    """Changing input frame 0 must not change outputs beyond the receptive field."""
    decoder = MotionDecoder(8, 4, d_model=16, n_layers=2, n_heads=2, window=3, dropout=0.0).eval()
    x = torch.randn(1, 30, 8)
    y = x.clone()
    y[:, 0] = torch.randn(8)  # (a constant shift would vanish in the input LayerNorm)
    field = decoder.receptive_field
    assert field == 6
    out_x, out_y = decoder(x), decoder(y)
    torch.testing.assert_close(out_x[:, field + 1 :], out_y[:, field + 1 :])
    assert (out_x[:, :field] - out_y[:, :field]).abs().max() > 1e-4


def test_chunked_decoding_has_no_seams():
    """Chunks with receptive-field context reproduce the single pass to float rounding (tol 1e-5)."""
    decoder = MotionDecoder(8, 4, d_model=16, n_layers=3, n_heads=2, window=4, dropout=0.0).eval()
    x = torch.randn(2, 203, 8)
    with torch.no_grad():
        full = decoder(x)
        chunked = decoder(x, chunk_frames=20)
    torch.testing.assert_close(chunked, full, atol=1e-5, rtol=1e-5)
    # and no jump at a seam larger than the typical frame-to-frame change
    steps = (chunked[:, 1:] - chunked[:, :-1]).abs()
    seams = steps[:, [19, 39, 59, 79]]
    assert seams.max() <= steps.max() + 1e-6


def test_long_audio_uses_chunks_in_eval():
    translator = _translator()
    translator.max_full_frames = 50
    features = torch.randn(180, 16)
    chunked = translator.predict(features, "a").motion_vector
    translator.max_full_frames = 10_000
    torch.testing.assert_close(chunked, translator.predict(features, "a").motion_vector, atol=1e-5, rtol=1e-5)


def test_speaker_styles_and_unknown_speaker():
    translator = _translator()
    features = torch.randn(10, 16)
    a, b = translator.predict(features, "a").motion_vector, translator.predict(features, "b").motion_vector
    assert (a - b).abs().max() > 1e-4  # the embedding changes the motion
    average = translator.predict(features, None).motion_vector
    manual = translator.predict(features, identity_features=translator.identity.average()).motion_vector
    torch.testing.assert_close(average, manual)
    with pytest.raises(UnknownSpeakerError, match="unknown speaker id 'zed'"):
        translator.predict(features, "zed")
    no_identity = _translator(use_identity=False)
    torch.testing.assert_close(
        no_identity.predict(features, "a").motion_vector, no_identity.predict(features, "c").motion_vector
    )
    with pytest.raises(UnknownSpeakerError):
        no_identity.predict(features, "zed")


def test_bad_feature_width():
    with pytest.raises(ValueError, match=r"\(T, 16\)"):
        _translator().predict(torch.randn(10, 15), "a")


def test_normalization_round_trip():
    translator = _translator()
    params = torch.randn(50, 11) * 3 + 1
    translator.set_normalization(params)
    torch.testing.assert_close(translator.denormalize(translator.normalize(params)), params, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(translator.normalize(params).mean(0), torch.zeros(11), atol=1e-5, rtol=0)


def test_sequence_layout():
    params = torch.arange(2 * 11, dtype=torch.float32).reshape(2, 11)
    sequence = FlameParams.from_motion_vector(params)
    torch.testing.assert_close(sequence.motion_vector, params)
    torch.testing.assert_close(sequence.pose[:, 6:9], params[:, 5:8])  # jaw: FLAME joint 2
    torch.testing.assert_close(sequence.pose[:, 3:6], params[:, 8:11])  # neck: FLAME joint 1
    torch.testing.assert_close(sequence.jaw_pose, params[:, 5:8])
    assert torch.equal(sequence.global_pose, torch.zeros(2, 3)) and torch.equal(sequence.translation, torch.zeros(2, 3))
    batched = FlameParams.from_motion_vector(params[None], n_expr=5)
    torch.testing.assert_close(batched.pose, sequence.pose)
    torch.testing.assert_close(FlameParams.from_motion_vector(params.numpy()).pose, sequence.pose.numpy())
    with pytest.raises(ValueError, match="pose"):
        FlameParams(torch.zeros(3, 5), torch.zeros(2, 15))
    with pytest.raises(TypeError, match="NumPy arrays or all"):
        FlameParams(torch.zeros(3, 5), np.zeros((3, 15), np.float32))
    with pytest.raises(ValueError, match="E \\+ 6"):
        FlameParams.from_motion_vector(params, n_expr=4)
