"""The Wav2Vec 2.0-structured encoder: shapes, 25 fps alignment, padding, CTC overfit, safe checkpoints."""

from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from talkinghead_edu.audio.encoder import (
    AudioEncoder,
    EncoderConfig,
    ctc_greedy_decode,
    encode_phonemes,
    load_encoder,
    load_encoder_checkpoint,
    normalize_phoneme,
    save_encoder,
)
from talkinghead_edu.recipes.train_audio import AsrConfig, build_vocabulary, train_asr

TINY = dict(
    conv_channels=32, dim=32, n_layers=2, n_heads=2, ff_dim=64, pos_conv_kernel=7, pos_conv_groups=4, dropout=0.0
)


def _tiny(vocabulary=("a", "b", "c")):
    torch.manual_seed(0)
    return AudioEncoder(EncoderConfig(vocabulary=list(vocabulary), **TINY)).eval()


def test_shapes_and_frame_rate():
    encoder = _tiny()
    wave = torch.randn(3, 640 * 7) * 0.1
    features = encoder.frame_features(wave)
    assert features.shape == (3, 7, encoder.feature_dim)  # T = L // 640 at 25 fps
    logits = encoder.phoneme_logits(wave)
    assert logits.shape == (3, 14, 4)  # 50 steps/s, vocabulary + blank
    hidden, valid = encoder.encode(wave)
    torch.testing.assert_close(features, hidden.reshape(3, 7, 2, -1).mean(2))  # two 20 ms steps per frame
    assert valid.all()


def test_rejects_lengths_that_are_not_whole_frames():
    with pytest.raises(ValueError, match="multiple of 640"):
        _tiny().frame_features(torch.zeros(1, 1000))
    with pytest.raises(ValueError, match=r"\(B, L\)"):
        _tiny().frame_features(torch.zeros(640))


def test_a_clip_alone_equals_the_clip_padded_in_a_batch():
    encoder = _tiny()
    wave = torch.randn(2, 640 * 20) * 0.1
    alone = encoder.frame_features(wave[:1, : 640 * 12])
    padded = wave.clone()
    padded[0, 640 * 12 :] = 0
    batched = encoder.frame_features(padded, torch.tensor([640 * 12, 640 * 20]))
    torch.testing.assert_close(batched[:1, :12], alone, atol=1e-5, rtol=1e-5)


def test_normalize_phoneme_and_vocabulary_ids():
    assert normalize_phoneme("ˈaː") == "a"
    assert normalize_phoneme("d\u200dʒ") == "dʒ"
    assert normalize_phoneme("ɑ̃") == "ɑ"
    assert normalize_phoneme("i˥˩") == "i"
    assert normalize_phoneme("  ") == ""
    assert encode_phonemes(["ˈa", "x", "", "b", "aː"], ["a", "b"]) == [1, 2, 1]


def test_ctc_greedy_decode_merges_repeats_and_drops_blanks():
    path = torch.tensor([[0, 1, 1, 0, 1, 2, 2, 0]])
    logits = F.one_hot(path, 3).float()
    assert ctc_greedy_decode(logits) == [[1, 1, 2]]
    assert ctc_greedy_decode(logits, torch.tensor([[True] * 3 + [False] * 5])) == [[1]]


@dataclass
class _Phone:
    symbol: str


@dataclass
class _Utterance:
    audio: np.ndarray
    phonemes: list


def _tone_utterance(symbols, seed):
    """Each 'phoneme' is a 120 ms tone at its own frequency (a: 300 Hz, b: 800 Hz, c: 1800 Hz)."""
    rng = np.random.default_rng(seed)
    freq = {"a": 300.0, "b": 800.0, "c": 1800.0}
    t = np.arange(1920) / 16000
    pieces = (
        [np.zeros(640)] + [np.sin(2 * np.pi * freq[s] * t + rng.uniform(0, 6)) * 0.3 for s in symbols] + [np.zeros(640)]
    )
    wave = np.concatenate(pieces) + 0.01 * rng.standard_normal(sum(len(p) for p in pieces))
    wave = np.pad(wave, (0, (-len(wave)) % 640)).astype(np.float32)
    return _Utterance(wave, [_Phone(s) for s in symbols])


def test_ctc_loss_decreases_on_a_tiny_overfit():
    torch.manual_seed(0)
    utterances = [_tone_utterance(s, i) for i, s in enumerate(["abc", "cab", "bca", "acb"])]
    assert build_vocabulary(utterances) == ["a", "b", "c"]
    encoder, history = train_asr(
        utterances, EncoderConfig(vocabulary=[], **TINY), AsrConfig(epochs=40, batch_size=4, lr=3e-3), progress=False
    )
    assert history[-1]["ctc"] < 0.5 * history[0]["ctc"], [h["ctc"] for h in history]
    decoded = ctc_greedy_decode(encoder.phoneme_logits(torch.from_numpy(utterances[0].audio)[None]))[0]
    assert [encoder.vocabulary[i - 1] for i in decoded] == ["a", "b", "c"]


def test_checkpoint_round_trip_is_safetensors(tmp_path):
    encoder = _tiny(["p", "b", "m"])
    encoder.mel_mean.fill_(-3.0)
    path = save_encoder(tmp_path / "enc.safetensors", encoder, {"note": "test"})
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:  # plain tensors, readable without any pickle
        assert "ctc_head.weight" in fh.keys()
    loaded = load_encoder_checkpoint(path)
    assert loaded.vocabulary == ["p", "b", "m"] and loaded.training_meta == {"note": "test"}
    wave = torch.randn(2, 640 * 5) * 0.1
    torch.testing.assert_close(loaded.frame_features(wave), encoder.frame_features(wave))
    assert load_encoder(str(path)).feature_dim == 32


def test_checkpoint_errors(tmp_path):
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="not a safetensors checkpoint"):
        load_encoder_checkpoint(garbage)
    from talkinghead_edu.utils.io import save_checkpoint

    save_checkpoint(tmp_path / "other.safetensors", {"x": torch.zeros(1)})
    with pytest.raises(ValueError, match="not an audio encoder"):
        load_encoder_checkpoint(tmp_path / "other.safetensors")
    with pytest.raises(ValueError, match="unknown encoder"):
        load_encoder("no-such-encoder")
    with pytest.raises(FileNotFoundError):
        load_encoder_checkpoint(tmp_path / "missing.safetensors")


@pytest.mark.parametrize("name", ["asr", "universal"])
def test_bundled_checkpoints(name):
    from talkinghead_edu.audio.encoder import ENCODER_NAMES
    from talkinghead_edu.paths import dataset_root

    path = dataset_root() / "checkpoints" / ENCODER_NAMES[name]
    assert path.stat().st_size <= 4 * 2**20, f"{path} is larger than the 4 MB budget"
    encoder = load_encoder(name)
    # the command that made it (its module moved to recipes/ in the package-layout change; same code, same arguments)
    _, _, module, *arguments = encoder.training_meta["command"].split()
    assert module in {"talkinghead_edu.recipes.train_audio", "talkinghead_edu.audio.train"} and arguments[0] == name
    features = encoder.frame_features(torch.zeros(1, 640 * 3))
    assert features.shape == (1, 3, encoder.feature_dim) and torch.isfinite(features).all()


def test_windowed_features_cover_every_frame_and_equal_one_pass_when_the_window_holds_the_clip():
    encoder = _tiny()
    wave = torch.randn(1, 640 * 37)
    full = encoder.frame_features(wave)
    encoder.window_frames, encoder.context_frames = 10, 40  # the context reaches over the whole clip
    assert torch.allclose(encoder.frame_features(wave), full, atol=1e-5)
    encoder.context_frames = 3
    assert encoder.frame_features(wave).shape == full.shape  # 4 windows of <= 10 frames, nothing lost


def test_windowed_universal_features_match_one_pass_on_a_short_clip():
    """20 s of speech in windows of 10 s (+4 s context each side) vs one full-attention pass.

    ``E_uni`` attends over the whole input, so windowing is not exact; the features must stay
    close and the motion they drive must barely change (jaw within 5 % of its RMS, median).
    """
    from talkinghead_edu.data.video_dataset import load_video_dataset
    from talkinghead_edu.motion.train import load_translator
    from talkinghead_edu.paths import dataset_root

    torch.manual_seed(0)
    encoder = load_encoder("universal")
    wave = torch.from_numpy(load_video_dataset("speaker_b", resolution=16).audio[: 16000 * 20])[None]
    with torch.no_grad():
        full = encoder.frame_features(wave)  # 500 frames: one pass
        encoder.window_frames, encoder.context_frames = 250, 100
        windowed = encoder.frame_features(wave)
    relative = (windowed - full).norm(dim=-1) / full.norm(dim=-1)
    assert windowed.shape == full.shape
    assert float(relative.median()) < 0.08 and float(relative.quantile(0.95)) < 0.12, (
        float(relative.median()),
        float(relative.quantile(0.95)),
    )
    translator = load_translator(
        dataset_root() / "checkpoints" / "motion_translator.safetensors", attach_feature_extractor=False
    )
    jaw_full = translator.predict(full[0], translator.speakers[0]).jaw_pose[:, 0]
    jaw_windowed = translator.predict(windowed[0], translator.speakers[0]).jaw_pose[:, 0]
    assert float((jaw_windowed - jaw_full).abs().median()) < 0.05 * float(jaw_full.pow(2).mean().sqrt())
