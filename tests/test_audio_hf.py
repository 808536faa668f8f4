"""Loading a user's Wav2Vec 2.0 checkpoint: a tiny randomly initialised Wav2Vec2ForCTC saved to a temp dir."""

import json

import pytest
import torch

transformers = pytest.importorskip(
    "transformers", reason="transformers is an optional dependency (pip install 'talkinghead_edu[hf]')"
)

from talkinghead_edu.audio.encoder import load_encoder  # noqa: E402
from talkinghead_edu.audio.hf import load_hf_encoder  # noqa: E402


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    config = transformers.Wav2Vec2Config(
        vocab_size=5,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
    )
    model = transformers.Wav2Vec2ForCTC(config).eval()
    folder = tmp_path_factory.mktemp("w2v2")
    model.save_pretrained(folder)
    (folder / "vocab.json").write_text(json.dumps({"<pad>": 0, "a": 1, "b": 2, "c": 3, "d": 4}))
    return folder, model


def test_loads_locally_with_the_encoder_interface(tiny_checkpoint):
    folder, model = tiny_checkpoint
    encoder = load_encoder(str(folder))  # a directory -> the Hugging Face path
    assert encoder.feature_dim == 32 and encoder.vocabulary == ["a", "b", "c", "d"]
    wave = torch.randn(2, 640 * 10) * 0.1
    features = encoder.frame_features(wave)
    assert features.shape == (2, 10, 32)  # resampled from 50 steps/s to 25 fps
    hidden, valid = encoder.encode(wave)
    assert hidden.shape[1] == (640 * 10 - 400) // 320 + 1 and valid.all()
    # same numbers as the transformers model called directly on the normalised waveform
    normalised = (wave - wave.mean(1, keepdim=True)) / torch.sqrt(wave.var(1, unbiased=False, keepdim=True) + 1e-7)
    with torch.no_grad():
        reference = model(normalised).logits
    torch.testing.assert_close(encoder.phoneme_logits(wave), reference, atol=1e-4, rtol=1e-4)


def test_bad_inputs_are_clear_errors(tmp_path, tiny_checkpoint):
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_hf_encoder(tmp_path)
    encoder = load_hf_encoder(tiny_checkpoint[0])
    with pytest.raises(ValueError, match="multiple of 640"):
        encoder.frame_features(torch.zeros(1, 1000))
