"""The speech dataset's containers: phonemes, talking styles, utterances, and the head link.

An :class:`Utterance` is one spoken sentence with its ground-truth facial motion at 25 fps:
16 kHz audio (640 samples per video frame, :mod:`talkinghead_edu.conventions`), the phone
segments, the articulation curves (columns :data:`ARTICULATION_NAMES`) and the FLAME motion
they give through the head's :class:`HeadMotionMap`. How the motion is *made* lives in
:mod:`talkinghead_edu.synth.speech_motion`; this module only describes and loads it.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from ..conventions import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME
from ..errors import DatasetError, MissingFileError
from ..flame.params import FlameParams
from ..paths import ASSETS_DIR

__all__ = [
    "ARTICULATION_NAMES",
    "LANGUAGE_VOICES",
    "VoiceSpec",
    "Phoneme",
    "SpeakerStyle",
    "Utterance",
    "HeadMotionMap",
    "load_head_motion_map",
    "concatenate_utterances",
]

ARTICULATION_NAMES: tuple[str, ...] = (
    "jaw_open",
    "lip_round",
    "lip_spread",
    "lip_press",
    "smile",
    "brow_raise",
    "brow_frown",
    "blink_left",
    "blink_right",
    "cheek_puff",
    "mouth_left",
    "mouth_right",
)
ARTICULATION_COLUMN = {name: i for i, name in enumerate(ARTICULATION_NAMES)}

#: Dataset language code -> espeak-ng voice name. ``cmn`` is read from pinyin with tone
#: digits (espeak-ng 1.51 misreads Chinese characters); Korean is read from Hangul.
LANGUAGE_VOICES: dict[str, str] = {
    "en": "en",
    "fr": "fr",
    "es": "es",
    "de": "de",
    "ko": "ko",
    "cmn": "cmn-latn-pinyin",
}


@dataclass(frozen=True)
class VoiceSpec:
    """An espeak-ng voice: language voice + variant (timbre) + prosody.

    Attributes:
        variant: espeak-ng voice variant (file in ``espeak-ng-data/voices/!v``), e.g. ``"m3"``.
        pitch: base pitch 0..100 (espeak's scale; 50 is the default).
        pitch_range: intonation range 0..100.
        rate: speaking rate in words per minute (espeak default 175).
    """

    variant: str
    pitch: int = 50
    pitch_range: int = 50
    rate: int = 165

    def voice_name(self, language: str) -> str:
        """espeak-ng voice name, e.g. ``"fr+m3"``."""
        if language not in LANGUAGE_VOICES:
            raise ValueError(f"unknown language {language!r}; expected one of {sorted(LANGUAGE_VOICES)}")
        return f"{LANGUAGE_VOICES[language]}+{self.variant}"


@dataclass(frozen=True)
class Phoneme:
    """One phone: normalised IPA ``symbol`` ("" = pause), its ``viseme`` class, span in seconds."""

    symbol: str
    viseme: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class SpeakerStyle:
    """A speaker's talking style: how the same phonemes become different facial motion.

    Attributes:
        mouth_amplitude: scale on jaw opening (1 = the viseme targets).
        lip_gain: scale on lip rounding and spreading.
        articulation_speed: scale on the dominance decay rates; > 1 is crisper (less
            coarticulation), < 1 is slurred.
        smile_bias: constant smile while speaking (0..0.6).
        asymmetry: mouth pulled to the subject's left (> 0) or right (< 0) in proportion
            to the mouth opening.
        brow_expressivity: height of the brow raises on prominent syllables (0..1).
        blink_rate_hz: mean blinks per second.
        head_motion_deg: typical head rotation amplitude in degrees.
    """

    mouth_amplitude: float = 1.0
    lip_gain: float = 1.0
    articulation_speed: float = 1.0
    smile_bias: float = 0.0
    asymmetry: float = 0.0
    brow_expressivity: float = 0.5
    blink_rate_hz: float = 0.3
    head_motion_deg: float = 2.0

    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> "SpeakerStyle":
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown SpeakerStyle fields {sorted(unknown)}; expected {sorted(known)}")
        return cls(**{k: float(v) for k, v in values.items()})


@dataclass
class Utterance:
    """One spoken utterance with its ground-truth facial motion (25 fps).

    Shapes: ``audio`` (L,) float32 at 16 kHz with L = 640 * T; ``articulation`` (T, A)
    (columns :data:`ARTICULATION_NAMES`); ``expression`` (T, E) FLAME expression
    coefficients; ``jaw_pose`` and ``neck_pose`` (T, 3) axis-angle in radians.
    """

    id: str
    speaker: str
    language: str
    sentence_id: str
    text: str
    audio: np.ndarray
    phonemes: list[Phoneme]
    articulation: np.ndarray
    expression: np.ndarray
    jaw_pose: np.ndarray
    neck_pose: np.ndarray
    sample_rate: int = SAMPLE_RATE
    split: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        frames = self.num_frames
        if len(self.audio) != frames * SAMPLES_PER_FRAME:
            raise ValueError(
                f"utterance {self.id}: audio has {len(self.audio)} samples, expected "
                f"{SAMPLES_PER_FRAME} * {frames} frames"
            )
        for name in ("expression", "jaw_pose", "neck_pose"):
            if getattr(self, name).shape[0] != frames:
                raise ValueError(
                    f"utterance {self.id}: {name} has {getattr(self, name).shape[0]} frames, articulation has {frames}"
                )

    @property
    def num_frames(self) -> int:
        """T, the number of 25 fps video frames."""
        return int(self.articulation.shape[0])

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate

    @property
    def flame(self) -> FlameParams:
        """The motion as :class:`FlameParams` (float32 NumPy; global rotation, eyes and translation zero)."""
        vectors = np.concatenate([self.expression, self.jaw_pose, self.neck_pose], axis=1).astype(np.float32)
        return FlameParams.from_motion_vector(vectors)

    def frame_phoneme_index(self) -> np.ndarray:
        """(T,) index into :attr:`phonemes` of the phone covering the centre of each frame."""
        centres = (np.arange(self.num_frames) + 0.5) / FPS
        ends = np.array([p.end_s for p in self.phonemes])
        return np.minimum(np.searchsorted(ends, centres, side="right"), len(self.phonemes) - 1)

    def frame_phonemes(self) -> list[str]:
        """Phoneme symbol at the centre of each frame (T,), "" for a pause (frame-level labels)."""
        return [self.phonemes[i].symbol for i in self.frame_phoneme_index()]

    def frame_visemes(self) -> list[str]:
        """Viseme class at the centre of each frame (T,)."""
        return [self.phonemes[i].viseme for i in self.frame_phoneme_index()]

    def closure_frames(self) -> np.ndarray:
        """(K,) one frame per /p b m/ phone: the frame of strongest ``lip_press`` among those it overlaps
        (a /p/ shorter than a frame still has one)."""
        press = self.articulation[:, ARTICULATION_NAMES.index("lip_press")]
        frames = []
        for p in self.phonemes:
            if p.viseme == "pbm":
                first = min(int(p.start_s * FPS), self.num_frames - 1)
                last = max(int(np.ceil(p.end_s * FPS)), first + 1)
                frames.append(first + int(np.argmax(press[first:last])))
        return np.array(frames, dtype=np.int64)


# ---------------------------------------------------------------- head asset link
@dataclass(frozen=True)
class HeadMotionMap:
    """What the motion model needs from the head asset: articulation -> FLAME expression.

    Attributes:
        articulation_names: (A,) names, matching columns of ``articulation_expr``.
        articulation_expr: (A, E) expression coefficients of a unit amount of each articulation.
        jaw_open_max_rad: jaw rotation about +x that goes with ``jaw_open = 1``.
        fingerprint: short hash of the above (to detect a changed head asset).
    """

    articulation_names: tuple[str, ...]
    articulation_expr: np.ndarray
    jaw_open_max_rad: float
    fingerprint: str

    def expression(self, articulation: np.ndarray) -> np.ndarray:
        """(T, len(ARTICULATION_NAMES)) articulation curves -> (T, E) expression coefficients."""
        columns = [ARTICULATION_COLUMN.get(name) for name in self.articulation_names]
        matched = np.stack(
            [articulation[:, c] if c is not None else np.zeros(len(articulation), np.float32) for c in columns], axis=1
        )  # (T, A_head)
        return (matched @ self.articulation_expr).astype(np.float32)

    def jaw_pose(self, articulation: np.ndarray) -> np.ndarray:
        """(T, A) -> (T, 3) jaw axis-angle: rotation about +x (opening) only."""
        jaw = np.zeros((len(articulation), 3), dtype=np.float32)
        jaw[:, 0] = articulation[:, ARTICULATION_COLUMN["jaw_open"]] * self.jaw_open_max_rad
        return jaw


def load_head_motion_map(path: str | Path | None = None) -> HeadMotionMap:
    """Read ``articulation_names``, ``articulation_expr`` and ``jaw_open_max_rad`` from a head asset npz.

    ``path`` defaults to the bundled ``talkinghead_edu/flame/assets/procedural_head.npz``.
    """
    path = Path(path) if path is not None else ASSETS_DIR / "procedural_head.npz"
    if not path.is_file():
        raise MissingFileError(f"head asset {path} not found; build it with `talkinghead-edu build-head`")
    try:
        with np.load(path, allow_pickle=False) as asset:
            missing = {"articulation_names", "articulation_expr", "jaw_open_max_rad"} - set(asset.files)
            if missing:
                raise DatasetError(
                    f"head asset {path} lacks {sorted(missing)} (the head-model layout written by "
                    "`talkinghead-edu build-head`)"
                )
            names = tuple(str(n) for n in asset["articulation_names"])
            matrix = np.asarray(asset["articulation_expr"], dtype=np.float32)
            jaw_max = float(asset["jaw_open_max_rad"])
    except DatasetError:
        raise
    except Exception as exc:  # truncated zip, pickled arrays, non-scalar jaw_open_max_rad
        raise DatasetError(
            f"head asset {path} is not a readable npz of plain arrays ({type(exc).__name__}: {exc})"
        ) from None
    if matrix.ndim != 2 or matrix.shape[0] != len(names) or not np.isfinite(matrix).all() or not np.isfinite(jaw_max):
        raise DatasetError(
            f"head asset {path}: articulation_expr must be ({len(names)}, E) finite numbers, got {matrix.shape}"
        )
    digest = hashlib.sha256("|".join(names).encode() + matrix.tobytes() + np.float64(jaw_max).tobytes())
    return HeadMotionMap(names, matrix, jaw_max, digest.hexdigest()[:16])


def concatenate_utterances(utterances: list[Utterance]) -> Utterance:
    """Join utterances of one speaker end to end (audio, phonemes shifted, motion) -> one long track."""
    if not utterances:
        raise ValueError("concatenate_utterances needs at least one utterance")
    speakers = {u.speaker for u in utterances}
    if len(speakers) != 1:
        raise ValueError(f"concatenate_utterances needs one speaker, got {sorted(speakers)}")
    phonemes: list[Phoneme] = []
    offset = 0.0
    for u in utterances:
        phonemes += [Phoneme(p.symbol, p.viseme, p.start_s + offset, p.end_s + offset) for p in u.phonemes]
        offset += u.duration_s
    languages = {u.language for u in utterances}
    return Utterance(
        id="+".join(u.id for u in utterances),
        speaker=utterances[0].speaker,
        language=languages.pop() if len(languages) == 1 else "mixed",
        sentence_id="+".join(u.sentence_id for u in utterances),
        text=" ".join(u.text for u in utterances),
        audio=np.concatenate([u.audio for u in utterances]),
        phonemes=phonemes,
        articulation=np.concatenate([u.articulation for u in utterances]),
        expression=np.concatenate([u.expression for u in utterances]),
        jaw_pose=np.concatenate([u.jaw_pose for u in utterances]),
        neck_pose=np.concatenate([u.neck_pose for u in utterances]),
    )
