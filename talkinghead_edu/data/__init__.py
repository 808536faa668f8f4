"""Loaders of the bundled dataset and of your own video — no generators here (see ``synth``).

Speech part: :func:`load_speech_dataset` -> :class:`SpeechDataset` of :class:`Utterance`
objects (16 kHz audio, phonemes, ground-truth FLAME motion at 25 fps).

Video part: :func:`load_video_dataset` -> :class:`VideoDataset` for a target speaker
(:func:`list_video_speakers`); :func:`load_byo_video` / :func:`export_byo` read and write the
bring-your-own ``transforms.json`` + per-frame ``flame_param`` layout.
"""

from ..flame.params import FlameParams
from .byo import BYOFormatError, export_byo, load_byo_video
from .speech import (
    ARTICULATION_NAMES,
    HeadMotionMap,
    Phoneme,
    SpeakerStyle,
    Utterance,
    VoiceSpec,
    concatenate_utterances,
    load_head_motion_map,
)
from .speech_dataset import SpeechDataset, load_speech_dataset
from .video_dataset import VideoDataset, list_video_speakers, load_video_dataset

__all__ = [
    "ARTICULATION_NAMES",
    "HeadMotionMap",
    "Phoneme",
    "SpeakerStyle",
    "SpeechDataset",
    "Utterance",
    "VoiceSpec",
    "concatenate_utterances",
    "load_head_motion_map",
    "load_speech_dataset",
    "BYOFormatError",
    "FlameParams",
    "VideoDataset",
    "export_byo",
    "list_video_speakers",
    "load_byo_video",
    "load_video_dataset",
]
