"""Bundled dataset: generator (``talkinghead-edu make-dataset``) and loaders.

Speech part (contract C4): :func:`load_speech_dataset` -> :class:`SpeechDataset` of
:class:`Utterance` objects; :func:`synthesize_utterance` / :func:`concatenate_utterances`
make new ones (espeak-ng needed only to synthesise).
"""
from .espeak import VoiceSpec
from .speech import (ARTICULATION_NAMES, FPS, SAMPLE_RATE, SAMPLES_PER_FRAME, HeadMotionMap, Phoneme, SpeakerStyle,
                     Utterance, concatenate_utterances, load_head_motion_map, synthesize_utterance)
from .speech_dataset import SpeechDataset, load_speech_dataset

__all__ = [
    "ARTICULATION_NAMES", "FPS", "SAMPLE_RATE", "SAMPLES_PER_FRAME", "HeadMotionMap", "Phoneme", "SpeakerStyle",
    "SpeechDataset", "Utterance", "VoiceSpec", "concatenate_utterances", "load_head_motion_map",
    "load_speech_dataset", "synthesize_utterance",
]
