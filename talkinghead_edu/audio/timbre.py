"""Timbre conversion: same words, same timing, a different-sounding speaker (positives of Fig. 3).

A voice has two largely independent knobs:

* the *source*: the vocal folds' fundamental frequency F0 (pitch);
* the *filter*: the vocal tract's resonances, the formants (F1, F2, ...), which scale
  with vocal-tract length (shorter tract -> higher formants; children > women > men).

Praat's "Change gender" (Boersma & Weenink; via ``praat-parselmouth``) re-synthesises the
sound by PSOLA with a new pitch median and, independently, scales the spectral envelope
by ``formant_shift_ratio`` -> a plausible new speaker with the same content and length.

The naive baseline, :func:`naive_pitch_shift` (``librosa.effects.pitch_shift``: phase
vocoder + resampling), moves pitch *and* formants by the same factor: a +5 semitone shift
raises the formants by 33 % too ("chipmunk"), so the speaker cannot get a low voice with a
short vocal tract or vice versa, and the phase vocoder smears transients (stop bursts).

All functions take and return ``(L,)`` float32 NumPy arrays at ``sample_rate`` and keep
``L`` exactly.
"""
from __future__ import annotations

import warnings

import numpy as np

from .features import SAMPLE_RATE

__all__ = ["change_gender", "naive_pitch_shift", "median_f0", "random_timbre", "TIMBRE_RANGES"]

# Ranges drawn by :func:`random_timbre`: they span the bundled speakers (F0 ~75-330 Hz,
# spectral envelopes differing by up to ~1.46x).
TIMBRE_RANGES = {"formant_shift_ratio": (0.8, 1.25), "new_pitch_median": (80.0, 300.0)}


def _check_clip(waveform, name: str = "waveform") -> np.ndarray:
    wave = np.asarray(waveform, dtype=np.float64)
    if wave.ndim != 1 or wave.size == 0:
        raise ValueError(f"{name} must be one non-empty clip of shape (L,), got shape {wave.shape}")
    if not np.isfinite(wave).all():
        raise ValueError(f"{name} contains NaN or infinite samples")
    return wave


def _fit_length(wave: np.ndarray, length: int) -> np.ndarray:
    """Trim or zero-pad to ``length`` samples (Praat may differ by a sample at the edges)."""
    wave = wave[:length]
    return np.pad(wave, (0, length - wave.shape[0])).astype(np.float32)


def change_gender(
    waveform,
    sample_rate: int = SAMPLE_RATE,
    formant_shift_ratio: float = 1.0,
    new_pitch_median: float = 0.0,
    pitch_range_factor: float = 1.0,
    pitch_floor: float = 60.0,
    pitch_ceiling: float = 600.0,
) -> np.ndarray:
    """Praat "Change gender": new pitch median and formant scaling, same duration.

    Args:
        waveform: ``(L,)`` samples.
        formant_shift_ratio: multiply the formant frequencies (``> 1``: shorter vocal tract).
        new_pitch_median: target median F0 in Hz (``0`` keeps the original pitch).
        pitch_range_factor: scale the pitch excursions around the median.
        pitch_floor, pitch_ceiling: pitch analysis range in Hz (floor 60 Hz suits low voices).

    Returns:
        ``(L,)`` float32, same length. Unvoiced clips (no pitch found) only get the formant shift.
    """
    import parselmouth
    from parselmouth.praat import call

    wave = _check_clip(waveform)
    if not 0.5 <= formant_shift_ratio <= 2.0:
        raise ValueError(f"formant_shift_ratio={formant_shift_ratio} is outside the usable range [0.5, 2]")
    sound = parselmouth.Sound(wave, sampling_frequency=sample_rate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", parselmouth.PraatWarning)  # "no voiced segments" on pauses
        converted = call(sound, "Change gender", pitch_floor, pitch_ceiling, formant_shift_ratio, new_pitch_median, pitch_range_factor, 1.0)
    return _fit_length(converted.values[0], wave.shape[0])


def naive_pitch_shift(waveform, sample_rate: int = SAMPLE_RATE, n_steps: float = 4.0) -> np.ndarray:
    """The baseline: ``librosa.effects.pitch_shift`` by ``n_steps`` semitones (formants move too)."""
    import librosa

    wave = _check_clip(waveform).astype(np.float32)
    return _fit_length(librosa.effects.pitch_shift(wave, sr=sample_rate, n_steps=n_steps), wave.shape[0])


def median_f0(waveform, sample_rate: int = SAMPLE_RATE, pitch_floor: float = 60.0, pitch_ceiling: float = 600.0) -> float:
    """Median F0 in Hz over voiced frames (Praat's autocorrelation pitch); NaN if nothing is voiced."""
    import parselmouth

    pitch = parselmouth.Sound(_check_clip(waveform), sampling_frequency=sample_rate).to_pitch(pitch_floor=pitch_floor, pitch_ceiling=pitch_ceiling)
    voiced = pitch.selected_array["frequency"]
    voiced = voiced[voiced > 0]
    return float(np.median(voiced)) if voiced.size else float("nan")


def random_timbre(waveform, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE, ranges: dict | None = None) -> tuple[np.ndarray, dict]:
    """:func:`change_gender` with a log-uniformly drawn formant ratio and pitch median.

    Returns:
        ``(converted (L,), {"formant_shift_ratio": ..., "new_pitch_median": ...})``.
    """
    ranges = ranges or TIMBRE_RANGES
    params = {key: float(np.exp(rng.uniform(np.log(low), np.log(high)))) for key, (low, high) in ranges.items()}
    return change_gender(waveform, sample_rate, **params), params
