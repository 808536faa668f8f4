"""Frame-feature extractors for the motion translator: ``waveform (B, L) -> (B, T, D)``, ``T = L // 640``.

The translator accepts any callable with that signature. By name:

* ``"universal"`` / ``"asr"``: the package's audio encoders (``talkinghead_edu.audio.load_encoder``),
  the decoupled Universal Audio Encoder ``E_uni`` and the raw ASR encoder ``E_asr``;
* a path: an encoder checkpoint file or Hugging Face Wav2Vec 2.0 folder (``load_encoder(path)``);
* ``"log_mel"``: :class:`LogMelFrameFeatures`, a training-free fallback (40 log-mel bands
  every 10 ms from :func:`talkinghead_edu.audio.features.log_mel`, four of them stacked per
  40-ms video frame: ``D = 160``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from ..audio.encoder import ENCODER_NAMES, load_encoder
from ..audio.features import log_mel
from ..conventions import SAMPLES_PER_FRAME
from ..paths import dataset_root

__all__ = ["LogMelFrameFeatures", "EncoderFrameFeatures", "get_feature_extractor"]


def _check_waveform(waveform: torch.Tensor) -> torch.Tensor:
    if waveform.dim() != 2:
        raise ValueError(f"expected a waveform batch (B, L), got {tuple(waveform.shape)}")
    if waveform.shape[1] == 0 or waveform.shape[1] % SAMPLES_PER_FRAME:
        raise ValueError(
            f"waveform length {waveform.shape[1]} must be a positive multiple of {SAMPLES_PER_FRAME} samples (one "
            "25-fps frame at 16 kHz)"
        )
    return waveform.float()


class LogMelFrameFeatures:
    """Log-mel features at 25 fps: 4 hops of 10 ms x ``n_mels`` bands per frame -> ``D = 4 n_mels``."""

    name = "log_mel"
    fingerprint = "log_mel-40-v2"

    def __init__(self, n_mels: int = 40, device: str | torch.device = "cpu"):
        self.n_mels, self.n_fft, self.hop = n_mels, 512, 160
        self.feature_dim = 4 * n_mels
        self.device = torch.device(device)

    def __call__(self, waveform: torch.Tensor) -> torch.Tensor:
        waveform = _check_waveform(waveform).to(self.device)
        B, L = waveform.shape
        T = L // SAMPLES_PER_FRAME
        bands = log_mel(waveform, n_mels=self.n_mels, n_fft=self.n_fft, hop_length=self.hop)[
            :, : 4 * T
        ]  # (B, 4T, n_mels)
        return bands.reshape(B, T, self.feature_dim)


class EncoderFrameFeatures:
    """Adapter around ``talkinghead_edu.audio.load_encoder(name)`` (``"universal"`` or ``"asr"``)."""

    def __init__(self, name: str, device: str | torch.device = "cpu"):
        self.name = name
        self.encoder = load_encoder(name, device=device)
        self.feature_dim = self.encoder.feature_dim
        path = dataset_root() / "checkpoints" / ENCODER_NAMES[name] if name in ENCODER_NAMES else Path(name)
        # which weights made the features: a translator trained on one encoder file needs the same file
        self.fingerprint = hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else str(path)

    def __call__(self, waveform: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.encoder.frame_features(_check_waveform(waveform))


def get_feature_extractor(name: str, device: str | torch.device = "cpu"):
    """Build a feature extractor by name (see module docstring)."""
    if name == "log_mel":
        return LogMelFrameFeatures(device=device)
    if name in ("universal", "asr") or Path(name).exists():
        return EncoderFrameFeatures(name, device=device)
    raise ValueError(
        f"unknown feature extractor {name!r}; expected 'universal', 'asr', "
        "'log_mel' or the path of an encoder checkpoint"
    )
