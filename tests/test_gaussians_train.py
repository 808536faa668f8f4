"""The renderer training loop on a tiny scene: a small FLAME-layout sphere head and a
32×32 "video" rendered from a teacher Gaussian head with known colours."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from talkinghead_edu.data.video_dataset import VideoDataset
from talkinghead_edu.flame import FlameModel, FlameParams
from talkinghead_edu.gaussians import GaussianHead
from talkinghead_edu.gaussians.density import DensityConfig
from talkinghead_edu.gaussians.losses import LossWeights, gaussian_label_colors
from talkinghead_edu.gaussians.train import RendererConfig, RendererTrainer
from talkinghead_edu.render import Camera, render
from talkinghead_edu.render.camera import project_points
from talkinghead_edu.semantics import LABEL_COLORS

SIZE = 32
N_FRAMES = 8


def sphere_flame(rings: int = 6, segments: int = 10) -> FlameModel:
    """A 0.1 m sphere in FLAME's layout: lower half skinned to the jaw, labels skin/lips."""
    verts = [[0.0, 0.1, 0.0]]
    for i in range(1, rings):
        theta = math.pi * i / rings
        for j in range(segments):
            phi = 2 * math.pi * j / segments
            verts.append(
                [0.1 * math.sin(theta) * math.sin(phi), 0.1 * math.cos(theta), 0.1 * math.sin(theta) * math.cos(phi)]
            )
    verts.append([0.0, -0.1, 0.0])
    verts = np.array(verts, np.float32)
    faces = []
    for j in range(segments):
        faces.append([0, 1 + (j + 1) % segments, 1 + j][::-1])
    for i in range(rings - 2):
        for j in range(segments):
            a, b = 1 + i * segments + j, 1 + i * segments + (j + 1) % segments
            c, d = a + segments, b + segments
            faces += [[a, c, b], [b, c, d]]
    last = len(verts) - 1
    for j in range(segments):
        base = 1 + (rings - 2) * segments
        faces.append([base + j, last, base + (j + 1) % segments])
    faces = np.array(faces, np.int64)
    v = len(verts)
    rng = np.random.default_rng(0)
    shapedirs = (0.005 * rng.standard_normal((v, 3, 4))).astype(np.float32)  # 2 shape + 2 expression
    lower = verts[:, 1] < -0.02
    weights = np.zeros((v, 5), np.float32)
    weights[~lower, 0] = 1.0
    weights[lower, 2] = 1.0
    regressor = np.full((5, v), 1.0 / v, np.float32)
    centroid_y = verts[faces].mean(1)[:, 1]
    labels = np.where(centroid_y < -0.03, 2, 1).astype(np.uint8)
    return FlameModel(
        verts,
        faces,
        shapedirs,
        2,
        np.zeros((v, 3, 36), np.float32),
        regressor,
        weights,
        np.array([-1, 0, 1, 1, 1]),
        face_labels=labels,
    )


def teacher_video(flame: FlameModel) -> tuple[VideoDataset, GaussianHead]:
    """The toy video and the teacher head that drew it."""
    generator = torch.Generator().manual_seed(0)
    expression = 1.5 * torch.randn(N_FRAMES, 2, generator=generator)
    pose = torch.zeros(N_FRAMES, 15)
    pose[:, 6] = 0.15 * torch.rand(N_FRAMES, generator=generator)  # jaw opening
    translation = torch.zeros(N_FRAMES, 3)
    camera = Camera.look_at((0.0, 0.0, 0.5), (0.0, 0.0, 0.0), fov_y_deg=30.0, width=SIZE, height=SIZE)
    teacher = GaussianHead(
        flame.faces,
        psi_dim=5,
        gaussians_per_triangle=3,
        init_opacity=0.9,
        init_rgb=torch.rand(len(flame.faces), 3, generator=generator),
        seed=1,
    )
    with torch.no_grad():
        teacher.gaussian_params["local_log_scales"].fill_(-0.7)
    frames, labels, masks = [], [], []
    background = torch.tensor([0.2, 0.3, 0.4])
    with torch.no_grad():
        vertices = flame(expression=expression, pose=pose).vertices
        for t in range(N_FRAMES):
            g = teacher(vertices[t : t + 1]).frame(0)
            out = render(
                g,
                camera,
                backend="reference",
                bg=background,
                features=gaussian_label_colors(flame.face_labels, teacher.triangle_ids),
            )
            frames.append((out.image.clamp(0, 1) * 255).round().byte().numpy())
            palette = torch.as_tensor(LABEL_COLORS)
            feature = out.features / out.alpha.clamp_min(1e-6)
            label = ((feature.unsqueeze(2) - palette) ** 2).sum(-1).argmin(-1)
            label[out.alpha[..., 0] < 0.5] = 0
            labels.append(label.byte().numpy())
            masks.append(label.numpy() > 0)
    landmarks = np.zeros((N_FRAMES, 0, 2), np.float32)
    params = FlameParams(
        expression=expression.numpy(), pose=pose.numpy(), translation=translation.numpy(), shape=np.zeros(2, np.float32)
    )
    video = VideoDataset(
        speaker="toy",
        fps=25,
        height=SIZE,
        width=SIZE,
        labels=np.stack(labels),
        face_mask=np.stack(masks),
        K=camera.K.numpy(),
        viewmats=camera.viewmat.expand(N_FRAMES, 4, 4).numpy().copy(),
        flame_tracked=params,
        flame_true=params,
        landmarks2d=landmarks,
        audio=None,
        splits={"train": np.arange(0, 6), "val": np.arange(6, 7), "test": np.arange(7, 8)},
        meta={},
    )
    video._frames = np.stack(frames)
    video.frame_paths = [None] * N_FRAMES
    return video, teacher


@pytest.fixture(scope="module")
def scene():
    torch.manual_seed(0)
    flame = sphere_flame()
    return flame, teacher_video(flame)[0]


def small_config(**overrides) -> RendererConfig:
    values = dict(
        steps=40,
        sh_degree=0,
        latent_dim=4,
        val_every=20,
        val_frames=1,
        backend="fast",
        init_opacity=0.5,
        lr_means=1e-3,
        lr_sh_dc=2e-2,
        losses=LossWeights(eps_position=0.02),
        density=DensityConfig(
            refine_start=5,
            refine_every=10,
            refine_stop=30,
            reset_every=0,
            grad_threshold=1e-4,
            clone_max_size=0.02,
            prune_max_size=1.0,
        ),
    )
    values.update(overrides)
    return RendererConfig(**values)


def test_project_points_matches_the_camera():
    K = torch.tensor([[100.0, 0, 16], [0, 100.0, 16], [0, 0, 1]])
    viewmat = torch.eye(4)
    viewmat[2, 3] = 1.0
    pixels = project_points(torch.tensor([[0.1, -0.05, 0.0]]), K, viewmat)
    torch.testing.assert_close(pixels, torch.tensor([[26.0, 11.0]]))


def test_training_improves_psnr_densifies_and_resumes_exactly(scene, tmp_path):
    flame, video = scene
    trainer = RendererTrainer(video, flame, small_config())
    before = trainer.evaluate("train")
    trainer.train(steps=15, checkpoint_path=tmp_path / "head.safetensors", checkpoint_every=15, progress=False)
    resumed = RendererTrainer.load(tmp_path / "head.safetensors", video, flame)
    assert resumed.step == 15 and resumed.head.num_gaussians == trainer.head.num_gaussians
    trainer.train(steps=40, progress=False)
    resumed.train(steps=40, progress=False)
    after = trainer.evaluate("train")
    # 40 steps on 6 frames: a clear improvement of the pasted render (deterministic run)
    assert after["psnr"] > before["psnr"] + 2.0, (before, after)
    assert after["psnr_face"] > before["psnr_face"] + 2.0
    assert trainer.history["loss"][-10:] and np.mean(trainer.history["loss"][-10:]) < np.mean(
        trainer.history["loss"][:10]
    )
    assert trainer.density.history, "density control should have run"
    assert trainer.history["val_step"] == [15, 20, 40]  # every val_every steps and at the end of each train() call
    # every triangle keeps at least one Gaussian; children stay on their parents' triangles
    assert set(trainer.head.triangle_ids.tolist()) == set(range(len(flame.faces)))
    # resuming from the checkpoint reproduces the uninterrupted run
    for name, param in trainer.head.gaussian_params.items():
        torch.testing.assert_close(resumed.head.gaussian_params[name], param, atol=1e-5, rtol=1e-4, msg=name)
    torch.testing.assert_close(
        resumed.flame_offsets["expression"], trainer.flame_offsets["expression"], atol=1e-6, rtol=1e-4
    )


def test_ablation_switches_change_what_is_trained(scene):
    flame, video = scene
    plain = RendererTrainer(video, flame, small_config(blendshapes=False, finetune_flame=False, semantic=False))
    names = set(plain.group_names)
    assert not any(n.startswith(("mlp/", "flame/")) for n in names) and "gaussian/bs_pos" not in names
    plain.train(steps=5, progress=False)
    assert torch.count_nonzero(plain.flame_offsets["expression"]) == 0
    assert all(math.isnan(v) for v in plain.history["seg"])
    full = RendererTrainer(video, flame, small_config())
    full.train(steps=5, progress=False)
    assert torch.count_nonzero(full.flame_offsets["expression"]) > 0
    assert not math.isnan(full.history["seg"][-1])


def test_errors_are_clear(scene, tmp_path):
    flame, video = scene
    trainer = RendererTrainer(video, flame, small_config())
    with pytest.raises(ValueError, match="unknown split"):
        trainer.evaluate("holdout")
    with pytest.raises(FileNotFoundError):
        RendererTrainer.load(tmp_path / "missing.safetensors", video, flame)


def test_checkpoint_of_another_video_is_refused(scene, tmp_path):
    flame, video = scene
    trainer = RendererTrainer(video, flame, small_config())
    trainer.save(tmp_path / "head.safetensors")
    shorter = teacher_video(flame)[0]
    shorter.frame_paths = shorter.frame_paths[:-1]
    with pytest.raises(ValueError, match="num_frames"):
        RendererTrainer.load(tmp_path / "head.safetensors", shorter, flame)


def test_refine_tracking_recovers_a_pose_error_with_the_head_frozen():
    torch.manual_seed(0)
    flame = sphere_flame()
    video, teacher = teacher_video(flame)
    truth = video.flame_tracked
    tracked = FlameParams(
        expression=truth.expression, pose=truth.pose.copy(), translation=truth.translation.copy(), shape=truth.shape
    )
    tracked.translation[7] += [0.015, -0.010, 0.0]  # the tracker is 18 mm (~2 px) off on the test frame
    video = dataclasses.replace(video, flame_tracked=tracked)
    trainer = RendererTrainer(video, flame, small_config(blendshapes=False))
    trainer.head = teacher  # a perfect appearance model: only the placement is wrong
    head_before = {k: v.detach().clone() for k, v in teacher.gaussian_params.items()}
    tracked_scores = trainer.evaluate("test", tracking="tracked")
    # a sphere's rotations are nearly invisible, so this toy refines the translation only (lr_pose = 0)
    losses = trainer.refine_tracking([7], steps=60, lr_pose=0.0, lr_translation=1e-3, progress=False)
    refined_scores = trainer.evaluate("test", tracking="refined")
    assert losses["loss_after"] < 0.5 * losses["loss_before"]
    assert refined_scores["psnr"] > tracked_scores["psnr"] + 5.0, (tracked_scores, refined_scores)
    assert (
        trainer.evaluate("test", tracking="true")["psnr"] > tracked_scores["psnr"] + 5.0
    )  # the oracle: true parameters
    corrected = tracked.translation[7] + trainer.flame_offsets["translation"][7].detach().numpy()
    assert np.linalg.norm(corrected - truth.translation[7]) < 0.3 * np.linalg.norm(
        tracked.translation[7] - truth.translation[7]
    )
    for name, value in teacher.gaussian_params.items():  # the head is untouched and trainable again
        torch.testing.assert_close(value, head_before[name], msg=name)
        assert value.requires_grad
    assert torch.count_nonzero(trainer.flame_offsets["expression"][7]) == 0  # lr_expression = 0: expression kept
    with pytest.raises(ValueError, match="tracking must be"):
        trainer.evaluate("test", tracking="oracle")
