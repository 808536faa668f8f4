"""Benchmark of the CPU rasterizers: ``python -m talkinghead_edu.bench render [--out DIR] [--runs 5]``.

A head-sized scene (:func:`talkinghead_edu.render.scenes.head_scene`, ~0.2 m, 1 m from
the camera, filling ~70 % of the image) at N Gaussians and image sizes; median of
``--runs`` timed runs after one warm-up, for ``forward`` (no autograd) and
``forward+backward`` (loss = weighted sum of image, backward to all Gaussian tensors),
plus the CPU time (all threads) and the peak extra resident memory of each (every
measurement in a fresh process). For the fast backend the table splits forward+backward
into its stages (projection, SH colours, binning, depth sort, compositing, backward; median
wall ms) and, with ``--threads 1 2``, measures each thread count and prints the speed-up.
Writes ``render.json`` and ``render.md`` (atomically) into ``--out`` and prints the table.

    python -m talkinghead_edu.bench render --n 30000 --sizes 256 512 --threads 1 2 --runs 7
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import resource
import statistics
import time
from pathlib import Path

import torch

from ..render import render
from ..render.scenes import head_camera, head_scene
from ..utils.args import ArgumentParser, non_negative_int, positive_int
from ._report import write_report


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


STAGES = ("projection", "sh", "binning", "sort", "composite", "backward")


def _time(fn, runs: int) -> tuple[float, float, dict[str, float]]:
    """Median wall-clock and process CPU seconds of ``fn`` over ``runs`` runs after a warm-up, and the
    median wall seconds of each stage of the fast backend (:func:`talkinghead_edu.render.fast.profile_stages`)."""
    from ..render.fast import profile_stages

    fn()  # warm-up (and JIT)
    wall, cpu, stages = [], [], []
    for _ in range(runs):
        with profile_stages() as seconds:
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            fn()
            wall.append(time.perf_counter() - start_wall)
            cpu.append(time.process_time() - start_cpu)
        stages.append(seconds["wall"])
    names = {name for sample in stages for name in sample}
    return (
        statistics.median(wall),
        statistics.median(cpu),
        {name: statistics.median(sample.get(name, 0.0) for sample in stages) for name in names},
    )


def measure(backend: str, n: int, size: int, runs: int, seed: int = 0, threads: int | None = None) -> dict:
    """Median forward and forward+backward seconds (wall and CPU) of one backend on the head scene.

    ``threads`` sets numba's and torch's thread counts (default: leave them). ``stages_s`` holds
    the median wall seconds per stage of the forward+backward runs (fast backend; ``backward`` is
    the whole ``loss.backward()``). ``peak_rss_growth_mb`` is the growth of the process's peak
    resident memory over its value after the scene was built and the kernels loaded —
    meaningful when each measurement runs in a fresh process (``main`` does that).
    """
    from ..render import fast

    if threads is not None:
        torch.set_num_threads(threads)
        fast.numba.set_num_threads(threads)
    fast.available()  # load (or compile) the kernels before the memory baseline
    gaussians = head_scene(n, sh_degree=3, generator=torch.Generator().manual_seed(seed)).requires_grad_()
    camera = head_camera(size, size)
    weights = torch.rand(size, size, 3, generator=torch.Generator().manual_seed(seed + 1))

    def forward():
        with torch.no_grad():
            return render(gaussians, camera, backend=backend, bg=1.0)

    def forward_backward():
        out = render(gaussians, camera, backend=backend, bg=1.0)
        with fast.stage("backward"):
            (out.image * weights).sum().backward()
        for tensor in gaussians.parameters():
            tensor.grad = None

    rss_before = _peak_rss_mb()
    result = {"backend": backend, "n": n, "size": size, "threads": fast.numba.get_num_threads()}
    result["forward_s"], result["forward_cpu_s"], _ = _time(forward, runs)
    result["forward_backward_s"], result["forward_backward_cpu_s"], stages = _time(forward_backward, runs)
    result["stages_s"] = stages if backend == "fast" else {}
    result["peak_rss_growth_mb"] = max(0.0, _peak_rss_mb() - rss_before)
    result["visible"] = int(render(gaussians, camera, backend="fast").visible.sum())
    return result


def to_markdown(rows: list[dict], header: str) -> str:
    """The table: one row per measurement, the fast backend's stages (ms, wall) in their own columns."""
    lines = [
        header,
        "",
        "| N | image | backend | threads | forward ms (CPU ms) | forward+backward ms (CPU ms) | "
        + " | ".join(STAGES)
        + " | fwd+bwd speed-up vs reference, wall (CPU) | peak RSS growth (MB) |",
        "|---:|---:|---|---:|---:|---:|" + "---:|" * len(STAGES) + "---:|---:|",
    ]
    reference = {(r["n"], r["size"]): r for r in rows if r["backend"] == "reference"}
    for r in rows:
        ref = reference.get((r["n"], r["size"]))
        speedup = ""
        if ref and r["backend"] != "reference":
            speedup = (
                f"{ref['forward_backward_s'] / r['forward_backward_s']:.0f}× "
                f"({ref['forward_backward_cpu_s'] / r['forward_backward_cpu_s']:.0f}×)"
            )
        stages = r.get("stages_s") or {}
        stage_cells = " | ".join(f"{1e3 * stages[name]:.1f}" if name in stages else "–" for name in STAGES)
        lines.append(
            f"| {r['n']} | {r['size']}² | {r['backend']} | {r.get('threads', '')} | "
            f"{1e3 * r['forward_s']:.1f} ({1e3 * r['forward_cpu_s']:.1f}) | "
            f"{1e3 * r['forward_backward_s']:.1f} ({1e3 * r['forward_backward_cpu_s']:.1f}) | {stage_cells} | "
            f"{speedup} | {r['peak_rss_growth_mb']:.0f} |"
        )
    scaling = thread_scaling(rows)
    if scaling:
        lines += [
            "",
            "Thread scaling of the fast backend, forward+backward (wall time, 1 thread ÷ k threads): "
            + "; ".join(f"N={n} {size}²: {k} threads {ratio:.2f}×" for (n, size, k), ratio in scaling.items()),
        ]
    return "\n".join(lines) + "\n"


def thread_scaling(rows: list[dict]) -> dict[tuple[int, int, int], float]:
    """``{(n, size, k): fwd+bwd wall with 1 thread ÷ with k threads}`` for the fast rows measured at several counts."""
    single = {(r["n"], r["size"]): r for r in rows if r["backend"] == "fast" and r.get("threads") == 1}
    return {
        (r["n"], r["size"], r["threads"]): single[(r["n"], r["size"])]["forward_backward_s"] / r["forward_backward_s"]
        for r in rows
        if r["backend"] == "fast" and r.get("threads", 1) > 1 and (r["n"], r["size"]) in single
    }


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m talkinghead_edu.bench render", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--out", type=Path, default=Path("bench_results"), help="output folder (default bench_results/)"
    )
    parser.add_argument("--runs", type=positive_int, default=5, help="timed runs per measurement (median reported)")
    parser.add_argument("--n", type=positive_int, nargs="+", default=[10_000, 30_000, 100_000], help="Gaussian counts")
    parser.add_argument("--sizes", type=positive_int, nargs="+", default=[256, 512], help="image sizes (square)")
    parser.add_argument("--backends", nargs="+", default=["fast", "reference"], choices=["fast", "reference"])
    parser.add_argument(
        "--reference-max-n",
        type=non_negative_int,
        default=30_000,
        help="skip the (slow) reference above this N (default 30000)",
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        nargs="+",
        default=[None],
        help="numba/torch thread counts for the fast backend, e.g. 1 2 (default: numba's choice)",
    )
    args = parser.parse_args(argv)

    rows = []
    for size in args.sizes:
        for n in args.n:
            for backend in args.backends:
                if backend == "reference" and n > args.reference_max_n:
                    continue
                runs = args.runs if backend == "fast" else max(1, min(args.runs, 3))
                for threads in args.threads if backend == "fast" else [None]:
                    with multiprocessing.get_context("spawn").Pool(1) as pool:  # fresh process: honest peak memory
                        rows.append(pool.apply(measure, (backend, n, size, runs, 0, threads)))
                    print(
                        f"{backend:9s} N={n:6d} {size}² threads {rows[-1]['threads']}: forward "
                        f"{1e3 * rows[-1]['forward_s']:8.1f} ms, "
                        f"forward+backward {1e3 * rows[-1]['forward_backward_s']:8.1f} ms",
                        flush=True,
                    )
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    import numba

    info = {
        "torch_threads": torch.get_num_threads(),
        "numba_threads": numba.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numba": numba.__version__,
        "load_average_1_5_15": load,
        "runs": args.runs,
        "reference_runs": max(1, min(args.runs, 3)),
        "time_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    }
    header = (
        f"Rasterizer benchmark ({info['time_utc']} UTC, {info['cpu_count']} CPUs, torch threads "
        f"{info['torch_threads']}, numba threads {info['numba_threads']}, load average {load}); "
        f"median of {args.runs} runs (reference: {info['reference_runs']}) after one warm-up. "
        "CPU ms = process CPU time (all threads), the fairer number on a shared machine. Each row runs in a fresh "
        "process; peak RSS growth = its peak resident memory minus the value after building the scene."
    )
    table = to_markdown(rows, header)
    write_report(args.out, "render", {"info": info, "rows": rows}, table)
    print(table)
    return 0
