"""Training the dynamic Gaussian renderer on one target speaker's video (paper §3.3, eqs 9–24).

One step:

1. pick a training frame ``t`` (seeded by ``seed`` and the step number, so a resumed run
   draws the same frames);
2. FLAME (eq 10) with the tracked parameters of ``t`` plus, when fine-tuning is on, small
   learnable per-frame corrections (expression, pose, translation; paper §4.1.3);
3. bind the Gaussians to the posed triangles (eqs 11–15) with the speaker-specific
   blendshapes driven by ``ψ = [θ_jaw, ε]`` (eqs 16–18);
4. rasterize (eq 9) the colours and, for ``L_seg``, the fixed label colours (eq 22);
5. paste into the frame as in eq 19 — ``Î = I_gau + (1 − α)(1 − M) I_ori`` (alpha-aware, so a
   Gaussian drawn outside the face mask ``M`` hides the frame behind it, and a transparent
   spot inside ``M`` shows black) — and compare with the frame: eq 24;
6. Adam step; adaptive density control (children inherit their triangle).

:class:`RendererTrainer` keeps the model, the optimiser and the history, writes atomic
resumable checkpoints (safetensors, :func:`talkinghead_edu.utils.io.save_checkpoint`) and
evaluates PSNR / SSIM / LMD on held-out frames — with the tracker's FLAME parameters, with
those refined photometrically against each frame while the head stays frozen (the last
stage of a face tracker, :meth:`RendererTrainer.refine_tracking`), or with the true ones.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import CheckpointError
from ..eval.metrics import landmark_distance, psnr, ssim
from ..render import Camera, project_points, render
from ..utils.io import checkpoint_contents, load_checkpoint, save_checkpoint
from .density import DensityConfig, DensityController
from .losses import LossWeights, gaussian_label_colors, l1_loss, label_map_colors, renderer_loss, ssim_loss
from .model import GaussianHead, psi_from_flame

__all__ = ["RendererConfig", "RendererTrainer"]

_JAW = slice(6, 9)  # the jaw's axis-angle inside FLAME's (15,) pose vector


@dataclass
class RendererConfig:
    """Everything that defines a training run (stored in every checkpoint).

    Learning rates follow 3DGS's proportions; positions are in metres (a head is ~0.2 m).
    The three switches are the ablations of Table 3.
    """

    steps: int = 3000
    gaussians_per_triangle: int = 1
    sh_degree: int = 1
    latent_dim: int = 16
    blendshapes: bool = True
    finetune_flame: bool = True
    semantic: bool = True
    lr_means: float = 2e-4
    lr_quats: float = 2e-3
    lr_scales: float = 5e-3
    lr_opacity: float = 5e-2
    lr_sh_dc: float = 5e-3
    lr_sh_rest: float = 2.5e-4
    lr_eta: float = 5e-3
    lr_blendshapes: float = 1e-3
    lr_mlp: float = 1e-3
    lr_flame_expression: float = 1e-3
    lr_flame_pose: float = 1e-4
    lr_flame_translation: float = 1e-5
    init_opacity: float = 0.7
    losses: LossWeights = field(default_factory=LossWeights)
    density: DensityConfig = field(
        default_factory=lambda: DensityConfig(
            refine_start=200,
            refine_every=200,
            refine_stop=2400,
            reset_every=0,
            clone_max_size=0.003,
            max_gaussians=40_000,
        )
    )
    val_every: int = 250
    val_frames: int = 6
    seed: int = 0
    backend: str = "auto"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "RendererConfig":
        values = dict(values)
        values["losses"] = LossWeights(**values["losses"])
        values["density"] = DensityConfig(**values["density"])
        return cls(**values)


class RendererTrainer:
    """Trains a :class:`GaussianHead` on a :class:`~talkinghead_edu.data.VideoDataset`.

    Args:
        video: the target speaker's video (frames, labels, face masks, cameras, tracked FLAME).
        flame: the FLAME-compatible head model (:func:`talkinghead_edu.flame.load_head_model`).
        config: :class:`RendererConfig`.
        device: where to train (``"cpu"``; on CUDA ``backend="auto"`` picks gsplat).

    Example:
        >>> trainer = RendererTrainer(video, flame, RendererConfig(steps=500))
        >>> trainer.train(checkpoint_path="head.safetensors")
        >>> trainer.evaluate("test")
    """

    def __init__(self, video, flame, config: RendererConfig | None = None, device: str | torch.device = "cpu"):
        self.config = config or RendererConfig()
        self.device = torch.device(device)
        self.video = video
        self.flame = flame.to(self.device)
        if flame.face_labels is None and self.config.semantic:
            raise ValueError(
                "the semantic loss needs a head model with face_labels; pass semantic=False or a labelled model"
            )
        if video.face_mask is None:
            raise ValueError(
                f"video {video.speaker!r} has no face masks; the training composite (eq 19) needs the mask M"
            )
        params = video.flame_tracked.resized(flame.n_shape, flame.n_expr)
        self.tracked = {k: v.to(self.device) for k, v in params.tensors(device=self.device).items()}
        truth = video.flame_true.resized(flame.n_shape, flame.n_expr) if video.flame_true is not None else None
        self.truth = (
            truth.tensors(device=self.device) if truth is not None else None
        )  # evaluation only (the oracle row)
        self.num_frames = self.tracked["expression"].shape[0]
        self.K = torch.as_tensor(video.K, dtype=torch.float32, device=self.device)
        self.viewmats = torch.as_tensor(video.viewmats, dtype=torch.float32, device=self.device)
        self.train_frames = np.asarray(video.splits["train"])
        self.step = 0
        self.history: dict[str, list] = {
            "step": [],
            "loss": [],
            "l1": [],
            "ssim": [],
            "attr": [],
            "seg": [],
            "num_gaussians": [],
            "val_step": [],
            "val_psnr": [],
            "seconds": [],
        }
        torch.manual_seed(self.config.seed)
        self.head = GaussianHead(
            self.flame.faces,
            psi_dim=3 + flame.n_expr,
            gaussians_per_triangle=self.config.gaussians_per_triangle,
            sh_degree=self.config.sh_degree,
            latent_dim=self.config.latent_dim,
            init_opacity=self.config.init_opacity,
            init_rgb=self._initial_colors(),
            seed=self.config.seed,
            device=self.device,
        )
        self.flame_offsets = nn.ParameterDict(
            {
                "expression": torch.zeros(self.num_frames, flame.n_expr),
                "pose": torch.zeros(self.num_frames, 15),
                "translation": torch.zeros(self.num_frames, 3),
            }
        ).to(self.device)
        self.density = DensityController(self.config.density)
        self.optimizer = self._make_optimizer()

    # ------------------------------------------------------------------ setup
    @torch.no_grad()
    def _initial_colors(self) -> torch.Tensor:
        """``(F, 3)`` colour per triangle: the first training frame's pixel under its centroid."""
        index = int(self.train_frames[0])
        vertices = self.flame(**{k: v[index : index + 1] for k, v in self.tracked.items()}).vertices[0]
        centroids = vertices[self.flame.faces].mean(1)
        pixels = project_points(centroids, self.K, self.viewmats[index]).round().long()
        pixels[:, 0].clamp_(0, self.video.width - 1)
        pixels[:, 1].clamp_(0, self.video.height - 1)
        frame = self.video.frame(index, device=self.device)
        return frame[pixels[:, 1], pixels[:, 0]].cpu()

    def _param_groups(self) -> list[tuple[str, nn.Parameter, float]]:
        c = self.config
        rates = {
            "local_means": c.lr_means,
            "local_quats": c.lr_quats,
            "local_log_scales": c.lr_scales,
            "opacity_logits": c.lr_opacity,
            "sh_dc": c.lr_sh_dc,
            "sh_rest": c.lr_sh_rest,
            "eta_logits": c.lr_eta,
        }
        if c.blendshapes:
            rates.update(bs_pos=c.lr_blendshapes, bs_rot=c.lr_blendshapes, bs_color=c.lr_blendshapes)
        groups = [(f"gaussian/{name}", self.head.gaussian_params[name], lr) for name, lr in rates.items()]
        if c.blendshapes:
            groups += [(f"mlp/{name}", p, c.lr_mlp) for name, p in self.head.latent_mlp.named_parameters()]
        if c.finetune_flame:
            flame_rates = {
                "expression": c.lr_flame_expression,
                "pose": c.lr_flame_pose,
                "translation": c.lr_flame_translation,
            }
            groups += [(f"flame/{name}", self.flame_offsets[name], lr) for name, lr in flame_rates.items()]
        return groups

    def _make_optimizer(self) -> torch.optim.Adam:
        groups = self._param_groups()
        self.group_names = [name for name, _, _ in groups]
        # fused: one kernel per group for all of Adam's updates (2.3x faster than the default per-op loop on a
        # 14k-Gaussian head, ~6 % of a training step); CPU and CUDA only
        fused = all(p.device.type in ("cpu", "cuda") for _, p, _ in groups)
        groups = [{"params": [p], "lr": lr, "name": name} for name, p, lr in groups]
        return torch.optim.Adam(groups, eps=1e-15, fused=fused)

    # ------------------------------------------------------------------ forward
    def flame_inputs(
        self, frames: torch.Tensor, finetuned: bool = True, truth: bool = False
    ) -> dict[str, torch.Tensor]:
        """Tracked FLAME parameters of ``frames (B,)`` plus, if ``finetuned``, their learned corrections.

        Corrections exist for training frames when fine-tuning is on, and for any frame that
        :meth:`refine_tracking` has seen; they are zero elsewhere. ``truth=True`` returns the
        dataset's true parameters instead (evaluation only: the oracle a perfect tracker would give).
        """
        if truth:
            if self.truth is None:
                raise ValueError(f"video {self.video.speaker!r} has no true FLAME parameters (real videos never do)")
            return {k: v[frames] for k, v in self.truth.items()}
        inputs = {k: v[frames] for k, v in self.tracked.items()}
        if finetuned:
            for name in ("expression", "pose", "translation"):
                inputs[name] = inputs[name] + self.flame_offsets[name][frames]
        return inputs

    def render_frame(
        self,
        index: int,
        finetuned: bool = True,
        with_semantics: bool = False,
        offsets: dict[str, torch.Tensor] | None = None,
        truth: bool = False,
    ):
        """Render frame ``index``; returns ``(render_output, bound_gaussians, flame_output, composite)``.

        ``composite`` is the ``(H, W, 3)`` paste of the render into the frame (step 5 above).
        ``offsets`` (``{"pose": (15,), "translation": (3,), "expression": (E,)}``) replaces the
        stored corrections of this frame (used by :meth:`refine_tracking`); ``truth`` renders
        with the true FLAME parameters (see :meth:`flame_inputs`).
        """
        frames = torch.tensor([index], device=self.device)
        inputs = self.flame_inputs(frames, finetuned and offsets is None, truth)
        if offsets is not None:
            inputs.update({name: inputs[name] + value[None] for name, value in offsets.items()})
        flame_out = self.flame(**inputs)
        psi = psi_from_flame(inputs["pose"][:, _JAW], inputs["expression"]) if self.config.blendshapes else None
        bound = self.head(flame_out.vertices, psi)
        camera = Camera(K=self.K, viewmat=self.viewmats[index], width=self.video.width, height=self.video.height)
        features = gaussian_label_colors(self.flame.face_labels, self.head.triangle_ids) if with_semantics else None
        out = render(bound.frame(0), camera, backend=self.config.backend, bg=None, features=features)
        original = self.video.frame(index, device=self.device)
        outside = (1.0 - torch.as_tensor(self.video.face_mask[index], device=self.device).float()).unsqueeze(-1)
        composite = out.image + (1.0 - out.alpha) * outside * original
        return out, bound, flame_out, composite

    # ------------------------------------------------------------------ training
    def train(
        self,
        steps: int | None = None,
        checkpoint_path: str | Path | None = None,
        checkpoint_every: int = 500,
        progress: bool = True,
        callback=None,
    ) -> dict:
        """Train until ``steps`` (default ``config.steps``) total steps; resumable.

        Args:
            steps: the target total step count (a resumed trainer continues from ``self.step``).
            checkpoint_path: if given, a checkpoint is written there every ``checkpoint_every``
                steps and at the end (atomically).
            callback: ``callback(trainer)`` after every validation (e.g. to update a live plot).

        Returns:
            :attr:`history`.
        """
        from tqdm.auto import tqdm

        target = self.config.steps if steps is None else steps
        cfg = self.config
        start_time = time.perf_counter() - (self.history["seconds"][-1] if self.history["seconds"] else 0.0)
        bar = tqdm(total=target, initial=self.step, desc="training Gaussian head", disable=not progress)
        while self.step < target:
            self.step += 1
            generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + self.step)
            index = int(self.train_frames[torch.randint(len(self.train_frames), (1,), generator=generator).item()])
            out, bound, _, composite = self.render_frame(index, with_semantics=cfg.semantic)
            target_image = self.video.frame(index, device=self.device)
            semantic, labels = None, None
            if cfg.semantic:
                labels = torch.as_tensor(self.video.labels[index], device=self.device).long()
                outside = (1.0 - torch.as_tensor(self.video.face_mask[index], device=self.device).float()).unsqueeze(-1)
                semantic = out.features + (1.0 - out.alpha) * outside * label_map_colors(
                    labels
                )  # eq 22 pasted like the image
            loss, terms = renderer_loss(
                composite,
                target_image,
                bound.local_means,
                self.head.gaussian_params["local_log_scales"],
                cfg.losses,
                semantic,
                labels,
            )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            with torch.no_grad():  # keep the quaternions near unit length
                self.head.gaussian_params["local_quats"].div_(
                    self.head.gaussian_params["local_quats"].norm(dim=-1, keepdim=True).clamp_min(1e-8)
                )
            self.density.accumulate(out.means2d, out.visible, self.video.width, self.video.height)
            self.density.step(self.step, self.head, self.optimizer, bound.log_scales[0].detach(), generator)
            self._log(terms, float(loss.detach()), time.perf_counter() - start_time)
            bar.update(1)
            bar.set_postfix(loss=f"{float(loss.detach()):.4f}", N=self.head.num_gaussians)
            if cfg.val_every and (self.step % cfg.val_every == 0 or self.step == target):
                value = self.evaluate("val", max_frames=cfg.val_frames)["psnr"]
                self.history["val_step"].append(self.step)
                self.history["val_psnr"].append(value)
                bar.set_postfix(loss=f"{float(loss.detach()):.4f}", N=self.head.num_gaussians, val_psnr=f"{value:.2f}")
                if callback is not None:
                    callback(self)
            if checkpoint_path is not None and (self.step % checkpoint_every == 0 or self.step == target):
                self.save(checkpoint_path)
        bar.close()
        return self.history

    def refine_tracking(
        self,
        frames,
        steps: int = 30,
        lr_pose: float = 3e-3,
        lr_translation: float = 3e-4,
        lr_expression: float = 0.0,
        progress: bool = True,
    ) -> dict[str, float]:
        """Photometric tracking refinement of ``frames`` with the Gaussian head frozen.

        A face tracker runs on every frame of the video, held-out ones included, before any
        avatar is trained; its last stage usually fits the head pose to the image
        photometrically. This is that stage, with the trained head as the appearance model:
        per frame, ``steps`` Adam steps on the corrections of the global, neck and jaw
        rotations and the translation (and the expression if ``lr_expression > 0``) minimise
        ``L_rgb`` (eq 20) of the pasted render against the frame. Nothing of the head
        (positions, colours, blendshapes) changes, so no appearance is learned from the frames.
        The corrections are stored like the training frames' fine-tuning and used by
        :meth:`evaluate` ``(tracking="refined")``.

        Args:
            frames: ``(n,)`` frame indices.
            steps: optimisation steps per frame.
            lr_pose, lr_translation, lr_expression: Adam step sizes (radians, metres, coefficients).

        Returns:
            ``{"loss_before", "loss_after"}``: mean ``L_rgb`` over the frames before/after.
        """
        from tqdm.auto import tqdm

        weights = self.config.losses
        # the head and the stored corrections stay fixed (the corrections are updated by hand below)
        frozen = [p for p in [*self.head.parameters(), *self.flame_offsets.parameters()] if p.requires_grad]
        for param in frozen:
            param.requires_grad_(False)
        before, after = [], []
        try:
            for index in tqdm([int(i) for i in frames], desc="refining tracking", disable=not progress):
                target = self.video.frame(index, device=self.device)
                pose = torch.zeros(9, device=self.device, requires_grad=True)  # global, neck, jaw (axis-angle)
                translation = torch.zeros(3, device=self.device, requires_grad=True)
                expression = torch.zeros(self.flame.n_expr, device=self.device, requires_grad=lr_expression > 0)
                groups = [{"params": [pose], "lr": lr_pose}, {"params": [translation], "lr": lr_translation}]
                if lr_expression > 0:
                    groups.append({"params": [expression], "lr": lr_expression})
                optimizer = torch.optim.Adam(groups)
                start = {
                    name: self.flame_offsets[name][index].detach().clone()
                    for name in ("pose", "translation", "expression")
                }
                for step in range(steps + 1):
                    extra = {
                        "pose": torch.cat([pose, torch.zeros(6, device=self.device)]),
                        "translation": translation,
                        "expression": expression,
                    }
                    composite = self.render_frame(index, offsets={name: start[name] + extra[name] for name in start})[3]
                    loss = weights.l1 * l1_loss(composite, target) + weights.ssim * ssim_loss(
                        composite, target
                    )  # eq 20
                    if step == 0:
                        before.append(float(loss.detach()))
                    if step == steps:
                        after.append(float(loss.detach()))
                        break
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                with torch.no_grad():
                    self.flame_offsets["pose"][index, :9] += pose
                    self.flame_offsets["translation"][index] += translation
                    self.flame_offsets["expression"][index] += expression
        finally:
            for param in frozen:
                param.requires_grad_(True)
        return {"loss_before": float(np.mean(before)), "loss_after": float(np.mean(after))}

    def _log(self, terms: dict, loss: float, seconds: float) -> None:
        h = self.history
        h["step"].append(self.step)
        h["loss"].append(loss)
        for name in ("l1", "ssim", "attr", "seg"):
            h[name].append(terms.get(name, float("nan")))
        h["num_gaussians"].append(self.head.num_gaussians)
        h["seconds"].append(seconds)

    # ------------------------------------------------------------------ evaluation
    def split_frames(self, split: str, max_frames: int | None = None) -> np.ndarray:
        """Frame indices of ``split``, thinned evenly to at most ``max_frames``."""
        if split not in self.video.splits:
            raise ValueError(f"unknown split {split!r}; expected one of {sorted(self.video.splits)}")
        frames = np.asarray(self.video.splits[split])
        if max_frames is not None and len(frames) > max_frames:
            frames = frames[np.linspace(0, len(frames) - 1, max_frames).round().astype(int)]
        return frames

    @torch.no_grad()
    def evaluate(self, split: str = "test", max_frames: int | None = None, tracking: str = "auto") -> dict:
        """PSNR / SSIM of the pasted render vs. the frames, PSNR inside the face mask, and LMD.

        ``tracking`` picks the FLAME parameters: ``"tracked"`` the tracker's, ``"refined"`` the
        tracker's plus the stored corrections (fine-tuning for training frames,
        :meth:`refine_tracking` for held-out ones), ``"auto"`` refined for the train split and
        tracked otherwise, ``"true"`` the dataset's true parameters (an oracle upper bound).

        LMD is the mean pixel distance between the 68 landmarks of the mesh that drives the
        Gaussians, projected, and the dataset's true 2-D landmarks.

        Returns:
            ``{"psnr", "ssim", "psnr_face", "lmd", "frames"}`` (means over the frames).
        """
        if tracking not in ("auto", "tracked", "refined", "true"):
            raise ValueError(f"tracking must be 'auto', 'tracked', 'refined' or 'true', got {tracking!r}")
        refined = tracking == "refined" or (tracking == "auto" and split == "train")
        frames = self.split_frames(split, max_frames)
        scores = {"psnr": [], "ssim": [], "psnr_face": [], "lmd": []}
        for index in frames:
            index = int(index)
            _, _, flame_out, composite = self.render_frame(index, finetuned=refined, truth=tracking == "true")
            image = composite.clamp(0.0, 1.0)
            truth = self.video.frame(index, device=self.device)
            mask = torch.as_tensor(self.video.face_mask[index], device=self.device)
            scores["psnr"].append(float(psnr(image, truth)))
            scores["ssim"].append(float(ssim(image, truth)))
            scores["psnr_face"].append(float(psnr(image, truth, mask=mask)))
            if self.video.landmarks2d is not None and flame_out.landmarks.shape[1] == self.video.landmarks2d.shape[1]:
                predicted = project_points(flame_out.landmarks[0], self.K, self.viewmats[index])
                scores["lmd"].append(
                    float(
                        landmark_distance(predicted, torch.as_tensor(self.video.landmarks2d[index], device=self.device))
                    )
                )
        summary = {name: float(np.mean(values)) if values else float("nan") for name, values in scores.items()}
        summary["frames"] = len(frames)
        return summary

    # ------------------------------------------------------------------ checkpoints
    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Everything needed to resume: model, FLAME corrections and Adam moments."""
        tensors = {f"gaussian/{k}": v for k, v in self.head.gaussian_params.items()}
        tensors["triangle_ids"] = self.head.triangle_ids
        tensors.update({f"mlp/{k}": v for k, v in self.head.latent_mlp.state_dict().items()})
        tensors.update({f"flame/{k}": v for k, v in self.flame_offsets.items()})
        for name, group in zip(self.group_names, self.optimizer.param_groups):
            for key, value in self.optimizer.state.get(group["params"][0], {}).items():
                tensors[f"adam/{name}/{key}"] = torch.as_tensor(value)
        if self.density.grad_sum is not None:
            tensors["density/grad_sum"], tensors["density/seen"] = self.density.grad_sum, self.density.seen
        return tensors

    def save(self, path: str | Path) -> Path:
        """Write a resumable checkpoint atomically (safetensors + JSON metadata)."""
        meta = {
            "step": self.step,
            "config": self.config.to_dict(),
            "history": self.history,
            "density_history": self.density.history,
            "speaker": self.video.speaker,
            "num_frames": self.num_frames,
            "resolution": [self.video.height, self.video.width],
        }
        return save_checkpoint(path, self.state_tensors(), meta)

    @classmethod
    def load(cls, path: str | Path, video, flame, device: str | torch.device = "cpu") -> "RendererTrainer":
        """Rebuild a trainer from :meth:`save`'s file and continue where it stopped."""
        tensors, meta = load_checkpoint(path, device=device)
        expected = {"speaker": video.speaker, "num_frames": video.num_frames, "resolution": [video.height, video.width]}
        for key, value in expected.items():
            if meta.get(key) != value:
                raise CheckpointError(
                    f"checkpoint {path} was trained with {key} = {meta.get(key)!r}, but this video has {value!r}"
                )
        with checkpoint_contents(path, "Gaussian-head training state"):
            trainer = cls(video, flame, RendererConfig.from_dict(meta["config"]), device=device)
            trainer.head.load_tensors(tensors, source=f"checkpoint {path}")
            n = trainer.head.num_gaussians
            with torch.no_grad():
                for name, param in trainer.flame_offsets.items():
                    param.copy_(tensors[f"flame/{name}"])
            trainer.optimizer = trainer._make_optimizer()
            for name, group in zip(trainer.group_names, trainer.optimizer.param_groups):
                state = {key.split("/")[-1]: value for key, value in tensors.items() if key.startswith(f"adam/{name}/")}
                param = group["params"][0]
                for key, value in state.items():
                    if key != "step" and value.shape != param.shape:
                        raise CheckpointError(
                            f"checkpoint {path}: Adam state 'adam/{name}/{key}' has shape {tuple(value.shape)}, "
                            f"expected {tuple(param.shape)} like the parameter"
                        )
                if state:
                    trainer.optimizer.state[param] = state
            trainer.step = int(meta["step"])
            trainer.history = {k: list(v) for k, v in meta["history"].items()}
            trainer.density.history = list(meta.get("density_history", []))
            if "density/grad_sum" in tensors:
                grad_sum, seen = tensors["density/grad_sum"], tensors["density/seen"]
                if grad_sum.shape[0] != n or seen.shape[0] != n:
                    raise CheckpointError(
                        f"checkpoint {path}: density statistics have {grad_sum.shape[0]}/{seen.shape[0]} rows, "
                        f"expected N = {n}"
                    )
                trainer.density.grad_sum, trainer.density.seen = grad_sum, seen
        return trainer
