"""The bundled motion-translator experiment: train the full model and its ablations, evaluate.

Run (reproduces ``datasets_small/checkpoints/motion_translator.safetensors`` and the ablation
checkpoints ``motion_ablation_<variant>.safetensors`` next to it)::

    python -m talkinghead_edu.recipes.train_motion --steps 1000 --lip-steps 500

Each variant is independent (same seed, same ``E_lip``), so they can run as parallel processes,
one ``--variants NAME`` each (about 70 s of training per variant on one core). ``--seed`` changes
the translators' initialisation, dropout and crops (``E_lip`` keeps its seed); with ``--out`` and
``--results`` pointing elsewhere it measures the seed spread without touching the shipped files.

Training data (:class:`TranslatorData`): the speech voices' training utterances, the same utterances
with rest around them and joined by phrase pauses (:mod:`talkinghead_edu.synth.rest_examples`: a
translator must learn a closed, still mouth in silence), 2–3 s clips of silence alone, and the two
video speakers' training-split audio with their tracked FLAME expression/jaw/neck, cut at the
utterance borders — so the translator has the video speakers as identities too. Held out: the speech ``test`` and
``test_unseen_language`` splits, and ``silence``: the test utterances padded with 0.3–1.0 s of silence
(seed :data:`SILENCE_SEED`), scored on the padding (:func:`silence_frames`).

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
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..conventions import FPS, SAMPLES_PER_FRAME
from ..data import list_video_speakers, load_speech_dataset, load_video_dataset
from ..flame.model import load_head_model
from ..motion.evaluate import evaluate_translator, lip_gap_mm, rest_scores, style_ratio, summarize
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
from ..synth.rest_examples import padded_utterance, rest_clips, silence_clips
from ..utils.args import ArgumentParser, non_negative_int, positive_int
from ..utils.io import atomic_write_text

__all__ = [
    "VARIANTS",
    "REST_SEED",
    "SILENCE_SEED",
    "TrackedClip",
    "video_clips",
    "TranslatorData",
    "silence_frames",
    "closure_and_rest_scores",
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


REST_SEED = 14  # the training clips with rest and pauses
SILENCE_ONLY_SEED = 77  # the training clips of silence alone
SILENCE_ONLY_PER_SPEAKER = 4  # clips of silence alone per speech voice
SILENCE_SEED = 1414  # the held-out "silence" split (fixed: every variant and run is scored on the same clips)
MIN_CLIP_FRAMES = 25  # a video clip shorter than 1 s (an utterance cut by the split border) is dropped
SPEECH_MARGIN_FRAMES = 5  # silence frames this close to speech are not "pure" silence (anticipation, release)


@dataclass
class TrackedClip:
    """A stretch of a target video for translator training: ``audio (640 T,)`` and the tracked
    ``expression (T, E)``, ``jaw_pose (T, 3)``, ``neck_pose (T, 3)`` (what :func:`prepare_examples` reads)."""

    id: str
    speaker: str
    audio: np.ndarray
    expression: np.ndarray
    jaw_pose: np.ndarray
    neck_pose: np.ndarray


def video_clips(speaker: str, split: str = "train", root=None) -> list[TrackedClip]:
    """A video speaker's ``split`` frames cut at its utterance borders (``meta.json``) into
    :class:`TrackedClip` s, with the tracker's FLAME parameters (never the true ones)."""
    video = load_video_dataset(speaker, root)
    frames = video.splits[split]
    low, high = int(frames[0]), int(frames[-1]) + 1
    tracked = video.flame_tracked.numpy()
    clips = []
    for item in video.meta["utterances"]:
        start = max(low, int(item["start_frame"]))
        stop = min(high, int(item["start_frame"]) + int(item["num_frames"]))
        if stop - start >= MIN_CLIP_FRAMES:
            block = slice(start, stop)
            clips.append(
                TrackedClip(
                    f"{item['id']}[{start}:{stop}]",
                    speaker,
                    video.audio_for_frames(block),
                    tracked.expression[block],
                    tracked.jaw_pose[block],
                    tracked.neck_pose[block],
                )
            )
    return clips


class TranslatorData:
    """The translator's data by split (``split(name) -> utterances``, what :func:`load_motion_examples` reads).

    ``train``: the speech training utterances + :func:`~talkinghead_edu.synth.rest_examples.rest_clips`
    (seed :data:`REST_SEED`) + :func:`video_clips` of every video speaker + clips of silence alone
    (:func:`~talkinghead_edu.synth.rest_examples.silence_clips`, seed :data:`SILENCE_ONLY_SEED`);
    ``silence``: each speech test utterance padded (:func:`~talkinghead_edu.synth.rest_examples.padded_utterance`, seed
    :data:`SILENCE_SEED`); any other split as in the speech data.
    """

    def __init__(self, dataset, video_speakers: Sequence[str] | None = None):
        self.dataset = dataset
        self.video_speakers = list(list_video_speakers() if video_speakers is None else video_speakers)

    def split(self, name: str) -> list:
        if name == "train":
            video = [clip for speaker in self.video_speakers for clip in video_clips(speaker, "train")]
            silence = silence_clips(self.dataset, SILENCE_ONLY_PER_SPEAKER, SILENCE_ONLY_SEED)
            return self.dataset.split("train") + rest_clips(self.dataset, "train", REST_SEED) + video + silence
        if name == "silence":
            rng = np.random.default_rng(SILENCE_SEED)
            ds = self.dataset
            return [padded_utterance(u, ds.styles[u.speaker], ds.head, rng) for u in ds.split("test")]
        return self.dataset.split(name)


def silence_frames(clip) -> np.ndarray:
    """Frame indices of the pure silence of a padded clip (``clip.meta["silence_frames"]``): the lead and
    trail padding without the :data:`SPEECH_MARGIN_FRAMES` next to the speech."""
    lead, trail = clip.meta["silence_frames"][0], clip.meta["silence_frames"][-1]
    T = clip.num_frames
    return np.concatenate(
        [np.arange(0, max(0, lead - SPEECH_MARGIN_FRAMES)), np.arange(T - max(0, trail - SPEECH_MARGIN_FRAMES), T)]
    )


def closure_and_rest_scores(translator, examples: dict, utterances: dict, head, zeros_features: torch.Tensor) -> dict:
    """Held-out scores of the resting and the closed mouth.

    ``examples``/``utterances``: ``{"silence": [...], "test": [...]}`` MotionExamples and the utterances
    they came from (same order); ``zeros_features`` ``(T, D)``: the translator's audio features of
    digital silence. Returns ``silence`` (:func:`rest_scores` of the prediction over every silence
    clip's pure-silence frames; the ground truth's as ``silence_true``), ``closure`` (median / 95th
    percentile of the predicted and true inner-lip gap at the /p b m/ frames of the test utterances,
    mm) and ``digital_silence``: :func:`rest_scores` of the prediction for the zeros, per style.
    """

    def predicted(example):
        return translator.predict(example.features, example.speaker).motion_vector

    pred_rest, true_rest = [], []
    for example, clip in zip(examples["silence"], utterances["silence"]):
        frames = silence_frames(clip)
        pred_rest.append(predicted(example)[frames])
        true_rest.append(example.params[frames])
    pred_gap, true_gap = [], []
    for example, u in zip(examples["test"], utterances["test"]):
        frames = u.closure_frames()
        if len(frames):
            pred_gap.append(lip_gap_mm(head, predicted(example)[frames]))
            true_gap.append(lip_gap_mm(head, example.params[frames]))
    pred_gap, true_gap = np.concatenate(pred_gap), np.concatenate(true_gap)
    return {
        "silence": rest_scores(head, torch.cat(pred_rest)),
        "silence_true": rest_scores(head, torch.cat(true_rest)),
        "digital_silence": {
            str(style): rest_scores(head, translator.predict(zeros_features, style).motion_vector)
            for style in (translator.speakers if translator.identity is not None else []) + [None]
        },
        "closure": {
            "pred_median_mm": float(np.median(pred_gap)),
            "pred_p95_mm": float(np.percentile(pred_gap, 95)),
            "true_median_mm": float(np.median(true_gap)),
            "true_p95_mm": float(np.percentile(true_gap, 95)),
        },
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
    splits = ("train", "test", "test_unseen_language", "silence")
    started = time.time()
    fingerprints = tuple(get_feature_extractor(name).fingerprint for name in encoders)
    data = TranslatorData(dataset)
    examples = load_motion_examples(data, splits, *encoders)
    held_out = {name: data.split(name) for name in ("test", "silence")}
    zeros = torch.zeros(1, 3 * FPS * SAMPLES_PER_FRAME)  # 3 s of digital silence
    zeros_features = {
        role: get_feature_extractor(name)(zeros)[0].float() for role, name in zip(("content", "raw"), encoders)
    }
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
        role = VARIANTS[name][1]
        saved = load_translator(path, attach_feature_extractor=False)
        metrics = evaluate_variant(saved, examples, head, role, splits[1:], pair)
        metrics["rest"] = closure_and_rest_scores(saved, examples[role], held_out, head, zeros_features[role])
        metrics.update(
            train_seconds=time.time() - started, encoders=encoders, style_pair=pair, steps=args.steps, seed=args.seed
        )
        print(
            name,
            {split: {k: v for k, v in metrics[split].items() if k != "jaw"} for split in splits[1:]},
            metrics["style"],
            metrics["rest"],
        )
        if args.results is not None:
            atomic_write_text(args.results / f"{name}.json", json.dumps(metrics, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
