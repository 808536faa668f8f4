"""Speaker-specific Motion Translator (paper §3.2.2–3.2.3, eqs 4–8): audio features + speaker -> FLAME motion.

* :mod:`.model` — identity embedding ``E_id``, fusion (eq 4), banded-attention transformer ``D_m``;
* :mod:`.lip_reading` — lip-reading encoder ``E_lip``;
* :mod:`.losses` — eqs 5–8;
* :mod:`.train` — data preparation, training (resumable checkpoints), save/load;
* :mod:`.evaluate` — lip vertex error, lip LMD, jaw-amplitude style ratio, jitter;
* :mod:`.features` — frame-feature extractors (audio encoders, log-mel fallback).
"""

from .features import LogMelFrameFeatures, get_feature_extractor
from .lip_reading import LipReadingEncoder, lip_reading_loss
from .losses import latent_consistency_loss, reconstruction_loss, smoothness_loss, total_loss
from .model import (
    BandedSelfAttention,
    IdentityEmbedding,
    MotionDecoder,
    MotionTranslator,
    UnknownSpeakerError,
    fuse_identity,
)
from .train import (
    LipTrainConfig,
    MotionExample,
    TranslatorConfig,
    head_vertices,
    load_translator,
    prepare_examples,
    save_translator,
    train_lip_encoder,
    train_translator,
)

__all__ = [
    "BandedSelfAttention",
    "IdentityEmbedding",
    "LipReadingEncoder",
    "LipTrainConfig",
    "LogMelFrameFeatures",
    "MotionDecoder",
    "MotionExample",
    "MotionTranslator",
    "TranslatorConfig",
    "UnknownSpeakerError",
    "fuse_identity",
    "get_feature_extractor",
    "head_vertices",
    "latent_consistency_loss",
    "lip_reading_loss",
    "load_translator",
    "prepare_examples",
    "reconstruction_loss",
    "save_translator",
    "smoothness_loss",
    "total_loss",
    "train_lip_encoder",
    "train_translator",
]
