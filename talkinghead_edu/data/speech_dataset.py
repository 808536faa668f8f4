"""Loader for the bundled multi-speaker, multilingual speech data (``datasets_small/speech/``).

On disk (format described in ``datasets_small/README.md``)::

    speech/metadata.json            speakers (voice, style), sentences, languages, splits,
                                    utterances with frame counts and sha256 checksums
    speech/head_map.npz             articulation_names (A,), articulation_expr (A, E),
                                    jaw_open_max_rad: the head asset's articulation -> FLAME link
    speech/<speaker>/<sentence>.flac   16 kHz mono, 640 * T samples
    speech/<speaker>/<sentence>.npz    phoneme_symbols/visemes (P,), phoneme_start/end (P,)
                                       in samples, articulation (T, A), neck_pose (T, 3)

Example:
    >>> from talkinghead_edu.data import load_speech_dataset
    >>> ds = load_speech_dataset()
    >>> u = ds.split("train")[0]
    >>> u.audio.shape, u.expression.shape, u.phonemes[1]
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio.io import load_audio
from ..conventions import SAMPLE_RATE, SAMPLES_PER_FRAME
from ..errors import DatasetError, MissingFileError, TalkingHeadError
from .speech import HeadMotionMap, Phoneme, SpeakerStyle, Utterance, VoiceSpec, load_head_motion_map
from .video_dataset import _read_meta, _read_npz

__all__ = ["SpeechDataset", "load_speech_dataset", "SPLITS"]

SPLITS: tuple[str, ...] = ("train", "val", "test", "test_unseen_language")


@dataclass
class SpeechDataset:
    """The loaded speech data; every :class:`Utterance` fully in memory (~30 MB).

    Attributes:
        root: the ``speech/`` folder.
        speakers: speaker names in a fixed order.
        styles: speaker -> :class:`SpeakerStyle`; voices: speaker -> :class:`VoiceSpec`.
        languages: language codes; ``held_out_language`` is only in ``test_unseen_language``.
        sentences: sentence id -> ``{"language", "text", "shared", "split"}``.
        head: the articulation -> FLAME map the expressions were computed with.
        utterances: all utterances (each has ``.split``).
        metadata: the raw ``metadata.json``.
    """

    root: Path
    speakers: list[str]
    styles: dict[str, SpeakerStyle]
    voices: dict[str, VoiceSpec]
    languages: list[str]
    held_out_language: str
    sentences: dict[str, dict]
    head: HeadMotionMap
    utterances: list[Utterance]
    metadata: dict

    def split(self, name: str) -> list[Utterance]:
        """Utterances of one split: ``"train"``, ``"val"``, ``"test"`` or ``"test_unseen_language"``."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of {SPLITS}")
        return [u for u in self.utterances if u.split == name]

    def by_sentence(self, sentence_id: str) -> list[Utterance]:
        """Every speaker's utterance of one sentence (same content, different voice and style)."""
        found = [u for u in self.utterances if u.sentence_id == sentence_id]
        if not found:
            raise KeyError(f"no utterances of sentence {sentence_id!r}; known: {sorted(self.sentences)}")
        return found

    def get(self, utterance_id: str) -> Utterance:
        for u in self.utterances:
            if u.id == utterance_id:
                return u
        raise KeyError(f"no utterance {utterance_id!r} in {self.root}")

    @property
    def articulation_names(self) -> tuple[str, ...]:
        return tuple(self.metadata["articulation_names"])

    def phoneme_inventory(self) -> list[str]:
        """Sorted phoneme symbols used in the data ("" = pause), e.g. for a CTC vocabulary."""
        return sorted({p.symbol for u in self.utterances for p in u.phonemes})

    def __len__(self) -> int:
        return len(self.utterances)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


_MOTION_KEYS = ("phoneme_start", "phoneme_end", "phoneme_symbols", "phoneme_visemes", "articulation", "neck_pose")


def _load_utterance(folder: Path, item: dict, sentences: dict, head: HeadMotionMap) -> Utterance:
    stem = folder / item["speaker"] / item["sentence_id"]
    audio = load_audio(stem.with_suffix(".flac"), target_sr=SAMPLE_RATE)
    motion = _read_npz(stem.with_suffix(".npz"), _MOTION_KEYS)
    starts, ends = motion["phoneme_start"], motion["phoneme_end"]
    phonemes = [
        Phoneme(str(s), str(v), int(a) / SAMPLE_RATE, int(b) / SAMPLE_RATE)
        for s, v, a, b in zip(motion["phoneme_symbols"], motion["phoneme_visemes"], starts, ends)
    ]
    articulation = motion["articulation"].astype(np.float32)
    neck_pose = motion["neck_pose"].astype(np.float32)
    frames = int(item["num_frames"])
    if (
        articulation.shape != (frames, len(head.articulation_names))
        or neck_pose.shape != (frames, 3)
        or len(audio) != SAMPLES_PER_FRAME * frames
    ):
        raise DatasetError(
            f"{stem}: {len(audio)} samples, articulation {articulation.shape} and neck_pose {neck_pose.shape}; "
            f"metadata says {frames} frames of {SAMPLES_PER_FRAME} samples, so expected "
            f"({frames}, {len(head.articulation_names)}) and ({frames}, 3)"
        )
    return Utterance(
        id=item["id"],
        speaker=item["speaker"],
        language=item["language"],
        sentence_id=item["sentence_id"],
        text=sentences[item["sentence_id"]]["text"],
        audio=audio,
        phonemes=phonemes,
        articulation=articulation,
        expression=head.expression(articulation),
        jaw_pose=head.jaw_pose(articulation),
        neck_pose=neck_pose,
        split=item["split"],
        meta={"phoneme_start_samples": starts, "phoneme_end_samples": ends},
    )


def load_speech_dataset(root: str | Path | None = None, verify: bool = False) -> SpeechDataset:
    """Load ``datasets_small/speech`` (or ``root``, the folder holding ``metadata.json``).

    Args:
        root: the speech folder; default ``dataset_root() / "speech"``.
        verify: also check every file against the sha256 in ``metadata.json``.

    Raises:
        FileNotFoundError: no ``metadata.json`` under ``root``.
        ValueError: a checksum or frame count does not match.
    """
    from ..paths import dataset_root

    folder = Path(root) if root is not None else dataset_root() / "speech"
    meta_path = folder / "metadata.json"
    if not meta_path.is_file():
        raise MissingFileError(
            f"no speech dataset at {folder} (missing metadata.json); "
            "regenerate it with `talkinghead-edu make-dataset --part speech`"
        )
    metadata = _read_meta(meta_path, ("speakers", "languages", "held_out_language", "sentences", "utterances"))
    try:
        return _build_dataset(folder, metadata, verify)
    except TalkingHeadError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:  # a missing or mistyped metadata entry
        raise DatasetError(
            f"{meta_path} does not describe this folder's data ({type(exc).__name__}: {exc}); "
            "regenerate it with `talkinghead-edu make-dataset --part speech`"
        ) from None


def _build_dataset(folder: Path, metadata: dict, verify: bool) -> SpeechDataset:
    """:class:`SpeechDataset` from a parsed ``metadata.json`` (see :func:`load_speech_dataset`)."""
    if verify:
        files = [("head_map.npz", metadata["head_map_sha256"])]
        for item in metadata["utterances"]:
            files += [
                (f"{item['speaker']}/{item['sentence_id']}.flac", item["audio_sha256"]),
                (f"{item['speaker']}/{item['sentence_id']}.npz", item["motion_sha256"]),
            ]
        bad = [name for name, digest in files if _sha256(folder / name) != digest]
        if bad:
            raise DatasetError(f"{len(bad)} files in {folder} do not match their checksums, e.g. {bad[:3]}")
    head = load_head_motion_map(folder / "head_map.npz")
    _warn_if_head_changed(head)
    speakers = list(metadata["speakers"])
    return SpeechDataset(
        root=folder,
        speakers=speakers,
        styles={s: SpeakerStyle.from_dict(metadata["speakers"][s]["style"]) for s in speakers},
        voices={s: VoiceSpec(**metadata["speakers"][s]["voice"]) for s in speakers},
        languages=list(metadata["languages"]),
        held_out_language=metadata["held_out_language"],
        sentences=metadata["sentences"],
        head=head,
        utterances=[_load_utterance(folder, item, metadata["sentences"], head) for item in metadata["utterances"]],
        metadata=metadata,
    )


def _warn_if_head_changed(stored: HeadMotionMap) -> None:
    """One warning when the bundled head asset no longer matches the one the data was linked to."""
    try:
        current = load_head_motion_map()
    except (FileNotFoundError, ValueError):
        return
    if current.fingerprint != stored.fingerprint:
        warnings.warn(
            "the speech data's expressions were made for a different head asset; relink them with "
            "`talkinghead-edu make-dataset --part speech --remap-only`",
            stacklevel=3,
        )
