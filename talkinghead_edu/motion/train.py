"""Training the Speaker-specific Motion Translator (eqs 5–8) and its lip-reading encoder.

Pipeline::

    examples = prepare_examples(utterances, feature_extractor, asr_extractor)   # features once
    lip_encoder = train_lip_encoder(examples, head, LipTrainConfig())           # E_lip on ground truth
    translator, history = train_translator(examples, head, TranslatorConfig(), lip_encoder,
                                           checkpoint_path="motion.safetensors")  # resumable

Batches are random crops of ``crop_frames`` frames from random training utterances (every
crop in a batch has the same length, so no padding). The head model is any module with
``head(expression=(M, E), pose=(M, 15)) -> out.vertices (M, V, 3)`` and
``head.lip_vertex_ids``.

Checkpoints (``utils.io.save_checkpoint``: safetensors, atomic) hold the translator, the
lip encoder, the Adam state, both random-number-generator states and the loss history, so
a run stopped at any checkpoint and restarted with the same arguments finishes with the
same weights as an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..flame.params import FlameParams
from ..utils.io import checkpoint_contents, load_checkpoint, save_checkpoint
from .features import get_feature_extractor
from .lip_reading import LipReadingEncoder, lip_reading_loss
from .losses import latent_consistency_loss, reconstruction_loss, smoothness_loss, total_loss
from .model import MotionTranslator
from .vertex_subset import VertexSubsetHead

__all__ = [
    "MotionExample",
    "prepare_examples",
    "TranslatorConfig",
    "LipTrainConfig",
    "train_lip_encoder",
    "train_translator",
    "save_translator",
    "load_translator",
    "head_vertices",
]


@dataclass
class MotionExample:
    """One utterance ready for training: ``features (T, D)``, ``params (T, P)``,
    ``asr_features (T, D_asr)`` or ``None``."""

    id: str
    speaker: str
    features: torch.Tensor
    params: torch.Tensor
    asr_features: torch.Tensor | None = None

    def __post_init__(self) -> None:
        T = self.params.shape[0]
        if self.features.shape[0] != T:
            raise ValueError(f"example {self.id}: {self.features.shape[0]} feature frames but {T} motion frames")
        if self.asr_features is not None and self.asr_features.shape[0] != T:
            raise ValueError(
                f"example {self.id}: {self.asr_features.shape[0]} ASR feature frames but {T} motion frames"
            )

    @property
    def num_frames(self) -> int:
        return self.params.shape[0]


def prepare_examples(
    utterances: Sequence, feature_extractor: Callable, asr_extractor: Callable | None = None
) -> list[MotionExample]:
    """Speech-dataset utterances -> :class:`MotionExample` list (features computed once).

    Each utterance needs ``id, speaker, audio (L,), expression (T, E), jaw_pose (T, 3), neck_pose (T, 3)``.
    """
    examples = []
    with torch.no_grad():
        for u in utterances:
            wave = torch.as_tensor(np.asarray(u.audio, dtype=np.float32))[None]
            params = torch.cat(
                [torch.as_tensor(np.asarray(x, dtype=np.float32)) for x in (u.expression, u.jaw_pose, u.neck_pose)],
                dim=-1,
            )
            asr = asr_extractor(wave)[0].float() if asr_extractor is not None else None
            examples.append(MotionExample(u.id, u.speaker, feature_extractor(wave)[0].float(), params, asr))
    return examples


def head_vertices(head, params: torch.Tensor) -> torch.Tensor:
    """FLAME vertices of a parameter sequence: ``(..., P)`` -> ``(..., V, 3)`` (zero identity shape)."""
    motion = FlameParams.from_motion_vector(params, n_expr=head.n_expr)
    vertices = head(expression=motion.expression, pose=motion.pose).vertices
    return vertices.reshape(*params.shape[:-1], *vertices.shape[-2:])


@dataclass
class LipTrainConfig:
    """Pre-training of ``E_lip`` on ground-truth lip motion -> ``E_asr(A)``."""

    steps: int = 300
    batch_size: int = 8
    crop_frames: int = 50
    lr: float = 2e-3
    hidden: int = 128
    seed: int = 0


@dataclass
class TranslatorConfig:
    """Translator training. ``lambda_*`` are eq 5–7's weights (``lambda_lat`` is ignored without a lip encoder)."""

    steps: int = 600
    batch_size: int = 8
    crop_frames: int = 50
    lr: float = 2e-3
    lr_final_fraction: float = 0.05  # cosine decay of the learning rate to lr * this at the last step
    lambda_y: float = 1.0
    lambda_v: float = 0.1  # vertices in millimetres
    lambda_sth: float = 1.0
    lambda_lat: float = 0.1
    vertex_samples: int | None = 512  # vertices per step for eq 5's vertex term (None: all K)
    use_identity: bool = True
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    window: int = 12
    dropout: float = 0.1
    checkpoint_every: int = 100
    seed: int = 0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def resumable_settings(self) -> dict:
        """Settings a checkpoint must share to be resumed (checkpoints may be written more or less often)."""
        return {k: v for k, v in self.to_dict().items() if k != "checkpoint_every"}


def cosine_learning_rate(step: int, config: TranslatorConfig) -> float:
    """``lr · (f + (1 − f) · (1 + cos(π s / S)) / 2)``: from ``lr`` at step 0 to ``f · lr`` at the last step."""
    progress = step / max(1, config.steps - 1)
    return config.lr * (
        config.lr_final_fraction + (1 - config.lr_final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))
    )


def _sample_crops(examples: Sequence[MotionExample], batch_size: int, crop_frames: int, generator: torch.Generator):
    """Random ``(indices, starts, length)`` for a batch of equal-length crops."""
    indices = torch.randint(len(examples), (batch_size,), generator=generator).tolist()
    length = min(crop_frames, *(examples[i].num_frames for i in indices))
    starts = [int(torch.randint(examples[i].num_frames - length + 1, (1,), generator=generator)) for i in indices]
    return indices, starts, length


def _stack(examples, indices, starts, length, attribute: str) -> torch.Tensor:
    return torch.stack([getattr(examples[i], attribute)[s : s + length] for i, s in zip(indices, starts)])


def train_lip_encoder(
    examples: Sequence[MotionExample], head, config: LipTrainConfig = LipTrainConfig(), progress: bool = True
) -> tuple[LipReadingEncoder, list[float]]:
    """Train ``E_lip`` so that ``E_lip(V_gt[M_L]) ≈ E_asr(A)`` on ground-truth motion. Returns
    ``(encoder, loss history)``."""

    if any(e.asr_features is None for e in examples):
        raise ValueError(
            "train_lip_encoder: every example needs asr_features (prepare_examples(..., asr_extractor=...))"
        )
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    lip_head = VertexSubsetHead(head, head.lip_vertex_ids)
    with torch.no_grad():
        lips = [lip_head(e.params) for e in examples]  # (T, M_L, 3) each
        rest = lip_head(torch.zeros(1, examples[0].params.shape[1]))[0]
    encoder = LipReadingEncoder(rest, examples[0].asr_features.shape[1], hidden=config.hidden)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=config.lr)
    history = []
    for _ in tqdm(range(config.steps), desc="E_lip", disable=not progress):
        indices, starts, length = _sample_crops(examples, config.batch_size, config.crop_frames, generator)
        lip_batch = torch.stack([lips[i][s : s + length] for i, s in zip(indices, starts)])
        loss = lip_reading_loss(encoder, lip_batch, _stack(examples, indices, starts, length, "asr_features"))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    encoder.eval()
    for p in encoder.parameters():
        p.requires_grad_(False)
    return encoder, history


def _checkpoint_contents(
    translator: MotionTranslator, lip_encoder, config: TranslatorConfig, history: list, step: int
) -> tuple[dict, dict]:
    """Tensors and metadata of a translator checkpoint (the model, and ``E_lip`` when given)."""
    tensors = {f"model.{k}": v for k, v in translator.state_dict().items()}
    if lip_encoder is not None:
        tensors.update({f"lip_encoder.{k}": v for k, v in lip_encoder.state_dict().items()})
    meta = {
        "kind": "motion_translator",
        "step": step,
        "speakers": translator.speakers,
        "model_config": translator.config,
        "feature_encoder": translator.feature_encoder,
        "feature_fingerprint": translator.feature_fingerprint,
        "train_config": config.to_dict(),
        "history": history,
        "lip_encoder": None if lip_encoder is None else {"asr_dim": lip_encoder.asr_dim, "hidden": lip_encoder.hidden},
    }
    return tensors, meta


def _save_training_state(path, translator, lip_encoder, optimizer, generator, step, config, history) -> None:
    """A resumable checkpoint: the model plus the Adam state and both random-number-generator states."""
    tensors, meta = _checkpoint_contents(translator, lip_encoder, config, history, step)
    for index, state in optimizer.state_dict()["state"].items():
        tensors.update({f"optim.{index}.{k}": torch.as_tensor(v) for k, v in state.items()})
    tensors["rng.sampler"] = generator.get_state()
    tensors["rng.torch"] = torch.get_rng_state()
    save_checkpoint(path, tensors, meta)


def save_translator(
    path: str | Path,
    translator: MotionTranslator,
    lip_encoder: LipReadingEncoder | None = None,
    config: TranslatorConfig | None = None,
    history: list | None = None,
) -> Path:
    """Save a trained translator (and optionally its lip encoder) without optimizer state."""
    history = history or []
    return save_checkpoint(
        path, *_checkpoint_contents(translator, lip_encoder, config or TranslatorConfig(), history, len(history))
    )


def _translator_from_checkpoint(tensors: dict, meta: dict) -> MotionTranslator:
    if meta.get("kind") != "motion_translator":
        raise ValueError(f"not a motion-translator checkpoint (kind={meta.get('kind')!r})")
    translator = MotionTranslator(
        meta["speakers"], feature_encoder=meta.get("feature_encoder", ""), **meta["model_config"]
    )
    translator.load_state_dict({k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")})
    translator.feature_fingerprint = meta.get("feature_fingerprint", "")
    return translator


def _lip_encoder_from_checkpoint(tensors: dict, meta: dict) -> LipReadingEncoder | None:
    if not meta.get("lip_encoder"):
        return None
    state = {k[len("lip_encoder.") :]: v for k, v in tensors.items() if k.startswith("lip_encoder.")}
    encoder = LipReadingEncoder(
        state["rest_lip_vertices"], meta["lip_encoder"]["asr_dim"], hidden=meta["lip_encoder"]["hidden"]
    )
    encoder.load_state_dict(state)
    encoder.eval()
    for p in encoder.parameters():
        p.requires_grad_(False)
    return encoder


def load_translator(
    path: str | Path,
    device: str | torch.device = "cpu",
    attach_feature_extractor: bool = True,
    with_lip_encoder: bool = False,
):
    """Load a translator checkpoint (eval mode).

    Args:
        attach_feature_extractor: rebuild the feature extractor named in the checkpoint
            (``translator.feature_encoder``) so that ``translate(audio, speaker)`` works.
        with_lip_encoder: also return the stored lip-reading encoder (or ``None``).
    """
    tensors, meta = load_checkpoint(path)
    with checkpoint_contents(path, "motion translator"):
        translator = _translator_from_checkpoint(tensors, meta).to(device).eval()
    if attach_feature_extractor and translator.feature_encoder:
        translator.feature_extractor = get_feature_extractor(translator.feature_encoder, device=device)
        current = getattr(translator.feature_extractor, "fingerprint", "")
        if translator.feature_fingerprint and current != translator.feature_fingerprint:
            warnings.warn(
                f"{path}: the translator was trained on {translator.feature_encoder!r} features from encoder weights "
                f"{translator.feature_fingerprint}, but the current encoder file is {current}; its motion may be off. "
                "Retrain it with `python -m talkinghead_edu.recipes.train_motion`.",
                stacklevel=2,
            )
    translator.history = meta.get("history", [])
    if with_lip_encoder:
        with checkpoint_contents(path, "lip-reading encoder"):
            return translator, _lip_encoder_from_checkpoint(tensors, meta)
    return translator


def train_translator(
    examples: Sequence[MotionExample],
    head,
    config: TranslatorConfig = TranslatorConfig(),
    lip_encoder: LipReadingEncoder | None = None,
    checkpoint_path: str | Path | None = None,
    feature_encoder: str = "",
    feature_fingerprint: str = "",
    progress: bool = True,
) -> tuple[MotionTranslator, list[dict]]:
    """Train the translator on ``examples`` with eq 8; resume from ``checkpoint_path`` if it exists.

    Args:
        examples: training utterances (all speakers; the speaker list is taken from them).
        head: FLAME head model for the vertex term of eq 5 and the lip vertices of eq 7.
        config: steps, λ weights, model size (see :class:`TranslatorConfig`).
        lip_encoder: frozen ``E_lip`` for eq 7; ``None`` (or ``lambda_lat=0``) drops ``L_lat``.
        checkpoint_path: written atomically every ``config.checkpoint_every`` steps and at the end;
            if it exists, training continues from it (its settings must match ``config``).
        feature_encoder: name of the feature extractor used for ``examples`` (stored for ``translate``).
        feature_fingerprint: which weights that extractor had (stored; ``load_translator`` warns on a mismatch).

    Returns:
        ``(translator in eval mode, history)``; ``history[i]`` has ``rec``, ``sth``, ``lat``, ``total``.
    """
    if not examples:
        raise ValueError("train_translator: no training examples")
    use_lat = lip_encoder is not None and config.lambda_lat > 0
    if use_lat and any(e.asr_features is None for e in examples):
        raise ValueError("train_translator: L_lat needs asr_features in every example")
    speakers = sorted({e.speaker for e in examples})
    torch.manual_seed(config.seed)  # weights initialisation and dropout are repeatable
    translator = MotionTranslator(
        speakers,
        examples[0].features.shape[1],
        head.n_expr,
        use_identity=config.use_identity,
        d_model=config.d_model,
        n_layers=config.n_layers,
        n_heads=config.n_heads,
        window=config.window,
        dropout=config.dropout,
        feature_encoder=feature_encoder,
    )
    translator.feature_fingerprint = feature_fingerprint
    translator.set_normalization(torch.cat([e.params for e in examples]))
    optimizer = torch.optim.Adam(translator.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    history: list[dict] = []
    start_step = 0
    if checkpoint_path is not None and Path(checkpoint_path).is_file():
        tensors, meta = load_checkpoint(checkpoint_path)
        stored = {k: v for k, v in meta.get("train_config", {}).items() if k != "checkpoint_every"}
        if stored != config.resumable_settings():
            raise ValueError(
                f"{checkpoint_path}: the checkpoint was trained with different settings {meta.get('train_config')}; "
                "delete it or use the same TranslatorConfig"
            )
        if meta["speakers"] != speakers:
            raise ValueError(
                f"{checkpoint_path}: checkpoint speakers {meta['speakers']} differ from the training data's {speakers}"
            )
        translator.load_state_dict({k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")})
        optimizer_state = optimizer.state_dict()
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, index, name = key.split(".", 2)
                optimizer_state["state"].setdefault(int(index), {})[name] = value
        optimizer.load_state_dict(optimizer_state)
        generator.set_state(tensors["rng.sampler"])
        torch.set_rng_state(tensors["rng.torch"])
        start_step, history = meta["step"], meta["history"]

    speaker_of = {name: i for i, name in enumerate(speakers)}
    lip_ids = head.lip_vertex_ids
    n_samples = head.n_vertices if config.vertex_samples is None else min(config.vertex_samples, head.n_vertices)
    translator.train()
    for step in tqdm(
        range(start_step, config.steps),
        desc="motion translator",
        disable=not progress,
        initial=start_step,
        total=config.steps,
    ):
        for group in optimizer.param_groups:
            group["lr"] = cosine_learning_rate(step, config)
        indices, starts, length = _sample_crops(examples, config.batch_size, config.crop_frames, generator)
        features = _stack(examples, indices, starts, length, "features")  # (B, T, D)
        params_true = _stack(examples, indices, starts, length, "params")  # (B, T, P)
        speaker_index = torch.tensor([speaker_of[examples[i].speaker] for i in indices])
        standardized_pred = translator(features, speaker_index)
        standardized_true = translator.normalize(params_true)
        params_pred = translator.denormalize(standardized_pred)
        # eq 5's (1/K) sum over vertices, estimated on n_samples random vertices (exact when all K are used);
        # the lip vertices M_L ride along for eq 7
        sampled = (
            torch.arange(head.n_vertices)
            if n_samples == head.n_vertices
            else torch.randperm(head.n_vertices, generator=generator)[:n_samples]
        )
        subset = VertexSubsetHead(head, torch.cat([sampled, lip_ids]))
        vertices_pred = subset(params_pred)  # (B, T, n_samples + M_L, 3)
        with torch.no_grad():
            vertices_true = subset(params_true)
        rec = reconstruction_loss(
            standardized_pred,
            standardized_true,
            1000.0 * vertices_pred[:, :, :n_samples],
            1000.0 * vertices_true[:, :, :n_samples],
            config.lambda_y,
            config.lambda_v,
        )
        sth = smoothness_loss(standardized_pred, standardized_true, config.lambda_sth)
        if use_lat:
            lat = latent_consistency_loss(
                _stack(examples, indices, starts, length, "asr_features"),
                lip_encoder(vertices_pred[:, :, n_samples:]),
                config.lambda_lat,
            )
        else:
            lat = torch.zeros(())
        loss = total_loss(rec, sth, lat)  # eq 8
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append({"rec": rec.item(), "sth": sth.item(), "lat": lat.item(), "total": loss.item()})
        done = step + 1
        if checkpoint_path is not None and (done % config.checkpoint_every == 0 or done == config.steps):
            _save_training_state(
                checkpoint_path,
                translator,
                lip_encoder if use_lat else None,
                optimizer,
                generator,
                done,
                config,
                history,
            )
    translator.eval()
    translator.history = history
    return translator, history
