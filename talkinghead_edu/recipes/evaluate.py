"""The paper's Tables 1–2 on the bundled data: self-driven and cross-driven evaluation.

Judges (trained by the package, shipped in ``datasets_small/checkpoints``): the sync expert
(``sync_expert.safetensors``, LSE-D/LSE-C and the Fréchet distance on its visual features)
and the landmark detector (``landmark_detector.safetensors``, LMD). Every frame a method makes
is judged the same way: box-filtered to 128 px, cut through the head's fixed boxes.

Columns of :func:`score_clip`:

* ``psnr``, ``ssim`` — against the ground-truth frames, at 128 px;
* ``lpips`` — only when an LPIPS backbone is given (no weights are bundled);
* ``fd_sync`` — Fréchet distance between the sync expert's visual embeddings of the method's
  mouth windows and of the ground truth's (**not comparable with the paper's FID**);
* ``lmd`` — mean distance between the detector's jaw+mouth landmarks on the method's frames
  and on the ground-truth frames, in pixels at 256 (the detector's own error is the floor);
* ``lse_d``, ``lse_c`` — :mod:`talkinghead_edu.eval.lse`.

Methods are functions ``(head, clip) -> frames (T, H, W, 3)`` (float in [0, 1] or uint8), or a
dict ``{"frames": …, <column>: value}`` for a method that measures more columns itself (the
Gaussian head reports ``fps``). This module builds the mesh-renderer ones (ground-truth motion,
predicted motion, the loudness-driven jaw floor) and the Gaussian-head ones
(:func:`pipeline_methods`, the whole system of :mod:`talkinghead_edu.pipeline`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..audio.features import energy
from ..conventions import POSE_SLICES, SAMPLE_RATE, SAMPLES_PER_FRAME
from ..data import load_speech_dataset, load_video_dataset
from ..eval.crops import crop_square, downsample_frames
from ..eval.landmarks import load_landmark_regressor
from ..eval.lse import sync_scores
from ..eval.metrics import psnr, ssim
from ..eval.perceptual import frechet_distance_of_features
from ..eval.sync import load_sync_expert, video_windows
from ..motion.train import load_translator
from ..paths import dataset_root
from ..pipeline import TalkingHead
from .eval_data import EVAL_RESOLUTION, EvalHead, clip_log_mel, eval_head

__all__ = [
    "EvalClip",
    "Judges",
    "load_judges",
    "self_driven_clips",
    "cross_driven_clips",
    "score_clip",
    "mesh_method",
    "loudness_jaw",
    "ground_truth_method",
    "evaluate_methods",
    "format_table",
    "pipeline_methods",
    "gaussian_method",
    "on_frames",
    "CHECKPOINTS",
]

CHECKPOINTS = dataset_root() / "checkpoints"


@dataclass
class EvalClip:
    """What a method is asked to do: speak ``audio`` on ``head``; ``frames`` / FLAME are the ground truth."""

    name: str
    head: str
    audio: np.ndarray  # (640 T,)
    frames: np.ndarray | None  # (T, 128, 128, 3) float32 ground truth (None: no ground-truth video)
    expression: np.ndarray  # (T, E) true (self-driven) or the utterance's own (cross-driven)
    pose: np.ndarray  # (T, 15) the head pose to render with (global, neck from the target; jaw true)
    translation: np.ndarray  # (T, 3)
    articulation: np.ndarray | None
    voice: str
    frame_indices: np.ndarray | None = None  # (T,) the ground-truth frames' indices in the head's video (self-driven)

    @property
    def num_frames(self) -> int:
        return len(self.audio) // SAMPLES_PER_FRAME


@dataclass
class Judges:
    expert: torch.nn.Module
    detector: torch.nn.Module
    expert_meta: dict
    detector_meta: dict


@lru_cache(maxsize=1)
def load_judges(folder: str | None = None) -> Judges:
    """The shipped sync expert and landmark detector."""
    folder = Path(folder) if folder else CHECKPOINTS
    expert, expert_meta = load_sync_expert(folder / "sync_expert.safetensors")
    detector, detector_meta = load_landmark_regressor(folder / "landmark_detector.safetensors")
    return Judges(expert, detector, expert_meta, detector_meta)


def self_driven_clips(
    speakers=("speaker_a", "speaker_b"), split: str = "test", max_frames: int | None = None
) -> list[EvalClip]:
    """Each video speaker's held-out block as one clip (ground-truth frames at 128 px)."""
    clips = []
    for speaker in speakers:
        video = load_video_dataset(speaker, resolution=EVAL_RESOLUTION)
        frames = video.splits[split][:max_frames] if max_frames else video.splits[split]
        block = slice(int(frames[0]), int(frames[-1]) + 1)
        with np.load(video.frame_paths[0].parent.parent / "ground_truth_eval_only.npz", allow_pickle=False) as truth:
            articulation = truth["articulation"][block]
        clips.append(
            EvalClip(
                f"{speaker}/{split}",
                speaker,
                video.audio_for_frames(block),
                video.frames[block].astype(np.float32) / 255.0,
                video.flame_true.expression[block],
                video.flame_true.pose[block],
                video.flame_true.translation[block],
                articulation,
                speaker,
                np.arange(block.start, block.stop),
            )
        )
    return clips


def cross_driven_clips(head: str, split: str = "test", language: str | None = "en", voices: int = 8) -> list[EvalClip]:
    """Other voices driving ``head``: speech-set utterances of ``split`` (``"test_unseen_language"``: German).

    The pose keeps the target's first test frame's global/neck rotation; the utterance's own
    ground-truth motion (expression, jaw) is the reference the mesh renderer draws.
    """
    video = load_video_dataset(head, resolution=EVAL_RESOLUTION)
    first = int(video.splits["test"][0])
    utterances = [u for u in load_speech_dataset().split(split) if language is None or u.language == language]
    seen, chosen = set(), []
    for u in utterances:  # one utterance per voice
        if u.speaker not in seen:
            seen.add(u.speaker)
            chosen.append(u)
    clips = []
    for u in chosen[:voices]:
        T = u.num_frames
        pose = np.repeat(video.flame_true.pose[first][None], T, axis=0).copy()
        pose[:, POSE_SLICES["jaw"]] = u.jaw_pose
        pose[:, POSE_SLICES["neck"]] += u.neck_pose
        clips.append(
            EvalClip(
                f"{head}/{u.id}",
                head,
                u.audio,
                None,
                u.expression,
                pose,
                np.zeros((T, 3), np.float32),
                u.articulation,
                u.speaker,
            )
        )
    return clips


# --------------------------------------------------------------------------- methods
def ground_truth_method(head: EvalHead, clip: EvalClip) -> np.ndarray:
    """The ground-truth frames (self-driven) or the mesh render of the true motion (cross-driven)."""
    if clip.frames is not None:
        return clip.frames
    return head.render(clip.expression, clip.pose, clip.articulation)[0]


@lru_cache(maxsize=4)
def _translator(name: str):
    return load_translator(CHECKPOINTS / f"{name}.safetensors")


def mesh_method(
    translator: str = "motion_translator", style: str | None = None
) -> Callable[[EvalHead, EvalClip], np.ndarray]:
    """Baseline: the package's textured mesh renderer driven by predicted FLAME (``motion.translate``).

    The translator predicts expression and jaw; global/neck rotation and translation are the
    clip's (the same head pose every method gets). ``style``: a translator identity or ``None``
    (the average embedding: the video speakers are not among the translator's voices).
    """

    def method(head: EvalHead, clip: EvalClip) -> np.ndarray:
        motion = _translator(translator).translate(clip.audio, style, sample_rate=SAMPLE_RATE)
        pose = clip.pose.copy()
        pose[:, POSE_SLICES["jaw"]] = motion.jaw_pose.numpy()
        return head.render(motion.expression.numpy(), pose)[0]

    method.__name__ = f"mesh[{translator}]"
    return method


def loudness_jaw(head: EvalHead, clip: EvalClip, reference: EvalClip | None = None) -> np.ndarray:
    """The floor: neutral face, the jaw opens with the loudness of the audio (no content, no lips).

    Per frame RMS (dB) is mapped linearly so that its 10th/95th percentiles over the clip give
    the 10th/95th percentiles of the ground-truth jaw opening of ``reference`` (default: the clip).
    """
    T = clip.num_frames
    rms = energy(torch.as_tensor(clip.audio), n_fft=SAMPLES_PER_FRAME, hop_length=SAMPLES_PER_FRAME)[:T].numpy()
    level = 20 * np.log10(np.maximum(rms, 1e-5))
    jaw_true = (reference or clip).pose[:, POSE_SLICES["jaw"]][:, 0]
    lo, hi = np.percentile(level, [10, 95])
    j_lo, j_hi = np.percentile(jaw_true, [10, 95])
    jaw = j_lo + np.clip((level - lo) / max(hi - lo, 1e-6), 0, 1) * (j_hi - j_lo)
    pose = clip.pose.copy()
    pose[:, POSE_SLICES["jaw"]] = 0.0
    pose[:, POSE_SLICES["jaw"].start] = jaw
    return head.render(np.zeros_like(clip.expression), pose)[0]


# --------------------------------------------------------------------------- scores
@torch.no_grad()
def judge_frames(frames: np.ndarray | torch.Tensor, clip: EvalClip, judges: Judges) -> dict:
    """Sync embeddings, LSE and detected landmarks of one clip's frames (any multiple of 128 px)."""
    frames = torch.as_tensor(frames)
    if frames.dtype == torch.uint8:
        frames = frames.float() / 255.0
    frames = downsample_frames(frames, frames.shape[2] // EVAL_RESOLUTION)
    head = eval_head(clip.head)
    crops = crop_square(frames, head.mouth_box, judges.expert.config["crop"])
    video, audio = judges.expert.embed_clip(crops, clip_log_mel(clip.audio))
    windows = judges.expert.embed_video(video_windows(crops, judges.expert.config["window"]))
    return {
        "frames": frames,
        "scores": sync_scores(video, audio),
        "visual": windows,
        "landmarks": judges.detector.detect(frames, head.face_box),
    }


def score_clip(frames: np.ndarray, clip: EvalClip, judges: Judges, reference: dict | None, lpips=None) -> dict:
    """All columns for one clip (module docstring); ``reference`` = :func:`judge_frames` of the ground truth."""
    judged = judge_frames(frames, clip, judges)
    row = {
        "lse_d": judged["scores"].lse_d,
        "lse_c": judged["scores"].lse_c,
        "offset": judged["scores"].offset,
        "visual": judged["visual"],
    }
    if reference is not None:
        truth = reference["frames"]
        identical = bool(torch.equal(judged["frames"], truth))
        row["psnr"] = float("inf") if identical else float(psnr(judged["frames"], truth))
        row["ssim"] = float(ssim(judged["frames"], truth))
        row["lmd"] = 2.0 * float((judged["landmarks"] - reference["landmarks"]).norm(dim=-1).mean())  # pixels at 256
        if lpips is not None:
            row["lpips"] = float(lpips(judged["frames"], truth).mean())
    return row


def evaluate_methods(
    methods: dict[str, Callable],
    clips: list[EvalClip],
    judges: Judges | None = None,
    with_reference: bool = True,
    lpips=None,
    progress: bool = True,
) -> dict[str, dict[str, float]]:
    """Score every method on every clip; one row per method (means over clips; ``fd_sync`` pooled).

    ``with_reference``: PSNR/SSIM/LMD against the clips' ground-truth frames (self-driven).
    The ground truth of each clip (``ground_truth_method``) is always judged for ``fd_sync``.
    """
    from tqdm.auto import tqdm

    judges = judges or load_judges()
    references = {
        clip.name: judge_frames(ground_truth_method(eval_head(clip.head), clip), clip, judges) for clip in clips
    }
    table = {}
    for name, method in tqdm(methods.items(), desc="methods", disable=not progress):
        rows = []
        for clip in clips:
            made = method(eval_head(clip.head), clip)
            frames, measured = (made.pop("frames"), made) if isinstance(made, dict) else (made, {})
            reference = references[clip.name] if with_reference else None
            rows.append(score_clip(frames, clip, judges, reference, lpips) | measured)
        real = torch.cat([references[c.name]["visual"] for c in clips])
        fake = torch.cat([r["visual"] for r in rows])
        summary = {key: float(np.mean([r[key] for r in rows])) for key in rows[0] if key not in ("visual", "offset")}
        # PSNR of identical frames is infinite (shown as '—')
        summary["fd_sync"] = frechet_distance_of_features(real, fake)
        summary["offset_0"] = float(np.mean([r["offset"] == 0 for r in rows]))
        table[name] = summary
    return table


def format_table(
    table: dict[str, dict[str, float]],
    columns=("psnr", "ssim", "lpips", "fd_sync", "lmd", "lse_c", "lse_d", "fps"),
    digits: int = 3,
) -> str:
    """A markdown table; columns a row lacks show as '—'."""
    present = [c for c in columns if any(c in row for row in table.values())]
    lines = ["| method | " + " | ".join(present) + " |", "|---|" + "---|" * len(present)]
    for name, row in table.items():
        cells = [f"{row[c]:.{digits}f}" if c in row and np.isfinite(row[c]) else "—" for c in present]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


@lru_cache(maxsize=8)
def _talking_head(head: str, style: str | None, translator: str) -> TalkingHead:
    """A loaded head at 256 px, warmed up by one frame (as the benchmark does) so FPS excludes compilation."""
    talking = TalkingHead.load(
        head=head, style=style, resolution=2 * EVAL_RESOLUTION, translator=CHECKPOINTS / f"{translator}.safetensors"
    )
    next(iter(talking.speak(talking.video.audio[:SAMPLE_RATE], sample_rate=SAMPLE_RATE).frames()))
    return talking


def on_frames(talking: TalkingHead, frames: np.ndarray) -> TalkingHead:
    """The same head rendered with the tracked head pose, camera and background of ``frames`` (k,).

    Output frame ``t`` then stands on video frame ``frames[t]`` (for ``t < k``), which is what a
    self-driven comparison with those frames needs; the translator still drives jaw and expression.
    The pose is the tracker's (what the head was trained on), not the generator's true pose.
    """
    tracked = talking.video.flame_tracked
    frames = np.asarray(frames, dtype=np.int64)
    track = {
        "frames": torch.as_tensor(frames),
        "pose": torch.as_tensor(np.asarray(tracked.pose)[frames]).float(),
        "translation": torch.as_tensor(np.asarray(tracked.translation)[frames]).float(),
    }
    return TalkingHead(
        talking.head,
        talking.generator,
        track,
        talking.meta,
        talking.flame,
        talking.translator,
        talking.video,
        talking.style,
        "track",
        talking.device,
    )


def gaussian_method(
    style: str | None = None, translator: str = "motion_translator"
) -> Callable[[EvalHead, EvalClip], dict]:
    """The whole system: ``TalkingHead.load(head=clip.head, style, translator).speak(clip.audio)``, at 256 px.

    Self-driven clips (with ``frame_indices``) are rendered on their own frames' tracked pose and
    background (:func:`on_frames`); cross-driven ones on the pipeline's own pose track.
    Returns ``{"frames": (T, 256, 256, 3) uint8, "fps": frames / seconds over every stage}``
    (the pipeline's own per-stage timings, :meth:`~talkinghead_edu.pipeline.Speech.fps`).
    """

    def method(head: EvalHead, clip: EvalClip) -> dict:
        talking = _talking_head(clip.head, style, translator)
        if clip.frame_indices is not None:
            talking = on_frames(talking, clip.frame_indices)
        speech = talking.speak(clip.audio, sample_rate=SAMPLE_RATE)
        if speech.num_frames != clip.num_frames:
            raise ValueError(f"{clip.name}: pipeline made {speech.num_frames} frames, clip has {clip.num_frames}")
        frames = np.stack(list(speech.frames()))
        return {"frames": frames, "fps": speech.num_frames / sum(speech.timings.values())}

    method.__name__ = f"gaussian[{style or 'default'}, {translator}]"
    return method


def pipeline_methods(heads=("speaker_a", "speaker_b")) -> dict[str, Callable]:
    """The Gaussian-head rows: the full system and the ablations the pipeline's interface offers.

    * full system: ``style=None``, i.e. each head's own speaker style when the translator knows the
      speaker, else the average embedding (the bundled translator knows only the eight speech-set
      voices, so the video speakers get the average style and the row is named so);
    * "average style" (the paper's identity ablation): only when the translator knows ``heads``
      (otherwise it is the full system itself);
    * raw E_asr: the translator ablation trained on the raw ASR encoder
      (``motion_ablation_raw_encoder``) instead of E_uni.

    Not offered by the pipeline (so not here): "without inpainting" (eq 19's F is always applied)
    and "without speaker-specific blendshapes" (the shipped heads carry them).
    """
    own_styles = set(heads) <= set(_translator("motion_translator").speakers)
    full = "Gaussian head (full)" if own_styles else "Gaussian head (full, average style)"
    rows = {full: gaussian_method()}
    if own_styles:
        rows["Gaussian head, average style"] = gaussian_method("average")
    rows["Gaussian head, raw E_asr"] = gaussian_method(None, "motion_ablation_raw_encoder")
    return rows
