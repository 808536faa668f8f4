"""A small speech encoder with the Wav2Vec 2.0 structure and a CTC phoneme head (E_asr, D_asr).

The paper extracts audio features with the encoder of a pre-trained Wav2Vec 2.0
multilingual ASR model and fine-tunes it into the Universal Audio Encoder (eq 1). Those
weights cannot be downloaded here, so the package trains its own small model with the
same structure on the bundled multilingual speech (``audio/train.py``):

1. *feature encoder*: two 1-D convolutions over the 80-band log-mel spectrogram
   (100 frames/s) with a total stride of 2 -> 50 frames/s (20 ms, Wav2Vec 2.0's rate);
2. *feature projection*: LayerNorm + Linear to the model width ``D``;
3. *positional convolution*: a grouped convolution added to its input (relative position);
4. *transformer*: pre-norm self-attention layers;
5. *CTC head* (the decoder D_asr): a linear layer to phoneme logits, blank = index 0.

``frame_features`` averages pairs of 20 ms frames into 25 fps video frames
(640 samples each); ``phoneme_logits`` stays at 50 frames/s for CTC.

A real Wav2Vec 2.0 checkpoint (``transformers`` format, local directory) is loaded by
:mod:`talkinghead_edu.audio.hf` and offers the same three methods.

Glossary: B batch, L samples, T video frames (25 fps), S = 2T encoder steps (50 fps),
D feature size, V phoneme vocabulary (+1 for the CTC blank).
"""

from __future__ import annotations

import dataclasses
import unicodedata
from pathlib import Path
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError
from ..paths import dataset_root
from ..utils.io import checkpoint_contents, load_checkpoint, save_checkpoint
from .features import SAMPLES_PER_FRAME, as_waveform_tensor, log_mel
from .hf import load_hf_encoder

__all__ = [
    "EncoderConfig",
    "AudioEncoder",
    "normalize_phoneme",
    "encode_phonemes",
    "ctc_greedy_decode",
    "save_encoder",
    "load_encoder_checkpoint",
    "load_encoder",
    "ENCODER_NAMES",
]

MEL_HOP = 160  # 10 ms at 16 kHz: 4 mel frames per video frame
STEPS_PER_VIDEO_FRAME = 2  # encoder runs at 50 frames/s
BLANK = 0
ENCODER_NAMES = {"asr": "asr_encoder.safetensors", "universal": "universal_encoder.safetensors"}

_STRIP = set("ˈˌːˑ˘‿͡‍|_-0123456789˥˦˧˨˩")


def normalize_phoneme(symbol: str) -> str:
    """Reduce an IPA phone to its segmental core: drop stress, length, tone and diacritics.

    ``"ˈaː"`` -> ``"a"``, ``"d‍ʒ"`` -> ``"dʒ"``, ``"ɑ̃"`` -> ``"ɑ"``, ``"i˥˩"`` -> ``"i"``.
    Returns ``""`` for pauses/empty symbols (they are not CTC labels).
    """
    decomposed = unicodedata.normalize("NFD", symbol.strip())
    kept = [c for c in decomposed if c not in _STRIP and not unicodedata.combining(c) and not c.isspace()]
    return unicodedata.normalize("NFC", "".join(kept))


@dataclasses.dataclass
class EncoderConfig:
    """Sizes of :class:`AudioEncoder` (the defaults give ~0.7 M parameters)."""

    vocabulary: list[str]  # phoneme symbols; CTC class i + 1 is vocabulary[i], class 0 is blank
    n_mels: int = 80
    conv_channels: int = 128
    dim: int = 128
    n_layers: int = 4
    n_heads: int = 4
    ff_dim: int = 256
    pos_conv_kernel: int = 31
    pos_conv_groups: int = 8
    dropout: float = 0.1

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class AudioEncoder(nn.Module):
    """Wav2Vec 2.0-structured encoder + CTC phoneme head (see the module docstring).

    Example:
        >>> enc = AudioEncoder(EncoderConfig(vocabulary=["a", "b"]))
        >>> enc.frame_features(torch.zeros(2, 6400)).shape
        torch.Size([2, 10, 128])
    """

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        c = config
        self.register_buffer("mel_mean", torch.zeros(c.n_mels))  # input normalisation, set from training data
        self.register_buffer("mel_std", torch.ones(c.n_mels))
        self.feature_encoder = nn.ModuleList(
            [
                nn.Conv1d(c.n_mels, c.conv_channels, kernel_size=3, stride=1, padding=1),  # 100 frames/s
                nn.Conv1d(c.conv_channels, c.conv_channels, kernel_size=3, stride=2, padding=1),  # -> 50 frames/s
            ]
        )
        self.feature_projection = nn.Sequential(
            nn.LayerNorm(c.conv_channels), nn.Linear(c.conv_channels, c.dim), nn.Dropout(c.dropout)
        )
        self.pos_conv = nn.Sequential(
            nn.Conv1d(
                c.dim, c.dim, kernel_size=c.pos_conv_kernel, padding=c.pos_conv_kernel // 2, groups=c.pos_conv_groups
            ),
            nn.GELU(),
        )
        self.input_norm = nn.LayerNorm(c.dim)
        layer = nn.TransformerEncoderLayer(
            c.dim, c.n_heads, c.ff_dim, c.dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, c.n_layers, enable_nested_tensor=False)
        self.output_norm = nn.LayerNorm(c.dim)
        self.ctc_head = nn.Linear(c.dim, len(c.vocabulary) + 1)  # D_asr

    @property
    def feature_dim(self) -> int:
        """``D``, the size of one frame feature."""
        return self.config.dim

    @property
    def vocabulary(self) -> list[str]:
        return self.config.vocabulary

    @staticmethod
    def standardize(wave: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Shift each clip of ``(B, L)`` to zero mean and unit variance over its valid samples
        (as ``Wav2Vec2FeatureExtractor`` does), so the features ignore loudness; padding -> 0."""
        num_samples = wave.shape[-1]
        lengths = torch.full((wave.shape[0],), num_samples, device=wave.device) if lengths is None else lengths
        sample_valid = torch.arange(num_samples, device=wave.device)[None] < lengths[:, None]
        count = lengths[:, None].clamp_min(1)
        mean = (wave * sample_valid).sum(-1, keepdim=True) / count
        var = (((wave - mean) * sample_valid) ** 2).sum(-1, keepdim=True) / count
        return (wave - mean) / (var.sqrt() + 1e-5) * sample_valid

    def raw_log_mel(
        self, wave: torch.Tensor, lengths: torch.Tensor | None = None, standardize: bool = True
    ) -> torch.Tensor:
        """Log-mel of the (per-clip :meth:`standardize`-d) waveform ``(B, L)`` -> ``(B, 4T, n_mels)`` (10 ms hop).

        ``standardize=False`` for a piece of a clip that was standardised as a whole.
        """
        num_samples = wave.shape[-1]
        if standardize:
            wave = self.standardize(wave, lengths)
        return log_mel(wave, n_mels=self.config.n_mels, hop_length=MEL_HOP)[:, : num_samples // MEL_HOP]

    def encode(
        self, waveform, lengths: torch.Tensor | None = None, mel_augment=None, standardize: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the encoder at 50 frames/s.

        Args:
            waveform: ``(B, L)`` 16 kHz samples, ``L`` a multiple of 640 (zero-padded batch).
            lengths: ``(B,)`` valid samples per clip (multiples of 640), default all ``L``.
            mel_augment: optional ``fn(log_mel (B, 4T, n_mels)) -> same`` used in training
                (SpecAugment-style masking).
            standardize: standardise each clip first (``False``: the caller did, see
                :meth:`frame_features`' windows).

        Returns:
            ``(hidden (B, S, D), valid (B, S) bool)`` with ``S = 2T = L // 320``.
        """
        wave = as_waveform_tensor(waveform)
        if wave.ndim != 2:
            raise ValueError(f"waveform must be (B, L), got shape {tuple(wave.shape)}")
        batch, num_samples = wave.shape
        if num_samples % SAMPLES_PER_FRAME:
            raise ValueError(
                f"waveform length {num_samples} is not a multiple of {SAMPLES_PER_FRAME} samples (one 25 fps frame)"
            )
        wave = wave.to(self.mel_mean.device)
        lengths = (
            torch.full((batch,), num_samples, device=wave.device)
            if lengths is None
            else torch.as_tensor(lengths, device=wave.device)
        )
        mel = (self.raw_log_mel(wave, lengths, standardize) - self.mel_mean) / self.mel_std  # (B, 4T, n_mels)
        n_mel_frames = mel.shape[1]
        mel_valid = torch.arange(n_mel_frames, device=wave.device)[None] < (lengths[:, None] // MEL_HOP)  # (B, 4T)
        if mel_augment is not None:
            mel = mel_augment(mel)
        steps = n_mel_frames // 2
        valid = torch.arange(steps, device=wave.device)[None] < (lengths[:, None] // (MEL_HOP * 2))  # (B, S)
        # Padding is zeroed before every convolution, so a clip gives the same features alone
        # or zero-padded inside a batch (the convolutions' own edge padding is zeros too).
        x = (mel * mel_valid[..., None]).transpose(1, 2)  # (B, n_mels, 4T)
        x = F.gelu(self.feature_encoder[0](x)) * mel_valid[:, None]
        x = F.gelu(self.feature_encoder[1](x)).transpose(1, 2) * valid[..., None]  # (B, S, C)
        x = self.feature_projection(x) * valid[..., None]
        x = x + self.pos_conv(x.transpose(1, 2)).transpose(1, 2) * valid[..., None]
        x = self.transformer(self.input_norm(x), src_key_padding_mask=~valid)
        return self.output_norm(x), valid

    #: longest input (video frames, 20 s) encoded in one pass; longer audio goes in windows
    window_frames: int = 500
    #: frames of extra audio (5 s) on each side of a window, encoded and then discarded
    context_frames: int = 125

    def frame_features(self, waveform, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Audio features at 25 fps (eq 1: ``f_t = E(A_t)``).

        Clips longer than :attr:`window_frames` (without ``lengths``) are encoded in
        overlapping windows: the whole clip is standardised once, then every window of
        ``window_frames`` frames is encoded together with :attr:`context_frames` frames of
        audio on each side, whose outputs are dropped. Self-attention then costs
        ``O(window²)`` memory instead of ``O(T²)``: memory is flat in duration. Away from the
        window borders the features match one full pass closely (the encoder's attention is
        mostly local; ``tests/test_audio_encoder.py`` measures it).

        Args:
            waveform: ``(B, L)`` 16 kHz, ``L`` a multiple of 640.
            lengths: ``(B,)`` valid samples per clip of a padded batch (always one pass).

        Returns:
            ``(B, T, D)`` with ``T = L // 640``: the mean of the two 20 ms encoder steps
            inside each video frame.
        """
        wave = as_waveform_tensor(waveform)
        frames = wave.shape[-1] // SAMPLES_PER_FRAME
        if lengths is not None or wave.ndim != 2 or frames <= self.window_frames:
            return self._pooled(self.encode(wave, lengths)[0])
        wave = self.standardize(wave.to(self.mel_mean.device))
        pieces = []
        for start in range(0, frames, self.window_frames):
            stop = min(start + self.window_frames, frames)
            left, right = max(0, start - self.context_frames), min(frames, stop + self.context_frames)
            hidden, _ = self.encode(wave[:, left * SAMPLES_PER_FRAME : right * SAMPLES_PER_FRAME], standardize=False)
            pieces.append(self._pooled(hidden)[:, start - left : stop - left])
        return torch.cat(pieces, dim=1)

    @staticmethod
    def _pooled(hidden: torch.Tensor) -> torch.Tensor:
        """``(B, S, D)`` 50 steps/s -> ``(B, S / 2, D)`` video frames (mean of each step pair)."""
        batch, steps, dim = hidden.shape
        return hidden.reshape(batch, steps // STEPS_PER_VIDEO_FRAME, STEPS_PER_VIDEO_FRAME, dim).mean(2)

    def phoneme_logits(self, waveform, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """CTC logits of D_asr at 50 frames/s: ``(B, S, V + 1)``, class 0 = blank."""
        hidden, _ = self.encode(waveform, lengths)
        return self.ctc_head(hidden)


def ctc_greedy_decode(logits: torch.Tensor, valid: torch.Tensor | None = None) -> list[list[int]]:
    """Best-path CTC decoding: argmax per step, merge repeats, drop blanks (class 0).

    Args:
        logits: ``(B, S, V + 1)``; valid: ``(B, S)`` bool, steps to use.

    Returns:
        one list of class ids (``1..V``) per clip.
    """
    best = logits.argmax(-1)
    sequences = []
    for b in range(best.shape[0]):
        path = best[b][valid[b]] if valid is not None else best[b]
        keep = torch.ones_like(path, dtype=torch.bool)
        keep[1:] = path[1:] != path[:-1]
        sequences.append([int(i) for i in path[keep] if int(i) != BLANK])
    return sequences


def save_encoder(path: str | Path, encoder: AudioEncoder, meta: dict | None = None) -> Path:
    """Write weights + config (+ ``meta``: how it was trained) to one ``.safetensors`` file, atomically."""
    tensors = {name: t for name, t in encoder.state_dict().items()}
    return save_checkpoint(path, tensors, {"config": encoder.config.to_dict(), **(meta or {})})


def load_encoder_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> AudioEncoder:
    """Load a file written by :func:`save_encoder` (safetensors, never unpickles), in eval mode.

    Raises:
        FileNotFoundError: no such file; ValueError: not an encoder checkpoint.
    """
    tensors, meta = load_checkpoint(path, device=device)
    if "config" not in meta:
        raise CheckpointError(
            f"{path} is a safetensors file but not an audio encoder checkpoint (no 'config' in its metadata)"
        )
    with checkpoint_contents(path, "audio encoder"):
        encoder = AudioEncoder(EncoderConfig(**meta["config"])).to(device)
        encoder.load_state_dict(tensors)
    encoder.training_meta = {k: v for k, v in meta.items() if k != "config"}
    return encoder.eval()


def load_encoder(name: str = "universal", device: str | torch.device = "cpu"):
    """The audio encoders of the pipeline, by name or path.

    Args:
        name: ``"asr"`` (E_asr + D_asr, trained with CTC on the bundled speech),
            ``"universal"`` (E_uni, fine-tuned from E_asr by contrastive decoupling, eqs 2-3),
            a path to an encoder ``.safetensors`` file, or a directory holding a Hugging Face
            Wav2Vec 2.0 checkpoint (loaded through :mod:`talkinghead_edu.audio.hf`).
        device: where to put it.

    Returns:
        an encoder in eval mode with ``feature_dim``, ``frame_features(waveform (B, L)) -> (B, T, D)``
        and ``phoneme_logits``.
    """
    if name in ENCODER_NAMES:
        path = dataset_root() / "checkpoints" / ENCODER_NAMES[name]
        if not path.is_file():
            raise FileNotFoundError(
                f"bundled {name!r} encoder checkpoint {path} is missing; "
                f"recreate it with `python -m talkinghead_edu.recipes.train_audio {name}`"
            )
        return load_encoder_checkpoint(path, device)
    path = Path(name)
    if path.is_dir():
        return load_hf_encoder(path, device=device)
    if path.is_file():
        return load_encoder_checkpoint(path, device)
    raise ValueError(
        f"unknown encoder {name!r}: expected 'asr', 'universal', "
        "an encoder .safetensors file or a Wav2Vec 2.0 directory"
    )


def encode_phonemes(symbols: Iterable[str], vocabulary: Sequence[str]) -> list[int]:
    """Phoneme symbols -> CTC class ids (1-based); symbols normalising to ``""`` or unknown are skipped."""
    index = {s: i + 1 for i, s in enumerate(vocabulary)}
    ids = []
    for symbol in symbols:
        core = normalize_phoneme(symbol)
        if core in index:
            ids.append(index[core])
    return ids
