"""The committed speech data and its loader, the viseme table, the coarticulation model,
and espeak's event clean-up. Only the last test needs espeak-ng (to regenerate utterances
and compare them with the committed files); everything else runs on committed data."""

from __future__ import annotations

import ctypes.util

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from talkinghead_edu.conventions import FPS, SAMPLES_PER_FRAME
from talkinghead_edu.data import (
    ARTICULATION_NAMES,
    HeadMotionMap,
    Phoneme,
    SpeakerStyle,
    Utterance,
    concatenate_utterances,
    load_head_motion_map,
    load_speech_dataset,
)
from talkinghead_edu.paths import ASSETS_DIR
from talkinghead_edu.synth.espeak import EspeakResult, TimedPhone, clean_phone_events
from talkinghead_edu.synth.speech_motion import coarticulate, phonemes_from_espeak, synthesize_utterance
from talkinghead_edu.synth.visemes import VISEMES, split_phone, viseme_of

COLUMN = {name: i for i, name in enumerate(ARTICULATION_NAMES)}


@pytest.fixture(scope="module")
def ds():
    return load_speech_dataset(verify=True)  # sha256 of every committed file checked here


# ------------------------------------------------------------------ committed data
def test_size_and_coverage(ds):
    assert len(ds.speakers) >= 8
    assert {"en", "fr", "ko", "cmn"} <= set(ds.languages) and len(ds.languages) >= 5
    for speaker in ds.speakers:
        assert sum(u.speaker == speaker for u in ds.utterances) >= 12
    total_bytes = sum(p.stat().st_size for p in ds.root.rglob("*") if p.is_file())
    assert total_bytes <= 10 * 2**20, f"speech data is {total_bytes / 2**20:.1f} MB, budget 10 MB"


def test_audio_frames_and_phoneme_times_are_consistent(ds):
    for u in ds.utterances:
        assert u.sample_rate == 16000 and u.audio.dtype == np.float32
        assert len(u.audio) == SAMPLES_PER_FRAME * u.num_frames
        assert u.articulation.shape == (u.num_frames, len(ARTICULATION_NAMES))
        assert u.neck_pose.shape == u.jaw_pose.shape == (u.num_frames, 3)
        assert np.isfinite(u.articulation).all() and np.isfinite(u.neck_pose).all()
        starts, ends = u.meta["phoneme_start_samples"], u.meta["phoneme_end_samples"]
        # exact, in integer samples: contiguous spans from 0 whose durations sum to the audio length
        assert starts[0] == 0 and np.all(starts[1:] == ends[:-1]) and np.all(ends > starts)
        assert int((ends - starts).sum()) == len(u.audio)
        assert all(p.viseme in VISEMES for p in u.phonemes)
        assert np.max(np.abs(u.audio)) > 0.05, f"{u.id} is nearly silent"


def test_frame_labels_agree_with_phoneme_times(ds):
    u = ds.utterances[7]
    index = u.frame_phoneme_index()
    assert index.shape == (u.num_frames,) and np.all(np.diff(index) >= 0)
    for frame, i in enumerate(index):
        centre = (frame + 0.5) / FPS
        assert u.phonemes[i].start_s <= centre < u.phonemes[i].end_s
    assert u.frame_phonemes()[3] == u.phonemes[index[3]].symbol
    assert u.frame_visemes()[3] == u.phonemes[index[3]].viseme


def test_expression_and_jaw_follow_the_stored_head_map(ds):
    with np.load(ds.root / "head_map.npz", allow_pickle=False) as stored:
        names = [str(n) for n in stored["articulation_names"]]
        matrix = stored["articulation_expr"].astype(np.float64)
        jaw_max = float(stored["jaw_open_max_rad"])
    for u in ds.utterances[::25]:
        reordered = np.stack([u.articulation[:, COLUMN[n]] for n in names], axis=1).astype(np.float64)
        np.testing.assert_allclose(u.expression, reordered @ matrix, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(u.jaw_pose[:, 0], u.articulation[:, COLUMN["jaw_open"]] * jaw_max, rtol=1e-6)
        assert np.all(u.jaw_pose[:, 1:] == 0)
        pose = u.flame.pose
        assert pose.shape == (u.num_frames, 15)
        np.testing.assert_array_equal(pose[:, 3:6], u.neck_pose)
        np.testing.assert_array_equal(pose[:, 6:9], u.jaw_pose)
        assert np.all(pose[:, :3] == 0) and np.all(pose[:, 9:] == 0)


def test_speech_data_is_linked_to_the_bundled_head(ds):
    asset = ASSETS_DIR / "procedural_head.npz"
    if not asset.is_file():
        pytest.skip(f"no bundled head asset at {asset}")
    assert ds.head.fingerprint == load_head_motion_map(asset).fingerprint, (
        "speech/head_map.npz is stale: run `talkinghead-edu make-dataset --part speech --remap-only`"
    )


def test_bilabials_close_the_lips(ds):
    press_at_bilabials, jaw_at_bilabials, press_at_open_vowels = [], [], []
    for u in ds.utterances:
        for p in u.phonemes:
            first, last = int(p.start_s * FPS), int(np.ceil(p.end_s * FPS))
            frames = slice(first, max(last, first + 1))
            if p.viseme == "pbm":
                press_at_bilabials.append(u.articulation[frames, COLUMN["lip_press"]].max())
                jaw_at_bilabials.append(u.articulation[frames, COLUMN["jaw_open"]].min())
            elif p.viseme == "a" and p.end_s - p.start_s > 0.08:
                centre = int(0.5 * (p.start_s + p.end_s) * FPS)
                press_at_open_vowels.append(u.articulation[centre, COLUMN["lip_press"]])
    assert len(press_at_bilabials) > 200
    # every /p b m/, however short, presses the lips in at least one frame it overlaps
    assert min(press_at_bilabials) > 0.6
    assert np.median(press_at_bilabials) > 0.85 and np.median(press_at_open_vowels) < 0.15
    assert np.median(jaw_at_bilabials) < 0.3


def test_bilabials_close_the_mouth_of_the_head(ds):
    """End to end through the head model: the inner-lip gap (iBUG landmarks 62/66) at /p b m/ vs /a/.

    Every /p b m/ (its frame of strongest closure) must render with the lips shut (median <= 1 mm,
    95th percentile <= 1.5 mm) even next to a rounded /u o/ or a spread /i/."""
    asset = ASSETS_DIR / "procedural_head.npz"
    if not asset.is_file():
        pytest.skip(f"no bundled head asset at {asset}")
    from talkinghead_edu.flame import FlameParams, load_head_model
    from talkinghead_edu.motion.evaluate import lip_gap_mm

    head = load_head_model(device="cpu")
    closed, open_ = [], []  # (utterance, frame)
    for u in ds.utterances:
        for p in u.phonemes:
            first, last = int(p.start_s * FPS), max(int(np.ceil(p.end_s * FPS)), int(p.start_s * FPS) + 1)
            if p.viseme == "pbm":
                closed.append((u, first + int(np.argmax(u.articulation[first:last, COLUMN["lip_press"]]))))
            elif p.viseme == "a" and p.end_s - p.start_s > 0.08:
                open_.append((u, int(0.5 * (p.start_s + p.end_s) * FPS)))

    def lip_gap(samples):
        expression = np.stack([u.expression[f] for u, f in samples])
        pose = np.stack([u.flame.pose[f] for u, f in samples])
        return lip_gap_mm(head, FlameParams(expression, pose))

    gap_closed, gap_open = lip_gap(closed), lip_gap(open_)
    assert len(gap_closed) > 500
    assert np.median(gap_closed) <= 1.0 and np.percentile(gap_closed, 95) <= 1.5, np.percentile(gap_closed, [50, 95])
    assert np.median(gap_open) > 8.0, np.median(gap_open)


def test_same_sentence_same_phonemes_different_style(ds):
    shared = [sid for sid, s in ds.sentences.items() if s["shared"]]
    assert len(shared) >= 10
    for sid in shared:
        utterances = ds.by_sentence(sid)
        assert len({u.speaker for u in utterances}) == len(ds.speakers)
        sequences = {tuple(p.symbol for p in u.phonemes if p.symbol) for u in utterances}
        assert len(sequences) == 1, f"{sid}: speakers got different phonemes"
    # style is in the motion: per speaker, the jaw opening tracks mouth_amplitude, the smile
    # tracks smile_bias and the mouth pull tracks the asymmetry sign
    jaw95, amplitude, smile, bias = [], [], [], []
    for speaker in ds.speakers:
        motion = np.concatenate([u.articulation for u in ds.utterances if u.speaker == speaker])
        style = ds.styles[speaker]
        jaw95.append(np.percentile(motion[:, COLUMN["jaw_open"]], 95))
        amplitude.append(style.mouth_amplitude)
        smile.append(motion[:, COLUMN["smile"]].mean())
        bias.append(style.smile_bias)
        pull = (motion[:, COLUMN["mouth_left"]] - motion[:, COLUMN["mouth_right"]]).mean()
        assert np.sign(pull) == np.sign(style.asymmetry) or abs(style.asymmetry) < 0.01
    assert np.corrcoef(jaw95, amplitude)[0, 1] > 0.9
    np.testing.assert_allclose(smile, bias, atol=0.03)
    assert len({ds.styles[s] for s in ds.speakers}) == len(ds.speakers)


def test_splits_hold_out_sentences_and_one_language(ds):
    train_sentences = {u.sentence_id for u in ds.split("train")}
    for name in ("val", "test", "test_unseen_language"):
        held = ds.split(name)
        assert held, f"split {name} is empty"
        assert not train_sentences & {u.sentence_id for u in held}, f"{name} shares sentences with train"
    unseen = ds.split("test_unseen_language")
    assert {u.language for u in unseen} == {ds.held_out_language}
    others = [u for u in ds.utterances if u.split != "test_unseen_language"]
    assert ds.held_out_language not in {u.language for u in others}
    assert sum(len(ds.split(s)) for s in ("train", "val", "test", "test_unseen_language")) == len(ds)
    assert any(not s["shared"] for s in ds.sentences.values())
    with pytest.raises(ValueError, match="unknown split"):
        ds.split("training")


def test_loader_errors(tmp_path, ds):
    with pytest.raises(FileNotFoundError, match="metadata.json"):
        load_speech_dataset(tmp_path)
    import shutil

    copy = tmp_path / "speech"
    shutil.copytree(ds.root, copy)
    first = ds.metadata["utterances"][0]
    (copy / first["speaker"] / f"{first['sentence_id']}.npz").write_bytes(b"tampered")
    with pytest.raises(ValueError, match="checksums"):
        load_speech_dataset(copy, verify=True)


def test_remap_only_relinks_to_a_new_head_without_espeak(tmp_path, ds):
    import shutil

    from talkinghead_edu.synth.speech_generate import remap_speech_expressions

    shutil.copytree(ds.root, tmp_path / "speech")
    head = _fake_head(num_expr=9)
    assert remap_speech_expressions(tmp_path, head) == len(ds)
    with pytest.warns(UserWarning, match="remap-only"):  # linked to a head that is not the bundled one
        relinked = load_speech_dataset(tmp_path / "speech", verify=True)  # checksums rewritten too
    assert relinked.head.articulation_names == head.articulation_names
    np.testing.assert_array_equal(relinked.head.articulation_expr, head.articulation_expr)
    u, original = relinked.utterances[5], ds.utterances[5]
    np.testing.assert_array_equal(u.articulation, original.articulation)  # motion itself untouched
    np.testing.assert_allclose(u.expression, u.articulation[:, ::-1] @ head.articulation_expr, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(u.jaw_pose[:, 0], u.articulation[:, COLUMN["jaw_open"]] * 0.3, rtol=1e-6)


def test_concatenate_utterances(ds):
    a, b = [u for u in ds.utterances if u.speaker == ds.speakers[0]][:2]
    joined = concatenate_utterances([a, b])
    assert joined.num_frames == a.num_frames + b.num_frames
    assert len(joined.audio) == SAMPLES_PER_FRAME * joined.num_frames
    assert joined.phonemes[len(a.phonemes)].start_s == pytest.approx(a.duration_s)
    np.testing.assert_array_equal(joined.expression[a.num_frames :], b.expression)
    other = next(u for u in ds.utterances if u.speaker != a.speaker)
    with pytest.raises(ValueError, match="one speaker"):
        concatenate_utterances([a, other])


# ------------------------------------------------------------------ visemes and motion model
def test_viseme_table():
    assert split_phone("ˈaː") == ["a"]
    assert split_phone("aɪ") == ["a", "ɪ"]  # diphthongs split
    assert split_phone("tʃ") == ["tʃ"]  # affricates stay whole
    assert split_phone("ts.h") == ["ts"]  # espeak's Mandarin aspiration
    assert split_phone("ɛ̃") == ["ɛ"]  # nasalisation stripped
    expected = {
        "p": "pbm",
        "m": "pbm",
        "f": "fv",
        "θ": "th",
        "n": "tdnl",
        "s": "sz",
        "ɕ": "sh",
        "ʁ": "r",
        "k": "kg",
        "i": "i",
        "ə": "e",
        "ɐ": "a",
        "ø": "o",
        "y": "u",
        "": "sil",
    }
    for symbol, viseme in expected.items():
        assert viseme_of(symbol) == viseme
    with pytest.raises(KeyError, match="no viseme"):
        viseme_of("☃")


def _phones(spec):
    """[(symbol, duration_s)] -> contiguous Phoneme list."""
    out, t = [], 0.0
    for symbol, duration in spec:
        out.append(Phoneme(symbol, viseme_of(symbol), t, t + duration))
        t += duration
    return out


def test_coarticulation_closure_opening_and_anticipatory_rounding():
    # "a p a" with a 30 ms /p/ (shorter than a frame): the closure must still show
    phones = _phones([("", 0.2), ("a", 0.2), ("p", 0.03), ("a", 0.2), ("", 0.17)])
    frames = int(round(phones[-1].end_s * FPS))
    curves = coarticulate(phones, frames, SpeakerStyle())
    jaw, press = curves[:, 0], curves[:, 3]
    p_frame = int(phones[2].start_s * FPS)
    a_frame = int(0.5 * (phones[1].start_s + phones[1].end_s) * FPS)
    assert press[p_frame] > 0.7 and press[a_frame] < 0.15
    assert jaw[a_frame] > 0.6 and jaw[p_frame] < jaw[a_frame] - 0.2
    # "i t t u": the lips start rounding during the consonants before /u/ (anticipation),
    # and less so for a crisper speaker
    phones = _phones([("i", 0.2), ("t", 0.08), ("t", 0.08), ("u", 0.2)])
    frames = int(round(phones[-1].end_s * FPS))
    slurred = coarticulate(phones, frames, SpeakerStyle(articulation_speed=0.7))[:, 1]
    crisp = coarticulate(phones, frames, SpeakerStyle(articulation_speed=1.4))[:, 1]
    consonant_frames = slice(int(phones[1].start_s * FPS) + 1, int(phones[3].start_s * FPS))
    assert np.all(np.diff(slurred[consonant_frames]) > 0)
    assert slurred[consonant_frames].mean() > crisp[consonant_frames].mean() > 0.05
    assert slurred[int(0.5 * (phones[3].start_s + phones[3].end_s) * FPS)] > 0.8


def _fake_head(num_expr: int = 7) -> HeadMotionMap:
    names = tuple(reversed(ARTICULATION_NAMES))  # a different column order than the motion model's
    matrix = np.random.default_rng(0).normal(size=(len(names), num_expr)).astype(np.float32)
    return HeadMotionMap(names, matrix, 0.3, "test")


def test_synthesize_utterance_from_an_espeak_result_without_espeak():
    rate = 22050
    audio = (np.random.default_rng(1).normal(size=rate) * 3000).astype(np.int16)  # 1 s
    phones = (
        TimedPhone("", 0, 2000),
        TimedPhone("m", 2000, 5000),
        TimedPhone("aɪ", 5000, 15000),
        TimedPhone("p", 15000, 17000),
        TimedPhone("", 17000, rate),
    )
    result = EspeakResult(audio=audio, sample_rate=rate, phones=phones)
    head = _fake_head()
    u = synthesize_utterance("my p", "en", voice=None, style=SpeakerStyle(), seed=3, head=head, espeak_result=result)
    assert isinstance(u, Utterance) and len(u.audio) % SAMPLES_PER_FRAME == 0 and u.num_frames == 25
    assert [p.symbol for p in u.phonemes] == ["", "m", "a", "ɪ", "p", ""]
    assert u.phonemes[2].end_s == pytest.approx(10000 * 16000 / 22050 / 16000, abs=1 / 16000)  # diphthong halves
    assert u.phonemes[-1].end_s == pytest.approx(u.duration_s)
    np.testing.assert_allclose(u.expression, u.articulation[:, ::-1] @ head.articulation_expr, rtol=1e-5, atol=1e-6)
    again = synthesize_utterance(
        "my p", "en", voice=None, style=SpeakerStyle(), seed=3, head=head, espeak_result=result
    )
    np.testing.assert_array_equal(u.articulation, again.articulation)  # seeded


def test_clean_phone_events():
    rate = 1000  # 1 sample = 1 ms
    audio = np.full(1000, 5000, dtype=np.int16)
    audio[300:350] = 0  # closure silence before the /p/ burst at 350
    events = [(100, "a"), (300, "(en)"), (330, ""), (350, "p"), (600, ""), (900, "")]
    phones = clean_phone_events(events, audio, rate)
    assert [(p.symbol, p.start, p.end) for p in phones] == [
        ("", 0, 100),  # leading pause
        ("a", 100, 300),  # the 20 ms unnamed event (tone mark) joined /a/; "(en)" vanished; closure given away
        ("p", 300, 600),  # the /p/ starts where its closure silence starts, not at the burst
        ("", 600, 1000),  # two pause events merged
    ]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 30000), st.sampled_from(["", "p", "a", "tʃ", "aɪ", "(fr)", "m", "s"])),
        min_size=1,
        max_size=25,
    ),
    st.integers(2000, 30000),
    st.integers(0, 2**31 - 1),
)
def test_phone_spans_always_tile_the_audio(events, length, seed):
    """Property: whatever espeak's events, the phones tile [0, L) and survive resampling to whole frames."""
    audio = (np.random.default_rng(seed).normal(size=length) * 2000).astype(np.int16)
    audio[: length // 3] = 0  # some silence for the closure rule to find
    phones = clean_phone_events(events, audio, 22050)
    assert phones[0].start == 0 and phones[-1].end == length
    assert all(a.end == b.start and b.end > b.start for a, b in zip(phones, phones[1:]))
    resampled, phonemes = phonemes_from_espeak(EspeakResult(audio=audio, sample_rate=22050, phones=tuple(phones)))
    assert len(resampled) % SAMPLES_PER_FRAME == 0 and len(resampled) >= length * 16000 / 22050
    starts = np.array([round(p.start_s * 16000) for p in phonemes])
    ends = np.array([round(p.end_s * 16000) for p in phonemes])
    assert starts[0] == 0 and ends[-1] == len(resampled) and np.all(starts[1:] == ends[:-1]) and np.all(ends > starts)


# ------------------------------------------------------------------ regeneration (needs espeak-ng)
def test_regenerated_utterances_match_the_committed_files(ds):
    if ctypes.util.find_library("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (needed only to regenerate; `apt-get install espeak-ng`)")
    from talkinghead_edu.synth.espeak import VoiceSpec, synthesize_isolated
    from talkinghead_edu.synth.speech_generate import utterance_from_espeak

    metadata = ds.metadata
    items = [metadata["utterances"][0], metadata["utterances"][-1]]
    jobs = [
        (
            ds.sentences[i["sentence_id"]]["text"],
            i["language"],
            VoiceSpec(**metadata["speakers"][i["speaker"]]["voice"]),
        )
        for i in items
    ]
    for item, result in zip(items, synthesize_isolated(jobs)):
        audio, phonemes, articulation, neck_pose = utterance_from_espeak(
            item, result, metadata["speakers"], metadata["seed"]
        )
        committed = ds.get(item["id"])
        np.testing.assert_allclose(audio, committed.audio, atol=1.0 / 32768 + 1e-6)  # 16-bit FLAC quantisation
        assert phonemes == committed.phonemes
        np.testing.assert_array_equal(articulation, committed.articulation)
        np.testing.assert_array_equal(neck_pose, committed.neck_pose)
