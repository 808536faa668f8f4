"""talkinghead_edu.audio.io: reading, mixing down, resampling, and clear errors on bad files."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from talkinghead_edu.audio import AudioLoadError, load_audio
from talkinghead_edu.audio.io import resample


def _sine(freq_hz: float, sample_rate: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    n = np.arange(int(sample_rate * seconds))
    return (amplitude * np.sin(2 * np.pi * freq_hz * n / sample_rate)).astype(np.float32)


def test_16k_flac_round_trips_within_16_bit_quantisation(tmp_path):
    signal = _sine(440.0, 16000, 0.5)
    path = tmp_path / "tone.flac"
    soundfile.write(path, signal, 16000, subtype="PCM_16")
    loaded = load_audio(path)
    assert loaded.dtype == np.float32 and loaded.shape == signal.shape
    np.testing.assert_allclose(loaded, signal, atol=1.0 / 32768 + 1e-7)  # one 16-bit step


def test_stereo_is_averaged_and_44k1_resampled_to_16k(tmp_path):
    left = _sine(1000.0, 44100, 1.0, amplitude=0.8)
    right = np.zeros_like(left)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([left, right], axis=1), 44100, subtype="FLOAT")
    loaded = load_audio(path, target_sr=16000)
    assert loaded.shape == (16000,)  # 1 s at 16 kHz (44100 * 160/441)
    # closed form: the mean of the two channels is a 1 kHz sine of amplitude 0.4 at 16 kHz
    expected = _sine(1000.0, 16000, 1.0, amplitude=0.4)
    interior = slice(200, -200)  # the polyphase filter's edge transients
    np.testing.assert_allclose(loaded[interior], expected[interior], atol=5e-3)


def test_resample_keeps_a_tone_and_is_identity_at_equal_rates():
    tone48 = _sine(300.0, 48000, 0.5).astype(np.float64)
    assert resample(tone48, 48000, 48000) is tone48
    tone16 = resample(tone48, 48000, 16000)
    np.testing.assert_allclose(tone16[100:-100], _sine(300.0, 16000, 0.5)[100:-100], atol=2e-3)


@pytest.mark.parametrize("case", ["missing", "directory", "empty", "garbage", "text", "silent", "short", "nan"])
def test_bad_files_raise_a_clear_error(tmp_path, case):
    path = tmp_path / "bad.wav"
    expected_words = {
        "missing": "does not exist",
        "directory": "not a file",
        "empty": "empty",
        "garbage": "not a readable audio",
        "text": "not a readable audio",
        "silent": "silent",
        "short": "too short",
        "nan": "NaN",
    }[case]
    if case == "directory":
        path.mkdir()
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "garbage":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    elif case == "text":
        path.write_text("this is not audio\n" * 50)
    elif case == "silent":
        soundfile.write(path, np.zeros(16000, np.float32), 16000)
    elif case == "short":
        soundfile.write(path, _sine(440.0, 16000, 0.01), 16000)  # 10 ms < one 40 ms frame
    elif case == "nan":
        signal = _sine(440.0, 16000, 0.2)
        signal[100] = np.nan
        soundfile.write(path, signal, 16000, subtype="FLOAT")
    with pytest.raises(AudioLoadError) as info:
        load_audio(path)
    assert expected_words in str(info.value) and "bad.wav" in str(info.value)


def test_silent_file_accepted_when_asked(tmp_path):
    path = tmp_path / "quiet.wav"
    soundfile.write(path, np.zeros(1600, np.float32), 16000)
    assert np.all(load_audio(path, allow_silent=True) == 0)


def test_invalid_target_rate_is_rejected(tmp_path):
    path = tmp_path / "tone.wav"
    soundfile.write(path, _sine(440.0, 16000, 0.2), 16000)
    with pytest.raises(ValueError, match="target_sr"):
        load_audio(path, target_sr=0)
