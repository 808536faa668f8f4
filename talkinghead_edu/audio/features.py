"""Audio features and their alignment to 25 fps video frames (paper §3.2.1, the input of eq 1).

Every feature here is *time-first*: a clip of ``L`` samples gives ``(..., F, D)`` with
``F`` analysis frames of ``D`` values (librosa returns ``(D, F)``; transpose to compare).

Why 640 samples per video frame: the bundled audio is 16 kHz and the video 25 fps, so one
video frame lasts 16000 / 25 = 640 samples exactly. With the speech-recognition hop of
160 samples (10 ms) that is 4 analysis frames per video frame, and with the encoder's
20 ms output rate 2 encoder frames per video frame; no rounding ever accumulates.

Analysis frames are *centred* (``center=True``): frame ``j`` covers the samples around
``j * hop_length``. :func:`align_to_video_frames` assigns frame ``j`` to video frame
``floor(j * hop_length / 640)`` and averages the frames that land in each video frame.

Glossary: B batch, L samples, F analysis frames, T video frames, D feature size.
"""

from __future__ import annotations

import functools

import librosa
import numpy as np
import torch

from ..conventions import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME

__all__ = [
    "SAMPLE_RATE",
    "FPS",
    "SAMPLES_PER_FRAME",
    "as_waveform_tensor",
    "num_video_frames",
    "video_frame_chunks",
    "frame_index_of_time",
    "mel_filter_bank",
    "log_mel",
    "mfcc",
    "energy",
    "f0",
    "align_to_video_frames",
    "frame_context",
]

LOG_FLOOR = 1e-10


def as_waveform_tensor(waveform, name: str = "waveform") -> torch.Tensor:
    """Turn a NumPy array or tensor of samples ``(..., L)`` into a float32 tensor, checking it.

    Raises:
        ValueError: empty input or non-finite samples (NaN/inf).
    """
    wave = torch.as_tensor(np.asarray(waveform) if not isinstance(waveform, torch.Tensor) else waveform)
    if wave.ndim == 0 or wave.shape[-1] == 0:
        raise ValueError(f"{name} is empty; expected samples of shape (..., L) with L > 0")
    if not wave.is_floating_point():
        raise ValueError(f"{name} has dtype {wave.dtype}; expected float samples in [-1, 1]")
    if not torch.isfinite(wave).all():
        raise ValueError(f"{name} contains NaN or infinite samples")
    return wave.float()


def num_video_frames(num_samples: int, strict: bool = True) -> int:
    """Number of 25 fps video frames in ``num_samples`` samples of 16 kHz audio.

    Args:
        strict: raise when ``num_samples`` is not a multiple of 640 (the bundled format).
    """
    if strict and num_samples % SAMPLES_PER_FRAME:
        raise ValueError(
            f"audio has {num_samples} samples, not a multiple of {SAMPLES_PER_FRAME} "
            f"(= {SAMPLE_RATE} Hz / {FPS} fps); pad it with zeros to {num_samples + (-num_samples) % SAMPLES_PER_FRAME}"
        )
    return num_samples // SAMPLES_PER_FRAME


def video_frame_chunks(waveform) -> torch.Tensor:
    """``(L,)`` samples at 16 kHz -> ``(T, 640)``: the audio of each 25 fps video frame, ``T = ceil(L / 640)``.

    Row ``t`` holds samples ``640 t … 640 t + 639``, i.e. the time ``[t / 25, (t + 1) / 25)`` s of frame ``t``.
    A clip that does not end on a frame boundary gets a last, zero-padded row — the talking-head pipeline
    pads its input the same way, so a recording of ``L`` samples becomes ``ceil(L / 640)`` video frames.

    Raises:
        ValueError: not a 1-D waveform, empty, or non-finite samples.
    """
    wave = as_waveform_tensor(waveform)
    if wave.ndim != 1:
        raise ValueError(f"video_frame_chunks: expected one mono waveform (L,), got shape {tuple(wave.shape)}")
    padding = (-wave.numel()) % SAMPLES_PER_FRAME
    return torch.nn.functional.pad(wave, (0, padding)).reshape(-1, SAMPLES_PER_FRAME)


def frame_index_of_time(seconds: float | np.ndarray, fps: int = FPS) -> int | np.ndarray:
    """Index of the video frame that contains time ``seconds``: ``floor(seconds * fps)``.

    Frame ``t`` covers ``[t / fps, (t + 1) / fps)``; a phoneme starting at 0.13 s is in frame 3.
    The tiny epsilon guards float round-off (``1.16 * 25 = 28.999999999999996``).
    """
    index = np.floor(np.asarray(seconds, dtype=np.float64) * fps + 1e-9).astype(np.int64)
    return int(index) if index.ndim == 0 else index


@functools.lru_cache(maxsize=16)
def _mel_filter_bank_cached(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> torch.Tensor:
    return torch.from_numpy(
        librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    ).float()


def mel_filter_bank(
    sample_rate: int = SAMPLE_RATE, n_fft: int = 400, n_mels: int = 80, fmin: float = 0.0, fmax: float | None = None
) -> torch.Tensor:
    """Slaney-style triangular mel filters (librosa's defaults) -> ``(n_mels, n_fft // 2 + 1)``."""
    return _mel_filter_bank_cached(sample_rate, n_fft, n_mels, float(fmin), float(fmax or sample_rate / 2)).clone()


def _power_spectrogram(wave: torch.Tensor, n_fft: int, hop_length: int) -> torch.Tensor:
    """``|STFT|²`` with a periodic Hann window, centred zero-padded frames (librosa's default) ->
    ``(..., F, n_fft//2+1)``."""
    batch_shape = wave.shape[:-1]
    flat = wave.reshape(-1, wave.shape[-1])
    spec = torch.stft(
        flat,
        n_fft=n_fft,
        hop_length=hop_length,
        window=torch.hann_window(n_fft, device=wave.device),
        center=True,
        pad_mode="constant",
        return_complex=True,
    )
    power = spec.real**2 + spec.imag**2  # (B', n_fft//2+1, F)
    return power.transpose(-1, -2).reshape(*batch_shape, power.shape[-1], power.shape[-2])


def log_mel(
    waveform,
    sample_rate: int = SAMPLE_RATE,
    n_mels: int = 80,
    n_fft: int = 400,
    hop_length: int = 160,
    fmin: float = 0.0,
    fmax: float | None = None,
) -> torch.Tensor:
    """Natural-log mel power spectrogram, time-first.

    ``log_mel[f, m] = log(max(sum_k mel[m, k] * |STFT[f, k]|², 1e-10))``

    Args:
        waveform: ``(..., L)`` samples (NumPy or tensor), float in [-1, 1].
        sample_rate, n_mels, n_fft, hop_length, fmin, fmax: analysis settings
            (defaults: 25 ms windows, 10 ms hop, 80 bands up to 8 kHz).

    Returns:
        ``(..., F, n_mels)`` with ``F = 1 + L // hop_length``; same as
        ``log(librosa.feature.melspectrogram(y, sr, n_fft=..., hop_length=..., n_mels=...)).T``.
    """
    wave = as_waveform_tensor(waveform)
    filters = mel_filter_bank(sample_rate, n_fft, n_mels, fmin, fmax).to(wave.device)
    power = _power_spectrogram(wave, n_fft, hop_length)  # (..., F, K)
    mel = power @ filters.T  # mel[..., f, m] = sum_k power[..., f, k] * filters[m, k]
    return torch.log(mel.clamp_min(LOG_FLOOR))


def mfcc(
    waveform,
    sample_rate: int = SAMPLE_RATE,
    n_mfcc: int = 13,
    n_mels: int = 80,
    n_fft: int = 400,
    hop_length: int = 160,
    top_db: float = 80.0,
) -> torch.Tensor:
    """Mel-frequency cepstral coefficients ``(..., F, n_mfcc)``, librosa's definition.

    The mel power is put in decibels (``10 log10``, floored ``top_db`` below the clip's
    maximum), then an orthonormal DCT-II along the mel axis keeps the ``n_mfcc`` slowest
    cosines: the smooth spectral envelope (vocal tract, i.e. timbre *and* content).
    """
    log_power = log_mel(waveform, sample_rate, n_mels, n_fft, hop_length)
    db = 10.0 * log_power / np.log(10.0)
    peak = db.amax(dim=(-2, -1), keepdim=True)
    db = torch.maximum(db, peak - top_db)
    m = torch.arange(n_mels, dtype=db.dtype, device=db.device)
    q = torch.arange(n_mfcc, dtype=db.dtype, device=db.device)
    dct = torch.cos(np.pi / n_mels * (m[None, :] + 0.5) * q[:, None])  # (n_mfcc, n_mels), DCT-II
    dct[0] *= np.sqrt(1.0 / n_mels)
    dct[1:] *= np.sqrt(2.0 / n_mels)
    return db @ dct.T


def energy(waveform, n_fft: int = 400, hop_length: int = 160) -> torch.Tensor:
    """Root-mean-square energy per centred frame ``(..., F)`` (zero-padded edges, as librosa's ``rms``)."""
    wave = as_waveform_tensor(waveform)
    padded = torch.nn.functional.pad(wave.reshape(-1, 1, wave.shape[-1]), (n_fft // 2, n_fft // 2))
    frames = padded.squeeze(1).unfold(-1, n_fft, hop_length)  # (B', F, n_fft)
    rms = frames.pow(2).mean(-1).sqrt()
    return rms.reshape(*wave.shape[:-1], rms.shape[-1])


def f0(
    waveform, sample_rate: int = SAMPLE_RATE, hop_length: int = 160, fmin: float = 60.0, fmax: float = 500.0
) -> tuple[np.ndarray, np.ndarray]:
    """Fundamental frequency by probabilistic YIN (``librosa.pyin``).

    Args:
        waveform: ``(L,)`` one clip.

    Returns:
        ``(f0_hz (F,), voiced (F,) bool)``: ``f0_hz`` is NaN where the frame is unvoiced;
        ``F = 1 + L // hop_length`` (centred frames, same grid as :func:`log_mel`).
    """
    wave = as_waveform_tensor(waveform).numpy()
    if wave.ndim != 1:
        raise ValueError(f"f0 takes one clip of shape (L,), got {tuple(wave.shape)}")
    f0_hz, voiced, _ = librosa.pyin(
        wave, fmin=fmin, fmax=fmax, sr=sample_rate, frame_length=1024, hop_length=hop_length
    )
    return f0_hz.astype(np.float32), voiced


def align_to_video_frames(features: torch.Tensor, hop_length: int = 160, num_frames: int | None = None) -> torch.Tensor:
    """Average centred analysis frames into 25 fps video frames.

    Frame ``j`` (centred at sample ``j * hop_length``) belongs to video frame
    ``t = floor(j * hop_length / 640)``; each video frame is the mean of its frames.

    Args:
        features: ``(..., F, D)`` analysis frames, e.g. from :func:`log_mel`.
        hop_length: samples between analysis frames.
        num_frames: ``T``; default ``F * hop_length // 640`` (the frames whose window
            starts inside the clip). Frames that fall beyond ``T`` are dropped.

    Returns:
        ``(..., T, D)``.

    Raises:
        ValueError: a video frame would receive no analysis frame (``hop_length > 640``
            or ``num_frames`` larger than the features cover).
    """
    if features.ndim < 2:
        raise ValueError(f"features must be (..., F, D), got shape {tuple(features.shape)}")
    n_analysis = features.shape[-2]
    if num_frames is None:
        num_frames = max(1, n_analysis * hop_length // SAMPLES_PER_FRAME)
    owner = torch.arange(n_analysis, device=features.device) * hop_length // SAMPLES_PER_FRAME
    counts = torch.bincount(owner[owner < num_frames], minlength=num_frames)
    if (counts == 0).any():
        raise ValueError(
            f"video frame {int((counts == 0).nonzero()[0])} gets no analysis frame "
            f"(hop_length={hop_length}, {n_analysis} frames, num_frames={num_frames}); "
            f"use hop_length <= {SAMPLES_PER_FRAME} and num_frames <= {int(owner.max()) + 1}"
        )
    keep = owner < num_frames
    summed = features.new_zeros(*features.shape[:-2], num_frames, features.shape[-1])
    summed.index_add_(-2, owner[keep], features[..., keep, :])
    return summed / counts.to(features.dtype)[:, None]


def frame_context(features: torch.Tensor, k: int) -> torch.Tensor:
    """Windows of ``±k`` neighbouring frames around every frame, edges repeated.

    ``out[..., t, i, :] = features[..., clamp(t + i - k, 0, T - 1), :]``

    Args:
        features: ``(..., T, D)``.
        k: context radius (``k = 0`` gives ``(..., T, 1, D)``).

    Returns:
        ``(..., T, 2k + 1, D)``; the centre ``out[..., t, k]`` is frame ``t``.
    """
    if k < 0:
        raise ValueError(f"context radius k must be >= 0, got {k}")
    features = torch.as_tensor(features)
    if features.ndim < 2:
        raise ValueError(f"features must be (..., T, D), got shape {tuple(features.shape)}")
    num_frames = features.shape[-2]
    offsets = torch.arange(-k, k + 1, device=features.device)
    index = (torch.arange(num_frames, device=features.device)[:, None] + offsets).clamp(0, num_frames - 1)  # (T, 2k+1)
    return features[..., index, :]
