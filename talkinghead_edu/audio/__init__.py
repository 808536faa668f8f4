"""Audio (paper eq 1): loading and resampling (``io``), log-mel/MFCC/F0 and 25 fps alignment
(``features``), timbre conversion (``timbre``), the Wav2Vec 2.0-structured encoder with its CTC
phoneme head (``encoder``) and the loader of real Wav2Vec 2.0 checkpoints (``hf``)."""

from .encoder import AudioEncoder, EncoderConfig, load_encoder
from .features import align_to_video_frames, frame_context, log_mel, mfcc
from .io import AudioLoadError, load_audio, prepare_waveform

__all__ = [
    "AudioEncoder",
    "AudioLoadError",
    "EncoderConfig",
    "align_to_video_frames",
    "frame_context",
    "load_audio",
    "load_encoder",
    "log_mel",
    "mfcc",
    "prepare_waveform",
]
