"""Train the landmark detector (:class:`talkinghead_edu.eval.landmarks.LandmarkRegressor`) for LMD.

Data: the clip cache of :mod:`talkinghead_edu.recipes.eval_data` — the two video speakers'
ground-truth training frames and the mesh renders of the speech set (8 voices' motion, train
split), with their exact projected landmarks. Loss: mean squared error in crop units
(augmentation: ±2 px box shifts, brightness). Held out: the speech test-split renders and both
video test blocks; the error on the *video test blocks* is LMD's floor (what the detector
alone contributes when it compares ground truth with ground truth's true landmarks).

    python -m talkinghead_edu.recipes.train_landmarks --steps 1000 \\
        --out datasets_small/checkpoints/landmark_detector.safetensors
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..eval.crops import crop_square
from ..eval.landmarks import DETECTED_LANDMARKS, LandmarkRegressor, pixels_to_crop_units, save_landmark_regressor
from ..paths import dataset_root
from .eval_data import EVAL_RESOLUTION, Clip, eval_head, load_clip_cache
from .train_sync import _patch_box

__all__ = ["train_landmark_detector", "detector_error", "COMMAND"]

COMMAND = "python -m talkinghead_edu.recipes.train_landmarks --steps {steps} --seed {seed}"


def _face_box(clip: Clip, shift=(0.0, 0.0)) -> torch.Tensor:
    """The detector's box in the clip's patch coordinates."""
    return _patch_box(clip, eval_head(clip.head).face_box + torch.tensor([shift[0], shift[1], 0.0]))


def _patch_landmarks(clip: Clip) -> torch.Tensor:
    """``(T, K, 2)`` true detected landmarks in the clip's patch pixel coordinates."""
    region = eval_head(clip.head).region
    origin = torch.tensor(
        [round(float(region[0]) - float(region[2]) / 2), round(float(region[1]) - float(region[2]) / 2)],
        dtype=torch.float32,
    )
    return torch.from_numpy(clip.landmarks[:, list(DETECTED_LANDMARKS)]) - origin


@torch.no_grad()
def detector_error(model: LandmarkRegressor, clips: list[Clip]) -> dict:
    """Mean landmark error of the detector on ``clips`` in pixels at 128 (and at 256 = ×2), mouth and jaw apart."""
    errors = []
    for clip in clips:
        box = _face_box(clip)
        found = model.detect(torch.from_numpy(clip.patches), box)
        errors.append((found - _patch_landmarks(clip)).norm(dim=-1))  # (T, K)
    errors = torch.cat(errors)
    mouth = [i for i, k in enumerate(DETECTED_LANDMARKS) if k >= 48]
    jaw = [i for i, k in enumerate(DETECTED_LANDMARKS) if k < 48]
    px128 = {"all": float(errors.mean()), "mouth": float(errors[:, mouth].mean()), "jaw": float(errors[:, jaw].mean())}
    return {"frames": int(errors.shape[0]), "px_at_128": px128, "px_at_256": {k: 2 * v for k, v in px128.items()}}


def train_landmark_detector(
    steps: int = 1000,
    batch: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    clips: list[Clip] | None = None,
    progress: bool = True,
) -> tuple[LandmarkRegressor, list[float]]:
    """Train on the cache's training clips (module docstring). Returns ``(detector, losses)``."""
    torch.manual_seed(seed)
    generator = np.random.default_rng(seed)
    clips = [c for c in (clips or load_clip_cache()) if c.split == "train"]
    model = LandmarkRegressor()
    targets = [_patch_landmarks(c) for c in clips]
    index = np.concatenate(
        [np.stack([np.full(c.num_frames, i), np.arange(c.num_frames)], 1) for i, c in enumerate(clips)]
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    losses = []
    model.train()
    for step in tqdm(range(steps), desc="landmark detector", disable=not progress):
        for group in optimizer.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        crops, wanted = [], []
        for i, t in index[generator.integers(len(index), size=batch)]:
            clip = clips[i]
            box = _face_box(clip, generator.integers(-2, 3, size=2).astype(float))
            crops.append(
                crop_square(torch.from_numpy(clip.patches[t : t + 1]), box, model.config["crop"])[0]
                * float(generator.uniform(0.85, 1.15))
            )
            wanted.append(pixels_to_crop_units(targets[i][t], box))
        loss = ((model(torch.stack(crops).clamp(0, 1)) - torch.stack(wanted)) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return model.eval(), losses


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Train the jaw + mouth landmark detector for LMD on the bundled data.")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=dataset_root() / "checkpoints" / "landmark_detector.safetensors")
    args = parser.parse_args(argv)
    started = time.time()
    clips = load_clip_cache()
    model, losses = train_landmark_detector(args.steps, seed=args.seed, clips=clips)
    floor = detector_error(model, [c for c in clips if c.name.startswith("video/") and c.split == "test"])
    renders = detector_error(model, [c for c in clips if c.name.startswith("render/") and c.split == "test"])
    meta = {
        "command": COMMAND.format(steps=args.steps, seed=args.seed),
        "eval_resolution": EVAL_RESOLUTION,
        "landmarks": list(DETECTED_LANDMARKS),
        "final_loss": float(np.mean(losses[-50:])),
        "train_seconds": round(time.time() - started, 1),
        "floor_video_test": floor,
        "error_render_test": renders,
    }
    save_landmark_regressor(args.out, model, meta)
    print(meta)


if __name__ == "__main__":
    main()
