"""Timbre conversion: same words, same timing, a different-sounding speaker (positives of Fig. 3).

A voice has two largely independent knobs:

* the *source*: the vocal folds' fundamental frequency F0 (pitch);
* the *filter*: the vocal tract's resonances, the formants (F1, F2, ...), which scale
  with vocal-tract length (shorter tract -> higher formants; children > women > men).

Praat's "Change gender" (Boersma & Weenink; via ``praat-parselmouth``) re-synthesises the
sound by PSOLA with a new pitch median and, independently, scales the spectral envelope
by ``formant_shift_ratio`` -> a plausible new speaker with the same content and length.
Its ``pitch_range_factor`` widens or flattens the intonation around the median, and
:func:`spectral_tilt` makes the voice brighter or darker (the glottal source's spectral
slope, a voice-quality cue). Measured on the bundled speech with the trained E_asr: a
speaker probe scores 46 % on the original test audio, 40 % after pitch + formant changes
alone, and 22 % after pitch + range + formant + tilt changes — the voice lives in all of
these, so the positives of Fig. 3 should vary all of them. :func:`envelope_eq` (optional,
``random_timbre(..., envelope_db=...)``) also raises or lowers single formant regions, since
real vocal tracts differ non-uniformly, not by one scale factor; as extra positive
augmentation it did not lower the decoupled encoder's probe further in our runs.

The naive baseline, :func:`naive_pitch_shift` (``librosa.effects.pitch_shift``: phase
vocoder + resampling), moves pitch *and* formants by the same factor: a +5 semitone shift
raises the formants by 33 % too ("chipmunk"), so the speaker cannot get a low voice with a
short vocal tract or vice versa, and the phase vocoder smears transients (stop bursts).

Where the data holds the same sentence spoken by several speakers, :func:`warp_to_timing` gives
the ideal "conversion": another real voice saying the same words, moved phone by phone onto the
anchor's timing (Praat duration manipulation, PSOLA). It changes *everything* about the voice,
including what no signal-processing conversion reaches (see notebook 02).

All functions take and return ``(L,)`` float32 NumPy arrays at ``sample_rate``; the conversions
keep ``L`` exactly, :func:`warp_to_timing` returns the length asked for.
"""

from __future__ import annotations

import warnings
from typing import Callable, Sequence

import librosa
import numpy as np
import parselmouth
from parselmouth import praat  # praat.call looked up at call time (tests replace it)

from .features import SAMPLE_RATE

__all__ = [
    "change_gender",
    "naive_pitch_shift",
    "spectral_tilt",
    "envelope_eq",
    "median_f0",
    "random_timbre",
    "warp_to_timing",
    "TimingWarper",
    "TIMBRE_RANGES",
    "TILT_RANGE",
    "ENVELOPE_BUMPS",
]

# Ranges drawn (log-uniformly) by :func:`random_timbre`: they span the bundled speakers
# (F0 ~75-330 Hz, spectral envelopes differing by up to ~1.46x, pitch ranges 44-55 of espeak's 0-100).
TIMBRE_RANGES = {
    "formant_shift_ratio": (0.8, 1.25),
    "new_pitch_median": (80.0, 300.0),
    "pitch_range_factor": (0.5, 2.0),
}
#: Spectral tilt drawn uniformly by :func:`random_timbre`, dB per octave around 1 kHz.
TILT_RANGE = (-4.0, 4.0)
#: Envelope bumps drawn by :func:`random_timbre` for :func:`envelope_eq`: how many, centres
#: (log-uniform, Hz; the F1-F4 region), widths (uniform, octaves). Gains: uniform in ``±envelope_db``.
ENVELOPE_BUMPS = {"count": 4, "center_hz": (200.0, 6000.0), "width_octaves": (0.3, 1.0)}


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
        ``(L,)`` float32, same length. Clips with too little voicing for a pitch median
        (pauses, short fricative stretches) only get the formant shift.
    """
    wave = _check_clip(waveform)
    if not 0.5 <= formant_shift_ratio <= 2.0:
        raise ValueError(f"formant_shift_ratio={formant_shift_ratio} is outside the usable range [0.5, 2]")
    sound = parselmouth.Sound(wave, sampling_frequency=sample_rate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", parselmouth.PraatWarning)  # "no voiced segments" on pauses
        try:
            converted = praat.call(
                sound,
                "Change gender",
                pitch_floor,
                pitch_ceiling,
                formant_shift_ratio,
                new_pitch_median,
                pitch_range_factor,
                1.0,
            )
        except parselmouth.PraatError:  # too few voiced frames for a pitch median (short, mostly unvoiced clips)
            converted = praat.call(
                sound, "Change gender", pitch_floor, pitch_ceiling, formant_shift_ratio, 0.0, 1.0, 1.0
            )
    return _fit_length(converted.values[0], wave.shape[0])


def naive_pitch_shift(waveform, sample_rate: int = SAMPLE_RATE, n_steps: float = 4.0) -> np.ndarray:
    """The baseline: ``librosa.effects.pitch_shift`` by ``n_steps`` semitones (formants move too)."""

    wave = _check_clip(waveform).astype(np.float32)
    return _fit_length(librosa.effects.pitch_shift(wave, sr=sample_rate, n_steps=n_steps), wave.shape[0])


def _apply_gain(wave: np.ndarray, gain_db: Callable[[np.ndarray], np.ndarray], sample_rate: int) -> np.ndarray:
    """Multiply the spectrum of ``(L,)`` ``wave`` by ``10^(gain_db(f)/20)`` (one FFT over the clip, length kept)."""
    spectrum = np.fft.rfft(wave)
    frequencies = np.fft.rfftfreq(wave.shape[0], 1.0 / sample_rate)
    return np.fft.irfft(spectrum * 10.0 ** (gain_db(frequencies) / 20.0), n=wave.shape[0]).astype(np.float32)


def spectral_tilt(
    waveform, db_per_octave: float, sample_rate: int = SAMPLE_RATE, pivot_hz: float = 1000.0
) -> np.ndarray:
    """Tilt the spectrum by ``db_per_octave`` around ``pivot_hz`` (gain ``db_per_octave · log2(f / pivot)``).

    Positive values brighten the voice (more energy up high), negative ones darken it.
    Frequencies below 100 Hz get the 100 Hz gain, so DC and hum are not boosted without bound.
    Length is kept exactly (one FFT over the whole clip).
    """
    return _apply_gain(
        _check_clip(waveform), lambda f: db_per_octave * np.log2(np.maximum(f, 100.0) / pivot_hz), sample_rate
    )


def envelope_eq(
    waveform,
    centers_hz: Sequence[float],
    widths_octaves: Sequence[float],
    gains_db: Sequence[float],
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """Smooth spectral-envelope EQ: a sum of Gaussian bumps on a log-frequency axis.

    ``gain_db(f) = Σ_j g_j · exp(-½ ((log2 f - log2 c_j) / w_j)²)``, with centres ``c_j``
    (``centers_hz``), widths ``w_j`` (``widths_octaves``) and peak gains ``g_j`` (``gains_db``,
    negative = a dip). A bump on a formant region makes that formant stronger or weaker
    relative to the others — a per-formant change that one ``formant_shift_ratio`` cannot make.
    Frequencies below 50 Hz get the 50 Hz gain. Length is kept exactly.
    """
    centers, widths, gains = (np.asarray(v, dtype=np.float64) for v in (centers_hz, widths_octaves, gains_db))
    if not centers.shape == widths.shape == gains.shape or centers.ndim != 1:
        raise ValueError(
            f"centers_hz, widths_octaves, gains_db must be 1-D of one length, got {centers.shape}, {widths.shape}, "
            f"{gains.shape}"
        )
    if (centers <= 0).any() or (widths <= 0).any():
        raise ValueError("bump centres and widths must be > 0")

    def gain_db(frequencies):  # (F,) -> (F,): sum over bumps j of g_j N(log2 f; log2 c_j, w_j)
        octaves = (np.log2(np.maximum(frequencies, 50.0))[:, None] - np.log2(centers)[None]) / widths[None]
        return (gains[None] * np.exp(-0.5 * octaves**2)).sum(1)

    return _apply_gain(_check_clip(waveform), gain_db, sample_rate)


def median_f0(
    waveform, sample_rate: int = SAMPLE_RATE, pitch_floor: float = 60.0, pitch_ceiling: float = 600.0
) -> float:
    """Median F0 in Hz over voiced frames (Praat's autocorrelation pitch); NaN if nothing is voiced."""

    pitch = parselmouth.Sound(_check_clip(waveform), sampling_frequency=sample_rate).to_pitch(
        pitch_floor=pitch_floor, pitch_ceiling=pitch_ceiling
    )
    voiced = pitch.selected_array["frequency"]
    voiced = voiced[voiced > 0]
    return float(np.median(voiced)) if voiced.size else float("nan")


def random_timbre(
    waveform,
    rng: np.random.Generator,
    sample_rate: int = SAMPLE_RATE,
    ranges: dict | None = None,
    envelope_db: float = 0.0,
) -> tuple[np.ndarray, dict]:
    """:func:`change_gender`, :func:`spectral_tilt`, then :func:`envelope_eq`, with randomly drawn voice parameters.

    The formant ratio, pitch median and pitch-range factor are drawn log-uniformly from
    ``ranges`` (default :data:`TIMBRE_RANGES`), the tilt uniformly from :data:`TILT_RANGE`,
    and, if ``envelope_db > 0``, :data:`ENVELOPE_BUMPS` bumps with gains uniform in ``±envelope_db``.

    Returns:
        ``(converted (L,), params)``: ``{"formant_shift_ratio", "new_pitch_median", "pitch_range_factor",
        "tilt_db_per_octave"}`` and, with the EQ, ``"envelope_centers_hz", "envelope_widths_octaves",
        "envelope_gains_db"``.
    """
    ranges = ranges or TIMBRE_RANGES
    params = {key: float(np.exp(rng.uniform(np.log(low), np.log(high)))) for key, (low, high) in ranges.items()}
    tilt = float(rng.uniform(*TILT_RANGE))
    # PSOLA resynthesis draws from Praat's own random generator; seed it from ``rng`` so the same
    # ``rng`` state gives the same positive, sample for sample (and a decoupling run is repeatable)
    parselmouth.praat.run(f"random_initializeWithSeedUnsafelyButPredictably ({int(rng.integers(2**31))})")
    converted = spectral_tilt(change_gender(waveform, sample_rate, **params), tilt, sample_rate)
    params["tilt_db_per_octave"] = tilt
    if envelope_db > 0:
        count, (low, high) = ENVELOPE_BUMPS["count"], ENVELOPE_BUMPS["center_hz"]
        bumps = {
            "envelope_centers_hz": np.exp(rng.uniform(np.log(low), np.log(high), count)).tolist(),
            "envelope_widths_octaves": rng.uniform(*ENVELOPE_BUMPS["width_octaves"], count).tolist(),
            "envelope_gains_db": rng.uniform(-envelope_db, envelope_db, count).tolist(),
        }
        converted = envelope_eq(
            converted,
            bumps["envelope_centers_hz"],
            bumps["envelope_widths_octaves"],
            bumps["envelope_gains_db"],
            sample_rate,
        )
        params.update(bumps)
    return converted, params


class TimingWarper:
    """One source utterance, analysed once, warped onto any number of phone timings (:func:`warp_to_timing`).

    Praat's "To Manipulation" (the pitch analysis PSOLA needs, about three quarters of a warp's time)
    depends on the source alone; a warper runs it once and each call replaces only the duration tier,
    so warping one recording onto the timings of ``n`` other speakers costs one analysis, not ``n``.
    Every call returns what :func:`warp_to_timing` returns for the same arguments.

    Args:
        waveform: ``(L_s,)`` the source utterance.
    """

    def __init__(self, waveform, sample_rate: int = SAMPLE_RATE):
        self.sample_rate = sample_rate
        self._sound = parselmouth.Sound(_check_clip(waveform), sampling_frequency=sample_rate)
        self._manipulation = praat.call(self._sound, "To Manipulation", 0.01, 60.0, 600.0)

    def __call__(self, source_boundaries_s, target_boundaries_s, length: int, max_ratio: float = 5.0) -> np.ndarray:
        """``(length,)`` float32: the source with its phone boundaries moved onto ``target_boundaries_s``."""
        source, target = (np.asarray(b, dtype=np.float64) for b in (source_boundaries_s, target_boundaries_s))
        if source.ndim != 1 or source.shape != target.shape or source.size < 2:
            raise ValueError(
                f"boundaries must be two 1-D arrays of one length >= 2 (phones + 1), got {source.shape} and "
                f"{target.shape}"
            )
        if (np.diff(source) < 0).any() or (np.diff(target) < 0).any():
            raise ValueError("phone boundaries must be non-decreasing")
        if length <= 0:
            raise ValueError(f"length must be > 0 samples, got {length}")
        tier = praat.call("Create DurationTier", "phone durations", 0.0, self._sound.duration)
        edge = 1e-4  # two points per phone, just inside its edges: the ratio is constant within the phone
        start, end, target_duration = source[:-1], source[1:], np.diff(target)
        kept = end - start > 2 * edge
        ratio = np.clip(target_duration[kept] / (end - start)[kept], 1.0 / max_ratio, max_ratio)
        points = zip((start[kept] + edge).tolist(), (end[kept] - edge).tolist(), ratio.tolist())
        # one Praat script for all points (a praat.call per point costs ~0.2 ms; repr() round-trips every float)
        parselmouth.praat.run(
            tier, "".join(f"Add point: {a!r}, {r!r}\nAdd point: {b!r}, {r!r}\n" for a, b, r in points)
        )
        praat.call([self._manipulation, tier], "Replace duration tier")
        # PSOLA draws from Praat's own random generator; a fixed seed makes the warp a function of its inputs
        parselmouth.praat.run("random_initializeWithSeedUnsafelyButPredictably (0)")
        return _fit_length(praat.call(self._manipulation, "Get resynthesis (overlap-add)").values[0], length)


def warp_to_timing(
    waveform,
    source_boundaries_s,
    target_boundaries_s,
    length: int,
    sample_rate: int = SAMPLE_RATE,
    max_ratio: float = 5.0,
) -> np.ndarray:
    """Time-warp ``waveform`` so that its phone boundaries land on ``target_boundaries_s``.

    Phone ``i`` spans ``[source_boundaries_s[i], source_boundaries_s[i + 1])`` in ``waveform`` and must
    span ``[target_boundaries_s[i], target_boundaries_s[i + 1])`` afterwards: its relative duration
    ``(t_{i+1} - t_i) / (s_{i+1} - s_i)`` (clipped to ``[1/max_ratio, max_ratio]``) goes into a Praat
    DurationTier, held constant inside the phone, and PSOLA resynthesis ("overlap-add") stretches or
    squeezes each phone without changing its pitch or spectrum. To warp one source onto several
    timings, :class:`TimingWarper` analyses it only once.

    Args:
        waveform: ``(L_s,)`` the source utterance.
        source_boundaries_s, target_boundaries_s: ``(P + 1,)`` non-decreasing phone boundaries in
            seconds, first = start of the first phone, last = end of the last.
        length: samples of the result (the target utterance's length); trimmed or zero-padded.

    Returns:
        ``(length,)`` float32.
    """
    return TimingWarper(waveform, sample_rate)(source_boundaries_s, target_boundaries_s, length, max_ratio)
