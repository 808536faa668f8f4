"""Ground-truth facial motion for speech: phonemes -> visemes -> articulation curves -> FLAME.

The dataset's speakers do not exist, so their faces are driven by a motion model that
follows the spoken content and each speaker's own talking style:

1. **Visemes with coarticulation** (:func:`coarticulate`). Every phone segment *s* pulls
   each speech articulation *k* (jaw opening, lip rounding, spreading, pressing) toward
   its viseme target ``T[s, k]`` with a dominance that decays away from the segment
   (Cohen & Massaro 1993)::

       D[s, k](t) = alpha[s, k] * exp(-theta[k] * speed * dist(t, segment s))
       a[k](t)    = sum_s D[s, k](t) * T[s, k] / sum_s D[s, k](t)

   Closure decays fast (``theta`` large: a /p/ only closes the lips where it is), rounding
   slowly (anticipatory rounding of /u/ over several consonants). Lips only meet if the
   jaw rises and nothing else parts them, so a closure scales the jaw opening, the
   rounding and the spreading down (``jaw, round, spread *= 1 - c`` with the closure
   ``c = clip((press - 0.2) / 0.5, 0, 1)``; /f v/ half-close it). The head's ``lip_round``
   and ``lip_spread`` each carry a small lip opening (the round "oo" hole, the flattened "ee"
   slit) in the same expression column as their protrusion/corner pull, so the closure has to
   take the whole articulation back: an /m/ between two /u/ loses its protrusion for the
   instant of closure, which is what keeps the rendered inner-lip gap under 1 mm. The curves are evaluated
   at 8 sub-steps per video frame; a frame that contains a lip closure shows the instant of
   strongest closure (so a /p/ shorter than a frame is never lost), any other frame the
   mean over its sub-steps.
2. **Non-speech motion** (:func:`synthesize_motion`): blinks (a Poisson process), brow
   raises on prominent (long) vowels, a slow smile/frown drift, cheek puff during bilabial
   closure, and small head motion (neck rotation) that nods with the speech energy.
3. **Talking style** (:class:`SpeakerStyle`): mouth-opening amplitude, lip gain,
   articulation speed, smile bias, mouth asymmetry, brow expressivity, blink rate, head
   motion amplitude. Same sentence + two speakers -> same phonemes, different curves.
4. **FLAME** (:class:`HeadMotionMap`): the articulation curves (T, A) become expression
   coefficients ``expression = articulation @ articulation_expr`` (T, E) with the bundled
   head's ``articulation_expr`` (A, E), and the jaw rotation about +x is
   ``jaw_open * jaw_open_max_rad``.

Everything runs at 25 fps on 16 kHz audio: one video frame = 640 samples.
"""

from __future__ import annotations

from math import gcd

import numpy as np
from scipy.signal import resample_poly

from ..conventions import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME
from ..data.speech import (
    ARTICULATION_COLUMN,
    ARTICULATION_NAMES,
    HeadMotionMap,
    Phoneme,
    SpeakerStyle,
    Utterance,
    load_head_motion_map,
)
from .espeak import synthesize_isolated
from .visemes import SPEECH_ARTICULATIONS, VISEME_DOMINANCE, VISEME_TARGETS, VISEMES, split_phone, viseme_of

__all__ = ["coarticulate", "synthesize_motion", "phonemes_from_espeak", "synthesize_utterance"]

SUBSTEPS = 8  # motion sub-steps per video frame
CLOSURE_LEVEL = 0.5  # a frame whose lip_press peaks above this shows its closure instant
# Dominance decay rates theta[k] (1/s) for jaw, round, spread, press (SPEECH_ARTICULATIONS order).
_DECAY_PER_S = np.array([28.0, 12.0, 20.0, 70.0], dtype=np.float64)


# ---------------------------------------------------------------- phones -> phonemes (16 kHz)
def phonemes_from_espeak(result, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, list[Phoneme]]:
    """Resample an :class:`~talkinghead_edu.synth.espeak.EspeakResult` to 16 kHz, pad to whole frames.

    Returns:
        audio: (L,) float32, L a multiple of 640.
        phonemes: contiguous :class:`Phoneme` list covering [0, L / 16000] exactly
            (diphthongs split evenly; spans under 1 ms merge into the next; the padding is a pause).
    """
    divisor = gcd(sample_rate, result.sample_rate)
    audio = resample_poly(
        result.audio.astype(np.float64) / 32768.0, sample_rate // divisor, result.sample_rate // divisor
    ).astype(np.float32)
    length = int(np.ceil(len(audio) / SAMPLES_PER_FRAME)) * SAMPLES_PER_FRAME
    audio = np.pad(audio, (0, length - len(audio)))
    ratio = sample_rate / result.sample_rate
    units: list[list] = []  # [symbol, viseme, start, end] in 16 kHz samples
    pending_start = 0  # start of the next unit (absorbs spans under 1 ms)
    for phone in result.phones:
        start, end = round(phone.start * ratio), round(phone.end * ratio)
        parts = split_phone(phone.symbol)
        edges = np.linspace(start, end, len(parts) + 1).round().astype(int)
        for part, b in zip(parts, edges[1:]):
            if b - pending_start < 16:
                continue
            if part == "" and units and units[-1][0] == "":
                units[-1][3] = b  # a pause after a pause
            else:
                units.append([part, viseme_of(part), pending_start, b])
            pending_start = b
    if units[-1][0] == "":
        units[-1][3] = length
    elif units[-1][3] < length:
        units.append(["", "sil", units[-1][3], length])
    phonemes = [Phoneme(s, v, a / sample_rate, b / sample_rate) for s, v, a, b in units]
    return audio, phonemes


# ---------------------------------------------------------------- motion model
def coarticulate(phonemes: list[Phoneme], num_frames: int, style: SpeakerStyle) -> np.ndarray:
    """Dominance-function coarticulation -> speech articulations (T, 4) (SPEECH_ARTICULATIONS).

    Implements the blend in the module docstring at ``SUBSTEPS`` points per frame; the
    distance to a segment is 0 inside it. Frames whose ``lip_press`` exceeds ``CLOSURE_LEVEL``
    take all four values at the sub-step of strongest closure, other frames the sub-step mean.
    """
    times = (np.arange(num_frames * SUBSTEPS) + 0.5) / (FPS * SUBSTEPS)  # (T*S,)
    starts = np.array([p.start_s for p in phonemes])
    ends = np.array([p.end_s for p in phonemes])
    viseme_index = np.array([VISEMES.index(p.viseme) for p in phonemes])
    distance = np.maximum(0.0, np.maximum(starts[None, :] - times[:, None], times[:, None] - ends[None, :]))  # (T*S, P)
    decay = _DECAY_PER_S * style.articulation_speed  # (4,)
    # dominance[t, p, k] = alpha[viseme(p), k] * exp(-theta[k] * distance[t, p])
    dominance = VISEME_DOMINANCE[viseme_index][None] * np.exp(-distance[:, :, None] * decay[None, None, :])
    dominance = np.maximum(dominance, 1e-12)
    blended = (dominance * VISEME_TARGETS[viseme_index][None]).sum(1) / dominance.sum(1)  # (T*S, 4)
    # the lips can only meet if nothing parts them: closure c = clip((press - 0.2) / 0.5, 0, 1),
    # jaw, round, spread *= 1 - c (rounding and spreading each open the lips a little on the head)
    closure = np.clip((blended[:, 3] - 0.2) / 0.5, 0.0, 1.0)
    blended[:, :3] *= 1.0 - closure[:, None]
    per_frame = blended.reshape(num_frames, SUBSTEPS, len(SPEECH_ARTICULATIONS))
    press = per_frame[:, :, SPEECH_ARTICULATIONS.index("lip_press")]  # (T, S)
    closure_instant = per_frame[np.arange(num_frames), press.argmax(axis=1)]  # (T, 4) all values at max press
    has_closure = press.max(axis=1) > CLOSURE_LEVEL
    curves = np.where(has_closure[:, None], closure_instant, per_frame.mean(axis=1))
    return curves.astype(np.float32)


def _slow_noise(
    rng: np.random.Generator, num_frames: int, low_hz: float = 0.1, high_hz: float = 0.6, components: int = 3
) -> np.ndarray:
    """Smooth zero-mean noise in [-1, 1] (T,): a sum of a few slow sinusoids with random phases."""
    t = np.arange(num_frames) / FPS
    frequencies = rng.uniform(low_hz, high_hz, components)
    phases = rng.uniform(0, 2 * np.pi, components)
    return (np.sin(2 * np.pi * frequencies[:, None] * t[None] + phases[:, None]).sum(0) / components).astype(np.float32)


def _pulse(num_frames: int, centre_s: float, rise_s: float, fall_s: float) -> np.ndarray:
    """Raised-cosine bump (T,) peaking (1) at ``centre_s``: rise over ``rise_s``, decay over ``fall_s``."""
    t = (np.arange(num_frames) + 0.5) / FPS - centre_s
    out = np.zeros(num_frames, dtype=np.float32)
    rising = (t > -rise_s) & (t <= 0)
    falling = (t > 0) & (t < fall_s)
    out[rising] = 0.5 * (1 + np.cos(np.pi * t[rising] / rise_s))
    out[falling] = 0.5 * (1 + np.cos(np.pi * t[falling] / fall_s))
    return out


def synthesize_motion(
    phonemes: list[Phoneme], num_frames: int, style: SpeakerStyle, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Full facial motion for one utterance.

    Returns:
        articulation: (T, A) float32 in :data:`ARTICULATION_NAMES` order, values >= 0.
        neck_pose: (T, 3) float32 axis-angle (radians): nod (x), turn (y), tilt (z).
    """
    T = num_frames
    speech = coarticulate(phonemes, T, style)
    out = np.zeros((T, len(ARTICULATION_NAMES)), dtype=np.float32)
    jaw = np.clip(speech[:, 0] * style.mouth_amplitude, 0.0, 1.0)
    out[:, ARTICULATION_COLUMN["jaw_open"]] = jaw
    out[:, ARTICULATION_COLUMN["lip_round"]] = np.clip(speech[:, 1] * style.lip_gain, 0.0, 1.2)
    out[:, ARTICULATION_COLUMN["lip_spread"]] = np.clip(speech[:, 2] * style.lip_gain, 0.0, 1.2)
    press = speech[:, 3]
    out[:, ARTICULATION_COLUMN["lip_press"]] = press
    # air pressure builds behind closed lips: the cheeks puff a little during a bilabial closure
    out[:, ARTICULATION_COLUMN["cheek_puff"]] = 0.3 * np.clip((press - 0.5) / 0.5, 0.0, 1.0)
    out[:, ARTICULATION_COLUMN["smile"]] = np.clip(style.smile_bias + 0.08 * _slow_noise(rng, T), 0.0, 1.0)
    out[:, ARTICULATION_COLUMN["brow_frown"]] = np.clip(0.12 * _slow_noise(rng, T, 0.05, 0.3), 0.0, 1.0)
    # mouth asymmetry grows with the opening
    pull = style.asymmetry * (0.3 + jaw)
    out[:, ARTICULATION_COLUMN["mouth_left"]] = np.clip(pull, 0.0, None)
    out[:, ARTICULATION_COLUMN["mouth_right"]] = np.clip(-pull, 0.0, None)
    # brow raises on some prominent (long) vowels; the first one always gets one
    brow = 0.15 * style.brow_expressivity * np.clip(_slow_noise(rng, T), 0.0, 1.0)
    vowels = [p for p in phonemes if p.viseme in {"i", "e", "a", "o", "u"}]
    typical = np.percentile([p.end_s - p.start_s for p in vowels], 75) if vowels else 0.0
    candidates = [p for p in vowels if p.end_s - p.start_s >= typical]
    chosen = [p for i, p in enumerate(candidates) if i == 0 or rng.random() < 0.35]
    for p in chosen:
        brow = np.maximum(
            brow, style.brow_expressivity * rng.uniform(0.6, 1.0) * _pulse(T, 0.5 * (p.start_s + p.end_s), 0.15, 0.45)
        )
    out[:, ARTICULATION_COLUMN["brow_raise"]] = brow
    # blinks: Poisson process; fast close (70 ms), slow open (150 ms)
    blink = np.zeros(T, dtype=np.float32)
    time_s = rng.exponential(1.0 / style.blink_rate_hz)
    while time_s < T / FPS:
        blink = np.maximum(blink, _pulse(T, time_s, 0.07, 0.15))
        time_s += 0.25 + rng.exponential(1.0 / style.blink_rate_hz)
    out[:, ARTICULATION_COLUMN["blink_left"]] = blink
    out[:, ARTICULATION_COLUMN["blink_right"]] = blink * 0.97
    # head motion: slow wandering plus a nod that follows the jaw activity (speech energy)
    amplitude = np.deg2rad(style.head_motion_deg)
    energy = np.convolve(jaw - jaw.mean(), np.hanning(9) / np.hanning(9).sum(), mode="same")
    neck = np.stack(
        [
            amplitude * (0.5 * _slow_noise(rng, T) + 0.8 * energy),
            amplitude * _slow_noise(rng, T, 0.05, 0.4),
            0.5 * amplitude * _slow_noise(rng, T, 0.05, 0.3),
        ],
        axis=1,
    ).astype(np.float32)
    return out, neck


def synthesize_utterance(
    text: str,
    language: str,
    voice,
    style: SpeakerStyle,
    seed: int,
    *,
    head: HeadMotionMap | None = None,
    speaker: str = "",
    utterance_id: str = "",
    sentence_id: str = "",
    espeak_result=None,
) -> Utterance:
    """Speak ``text`` with espeak-ng (fresh process) and synthesise the matching facial motion.

    Args:
        text: the sentence (Mandarin as pinyin with tone digits, Korean in Hangul).
        language: one of ``"en" "fr" "es" "de" "ko" "cmn"``.
        voice: :class:`~talkinghead_edu.synth.espeak.VoiceSpec` (timbre and prosody).
        style: :class:`SpeakerStyle` (how the face moves).
        seed: seeds blinks, brow raises, head motion (the speech part is deterministic).
        head: articulation -> FLAME map (default: the bundled head asset).
        espeak_result: an already synthesised :class:`EspeakResult` (skips espeak).
    """
    if espeak_result is None:
        espeak_result = synthesize_isolated([(text, language, voice)], max_workers=1)[0]
    head = head or load_head_motion_map()
    audio, phonemes = phonemes_from_espeak(espeak_result)
    num_frames = len(audio) // SAMPLES_PER_FRAME
    articulation, neck_pose = synthesize_motion(phonemes, num_frames, style, np.random.default_rng(seed))
    return Utterance(
        id=utterance_id,
        speaker=speaker,
        language=language,
        sentence_id=sentence_id,
        text=text,
        audio=audio,
        phonemes=phonemes,
        articulation=articulation,
        expression=head.expression(articulation),
        jaw_pose=head.jaw_pose(articulation),
        neck_pose=neck_pose,
    )
