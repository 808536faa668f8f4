"""Benchmark: the fast backend's compositing kernel against plain C.

``python -m talkinghead_edu.bench composite_c [--n 30000] [--sizes 256 512] [--runs 9]``

Is numba the reason the CPU rasterizer is not faster? This builds ``assets/composite.c`` with two
C functions — ``composite_forward``, the forward compositing of
:func:`talkinghead_edu.render.fast._forward_kernel` statement by statement, and
``composite_textbook``, the straightforward port of the 3DGS tile kernel (float throughout, one
``expf`` per pixel, same tiles and intervals) — with the machine's compiler (``$CC`` or ``cc``; ``-O3 -march=native``,
``-ffp-contract=off`` so that both do the same float operations and produce the same image),
bins the head scene of ``bench render`` once, and times all three on the same tile lists, one
thread each, alternating runs (process CPU time, median). It writes ``composite_c.json`` and
``composite_c.md`` (atomically) into ``--out``. The renderer never uses the C code; nothing
is downloaded, and without a compiler the benchmark says so and stops.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ..paths import cache_dir
from ..render import fast
from ..render.fast_projection import project_gaussians_fast
from ..render.fast_sh import sh_to_rgb_fast
from ..render.projection import TILE_SIZE
from ..render.scenes import head_camera, head_scene
from ..utils.args import ArgumentParser, positive_int
from ._report import write_report

SOURCE = Path(__file__).parent / "assets" / "composite.c"
FLAGS = ("-O3", "-march=native", "-ffp-contract=off", "-shared", "-fPIC")


def build(compiler: str | None = None) -> Path:
    """Compile :data:`SOURCE` into the cache (once per source, flags and compiler) and return the library path.

    Raises:
        RuntimeError: no C compiler found, or the compilation failed (its message included).
    """
    compiler = compiler or os.environ.get("CC") or "cc"
    found = shutil.which(compiler)
    if found is None:
        raise RuntimeError(f"composite_c: no C compiler '{compiler}' on PATH (set $CC or pass --cc)")
    key = hashlib.sha256(SOURCE.read_bytes() + " ".join((found, *FLAGS)).encode()).hexdigest()[:12]
    library = cache_dir() / "bench" / f"composite_{key}.so"
    if library.is_file():
        return library
    library.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=library.parent) as work:
        built = Path(work) / library.name
        result = subprocess.run([found, *FLAGS, "-o", str(built), str(SOURCE), "-lm"], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"composite_c: '{found}' failed to compile {SOURCE.name}:\n{result.stderr.strip()}")
        os.replace(built, library)  # atomic: a half-written library is never loaded
    return library


C_FUNCTIONS = ("composite_forward", "composite_textbook")


def load(library: Path, name: str = "composite_forward"):
    """The C function ``name`` (one of :data:`C_FUNCTIONS`) of a built library, with its argument types declared."""
    if name not in C_FUNCTIONS:
        raise ValueError(f"composite_c: no C function '{name}'; expected one of {C_FUNCTIONS}")
    function = getattr(ctypes.CDLL(str(library)), name)
    pointer, integer = ctypes.c_void_p, ctypes.c_int
    # splats, channels, n_channels, tile_offsets, ids, n_tiles, tiles_x, width, height, out_color, out_T, out_last
    function.argtypes = [pointer, pointer, integer, pointer, pointer] + [integer] * 4 + [pointer] * 3
    function.restype = integer
    return function


def composite_c(function, splats, channels, tile_offsets, gaussian_ids, width: int, height: int):
    """Run the C compositing: ``(color (H, W, C) float32, final T (H, W) float32, last (H, W) int32)``.

    Inputs as the numba kernel takes them: ``splats`` (N, 8) float32 records and the tile lists of
    :func:`talkinghead_edu.render.fast.bin_gaussians_fast`, ``channels`` (N, C) float32 C-contiguous.
    """
    color = np.empty((height, width, channels.shape[1]), np.float32)
    final_t = np.empty((height, width), np.float32)
    last = np.empty((height, width), np.int32)
    arrays = (splats, channels, tile_offsets, gaussian_ids)
    if any(not array.flags.c_contiguous for array in arrays):
        raise ValueError("composite_c: splats, channels and the tile lists must be C-contiguous numpy arrays")
    tiles_x = (width + TILE_SIZE - 1) // TILE_SIZE
    status = function(
        *(array.ctypes.data for array in arrays[:2]),
        channels.shape[1],
        *(array.ctypes.data for array in arrays[2:]),
        tile_offsets.shape[0] - 1,
        tiles_x,
        width,
        height,
        color.ctypes.data,
        final_t.ctypes.data,
        last.ctypes.data,
    )
    if status != 0:
        raise ValueError(f"composite_c: {channels.shape[1]} channels is more than the C code's 64")
    return color, final_t, last


def composite_numba(splats, channels, tile_offsets, gaussian_ids, width: int, height: int):
    """The numba kernel on the same inputs and thread count's tile deal (same outputs as :func:`composite_c`)."""
    color = np.empty((height, width, channels.shape[1]), np.float32)
    final_t = np.empty((height, width), np.float32)
    last = np.empty((height, width), np.int32)
    worker_offsets, worker_tiles = fast._deal_tiles(tile_offsets, fast.numba.get_num_threads())
    tiles_x = (width + TILE_SIZE - 1) // TILE_SIZE
    fast._forward_kernel(
        splats, channels, tile_offsets, gaussian_ids, worker_offsets, worker_tiles, tiles_x, color, final_t, last
    )
    return color, final_t, last


def scene_bins(n: int, size: int, seed: int = 0):
    """The head scene of ``bench render`` projected and binned once: ``(splats, channels, tile_offsets, ids)``.

    ``channels`` (N, 4): RGB from the SH colours and the depth, as :func:`talkinghead_edu.render.render` composites.
    """
    gaussians = head_scene(n, sh_degree=3, generator=torch.Generator().manual_seed(seed))
    camera = head_camera(size, size)
    with torch.no_grad():
        opacities = torch.sigmoid(gaussians.opacity_logits)
        projection = project_gaussians_fast(gaussians.means, gaussians.quats, gaussians.scales, opacities, camera, 0.3)
        rgb = sh_to_rgb_fast(gaussians.colors, gaussians.means, camera.center)
    channels = torch.cat([rgb, projection.depths[:, None]], dim=1).float().contiguous().numpy()
    tile_offsets, gaussian_ids, splats = fast.bin_gaussians_fast(
        projection.means2d.float().numpy(),
        projection.conics.float().numpy(),
        opacities.float().numpy(),
        projection.radii.to(torch.int32).numpy(),
        projection.depths.numpy(),
        size,
        size,
    )
    return splats, channels, tile_offsets, gaussian_ids


def measure(functions: dict, n: int, size: int, runs: int, seed: int = 0) -> dict:
    """Median CPU ms of the numba kernel (one thread) and of each C function on the same bins, runs alternating.

    ``functions`` maps a name to a loaded C function; each gets ``<name>_ms``, ``numba_over_<name>``, its
    largest image difference from numba and the share of pixels with the same last contributor.
    """
    inputs = (*scene_bins(n, size, seed), size, size)
    runners = {"numba": lambda: composite_numba(*inputs)}
    runners.update({name: (lambda f=function: composite_c(f, *inputs)) for name, function in functions.items()})
    outputs = {name: run() for name, run in runners.items()}  # warm-up, and the check
    seconds = {name: [] for name in runners}
    for _ in range(runs):
        for name, run in runners.items():
            start = time.process_time()
            run()
            seconds[name].append(time.process_time() - start)
    row = {"n": n, "size": size, "list_entries": int(inputs[3].shape[0])}
    row["numba_ms"] = 1e3 * statistics.median(seconds["numba"])
    for name in functions:
        row[f"{name}_ms"] = 1e3 * statistics.median(seconds[name])
        row[f"numba_over_{name}"] = row["numba_ms"] / row[f"{name}_ms"]
        row[f"{name}_max_abs_image_difference"] = float(np.abs(outputs["numba"][0] - outputs[name][0]).max())
        row[f"{name}_same_last_contributor"] = float((outputs["numba"][2] == outputs[name][2]).mean())
    return row


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m talkinghead_edu.bench composite_c", description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=positive_int, nargs="+", default=[30_000], help="Gaussian counts")
    parser.add_argument("--sizes", type=positive_int, nargs="+", default=[256, 512], help="image sizes (square)")
    parser.add_argument("--runs", type=positive_int, default=9, help="timed runs of each (median reported)")
    parser.add_argument("--cc", default=None, help="C compiler (default: $CC, else cc)")
    parser.add_argument("--out", type=Path, default=Path("bench_results"), help="output folder")
    args = parser.parse_args(argv)
    if not fast.available():
        raise RuntimeError("composite_c: the numba kernels are unavailable, nothing to compare")
    library = build(args.cc)
    functions = {"c": load(library, "composite_forward"), "textbook": load(library, "composite_textbook")}
    fast.numba.set_num_threads(1)  # the C code runs on one thread
    rows = [measure(functions, n, size, args.runs) for size in args.sizes for n in args.n]
    info = {
        "time_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "compiler": shutil.which(args.cc or os.environ.get("CC") or "cc"),
        "flags": list(FLAGS),
        "load_average_1_5_15": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "machine": platform.processor() or platform.machine(),
        "numba": fast.numba.__version__,
    }
    lines = [
        f"Forward compositing, numba vs C ({info['time_utc']} UTC, one thread each, "
        f"{info['compiler']} {' '.join(FLAGS[:3])}, load average {info['load_average_1_5_15']}); "
        f"median CPU ms of {args.runs} alternating runs on the same tile lists. C twin: the numba kernel's "
        "algorithm statement by statement; C textbook: float throughout, one expf per pixel.",
        "",
        "| N | image | splat-tile pairs | numba ms | C twin ms | numba ÷ C twin | C textbook ms | numba ÷ C textbook "
        "| max image difference (twin / textbook) | same last contributor (twin / textbook) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['n']} | {r['size']}² | {r['list_entries']} | {r['numba_ms']:.1f} | {r['c_ms']:.1f} | "
        f"{r['numba_over_c']:.2f} | {r['textbook_ms']:.1f} | {r['numba_over_textbook']:.2f} | "
        f"{r['c_max_abs_image_difference']:.1e} / {r['textbook_max_abs_image_difference']:.1e} | "
        f"{100 * r['c_same_last_contributor']:.2f} / {100 * r['textbook_same_last_contributor']:.2f} % |"
        for r in rows
    ]
    table = "\n".join(lines) + "\n"
    write_report(args.out, "composite_c", {"info": info, "rows": rows}, table)
    print(table)
    return 0
