"""Train and ship a Gaussian head of one bundled target speaker (paper §3.3, Figure 2 right).

Reproduces ``datasets_small/checkpoints/head_<speaker>.safetensors``::

    talkinghead-edu train-head --speaker speaker_a          # (nice -n 5, about 10-20 min on 2 busy cores)

Stages:

1. :class:`~talkinghead_edu.gaussians.train.RendererTrainer` for ``--steps`` steps (resumable:
   the full training state goes to ``--work``, in the cache, every 250 steps);
2. the inpainting generator ``F`` of eq 19 (:func:`talkinghead_edu.inpaint.train_inpainter`)
   on renders of ``--inpaint-frames`` training frames;
3. held-out evaluation on the test split: PSNR / SSIM with the tracker's parameters and with
   refined tracking (:meth:`RendererTrainer.refine_tracking`), once with float32 weights and
   once with the weights rounded to float16;
4. the shipped file: the head (float16 when that costs less than ``--fp16-tolerance`` dB of
   refined PSNR, else float32), ``F``, and the *pose track* — the training split's tracked
   global/neck/eye rotations and translations plus the corrections learned by FLAME
   fine-tuning (paper §4.1.3), which the pipeline loops as the head pose. Its metadata holds
   the config, the measurements and the command that reproduces it.

The shipped file is inference-only (no Adam moments); :func:`load_shipped_head` reads it.
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..data.video_dataset import load_video_dataset
from ..flame.model import load_head_model
from ..gaussians.density import DensityConfig
from ..gaussians.train import RendererConfig, RendererTrainer
from ..inpaint import InpaintConfig, InpaintingUNet, train_inpainter
from ..paths import cache_dir, dataset_root
from ..utils.args import ArgumentParser, non_negative_int, positive_float, positive_int
from ..utils.io import save_checkpoint

__all__ = ["train_inpainting_generator", "held_out_scores", "shipped_tensors", "main"]

#: weights of the head that the fp16 export rounds (the Gaussians and W_Y); F and the track stay float32
_HEAD_PREFIXES = ("gaussian/", "mlp/")


def train_inpainting_generator(
    trainer: RendererTrainer, frames: int, steps: int, seed: int = 0, width: int = 16, progress: bool = True
) -> tuple[InpaintingUNet, list[float]]:
    """Fit ``F`` (eq 19) on ``frames`` evenly spread training frames of ``trainer``'s video.

    Holes reach ~5 % of the frame side (as in notebook 07). Returns ``(F, per-step losses)``.
    """
    video = trainer.video
    train_ids = np.asarray(video.splits["train"])
    chosen = train_ids[np.linspace(0, len(train_ids) - 1, min(frames, len(train_ids))).round().astype(int)]
    renders, alphas = [], []
    with torch.no_grad():
        for index in chosen:
            out = trainer.render_frame(int(index))[0]
            renders.append(out.image.clamp(0.0, 1.0))
            alphas.append(out.alpha[..., 0])
    originals = torch.stack([video.frame(int(i)) for i in chosen])
    masks = torch.as_tensor(video.face_mask[chosen]).float()
    generator_net = InpaintingUNet(width=width)
    config = InpaintConfig(steps=steps, batch_size=2, hole_max_radius=max(3, video.width // 20), seed=seed)
    losses = train_inpainter(
        generator_net, originals, torch.stack(renders), torch.stack(alphas), masks, config, progress=progress
    )
    return generator_net, losses


def held_out_scores(
    trainer: RendererTrainer, refine_steps: int, max_frames: int | None, progress: bool = True
) -> dict[str, dict]:
    """Test-split PSNR/SSIM of the float32 head and of the same head rounded to float16.

    Returns ``{"float32": {"tracked": ..., "refined": ...}, "float16": {...}}`` (each a
    :meth:`RendererTrainer.evaluate` summary). The refinement runs once, with the float32 head;
    the head is restored to float32 afterwards.
    """
    frames = trainer.split_frames("test", max_frames)
    scores = {"float32": {"tracked": trainer.evaluate("test", max_frames, tracking="tracked")}}
    trainer.refine_tracking(frames, steps=refine_steps, progress=progress)
    scores["float32"]["refined"] = trainer.evaluate("test", max_frames, tracking="refined")
    params = [*trainer.head.gaussian_params.values(), *trainer.head.latent_mlp.parameters()]
    saved = [p.detach().clone() for p in params]
    with torch.no_grad():
        for p in params:
            p.copy_(p.half().float())
    scores["float16"] = {
        "tracked": trainer.evaluate("test", max_frames, tracking="tracked"),
        "refined": trainer.evaluate("test", max_frames, tracking="refined"),
    }
    with torch.no_grad():
        for p, value in zip(params, saved):
            p.copy_(value)
    return scores


def shipped_tensors(
    trainer: RendererTrainer, generator_net: InpaintingUNet, dtype: torch.dtype
) -> dict[str, torch.Tensor]:
    """The inference-only tensors of a shipped head.

    ``gaussian/*`` and ``mlp/*`` (in ``dtype``), ``triangle_ids`` (int32), ``inpaint/*`` (float32)
    and the pose track of the training split (float32): ``track/frames (n,)`` int32 frame
    indices, ``track/pose (n, 15)`` and ``track/translation (n, 3)`` = tracked + fine-tuning
    corrections (the expression and jaw of the track are not shipped: audio drives them).
    """
    tensors = {f"gaussian/{k}": v.detach().to(dtype) for k, v in trainer.head.gaussian_params.items()}
    tensors.update({f"mlp/{k}": v.detach().to(dtype) for k, v in trainer.head.latent_mlp.state_dict().items()})
    tensors["triangle_ids"] = trainer.head.triangle_ids.to(torch.int32)
    tensors.update({f"inpaint/{k}": v.detach().float() for k, v in generator_net.state_dict().items()})
    frames = torch.as_tensor(np.asarray(trainer.video.splits["train"]), dtype=torch.long, device=trainer.device)
    with torch.no_grad():
        inputs = trainer.flame_inputs(frames, finetuned=True)
    tensors["track/frames"] = frames.to(torch.int32)
    tensors["track/pose"] = inputs["pose"].float()
    tensors["track/translation"] = inputs["translation"].float()
    return tensors


def _fmt(scores: dict) -> str:
    return f"PSNR {scores['psnr']:.2f} dB, SSIM {scores['ssim']:.4f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(prog="talkinghead-edu train-head", description=__doc__.split("\n")[0])
    parser.add_argument("--speaker", default="speaker_a", help="a bundled target speaker (datasets_small/video)")
    parser.add_argument("--resolution", type=positive_int, default=256)
    parser.add_argument("--steps", type=positive_int, default=2000, help="training steps of the Gaussian head")
    parser.add_argument(
        "--max-gaussians",
        type=positive_int,
        default=26_000,
        help="densification budget (keeps the float16 file under 10 MB)",
    )
    parser.add_argument("--inpaint-steps", type=non_negative_int, default=300)
    parser.add_argument("--inpaint-frames", type=positive_int, default=40)
    parser.add_argument(
        "--refine-steps",
        type=non_negative_int,
        default=30,
        help="photometric tracking refinement per held-out frame (evaluation)",
    )
    parser.add_argument(
        "--eval-frames",
        type=non_negative_int,
        default=0,
        help="held-out test frames to evaluate (0 = the whole test split)",
    )
    parser.add_argument(
        "--fp16-tolerance",
        type=positive_float,
        default=0.1,
        help="ship float16 if it costs less than this many dB of refined PSNR",
    )
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="shipped file (default datasets_small/checkpoints/head_<speaker>.safetensors)",
    )
    parser.add_argument("--work", type=Path, default=None, help="resumable training checkpoint (default: in the cache)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    progress = not args.no_progress

    out = args.out or dataset_root() / "checkpoints" / f"head_{args.speaker}.safetensors"
    work = (
        args.work
        or cache_dir() / f"train_head_{args.speaker}_{args.resolution}px_{args.steps}steps_seed{args.seed}.safetensors"
    )
    video = load_video_dataset(args.speaker, resolution=args.resolution)
    flame = load_head_model()
    config = RendererConfig(
        steps=args.steps,
        seed=args.seed,
        density=DensityConfig(
            refine_start=200,
            refine_every=200,
            refine_stop=min(2400, int(0.8 * args.steps)),
            reset_every=0,
            clone_max_size=0.003,
            max_gaussians=args.max_gaussians,
        ),
    )
    started = time.perf_counter()
    if work.is_file():
        trainer = RendererTrainer.load(work, video, flame)
        if trainer.config.to_dict() != config.to_dict():
            raise ValueError(f"{work} was trained with a different config; delete it or pass another --work")
        print(f"resuming {work} at step {trainer.step}")
    else:
        trainer = RendererTrainer(video, flame, config)
    trainer.train(args.steps, checkpoint_path=work, checkpoint_every=250, progress=progress)
    train_minutes = trainer.history["seconds"][-1] / 60
    generator_net, inpaint_losses = train_inpainting_generator(
        trainer, args.inpaint_frames, args.inpaint_steps, seed=args.seed, progress=progress
    )
    scores = held_out_scores(trainer, args.refine_steps, args.eval_frames or None, progress=progress)
    cost = scores["float32"]["refined"]["psnr"] - scores["float16"]["refined"]["psnr"]
    dtype = torch.float16 if cost < args.fp16_tolerance else torch.float32
    stored = "float16" if dtype == torch.float16 else "float32"
    meta = {
        "kind": "talkinghead_edu.shipped_head",
        "speaker": args.speaker,
        "resolution": [video.height, video.width],
        "num_frames": video.num_frames,
        "num_gaussians": trainer.head.num_gaussians,
        "config": trainer.config.to_dict(),
        "storage_dtype": stored,
        "inpaint": {
            "width": 16,
            "steps": args.inpaint_steps,
            "frames": args.inpaint_frames,
            "loss_first": inpaint_losses[0],
            "loss_last": inpaint_losses[-1],
        },
        "test_scores": scores,
        "float16_psnr_cost_db": cost,
        "train_minutes": train_minutes,
        "reproduce": "talkinghead-edu train-head "
        + shlex.join([a for a in (argv if argv is not None else sys.argv[1:])]),
    }
    path = save_checkpoint(out, shipped_tensors(trainer, generator_net, dtype), meta)
    print(
        f"{args.speaker}: {trainer.step} steps ({train_minutes:.1f} min), {trainer.head.num_gaussians} Gaussians; "
        "test, tracker's parameters: "
        f"{_fmt(scores['float32']['tracked'])}; refined tracking: {_fmt(scores['float32']['refined'])}; "
        f"float16 costs {cost:+.3f} dB -> stored as {stored}; "
        f"{path} {path.stat().st_size / 1e6:.2f} MB; total {(time.perf_counter() - started) / 60:.1f} min"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
