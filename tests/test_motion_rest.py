"""Rest and closures: clips with silence (synth.rest_examples), the translator's data (speech + rest
clips + the video speakers), the motion-only regeneration, and the shipped translator's resting mouth."""

from __future__ import annotations

import filecmp
import shutil

import numpy as np
import pytest
import torch

from talkinghead_edu.conventions import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME
from talkinghead_edu.data import ARTICULATION_NAMES, load_speech_dataset, load_video_dataset
from talkinghead_edu.flame import FlameParams, load_head_model
from talkinghead_edu.motion.evaluate import lip_gap_mm, rest_scores
from talkinghead_edu.recipes import train_motion as experiment
from talkinghead_edu.synth.rest_examples import rest_clips, with_rest
from talkinghead_edu.synth.speech_generate import regenerate_speech_motion

JAW = ARTICULATION_NAMES.index("jaw_open")


@pytest.fixture(scope="module")
def ds():
    return load_speech_dataset()


@pytest.fixture(scope="module")
def head():
    return load_head_model(device="cpu")


def _gap(head, clip) -> np.ndarray:
    return lip_gap_mm(head, FlameParams(clip.expression, clip.flame.pose))


def test_padded_and_joined_clips_rest_with_a_closed_mouth(ds, head):
    a, b = [u for u in ds.split("train") if u.speaker == ds.speakers[2]][:2]
    style = ds.styles[a.speaker]
    clip = with_rest([a, b], [20, 15, 25], style, ds.head, np.random.default_rng(0))
    assert (
        clip.num_frames == a.num_frames + b.num_frames + 60 and len(clip.audio) == SAMPLES_PER_FRAME * clip.num_frames
    )
    assert clip.speaker == a.speaker and clip.meta["silence_frames"] == [20, 15, 25]
    # the phones tile the clip, the pauses are single "" phones, the speech keeps its timing
    starts = np.array([p.start_s for p in clip.phonemes])
    ends = np.array([p.end_s for p in clip.phonemes])
    np.testing.assert_allclose(starts[1:], ends[:-1], atol=1e-9)
    assert starts[0] == 0 and ends[-1] == pytest.approx(clip.num_frames / FPS)
    assert all(p.symbol or q.symbol for p, q in zip(clip.phonemes, clip.phonemes[1:]))  # no pause after a pause
    assert clip.phonemes[0].symbol == "" and clip.phonemes[0].end_s >= 20 / FPS
    np.testing.assert_array_equal(clip.audio[: 20 * SAMPLES_PER_FRAME], 0.0)  # digital silence
    np.testing.assert_array_equal(clip.audio[20 * SAMPLES_PER_FRAME :][: len(a.audio)], a.audio)
    # the motion model closes the mouth in the silences ...
    gap = _gap(head, clip)
    speech_gap = _gap(head, a)
    assert np.median(gap[:12]) <= 1.0 and np.median(gap[-15:]) <= 1.0, (gap[:12], gap[-15:])
    pause = a.num_frames + 20 + 7  # the middle of the phrase pause
    assert gap[pause] <= 1.5 and np.percentile(speech_gap, 90) > 5.0
    # ... and opens it smoothly: no frame-to-frame jaw step larger than the speech's own
    steps = np.abs(np.diff(clip.articulation[:, JAW]))
    own = max(np.abs(np.diff(u.articulation[:, JAW])).max() for u in (a, b))
    assert steps.max() <= own + 0.05, (steps.max(), own)


def test_noise_floor_and_bad_arguments(ds):
    u = ds.split("train")[0]
    style = ds.styles[u.speaker]
    clip = with_rest([u], [25, 25], style, ds.head, np.random.default_rng(1), noise_floor_dbfs=-60.0)
    rms = np.sqrt(np.mean(clip.audio[: 25 * SAMPLES_PER_FRAME] ** 2))
    assert 10 ** (-61 / 20) < rms < 10 ** (-59 / 20)
    with pytest.raises(ValueError, match="n \\+ 1 silences"):
        with_rest([u], [3], style, ds.head, np.random.default_rng(0))
    with pytest.raises(ValueError, match=">= 0"):
        with_rest([u], [3, -1], style, ds.head, np.random.default_rng(0))
    other = next(v for v in ds.utterances if v.speaker != u.speaker)
    with pytest.raises(ValueError, match="one speaker"):
        with_rest([u, other], [1, 1, 1], style, ds.head, np.random.default_rng(0))


def test_rest_clips_are_seeded_and_cover_the_split(ds):
    first, again = rest_clips(ds, "test", seed=5), rest_clips(ds, "test", seed=5)
    test = ds.split("test")
    assert len(first) == 2 * len(test)  # every utterance padded + every utterance joined with a partner
    for x, y in zip(first, again):
        assert x.id == y.id and x.meta == y.meta
        np.testing.assert_array_equal(x.audio, y.audio)
        np.testing.assert_array_equal(x.articulation, y.articulation)
    lead = [c.meta["silence_frames"][0] for c in first]
    assert min(lead) >= round(0.3 * FPS) and max(lead) <= round(1.0 * FPS)
    noisy = [c.meta["noise_floor_dbfs"] is not None for c in first]
    assert 0 < sum(noisy) < len(noisy)


def test_motion_only_regeneration_reproduces_the_committed_files(ds, tmp_path):
    shutil.copytree(ds.root, tmp_path / "speech")
    assert regenerate_speech_motion(tmp_path) == len(ds)
    compared = filecmp.dircmp(ds.root, tmp_path / "speech")
    assert not compared.diff_files, compared.diff_files
    for speaker in ds.speakers:
        sub = filecmp.dircmp(ds.root / speaker, tmp_path / "speech" / speaker)
        assert not sub.diff_files, f"{speaker}: {sub.diff_files} differ: run make-dataset --part speech --motion-only"


def test_translator_data_adds_rest_clips_and_the_video_speakers(ds):
    data = experiment.TranslatorData(ds)
    train = data.split("train")
    speakers = {u.speaker for u in train}
    assert speakers == set(ds.speakers) | {"speaker_a", "speaker_b"}
    video = [c for c in train if c.speaker.startswith("speaker_")]
    train_end = {s: int(load_video_dataset(s).splits["train"][-1]) + 1 for s in ("speaker_a", "speaker_b")}
    for clip in video:
        start, stop = (int(x) for x in clip.id.split("[")[1].rstrip("]").split(":"))
        assert (
            stop <= train_end[clip.speaker] and stop - start == len(clip.expression) >= experiment.MIN_CLIP_FRAMES
        )  # train split only
        assert (
            len(clip.audio) == SAMPLES_PER_FRAME * len(clip.expression) and clip.jaw_pose.shape == clip.neck_pose.shape
        )
    assert sum(c.id.endswith("+rest") for c in train) == 2 * len(ds.split("train"))
    silence = data.split("silence")
    assert [c.id for c in silence] == [u.id + "+rest" for u in ds.split("test")]
    for clip in silence:
        frames = experiment.silence_frames(clip)
        assert len(frames) >= 2 * (round(0.3 * FPS) - experiment.SPEECH_MARGIN_FRAMES)
        frame_rms = np.sqrt((clip.audio.reshape(clip.num_frames, -1)[frames] ** 2).mean(1))
        assert frames.max() < clip.num_frames and np.all(frame_rms < 10 ** (-45 / 20))  # at most the noise floor


def test_shipped_translator_keeps_the_mouth_closed_and_still_in_silence(ds, head):
    """A held-out clip: a test utterance with silence around it, and plain digital silence."""
    from talkinghead_edu.motion.train import load_translator
    from talkinghead_edu.paths import dataset_root

    torch.set_num_threads(1)
    translator = load_translator(dataset_root() / "checkpoints" / "motion_translator.safetensors")
    assert {"speaker_a", "speaker_b"} <= set(translator.speakers) and len(translator.speakers) == 10
    clip = experiment.TranslatorData(ds, video_speakers=[]).split("silence")[3]
    predicted = translator.translate(clip.audio, clip.speaker, sample_rate=SAMPLE_RATE).motion_vector
    rest = rest_scores(head, predicted[experiment.silence_frames(clip)])
    assert rest["gap_median_mm"] <= 2.0 and rest["gap_std_mm"] <= 1.0, rest
    speech = lip_gap_mm(head, predicted[clip.meta["silence_frames"][0] + 5 : -clip.meta["silence_frames"][-1] - 5])
    assert np.percentile(speech, 90) > 4.0  # and it still opens for the speech


def test_shipped_translator_closes_the_mouth_on_a_clip_of_pure_silence(head):
    """Audio that is silence from start to end (no speech anywhere): digital zeros, for three styles."""
    from talkinghead_edu.motion.train import load_translator
    from talkinghead_edu.paths import dataset_root

    torch.set_num_threads(1)
    translator = load_translator(dataset_root() / "checkpoints" / "motion_translator.safetensors")
    for style in ("speaker_a", "arno", None):
        zeros = translator.translate(np.zeros(2 * SAMPLE_RATE, dtype=np.float32), style, sample_rate=SAMPLE_RATE)
        rest = rest_scores(head, zeros.motion_vector)
        assert rest["gap_median_mm"] <= 2.0 and rest["gap_std_mm"] <= 1.0, (style, rest)
