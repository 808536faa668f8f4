"""Benchmark: frames per second of the Gaussian head on this machine (paper Table 1, FPS column).

One frame = FLAME deformation (eq 10) + binding with blendshapes (eqs 11–18) + rasterization
(eq 9) at the chosen resolution, no gradients. Each stage is timed per frame (median over
``--frames`` frames after a warm-up, ``--repeats`` passes); the rasterization is split further
into the fast backend's own stages. Writes ``head.json`` and ``head.md`` (atomically) into
``--out`` and prints the table.

Without ``--checkpoint`` it times a head-like stand-in for a trained head: the bundled head
with ``--gaussians-per-triangle`` Gaussians per triangle (2 → 28,152, about the 27.5k of a head
trained by notebook 07), SH degree 1, opacity 0.9 and half-edge scales, so the rasterizer sees
a similar load (same count, same coverage of the image).

    python -m talkinghead_edu.bench head [--checkpoint head.safetensors] [--size 256] [--frames 20] [--threads 2]
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from pathlib import Path

import torch

STAGES = ("flame", "binding", "render")


def build_head(flame, checkpoint: Path | None, gaussians_per_triangle: int, device):
    """The :class:`GaussianHead` to time and a description: a trained checkpoint, or the head-like stand-in."""
    from ..gaussians import GaussianHead
    from ..utils.io import checkpoint_contents, load_checkpoint

    if checkpoint is not None:
        tensors, meta = load_checkpoint(checkpoint, device=device)
        with checkpoint_contents(checkpoint, "trained Gaussian head (RendererTrainer.save)"):
            config = meta["config"]
            head = GaussianHead(
                flame.faces,
                psi_dim=3 + flame.n_expr,
                sh_degree=config["sh_degree"],
                latent_dim=config["latent_dim"],
                device=device,
            )
            head.load_tensors(tensors, source=f"checkpoint {checkpoint}")
            trained = f"step {meta['step']}" if "step" in meta else f"{config['steps']} steps"  # shipped heads: no step
            return head, f"{checkpoint.name} ({trained})"
    head = GaussianHead(
        flame.faces,
        psi_dim=3 + flame.n_expr,
        gaussians_per_triangle=gaussians_per_triangle,
        sh_degree=1,
        init_opacity=0.9,
        device=device,
    )
    with torch.no_grad():
        head.gaussian_params["local_log_scales"].fill_(math.log(0.5))  # std half a mean edge
        generator = torch.Generator().manual_seed(0)
        for name in ("bs_pos", "bs_rot", "bs_color"):  # small non-zero blendshapes, as after training
            tensor = head.gaussian_params[name]
            tensor.copy_(1e-3 * torch.randn(tensor.shape, generator=generator))
    return head, f"head-like stand-in ({gaussians_per_triangle} per triangle, untrained)"


def main(argv: list[str] | None = None) -> int:
    from ..flame import load_head_model
    from ..gaussians import psi_from_flame
    from ..paths import cache_dir
    from ..render import Camera, fast, render
    from ..utils.args import ArgumentParser, existing_file, positive_int, torch_device
    from ._report import write_report

    parser = ArgumentParser(prog="python -m talkinghead_edu.bench head", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint",
        type=existing_file,
        default=None,
        help="a trained head (RendererTrainer.save); default: the head-like stand-in",
    )
    parser.add_argument(
        "--gaussians-per-triangle", type=positive_int, default=2, help="stand-in density (no checkpoint)"
    )
    parser.add_argument("--size", type=positive_int, default=256)
    parser.add_argument("--frames", type=positive_int, default=20)
    parser.add_argument(
        "--repeats", type=positive_int, default=1, help="passes over the frames (the median covers all)"
    )
    parser.add_argument(
        "--threads", type=positive_int, default=None, help="numba and torch threads (default: their choice)"
    )
    parser.add_argument("--backend", default="auto", choices=["auto", "reference", "fast", "gsplat"])
    parser.add_argument("--device", type=torch_device, default="cpu")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: <cache>/bench)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
        if fast.numba is not None:
            fast.numba.set_num_threads(args.threads)

    device = args.device
    flame = load_head_model(device=device)
    head, source = build_head(flame, args.checkpoint, args.gaussians_per_triangle, device)
    camera = Camera.look_at(
        (0.0, 0.0, 0.65), (0.0, -0.03, 0.0), fov_y_deg=25.0, width=args.size, height=args.size, device=device
    )
    generator = torch.Generator().manual_seed(0)
    expression = 0.5 * torch.randn(args.frames + 1, flame.n_expr, generator=generator).to(device)
    pose = torch.zeros(args.frames + 1, 15, device=device)
    pose[:, 6] = 0.2 * torch.rand(args.frames + 1, generator=generator).to(device)

    def one_frame(t: int) -> dict[str, float]:
        seconds = {}
        start = time.perf_counter()
        vertices = flame(expression=expression[t : t + 1], pose=pose[t : t + 1]).vertices
        seconds["flame"] = time.perf_counter() - start
        start = time.perf_counter()
        bound = head(vertices, psi_from_flame(pose[t : t + 1, 6:9], expression[t : t + 1]))
        gaussians = bound.frame(0)
        seconds["binding"] = time.perf_counter() - start
        start = time.perf_counter()
        with fast.profile_stages() as render_stages:
            out = render(gaussians, camera, backend=args.backend)
        seconds["render"] = time.perf_counter() - start
        seconds.update({f"render: {name}": value for name, value in render_stages["wall"].items()})
        seconds["frame"] = sum(seconds[name] for name in STAGES)
        seconds["coverage"] = float((out.alpha > 0.5).float().mean())
        return seconds

    with torch.no_grad():
        one_frame(args.frames)  # warm-up (JIT compilation)
        samples = [one_frame(t) for _ in range(args.repeats) for t in range(args.frames)]
    median = {name: statistics.median(s[name] for s in samples) for name in samples[0]}
    ms = {name: 1e3 * value for name, value in median.items() if name != "coverage"}
    result = {
        "fps": 1e3 / ms["frame"],
        "ms_per_frame": ms["frame"],
        "stages_ms": {name: value for name, value in ms.items() if name != "frame"},
        "image_coverage": median["coverage"],
        "num_gaussians": head.num_gaussians,
        "resolution": args.size,
        "backend": args.backend,
        "device": str(device),
        "head": source,
        "frames_timed": len(samples),
        "torch_threads": torch.get_num_threads(),
        "numba_threads": fast.numba.get_num_threads() if fast.numba is not None else None,
        "load_average_1_5_15": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "machine": platform.processor() or platform.machine(),
    }
    out_dir = args.out or cache_dir() / "bench"
    render_parts = ", ".join(
        f"{name.removeprefix('render: ')} {value:.1f}" for name, value in ms.items() if name.startswith("render: ")
    )
    table = (
        f"Median of {len(samples)} frames; threads: numba {result['numba_threads']}, torch {result['torch_threads']}; "
        f"load average {result['load_average_1_5_15']}.\n\n"
        "| head | N Gaussians | resolution | backend | FLAME ms | binding ms | render ms | ms / frame | FPS |\n"
        "|---|---:|---:|---|---:|---:|---:|---:|---:|\n"
        f"| {source} | {head.num_gaussians} | {args.size}² | {args.backend} | {ms['flame']:.1f} | "
        f"{ms['binding']:.1f} | "
        f"{ms['render']:.1f} | {ms['frame']:.1f} | {result['fps']:.1f} |\n"
        + (f"\nRender stages (ms): {render_parts}.\n" if render_parts else "")
    )
    write_report(out_dir, "head", result, table)
    print(table)
    return 0
