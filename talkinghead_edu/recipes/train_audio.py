"""Training of the bundled audio encoders (commands that reproduce the shipped checkpoints).

::

    python -m talkinghead_edu.recipes.train_audio asr        # E_asr + D_asr, CTC on the train split
    python -m talkinghead_edu.recipes.train_audio universal  # E_uni, decoupling fine-tuned from E_asr (eqs 2-3)

Both write ``datasets_small/checkpoints/{asr,universal}_encoder.safetensors`` (atomically;
``--out`` to write elsewhere) with the training settings and measured numbers in the
file's metadata.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..audio.encoder import (
    BLANK,
    ENCODER_NAMES,
    AudioEncoder,
    EncoderConfig,
    encode_phonemes,
    load_encoder_checkpoint,
    normalize_phoneme,
    save_encoder,
)
from ..data import load_speech_dataset
from ..decoupling import DecouplingConfig, evaluate_encoder, fine_tune_universal, parallel_positives, speaker_audio
from ..paths import dataset_root
from ..utils.args import ArgumentParser, positive_float, positive_int

__all__ = ["build_vocabulary", "spec_augment", "AsrConfig", "train_asr", "main"]


def build_vocabulary(utterances: Sequence) -> list[str]:
    """Sorted set of normalised phoneme symbols in ``utterances`` (each has ``.phonemes[i].symbol``)."""
    return sorted({normalize_phoneme(p.symbol) for u in utterances for p in u.phonemes} - {""})


def spec_augment(
    mel: torch.Tensor, generator: torch.Generator, n_masks: int = 2, max_freq: int = 10, max_time: int = 12
) -> torch.Tensor:
    """SpecAugment-style masking of ``(B, F, n_mels)`` standardised log-mel: zero random bands and spans."""
    mel = mel.clone()
    batch, frames, bands = mel.shape
    for b in range(batch):
        for _ in range(n_masks):
            width = int(torch.randint(0, max_freq + 1, (1,), generator=generator))
            low = int(torch.randint(0, bands - width + 1, (1,), generator=generator))
            mel[b, :, low : low + width] = 0.0
            span = int(torch.randint(0, max_time + 1, (1,), generator=generator))
            start = int(torch.randint(0, max(frames - span, 0) + 1, (1,), generator=generator))
            mel[b, start : start + span] = 0.0
    return mel


@dataclasses.dataclass
class AsrConfig:
    """Knobs of :func:`train_asr` (defaults = the shipped ``asr_encoder``)."""

    epochs: int = 40
    batch_size: int = 8
    lr: float = 2e-3
    weight_decay: float = 0.01
    seed: int = 0


def _batches(utterances: Sequence, batch_size: int, rng: np.random.Generator) -> list[list[int]]:
    """Length-sorted buckets of ``batch_size`` utterances, in shuffled order (little padding)."""
    order = sorted(range(len(utterances)), key=lambda i: len(utterances[i].audio))
    buckets = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(buckets)
    return buckets


def _padded(utterances: Sequence, index: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(utterances[i].audio) for i in index])
    wave = torch.zeros(len(index), int(lengths.max()))
    for row, i in enumerate(index):
        wave[row, : lengths[row]] = torch.as_tensor(utterances[i].audio)
    return wave, lengths


def train_asr(
    utterances: Sequence,
    encoder_config: EncoderConfig | None = None,
    config: AsrConfig = AsrConfig(),
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> tuple[AudioEncoder, list[dict]]:
    """Train E_asr + D_asr with CTC on phoneme sequences (the stand-in for the pre-trained ASR model).

    Args:
        utterances: objects with ``.audio (L,)`` 16 kHz (``L`` a multiple of 640) and
            ``.phonemes`` (items with ``.symbol``), e.g. ``load_speech_dataset().split("train")``.
        encoder_config: model sizes; its vocabulary is built from ``utterances`` if empty.

    Returns:
        ``(encoder in eval mode, history)``, one ``{"epoch", "ctc"}`` per epoch.
    """
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    if encoder_config is None:
        encoder_config = EncoderConfig(vocabulary=build_vocabulary(utterances))
    elif not encoder_config.vocabulary:
        encoder_config = dataclasses.replace(encoder_config, vocabulary=build_vocabulary(utterances))
    encoder = AudioEncoder(encoder_config).to(device)
    with torch.no_grad():  # input normalisation from the training audio (per mel band)
        mels = torch.cat([encoder.raw_log_mel(torch.as_tensor(u.audio)[None].to(device))[0] for u in utterances])
        encoder.mel_mean.copy_(mels.mean(0))
        encoder.mel_std.copy_(mels.std(0) + 1e-3)
    targets = [
        torch.tensor(encode_phonemes([p.symbol for p in u.phonemes], encoder_config.vocabulary)) for u in utterances
    ]
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(utterances) / config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, config.lr, total_steps=config.epochs * steps_per_epoch, pct_start=0.1
    )
    history = []
    bar = tqdm(range(config.epochs), desc="ASR (CTC)", disable=not progress)
    for epoch in bar:
        encoder.train()
        total = 0.0
        for index in _batches(utterances, config.batch_size, rng):
            wave, lengths = _padded(utterances, index)
            hidden, valid = encoder.encode(
                wave.to(device), lengths.to(device), mel_augment=lambda m: spec_augment(m, generator)
            )
            log_probs = encoder.ctc_head(hidden).log_softmax(-1).transpose(0, 1)  # (S, B, V+1)
            batch_targets = [targets[i] for i in index]
            loss = F.ctc_loss(
                log_probs,
                torch.cat(batch_targets),
                valid.sum(1).cpu(),
                torch.tensor([len(t) for t in batch_targets]),
                blank=BLANK,
                zero_infinity=True,
            )
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(encoder.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(index)
        history.append({"epoch": epoch, "ctc": total / len(utterances)})
        bar.set_postfix(ctc=f"{history[-1]['ctc']:.3f}")
    return encoder.eval(), history


def main(argv: list[str] | None = None) -> int:
    """Command line: train ``asr`` or ``universal`` on the bundled speech (see the module docstring)."""

    parser = ArgumentParser(
        prog="python -m talkinghead_edu.recipes.train_audio",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("stage", choices=sorted(ENCODER_NAMES), help="which encoder to train")
    parser.add_argument(
        "--root", type=Path, default=None, help="speech dataset folder (default: datasets_small/speech)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output file (default: datasets_small/checkpoints/<stage>_encoder.safetensors)",
    )
    parser.add_argument(
        "--asr", type=Path, default=None, help="E_asr checkpoint to fine-tune (universal; default: the bundled one)"
    )
    parser.add_argument("--epochs", type=positive_int, default=AsrConfig.epochs, help="ASR training epochs")
    parser.add_argument(
        "--steps", type=positive_int, default=DecouplingConfig.steps, help="decoupling fine-tuning steps"
    )
    parser.add_argument("--temperature", type=positive_float, default=DecouplingConfig.temperature)
    parser.add_argument("--lambda-text", type=float, default=DecouplingConfig.lambda_text)
    parser.add_argument(
        "--pooling",
        choices=["mean", "sequence"],
        default=DecouplingConfig.pooling,
        help="how a segment becomes the vector f of eq 2",
    )
    parser.add_argument(
        "--positives",
        choices=["parallel", "timbre"],
        default=DecouplingConfig.positives,
        help=(
            "parallel: other speakers' time-aligned recordings of the same sentence where they exist; timbre: "
            "Praat conversion only (the paper)"
        ),
    )
    parser.add_argument(
        "--lambda-consistency",
        type=float,
        default=DecouplingConfig.lambda_consistency,
        help="weight of L_cons (0 = off; not in the paper)",
    )
    parser.add_argument(
        "--envelope-db",
        type=float,
        default=DecouplingConfig.envelope_db,
        help="± dB of the positives' random formant-region EQ (0 = off)",
    )
    parser.add_argument("--paper-form", action="store_true", help="eq 2 as printed (positive not in the denominator)")
    parser.add_argument("--lr", type=positive_float, default=DecouplingConfig.lr, help="decoupling learning rate")
    parser.add_argument(
        "--cosine-decay",
        action=argparse.BooleanOptionalAction,
        default=DecouplingConfig.cosine_decay,
        help="decay the learning rate to 0 along a cosine",
    )
    parser.add_argument("--k", type=positive_int, default=DecouplingConfig.k, help="negatives per anchor (k of eq 2)")
    parser.add_argument(
        "--segment-seconds",
        type=positive_float,
        default=DecouplingConfig.segment_seconds,
        help="length of each Fig. 3 segment",
    )
    parser.add_argument("--seed", type=int, default=0)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)

    torch.set_num_threads(1)  # one thread per process: the machine is shared, and 2 threads thrash under load
    dataset = load_speech_dataset(args.root)
    train, test = dataset.split("train"), dataset.split("test")
    out = args.out or dataset_root() / "checkpoints" / ENCODER_NAMES[args.stage]
    started = time.time()
    if args.stage == "asr":
        config = AsrConfig(epochs=args.epochs, seed=args.seed)
        encoder, history = train_asr(train, config=config)
        metrics = evaluate_encoder(encoder, train, test)
        meta = {"stage": "asr", "train": dataclasses.asdict(config), "final_ctc": history[-1]["ctc"]}
    else:
        asr = load_encoder_checkpoint(args.asr or dataset_root() / "checkpoints" / ENCODER_NAMES["asr"])
        config = DecouplingConfig(
            steps=args.steps,
            temperature=args.temperature,
            lambda_text=args.lambda_text,
            pooling=args.pooling,
            include_positive=not args.paper_form,
            lr=args.lr,
            seed=args.seed,
            k=args.k,
            segment_seconds=args.segment_seconds,
            envelope_db=args.envelope_db,
            positives=args.positives,
            lambda_consistency=args.lambda_consistency,
            cosine_decay=args.cosine_decay,
        )
        parallel = parallel_positives(train) if config.positives == "parallel" else None
        encoder, history = fine_tune_universal(asr, speaker_audio(train), config, parallel=parallel)
        metrics = evaluate_encoder(encoder, train, test)
        meta = {"stage": "universal", "train": dataclasses.asdict(config), "before": evaluate_encoder(asr, train, test)}
    meta.update(
        {
            "metrics": metrics,
            "seconds": round(time.time() - started, 1),
            "command": "python -m talkinghead_edu.recipes.train_audio " + " ".join(argv),
        }
    )
    save_encoder(out, encoder, meta)
    print(f"wrote {out}: {metrics}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
