"""The whole system at inference (paper Figure 2): any audio -> a talking-head video with sound.

    audio ─ load/resample ─ E_uni (eq 1, windowed) ─ E_id(p) + · ─ D_m (eq 4) ─ FLAME (eq 10)
          ─ Gaussians bound to the triangles + speaker-specific blendshapes (eqs 11–18)
          ─ rasterization (eq 9) ─ I = (1 − M) I_ori + M F(I_gau + (1 − M) I_ori) (eq 19)

:class:`TalkingHead` holds one shipped head (``datasets_small/checkpoints/head_<speaker>.safetensors``,
written by ``talkinghead-edu train-head``), the motion translator and the target video that
supplies the background/torso ``I_ori``, the face mask ``M``, the camera and the head pose.
:meth:`TalkingHead.speak` returns a :class:`Speech`: the motion is computed at once (small:
``(T, P)``), the frames are rendered lazily one at a time as you iterate (memory does not
grow with the duration), and the seconds spent in every stage are accumulated.

Head pose (``pose=``): ``"track"`` loops the target video's tracked head pose over its
training frames forwards then backwards (a ping-pong loop: consecutive frames are always
neighbours in the video, so there is no jump), together with the matching original frames
as background; ``"still"`` keeps the first training frame's pose and background.
The translator drives the jaw and the expression; the global and neck rotations and the
translation come from the pose track (the torso in ``I_ori`` moves with them).

Two test-time ablation switches (paper Table 1's rows; the paper retrains without the part,
here the same trained head is run with the part switched off):

* ``blendshapes=False`` — the Gaussians follow the FLAME triangles (eqs 11–15) but the
  speaker-specific blendshape offsets of eqs 16–18 (``ū + BS(γ; W_pos)``, ``r̄ · BS(γ; W_rot)``,
  ``κ0 + BS(γ; W_color)``) are not added; identical to zeroing ``W_pos``, ``W_rot``, ``W_color``.
* ``inpaint=False`` — eq 19 with ``F`` replaced by the identity:
  ``I = (1 − M) I_ori + M (I_gau + (1 − M) I_ori) = M I_gau + (1 − M) I_ori`` (``M`` binary),
  the render (premultiplied, on black) pasted over the original frame inside the face mask;
  wherever the render does not cover the mask the pixel stays dark.

Example:
    >>> head = TalkingHead.load("speaker_a", style="speaker_a")
    >>> speech = head.speak("hello.wav")
    >>> speech.write_mp4("hello.mp4")          # H.264 + AAC, 25 fps, the input audio muxed in
    >>> print(speech.summary())
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch import nn

from .audio.io import load_audio, prepare_waveform, resample
from .conventions import FPS, SAMPLE_RATE
from .data.video_dataset import load_video_dataset
from .flame.model import load_head_model
from .gaussians.model import GaussianHead, psi_from_flame
from .inpaint import InpaintingUNet, blend
from .motion.train import load_translator
from .paths import dataset_root
from .render import Camera, render
from .utils.io import atomic_writer, load_checkpoint

__all__ = [
    "STAGES",
    "TalkingHead",
    "Speech",
    "available_heads",
    "load_shipped_head",
    "ping_pong",
    "read_audio",
    "write_mp4",
]

#: the stages timed by :class:`Speech` (in pipeline order)
STAGES = ("audio encoder", "translator", "FLAME", "Gaussians+blendshapes", "rasterization", "inpainting blend")

_JAW = slice(6, 9)  # the jaw's axis-angle inside FLAME's (15,) pose vector
MP4_AUDIO_RATE = 48_000  # AAC's usual rate; its 1024-sample priming is 21 ms (< one 40 ms frame)


def available_heads(folder: str | Path | None = None) -> list[str]:
    """Names of the shipped heads (``head_<name>.safetensors`` in ``datasets_small/checkpoints``)."""
    folder = Path(folder) if folder is not None else dataset_root() / "checkpoints"
    return sorted(p.stem.removeprefix("head_") for p in folder.glob("head_*.safetensors"))


def _head_path(head: str | os.PathLike) -> Path:
    path = Path(head)
    if path.suffix == ".safetensors":
        if not path.is_file():
            raise FileNotFoundError(f"head checkpoint {path} does not exist")
        return path
    path = dataset_root() / "checkpoints" / f"head_{head}.safetensors"
    if not path.is_file():
        known = ", ".join(available_heads()) or "none (train one with `talkinghead-edu train-head`)"
        raise ValueError(
            f"unknown head {str(head)!r}; shipped heads: {known} (or pass the path of a head .safetensors)"
        )
    return path


def load_shipped_head(
    path: str | Path, faces: torch.Tensor, psi_dim: int, device: str | torch.device = "cpu"
) -> tuple[GaussianHead, InpaintingUNet, dict, dict]:
    """Read a file written by ``talkinghead-edu train-head``.

    Args:
        path: the ``.safetensors`` file.
        faces: the head model's ``(F, 3)`` faces (the Gaussians' parent triangles).
        psi_dim: ``3 + E`` (:func:`~talkinghead_edu.gaussians.psi_from_flame`).

    Returns:
        ``(head, F, track, meta)``: the :class:`GaussianHead` (float32, eval), the inpainting
        generator, ``track = {"frames" (n,), "pose" (n, 15), "translation" (n, 3)}`` and the metadata.
    """
    tensors, meta = load_checkpoint(path, device=device)
    if meta.get("kind") != "talkinghead_edu.shipped_head":
        raise ValueError(
            f"{path} is not a shipped head (written by `talkinghead-edu train-head`); "
            "a training checkpoint loads with RendererTrainer.load"
        )
    config = meta["config"]
    head = GaussianHead(
        faces, psi_dim=psi_dim, sh_degree=config["sh_degree"], latent_dim=config["latent_dim"], device=device
    )
    for name in list(head.gaussian_params):
        head.gaussian_params[name] = nn.Parameter(tensors[f"gaussian/{name}"].float(), requires_grad=False)
    head.triangle_ids = tensors["triangle_ids"].long()
    head.latent_mlp.load_state_dict(
        {k.removeprefix("mlp/"): v.float() for k, v in tensors.items() if k.startswith("mlp/")}
    )
    generator = InpaintingUNet(width=int(meta["inpaint"]["width"])).to(device)
    generator.load_state_dict({k.removeprefix("inpaint/"): v for k, v in tensors.items() if k.startswith("inpaint/")})
    track = {
        "frames": tensors["track/frames"].long(),
        "pose": tensors["track/pose"].float(),
        "translation": tensors["track/translation"].float(),
    }
    return head.eval().requires_grad_(False), generator.eval().requires_grad_(False), track, meta


def ping_pong(t: int, n: int) -> int:
    """Index into ``n`` frames of the ``t``-th output frame of a mirrored loop ``0 … n−1 … 1 0 1 …``."""
    if n <= 1:
        return 0
    period = 2 * (n - 1)
    k = t % period
    return k if k < n else period - k


def read_audio(audio, sample_rate: int | None = None) -> tuple[np.ndarray, int, np.ndarray]:
    """The input audio as given and at 16 kHz mono.

    Args:
        audio: a file path, or an ``(L,)`` / ``(L, C)`` floating-point array at ``sample_rate``.

    Returns:
        ``(original (L,) or (L, C) float32, its sample rate, mono 16 kHz (L16,) float32)``.

    Raises:
        AudioLoadError / ValueError: with the reason (see ``load_audio`` / ``prepare_waveform``).
    """
    if isinstance(audio, (str, os.PathLike)):
        import soundfile

        mono = load_audio(audio, SAMPLE_RATE)  # validates the file (exists, audio, finite, not silent)
        original, rate = soundfile.read(str(audio), dtype="float32")
        return original, int(rate), mono
    mono = prepare_waveform(audio, sample_rate, SAMPLE_RATE, name="speak: audio")
    original = np.asarray(audio.detach().cpu().numpy() if hasattr(audio, "detach") else audio, dtype=np.float32)
    return original, int(sample_rate), mono


@dataclass
class Speech:
    """One utterance spoken by a :class:`TalkingHead` (returned by :meth:`TalkingHead.speak`).

    Attributes:
        audio: the input audio as given, ``(L,)`` or ``(L, C)`` float32 at ``sample_rate``.
        sample_rate: its rate in Hz.
        motion: the translator's :class:`~talkinghead_edu.flame.FlameParams` ``(T, …)``.
        num_frames: ``T = ceil(L_16k / 640)`` video frames at 25 fps.
        timings: seconds per stage (:data:`STAGES`); the rendering stages grow while you iterate.
        frames_done: frames rendered so far.
    """

    talking_head: "TalkingHead"
    audio: np.ndarray
    sample_rate: int
    motion: object
    num_frames: int
    timings: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    frames_done: int = 0

    @property
    def duration(self) -> float:
        """Seconds of input audio."""
        return len(self.audio) / self.sample_rate

    def frames(self, progress: bool = False) -> Iterator[np.ndarray]:
        """Render the video lazily: yields ``(H, W, 3)`` uint8 frames, one per 40 ms."""
        from tqdm.auto import tqdm

        for t in tqdm(range(self.num_frames), desc="rendering", unit="frame", disable=not progress):
            frame = self.talking_head.render_frame(self.motion, t, self.timings)
            self.frames_done += 1
            yield frame

    __iter__ = frames

    def fps(self) -> dict[str, float]:
        """Frames per second of every stage so far (the motion stages over all ``T`` frames)."""
        out = {}
        for stage, seconds in self.timings.items():
            frames = self.num_frames if stage in ("audio encoder", "translator") else self.frames_done
            out[stage] = frames / seconds if seconds > 0 else float("inf")
        return out

    def summary(self, wall_seconds: float | None = None) -> str:
        """One line: seconds of audio, frames, wall time, FPS per stage."""
        wall = sum(self.timings.values()) if wall_seconds is None else wall_seconds
        stages = ", ".join(
            f"{stage} {fps:.0f}" if fps >= 100 else f"{stage} {fps:.1f}" for stage, fps in self.fps().items()
        )
        overall = self.frames_done / wall if wall > 0 else float("inf")
        return (
            f"{self.duration:.2f} s of audio -> {self.frames_done} frames in {wall:.1f} s ({overall:.2f} FPS); "
            f"FPS per stage: {stages}"
        )

    def write_mp4(self, path: str | Path, progress: bool = False, crf: int = 20) -> Path:
        """Render every frame into an mp4 (H.264 yuv420p, 25 fps) with the input audio (AAC, 48 kHz) muxed in.

        The file is written to a temporary sibling and renamed into place (atomic).
        """
        return write_mp4(path, self.frames(progress=progress), self.audio, self.sample_rate, crf=crf)


def write_mp4(path: str | Path, frames, audio: np.ndarray, sample_rate: int, fps: int = FPS, crf: int = 20) -> Path:
    """Encode ``frames`` (an iterable of ``(H, W, 3)`` uint8) and ``audio`` into an mp4, atomically.

    Video: libx264, yuv420p, ``crf``; audio: AAC at 48 kHz, mono or stereo (more channels are
    mixed down). Audio is interleaved one video frame at a time, so memory stays flat.
    PyAV's wheels carry FFmpeg with libx264 and its AAC encoder, so no system ffmpeg is needed.

    Raises:
        PermissionError / OSError: the output folder does not exist or is not writable.
    """
    import av

    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise PermissionError(f"cannot write {path}: the folder {path.parent} is not writable")
    samples = np.asarray(audio, dtype=np.float32)
    samples = samples[:, None] if samples.ndim == 1 else samples
    if samples.shape[1] > 2:
        samples = samples.mean(axis=1, keepdims=True)
    samples = resample(samples, sample_rate, MP4_AUDIO_RATE)
    layout = "mono" if samples.shape[1] == 1 else "stereo"
    per_frame = MP4_AUDIO_RATE // fps
    with atomic_writer(path, "wb") as handle:
        container = av.open(handle, mode="w", format="mp4")
        try:
            video_stream = audio_stream = None
            written = 0
            for t, image in enumerate(frames):
                if video_stream is None:
                    height, width = image.shape[:2]
                    video_stream = container.add_stream("libx264", rate=fps)
                    video_stream.width, video_stream.height, video_stream.pix_fmt = width, height, "yuv420p"
                    video_stream.options = {"crf": str(crf), "preset": "veryfast"}
                    audio_stream = container.add_stream("aac", rate=MP4_AUDIO_RATE, layout=layout)
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
                frame.pts = t
                container.mux(video_stream.encode(frame))
                chunk = samples[written : (t + 1) * per_frame]
                if len(chunk):
                    audio_frame = av.AudioFrame.from_ndarray(
                        np.ascontiguousarray(chunk.T), format="fltp", layout=layout
                    )
                    audio_frame.sample_rate, audio_frame.pts = MP4_AUDIO_RATE, written
                    container.mux(audio_stream.encode(audio_frame))
                    written += len(chunk)
            if video_stream is None:
                raise ValueError("write_mp4: no frames to write")
            container.mux(video_stream.encode(None))
            container.mux(audio_stream.encode(None))
        finally:
            container.close()
    return path


class TalkingHead:
    """A shipped Gaussian head driven by audio (see the module docstring). Build with :meth:`load`."""

    def __init__(
        self,
        head: GaussianHead,
        generator: InpaintingUNet,
        track: dict,
        meta: dict,
        flame,
        translator,
        video,
        style: str | None,
        pose: str,
        device,
        blendshapes: bool = True,
        inpaint: bool = True,
    ):
        self.head, self.generator, self.track, self.meta = head, generator, track, meta
        self.flame, self.translator, self.video = flame, translator, video
        self.style, self.pose, self.device = style, pose, torch.device(device)
        self.blendshapes, self.inpaint = bool(blendshapes), bool(inpaint)
        self.speaker = meta["speaker"]
        self.shape = torch.as_tensor(
            video.flame_tracked.resized(flame.n_shape, flame.n_expr).shape, device=self.device
        )[None]
        self.K = torch.as_tensor(video.K, device=self.device)

    @classmethod
    def load(
        cls,
        head: str | os.PathLike = "speaker_a",
        style: str | None = None,
        resolution: int = 256,
        pose: str = "track",
        device: str | torch.device = "cpu",
        translator: str | os.PathLike | None = None,
        blendshapes: bool = True,
        inpaint: bool = True,
    ) -> "TalkingHead":
        """Load a shipped head, the motion translator and the target video.

        Args:
            head: a shipped head name (:func:`available_heads`, e.g. ``"speaker_a"``) or a path.
            style: the translator identity whose mouth style to use (``translator.speakers``),
                ``"average"`` for the mean embedding (an unseen speaker), or ``None``: the head's own
                speaker if the translator knows it, else the average.
            resolution: output width in pixels (a multiple of 4; the head was trained at 256).
            pose: ``"track"`` (the target video's head motion, ping-pong looped) or ``"still"``.
            translator: a translator checkpoint (default: the bundled ``motion_translator.safetensors``).
            blendshapes: ``False`` leaves out the speaker-specific blendshape offsets (eqs 16–18);
                the Gaussians still follow the FLAME triangles. A test-time ablation of a head
                trained with them (the paper retrains without them).
            inpaint: ``False`` replaces the generator ``F`` of eq 19 by the identity:
                ``I = M I_gau + (1 − M) I_ori`` (the render pasted inside the face mask ``M``).

        Raises:
            ValueError: unknown head, style or pose, or a bad resolution.
        """
        if pose not in ("track", "still"):
            raise ValueError(f"pose must be 'track' or 'still', got {pose!r}")
        if int(resolution) < 16 or int(resolution) % 4:
            raise ValueError(f"resolution must be a multiple of 4 of at least 16 pixels, got {resolution}")
        path = _head_path(head)
        flame = load_head_model(device=device)
        gaussians, generator, track, meta = load_shipped_head(path, flame.faces, 3 + flame.n_expr, device)
        motion = load_translator(
            translator or dataset_root() / "checkpoints" / "motion_translator.safetensors", device=device
        )
        if style is None:
            style = meta["speaker"] if meta["speaker"] in motion.speakers else "average"
        if style != "average":
            if style not in motion.speakers:
                raise ValueError(f"unknown style {style!r}; this translator knows {motion.speakers} or 'average'")
            if motion.identity is None:
                raise ValueError("this translator has no identity embedding; use style='average'")
        video = load_video_dataset(meta["speaker"], resolution=int(resolution))
        if (video.height % 4) or (video.width % 4):
            raise ValueError(
                f"resolution {resolution} gives {video.height}x{video.width} frames; both must be multiples of 4"
            )
        return cls(
            gaussians,
            generator,
            track,
            meta,
            flame,
            motion,
            video,
            None if style == "average" else style,
            pose,
            device,
            blendshapes=blendshapes,
            inpaint=inpaint,
        )

    def __repr__(self) -> str:
        return (
            f"TalkingHead(head={self.speaker!r}, style={self.style or 'average'!r}, "
            f"{self.video.width}x{self.video.height}, "
            f"pose={self.pose!r}, blendshapes={self.blendshapes}, inpaint={self.inpaint}, "
            f"{self.head.num_gaussians} Gaussians)"
        )

    def speak(self, audio, sample_rate: int | None = None) -> Speech:
        """Audio -> :class:`Speech` (motion now, frames lazily).

        Args:
            audio: a file path (WAV/FLAC/OGG, any rate/channels) or an ``(L,)``/``(L, C)`` float array.
            sample_rate: Hz of an array (required for arrays).
        """
        original, rate, mono = read_audio(audio, sample_rate)
        timings = dict.fromkeys(STAGES, 0.0)
        started = time.perf_counter()
        features = self.translator.audio_features(mono, sample_rate=SAMPLE_RATE)  # eq 1, windowed E_uni
        timings["audio encoder"] = time.perf_counter() - started
        started = time.perf_counter()
        motion = self.translator.predict(features, self.style)  # eq 4
        timings["translator"] = time.perf_counter() - started
        return Speech(self, original, rate, motion, motion.num_frames, timings)

    # ------------------------------------------------------------------ one frame
    def _source(self, t: int) -> int:
        """Row of the pose track used for output frame ``t``."""
        return 0 if self.pose == "still" else ping_pong(t, len(self.track["frames"]))

    @torch.no_grad()
    def layers(
        self, motion, t: int, timings: dict[str, float] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The inputs of eq 19 for frame ``t`` of ``motion``, adding each stage's seconds to ``timings``.

        Returns:
            ``(I_gau, I_ori, M)``: the render premultiplied by its alpha (on black) ``(1, H, W, 3)``
            in [0, 1], the original video frame ``(1, H, W, 3)`` and the face mask ``(1, H, W)`` in {0, 1}.
        """
        lap = _stopwatch(timings if timings is not None else dict.fromkeys(STAGES, 0.0))
        row = self._source(t)
        index = int(self.track["frames"][row])
        pose = self.track["pose"][row].clone()
        pose[_JAW] = motion.jaw_pose[t].to(self.device)
        expression = torch.zeros(1, self.flame.n_expr, device=self.device)
        n = min(self.flame.n_expr, motion.expression.shape[1])
        expression[0, :n] = motion.expression[t, :n].to(self.device)
        vertices = self.flame(
            shape=self.shape, expression=expression, pose=pose[None], translation=self.track["translation"][row][None]
        ).vertices  # eq 10
        lap("FLAME")
        psi = psi_from_flame(pose[None, _JAW], expression) if self.blendshapes else None  # None: no eqs 16-18
        bound = self.head(vertices, psi)  # eqs 11-18
        lap("Gaussians+blendshapes")
        camera = Camera(
            K=self.K,
            viewmat=torch.as_tensor(self.video.viewmats[index], device=self.device),
            width=self.video.width,
            height=self.video.height,
        )
        out = render(bound.frame(0), camera, bg=None)  # eq 9, on black (premultiplied)
        lap("rasterization")
        original = self.video.frame(index, device=self.device)[None]
        mask = torch.as_tensor(self.video.face_mask[index], device=self.device).float()[None]
        lap("inpainting blend")
        return out.image[None].clamp(0.0, 1.0), original, mask

    @torch.no_grad()
    def render_frame(self, motion, t: int, timings: dict[str, float] | None = None) -> np.ndarray:
        """Frame ``t`` of ``motion`` as ``(H, W, 3)`` uint8, adding each stage's seconds to ``timings``."""
        timings = timings if timings is not None else dict.fromkeys(STAGES, 0.0)
        gaussian_image, original, mask = self.layers(motion, t, timings)
        lap = _stopwatch(timings)
        generator = self.generator if self.inpaint else None  # None: F is the identity
        image = blend(generator, gaussian_image, original, mask)[0]  # eq 19
        pixels = (image.clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8).cpu().numpy()
        lap("inpainting blend")
        return pixels


def _stopwatch(timings: dict[str, float]):
    """``lap(stage)`` adds the seconds since the previous lap (or since this call) to ``timings[stage]``."""
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] += now - clock
        clock = now

    return lap
