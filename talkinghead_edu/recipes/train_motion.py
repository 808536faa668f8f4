"""The bundled motion-translator experiment: train the full model and its ablations, evaluate.

Run (reproduces ``datasets_small/checkpoints/motion_translator.safetensors`` and the ablation
checkpoints ``motion_ablation_<variant>.safetensors`` next to it)::

    python -m talkinghead_edu.recipes.train_motion --steps 1000 --lip-steps 500

Each variant is independent (same seed, same ``E_lip``), so they can run as parallel processes,
one ``--variants NAME`` each (about 70 s of training per variant on one core). ``--seed`` changes
the translators' initialisation, dropout and crops (``E_lip`` keeps its seed); with ``--out`` and
``--results`` pointing elsewhere it measures the seed spread without touching the shipped files.

Variants (one table, paper §3.2, issue 6):

==================  =====================================================
``full``            identity embedding, Universal Audio Encoder, eqs 5–8
``no_identity``     without ``E_id`` (eq 4 without the identity term)
``raw_encoder``     the ASR encoder ``E_asr`` instead of the decoupled ``E_uni``
``no_smooth``       ``λ_sth = 0`` (without eq 6)
``no_latent``       ``λ_lat = 0`` (without eq 7)
==================  =====================================================
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Sequence

import torch

from ..data import load_speech_dataset
from ..flame.model import load_head_model
from ..motion.evaluate import evaluate_translator, style_ratio, summarize
from ..motion.features import get_feature_extractor
from ..motion.train import (
    LipTrainConfig,
    MotionExample,
    TranslatorConfig,
    load_translator,
    prepare_examples,
    save_translator,
    train_lip_encoder,
    train_translator,
)
from ..paths import dataset_root
from ..utils.args import ArgumentParser, non_negative_int, positive_int
from ..utils.io import atomic_write_text

__all__ = [
    "VARIANTS",
    "available_encoders",
    "load_motion_examples",
    "style_speakers",
    "train_variant",
    "evaluate_variant",
    "main",
]

#: variant -> (TranslatorConfig overrides, feature extractor role: "content" = the decoupled encoder, "raw" = E_asr)
VARIANTS: dict[str, tuple[dict, str]] = {
    "full": ({}, "content"),
    "no_identity": ({"use_identity": False}, "content"),
    "raw_encoder": ({}, "raw"),
    "no_smooth": ({"lambda_sth": 0.0}, "content"),
    "no_latent": ({"lambda_lat": 0.0}, "content"),
}


def available_encoders() -> tuple[str, str]:
    """``(content encoder, raw encoder)`` names: ``("universal", "asr")`` when the bundled
    checkpoints exist, else ``("log_mel", "log_mel")`` (said plainly wherever it is used)."""

    folder = dataset_root() / "checkpoints"
    if (folder / "universal_encoder.safetensors").is_file() and (folder / "asr_encoder.safetensors").is_file():
        return "universal", "asr"
    return "log_mel", "log_mel"


def load_motion_examples(
    dataset, splits: Sequence[str], content: str, raw: str, max_per_split: int | None = None
) -> dict[str, dict[str, list[MotionExample]]]:
    """``{role: {split: examples}}`` for roles ``"content"`` and ``"raw"``; both carry ``E_asr``
    features (the raw encoder's) as ``asr_features`` for eq 7."""
    extractors = {"content": get_feature_extractor(content)}
    extractors["raw"] = extractors["content"] if raw == content else get_feature_extractor(raw)
    out: dict[str, dict[str, list[MotionExample]]] = {"content": {}, "raw": {}}
    for split in splits:
        utterances = dataset.split(split)[:max_per_split]
        raw_examples = prepare_examples(utterances, extractors["raw"], extractors["raw"])
        out["raw"][split] = raw_examples
        if extractors["content"] is extractors["raw"]:
            out["content"][split] = raw_examples
        else:
            content_examples = prepare_examples(utterances, extractors["content"])
            for c, r in zip(content_examples, raw_examples):
                c.asr_features = r.asr_features
            out["content"][split] = content_examples
    return out


def style_speakers(dataset, speakers: Sequence[str]) -> tuple[str, str]:
    """The two speakers (among ``speakers``) with the largest and smallest ``mouth_amplitude``."""
    ranked = sorted(speakers, key=lambda s: dataset.styles[s].mouth_amplitude)
    return ranked[-1], ranked[0]


def train_variant(
    name: str,
    examples: dict,
    head,
    base: TranslatorConfig,
    lip_encoder,
    encoders: tuple[str, str],
    checkpoint_path=None,
    progress=True,
    fingerprints: tuple[str, str] = ("", ""),
):
    """Train one variant of :data:`VARIANTS` on ``examples[role]["train"]``."""
    overrides, role = VARIANTS[name]
    config = dataclasses.replace(base, **overrides)
    which = 0 if role == "content" else 1
    return train_translator(
        examples[role]["train"],
        head,
        config,
        lip_encoder=lip_encoder,
        checkpoint_path=checkpoint_path,
        feature_encoder=encoders[which],
        feature_fingerprint=fingerprints[which],
        progress=progress,
    )


def evaluate_variant(
    translator, examples: dict, head, role: str, splits: Sequence[str], style_pair: tuple[str, str]
) -> dict:
    """Summary per split (``summarize``) plus the style ratio on the first split."""
    result = {}
    for split in splits:
        result[split] = summarize(evaluate_translator(translator, examples[role][split], head))
    result["style"] = style_ratio(result[splits[0]], *style_pair)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m talkinghead_edu.recipes.train_motion", description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=positive_int, default=1000)
    parser.add_argument("--lip-steps", type=non_negative_int, default=500)
    parser.add_argument(
        "--out", type=Path, default=None, help="folder for the checkpoints (default datasets_small/checkpoints)"
    )
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument(
        "--results", type=Path, default=None, help="folder for one <variant>.json of metrics each (default: print only)"
    )
    parser.add_argument(
        "--encoders",
        nargs=2,
        default=None,
        metavar=("CONTENT", "RAW"),
        help="feature extractors (default: universal asr if bundled, else log_mel log_mel)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=TranslatorConfig.seed,
        help="translator seed (initialisation, dropout, crops); E_lip keeps its own seed so variants share it",
    )
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads (small models run best on one)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    out = args.out or dataset_root() / "checkpoints"
    dataset = load_speech_dataset()
    head = load_head_model()
    encoders = tuple(args.encoders) if args.encoders else available_encoders()
    splits = ("train", "test", "test_unseen_language")
    started = time.time()
    fingerprints = tuple(get_feature_extractor(name).fingerprint for name in encoders)
    examples = load_motion_examples(dataset, splits, *encoders)
    print(
        f"features ({encoders}) for {sum(len(v) for v in examples['content'].values())} utterances in "
        f"{time.time() - started:.0f} s"
    )
    lip_encoder, lip_history = train_lip_encoder(examples["raw"]["train"], head, LipTrainConfig(steps=args.lip_steps))
    print(f"E_lip: loss {lip_history[0]:.3f} -> {lip_history[-1]:.3f}")
    pair = style_speakers(dataset, sorted({e.speaker for e in examples["content"]["test"]}))
    base = TranslatorConfig(steps=args.steps, seed=args.seed)
    for name in args.variants:
        started = time.time()
        path = out / ("motion_translator.safetensors" if name == "full" else f"motion_ablation_{name}.safetensors")
        translator, history = train_variant(
            name, examples, head, base, lip_encoder, encoders, fingerprints=fingerprints
        )
        save_translator(
            path,
            translator,
            lip_encoder if name == "full" else None,
            dataclasses.replace(base, **VARIANTS[name][0]),
            history,
        )
        metrics = evaluate_variant(
            load_translator(path, attach_feature_extractor=False), examples, head, VARIANTS[name][1], splits[1:], pair
        )
        metrics.update(
            train_seconds=time.time() - started, encoders=encoders, style_pair=pair, steps=args.steps, seed=args.seed
        )
        print(
            name,
            {split: {k: v for k, v in metrics[split].items() if k != "jaw"} for split in splits[1:]},
            metrics["style"],
        )
        if args.results is not None:
            atomic_write_text(args.results / f"{name}.json", json.dumps(metrics, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
