"""Use a real Wav2Vec 2.0 / multilingual ASR checkpoint (Hugging Face format) in place of the bundled encoder.

The paper's E_asr/D_asr are the encoder and CTC decoder of a pre-trained multilingual
Wav2Vec 2.0 ASR model. If you have such a checkpoint on disk (a folder with
``config.json`` + ``model.safetensors``/``pytorch_model.bin``, e.g. saved with
``Wav2Vec2ForCTC.save_pretrained``), :func:`load_hf_encoder` wraps it with the same
interface as :class:`~talkinghead_edu.audio.encoder.AudioEncoder`::

    enc = load_hf_encoder("/path/to/wav2vec2-xlsr-phoneme", device="cpu")
    enc.frame_features(wave)  # (B, T, D) at 25 fps

Nothing is downloaded: ``from_pretrained(..., local_files_only=True)``; safetensors
weights are preferred (``use_safetensors`` when the folder has them), and ``transformers``
itself loads ``.bin`` files with ``torch.load(weights_only=True)``.

Wav2Vec 2.0's convolutional feature encoder has a total stride of 320 samples (50 steps/s,
``floor((L - 400) / 320) + 1`` steps for ``L`` samples); :meth:`HFWav2Vec2Encoder.frame_features`
resamples its last hidden states linearly onto the ``T = L // 640`` video frames.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .features import SAMPLES_PER_FRAME, as_waveform_tensor

__all__ = ["HFWav2Vec2Encoder", "load_hf_encoder"]


class HFWav2Vec2Encoder(nn.Module):
    """A ``transformers`` ``Wav2Vec2ForCTC`` behind the package's encoder interface.

    Attributes:
        model: the ``Wav2Vec2ForCTC``; ``ctc_head`` is its ``lm_head`` (D_asr).
        vocabulary: CTC classes 1.. as symbols if the folder has a ``vocab.json`` (the pad/blank
            token must be id 0, as in Wav2Vec2's CTC tokenizers), else ``["1", "2", ...]``.
    """

    def __init__(self, model, normalize: bool = True, vocabulary: list[str] | None = None):
        super().__init__()
        self.model = model.eval()
        self.normalize = normalize
        self.ctc_head = model.lm_head
        self.vocabulary = vocabulary or [str(i) for i in range(1, model.config.vocab_size)]

    @property
    def feature_dim(self) -> int:
        return int(self.model.config.hidden_size)

    def encode(self, waveform, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``waveform (B, L)`` -> ``(hidden (B, S, D), valid (B, S))`` at Wav2Vec 2.0's 50 steps/s."""
        wave = as_waveform_tensor(waveform)
        if wave.ndim != 2:
            raise ValueError(f"waveform must be (B, L), got shape {tuple(wave.shape)}")
        wave = wave.to(next(self.model.parameters()).device)
        lengths = (
            torch.full((wave.shape[0],), wave.shape[1], device=wave.device)
            if lengths is None
            else torch.as_tensor(lengths, device=wave.device)
        )
        sample_valid = torch.arange(wave.shape[1], device=wave.device)[None] < lengths[:, None]
        if self.normalize:  # Wav2Vec2FeatureExtractor(do_normalize=True): zero mean, unit variance per clip
            count = lengths[:, None].clamp_min(1)
            mean = (wave * sample_valid).sum(-1, keepdim=True) / count
            var = (((wave - mean) * sample_valid) ** 2).sum(-1, keepdim=True) / count
            wave = (wave - mean) / torch.sqrt(var + 1e-7) * sample_valid
        hidden = self.model.wav2vec2(wave, attention_mask=sample_valid.long()).last_hidden_state
        steps = self.model.wav2vec2._get_feat_extract_output_lengths(lengths)
        valid = torch.arange(hidden.shape[1], device=wave.device)[None] < steps[:, None]
        return hidden, valid

    def frame_features(self, waveform, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, L)`` with ``L`` a multiple of 640 -> ``(B, T, D)``, ``T = L // 640`` (linear resampling in time)."""
        wave = as_waveform_tensor(waveform)
        if wave.ndim != 2 or wave.shape[1] % SAMPLES_PER_FRAME:
            raise ValueError(
                f"waveform must be (B, L) with L a multiple of {SAMPLES_PER_FRAME}, got shape {tuple(wave.shape)}"
            )
        hidden, _ = self.encode(wave, lengths)
        frames = wave.shape[1] // SAMPLES_PER_FRAME
        return F.interpolate(hidden.transpose(1, 2), size=frames, mode="linear", align_corners=False).transpose(1, 2)

    def phoneme_logits(self, waveform, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """CTC logits ``(B, S, vocab_size)`` of the checkpoint's head."""
        hidden, _ = self.encode(waveform, lengths)
        return self.ctc_head(hidden)


def load_hf_encoder(directory: str | Path, device: str | torch.device = "cpu") -> HFWav2Vec2Encoder:
    """Load a local ``Wav2Vec2ForCTC`` folder (no network) as an encoder in eval mode.

    Raises:
        FileNotFoundError: the folder or its ``config.json`` is missing.
        ImportError: ``transformers`` is not installed (``pip install talkinghead_edu[hf]``).
    """
    directory = Path(directory)
    if not (directory / "config.json").is_file():
        raise FileNotFoundError(
            f"{directory} is not a Hugging Face model folder (no config.json); "
            "expected a Wav2Vec2ForCTC saved with save_pretrained"
        )
    try:
        from transformers import Wav2Vec2ForCTC
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "loading a Wav2Vec 2.0 checkpoint needs `transformers` (pip install 'talkinghead_edu[hf]')"
        ) from exc
    has_safetensors = any(directory.glob("*.safetensors"))
    model = Wav2Vec2ForCTC.from_pretrained(
        directory, local_files_only=True, use_safetensors=has_safetensors or None
    ).to(device)
    normalize = True
    preprocessor = directory / "preprocessor_config.json"
    if preprocessor.is_file():
        normalize = bool(json.loads(preprocessor.read_text()).get("do_normalize", True))
    vocabulary = None
    vocab_file = directory / "vocab.json"
    if vocab_file.is_file():
        token_to_id = json.loads(vocab_file.read_text(encoding="utf-8"))
        by_id = {int(i): t for t, i in token_to_id.items()}
        vocabulary = [by_id.get(i, str(i)) for i in range(1, model.config.vocab_size)]
    return HFWav2Vec2Encoder(model, normalize, vocabulary).to(device)
