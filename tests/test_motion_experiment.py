"""The experiment's pieces on synthetic data: every ablation variant trains and evaluates."""

from types import SimpleNamespace

import pytest
from _motion_fixtures import one_thread as _one_thread  # noqa: E402
from _motion_fixtures import synthetic_examples, tiny_head

from talkinghead_edu.motion import TranslatorConfig
from talkinghead_edu.recipes import train_motion as experiment

single_thread = pytest.fixture(autouse=True)(_one_thread)


def test_style_speakers_picks_extremes():
    dataset = SimpleNamespace(
        styles={s: SimpleNamespace(mouth_amplitude=a) for s, a in {"x": 1.0, "y": 1.4, "z": 0.7}.items()}
    )
    assert experiment.style_speakers(dataset, ["x", "y", "z"]) == ("y", "z")


def test_every_variant_trains_and_evaluates():
    head = tiny_head()
    train = synthetic_examples(per_speaker=2, frames=24)
    test = synthetic_examples(per_speaker=1, frames=24, seed=1)
    examples = {"content": {"train": train, "test": test}, "raw": {"train": train, "test": test}}
    from talkinghead_edu.motion import LipTrainConfig, train_lip_encoder

    lip_encoder, _ = train_lip_encoder(
        train, head, LipTrainConfig(steps=2, batch_size=2, crop_frames=10, hidden=8), progress=False
    )
    base = TranslatorConfig(steps=2, batch_size=2, crop_frames=10, d_model=16, window=3)
    for name, (overrides, role) in experiment.VARIANTS.items():
        translator, history = experiment.train_variant(
            name, examples, head, base, lip_encoder, ("enc_a", "enc_b"), progress=False
        )
        assert (translator.identity is None) == (name == "no_identity")
        assert translator.feature_encoder == ("enc_b" if name == "raw_encoder" else "enc_a")
        if name in ("no_latent",):
            assert all(h["lat"] == 0 for h in history)
        if name == "no_smooth":
            assert all(h["sth"] == 0 for h in history)
        result = experiment.evaluate_variant(translator, examples, head, role, ["test"], ("spk_b", "spk_a"))
        assert result["test"]["lip_error_mm"] > 0 and "relative_error" in result["style"]
