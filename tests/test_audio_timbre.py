"""Timbre conversion: length kept, median F0 moved as asked, formants kept (Praat) vs moved (naive)."""

import numpy as np
import pytest
import scipy.signal

from talkinghead_edu.audio.timbre import (
    ENVELOPE_BUMPS,
    TILT_RANGE,
    change_gender,
    envelope_eq,
    median_f0,
    naive_pitch_shift,
    random_timbre,
    spectral_tilt,
)

SR = 16000


def _vowel(f0_hz=120.0, seconds=1.0, formants=(700.0, 1200.0, 2600.0)):
    """A synthetic /a/: an impulse train at ``f0_hz`` through three formant resonators, with 3 % vibrato."""
    n = int(seconds * SR)
    t = np.arange(n) / SR
    phase = np.cumsum(f0_hz * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))) / SR
    source = (np.diff(np.floor(phase), prepend=0.0) > 0).astype(np.float64)
    wave = source
    for formant in formants:  # second-order resonator, 80 Hz bandwidth
        r = np.exp(-np.pi * 80.0 / SR)
        wave = scipy.signal.lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * formant / SR), r * r], wave)
    return (0.3 * wave / np.abs(wave).max()).astype(np.float32)


def _spectral_centroid(wave):
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave)))) ** 2
    freqs = np.fft.rfftfreq(len(wave), 1 / SR)
    return float((spectrum * freqs).sum() / spectrum.sum())


@pytest.fixture(scope="module")
def vowel():
    return _vowel()


def test_synthetic_vowel_has_the_built_pitch(vowel):
    assert abs(median_f0(vowel) - 120.0) < 3.0


@pytest.mark.parametrize("target", [90.0, 200.0])
def test_change_gender_keeps_length_and_moves_median_f0(vowel, target):
    converted = change_gender(vowel, new_pitch_median=target)
    assert converted.shape == vowel.shape and converted.dtype == np.float32
    assert abs(median_f0(converted) - target) / target < 0.05  # within 5 % of the requested median


def test_formant_shift_moves_the_envelope_not_the_pitch(vowel):
    raised = change_gender(vowel, formant_shift_ratio=1.2)
    assert raised.shape == vowel.shape
    assert abs(median_f0(raised) - 120.0) < 6.0
    ratio = _spectral_centroid(raised) / _spectral_centroid(vowel)
    assert 1.08 < ratio < 1.35  # envelope scaled up by ~1.2


def test_naive_shift_moves_pitch_and_formants_together(vowel):
    """The reason the naive baseline is worse: +7 semitones drags the formants up ~1.5x as well."""
    naive = naive_pitch_shift(vowel, n_steps=7.0)
    assert naive.shape == vowel.shape
    factor = 2 ** (7 / 12)
    assert abs(median_f0(naive) / 120.0 - factor) < 0.05
    praat = change_gender(vowel, new_pitch_median=120.0 * factor)
    naive_centroid = _spectral_centroid(naive) / _spectral_centroid(vowel)
    praat_centroid = _spectral_centroid(praat) / _spectral_centroid(vowel)
    assert naive_centroid > 1.3  # chipmunk: the vocal tract "shrank"
    assert abs(praat_centroid - 1.0) < 0.12  # same vocal tract, only the pitch moved


def test_random_timbre_is_seeded_and_in_range(vowel):
    a, params_a = random_timbre(vowel, np.random.default_rng(3))
    b, params_b = random_timbre(vowel, np.random.default_rng(3))
    assert params_a == params_b
    # Praat's PSOLA draws from its own generator, which random_timbre seeds from rng: sample-exact repeats
    # (unseeded, two calls differ: correlation 0.97-0.99)
    np.testing.assert_array_equal(a, b)
    c, _ = random_timbre(vowel, np.random.default_rng(4))
    assert not np.array_equal(a, c)
    assert 0.8 <= params_a["formant_shift_ratio"] <= 1.25 and 80 <= params_a["new_pitch_median"] <= 300
    assert (
        0.5 <= params_a["pitch_range_factor"] <= 2.0
        and TILT_RANGE[0] <= params_a["tilt_db_per_octave"] <= TILT_RANGE[1]
    )
    assert a.shape == vowel.shape


def test_spectral_tilt_gain_per_octave():
    t = np.arange(16000) / 16000.0
    tone = lambda hz: np.sin(2 * np.pi * hz * t).astype(np.float32)  # noqa: E731
    level = lambda x: 20 * np.log10(np.sqrt(np.mean(x**2)))  # noqa: E731
    for hz, octaves in ((1000, 0), (2000, 1), (4000, 2), (500, -1)):
        tilted = spectral_tilt(tone(hz), 6.0)
        assert tilted.shape == (16000,)
        assert abs(level(tilted) - level(tone(hz)) - 6.0 * octaves) < 0.05
    np.testing.assert_allclose(spectral_tilt(tone(300), 0.0), tone(300), atol=1e-5)


def test_silence_and_bad_input():
    silent = change_gender(np.zeros(8000, np.float32), formant_shift_ratio=1.1, new_pitch_median=200)
    assert silent.shape == (8000,) and np.abs(silent).max() == 0.0
    with pytest.raises(ValueError, match="shape"):
        change_gender(np.zeros((2, 100), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        naive_pitch_shift(np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="formant_shift_ratio"):
        change_gender(np.zeros(100, np.float32), formant_shift_ratio=3.0)


def test_envelope_eq_bump_gain_and_shape():
    t = np.arange(16000) / 16000.0
    tone = lambda hz: np.sin(2 * np.pi * hz * t).astype(np.float32)  # noqa: E731
    level = lambda x: 20 * np.log10(np.sqrt(np.mean(x**2)))  # noqa: E731
    # one +6 dB bump at 1 kHz, 0.5 octave wide: full gain at the centre, exp(-1/2)·6 dB one width away, ~0 far away
    for hz, expected in ((1000, 6.0), (1000 * 2**0.5, 6.0 * np.exp(-0.5)), (8000 / 1.25, 0.0)):
        eqd = envelope_eq(tone(hz), [1000.0], [0.5], [6.0])
        assert eqd.shape == (16000,) and eqd.dtype == np.float32
        assert abs(level(eqd) - level(tone(hz)) - expected) < 0.05
    np.testing.assert_allclose(envelope_eq(tone(300), [500.0, 2000.0], [0.4, 0.4], [0.0, 0.0]), tone(300), atol=1e-5)
    with pytest.raises(ValueError, match="one length"):
        envelope_eq(tone(300), [500.0, 2000.0], [0.4], [3.0, 3.0])


def test_random_timbre_envelope_bumps_drawn_in_range(vowel):
    _, plain = random_timbre(vowel, np.random.default_rng(3))
    converted, params = random_timbre(vowel, np.random.default_rng(3), envelope_db=8.0)
    assert converted.shape == vowel.shape
    assert {k: params[k] for k in plain} == plain  # the EQ draws come after the others: same voice otherwise
    count = ENVELOPE_BUMPS["count"]
    assert len(params["envelope_centers_hz"]) == len(params["envelope_gains_db"]) == count
    low, high = ENVELOPE_BUMPS["center_hz"]
    assert all(low <= c <= high for c in params["envelope_centers_hz"])
    assert all(abs(g) <= 8.0 for g in params["envelope_gains_db"])


def test_change_gender_falls_back_to_formant_shift_when_praat_finds_no_pitch_median(vowel, monkeypatch):
    """Short, mostly unvoiced clips can make Praat fail on the pitch change ("--undefined--"):
    keep the formant shift."""
    import parselmouth
    import parselmouth.praat

    real_call, requested = parselmouth.praat.call, []

    def failing_pitch_change(obj, command, *args):
        requested.append(args)
        if (
            command == "Change gender" and args[3] != 0.0
        ):  # args: floor, ceiling, formant ratio, new median, range, duration
            raise parselmouth.PraatError(
                "When rounding up the real value --undefined--, the result cannot be represented in an integer."
            )
        return real_call(obj, command, *args)

    monkeypatch.setattr(parselmouth.praat, "call", failing_pitch_change)
    converted = change_gender(vowel, formant_shift_ratio=1.2, new_pitch_median=200.0, pitch_range_factor=2.0)
    assert converted.shape == vowel.shape
    assert requested[-1][2:5] == (1.2, 0.0, 1.0)  # retried with the formant shift only
    assert _spectral_centroid(converted) / _spectral_centroid(vowel) > 1.08
