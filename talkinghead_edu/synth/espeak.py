"""Speech with exact phoneme timing from the espeak-ng C library (through ``ctypes``).

Only the dataset generator (``talkinghead-edu make-dataset``) needs this module; the
committed data and every loader work without espeak-ng. Install it with
``apt-get install espeak-ng`` (Debian/Ubuntu) or ``brew install espeak-ng`` (macOS).

How the timing is obtained:

1. ``espeak_Initialize`` in synchronous mode with phoneme events, phoneme names in IPA.
2. A synth callback copies every block of 16-bit samples and records each
   ``espeakEVENT_PHONEME`` event; its ``sample`` field is the exact sample index where
   the phone starts (``audio_position`` is only whole milliseconds).
3. A phone spans from its event's sample to the next event's sample.
4. Clean-up of espeak's own conventions (see :func:`clean_phone_events`): unnamed events
   are pauses (long) or Mandarin tone marks (short, folded into the previous phone);
   language-switch markers like ``(en)`` are dropped; voiceless stops and affricates get
   their event at the *burst*, so the closure silence before it is moved from the
   previous phone to the stop (a bilabial closure must show closed lips).

Synthesis can depend (by a few milliseconds) on what the same process synthesised
before, so :func:`synthesize_isolated` runs each utterance in a fresh worker process —
that makes the dataset reproducible.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
from dataclasses import dataclass

import numpy as np

from ..data.speech import VoiceSpec

__all__ = [
    "TimedPhone",
    "EspeakResult",
    "EspeakUnavailable",
    "espeak_synthesize",
    "synthesize_isolated",
    "clean_phone_events",
]

# Constants from espeak-ng's speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_INIT_PHONEME_IPA = 0x0002
_INIT_DONT_EXIT = 0x8000
_EVENT_LIST_TERMINATED = 0
_EVENT_PHONEME = 7
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_PARAM_VOLUME = 2
_PARAM_PITCH = 3
_PARAM_RANGE = 4

_TONE_MAX_S = 0.025  # unnamed events shorter than this are tone marks, not pauses
_MAX_CLOSURE_S = 0.09  # longest closure silence moved onto a voiceless stop
_CLOSURE_LEVEL = 0.02  # |sample| / peak below this counts as closure silence
_BURST_SYMBOLS = ("p", "t", "k", "q", "c", "ʈ")  # prefixes: also covers tʃ ts tɕ tʂ pf and aspirates


class EspeakUnavailable(RuntimeError):
    """The espeak-ng shared library is not installed (only the generator needs it)."""


@dataclass(frozen=True)
class TimedPhone:
    """One phone as espeak-ng produced it: IPA ``symbol`` ("" = pause), samples [start, end)."""

    symbol: str
    start: int
    end: int


@dataclass(frozen=True)
class EspeakResult:
    """Raw synthesis: ``audio`` int16 (L,) at ``sample_rate`` (22050) and contiguous ``phones``
    covering [0, L) exactly."""

    audio: np.ndarray
    sample_rate: int
    phones: tuple[TimedPhone, ...]


class _Event(ctypes.Structure):
    """``espeak_EVENT`` from speak_lib.h (the ``id`` union read as its 8-byte ``string``)."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))
_LIBRARY: dict[str, object] = {}


def _library() -> tuple[ctypes.CDLL, int]:
    """Load and initialise libespeak-ng once per process -> (lib, sample_rate)."""
    if "lib" not in _LIBRARY:
        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            lib = ctypes.CDLL(name)
        except OSError as exc:
            raise EspeakUnavailable(
                "the espeak-ng library is needed only to regenerate the speech data; install it with "
                "`apt-get install espeak-ng` (or `brew install espeak-ng`)"
            ) from exc
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        sample_rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INIT_PHONEME_EVENTS | _INIT_PHONEME_IPA | _INIT_DONT_EXIT
        )
        if sample_rate <= 0:
            raise EspeakUnavailable(f"espeak_Initialize failed (returned {sample_rate})")
        _LIBRARY.update(lib=lib, sample_rate=sample_rate)
    return _LIBRARY["lib"], _LIBRARY["sample_rate"]


def espeak_synthesize(text: str, language: str, voice: VoiceSpec) -> EspeakResult:
    """Synthesise ``text`` in this process -> audio and cleaned, contiguous phone spans.

    Prefer :func:`synthesize_isolated` when the result must be reproducible.
    """
    if not text.strip():
        raise ValueError("text to synthesise is empty")
    lib, sample_rate = _library()
    blocks: list[np.ndarray] = []
    events: list[tuple[int, str]] = []

    def on_synth(wav, num_samples, event_array):
        if num_samples > 0:
            blocks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
        i = 0
        while event_array[i].type != _EVENT_LIST_TERMINATED:
            event = event_array[i]
            if event.type == _EVENT_PHONEME:
                events.append((int(event.sample), event.id.decode("utf-8", errors="ignore")))
            i += 1
        return 0

    callback = _SynthCallback(on_synth)  # keep a reference while espeak may call it
    lib.espeak_SetSynthCallback(callback)
    if lib.espeak_SetVoiceByName(voice.voice_name(language).encode()) != 0:
        raise ValueError(f"espeak-ng has no voice {voice.voice_name(language)!r}")
    for parameter, value in (
        (_PARAM_RATE, voice.rate),
        (_PARAM_PITCH, voice.pitch),
        (_PARAM_RANGE, voice.pitch_range),
        (_PARAM_VOLUME, 100),
    ):
        lib.espeak_SetParameter(parameter, int(value), 0)
    encoded = text.encode("utf-8")
    lib.espeak_Synth(encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
    lib.espeak_Synchronize()
    audio = np.concatenate(blocks).astype(np.int16) if blocks else np.zeros(0, np.int16)
    phones = clean_phone_events(events, audio, sample_rate)
    return EspeakResult(audio=audio, sample_rate=sample_rate, phones=tuple(phones))


def clean_phone_events(events: list[tuple[int, str]], audio: np.ndarray, sample_rate: int) -> list[TimedPhone]:
    """Turn espeak's phoneme events ``(sample, ipa_name)`` into contiguous phone spans over [0, L).

    Rules (module docstring): spans run from one event to the next; a leading gap is a pause;
    language switches ``(xx)`` vanish; short unnamed events (tone marks) join the previous phone;
    a voiceless stop/affricate takes over the closure silence that precedes its burst.
    """
    length = len(audio)
    if length == 0:
        raise ValueError("espeak-ng produced no audio")
    points = sorted(
        (
            (min(max(s, 0), length), name.strip())
            for s, name in events
            if not (name.startswith("(") and name.endswith(")"))
        ),
        key=lambda point: point[0],
    )
    points = [(0, "")] + [p for p in points if p[0] < length]
    spans: list[list] = []  # [symbol, start, end]
    for (start, name), (end, _) in zip(points, points[1:] + [(length, "")]):
        if end <= start:
            continue
        if not name and spans and (end - start) < _TONE_MAX_S * sample_rate and spans[-1][0]:
            spans[-1][2] = end  # a Mandarin tone mark: part of the previous phone
            continue
        if spans and not name and not spans[-1][0]:
            spans[-1][2] = end  # consecutive pauses merge
            continue
        spans.append([name, start, end])
    envelope = np.abs(audio.astype(np.float32))
    level = _CLOSURE_LEVEL * max(float(envelope.max()), 1.0)
    max_shift = int(_MAX_CLOSURE_S * sample_rate)
    for previous, stop in zip(spans, spans[1:]):
        if not stop[0].startswith(_BURST_SYMBOLS):
            continue
        boundary = stop[1]
        lowest = max(previous[1] + 1, boundary - max_shift)
        loud = np.flatnonzero(envelope[lowest:boundary] >= level)
        closure_start = lowest + (loud[-1] + 1 if loud.size else 0)  # start of the quiet run before the burst
        previous[2] = stop[1] = closure_start
    return [TimedPhone(symbol=s, start=int(a), end=int(b)) for s, a, b in spans if b > a]


def _synthesize_worker(text: str, language: str, voice: VoiceSpec) -> EspeakResult:
    return espeak_synthesize(text, language, voice)


def synthesize_isolated(jobs: list[tuple[str, str, VoiceSpec]], max_workers: int = 2) -> list[EspeakResult]:
    """Synthesise each ``(text, language, voice)`` in its own fresh process (reproducible)."""
    context = multiprocessing.get_context("fork")  # the parent never loads espeak, so each child starts clean
    with context.Pool(processes=max_workers, maxtasksperchild=1) as pool:
        return pool.starmap(_synthesize_worker, jobs, chunksize=1)
