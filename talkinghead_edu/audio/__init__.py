"""Audio: file loading and resampling (``io``); features and encoders are added by later stages."""
from .io import AudioLoadError, load_audio

__all__ = ["AudioLoadError", "load_audio"]
