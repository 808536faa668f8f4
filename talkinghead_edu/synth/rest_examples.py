"""Training clips with a resting mouth: silence before, between and after utterances.

The bundled utterances start at most ~90 ms before the speech, so a translator trained on them
alone never sees a closed, still mouth and keeps it half open through a pause. This module builds
clips that contain rest:

* **padded** (:func:`padded_utterance`): one utterance with 0.3–1.0 s of silence before and after;
* **joined** (:func:`joined_utterances`): two utterances of one speaker with a 0.3–0.8 s phrase
  pause between them (and padded the same way);
* **silence alone** (:func:`silence_clips`): 2–3 s with no speech at all. The audio encoder
  normalises each clip, so a recording that is silence from start to end does not look like the
  pauses of a clip with speech; without these clips the translator leaves the mouth 1.7–2.8 mm
  open on such input.

The ground-truth motion of a clip is *not* the stored motion with a block pasted in: the motion
model (:func:`talkinghead_edu.synth.speech_motion.synthesize_motion`) runs again on the padded
phoneme list, whose silences are pause phones (``""``, viseme ``sil``). The coarticulation model
then closes the mouth toward the ``sil`` target (jaw 0, lips lightly together, no rounding or
spreading) over a pause and opens it again smoothly before the next phone, with the speaker's
own style (speed, amplitude, smile, blinks, head motion).

Audio in the silences: digital silence for half of the clips, and for the other half a very
low white noise floor over the whole clip (RMS −70 … −50 dBFS). Real recordings are never
digitally silent (microphone and room noise), so a translator that only saw exact zeros in its
pauses could read a quiet room as something else; the digital half keeps exact zeros (a file
padded in an editor, the ``speak`` CLI on generated audio) covered too.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..conventions import FPS, SAMPLES_PER_FRAME
from ..data.speech import HeadMotionMap, Phoneme, SpeakerStyle, Utterance
from .speech_motion import synthesize_motion

__all__ = [
    "LEAD_TRAIL_S",
    "PAUSE_S",
    "NOISE_FLOOR_DBFS",
    "with_rest",
    "padded_utterance",
    "joined_utterances",
    "rest_clips",
    "silence_clips",
]

LEAD_TRAIL_S = (0.3, 1.0)  # silence before / after a clip (seconds, uniform)
PAUSE_S = (0.3, 0.8)  # phrase pause between two joined utterances (seconds, uniform)
NOISE_FLOOR_DBFS = (-70.0, -50.0)  # RMS of the optional noise floor (uniform in dB)
SILENCE_ONLY_FRAMES = (50, 76)  # length of a clip of silence alone (frames, [low, high): 2-3 s)


def _frames(rng: np.random.Generator, bounds: tuple[float, float]) -> int:
    """A random whole number of frames of silence, ``bounds`` in seconds."""
    return int(round(rng.uniform(*bounds) * FPS))


def with_rest(
    utterances: Sequence[Utterance],
    silences: Sequence[int],
    style: SpeakerStyle,
    head: HeadMotionMap,
    rng: np.random.Generator,
    noise_floor_dbfs: float | None = None,
) -> Utterance:
    """Utterances of one speaker with silences around and between them, motion from the motion model.

    Args:
        utterances: ``n >= 1`` utterances of one speaker (their audio and phoneme times are used,
            their stored motion is not).
        silences: ``n + 1`` silence lengths in frames: before the first, between, after the last.
        style: the speaker's :class:`SpeakerStyle`.
        head: articulation -> FLAME map for ``expression`` and ``jaw_pose``.
        rng: seeds blinks, brows and head motion of the clip.
        noise_floor_dbfs: RMS of a white noise floor added to the whole clip, or ``None`` for
            digital silence.

    Returns:
        one :class:`Utterance` (``id`` = the ids joined by ``+`` plus ``"+rest"``), audio ``(640 T,)``.
    """
    if not utterances or len(silences) != len(utterances) + 1:
        raise ValueError(
            f"with_rest: need n >= 1 utterances and n + 1 silences, got {len(utterances)} and {len(silences)}"
        )
    if min(silences) < 0:
        raise ValueError(f"with_rest: silences are frame counts >= 0, got {list(silences)}")
    if len({u.speaker for u in utterances}) != 1:
        raise ValueError(f"with_rest: one speaker expected, got {sorted({u.speaker for u in utterances})}")
    pieces: list[np.ndarray] = []
    phonemes: list[Phoneme] = []
    time_s = 0.0

    def add(symbol: str, viseme: str, duration_s: float) -> None:
        nonlocal time_s
        if symbol == "" and phonemes and phonemes[-1].symbol == "":  # a pause after a pause: one pause
            phonemes[-1] = Phoneme("", "sil", phonemes[-1].start_s, time_s + duration_s)
        else:
            phonemes.append(Phoneme(symbol, viseme, time_s, time_s + duration_s))
        time_s += duration_s

    for silence, u in zip(silences, utterances):
        if silence:
            pieces.append(np.zeros(silence * SAMPLES_PER_FRAME, dtype=np.float32))
            add("", "sil", silence / FPS)
        pieces.append(np.asarray(u.audio, dtype=np.float32))
        for p in u.phonemes:
            add(p.symbol, p.viseme, p.end_s - p.start_s)
    if silences[-1]:
        pieces.append(np.zeros(silences[-1] * SAMPLES_PER_FRAME, dtype=np.float32))
        add("", "sil", silences[-1] / FPS)
    audio = np.concatenate(pieces)
    if noise_floor_dbfs is not None:
        audio = audio + (10 ** (noise_floor_dbfs / 20) * rng.standard_normal(len(audio))).astype(np.float32)
    num_frames = len(audio) // SAMPLES_PER_FRAME
    articulation, neck_pose = synthesize_motion(phonemes, num_frames, style, rng)
    first = utterances[0]
    return Utterance(
        id="+".join(u.id for u in utterances) + "+rest",
        speaker=first.speaker,
        language=first.language if len({u.language for u in utterances}) == 1 else "mixed",
        sentence_id="+".join(u.sentence_id for u in utterances),
        text=" ".join(u.text for u in utterances),
        audio=audio,
        phonemes=phonemes,
        articulation=articulation,
        expression=head.expression(articulation),
        jaw_pose=head.jaw_pose(articulation),
        neck_pose=neck_pose,
        split=first.split,
        meta={"silence_frames": list(map(int, silences)), "noise_floor_dbfs": noise_floor_dbfs},
    )


def _noise_floor(rng: np.random.Generator) -> float | None:
    """Half the clips digital silence, half a noise floor in :data:`NOISE_FLOOR_DBFS`."""
    return None if rng.random() < 0.5 else float(rng.uniform(*NOISE_FLOOR_DBFS))


def padded_utterance(u: Utterance, style: SpeakerStyle, head: HeadMotionMap, rng: np.random.Generator) -> Utterance:
    """``u`` with :data:`LEAD_TRAIL_S` of silence before and after (see :func:`with_rest`)."""
    silences = [_frames(rng, LEAD_TRAIL_S), _frames(rng, LEAD_TRAIL_S)]
    return with_rest([u], silences, style, head, rng, _noise_floor(rng))


def joined_utterances(
    a: Utterance, b: Utterance, style: SpeakerStyle, head: HeadMotionMap, rng: np.random.Generator
) -> Utterance:
    """``a``, a :data:`PAUSE_S` phrase pause, ``b``; padded like :func:`padded_utterance`."""
    silences = [_frames(rng, LEAD_TRAIL_S), _frames(rng, PAUSE_S), _frames(rng, LEAD_TRAIL_S)]
    return with_rest([a, b], silences, style, head, rng, _noise_floor(rng))


def rest_clips(dataset, split: str, seed: int, joined: bool = True) -> list[Utterance]:
    """Every utterance of ``dataset.split(split)`` padded, plus (``joined``) each joined with another
    utterance of its speaker (a random partner). Deterministic in ``seed``; ``dataset`` is a
    :class:`~talkinghead_edu.data.SpeechDataset` (styles and head map are taken from it)."""
    rng = np.random.default_rng(seed)
    utterances = dataset.split(split)
    clips = [padded_utterance(u, dataset.styles[u.speaker], dataset.head, rng) for u in utterances]
    if joined:
        for u in utterances:
            partners = [v for v in utterances if v.speaker == u.speaker and v.id != u.id]
            if partners:
                partner = partners[int(rng.integers(len(partners)))]
                clips.append(joined_utterances(u, partner, dataset.styles[u.speaker], dataset.head, rng))
    return clips


def silence_clips(dataset, per_speaker: int, seed: int) -> list[Utterance]:
    """``per_speaker`` clips of silence alone (:data:`SILENCE_ONLY_FRAMES`) for every speaker of ``dataset``:
    every second one digital silence, the others a noise floor (:data:`NOISE_FLOOR_DBFS`); the motion
    model's rest (one pause phone) with the speaker's style (blinks, smile, head motion). Deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    clips = []
    for speaker in dataset.speakers:
        style = dataset.styles[speaker]
        for k in range(per_speaker):
            num_frames = int(rng.integers(*SILENCE_ONLY_FRAMES))
            audio = np.zeros(num_frames * SAMPLES_PER_FRAME, dtype=np.float32)
            if k % 2:
                level = 10 ** (rng.uniform(*NOISE_FLOOR_DBFS) / 20)
                audio += (level * rng.standard_normal(len(audio))).astype(np.float32)
            pause = [Phoneme("", "sil", 0.0, num_frames / FPS)]
            articulation, neck_pose = synthesize_motion(pause, num_frames, style, rng)
            clips.append(
                Utterance(
                    id=f"{speaker}_silence{k}",
                    speaker=speaker,
                    language="",
                    sentence_id="",
                    text="",
                    audio=audio,
                    phonemes=pause,
                    articulation=articulation,
                    expression=dataset.head.expression(articulation),
                    jaw_pose=dataset.head.jaw_pose(articulation),
                    neck_pose=neck_pose,
                )
            )
    return clips
