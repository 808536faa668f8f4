"""Audio features: against librosa (the reference), frame alignment and context windows by hand."""

import librosa
import numpy as np
import pytest
import torch

from talkinghead_edu.audio import features as af


def _chirp(seconds=1.0, sr=16000, seed=0):
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    return (0.5 * np.sin(2 * np.pi * (200 + 800 * t) * t) + 0.05 * rng.standard_normal(t.shape)).astype(np.float32)


def test_log_mel_matches_librosa():
    wave = _chirp()
    ours = af.log_mel(wave).numpy()  # (F, 80)
    ref = librosa.feature.melspectrogram(y=wave, sr=16000, n_fft=400, hop_length=160, n_mels=80, power=2.0)
    ref = np.log(np.maximum(ref, 1e-10)).T
    assert ours.shape == ref.shape == (1 + len(wave) // 160, 80)
    # float32 STFT vs librosa's float64: differences of log-power below 1e-3 where the power is not tiny
    np.testing.assert_allclose(ours, ref, atol=2e-3)


def test_log_mel_batches_like_single_clips():
    waves = np.stack([_chirp(seed=0), _chirp(seed=1)])
    batched = af.log_mel(waves)
    torch.testing.assert_close(batched[1], af.log_mel(waves[1]), atol=1e-5, rtol=1e-5)


def test_mfcc_matches_librosa():
    wave = _chirp()
    ours = af.mfcc(wave, n_mfcc=13).numpy()
    ref = librosa.feature.mfcc(y=wave, sr=16000, n_mfcc=13, n_fft=400, hop_length=160, n_mels=80).T
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=2e-2, rtol=1e-3)  # dB-scale values of magnitude ~100-1000


def test_energy_matches_librosa_rms():
    wave = _chirp()
    ours = af.energy(wave).numpy()
    ref = librosa.feature.rms(y=wave, frame_length=400, hop_length=160, center=True, pad_mode="constant")[0]
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_f0_of_a_pure_tone():
    t = np.arange(16000) / 16000
    f0_hz, voiced = af.f0(0.5 * np.sin(2 * np.pi * 180.0 * t).astype(np.float32))
    assert f0_hz.shape == voiced.shape == (1 + 16000 // 160,)
    assert voiced.mean() > 0.8
    assert abs(np.nanmedian(f0_hz) - 180.0) < 3.0  # pyin's pitch grid is 10 cents (~1 Hz here)


def test_640_samples_per_frame_and_frame_index():
    assert af.SAMPLES_PER_FRAME == 640 == af.SAMPLE_RATE // af.FPS
    assert af.num_video_frames(640 * 7) == 7
    with pytest.raises(ValueError, match="multiple of 640"):
        af.num_video_frames(641)
    assert af.num_video_frames(641, strict=False) == 1
    assert af.frame_index_of_time(1.16) == 29  # 1.16 * 25 = 28.999999999999996 in floating point
    assert af.frame_index_of_time(0.0399) == 0
    np.testing.assert_array_equal(af.frame_index_of_time(np.array([0.0, 0.04, 1.0])), [0, 1, 25])


def test_video_frame_chunks_cover_the_clip_and_pad_the_last_frame():
    wave = torch.arange(1, 640 * 2 + 101, dtype=torch.float32)  # 2 whole frames and 100 samples
    chunks = af.video_frame_chunks(wave)
    assert chunks.shape == (3, 640)
    torch.testing.assert_close(chunks[1], wave[640:1280])
    torch.testing.assert_close(chunks[2, :100], wave[1280:])
    assert (chunks[2, 100:] == 0).all()
    assert af.video_frame_chunks(np.ones(640 * 4, np.float32)).shape == (4, 640)  # no padding row on a boundary
    assert af.video_frame_chunks(np.ones(1, np.float32)).shape == (1, 640)
    with pytest.raises(ValueError, match=r"mono waveform \(L,\)"):
        af.video_frame_chunks(np.ones((2, 640), np.float32))


def test_align_to_video_frames_is_the_mean_of_the_right_frames():
    features = torch.arange(4 * 5 * 2, dtype=torch.float32).reshape(1, 20 + 0, 2)[:, :20]  # (1, F=20, 2)
    aligned = af.align_to_video_frames(features, hop_length=160)
    assert aligned.shape == (1, 5, 2)
    for t in range(5):  # frames 4t..4t+3 belong to video frame t
        torch.testing.assert_close(aligned[0, t], features[0, 4 * t : 4 * t + 4].mean(0))
    # a centred log-mel of L = 640 T samples has 4T + 1 frames: the last one is dropped
    wave = _chirp(seconds=0.4)
    mel = af.log_mel(wave)
    assert mel.shape[0] == 4 * 10 + 1
    assert af.align_to_video_frames(mel).shape == (10, 80)
    # hop 200 does not divide 640: frame j goes to floor(200 j / 640)
    features = torch.arange(16.0)[:, None]
    aligned = af.align_to_video_frames(features, hop_length=200, num_frames=4)
    expected = [np.mean([j for j in range(16) if 200 * j // 640 == t]) for t in range(4)]
    np.testing.assert_allclose(aligned[:, 0].numpy(), expected)


def test_align_rejects_hops_longer_than_a_frame():
    with pytest.raises(ValueError, match="gets no analysis frame"):
        af.align_to_video_frames(torch.zeros(10, 3), hop_length=1280, num_frames=10)


def test_frame_context_windows_and_edges():
    features = torch.arange(6.0)[:, None].repeat(1, 2)  # (T=6, D=2), value = frame index
    window = af.frame_context(features, k=2)
    assert window.shape == (6, 5, 2)
    np.testing.assert_array_equal(window[0, :, 0].numpy(), [0, 0, 0, 1, 2])
    np.testing.assert_array_equal(window[3, :, 0].numpy(), [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(window[5, :, 0].numpy(), [3, 4, 5, 5, 5])
    torch.testing.assert_close(window[:, 2], features)  # centre = the frame itself
    assert af.frame_context(torch.zeros(3, 7, 4), k=1).shape == (3, 7, 3, 4)
    with pytest.raises(ValueError, match="k must be >= 0"):
        af.frame_context(features, k=-1)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros(0, np.float32), "empty"),
        (np.array([0.0, np.nan], np.float32), "NaN"),
        (np.zeros(10, np.int16), "dtype"),
    ],
)
def test_bad_waveforms_are_rejected(bad, message):
    with pytest.raises(ValueError, match=message):
        af.log_mel(bad)
