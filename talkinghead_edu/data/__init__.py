"""Bundled dataset: generator (``talkinghead-edu make-dataset``) and loaders.

Speech part (contract C4): :func:`load_speech_dataset` -> :class:`SpeechDataset` of
:class:`Utterance` objects; :func:`synthesize_utterance` / :func:`concatenate_utterances`
make new ones (espeak-ng needed only to synthesise).

Video part (contract C5): :func:`load_video_dataset` -> :class:`VideoDataset` for a target
speaker (:func:`list_video_speakers`); :func:`load_byo_video` / :func:`export_byo` read and
write the bring-your-own ``transforms.json`` + per-frame ``flame_param`` layout.
"""
from .espeak import VoiceSpec
from .speech import (ARTICULATION_NAMES, FPS, SAMPLE_RATE, SAMPLES_PER_FRAME, HeadMotionMap, Phoneme, SpeakerStyle,
                     Utterance, concatenate_utterances, load_head_motion_map, synthesize_utterance)
from .speech_dataset import SpeechDataset, load_speech_dataset
from .byo import BYOFormatError, export_byo, load_byo_video
from .video_dataset import FlameParams, VideoDataset, list_video_speakers, load_video_dataset

__all__ = [
    "ARTICULATION_NAMES", "FPS", "SAMPLE_RATE", "SAMPLES_PER_FRAME", "HeadMotionMap", "Phoneme", "SpeakerStyle",
    "SpeechDataset", "Utterance", "VoiceSpec", "concatenate_utterances", "load_head_motion_map",
    "load_speech_dataset", "synthesize_utterance",
    "BYOFormatError", "FlameParams", "VideoDataset", "export_byo", "list_video_speakers", "load_byo_video",
    "load_video_dataset",
]
