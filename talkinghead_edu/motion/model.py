"""The Customized Motion Decoder (paper §3.2.2, eq 4).

    Ŷ_{1:T} = D_m( E_id(p) + E_uni(A) )                                   (4)

* ``E_uni(A)``: per-frame audio features ``(B, T, D)`` at 25 fps from any frame-feature
  extractor (the Universal Audio Encoder in the bundled experiment, see
  :mod:`talkinghead_edu.motion.features`).
* ``E_id(p)``: :class:`IdentityEmbedding`, one learned ``D``-vector per training speaker,
  the same width as the audio feature so that eq 4 can simply add them.
* ``D_m``: :class:`MotionDecoder`, a pre-norm transformer whose self-attention only looks
  ``window`` frames to each side, with a learned per-head bias for every relative offset
  (a banded, biased attention mask). It has no absolute positions, so it accepts any
  length, and because every output frame depends only on inputs within
  ``receptive_field = n_layers * window`` frames, long audio can be decoded in chunks
  padded with that much context on both sides and the result is *identical* to one pass
  over the whole sequence: there are no seams at chunk borders.

The decoder predicts standardized parameters; :class:`MotionTranslator` stores the
training mean/std per parameter and returns FLAME units (:class:`~talkinghead_edu.flame.FlameParams`).
"""

from __future__ import annotations

import math
import os
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..audio.io import load_audio, prepare_waveform
from ..conventions import SAMPLE_RATE, SAMPLES_PER_FRAME
from ..flame.params import FlameParams, motion_vector_size

__all__ = [
    "IdentityEmbedding",
    "fuse_identity",
    "BandedSelfAttention",
    "MotionDecoder",
    "MotionTranslator",
    "UnknownSpeakerError",
]


class UnknownSpeakerError(KeyError):
    """A speaker id the translator was not trained on."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class IdentityEmbedding(nn.Module):
    """``E_id(p; θ_id)``: speaker index -> a personalized feature of the audio-feature width ``D``.

    A one-hot identity times a learned matrix, i.e. an embedding table ``(num_speakers, D)``.
    """

    def __init__(self, num_speakers: int, feature_dim: int):
        super().__init__()
        self.table = nn.Embedding(num_speakers, feature_dim)
        nn.init.normal_(self.table.weight, std=0.1)

    def forward(self, speaker_index: torch.Tensor) -> torch.Tensor:
        """``(B,)`` long -> ``(B, D)``."""
        return self.table(speaker_index)

    def average(self) -> torch.Tensor:
        """``(D,)`` the mean embedding over training speakers (unseen-speaker mode)."""
        return self.table.weight.mean(dim=0)


def fuse_identity(audio_features: torch.Tensor, identity_features: torch.Tensor | None) -> torch.Tensor:
    """Eq 4's decoder input ``E_id(p) + E_uni(A)``.

    Args:
        audio_features: ``(B, T, D)``.
        identity_features: ``(B, D)`` (broadcast over the T frames) or ``None`` (no identity).

    Returns:
        ``(B, T, D)``.
    """
    if identity_features is None:
        return audio_features
    if identity_features.dim() != 2 or identity_features.shape != (audio_features.shape[0], audio_features.shape[2]):
        raise ValueError(
            f"identity features must be (B, D) = ({audio_features.shape[0]}, {audio_features.shape[2]}), "
            f"got {tuple(identity_features.shape)}"
        )
    return audio_features + identity_features[:, None, :]


class BandedSelfAttention(nn.Module):
    """Multi-head self-attention restricted to ``|i - j| <= window`` with a learned bias per offset.

    ``score[b, h, i, j] = q_i · k_j / sqrt(d_head) + bias[h, j - i]`` for ``|j - i| <= window``,
    ``-inf`` elsewhere. The bias starts as ``-slope_h * |j - i|`` (ALiBi-like: each head prefers
    a different temporal scale) and is learned; it is asymmetric, so heads can look ahead
    (coarticulation: lips move before the sound) differently from behind.
    """

    def __init__(self, d_model: int, n_heads: int, window: int):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads}")
        self.n_heads, self.window, self.d_head = n_heads, window, d_model // n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        offsets = torch.arange(-window, window + 1).abs().float()
        slopes = torch.tensor([2.0 ** (-(h + 1)) for h in range(n_heads)])
        self.offset_bias = nn.Parameter(-slopes[:, None] * offsets[None, :])  # (H, 2W+1)

    def attention_bias(self, frames: int) -> torch.Tensor:
        """``(H, T, T)`` additive bias: learned per relative offset inside the band, ``-inf`` outside."""
        position = torch.arange(frames, device=self.offset_bias.device)
        offset = position[None, :] - position[:, None]  # offset[i, j] = j - i
        inside = offset.abs() <= self.window
        bias = self.offset_bias[:, offset.clamp(-self.window, self.window) + self.window]
        return bias.masked_fill(~inside, float("-inf"))

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        """``(B, T, d_model)`` -> ``(B, T, d_model)`` (and ``(B, H, T, T)`` weights if asked)."""
        B, T, _ = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_heads, self.d_head).permute(2, 0, 3, 1, 4)  # each (B, H, T, d_head)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.d_head) + self.attention_bias(T)  # (B, H, T, T)
        weights = scores.softmax(dim=-1)
        mixed = (weights @ v).transpose(1, 2).reshape(B, T, -1)
        out = self.out(mixed)
        return (out, weights) if return_attention else out


class _DecoderLayer(nn.Module):
    """Pre-norm transformer block: ``x + Attn(LN x)``, then ``x + FFN(LN x)``."""

    def __init__(self, d_model: int, n_heads: int, window: int, dropout: float):
        super().__init__()
        self.norm_attention = nn.LayerNorm(d_model)
        self.attention = BandedSelfAttention(d_model, n_heads, window)
        self.norm_ffn = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(nn.Linear(d_model, 2 * d_model), nn.GELU(), nn.Linear(2 * d_model, d_model))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        attended, weights = self.attention(self.norm_attention(x), return_attention=True)
        x = x + self.dropout(attended)
        x = x + self.dropout(self.ffn(self.norm_ffn(x)))
        return (x, weights) if return_attention else x


class MotionDecoder(nn.Module):
    """``D_m``: fused features ``(B, T, D)`` -> standardized FLAME parameters ``(B, T, P)``.

    Args:
        feature_dim: ``D``, the audio (and identity) feature width.
        param_dim: ``P``, parameters per frame (``E + 6``).
        d_model, n_layers, n_heads: transformer size.
        window: attention half-width in frames (25 fps: 12 frames ≈ ±0.5 s).
        dropout: dropout inside the blocks (training only).
    """

    def __init__(
        self,
        feature_dim: int,
        param_dim: int,
        d_model: int = 64,
        n_layers: int = 2,
        n_heads: int = 4,
        window: int = 12,
        dropout: float = 0.1,
    ):
        super().__init__()
        self.feature_dim, self.param_dim = feature_dim, param_dim
        self.input = nn.Sequential(nn.LayerNorm(feature_dim), nn.Linear(feature_dim, d_model))
        self.layers = nn.ModuleList(_DecoderLayer(d_model, n_heads, window, dropout) for _ in range(n_layers))
        self.output = nn.Sequential(nn.LayerNorm(d_model), nn.Linear(d_model, param_dim))

    @property
    def receptive_field(self) -> int:
        """Frames on each side that can influence one output frame: ``n_layers * window``."""
        return sum(layer.attention.window for layer in self.layers)

    def _forward_full(self, x: torch.Tensor, return_attention: bool):
        hidden = self.input(x)
        attention = []
        for layer in self.layers:
            hidden, weights = layer(hidden, return_attention=True)
            attention.append(weights)
        out = self.output(hidden)
        return (out, attention) if return_attention else out

    def forward(self, fused: torch.Tensor, chunk_frames: int | None = None, return_attention: bool = False):
        """Decode ``(B, T, D)`` -> ``(B, T, P)``.

        Args:
            fused: eq 4's decoder input.
            chunk_frames: if set and ``T > chunk_frames``, decode ``chunk_frames`` frames at a time,
                each with ``receptive_field`` frames of context on both sides (memory ``O(T)``
                instead of ``O(T²)``; same result as one pass, up to float rounding).
            return_attention: also return the per-layer attention weights ``[(B, H, T, T)]``
                (only for a single pass).
        """
        if fused.dim() != 3 or fused.shape[-1] != self.feature_dim:
            raise ValueError(f"MotionDecoder: expected features (B, T, {self.feature_dim}), got {tuple(fused.shape)}")
        T = fused.shape[1]
        if T == 0:
            raise ValueError("MotionDecoder: the feature sequence has no frames")
        if chunk_frames is None or T <= chunk_frames or return_attention:
            return self._forward_full(fused, return_attention)
        context = self.receptive_field
        pieces = []
        for start in range(0, T, chunk_frames):
            stop = min(start + chunk_frames, T)
            left, right = max(0, start - context), min(T, stop + context)
            decoded = self._forward_full(fused[:, left:right], return_attention=False)
            pieces.append(decoded[:, start - left : stop - left])
        return torch.cat(pieces, dim=1)


FeatureExtractor = Callable[[torch.Tensor], torch.Tensor]


class MotionTranslator(nn.Module):
    """Speaker-specific Motion Translator: audio features + speaker -> FLAME motion (eq 4).

    Args:
        speakers: training speaker ids, in embedding-table order.
        feature_dim: ``D`` of the audio features.
        n_expr: ``E`` expression coefficients (``P = E + 6``).
        use_identity: ``False`` builds the "without identity embedding" ablation.
        d_model, n_layers, n_heads, window, dropout: decoder size (see :class:`MotionDecoder`).
        feature_encoder: name of the feature extractor the model was trained on (stored in
            checkpoints so that :meth:`translate` can rebuild it).

    Buffers ``param_mean`` / ``param_std`` ``(P,)`` map the decoder's standardized output to
    FLAME units; set them from the training data with :meth:`set_normalization`.
    """

    max_full_frames = 512  # longer inputs are decoded in chunks (seam-free, see MotionDecoder)

    def __init__(
        self,
        speakers: Sequence[str],
        feature_dim: int,
        n_expr: int,
        use_identity: bool = True,
        d_model: int = 64,
        n_layers: int = 2,
        n_heads: int = 4,
        window: int = 12,
        dropout: float = 0.1,
        feature_encoder: str = "",
    ):
        super().__init__()
        if len(speakers) == 0 or len(set(speakers)) != len(speakers):
            raise ValueError(f"speakers must be a non-empty list of distinct ids, got {list(speakers)}")
        self.speakers = list(speakers)
        self.n_expr = n_expr
        self.feature_encoder = feature_encoder
        self.feature_fingerprint = ""  # which encoder weights the training features came from (set by training)
        self.config = dict(
            feature_dim=feature_dim,
            n_expr=n_expr,
            use_identity=use_identity,
            d_model=d_model,
            n_layers=n_layers,
            n_heads=n_heads,
            window=window,
            dropout=dropout,
        )
        self.identity = IdentityEmbedding(len(self.speakers), feature_dim) if use_identity else None
        self.decoder = MotionDecoder(
            feature_dim, motion_vector_size(n_expr), d_model, n_layers, n_heads, window, dropout
        )
        self.register_buffer("param_mean", torch.zeros(motion_vector_size(n_expr)))
        self.register_buffer("param_std", torch.ones(motion_vector_size(n_expr)))
        self.feature_extractor: FeatureExtractor | None = None

    # ---- speakers -------------------------------------------------------------------
    def speaker_index(self, speaker_id: str) -> int:
        """Row of ``speaker_id`` in the embedding table; :class:`UnknownSpeakerError` if absent."""
        if speaker_id not in self.speakers:
            raise UnknownSpeakerError(
                f"unknown speaker id {speaker_id!r}; this translator knows {self.speakers} "
                "(pass speaker_id=None for the unseen-speaker average embedding)"
            )
        return self.speakers.index(speaker_id)

    def identity_features(
        self, speaker_index: torch.Tensor | None, batch: int, device: torch.device | None = None
    ) -> torch.Tensor | None:
        """``E_id(p)`` as ``(B, D)``; ``speaker_index=None`` gives the average embedding;
        ``None`` if the model has no identity."""
        if self.identity is None:
            return None
        if speaker_index is None:
            return self.identity.average()[None].expand(batch, -1)
        return self.identity(speaker_index.to(self.identity.table.weight.device))

    # ---- normalization --------------------------------------------------------------
    def set_normalization(self, params: torch.Tensor) -> None:
        """Set ``param_mean``/``param_std`` from training parameters ``(M, P)`` (std floored at 1e-4)."""
        self.param_mean.copy_(params.mean(dim=0))
        self.param_std.copy_(params.std(dim=0).clamp_min(1e-4))

    def normalize(self, params: torch.Tensor) -> torch.Tensor:
        """FLAME units ``(..., P)`` -> standardized."""
        return (params - self.param_mean) / self.param_std

    def denormalize(self, standardized: torch.Tensor) -> torch.Tensor:
        """Standardized ``(..., P)`` -> FLAME units."""
        return standardized * self.param_std + self.param_mean

    # ---- forward --------------------------------------------------------------------
    def forward(
        self,
        audio_features: torch.Tensor,
        speaker_index: torch.Tensor | None = None,
        identity_features: torch.Tensor | None = None,
        return_attention: bool = False,
    ):
        """Eq 4 in standardized units.

        Args:
            audio_features: ``(B, T, D)`` ``E_uni(A)``.
            speaker_index: ``(B,)`` long rows of the embedding table, or ``None`` for the average
                embedding (unseen speaker).
            identity_features: ``(B, D)`` use this identity feature instead (e.g. an interpolation
                between two speakers); overrides ``speaker_index``.
            return_attention: also return the decoder's attention weights.

        Returns:
            ``(B, T, P)`` standardized parameters (and attention weights if asked).
        """
        B, T = audio_features.shape[:2]
        if identity_features is None:
            identity_features = self.identity_features(speaker_index, B)
        elif self.identity is None:
            raise ValueError(
                "this translator was trained without an identity embedding; identity_features must be None"
            )
        fused = fuse_identity(audio_features, identity_features)  # eq 4: E_id(p) + E_uni(A)
        chunk = None if self.training else self.max_full_frames
        return self.decoder(fused, chunk_frames=chunk, return_attention=return_attention)

    @torch.no_grad()
    def predict(
        self, audio_features: torch.Tensor, speaker_id: str | None = None, identity_features: torch.Tensor | None = None
    ) -> FlameParams:
        """Features ``(T, D)`` of one utterance -> :class:`~talkinghead_edu.flame.FlameParams` in FLAME units (eval
        mode)."""
        if audio_features.dim() != 2 or audio_features.shape[1] != self.config["feature_dim"]:
            raise ValueError(
                f"predict: expected features (T, {self.config['feature_dim']}), got {tuple(audio_features.shape)}"
            )
        was_training = self.training
        self.eval()
        device = self.param_mean.device
        index = (
            None
            if speaker_id is None or self.identity is None
            else torch.tensor([self.speaker_index(speaker_id)], device=device)
        )
        if speaker_id is not None and self.identity is None:
            self.speaker_index(speaker_id)  # still reject unknown ids
        identity = None if identity_features is None else identity_features.reshape(1, -1).to(device)
        standardized = self(audio_features[None].to(device), speaker_index=index, identity_features=identity)
        self.train(was_training)
        return FlameParams.from_motion_vector(self.denormalize(standardized[0]))

    def audio_features(
        self, audio, feature_extractor: FeatureExtractor | None = None, sample_rate: int | None = None
    ) -> torch.Tensor:
        """``E_uni(A)`` of one clip: ``(T, D)`` at 25 fps, ``T = ceil(L_16k / 640)`` (see :meth:`translate` for
        ``audio``)."""
        extractor = feature_extractor or self.feature_extractor
        if extractor is None:
            raise ValueError(
                "translate: no feature extractor; pass feature_extractor= or load the translator with load_translator()"
            )
        if isinstance(audio, (str, os.PathLike)):
            samples = load_audio(audio, SAMPLE_RATE)
        else:
            samples = prepare_waveform(audio, sample_rate, SAMPLE_RATE, name="translate: audio")
        wave = torch.from_numpy(samples)
        if wave.numel() < SAMPLES_PER_FRAME:
            raise ValueError(
                f"translate: audio has {wave.numel()} samples at 16 kHz; "
                f"need at least {SAMPLES_PER_FRAME} (one 25-fps frame)"
            )
        remainder = wave.numel() % SAMPLES_PER_FRAME
        if remainder:
            wave = torch.nn.functional.pad(wave, (0, SAMPLES_PER_FRAME - remainder))
        with torch.no_grad():
            return extractor(wave[None])[0].float()

    def translate(
        self,
        audio,
        speaker_id: str | None,
        feature_extractor: FeatureExtractor | None = None,
        sample_rate: int | None = None,
    ) -> FlameParams:
        """Audio -> speaker-styled FLAME sequence at 25 fps.

        Args:
            audio: an audio file path (any rate/channels, :func:`~talkinghead_edu.audio.load_audio`)
                or an array ``(L,)`` / ``(L, C)`` of floating-point samples at ``sample_rate``
                (mixed down to mono and resampled to 16 kHz). The 16 kHz result is zero-padded
                to whole 640-sample frames.
            speaker_id: a training speaker (its style), or ``None`` for an unseen speaker
                (average identity embedding; see also :meth:`nearest_speaker`).
            feature_extractor: ``waveform (B, L) -> (B, T, D)``; defaults to the one attached
                to the translator (:func:`load_translator` attaches the encoder it was trained on).
            sample_rate: Hz of an array ``audio`` (required for arrays; ignored for files).

        Returns:
            :class:`~talkinghead_edu.flame.FlameParams` with ``T = ceil(L_16k / 640)`` frames.

        Raises:
            ValueError: an array without ``sample_rate``, integer or non-finite samples, a wrong shape,
                less than one frame of audio; :class:`UnknownSpeakerError`; AudioLoadError for bad files.
        """
        if speaker_id is not None:
            self.speaker_index(speaker_id)
        return self.predict(self.audio_features(audio, feature_extractor, sample_rate), speaker_id)

    @torch.no_grad()
    def nearest_speaker(self, audio_features: torch.Tensor, params: torch.Tensor) -> str:
        """Unseen-speaker mode from a short reference clip: the training speaker whose embedding
        reconstructs the clip's motion best.

        Args:
            audio_features: ``(T, D)`` features of the reference clip.
            params: ``(T, P)`` its FLAME parameters (e.g. from a face tracker).
        """
        if self.identity is None:
            raise ValueError("nearest_speaker: this translator has no identity embedding")
        if params.shape != (audio_features.shape[0], motion_vector_size(self.n_expr)):
            raise ValueError(
                f"nearest_speaker: params must be ({audio_features.shape[0]}, {motion_vector_size(self.n_expr)}), "
                f"got {tuple(params.shape)}"
            )
        errors = []
        target = self.normalize(params.to(self.param_mean.device))
        for speaker in self.speakers:
            predicted = self.normalize(self.predict(audio_features, speaker).motion_vector)
            errors.append(((predicted - target) ** 2).mean().item())
        return self.speakers[int(np.argmin(errors))]
