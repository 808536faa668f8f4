"""Phonemes -> visemes, and the mouth target of each viseme.

A *viseme* is a group of phonemes that look the same on the face (/p/, /b/ and /m/ all
close the lips). Fourteen classes cover the IPA symbols espeak-ng produces for English,
French, Spanish, German, Korean and Mandarin:

======  ==================================  ======  ==========================
class   phonemes                            class   phonemes
======  ==================================  ======  ==========================
sil     pause                               sh      ʃ ʒ ɕ ʑ ʂ ʐ and affricates
pbm     p b m                               r       r ɹ ɻ ʁ ʀ
fv      f v ɱ                               kg      k g ŋ x χ h ʔ ...
th      θ ð                                 i       i ɪ j ɨ ɯ
tdnl    t d n l ɾ ɲ ...                     e       e ɛ æ ə ɜ ɤ
sz      s z ts dz                           a       a ɑ ɐ ʌ
o       o ɔ ɒ ø œ ɵ                         u       u ʊ w y ʏ ɥ
======  ==================================  ======  ==========================

Before mapping, stress, length, tone and diacritics are stripped
(:func:`normalize_ipa`) and diphthongs are split into their vowels
(:func:`split_phone`).

Each viseme has a target for four speech articulations — ``jaw_open``, ``lip_round``,
``lip_spread``, ``lip_press`` — and a *dominance* per articulation (how strongly the
segment imposes its target on its neighbours, Cohen & Massaro 1993; see
:func:`talkinghead_edu.data.speech.coarticulate`). Bilabials dominate lip closure but
barely the rounding (so /u/ rounds the lips right up to a neighbouring /m/, whose
closure takes the rounding back only while the lips meet); vowels dominate the jaw.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np

__all__ = [
    "VISEMES",
    "SPEECH_ARTICULATIONS",
    "VISEME_TARGETS",
    "VISEME_DOMINANCE",
    "normalize_ipa",
    "split_phone",
    "viseme_of",
]

VISEMES: tuple[str, ...] = ("sil", "pbm", "fv", "th", "tdnl", "sz", "sh", "r", "kg", "i", "e", "a", "o", "u")
SPEECH_ARTICULATIONS: tuple[str, ...] = ("jaw_open", "lip_round", "lip_spread", "lip_press")

# Targets per viseme, columns = SPEECH_ARTICULATIONS, all in [0, 1]  (14, 4).
VISEME_TARGETS: np.ndarray = np.array(
    [
        # jaw   round spread press
        [0.00, 0.00, 0.00, 0.15],  # sil  jaw at rest, lips lightly together: a long pause reaches the neutral mouth
        [0.03, 0.00, 0.00, 1.00],  # pbm  lips pressed shut
        [0.12, 0.00, 0.15, 0.45],  # fv   lower lip against the upper teeth
        [0.20, 0.00, 0.20, 0.00],  # th
        [0.22, 0.00, 0.10, 0.00],  # tdnl
        [0.10, 0.00, 0.45, 0.00],  # sz   teeth nearly together, lips spread
        [0.15, 0.65, 0.00, 0.00],  # sh   lips protruded
        [0.22, 0.40, 0.00, 0.00],  # r
        [0.28, 0.00, 0.05, 0.00],  # kg
        [0.25, 0.00, 0.85, 0.00],  # i
        [0.45, 0.00, 0.45, 0.00],  # e
        [0.85, 0.00, 0.10, 0.00],  # a
        [0.55, 0.70, 0.00, 0.00],  # o
        [0.22, 1.00, 0.00, 0.00],  # u
    ],
    dtype=np.float32,
)

# Dominance magnitude per viseme and articulation (14, 4): who wins where segments overlap.
VISEME_DOMINANCE: np.ndarray = np.array(
    [
        # jaw  round spread press
        [0.3, 0.2, 0.2, 0.3],  # sil
        [0.9, 0.1, 0.3, 1.0],  # pbm
        [0.7, 0.1, 0.3, 0.9],  # fv
        [0.6, 0.1, 0.3, 0.5],  # th
        [0.5, 0.1, 0.2, 0.3],  # tdnl
        [0.8, 0.3, 0.6, 0.5],  # sz
        [0.7, 0.8, 0.6, 0.5],  # sh
        [0.5, 0.6, 0.3, 0.3],  # r
        [0.4, 0.1, 0.1, 0.2],  # kg
        [0.8, 0.6, 0.9, 0.4],  # i
        [0.8, 0.5, 0.7, 0.4],  # e
        [1.0, 0.5, 0.6, 0.5],  # a
        [0.9, 0.9, 0.6, 0.4],  # o
        [0.8, 1.0, 0.6, 0.4],  # u
    ],
    dtype=np.float32,
)

_CLASS_OF_BASE: dict[str, str] = {}
for _viseme, _symbols in {
    "pbm": "p b m ɓ pf",
    "fv": "f v ɱ ʋ ɸ β",
    "th": "θ ð",
    "tdnl": "t d n l ɾ ɗ ɭ ʈ ɖ ɳ ɫ ɬ ɲ ʎ c ɟ ʝ",
    "sz": "s z ts dz",
    "sh": "ʃ ʒ ɕ ʑ ʂ ʐ tʃ dʒ tɕ dʑ tʂ dʐ",
    "r": "r ɹ ɻ ʁ ʀ",
    "kg": "k g ɡ ŋ x ɣ χ q ɢ h ɦ ʔ ç",
    "i": "i ɪ j ɨ ɯ",
    "e": "e ɛ æ ə ɜ ɘ ɤ ɚ",
    "a": "a ɑ ɐ ʌ ɶ",
    "o": "o ɔ ɒ ø œ ɵ",
    "u": "u ʊ w y ʏ ɥ ʉ",
}.items():
    for _symbol in _symbols.split():
        _CLASS_OF_BASE[_symbol] = _viseme

_ASPIRATION = re.compile(r"(?<=[ptkɕʂ])h|(?<=ts)h")  # espeak writes Mandarin aspiration as a plain h
_MULTI_CHAR = sorted((s for s in _CLASS_OF_BASE if len(s) > 1), key=len, reverse=True)
_DROP_CHARS = set("ːˑˈˌ.-_0123456789|'\"ʰʲʷˠˤ˞ⁿˡ̃")


def normalize_ipa(symbol: str) -> str:
    """Strip stress, length, syllable breaks, tone digits, aspiration and combining diacritics.

    ``"ˈaː"`` -> ``"a"``; espeak's Mandarin aspirates ``"ph"``, ``"ts.h"`` -> ``"p"``, ``"ts"``.
    """
    decomposed = unicodedata.normalize("NFD", symbol)
    kept = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn" and ch not in _DROP_CHARS)
    return _ASPIRATION.sub("", kept).replace("ɡ", "g")


def split_phone(symbol: str) -> list[str]:
    """Split a normalised phone into units that each map to one viseme.

    Affricates stay whole (``"tʃ"``); diphthongs split into their vowels (``"aɪ"`` ->
    ``["a", "ɪ"]``); any other character becomes its own unit (and :func:`viseme_of`
    rejects it). ``""`` (pause) -> ``[""]``.
    """
    base = normalize_ipa(symbol)
    if not base:
        return [""]
    units: list[str] = []
    position = 0
    while position < len(base):
        match = next((m for m in _MULTI_CHAR if base.startswith(m, position)), None)
        if match is not None:
            units.append(match)
            position += len(match)
            continue
        units.append(base[position])
        position += 1
    return units


def viseme_of(unit: str) -> str:
    """Viseme class of one unit from :func:`split_phone` (``""`` -> ``"sil"``).

    Raises:
        KeyError: a symbol this table does not know.
    """
    if unit == "":
        return "sil"
    try:
        return _CLASS_OF_BASE[unit]
    except KeyError:
        raise KeyError(f"no viseme for phone {unit!r}; known: {sorted(_CLASS_OF_BASE)}") from None
