"""Benchmark: frames per second of the Gaussian head on this machine (paper Table 1, FPS column).

One frame = FLAME deformation (eq 10) + binding with blendshapes (eqs 11–18) + rasterization
(eq 9) at the chosen resolution, no gradients. Writes ``head.json`` and ``head.md``
(atomically) into ``--out`` and prints the table.

    python -m talkinghead_edu.bench head [--checkpoint head.safetensors] [--size 256] [--frames 20]
"""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import torch


def main(argv: list[str] | None = None) -> int:
    from ..flame import load_head_model
    from ..gaussians import GaussianHead, psi_from_flame
    from ..paths import cache_dir
    from ..render import Camera, render
    from ..utils.io import atomic_write_text, checkpoint_contents, load_checkpoint
    from ..utils.args import ArgumentParser, existing_file, positive_int, torch_device

    parser = ArgumentParser(prog="python -m talkinghead_edu.bench head", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=existing_file, default=None, help="a trained head (RendererTrainer.save); default: an untrained head, one Gaussian per triangle")
    parser.add_argument("--size", type=positive_int, default=256)
    parser.add_argument("--frames", type=positive_int, default=20)
    parser.add_argument("--backend", default="auto", choices=["auto", "reference", "fast", "gsplat"])
    parser.add_argument("--device", type=torch_device, default="cpu")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: <cache>/bench)")
    args = parser.parse_args(argv)

    device = args.device
    flame = load_head_model(device=device)
    head = GaussianHead(flame.faces, psi_dim=3 + flame.n_expr, device=device)
    source = "untrained head (1 Gaussian per triangle)"
    if args.checkpoint is not None:
        tensors, meta = load_checkpoint(args.checkpoint, device=device)
        with checkpoint_contents(args.checkpoint, "trained Gaussian head (RendererTrainer.save)"):
            config = meta["config"]
            head = GaussianHead(flame.faces, psi_dim=3 + flame.n_expr, sh_degree=config["sh_degree"], latent_dim=config["latent_dim"], device=device)
            head.load_tensors(tensors, source=f"checkpoint {args.checkpoint}")
            source = f"{args.checkpoint.name} (step {meta['step']})"
    camera = Camera.look_at((0.0, 0.0, 0.65), (0.0, -0.03, 0.0), fov_y_deg=25.0, width=args.size, height=args.size, device=device)
    generator = torch.Generator().manual_seed(0)
    expression = 0.5 * torch.randn(args.frames + 1, flame.n_expr, generator=generator).to(device)
    pose = torch.zeros(args.frames + 1, 15, device=device)
    pose[:, 6] = 0.2 * torch.rand(args.frames + 1, generator=generator).to(device)

    def one_frame(t: int) -> None:
        vertices = flame(expression=expression[t : t + 1], pose=pose[t : t + 1]).vertices
        bound = head(vertices, psi_from_flame(pose[t : t + 1, 6:9], expression[t : t + 1]))
        render(bound.frame(0), camera, backend=args.backend)

    with torch.no_grad():
        one_frame(args.frames)  # warm-up (JIT compilation)
        start = time.perf_counter()
        for t in range(args.frames):
            one_frame(t)
        seconds = time.perf_counter() - start
    result = {
        "fps": args.frames / seconds,
        "ms_per_frame": 1000 * seconds / args.frames,
        "num_gaussians": head.num_gaussians,
        "resolution": args.size,
        "backend": args.backend,
        "device": str(device),
        "head": source,
        "torch_threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
    }
    out = args.out or cache_dir() / "bench"
    atomic_write_text(out / "head.json", json.dumps(result, indent=2))
    table = (
        "| head | N Gaussians | resolution | backend | device | ms / frame | FPS |\n|---|---|---|---|---|---|---|\n"
        f"| {source} | {head.num_gaussians} | {args.size}² | {args.backend} | {device} | {result['ms_per_frame']:.1f} | {result['fps']:.2f} |\n"
    )
    atomic_write_text(out / "head.md", table)
    print(table)
    return 0
