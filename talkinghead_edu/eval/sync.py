"""A SyncNet-style audio-visual sync expert (Chung & Zisserman 2016; the LSE judge of Wav2Lip).

Two small encoders map 0.2 s of sound and the 5 video frames of the same 0.2 s to unit
vectors in one space; in-sync pairs lie close, shifted pairs far apart (trained
contrastively by :mod:`talkinghead_edu.recipes.train_sync`). :mod:`talkinghead_edu.eval.lse`
turns the distances into LSE-D and LSE-C.

Audio front-end. The expert takes **log-mel spectrograms**, not waveforms: the caller computes
them with :func:`talkinghead_edu.audio.features.log_mel` using the settings in
:attr:`SyncExpert.mel_settings` (16 kHz, 40 bands, 25 ms windows, 10 ms hop, so 4 mel frames
per 25-fps video frame). Keeping the front-end outside keeps ``eval`` free of sideways
imports (``eval`` and ``audio`` are both layer 1) and uses one log-mel for the whole package.

Visual front-end. Mouth crops ``(T, 3, S, S)`` cut with :func:`talkinghead_edu.eval.crops.crop_square`
from a box fixed per head (:func:`mouth_box` of the neutral landmarks).

Window of video frame ``t``: frames ``t-2 … t+2`` and mel frames ``4(t-2) … 4(t+3)-1``
(20 frames = 0.2 s); both are padded at the clip ends (frames repeat, mel repeats its minimum,
i.e. silence).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..conventions import SAMPLE_RATE, SAMPLES_PER_FRAME
from .crops import square_box

__all__ = [
    "SyncExpert",
    "save_sync_expert",
    "load_sync_expert",
    "mouth_box",
    "MOUTH_LANDMARKS",
    "video_windows",
    "audio_windows",
]

#: Indices of the 20 mouth landmarks (outer 48-59, inner 60-67) in the 68-point layout.
MOUTH_LANDMARKS = slice(48, 68)


def mouth_box(landmarks: torch.Tensor, scale: float = 1.8) -> torch.Tensor:
    """The sync expert's crop box ``(cx, cy, side)`` from one face's ``(68, 2)`` (neutral) landmarks."""
    landmarks = torch.as_tensor(landmarks, dtype=torch.float32)
    if landmarks.shape != (68, 2):
        raise ValueError(f"mouth_box: expected (68, 2) landmarks, got {tuple(landmarks.shape)}")
    return square_box(landmarks[MOUTH_LANDMARKS], scale)


def video_windows(crops: torch.Tensor, window: int = 5) -> torch.Tensor:
    """``(T, 3, S, S)`` crops -> ``(T, 3 window, S, S)``: frame ``t`` with its neighbours, stacked on channels."""
    if crops.dim() != 4:
        raise ValueError(f"video_windows: crops must be (T, 3, S, S), got {tuple(crops.shape)}")
    half = window // 2
    padded = torch.cat([crops[:1].expand(half, -1, -1, -1), crops, crops[-1:].expand(half, -1, -1, -1)])
    T = crops.shape[0]
    return torch.cat([padded[k : k + T] for k in range(window)], dim=1)


def audio_windows(log_mel: torch.Tensor, num_frames: int, window: int = 5, hops_per_frame: int = 4) -> torch.Tensor:
    """``(F, M)`` log-mel -> ``(T, window · hops_per_frame, M)``, the 0.2 s under each video frame's window."""
    if log_mel.dim() != 2:
        raise ValueError(f"audio_windows: log_mel must be (F, n_mels), got {tuple(log_mel.shape)}")
    half = window // 2
    needed = hops_per_frame * num_frames
    if log_mel.shape[0] < needed:
        raise ValueError(
            f"audio_windows: {log_mel.shape[0]} mel frames cannot cover {num_frames} video frames "
            f"({needed} needed; compute log-mel of the clip's 640·T samples)"
        )
    pad = half * hops_per_frame
    silence = log_mel.min().expand(pad, log_mel.shape[1])
    padded = torch.cat([silence, log_mel[:needed], silence])
    length = window * hops_per_frame
    starts = torch.arange(num_frames) * hops_per_frame
    return padded[starts[:, None] + torch.arange(length)[None]]  # (T, length, M)


def _conv(c_in: int, c_out: int, stride) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1), nn.GroupNorm(8, c_out), nn.ReLU())


class SyncExpert(nn.Module):
    """Audio encoder + visual encoder into a shared unit sphere.

    Args:
        n_mels: mel bands ``M`` of the log-mel input (a multiple of 8).
        crop: side ``S`` of the mouth crops (a multiple of 8).
        window: video frames per window (5 = 0.2 s at 25 fps).
        dim: embedding size ``D``.

    Both encoders are three stride-2 convolutions and a linear layer (about 2 MFLOP per
    window each: small enough to train on a shared laptop CPU in minutes).
    Buffers ``mel_mean``/``mel_std`` ``(n_mels,)`` standardise the log-mel (set from training data).
    """

    def __init__(self, n_mels: int = 40, crop: int = 32, window: int = 5, dim: int = 64):
        super().__init__()
        if crop % 8 or n_mels % 8:
            raise ValueError(f"SyncExpert: crop and n_mels must be multiples of 8, got {crop} and {n_mels}")
        self.config = dict(n_mels=n_mels, crop=crop, window=window, dim=dim)
        self.hops_per_frame = SAMPLES_PER_FRAME // 160
        self.visual = nn.Sequential(  # (B, 3w, S, S) -> (B, 64, S/8, S/8)
            _conv(3 * window, 16, 2),
            _conv(16, 32, 2),
            _conv(32, 64, 2),
            nn.Flatten(),
            nn.Linear(64 * (crop // 8) ** 2, dim),
        )
        frames = window * self.hops_per_frame
        self.audio = nn.Sequential(  # (B, 1, 20, M) -> (B, 64, 5, M/8)
            _conv(1, 16, (1, 2)),
            _conv(16, 32, 2),
            _conv(32, 64, 2),
            nn.Flatten(),
            nn.Linear(64 * ((frames + 3) // 4) * (n_mels // 8), dim),
        )
        self.register_buffer("mel_mean", torch.zeros(n_mels))
        self.register_buffer("mel_std", torch.ones(n_mels))

    @property
    def mel_settings(self) -> dict:
        """Keyword arguments of ``audio.features.log_mel`` that make this expert's input."""
        return dict(sample_rate=SAMPLE_RATE, n_mels=self.config["n_mels"], n_fft=400, hop_length=160)

    def embed_video(self, windows: torch.Tensor) -> torch.Tensor:
        """``(B, 3 window, S, S)`` stacked mouth crops -> ``(B, D)`` unit vectors."""
        S = self.config["crop"]
        if windows.dim() != 4 or windows.shape[1:] != (3 * self.config["window"], S, S):
            raise ValueError(
                f"embed_video: expected (B, {3 * self.config['window']}, {S}, {S}), got {tuple(windows.shape)}"
            )
        return F.normalize(self.visual(windows * 2.0 - 1.0), dim=-1)

    def embed_audio(self, windows: torch.Tensor) -> torch.Tensor:
        """``(B, 20, n_mels)`` log-mel windows -> ``(B, D)`` unit vectors."""
        if windows.dim() != 3 or windows.shape[2] != self.config["n_mels"]:
            raise ValueError(f"embed_audio: expected (B, frames, {self.config['n_mels']}), got {tuple(windows.shape)}")
        standardized = (windows - self.mel_mean) / self.mel_std
        return F.normalize(self.audio(standardized[:, None]), dim=-1)

    @torch.no_grad()
    def embed_clip(
        self, crops: torch.Tensor, log_mel: torch.Tensor, batch: int = 256
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One clip -> per-frame embeddings ``(video (T, D), audio (T, D))`` (eval mode).

        Args:
            crops: ``(T, 3, S, S)`` mouth crops in [0, 1].
            log_mel: ``(F, n_mels)`` log-mel of the clip's audio, ``F >= 4 T``.
        """
        was_training = self.training
        self.eval()
        device = self.mel_mean.device
        T = crops.shape[0]
        v_windows = video_windows(crops.float(), self.config["window"])
        a_windows = audio_windows(log_mel.float(), T, self.config["window"], self.hops_per_frame)
        video = torch.cat([self.embed_video(v_windows[i : i + batch].to(device)) for i in range(0, T, batch)])
        audio = torch.cat([self.embed_audio(a_windows[i : i + batch].to(device)) for i in range(0, T, batch)])
        self.train(was_training)
        return video.cpu(), audio.cpu()


def save_sync_expert(path, expert: SyncExpert, meta: dict | None = None):
    """Write the expert as safetensors (config and ``meta`` — command, validation — in the header)."""
    from ..utils.io import save_checkpoint

    return save_checkpoint(path, expert.state_dict(), {"kind": "sync_expert", "config": expert.config, **(meta or {})})


def load_sync_expert(path, device: str | torch.device = "cpu") -> tuple[SyncExpert, dict]:
    """Read a file of :func:`save_sync_expert` -> ``(expert in eval mode, metadata)``. Never unpickles."""
    from ..utils.io import load_checkpoint

    tensors, meta = load_checkpoint(path, device)
    if meta.get("kind") != "sync_expert":
        raise ValueError(f"{path} is not a sync expert checkpoint (kind={meta.get('kind')!r})")
    expert = SyncExpert(**meta["config"]).to(device)
    expert.load_state_dict(tensors)
    return expert.eval(), meta
