"""Benchmark of the FLAME model: ``python -m talkinghead_edu.bench flame [--out DIR] [--runs 5]``.

The bundled procedural head posed with random parameters (shape, expression, pose,
translation at realistic spreads) for batches of B frames; median of ``--runs`` timed runs
after one warm-up, for ``forward`` (no autograd) and ``forward+backward`` (loss = weighted
sum of the vertices, backward to every parameter tensor), in float32 and float64. Writes
``flame.json`` and ``flame.md`` (atomically) into ``--out`` and prints the table.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import torch

from ..flame import load_head_model
from ..utils.args import ArgumentParser, existing_file, positive_int, torch_device
from ._report import write_report
from ._timing import median_seconds


def measure(
    batch: int, dtype: torch.dtype, runs: int, device: str = "cpu", seed: int = 0, head_path: Path | None = None
) -> dict:
    """Median forward and forward+backward seconds for one batch size and dtype."""
    head = load_head_model(head_path, device=device, dtype=dtype)
    g = torch.Generator().manual_seed(seed)
    params = {
        "shape": torch.randn(batch, head.n_shape, generator=g, dtype=dtype) * head.shape_std.cpu(),
        "expression": torch.randn(batch, head.n_expr, generator=g, dtype=dtype) * head.expr_std.cpu(),
        "pose": torch.randn(batch, 15, generator=g, dtype=dtype) * 0.15,
        "translation": torch.randn(batch, 3, generator=g, dtype=dtype) * 0.05,
    }
    params = {name: value.to(device).requires_grad_() for name, value in params.items()}
    weights = torch.rand(batch, head.n_vertices, 3, generator=g, dtype=dtype).to(device)

    def forward():
        with torch.no_grad():
            return head(**params)

    def forward_backward():
        (head(**params).vertices * weights).sum().backward()
        for value in params.values():
            value.grad = None

    return {
        "batch": batch,
        "dtype": str(dtype).replace("torch.", ""),
        "device": device,
        "vertices": head.n_vertices,
        "forward_s": median_seconds(forward, runs),
        "forward_backward_s": median_seconds(forward_backward, runs),
    }


def to_markdown(rows: list[dict], header: str) -> str:
    lines = [
        header,
        "",
        "| B | dtype | forward (ms) | forward+backward (ms) | forward per frame (ms) |",
        "|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['batch']} | {r['dtype']} | {1e3 * r['forward_s']:.2f} | {1e3 * r['forward_backward_s']:.2f} | "
            f"{1e3 * r['forward_s'] / r['batch']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m talkinghead_edu.bench flame", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--out", type=Path, default=Path("bench_results"), help="output folder (default bench_results/)"
    )
    parser.add_argument("--runs", type=positive_int, default=5, help="timed runs per measurement (median reported)")
    parser.add_argument("--batches", type=positive_int, nargs="+", default=[1, 8, 32], help="batch sizes (frames)")
    parser.add_argument("--device", type=torch_device, default="cpu", help="torch device (default cpu)")
    parser.add_argument(
        "--threads", type=positive_int, default=None, help="torch CPU threads (default: torch's choice)"
    )
    parser.add_argument(
        "--head", type=existing_file, default=None, help="head .npz in the bundled layout (default: the bundled head)"
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or min(args.batches) < 1:
        parser.error("--runs and --batches must be >= 1")
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be >= 1")
        torch.set_num_threads(args.threads)

    rows = []
    for dtype in (torch.float32, torch.float64):
        for batch in args.batches:
            rows.append(measure(batch, dtype, args.runs, device=str(args.device), head_path=args.head))
            print(
                f"B={batch:4d} {rows[-1]['dtype']}: forward {1e3 * rows[-1]['forward_s']:8.2f} ms, "
                f"forward+backward {1e3 * rows[-1]['forward_backward_s']:8.2f} ms",
                flush=True,
            )
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    info = {
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "load_average_1_5_15": load,
        "runs": args.runs,
        "time_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    }
    header = (
        f"FLAME forward benchmark ({info['time_utc']} UTC, {args.device}, {info['cpu_count']} CPUs, torch threads "
        f"{info['torch_threads']}, load average {load}); head {args.head or 'bundled'} with {rows[0]['vertices']} "
        "vertices; "
        f"median of {args.runs} runs after one warm-up."
    )
    table = to_markdown(rows, header)
    write_report(args.out, "flame", {"info": info, "rows": rows}, table)
    print(table)
    return 0
