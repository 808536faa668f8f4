"""Reading audio files for every stage: any WAV/FLAC/OGG (and MP3 where libsndfile has it)
-> mono float32 at the requested sample rate.

The package works at 16 kHz (one 25 fps video frame = 640 samples). Stereo is mixed
down by averaging the channels; other sample rates are resampled with a polyphase
filter (``scipy.signal.resample_poly``, exact rational ratio). Files that cannot be
used raise :class:`AudioLoadError` with one sentence naming the file and the problem.
"""

from __future__ import annotations

import os
from math import gcd
from pathlib import Path

import numpy as np
import soundfile
from scipy.signal import resample_poly

from ..errors import FileFormatError, InputError

__all__ = ["AudioLoadError", "load_audio", "resample", "prepare_waveform"]

SILENCE_PEAK = 1e-4  # a file whose absolute peak stays below this is "silent"


class AudioLoadError(FileFormatError):
    """An audio file is missing, empty, corrupt, not audio, silent or too short."""


def resample(audio: np.ndarray, source_sr: int, target_sr: int) -> np.ndarray:
    """Polyphase resampling of (L,) or (L, C) float audio from ``source_sr`` to ``target_sr`` Hz."""

    if source_sr == target_sr:
        return audio
    divisor = gcd(int(source_sr), int(target_sr))
    return resample_poly(audio, int(target_sr) // divisor, int(source_sr) // divisor, axis=0).astype(audio.dtype)


def prepare_waveform(audio, sample_rate: int | None, target_sr: int = 16000, name: str = "audio") -> np.ndarray:
    """An in-memory waveform -> ``(L,)`` float32 mono at ``target_sr`` Hz (checked, mixed down, resampled).

    Args:
        audio: ``(L,)`` mono or ``(L, C)`` channels-last samples (numpy or torch), floating
            point in [-1, 1].
        sample_rate: the samples' rate in Hz — required: a bare array does not say it.
        target_sr: output rate.
        name: what to call the input in error messages.

    Raises:
        InputError: no or a non-positive sample rate; integer/boolean or complex samples
            (convert them first, e.g. ``int16 / 32768``); NaN or infinite samples; a shape
            other than ``(L,)``/``(L, C)``; no samples.
    """
    if sample_rate is None:
        raise InputError(f"{name}: an array needs its sample rate; pass sample_rate= (Hz), e.g. sample_rate=16000")
    if not float(sample_rate).is_integer() or int(sample_rate) <= 0:
        raise InputError(f"{name}: sample_rate must be a positive whole number of Hz, got {sample_rate!r}")
    if hasattr(audio, "detach"):  # a torch tensor
        audio = audio.detach().cpu().numpy()
    samples = np.asarray(audio)
    if samples.dtype.kind != "f":
        hint = f" (e.g. samples / {2 ** (8 * samples.dtype.itemsize - 1)})" if samples.dtype.kind in "iu" else ""
        raise InputError(f"{name}: samples are {samples.dtype}; expected floating-point samples in [-1, 1]{hint}")
    if samples.ndim == 2 and samples.shape[1] > samples.shape[0]:
        raise InputError(
            f"{name}: shape {samples.shape} looks like (channels, samples); expected (samples,) or (samples, "
            "channels) — pass audio.T"
        )
    if samples.ndim not in (1, 2) or samples.size == 0:
        raise InputError(
            f"{name}: expected (samples,) or (samples, channels) with at least one sample, got shape {samples.shape}"
        )
    if not np.isfinite(samples).all():
        raise InputError(f"{name}: contains NaN or infinite samples")
    mono = samples.astype(np.float32) if samples.ndim == 1 else samples.astype(np.float32).mean(axis=1)
    return resample(mono, int(sample_rate), target_sr).astype(np.float32)


def load_audio(
    path: str | os.PathLike, target_sr: int = 16000, min_duration_s: float = 0.04, allow_silent: bool = False
) -> np.ndarray:
    """Read an audio file -> (L,) float32 mono in [-1, 1] at ``target_sr`` Hz.

    Args:
        path: a WAV, FLAC, OGG/Vorbis (or MP3 with libsndfile >= 1.1) file.
        target_sr: output sample rate in Hz (resampled if the file differs).
        min_duration_s: shortest accepted duration (default one 25 fps frame).
        allow_silent: accept an all-silent file instead of raising.

    Raises:
        AudioLoadError: the file is missing, empty, not audio/corrupt, has no samples,
            contains NaN/inf, is silent, or is shorter than ``min_duration_s``.
    """
    path = Path(path)
    if target_sr <= 0:
        raise InputError(f"target_sr must be a positive sample rate in Hz, got {target_sr}")
    if not path.exists():
        raise AudioLoadError(f"audio file {path} does not exist")
    if not path.is_file():
        raise AudioLoadError(f"{path} is not a file (expected a WAV/FLAC/OGG audio file)")
    if path.stat().st_size == 0:
        raise AudioLoadError(f"audio file {path} is empty (0 bytes)")
    try:
        samples, sample_rate = soundfile.read(str(path), dtype="float32", always_2d=True)  # (L, C)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioLoadError(
            f"{path} is not a readable audio file (corrupt or unsupported format; expected WAV/FLAC/OGG): {exc}"
        ) from None
    if samples.shape[0] == 0:
        raise AudioLoadError(f"audio file {path} contains no samples")
    if not np.isfinite(samples).all():
        raise AudioLoadError(f"audio file {path} contains NaN or infinite samples")
    mono = samples.mean(axis=1)
    mono = resample(mono, sample_rate, target_sr).astype(np.float32)
    duration = len(mono) / target_sr
    if duration < min_duration_s:
        raise AudioLoadError(
            f"audio file {path} is too short ({duration * 1000:.1f} ms; need at least {min_duration_s * 1000:.0f} ms)"
        )
    peak = float(np.abs(mono).max())
    if peak < SILENCE_PEAK and not allow_silent:
        raise AudioLoadError(f"audio file {path} is silent (peak amplitude {peak:.2e} < {SILENCE_PEAK:g})")
    return mono
