"""Training: a tiny overfit, resumable checkpoints, save/load round trip, the lip encoder."""

import pytest
import torch
from _motion_fixtures import one_thread as _one_thread  # noqa: E402
from _motion_fixtures import synthetic_examples, tiny_head

from talkinghead_edu.motion import (
    LipTrainConfig,
    MotionExample,
    TranslatorConfig,
    load_translator,
    save_translator,
    train_lip_encoder,
    train_translator,
)
from talkinghead_edu.motion.features import LogMelFrameFeatures
from talkinghead_edu.motion.losses import reconstruction_loss

single_thread = pytest.fixture(autouse=True)(_one_thread)

SMALL = dict(d_model=32, n_layers=2, n_heads=4, window=4, batch_size=4, crop_frames=20)


def test_tiny_overfit_reaches_near_zero_reconstruction():
    head = tiny_head()
    examples = synthetic_examples(per_speaker=1, frames=24)
    config = TranslatorConfig(steps=300, lr=3e-3, lr_final_fraction=1.0, dropout=0.0, lambda_lat=0.0, **SMALL)
    translator, history = train_translator(examples, head, config, progress=False)
    assert history[-1]["rec"] < 0.02 * history[0]["rec"]
    for example in examples:  # standardized parameter MSE on the training utterances
        predicted = translator.normalize(translator.predict(example.features, example.speaker).motion_vector)
        error = reconstruction_loss(predicted[None], translator.normalize(example.params)[None]).item()
        assert error < 0.01, f"{example.id}: standardized MSE {error:.4f} after overfitting"


def test_resume_equals_uninterrupted(tmp_path, monkeypatch):
    """A run killed after its step-4 checkpoint and restarted finishes with the uninterrupted run's weights."""
    import talkinghead_edu.motion.train as train_module

    head = tiny_head()
    examples = synthetic_examples(per_speaker=1, frames=24)
    config = TranslatorConfig(steps=8, checkpoint_every=4, **SMALL)  # dropout on: the RNG state must be restored too
    full, full_history = train_translator(
        examples, head, config, checkpoint_path=tmp_path / "full.safetensors", progress=False
    )

    real_sample = train_module._sample_crops
    calls = []

    def crash_at_step_6(*args, **kwargs):
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt("simulated crash")
        return real_sample(*args, **kwargs)

    monkeypatch.setattr(train_module, "_sample_crops", crash_at_step_6)
    with pytest.raises(KeyboardInterrupt):
        train_translator(examples, head, config, checkpoint_path=tmp_path / "part.safetensors", progress=False)
    monkeypatch.setattr(train_module, "_sample_crops", real_sample)
    resumed, resumed_history = train_translator(
        examples, head, config, checkpoint_path=tmp_path / "part.safetensors", progress=False
    )
    assert len(resumed_history) == 8
    assert [h["total"] for h in resumed_history] == pytest.approx([h["total"] for h in full_history], rel=1e-5)
    for (name, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        torch.testing.assert_close(a, b, msg=name)
    with pytest.raises(ValueError, match="different settings"):
        train_translator(
            examples,
            head,
            TranslatorConfig(steps=8, lr=1e-4, **SMALL),
            checkpoint_path=tmp_path / "part.safetensors",
            progress=False,
        )


def test_cosine_learning_rate():
    from talkinghead_edu.motion.train import cosine_learning_rate

    config = TranslatorConfig(steps=11, lr=1.0, lr_final_fraction=0.1)
    assert cosine_learning_rate(0, config) == pytest.approx(1.0)
    assert cosine_learning_rate(5, config) == pytest.approx(0.55)
    assert cosine_learning_rate(10, config) == pytest.approx(0.1)


def test_checkpoint_round_trip(tmp_path):
    head = tiny_head()
    examples = synthetic_examples(per_speaker=1, frames=24)
    lip_encoder, _ = train_lip_encoder(
        examples, head, LipTrainConfig(steps=3, batch_size=2, crop_frames=10, hidden=8), progress=False
    )
    translator, history = train_translator(
        examples, head, TranslatorConfig(steps=3, **SMALL), lip_encoder=lip_encoder, progress=False
    )
    path = save_translator(tmp_path / "m.safetensors", translator, lip_encoder, history=history)
    loaded, loaded_lip = load_translator(path, attach_feature_extractor=False, with_lip_encoder=True)
    assert loaded.speakers == translator.speakers and loaded.config == translator.config
    features = examples[0].features
    torch.testing.assert_close(
        loaded.predict(features, "spk_b").motion_vector, translator.predict(features, "spk_b").motion_vector
    )
    lips = torch.randn(1, 5, lip_encoder.num_lip_vertices, 3) * 0.01
    torch.testing.assert_close(loaded_lip(lips), lip_encoder(lips))
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a safetensors"):
        load_translator(bad)


def test_lat_term_trains_and_lip_encoder_learns():
    head = tiny_head()
    examples = synthetic_examples(per_speaker=2, frames=30)
    lip_encoder, lip_history = train_lip_encoder(
        examples, head, LipTrainConfig(steps=150, batch_size=4, crop_frames=20, hidden=32), progress=False
    )
    assert lip_history[-1] < 0.5 * lip_history[0]
    assert not any(p.requires_grad for p in lip_encoder.parameters())  # frozen for eq 7
    _, history = train_translator(
        examples, head, TranslatorConfig(steps=5, lambda_lat=1.0, **SMALL), lip_encoder=lip_encoder, progress=False
    )
    assert all(h["lat"] > 0 for h in history)


def test_bad_examples():
    with pytest.raises(ValueError, match="feature frames"):
        MotionExample("x", "s", torch.zeros(5, 3), torch.zeros(6, 12))
    with pytest.raises(ValueError, match="no training examples"):
        train_translator([], tiny_head(), TranslatorConfig(steps=1))
    examples = synthetic_examples(per_speaker=1, frames=24)
    for example in examples:
        example.asr_features = None
    with pytest.raises(ValueError, match="asr_features"):
        train_lip_encoder(examples, tiny_head(), LipTrainConfig(steps=1))


def test_load_warns_when_encoder_weights_changed(tmp_path):
    torch.manual_seed(0)
    from talkinghead_edu.motion import MotionTranslator

    translator = MotionTranslator(["a"], 160, 6, d_model=16, window=3, feature_encoder="log_mel")
    translator.feature_fingerprint = LogMelFrameFeatures.fingerprint
    path = save_translator(tmp_path / "same.safetensors", translator)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_translator(path).feature_extractor.feature_dim == 160
    translator.feature_fingerprint = "0123456789abcdef"
    path = save_translator(tmp_path / "stale.safetensors", translator)
    with pytest.warns(UserWarning, match="Retrain"):
        load_translator(path)
