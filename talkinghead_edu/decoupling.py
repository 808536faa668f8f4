"""Contrastive identity/content decoupling: E_asr -> the Universal Audio Encoder E_uni (§3.2.1, eqs 1-3).

Figure 3 of the paper, step by step:

1. take audio of one speaker and cut it into ``k + 1`` equal segments (:func:`split_segments`);
2. pick one segment as the anchor ``A_anchor = A_{c1,t1}`` (content c1, timbre t1);
3. convert its timbre -> the positive ``A_pos = A_{c1,t2}`` (same words, other voice);
4. the remaining ``k`` segments are the negatives ``A_{neg,i}`` (same voice, other words);
5. encode them all, ``f = E_uni(A)`` (eq 1), and pull ``f_anchor`` towards ``f_0 = f_pos``
   while pushing it away from ``f_1..f_k`` (eq 2, InfoNCE): since anchor and negatives share
   the voice and the positive does not, the cheapest way to win is to stop encoding the voice;
6. keep the content with eq 3: the frozen ASR decoder D_asr must still read the same phonemes
   from the fine-tuned features as the frozen E_asr produced (CTC against its own decoding).

Eq 2 as printed sums only the ``k`` negatives in the denominator; the usual InfoNCE (van
den Oord et al.) also includes the positive. :func:`info_nce` offers both
(``include_positive=False`` is the paper's form). With all features identical, the
printed form gives ``log k`` and the usual one ``log (k + 1)``.

Two additions beyond the paper are on by default (``DecouplingConfig(positives="timbre",
lambda_consistency=0)`` is the paper's recipe); notebook 02 measures both recipes:

* *parallel positives* (:func:`parallel_positives`): where another speaker recorded the same
  sentence, their recording, warped phone by phone onto the anchor's timing, is ``A_{c1,t2}``
  itself — a real other voice, not a converted one. On the bundled speech one voice (espeak's
  Klatt synthesiser) keeps a cue that survives every signal-level conversion we tried; only a
  different real voice removes it. Anchors without a parallel recording fall back to the timbre
  conversion.
* *consistency* (:func:`consistency_loss`): anchor and positive must agree in every standardised
  feature, not only in cosine — a linear speaker probe reads exactly the low-variance directions
  that cosine similarity ignores.

Measurements (:func:`evaluate_encoder`): a linear speaker probe on pooled features, the
phoneme error rate (PER) of the CTC decoder, and the similarity of the same sentence
spoken by different speakers — each before vs after decoupling, on held-out utterances.

Glossary: B batch, k negatives, L samples, T frames (25 fps), S CTC steps (50 fps), D features.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .audio.encoder import BLANK, AudioEncoder, ctc_greedy_decode, encode_phonemes
from .audio.features import SAMPLES_PER_FRAME
from .audio.timbre import TimingWarper, random_timbre

__all__ = [
    "ContrastiveSample",
    "split_segments",
    "sample_contrastive_set",
    "speaker_audio",
    "parallel_positives",
    "info_nce",
    "pooled_features",
    "content_preservation_loss",
    "feature_scale",
    "consistency_loss",
    "DecouplingConfig",
    "fine_tune_universal",
    "edit_distance",
    "phoneme_error_rate",
    "speaker_probe_predictions",
    "speaker_probe_accuracy",
    "speaker_confusion",
    "segment_features",
    "same_sentence_similarity",
    "evaluate_encoder",
]


@dataclasses.dataclass
class ContrastiveSample:
    """One Figure-3 set: ``anchor (Ls,)``, ``positive (Ls,)``, ``negatives (k, Ls)``, ``anchor_index``, timbre used."""

    anchor: np.ndarray
    positive: np.ndarray
    negatives: np.ndarray
    anchor_index: int
    timbre: dict


def split_segments(waveform: np.ndarray, k: int, segment_samples: int | None = None) -> np.ndarray:
    """Cut one speaker's audio into ``k + 1`` equal, frame-aligned segments (Fig. 3).

    Args:
        waveform: ``(L,)`` audio of one speaker.
        k: number of negatives (``k + 1`` segments in all).
        segment_samples: length of each segment (a multiple of 640); default the longest
            multiple of 640 that fits ``k + 1`` times.

    Returns:
        ``(k + 1, segment_samples)``, consecutive pieces from the start of ``waveform``.
    """
    waveform = np.asarray(waveform, dtype=np.float32)
    if k < 1:
        raise ValueError(f"k (number of negatives) must be >= 1, got {k}")
    if segment_samples is None:
        segment_samples = waveform.shape[0] // (k + 1) // SAMPLES_PER_FRAME * SAMPLES_PER_FRAME
    if segment_samples <= 0 or segment_samples % SAMPLES_PER_FRAME:
        raise ValueError(f"segment_samples={segment_samples} must be a positive multiple of {SAMPLES_PER_FRAME}")
    if (k + 1) * segment_samples > waveform.shape[0]:
        raise ValueError(
            f"audio of {waveform.shape[0]} samples is too short for {k + 1} segments of {segment_samples} samples"
        )
    return waveform[: (k + 1) * segment_samples].reshape(k + 1, segment_samples).copy()


def sample_contrastive_set(
    waveform: np.ndarray,
    k: int,
    segment_samples: int,
    rng: np.random.Generator,
    timbre_fn: Callable[[np.ndarray, np.random.Generator], tuple[np.ndarray, dict]] = random_timbre,
    parallel: np.ndarray | None = None,
) -> ContrastiveSample:
    """Draw a random stretch of ``(k + 1) * segment_samples`` samples, split it, pick the anchor, make its positive.

    Args:
        waveform: ``(L,)`` audio of one speaker (e.g. its utterances concatenated).
        timbre_fn: ``(clip, rng) -> (converted clip, params)``; default Praat "Change gender"
            with a random pitch, pitch range and formant ratio, then a random spectral tilt
            (:func:`~talkinghead_edu.audio.timbre.random_timbre`).
        parallel: optional ``(M, L)`` recordings of the same words by ``M`` other speakers, time-aligned
            to ``waveform`` (NaN where there is none; :func:`parallel_positives`). A random row's
            span under the anchor becomes the positive when it has no NaN; otherwise ``timbre_fn``
            converts the anchor.
    """
    span = (k + 1) * segment_samples
    if waveform.shape[0] < span:
        raise ValueError(f"audio of {waveform.shape[0]} samples is too short for {k + 1} segments of {segment_samples}")
    if parallel is not None and (parallel.ndim != 2 or parallel.shape[1] != waveform.shape[0]):
        raise ValueError(
            f"parallel must be (M, {waveform.shape[0]}) recordings aligned to waveform, got {parallel.shape}"
        )
    start = int(rng.integers(0, (waveform.shape[0] - span) // SAMPLES_PER_FRAME + 1)) * SAMPLES_PER_FRAME
    segments = split_segments(waveform[start : start + span], k, segment_samples)
    anchor_index = int(rng.integers(0, k + 1))
    positive = None
    if parallel is not None:
        row = int(rng.integers(parallel.shape[0]))
        anchor_start = start + anchor_index * segment_samples
        candidate = parallel[row, anchor_start : anchor_start + segment_samples]
        if not np.isnan(candidate).any():
            positive, params = candidate, {"parallel_row": row}
    if positive is None:
        positive, params = timbre_fn(segments[anchor_index], rng)
    negatives = np.delete(segments, anchor_index, axis=0)
    return ContrastiveSample(segments[anchor_index], positive.astype(np.float32), negatives, anchor_index, params)


def speaker_audio(utterances: Sequence) -> dict[str, np.ndarray]:
    """speaker -> ``(L,)`` their utterances concatenated, in the order given."""
    parts: dict[str, list] = {}
    for u in utterances:
        parts.setdefault(u.speaker, []).append(np.asarray(u.audio, dtype=np.float32))
    return {s: np.concatenate(p) for s, p in parts.items()}


def _phone_boundaries(utterance) -> np.ndarray:
    """``(P + 3,)`` seconds: 0, every phone start, the last phone's end, the audio's end (edges may repeat)."""
    duration = len(utterance.audio) / utterance.sample_rate
    starts = [p.start_s for p in utterance.phonemes]
    return np.clip(np.array([0.0, *starts, utterance.phonemes[-1].end_s, duration]), 0.0, duration)


def _aligned_track(target, source, warpers: dict) -> np.ndarray:
    """``(L,)`` float32: ``source`` warped onto ``target``'s phone timing (``L`` = ``target``'s samples), or NaN
    when there is no source or it has other phones. ``warpers`` caches each source's :class:`TimingWarper`."""
    if source is None or [p.symbol for p in source.phonemes] != [p.symbol for p in target.phonemes]:
        return np.full(len(target.audio), np.nan, dtype=np.float32)
    if id(source) not in warpers:
        warpers[id(source)] = TimingWarper(source.audio, source.sample_rate)
    return warpers[id(source)](_phone_boundaries(source), _phone_boundaries(target), len(target.audio))


def parallel_positives(utterances: Sequence, progress: bool = True) -> dict[str, np.ndarray]:
    """Other speakers' recordings of the same sentences, time-aligned to each speaker's audio.

    For speaker ``s`` and each other speaker ``o`` (sorted), every utterance of ``s`` whose sentence
    ``o`` also spoke with the same phones gets ``o``'s recording warped onto ``s``'s phone timing
    (:func:`~talkinghead_edu.audio.timbre.warp_to_timing`); the rest is NaN.

    Returns:
        speaker -> ``(S - 1, L)`` float32, aligned sample for sample with :func:`speaker_audio`.
    """

    by_sentence: dict = {}
    groups: dict[str, list] = {}  # sentence -> its utterances, processed together so each recording is analysed once
    for u in utterances:
        by_sentence.setdefault(u.sentence_id, {})[u.speaker] = u
        groups.setdefault(u.sentence_id, []).append(u)
    speakers = sorted({u.speaker for u in utterances})
    tracks: dict[int, list[np.ndarray]] = {}  # id(utterance) -> its S - 1 rows, one per other speaker
    for group in tqdm(groups.values(), desc="aligning parallel recordings", disable=not progress):
        warpers: dict[int, TimingWarper] = {}  # id(source utterance) -> its Praat analysis, shared by every target
        for u in group:
            tracks[id(u)] = [
                _aligned_track(u, by_sentence[u.sentence_id].get(other), warpers)
                for other in speakers
                if other != u.speaker
            ]
    return {
        s: np.stack([np.concatenate(row) for row in zip(*(tracks[id(u)] for u in utterances if u.speaker == s))])
        for s in speakers
    }


def info_nce(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negatives: torch.Tensor,
    temperature: float = 0.1,
    include_positive: bool = False,
    normalize: bool = True,
) -> torch.Tensor:
    """InfoNCE of eq 2, averaged over the batch.

    ``L_adv = -log( exp(f_a·f_0/τ) / Σ_{i=1..k} exp(f_a·f_i/τ) )``   (eq 2, ``include_positive=False``)

    and the usual form with ``Σ_{i=0..k}`` (positive included) for ``include_positive=True``.

    Args:
        anchor: ``(B, D)`` ``f_anchor``; positive: ``(B, D)`` ``f_0``; negatives: ``(B, k, D)`` ``f_1..f_k``.
        temperature: ``τ``.
        normalize: L2-normalise the features first (dot product = cosine similarity; this keeps the
            printed form bounded below by ``-2/τ + log k``,
            its value for a perfect encoder: positive cosine 1, every negative cosine −1).

    Returns:
        scalar loss.
    """
    if (
        anchor.ndim != 2
        or positive.shape != anchor.shape
        or negatives.ndim != 3
        or negatives.shape[0] != anchor.shape[0]
        or negatives.shape[2] != anchor.shape[1]
    ):
        raise ValueError(
            f"expected anchor (B, D), positive (B, D), negatives (B, k, D); got {tuple(anchor.shape)}, "
            f"{tuple(positive.shape)}, {tuple(negatives.shape)}"
        )
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if normalize:
        anchor, positive, negatives = (
            F.normalize(anchor, dim=-1),
            F.normalize(positive, dim=-1),
            F.normalize(negatives, dim=-1),
        )
    positive_logit = (anchor * positive).sum(-1) / temperature  # (B,)     f_a · f_0 / τ
    negative_logits = torch.einsum("bd,bkd->bk", anchor, negatives) / temperature  # (B, k)  f_a · f_i / τ
    denominator_logits = (
        torch.cat([positive_logit[:, None], negative_logits], 1) if include_positive else negative_logits
    )
    return (torch.logsumexp(denominator_logits, dim=1) - positive_logit).mean()


def pooled_features(features: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over time: ``(B, T, D)`` (+ ``valid (B, T)``) -> ``(B, D)``."""
    if valid is None:
        return features.mean(1)
    weights = valid.to(features.dtype)[..., None]
    return (features * weights).sum(1) / weights.sum(1).clamp_min(1.0)


def content_preservation_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """Eq 3: ``L_text = L_ctc(D_asr(f_anchor), D_asr(E_asr(A_anchor)))``.

    The frozen model's output is turned into a label sequence by greedy CTC decoding;
    the fine-tuned model's logits are scored against it with CTC.

    Args:
        student_logits: ``(B, S, V+1)`` D_asr on the fine-tuned features (differentiable).
        teacher_logits: ``(B, S, V+1)`` D_asr on the frozen E_asr features.
        valid: ``(B, S)`` steps that hold audio.
    """
    targets = ctc_greedy_decode(teacher_logits.detach(), valid)
    input_lengths = (
        valid.sum(1) if valid is not None else torch.full((student_logits.shape[0],), student_logits.shape[1])
    )
    target_lengths = torch.tensor([len(t) for t in targets])
    flat_targets = torch.tensor([i for t in targets for i in t], dtype=torch.long)
    log_probs = student_logits.log_softmax(-1).transpose(0, 1)  # (S, B, V+1) as F.ctc_loss wants
    return F.ctc_loss(
        log_probs, flat_targets, input_lengths.cpu(), target_lengths, blank=BLANK, reduction="mean", zero_infinity=True
    )


def feature_scale(
    encoder: AudioEncoder, speaker_audio: dict[str, np.ndarray], segment_samples: int, batch_size: int = 16
) -> torch.Tensor:
    """``(D,)`` standard deviation of ``encoder``'s pooled features over consecutive segments of all the audio."""
    clips = [
        wave[i : i + segment_samples]
        for wave in speaker_audio.values()
        for i in range(0, len(wave) - segment_samples + 1, segment_samples)
    ]
    device = next(encoder.parameters()).device
    pooled = []
    with torch.no_grad():
        for start in range(0, len(clips), batch_size):
            hidden, valid = encoder.encode(torch.from_numpy(np.stack(clips[start : start + batch_size])).to(device))
            pooled.append(pooled_features(hidden, valid))
    return torch.cat(pooled).std(0)


def consistency_loss(f_anchor: torch.Tensor, f_positive: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``L_cons = mean_{b,d} ((f_anchor - f_positive) / scale)²``: anchor and positive agree in every feature.

    Not in the paper. InfoNCE compares cosines, which a speaker difference hidden in
    low-variance feature directions barely moves; a linear speaker probe standardises the
    features and finds exactly those directions. Dividing by the per-feature ``scale`` (the
    frozen E_asr's spread, :func:`feature_scale`) weighs every direction alike.

    Args:
        f_anchor, f_positive: ``(B, D)`` pooled features; scale: ``(D,)``.
    """
    return ((f_anchor - f_positive) / scale).pow(2).mean()


@dataclasses.dataclass
class DecouplingConfig:
    """Knobs of :func:`fine_tune_universal` (defaults = the shipped ``universal_encoder``)."""

    steps: int = 200
    k: int = 4  # negatives per anchor
    segment_seconds: float = 1.28  # 32 video frames
    speakers_per_step: int = 8
    temperature: float = 0.1  # τ of eq 2
    include_positive: bool = True  # the usual InfoNCE (bounded below by 0); False = eq 2 as printed
    pooling: str = "mean"  # "mean": f = time average of the segment; "sequence": the whole (T, D) sequence flattened
    lambda_text: float = 4.0  # weight of eq 3
    # "parallel": other speakers' aligned recordings where they exist (else timbre);
    # "timbre": always timbre conversion (the paper)
    positives: str = "parallel"
    lambda_consistency: float = 10.0  # weight of L_cons (consistency_loss; not in the paper; 0 = off)
    envelope_db: float = 0.0  # ± peak gain of the random formant-region EQ of the positives (0 = off; random_timbre)
    lr: float = 1e-3
    cosine_decay: bool = True  # decay the learning rate to 0 along a cosine
    seed: int = 0


def fine_tune_universal(
    asr_encoder: AudioEncoder,
    speaker_audio: dict[str, np.ndarray],
    config: DecouplingConfig = DecouplingConfig(),
    progress: bool = True,
    timbre_fn: Callable | None = None,
    parallel: dict[str, np.ndarray] | None = None,
) -> tuple[AudioEncoder, list[dict]]:
    """Fine-tune E_uni from E_asr with ``L_adv + λ_text L_text + λ_cons L_cons``
    (eqs 2-3, plus :func:`consistency_loss`).

    Args:
        asr_encoder: the trained E_asr + D_asr (left unchanged; a copy is fine-tuned and the
            CTC head D_asr stays frozen).
        speaker_audio: speaker -> ``(L,)`` their training audio concatenated (16 kHz).
        config: see :class:`DecouplingConfig`.
        timbre_fn: ``(clip, rng) -> (positive, params)``; default :func:`~talkinghead_edu.audio.timbre.random_timbre`
            with ``envelope_db=config.envelope_db``.
        parallel: speaker -> ``(M, L)`` aligned recordings by other speakers (:func:`parallel_positives`);
            required when ``config.positives == "parallel"``.

    Returns:
        ``(E_uni in eval mode, history)`` with per-step ``{"step", "lr", "loss", "adv", "text", "cons"}``.
    """
    if config.positives not in ("parallel", "timbre"):
        raise ValueError(f"config.positives must be 'parallel' or 'timbre', got {config.positives!r}")
    if config.positives == "parallel" and parallel is None:
        raise ValueError(
            "config.positives='parallel' needs the aligned recordings: pass parallel=parallel_positives(utterances), "
            "or use DecouplingConfig(positives='timbre') for timbre conversion only"
        )
    parallel = parallel if config.positives == "parallel" else {}
    timbre_fn = timbre_fn or functools.partial(random_timbre, envelope_db=config.envelope_db)
    device = next(asr_encoder.parameters()).device
    frozen = copy.deepcopy(asr_encoder).eval().requires_grad_(False)
    universal = copy.deepcopy(asr_encoder).train()
    universal.ctc_head.requires_grad_(False)  # D_asr is shared and frozen
    optimizer = torch.optim.AdamW(
        [p for p in universal.parameters() if p.requires_grad], lr=config.lr, weight_decay=0.01
    )
    # cosine decay of the learning rate to 0: the last steps settle instead of ending mid-stride
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * step / config.steps)) if config.cosine_decay else 1.0
    )
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    segment_samples = int(round(config.segment_seconds * 25)) * SAMPLES_PER_FRAME
    speakers = sorted(speaker_audio)
    scale = feature_scale(frozen, speaker_audio, segment_samples) if config.lambda_consistency > 0 else None
    history = []
    bar = tqdm(range(config.steps), desc="decoupling", disable=not progress)
    for step in bar:
        chosen = rng.choice(speakers, size=min(config.speakers_per_step, len(speakers)), replace=False)
        sets = [
            sample_contrastive_set(speaker_audio[s], config.k, segment_samples, rng, timbre_fn, parallel.get(s))
            for s in chosen
        ]
        anchors = torch.from_numpy(np.stack([s.anchor for s in sets])).to(device)  # (B, Ls)
        clips = torch.from_numpy(
            np.concatenate(
                [
                    np.stack([s.anchor for s in sets]),
                    np.stack([s.positive for s in sets]),
                    np.concatenate([s.negatives for s in sets]),
                ]
            )
        ).to(device)
        hidden, valid = universal.encode(clips)  # (B(k+2), S, D)
        mean_pooled = pooled_features(hidden, valid)  # (B(k+2), D)
        pooled = hidden.flatten(1) if config.pooling == "sequence" else mean_pooled
        batch = len(sets)
        f_anchor, f_pos, f_neg = (
            pooled[:batch],
            pooled[batch : 2 * batch],
            pooled[2 * batch :].reshape(batch, config.k, -1),
        )
        loss_adv = info_nce(f_anchor, f_pos, f_neg, config.temperature, config.include_positive)  # eq 2
        loss_cons = (
            consistency_loss(mean_pooled[:batch], mean_pooled[batch : 2 * batch], scale)
            if scale is not None
            else torch.zeros(())
        )
        with torch.no_grad():
            teacher_hidden, _ = frozen.encode(anchors)
            teacher_logits = frozen.ctc_head(teacher_hidden)
        loss_text = content_preservation_loss(universal.ctc_head(hidden[:batch]), teacher_logits, valid[:batch])  # eq 3
        loss = loss_adv + config.lambda_text * loss_text + config.lambda_consistency * loss_cons
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(universal.parameters(), 1.0)
        optimizer.step()
        learning_rate = schedule.get_last_lr()[0]
        schedule.step()
        history.append(
            {
                "step": step,
                "lr": learning_rate,
                "loss": float(loss.detach()),
                "adv": float(loss_adv.detach()),
                "text": float(loss_text.detach()),
                "cons": float(loss_cons.detach()),
            }
        )
        bar.set_postfix(
            adv=f"{history[-1]['adv']:.3f}", text=f"{history[-1]['text']:.3f}", cons=f"{history[-1]['cons']:.3f}"
        )
    return universal.eval(), history


def edit_distance(reference: Sequence, hypothesis: Sequence) -> int:
    """Levenshtein distance (substitutions + insertions + deletions), dynamic programming."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_item in enumerate(reference, start=1):
        current = [i] + [0] * len(hypothesis)
        for j, hyp_item in enumerate(hypothesis, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_item != hyp_item))
        previous = current
    return previous[-1]


@torch.no_grad()
def _encode_utterances(encoder, utterances: Sequence, batch_size: int = 8) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``[(hidden (S, D), logits (S, V+1))]`` per utterance (zero-padded batches, masks respected)."""
    device = next(encoder.parameters()).device
    order = sorted(range(len(utterances)), key=lambda i: len(utterances[i].audio))
    results: list = [None] * len(utterances)
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        lengths = torch.tensor([len(utterances[i].audio) for i in index])
        wave = torch.zeros(len(index), int(lengths.max()))
        for row, i in enumerate(index):
            wave[row, : lengths[row]] = torch.as_tensor(utterances[i].audio)
        hidden, valid = encoder.encode(wave.to(device), lengths.to(device))
        logits = encoder.ctc_head(hidden)
        for row, i in enumerate(index):
            n = int(valid[row].sum())
            results[i] = (hidden[row, :n].cpu(), logits[row, :n].cpu())
    return results


def phoneme_error_rate(encoder: AudioEncoder, utterances: Sequence, encoded=None) -> float:
    """PER in percent: total edit distance / total reference phonemes (greedy CTC decoding)."""
    encoded = encoded or _encode_utterances(encoder, utterances)
    errors = total = 0
    for utterance, (_, logits) in zip(utterances, encoded):
        reference = encode_phonemes([p.symbol for p in utterance.phonemes], encoder.vocabulary)
        hypothesis = ctc_greedy_decode(logits[None])[0]
        errors += edit_distance(reference, hypothesis)
        total += len(reference)
    return 100.0 * errors / max(total, 1)


def segment_features(encoded, utterances: Sequence, segment_frames: int = 25) -> tuple[torch.Tensor, list[int]]:
    """Pool encoder steps over consecutive windows of ``segment_frames`` 25 fps frames.

    Returns:
        ``(features (N, D), utterance index of each row)``; the last partial window is kept
        if it is at least half a window long.
    """
    rows, owners = [], []
    steps = 2 * segment_frames
    for index, (hidden, _) in enumerate(encoded):
        for start in range(0, hidden.shape[0], steps):
            piece = hidden[start : start + steps]
            if piece.shape[0] >= steps // 2 or start == 0:
                rows.append(piece.mean(0))
                owners.append(index)
    return torch.stack(rows), owners


def speaker_probe_predictions(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    weight_decay: float = 1e-3,
    iterations: int = 200,
) -> torch.Tensor:
    """A linear speaker classifier (multinomial logistic regression on standardised features): its test predictions.

    Trained with L-BFGS on ``train_features (N, D)``/``train_labels (N,)`` (cross-entropy +
    ``weight_decay * |W|²``), applied to ``test_features (M, D)``.

    Returns:
        ``(M,)`` predicted class indices.
    """
    mean, std = train_features.mean(0), train_features.std(0) + 1e-6
    x_train, x_test = (train_features - mean) / std, (test_features - mean) / std
    n_classes = int(train_labels.max()) + 1
    generator = torch.Generator().manual_seed(0)
    linear = torch.nn.Linear(x_train.shape[1], n_classes)
    with torch.no_grad():
        linear.weight.copy_(torch.randn(linear.weight.shape, generator=generator) * 0.01)
        linear.bias.zero_()
    optimizer = torch.optim.LBFGS(linear.parameters(), max_iter=iterations, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(linear(x_train), train_labels) + weight_decay * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return linear(x_test).argmax(1)


def speaker_probe_accuracy(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    weight_decay: float = 1e-3,
    iterations: int = 200,
) -> float:
    """Test accuracy of :func:`speaker_probe_predictions` against ``test_labels (M,)``."""
    predicted = speaker_probe_predictions(train_features, train_labels, test_features, weight_decay, iterations)
    return float((predicted == test_labels).float().mean())


def same_sentence_similarity(pooled: torch.Tensor, utterances: Sequence) -> dict[str, float]:
    """Mean cosine similarity of utterance-pooled features for pairs of utterances.

    Returns:
        ``{"same_sentence_other_speaker": ..., "other_sentence_same_speaker": ...}``: content
        should make the first high; voice makes the second high.
    """
    unit = F.normalize(pooled, dim=-1)
    similarity = unit @ unit.T
    same_sentence, same_speaker = [], []
    for i in range(len(utterances)):
        for j in range(i + 1, len(utterances)):
            a, b = utterances[i], utterances[j]
            if a.sentence_id == b.sentence_id and a.speaker != b.speaker:
                same_sentence.append(float(similarity[i, j]))
            elif a.sentence_id != b.sentence_id and a.speaker == b.speaker:
                same_speaker.append(float(similarity[i, j]))
    return {
        "same_sentence_other_speaker": float(np.mean(same_sentence)) if same_sentence else float("nan"),
        "other_sentence_same_speaker": float(np.mean(same_speaker)) if same_speaker else float("nan"),
    }


def _probe_data(encoder: AudioEncoder, train_utterances: Sequence, test_utterances: Sequence, segment_frames: int = 25):
    """Segment-pooled features and speaker labels of both sets, for the speaker probe.

    Returns:
        ``(x_train (N, D), y_train (N,), x_test (M, D), y_test (M,), speakers, test_encoded)``; labels index
        ``speakers`` (sorted training speakers); ``test_encoded`` as from :func:`_encode_utterances`.
    """
    speakers = sorted({u.speaker for u in train_utterances})
    label = {s: i for i, s in enumerate(speakers)}
    unknown = sorted({u.speaker for u in test_utterances} - set(speakers))
    if unknown:
        raise ValueError(f"test speakers {unknown} have no training utterances; the probe can only name {speakers}")
    train_encoded = _encode_utterances(encoder, train_utterances)
    test_encoded = _encode_utterances(encoder, test_utterances)
    x_train, owners_train = segment_features(train_encoded, train_utterances, segment_frames)
    x_test, owners_test = segment_features(test_encoded, test_utterances, segment_frames)
    y_train = torch.tensor([label[train_utterances[i].speaker] for i in owners_train])
    y_test = torch.tensor([label[test_utterances[i].speaker] for i in owners_test])
    return x_train, y_train, x_test, y_test, speakers, test_encoded


def speaker_confusion(
    encoder: AudioEncoder, train_utterances: Sequence, test_utterances: Sequence, segment_frames: int = 25
) -> tuple[list[str], np.ndarray]:
    """Where the speaker probe of :func:`evaluate_encoder` goes right and wrong.

    Returns:
        ``(speakers, counts (n, n))``: ``counts[i, j]`` = held-out segments of speaker ``i`` that
        the probe named speaker ``j``. The diagonal sum over the total is the probe accuracy; a
        column with a large sum is a speaker the probe names by default.
    """
    x_train, y_train, x_test, y_test, speakers, _ = _probe_data(
        encoder, train_utterances, test_utterances, segment_frames
    )
    predicted = speaker_probe_predictions(x_train, y_train, x_test)
    counts = np.zeros((len(speakers), len(speakers)), dtype=np.int64)
    np.add.at(counts, (y_test.numpy(), predicted.numpy()), 1)
    return speakers, counts


def evaluate_encoder(
    encoder: AudioEncoder, train_utterances: Sequence, test_utterances: Sequence, segment_frames: int = 25
) -> dict[str, float]:
    """The three measurements of the issue for one encoder.

    * ``probe_accuracy``: linear speaker probe trained on segment-pooled features of
      ``train_utterances``, accuracy on those of ``test_utterances`` (held out);
    * ``chance``: ``1 / number of speakers``;
    * ``per``: phoneme error rate (%) on ``test_utterances``;
    * ``same_sentence_other_speaker`` / ``other_sentence_same_speaker``: cosine similarities.
    """
    x_train, y_train, x_test, y_test, speakers, test_encoded = _probe_data(
        encoder, train_utterances, test_utterances, segment_frames
    )
    pooled = torch.stack([hidden.mean(0) for hidden, _ in test_encoded])
    return {
        "probe_accuracy": speaker_probe_accuracy(x_train, y_train, x_test, y_test),
        "chance": 1.0 / len(speakers),
        "per": phoneme_error_rate(encoder, test_utterances, test_encoded),
        **same_sentence_similarity(pooled, test_utterances),
    }
