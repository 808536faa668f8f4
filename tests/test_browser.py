"""Every widget of the notebooks draws and redraws in a real JupyterLab, in Chromium.

What a student does, automated: JupyterLab is started on a free port of 127.0.0.1 with a token
and a temporary root folder holding copies of the notebooks with their smoke parameters injected
(so autosave never writes into ``notebooks/``); Debian's Chromium (``/usr/bin/chromium``, driven
by playwright; no browser is downloaded) opens each notebook, runs all cells and waits for the
kernel to be idle (no cell may run longer than the notebook's per-cell timeout, as under papermill).
Then, for every widget (a displayed widget with a slider, a dropdown or a button):

* its output holds a rendered figure (a ``.js-plotly-plot`` with data, or an image);
* its first slider is dragged with the mouse (a widget without a slider gets the next option of
  its first dropdown) and the figure's *data* must change (plotly's ``el.data`` or the image
  source; a screenshot alone would change with the slider);
* a widget with a button and no slider (notebook 08's speaker) is clicked and must show a
  ``<video>`` that has loaded (first frame decoded, a duration);
* no cell has an error output and the page shows no "Error displaying widget" and no
  "Loading widget..." that stays.

A screenshot of each widget before and after its change is saved to a temporary folder; the paths and the
update latencies (mouse release -> the figure of the released value in the page; click -> playable video)
are printed (``pytest -s``), with each notebook's run time, kernel CPU time and slowest cell.
Skipped, with the reason, only when Chromium or playwright is missing.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook

CHROMIUM = Path("/usr/bin/chromium")
NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
# Interactive widgets each notebook shows (update when a notebook gains or loses one).
EXPECTED_WIDGETS = {
    "00_tour.ipynb": 1,
    "01_audio_features.ipynb": 1,
    "02_contrastive_decoupling.ipynb": 1,
    "03_flame_deformation.ipynb": 1,
    "04_motion_translator.ipynb": 2,
    "05_gaussian_binding.ipynb": 2,
    "06_rasterization.ipynb": 3,
    "07_losses_and_training.ipynb": 1,
    "08_speak.ipynb": 1,  # a button widget: pressing it must show a playable <video>
}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# JupyterLab user settings for the test: no autosave, every cell kept in the DOM, no news/update checks.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none", "recordTiming": True},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
}
# A laptop screen. Chromium (no GPU) rasterises and composites the page in software, plotly's 3D scenes included:
# 1400 x 1600 spent about twice the kernel's CPU time on that (notebook 03: 60 s vs 24 s), 1280 x 800 half as much.
VIEWPORT = {"width": 1280, "height": 800}
WIDGET_OUTPUT = ".jp-OutputArea-output:has(> .jupyter-widgets)"  # a displayed widget's root view
CONTROLS = ".widget-slider, .widget-dropdown, .widget-button"

# The notebook's state in the page: kernel status and, per code cell, whether it ran, its error outputs and
# its run time (JupyterLab's recordTiming metadata).
_NOTEBOOK_STATE = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    const cells = panel.content.widgets.filter(c => c.model.type === 'code');
    const times = cells.map(c => c.model.getMetadata('execution') || {});
    const seconds = times.map(t => t['shell.execute_reply'] && t['iopub.execute_input']
        ? (Date.parse(t['shell.execute_reply']) - Date.parse(t['iopub.execute_input'])) / 1000 : 0);
    const running = times.findIndex(t => t['iopub.execute_input'] && !t['shell.execute_reply']);
    return {kernel: kernel ? kernel.status : 'none',
            pending: cells.filter(c => c.model.executionCount === null).length,
            errors: cells.flatMap(c => Array.from({length: c.model.outputs.length}, (_, i) => c.model.outputs.get(i))
                                  .filter(o => o.type === 'error')  // only errors are serialised, not every figure
                                  .map(o => { const e = o.toJSON(); return `${e.ename}: ${e.evalue}`; })),
            slowest: [Math.max(0, ...seconds), seconds.indexOf(Math.max(...seconds))],
            running: running < 0 ? [0, -1]
                : [(Date.now() - Date.parse(times[running]['iopub.execute_input'])) / 1000, running]};
}"""
# CPU seconds (user + system) the notebook's kernel has used: its run time on a quiet machine, whatever the load.
_KERNEL_CPU = """async () => {
    const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
    const code = "import resource as _resource; print(sum(_resource.getrusage(_resource.RUSAGE_SELF)[:2]))";
    const future = kernel.requestExecute({code, silent: false, store_history: false});
    let text = '';
    future.onIOPub = msg => { if (msg.header.msg_type === 'stream') text += msg.content.text; };
    await future.done;
    return parseFloat(text);
}"""
# A digest of what a widget's figure shows: plotly's trace data, or the image sources. A plot's digest is
# cached on its data array (plotly replaces the array on every new plot), so polling does not keep the
# page's main thread busy serialising a 3D mesh while plotly is trying to draw the next one.
_FIGURE_DIGEST = """(output) => {
    const hash = text => {
        let h = 0;
        for (let i = 0; i < text.length; i++) h = (Math.imul(h, 31) + text.charCodeAt(i)) | 0;
        return `${text.length}:${h}`;
    };
    const plot = output.querySelector('.js-plotly-plot');
    if (plot && plot.data && plot.data.length) {
        window.__figureDigests = window.__figureDigests || new WeakMap();
        if (!window.__figureDigests.has(plot.data)) {
            const text = JSON.stringify(plot.data, (k, v) => ArrayBuffer.isView(v) ? Array.from(v) : v);
            window.__figureDigests.set(plot.data, hash(text));
        }
        return window.__figureDigests.get(plot.data);
    }
    const images = [...output.querySelectorAll('img')].map(img => img.src);
    const canvases = [...output.querySelectorAll('canvas')].map(c => c.width > 0 && c.height > 0 ? c.toDataURL() : '');
    const text = images.concat(canvases).join('|');
    return text ? hash(text) : null;
}"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _smoke_copies(root: Path) -> list[Path]:
    """Copies of the notebooks with widgets, their smoke parameters injected (not executed)."""
    copies = []
    for name in EXPECTED_WIDGETS:
        notebook = load_notebook_node(str(NOTEBOOK_DIR / name))
        smoke = notebook.metadata.get("talkinghead_edu", {}).get("smoke_parameters", {})
        notebook = parameterize_notebook(notebook, smoke, report_mode=False)
        nbformat.write(notebook, root / name)
        copies.append(root / name)
    return copies


def _start_lab(root: Path, home: Path) -> tuple[subprocess.Popen, str, str]:
    """JupyterLab serving ``root`` with its own settings/runtime folders; returns (process, base URL, token)."""
    settings = home / "lab-settings"
    for relative, values in LAB_SETTINGS.items():
        path = settings / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(NOTEBOOK_DIR.parent), os.environ.get("PYTHONPATH")])),
    )
    port, token = _free_port(), secrets.token_hex(16)
    log = open(home / "jupyterlab.log", "w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.extension_manager=readonly",
            "--ServerApp.terminals_enabled=False",
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {process.returncode}; see {home / 'jupyterlab.log'}")
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                return process, base, token
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"JupyterLab did not answer on {base} within 120 s; see {home / 'jupyterlab.log'}")


def _stop(process: subprocess.Popen) -> None:
    """Stop a process we started, and its process group (the kernels), by PID."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _leftover_pids(marker: str) -> list[int]:
    """PIDs of processes whose command line contains ``marker`` (our unique profile folder)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _drag_first_control(page, output) -> tuple[str, float]:
    """Drag the widget's first slider with the mouse (else pick the next option of its first dropdown).

    Returns (the moved control's label, time.perf_counter() at the mouse release or the selection)."""
    sliders = output.locator(".widget-slider")
    if sliders.count():
        slider = sliders.first
        handle, track = slider.locator(".noUi-handle").first, slider.locator(".noUi-target").first
        handle.scroll_into_view_if_needed()
        hbox, tbox = handle.bounding_box(), track.bounding_box()
        x0, y = hbox["x"] + hbox["width"] / 2, hbox["y"] + hbox["height"] / 2
        x1 = (
            x0 + 0.3 * tbox["width"]
            if x0 + 0.3 * tbox["width"] < tbox["x"] + tbox["width"]
            else x0 - 0.3 * tbox["width"]
        )
        label = slider.locator(".widget-label").first.inner_text()
        page.mouse.move(x0, y)
        page.mouse.down()
        page.mouse.move(x1, y, steps=8)
        page.mouse.up()
        return label, time.perf_counter()
    select = output.locator(".widget-dropdown select").first
    select.scroll_into_view_if_needed()
    options = select.locator("option").all_inner_texts()
    current = select.evaluate("s => s.selectedIndex")
    label = output.locator(".widget-dropdown .widget-label").first.inner_text()
    select.select_option(index=(current + 1) % len(options))
    return label, time.perf_counter()


def _settled_change(page, handle, before: str | None, since: float, settle_s: float = 1.5) -> float:
    """Seconds from ``since`` until the figure last changed, once its data differs from ``before`` and then
    stays the same for ``settle_s`` (a slider that updates while dragged may redraw before the release
    and again after it: what counts is the figure of the released value). 0 when it settled before ``since``."""
    deadline = time.perf_counter() + 60
    digest, changed = before, since
    while time.perf_counter() < deadline:
        now = page.evaluate(_FIGURE_DIGEST, handle)
        if now != digest:
            digest, changed = now, time.perf_counter()
        if digest is not None and digest != before and time.perf_counter() - changed >= settle_s:
            return changed - since
        page.wait_for_timeout(100)
    raise AssertionError("the figure's data did not change within 60 s of the control moving")


def _check_widget(page, output, name: str, index: int, shots: Path) -> tuple:
    """Figure drawn, first control moved, figure data changed.

    Returns (notebook, index, control, latency s, screenshot)."""
    handle = output.element_handle()
    output.scroll_into_view_if_needed()
    page.wait_for_function(f"(o) => ({_FIGURE_DIGEST})(o) !== null", arg=handle, timeout=60_000)
    before = page.evaluate(_FIGURE_DIGEST, handle)
    output.screenshot(path=str(shots / f"{Path(name).stem}_widget{index}_before.png"))
    moved, released = _drag_first_control(page, output)
    latency = _settled_change(page, handle, before, released)
    assert "Traceback" not in output.inner_text(), f"{name} widget {index}: traceback in its output"
    shot = shots / f"{Path(name).stem}_widget{index}.png"
    output.screenshot(path=str(shot))
    return name, index, moved.strip(), latency, shot


def _check_button_widget(page, output, name: str, index: int, shots: Path, timeout_s: float) -> tuple:
    """A widget with a button (notebook 08's speaker): pressing it shows a ``<video>`` that has loaded its
    first frame (``readyState >= 2``) and has a duration, and no error line.

    Returns (notebook, index, button, seconds from the click to the playable video, screenshot)."""
    output.scroll_into_view_if_needed()
    output.screenshot(path=str(shots / f"{Path(name).stem}_widget{index}_before.png"))
    button = output.locator(".widget-button").first
    label = button.inner_text()
    button.click()
    clicked = time.perf_counter()
    video = output.locator("video").first
    video.wait_for(state="attached", timeout=timeout_s * 1000)
    page.wait_for_function(
        "(v) => v.readyState >= 2 && v.duration > 0", arg=video.element_handle(), timeout=60_000, polling=100
    )
    seconds = time.perf_counter() - clicked
    text = output.inner_text()
    assert "Traceback" not in text and "error:" not in text, f"{name} widget {index}: {text[-500:]}"
    shot = shots / f"{Path(name).stem}_widget{index}.png"
    output.screenshot(path=str(shot))
    return name, index, label.strip(), seconds, shot


def _check_notebook(page, base: str, token: str, name: str, shots: Path, report: list) -> None:
    page.goto(
        f"{base}/lab/workspaces/{Path(name).stem}/tree/{name}?token={token}"
    )  # a fresh workspace: only this notebook
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell.currentWidget "
        "&& window.jupyterapp.shell.currentWidget.sessionContext",
        timeout=120_000,
    )
    page.wait_for_function(
        "async () => { await window.jupyterapp.shell.currentWidget.sessionContext.ready; "
        "const s = window.jupyterapp.shell.currentWidget.sessionContext.session; "
        "return s && s.kernel && s.kernel.status === 'idle'; }",
        timeout=120_000,
        polling=500,
    )
    started = time.perf_counter()
    # not awaited (its promise settles when every cell has run): the loop below enforces the per-cell timeout
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    # papermill's rule: no cell may run longer than the notebook's per-cell timeout (the whole run has no limit).
    timeout_s = json.loads((NOTEBOOK_DIR / name).read_text())["metadata"].get("talkinghead_edu", {}).get("timeout", 300)
    while True:
        state = page.evaluate(_NOTEBOOK_STATE)
        if state["errors"] or (state["pending"] == 0 and state["kernel"] == "idle"):
            break
        running_s, running_cell = state["running"]
        assert running_s < timeout_s, (
            f"{name}: code cell #{running_cell} still runs after {running_s:.0f} s > its timeout {timeout_s} s"
        )
        page.wait_for_timeout(1000)
    state = page.evaluate(_NOTEBOOK_STATE)
    assert not state["errors"], f"{name}: cells failed: {state['errors']}"
    run_s = time.perf_counter() - started
    outputs = page.locator(WIDGET_OUTPUT).filter(has=page.locator(CONTROLS))
    page.wait_for_function("() => !document.body.innerText.includes('Loading widget')", timeout=60_000)
    body = page.locator("body").inner_text()
    assert "Error displaying widget" not in body, f"{name}: 'Error displaying widget' in the page"
    assert outputs.count() == EXPECTED_WIDGETS[name], (
        f"{name}: {outputs.count()} widgets shown, expected {EXPECTED_WIDGETS[name]}"
    )
    for index in range(outputs.count()):
        output = outputs.nth(index)
        try:
            if output.locator(".widget-slider").count() == 0 and output.locator(".widget-button").count():
                report.append(_check_button_widget(page, output, name, index, shots, timeout_s))
            else:
                report.append(_check_widget(page, output, name, index, shots))
        except Exception:
            output.screenshot(path=str(shots / f"{Path(name).stem}_widget{index}_FAILED.png"))
            raise
    slowest_s, slowest_cell = state["slowest"]
    cpu_s = page.evaluate(_KERNEL_CPU)
    report.append(
        (name, "run all", f"kernel CPU {cpu_s:.0f} s, slowest code cell #{slowest_cell} {slowest_s:.1f} s", run_s, None)
    )


def browser_unavailable() -> str | None:
    """Why this test cannot run here (``None`` when Chromium and playwright are both present)."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is missing (pip install playwright; it is in the 'test' extra)"
    return None


@pytest.fixture(scope="module")
def browser_lab(tmp_path_factory):
    """(page factory, base URL, token, screenshot folder): JupyterLab on smoke copies and a Chromium context."""
    if reason := browser_unavailable():
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    root, home = tmp_path_factory.mktemp("notebooks"), tmp_path_factory.mktemp("home")
    shots = Path(tempfile.mkdtemp(prefix="talkinghead_edu_widgets_"))
    _smoke_copies(root)
    profile = home / "chromium-profile"
    originals = {path.name: path.stat().st_mtime_ns for path in NOTEBOOK_DIR.iterdir()}
    lab, base, token = _start_lab(root, home)
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                str(profile),
                executable_path=str(CHROMIUM),
                headless=True,
                args=CHROMIUM_ARGS,
                viewport=VIEWPORT,
            )
            try:
                yield context, base, token, shots
            finally:
                context.close()
    finally:
        _stop(lab)
        for pid in _leftover_pids(str(profile)):
            os.kill(pid, signal.SIGKILL)
    assert {path.name: path.stat().st_mtime_ns for path in NOTEBOOK_DIR.iterdir()} == originals, (
        "notebooks/ was written to"
    )


@pytest.mark.notebook
@pytest.mark.parametrize("name", list(EXPECTED_WIDGETS))
def test_every_widget_draws_and_redraws_in_jupyterlab(browser_lab, name: str):
    context, base, token, shots = browser_lab
    page = context.new_page()
    report: list = []
    try:
        _check_notebook(page, base, token, name, shots, report)
    except Exception:
        page.screenshot(path=str(shots / f"{Path(name).stem}_page_FAILED.png"))
        raise
    finally:
        page.evaluate(
            "() => { const w = window.jupyterapp.shell.currentWidget; return w && w.sessionContext.shutdown(); }"
        )
        page.close()  # without the "leave the page?" prompt of the unsaved notebook
    for notebook, index, moved, seconds, shot in report:
        print(
            f"\nBROWSER-NOTEBOOK {notebook} run all: {seconds:.1f} s, {moved}"
            if shot is None
            else f"\nBROWSER-WIDGET {notebook} #{index} [{moved}] updated {seconds:.2f} s after the release/click; "
            f"screenshot {shot}",
            end="",
        )
