"""Audio: file loading and resampling (``io``); features and encoders are added by later stages."""
from .io import AudioLoadError, load_audio, prepare_waveform

__all__ = ["AudioLoadError", "load_audio", "prepare_waveform"]
from .encoder import AudioEncoder, EncoderConfig, load_encoder  # noqa: E402  (AUDIO helper: encoders, contract C6)
from .features import align_to_video_frames, frame_context, log_mel, mfcc  # noqa: E402
__all__ += ["AudioEncoder", "EncoderConfig", "load_encoder", "align_to_video_frames", "frame_context", "log_mel", "mfcc"]  # noqa: E402
