"""Train and validate the sync expert (:class:`talkinghead_edu.eval.sync.SyncExpert`).

Data: the clip cache of :mod:`talkinghead_edu.recipes.eval_data` — mesh renders of the speech
set's ground-truth motion (8 voices, train split) and the two video speakers' ground-truth
training frames. Objective (contrastive, in-sync vs shifted): for the 5-frame window at ``t``,
every audio window of the batch is a candidate — the same clip's at other offsets
(the hard negatives) and other clips' — and cross-entropy picks the in-sync one from cosine
similarities / ``temperature`` (InfoNCE, both directions).

Validation (:func:`validate_expert`) on held-out ground-truth clips (speech test split renders
and both video test blocks): the fraction of clips whose best offset is 0, and LSE when the
audio is delayed/advanced by ``s`` frames (the log-mel is shifted by ``4 s`` mel frames).

    python -m talkinghead_edu.recipes.train_sync --steps 800 --out datasets_small/checkpoints/sync_expert.safetensors
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..eval.crops import crop_square
from ..eval.lse import sync_scores
from ..eval.sync import SyncExpert, audio_windows, save_sync_expert
from ..paths import dataset_root
from .eval_data import EVAL_RESOLUTION, Clip, eval_head, load_clip_cache

__all__ = ["mouth_crops_of_clip", "train_sync_expert", "validate_expert", "SHIFTS"]

SHIFTS = (-5, -2, 0, 2, 5)
JITTER = ((0, 0), (2, 0), (-2, 0), (0, 2), (0, -2))  # crop-box shifts (pixels at 128) used as augmentation
COMMAND = "python -m talkinghead_edu.recipes.train_sync --steps {steps} --seed {seed}"


def _patch_box(clip: Clip, box: torch.Tensor) -> torch.Tensor:
    """A frame box in the coordinates of the clip's cached region patch."""
    region = eval_head(clip.head).region
    x0 = round(float(region[0]) - float(region[2]) / 2)
    y0 = round(float(region[1]) - float(region[2]) / 2)
    return torch.tensor([float(box[0]) - x0, float(box[1]) - y0, float(box[2])])


def mouth_crops_of_clip(clip: Clip, crop: int = 32, shift: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """``(T, 3, crop, crop)`` mouth crops of a cached clip (box of its head, optionally shifted)."""
    box = eval_head(clip.head).mouth_box + torch.tensor([shift[0], shift[1], 0.0])
    return crop_square(torch.from_numpy(clip.patches), _patch_box(clip, box), crop)


def _shift_mel(log_mel: torch.Tensor, frames: int, hops_per_frame: int = 4) -> torch.Tensor:
    """Delay (``frames > 0``) or advance the audio by whole video frames; the gap is silence."""
    steps = frames * hops_per_frame
    if steps == 0:
        return log_mel
    silence = log_mel.min().expand(abs(steps), log_mel.shape[1])
    return torch.cat([silence, log_mel[:-steps]]) if steps > 0 else torch.cat([log_mel[-steps:], silence])


@torch.no_grad()
def validate_expert(expert: SyncExpert, clips: list[Clip], shifts=SHIFTS, progress: bool = False) -> dict:
    """Offset accuracy and LSE under audio shifts on held-out clips.

    Returns:
        ``{"offset_accuracy": fraction of clips with best offset 0 (unshifted),
        "clips": n, "shifts": {s: {"lse_d", "lse_c", "d_at_0", "c_at_0", "found_shift"}}}`` —
        means over clips; ``found_shift`` = fraction whose best offset equals ``s``.
    """
    crops = [mouth_crops_of_clip(c, expert.config["crop"]) for c in clips]
    result = {"clips": len(clips), "shifts": {}}
    for s in tqdm(shifts, desc="validating", disable=not progress):
        scores = []
        for clip, crop in zip(clips, crops):
            mel = _shift_mel(torch.from_numpy(clip.log_mel), s)
            scores.append(sync_scores(*expert.embed_clip(crop, mel)))
        result["shifts"][s] = {
            "lse_d": float(np.mean([x.lse_d for x in scores])),
            "lse_c": float(np.mean([x.lse_c for x in scores])),
            "d_at_0": float(np.mean([x.distance_at(0) for x in scores])),
            "c_at_0": float(np.mean([x.confidence_at(0) for x in scores])),
            "found_shift": float(np.mean([x.offset == s for x in scores])),
        }
    result["offset_accuracy"] = result["shifts"][0]["found_shift"] if 0 in shifts else None
    return result


def _prepare(clips: list[Clip], expert: SyncExpert) -> list[dict]:
    prepared = []
    for clip in clips:
        crops = torch.stack(
            [(mouth_crops_of_clip(clip, expert.config["crop"], j) * 255 + 0.5).to(torch.uint8) for j in JITTER]
        )
        windows = audio_windows(
            torch.from_numpy(clip.log_mel), clip.num_frames, expert.config["window"], expert.hops_per_frame
        )
        prepared.append({"crops": crops, "audio": windows})  # (J, T, 3, S, S) uint8, (T, 20, M)
    return prepared


def train_sync_expert(
    steps: int = 800,
    clips_per_step: int = 8,
    segment: int = 24,
    lr: float = 2e-3,
    temperature: float = 0.1,
    seed: int = 0,
    clips: list[Clip] | None = None,
    progress: bool = True,
) -> tuple[SyncExpert, list[float]]:
    """Train the expert on the training clips of the cache (module docstring). Returns ``(expert, losses)``.

    Each step takes ``segment`` consecutive frames from ``clips_per_step`` clips; every video
    window is scored against every audio window of the batch (its own segment at other
    offsets — the hard negatives — and the other clips), InfoNCE in both directions.
    """
    torch.manual_seed(seed)
    generator = np.random.default_rng(seed)
    clips = [c for c in (clips or load_clip_cache()) if c.split == "train" and c.num_frames >= segment]
    expert = SyncExpert()
    mels = torch.cat([torch.from_numpy(c.log_mel) for c in clips])
    expert.mel_mean.copy_(mels.mean(0))
    expert.mel_std.copy_(mels.std(0).clamp_min(1e-3))
    data = _prepare(clips, expert)
    lengths = np.array([c.num_frames for c in clips], dtype=np.float64)
    weights = lengths / lengths.sum()
    half = expert.config["window"] // 2
    optimizer = torch.optim.AdamW(expert.parameters(), lr=lr, weight_decay=1e-4)
    losses = []
    expert.train()
    for step in tqdm(range(steps), desc="sync expert", disable=not progress):
        for group in optimizer.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        video, audio = [], []
        for i in generator.choice(len(clips), size=clips_per_step, replace=False, p=weights):
            T = clips[i].num_frames
            start = int(generator.integers(0, T - segment + 1))
            centres = torch.arange(start, start + segment)
            frames = (centres[:, None] + torch.arange(-half, half + 1)[None]).clamp(0, T - 1)  # (L, 5)
            crops = data[i]["crops"][int(generator.integers(len(JITTER)))][frames]  # (L, 5, 3, S, S)
            brightness = float(generator.uniform(0.85, 1.15))
            video.append((crops.float() / 255.0 * brightness).clamp(0, 1).flatten(1, 2))
            audio.append(data[i]["audio"][centres])
        v = expert.embed_video(torch.cat(video))  # (C L, D)
        a = expert.embed_audio(torch.cat(audio))  # (C L, D)
        logits = v @ a.T / temperature  # logits[i, j]: video window i vs audio window j
        target = torch.arange(len(v))
        loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return expert.eval(), losses


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Train the sync expert for LSE-D / LSE-C on the bundled data.")
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=dataset_root() / "checkpoints" / "sync_expert.safetensors")
    args = parser.parse_args(argv)
    started = time.time()
    clips = load_clip_cache()
    expert, losses = train_sync_expert(args.steps, seed=args.seed, clips=clips)
    held_out = [c for c in clips if c.split == "test"]
    validation = validate_expert(expert, held_out, progress=True)
    meta = {
        "command": COMMAND.format(steps=args.steps, seed=args.seed),
        "eval_resolution": EVAL_RESOLUTION,
        "mel_settings": expert.mel_settings,
        "final_loss": float(np.mean(losses[-50:])),
        "train_seconds": round(time.time() - started, 1),
        "validation": validation,
    }
    save_sync_expert(args.out, expert, meta)
    print({k: v for k, v in meta.items() if k != "validation"})
    print("offset accuracy", validation["offset_accuracy"], "clips", validation["clips"])
    for s, row in validation["shifts"].items():
        print(s, {k: round(v, 4) for k, v in row.items()})


if __name__ == "__main__":
    main()
