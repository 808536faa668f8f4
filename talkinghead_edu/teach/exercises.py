"""The course's exercises: a registry by id (``"06.2"``), with revealable hints and tested solutions.

Every exercise of notebooks 00–09 is written in two cells: a stub that raises
``NotImplementedError("Exercise 06.2: ...")``, then ::

    composite_backward = th.teach.check("06.2", my_composite_backward, solved=SOLVE_EXERCISES)

:func:`check` grades the learner's function with the exercise's self-check (expected vs got
on small random cases, see :mod:`~talkinghead_edu.teach.checks`) and **never raises**: an
unsolved, wrong or crashing answer prints what is wrong and returns the library's version so
that Run All continues. ``th.teach.hint("06.2", level)`` reveals hints one by one,
``th.teach.solution("06.2")`` prints the solution's source, and ``solved=True`` (the
notebooks' ``SOLVE_EXERCISES`` parameter) grades the package's solution instead — the test
suite runs every notebook both ways.

The solutions below are written from the equations, independently of the library functions
their checks compare with (``tests/test_exercises.py`` runs every solution through its check).
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy.linalg
import torch
from scipy.signal import resample_poly

from ..audio.features import frame_context, frame_index_of_time, log_mel, mel_filter_bank, video_frame_chunks
from ..conventions import SAMPLE_RATE, SAMPLES_PER_FRAME
from ..data.video_dataset import face_mask_from_labels
from ..decoupling import info_nce
from ..eval.lse import sync_scores
from ..eval.metrics import landmark_distance, psnr
from ..eval.perceptual import frechet_distance
from ..flame import lbs
from ..gaussians.losses import attribute_loss, semantic_loss
from ..inpaint import blend
from ..motion import fuse_identity, latent_consistency_loss, smoothness_loss
from ..pipeline import ping_pong
from ..render.camera import project_points
from ..render.projection import conic_from_covariance_2d
from ..semantics import LABEL_COLORS, LABEL_IDS
from . import checks
from .checks._core import exercise_or_library

KINDS = ("derive-and-implement", "predict-then-run", "break-it-and-explain")


@dataclass(frozen=True)
class Exercise:
    """One exercise.

    Attributes:
        id: ``"NN.k"``: notebook NN, k-th exercise.
        title: one line, shown in messages.
        kind: one of :data:`KINDS`.
        check: ``check(fn) -> True`` or raises :class:`~talkinghead_edu.teach.checks.CheckFailed`.
        library: the package's function with the exercise's signature (what the notebook goes on with).
        solution: a from-scratch answer (must pass ``check``).
        hints: increasingly explicit hints; the last one nearly gives the answer away.
    """

    id: str
    title: str
    kind: str
    check: Callable[[Callable], bool]
    library: Callable
    solution: Callable
    hints: tuple[str, ...]


# --------------------------------------------------------------------------------------------
# 00 · tour
# --------------------------------------------------------------------------------------------


def solve_projection(points_world: torch.Tensor, K: torch.Tensor, viewmat: torch.Tensor) -> torch.Tensor:
    """``(N, 3)`` world points -> ``(N, 2)`` pixels (OpenCV pinhole)."""
    camera = points_world @ viewmat[:3, :3].T + viewmat[:3, 3]  # x_c = R x + t
    homogeneous = camera @ K.T  # (N, 3) = (K x_c)ᵀ
    return homogeneous[:, :2] / homogeneous[:, 2:3]


def solve_face_mask(labels) -> np.ndarray:
    """``(H, W)`` label ids -> ``(H, W)`` bool: the mask M of eq 19 (head regions, not neck/torso or background)."""
    head = [LABEL_IDS[name] for name in ("skin", "lips", "teeth", "mouth_interior", "eyes", "eyebrows", "hair")]
    return np.isin(np.asarray(labels), head)


def solve_blend(F: Callable, gaussian_image: torch.Tensor, original: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Eq 19 on ``(B, H, W, 3)`` images and ``(B, H, W)`` masks."""
    m = mask[..., None]
    pasted = (gaussian_image + (1 - m) * original).clamp(0, 1)  # the input of F
    return (1 - m) * original + m * F(pasted, mask)


# --------------------------------------------------------------------------------------------
# 01 · audio features
# --------------------------------------------------------------------------------------------


def solve_log_mel(waveform: torch.Tensor) -> torch.Tensor:
    """``(L,)`` waveform -> ``(1 + L // 160, 80)`` natural-log mel power (25 ms Hann window, 10 ms hop, centred)."""
    padded = torch.nn.functional.pad(waveform, (200, 200))  # centred frames: frame j is centred at sample 160 j
    frames = padded.unfold(0, 400, 160) * torch.hann_window(400, dtype=waveform.dtype)  # (F, 400)
    power = torch.fft.rfft(frames, dim=-1).abs() ** 2  # (F, 201)
    mel = power @ mel_filter_bank(n_fft=400, n_mels=80).T.to(power.dtype)  # (F, 80)
    return torch.log(mel.clamp_min(1e-10))


def solve_frame_index(seconds: torch.Tensor) -> torch.Tensor:
    """``(N,)`` times in seconds -> ``(N,)`` 25 fps frame indices, robust to round-off at frame boundaries."""
    return torch.floor(seconds * 25 + 1e-6).long()


def solve_frame_context(features: torch.Tensor, k: int) -> torch.Tensor:
    """``(T, D)`` -> ``(T, 2k + 1, D)``: frames ``t − k … t + k``, edges repeated."""
    T = features.shape[0]
    index = (torch.arange(T)[:, None] + torch.arange(-k, k + 1)[None, :]).clamp(0, T - 1)  # (T, 2k+1)
    return features[index]


# --------------------------------------------------------------------------------------------
# 02 · contrastive decoupling
# --------------------------------------------------------------------------------------------


def _cosine_logits(anchor, positive, negatives, temperature):
    a, p, n = (torch.nn.functional.normalize(x, dim=-1) for x in (anchor, positive, negatives))
    return (a * p).sum(-1) / temperature, torch.einsum("bd,bkd->bk", a, n) / temperature  # (B,), (B, k)


def solve_info_nce_usual(anchor, positive, negatives, temperature):
    """Usual InfoNCE: ``−log(e^{s_0} / Σ_{i=0..k} e^{s_i})``, ``s_i = cos(f_a, f_i)/τ``, batch mean."""
    positive_logit, negative_logits = _cosine_logits(anchor, positive, negatives, temperature)
    all_logits = torch.cat([positive_logit[:, None], negative_logits], dim=1)  # (B, k+1)
    return (torch.logsumexp(all_logits, dim=1) - positive_logit).mean()


def solve_info_nce(anchor, positive, negatives, temperature):
    """Eq 2 as printed: the denominator sums the ``k`` negatives only."""
    positive_logit, negative_logits = _cosine_logits(anchor, positive, negatives, temperature)
    return (torch.logsumexp(negative_logits, dim=1) - positive_logit).mean()


def solve_eq2_limits(k: int, temperature: float):
    """Eq 2 at collapse (all cosines 1): ``log k``; at perfection (positive 1, negatives −1): ``−2/τ + log k``."""
    return math.log(k), -2.0 / temperature + math.log(k)


# --------------------------------------------------------------------------------------------
# 03 · FLAME
# --------------------------------------------------------------------------------------------


def solve_blend_shapes(coeffs: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    """Eq 10.1: ``(B, K)`` coefficients, ``(V, 3, K)`` directions -> ``(B, V, 3)`` offsets, one matrix product."""
    n_verts, _, n_components = dirs.shape
    return (coeffs @ dirs.reshape(3 * n_verts, n_components).T).reshape(-1, n_verts, 3)


def solve_rodrigues(axis_angle: torch.Tensor) -> torch.Tensor:
    """Eq 10.3: ``(N, 3)`` axis-angle -> ``(N, 3, 3)``, ``R = I + sin θ K + (1 − cos θ) K²``."""
    theta = axis_angle.norm(dim=-1, keepdim=True).clamp_min(1e-8)  # (N, 1)
    kx, ky, kz = (axis_angle / theta).unbind(-1)
    zero = torch.zeros_like(kx)
    K = torch.stack([zero, -kz, ky, kz, zero, -kx, -ky, kx, zero], dim=-1).reshape(-1, 3, 3)
    sin, cos = torch.sin(theta)[..., None], torch.cos(theta)[..., None]
    return torch.eye(3, dtype=axis_angle.dtype) + sin * K + (1 - cos) * (K @ K)


def solve_skinning(vertices: torch.Tensor, transforms: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Eq 10.6: ``(B, V, 3)``, ``(B, J, 4, 4)``, ``(V, J)`` -> ``(B, V, 3)``: blend the transforms,
    apply to ``[v; 1]``."""
    blended = (weights[None, :, :, None, None] * transforms[:, None]).sum(dim=2)  # (B, V, 4, 4)
    return (blended[..., :3, :3] @ vertices[..., None])[..., 0] + blended[..., :3, 3]


def solve_naive_rodrigues(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues with ``k = ω/θ`` unguarded: exact for θ > 0, ``0/0 = NaN`` at ω = 0."""
    theta = axis_angle.norm(dim=-1, keepdim=True)  # (N, 1), may be 0
    kx, ky, kz = (axis_angle / theta).unbind(-1)
    zero = torch.zeros_like(kx)
    K = torch.stack([zero, -kz, ky, kz, zero, -kx, -ky, kx, zero], dim=-1).reshape(-1, 3, 3)
    return (
        torch.eye(3, dtype=axis_angle.dtype)
        + torch.sin(theta)[..., None] * K
        + (1 - torch.cos(theta))[..., None] * (K @ K)
    )


# --------------------------------------------------------------------------------------------
# 04 · motion translator
# --------------------------------------------------------------------------------------------


def solve_fusion(audio_features: torch.Tensor, identity_features: torch.Tensor) -> torch.Tensor:
    """Eq 4's decoder input: ``(B, T, D) + (B, D)`` broadcast over time."""
    return audio_features + identity_features.unsqueeze(1)


def solve_smoothness_loss(params_pred: torch.Tensor, params_true: torch.Tensor, lambda_sth: float) -> torch.Tensor:
    """Eq 6: mean squared difference of the velocities ``y_t − y_{t−1}``, times ``λ_sth``."""
    velocity_pred = params_pred[:, 1:] - params_pred[:, :-1]
    velocity_true = params_true[:, 1:] - params_true[:, :-1]
    return lambda_sth * ((velocity_true - velocity_pred) ** 2).mean()


def solve_latent_consistency_loss(
    asr_features: torch.Tensor, lip_features: torch.Tensor, lambda_lat: float
) -> torch.Tensor:
    """Eq 7: ``λ_lat · 1/(D T) ‖E_asr(A) − E_lip(V̂)‖²`` (batch mean)."""
    return lambda_lat * ((asr_features - lip_features) ** 2).mean()


def solve_fool_smoothness(params_true: torch.Tensor) -> torch.Tensor:
    """Break eq 6: shift every frame by the same offset — every velocity is unchanged, so ``L_sth = 0``."""
    return params_true + 1.0


# --------------------------------------------------------------------------------------------
# 05 · binding
# --------------------------------------------------------------------------------------------


def solve_triangle_frame(v0, v1, v2, eta):
    """Eqs 11–14 for F triangles: corners ``(F, 3)`` each, ``eta (F, 3)`` -> ``P (F, 3)``, ``R (F, 3, 3)``,
    ``S (F,)``."""
    P = eta[:, :1] * v0 + eta[:, 1:2] * v1 + eta[:, 2:] * v2  # eq 11
    e01, e02, e12 = v1 - v0, v2 - v0, v2 - v1
    n0 = e01 / e01.norm(dim=-1, keepdim=True)  # eq 14
    normal = torch.linalg.cross(e01, e02)
    n1 = normal / normal.norm(dim=-1, keepdim=True)
    n2 = torch.linalg.cross(n0, n1)
    R = torch.stack([n0, n1, n2], dim=-1)  # eq 12, columns
    S = (e01.norm(dim=-1) + e02.norm(dim=-1) + e12.norm(dim=-1)) / 3  # eq 13
    return P, R, S


def solve_bind_to_world(R, P, S, local_mean, local_rotation, local_scale):
    """Eq 15: ``u = R ū + P``, ``r = R r̄``, ``s = S s̄``."""
    return (
        torch.einsum("fij,fj->fi", R, local_mean) + P,
        torch.einsum("fij,fjk->fik", R, local_rotation),
        S[:, None] * local_scale,
    )


def solve_moved_frame(Q, t, v0, v1, v2, eta):
    """The frame after ``x ↦ Q x + t``, predicted from the frame before: ``(Q P + t, Q R, S)``."""
    P, R, S = solve_triangle_frame(v0, v1, v2, eta)
    return P @ Q.T + t, Q @ R, S


# --------------------------------------------------------------------------------------------
# 06 · rasterization
# --------------------------------------------------------------------------------------------


def solve_conic(cov2d: torch.Tensor, eps2d: float) -> torch.Tensor:
    """``(N, 2, 2)`` -> ``(N, 3)`` = ``(a, b, c)`` of ``(Σ' + ε I)⁻¹``."""
    p, q, r = cov2d[:, 0, 0] + eps2d, cov2d[:, 0, 1], cov2d[:, 1, 1] + eps2d
    det = p * r - q * q
    return torch.stack([r / det, -q / det, p / det], dim=-1)


def solve_composite_backward(pixel, means2d, conics, opacities, colors, grad_color):
    """Backward pass of eq 9 for one pixel, back to front; returns ``∂L/∂(colors, opacities, conics, means2d)``
    for ``L = grad_color · C``. Same rules as the forward pass: skip α < 1/255, clamp α ≤ 0.999,
    stop before T < 1e-4."""
    d = pixel - means2d  # (n, 2)
    dx, dy = d[:, 0], d[:, 1]
    a, b, c = conics.unbind(-1)
    sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy
    gauss = torch.exp(-sigma)
    raw_alpha = opacities * gauss
    alpha = raw_alpha.clamp(max=0.999)
    # forward: which splats count, and the transmittance T_i in front of each
    used, transmittance, T = [], [], 1.0
    for i in range(len(alpha)):
        if alpha[i] < 1 / 255:
            continue
        if T * (1 - alpha[i]) < 1e-4:
            break
        used.append(i)
        transmittance.append(T)
        T = T * (1 - alpha[i])
    grad_colors, grad_opacities = torch.zeros_like(colors), torch.zeros_like(opacities)
    grad_conics, grad_means = torch.zeros_like(conics), torch.zeros_like(means2d)
    behind = torch.zeros_like(colors[0])  # S: the colour composited behind splat i, seen through nothing
    for i, T_i in zip(reversed(used), reversed(transmittance)):
        grad_colors[i] = alpha[i] * T_i * grad_color  # ∂C/∂c_i = α_i T_i
        grad_alpha = T_i * (grad_color @ (colors[i] - behind))  # ∂C/∂α_i = T_i (c_i − S_i)
        behind = alpha[i] * colors[i] + (1 - alpha[i]) * behind  # S_{i−1} = α_i c_i + (1 − α_i) S_i
        if raw_alpha[i] >= 0.999:
            continue  # clamped: α does not depend on o or σ here
        grad_opacities[i] = grad_alpha * gauss[i]  # ∂α/∂o = exp(−σ)
        grad_sigma = -grad_alpha * raw_alpha[i]  # ∂α/∂σ = −α
        grad_conics[i] = grad_sigma * torch.stack([0.5 * dx[i] ** 2, dx[i] * dy[i], 0.5 * dy[i] ** 2])
        grad_means[i] = -grad_sigma * torch.stack(
            [a[i] * dx[i] + b[i] * dy[i], b[i] * dx[i] + c[i] * dy[i]]
        )  # ∂d/∂μ = −I
    return grad_colors, grad_opacities, grad_conics, grad_means


def solve_sh_basis(dirs: torch.Tensor) -> torch.Tensor:
    """Real SH of degrees 0–3 at unit directions ``(N, 3) -> (N, 16)``, built from Legendre polynomials.

    ``Y_l^m = √2 K_l^m P_l^{|m|}(z) · {cos, sin}(|m| φ)`` (``m > 0``: cos, ``m < 0``: sin, ``m = 0``: no √2),
    with ``P_l^m(z) = (−1)^m (1 − z²)^{m/2} dᵐP_l/dzᵐ`` (Condon–Shortley) and
    ``(1 − z²)^{m/2} (cos mφ + i sin mφ) = (x + i y)^m`` on the unit sphere.
    """
    x, y, z = dirs.unbind(-1)
    columns = []
    for l in range(4):
        legendre = np.polynomial.legendre.Legendre.basis(l)
        for m in range(-l, l + 1):
            am = abs(m)
            K = math.sqrt((2 * l + 1) / (4 * math.pi) * math.factorial(l - am) / math.factorial(l + am))
            derivative = legendre.deriv(am).convert(kind=np.polynomial.Polynomial).coef  # dᵐP_l/dzᵐ, power basis
            polynomial_z = sum(float(coef) * z**power for power, coef in enumerate(derivative))
            planar = (x + 1j * y) ** am if am else None  # r^m e^{imφ}
            if m == 0:
                columns.append(K * polynomial_z)
                continue
            trig = torch.real(planar) if m > 0 else torch.imag(planar)
            columns.append(math.sqrt(2) * K * (-1) ** am * polynomial_z * trig)
    return torch.stack(columns, dim=-1)


# --------------------------------------------------------------------------------------------
# 07 · losses and training
# --------------------------------------------------------------------------------------------


def solve_attribute_loss(local_means, local_log_scales, eps_p, eps_s):
    """Eq 21 with λ = 1: squared hinges on ``|ū'|`` and ``s̄ = exp(log s̄)``, summed over xyz, mean over Gaussians."""
    position = torch.clamp(local_means.abs() - eps_p, min=0) ** 2
    scale = torch.clamp(local_log_scales.exp() - eps_s, min=0) ** 2
    return (position.sum(-1) + scale.sum(-1)).mean()


def solve_semantic_loss(semantic_render, labels):
    """Eq 23 with λ = 1: mean squared difference between the rendered label colours and the label map's colours."""
    target = torch.as_tensor(LABEL_COLORS, dtype=semantic_render.dtype)[labels.long()]  # (H, W, 3)
    return ((semantic_render - target) ** 2).mean()


def solve_psnr(prediction, target, mask=None):
    """PSNR in dB for images in [0, 1]; with an ``(H, W)`` mask the MSE is taken over the masked pixels."""
    squared = (prediction - target) ** 2  # (H, W, 3)
    if mask is None:
        mse = squared.mean()
    else:
        weights = mask.to(squared.dtype)[..., None].expand_as(squared)
        mse = (squared * weights).sum() / weights.sum()
    return 10 * torch.log10(1 / mse)


# --------------------------------------------------------------------------------------------
# 08 · the talking head speaks
# --------------------------------------------------------------------------------------------


def solve_mono_16k(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """``(L, C)`` float samples at ``sample_rate`` -> ``(L16,)`` float32 mono at 16 kHz."""
    mono = np.asarray(samples, dtype=np.float32).mean(axis=1)  # (L,): the average of the channels
    divisor = math.gcd(SAMPLE_RATE, int(sample_rate))  # 44100 Hz: 16000/44100 = 160/441
    return resample_poly(mono, SAMPLE_RATE // divisor, int(sample_rate) // divisor).astype(np.float32)


def solve_overall_fps(stage_fps: dict[str, float]) -> float:
    """Stages run one after the other on every frame: their seconds per frame add up."""
    seconds_per_frame = sum(1.0 / fps for fps in stage_fps.values())
    return 1.0 / seconds_per_frame


def solve_video_frame_chunks(waveform: torch.Tensor) -> torch.Tensor:
    """``(L,)`` 16 kHz samples -> ``(T, 640)``, ``T = ceil(L / 640)``: row ``t`` is the audio of video frame ``t``."""
    T = -(-len(waveform) // SAMPLES_PER_FRAME)  # ceil(L / 640) in integers
    padded = waveform.new_zeros(T * SAMPLES_PER_FRAME)  # the last frame's missing samples stay 0
    padded[: len(waveform)] = waveform
    return padded.reshape(T, SAMPLES_PER_FRAME)


def solve_ping_pong(t: int, n: int) -> int:
    """Row of an ``n``-frame pose track at output frame ``t``, looped ``0 … n−1 … 1 0 …``: a triangle wave of
    period ``2 (n − 1)`` that never jumps by more than one row."""
    if n == 1:
        return 0
    period = 2 * (n - 1)
    return (n - 1) - abs((n - 1) - t % period)


# --------------------------------------------------------------------------------------------
# 09 · evaluation
# --------------------------------------------------------------------------------------------


def solve_lse_scores(video: torch.Tensor, audio: torch.Tensor) -> tuple[float, float, int]:
    """``(T, D)`` video and audio embeddings -> ``(LSE-D, LSE-C, offset)`` from the offset curve ``D(k)``."""
    curve = checks.solution_offset_distances(video, audio, 15)  # (31,): D(k) for k = −15 … 15
    best = int(curve.argmin())
    lse_d = float(curve[best])
    return lse_d, float(np.median(curve.numpy())) - lse_d, best - 15


def solve_lmd(predicted: torch.Tensor, truth: torch.Tensor) -> float:
    """``(T, K, 2)`` landmarks -> the mean Euclidean distance over frames and landmarks."""
    return float(torch.sqrt(((predicted - truth) ** 2).sum(-1)).mean())


def solve_frechet_distance(mean_1, cov_1, mean_2, cov_2) -> float:
    """Fréchet distance of ``N(μ1, Σ1)`` and ``N(μ2, Σ2)``: ``|μ1 − μ2|² + tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½)``."""
    cross = scipy.linalg.sqrtm(cov_1.numpy() @ cov_2.numpy()).real  # (D, D); tiny imaginary parts are round-off
    return float(((mean_1 - mean_2) ** 2).sum() + torch.trace(cov_1) + torch.trace(cov_2) - 2 * np.trace(cross))


# --------------------------------------------------------------------------------------------
# the registry
# --------------------------------------------------------------------------------------------


def _library_frame_index(seconds: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(frame_index_of_time(seconds.numpy()))


def _library_info_nce(include_positive: bool) -> Callable:
    def loss(anchor, positive, negatives, temperature):
        return info_nce(anchor, positive, negatives, temperature, include_positive=include_positive)

    return loss


def _library_face_mask(labels) -> np.ndarray:
    return face_mask_from_labels(np.asarray(labels))


def _library_psnr(prediction, target, mask=None):
    return psnr(prediction, target, mask=mask)


def _library_lse_scores(video, audio) -> tuple[float, float, int]:
    scores = sync_scores(video, audio)
    return scores.lse_d, scores.lse_c, scores.offset


def _library_lmd(predicted, truth) -> float:
    return float(landmark_distance(predicted, truth))


_EXERCISES = [
    Exercise(
        "00.1",
        "project world points to pixels",
        "derive-and-implement",
        checks.check_projection,
        project_points,
        solve_projection,
        (
            "viewmat is [[R, t], [0, 1]]: x_c = R x + t, i.e. points @ R.T + t for a batch of row vectors.",
            "Multiply by K (points_cam @ K.T) and divide the first two coordinates by the third.",
            "cam = points @ viewmat[:3, :3].T + viewmat[:3, 3]; h = cam @ K.T; return h[:, :2] / h[:, 2:3]",
        ),
    ),
    Exercise(
        "00.2",
        "the face mask M of eq 19 from a label map",
        "derive-and-implement",
        checks.check_face_mask,
        _library_face_mask,
        solve_face_mask,
        (
            "M is True on the regions the Gaussian head draws: which labels belong to the head, which to the frame?",
            "Head: skin, lips, teeth, mouth_interior, eyes, eyebrows, hair. Not: neck_torso, background.",
            "np.isin(labels, [LABEL_IDS[name] for name in head_names])",
        ),
    ),
    Exercise(
        "00.3",
        "the blend of eq 19",
        "derive-and-implement",
        checks.check_blend,
        blend,
        solve_blend,
        (
            "Two steps: paste the render into the frame (the input of F), "
            "then keep the frame outside M and F's output inside.",
            "pasted = clamp(I_gau + (1 − M)·I_ori, 0, 1); the images are (B, H, W, 3) and M is (B, H, W): "
            "use M[..., None].",
            "m = mask[..., None]; return (1 - m) * original "
            "+ m * F((gaussian_image + (1 - m) * original).clamp(0, 1), mask)",
        ),
    ),
    Exercise(
        "01.1",
        "a log-mel spectrogram from scratch",
        "derive-and-implement",
        checks.check_log_mel,
        log_mel,
        solve_log_mel,
        (
            "Four steps: STFT (400-sample Hann window, hop 160, centred), power |X|², mel filter bank, natural log.",
            "torch.stft(..., n_fft=400, hop_length=160, center=True, pad_mode='constant', "
            "return_complex=True) gives (201, F).",
            "torch.log((mel_filter_bank(n_fft=400, n_mels=80) @ spectrum.abs() ** 2).clamp_min(1e-10)).T",
        ),
    ),
    Exercise(
        "01.2",
        "in which video frame does a phoneme start?",
        "derive-and-implement",
        checks.check_frame_index,
        _library_frame_index,
        solve_frame_index,
        (
            "Frame t covers [t/25, (t+1)/25): the answer is floor(seconds · 25).",
            "1.16 · 25 = 28.999999999999996 in binary floating point, so a plain floor lands one frame early.",
            "torch.floor(seconds * 25 + 1e-6).long()",
        ),
    ),
    Exercise(
        "01.3",
        "context windows of ±k frames",
        "derive-and-implement",
        checks.check_frame_context,
        frame_context,
        solve_frame_context,
        (
            "Build a (T, 2k+1) table of frame indices t + j for j = −k … k.",
            "Repeat the edge frames: clamp the indices to [0, T − 1], then index the features with the table.",
            "index = (torch.arange(T)[:, None] + torch.arange(-k, k + 1)).clamp(0, T - 1); return features[index]",
        ),
    ),
    Exercise(
        "02.1",
        "InfoNCE, the usual form",
        "derive-and-implement",
        checks.check_info_nce_usual,
        _library_info_nce(True),
        solve_info_nce_usual,
        (
            "L2-normalise anchor, positive and negatives; the logits are cosines divided by τ.",
            "Stack [a·p, a·n_1 … a·n_k] into (B, k+1) logits: "
            "it is a (k+1)-way classification whose answer is class 0.",
            "torch.nn.functional.cross_entropy(logits, torch.zeros(B, dtype=torch.long))",
        ),
    ),
    Exercise(
        "02.2",
        "eq 2 exactly as printed",
        "derive-and-implement",
        checks.check_info_nce,
        _library_info_nce(False),
        solve_info_nce,
        (
            "Same logits as the usual form, but the denominator sums the k negatives only.",
            "−log(e^{s_0} / Σ_i e^{s_i}) = logsumexp(s_1..s_k) − s_0.",
            "(torch.logsumexp(negative_logits, dim=1) - positive_logit).mean()",
        ),
    ),
    Exercise(
        "02.3",
        "predict eq 2 for a collapsed and for a perfect encoder",
        "predict-then-run",
        checks.check_eq2_limits,
        checks.library_eq2_limits,
        solve_eq2_limits,
        (
            "Collapsed: every cosine is 1. Perfect: the positive's cosine is 1, every negative's is −1.",
            "Perfect: numerator e^{1/τ}, denominator k·e^{−1/τ}; take −log of the ratio.",
            "collapsed = log k; perfect = −2/τ + log k (−18.61 for k = 4, τ = 0.1)",
        ),
    ),
    Exercise(
        "03.1",
        "blendshapes as one matrix product (eq 10.1)",
        "derive-and-implement",
        checks.check_blend_shapes,
        lbs.blend_shapes,
        solve_blend_shapes,
        (
            "Flatten each (V, 3) displacement field into a column of length 3V: dirs becomes a (3V, K) matrix D.",
            "For a batch of coefficient rows, offsets = coeffs @ D.T, then reshape to (B, V, 3).",
            "(coeffs @ dirs.reshape(3 * V, K).T).reshape(-1, V, 3)",
        ),
    ),
    Exercise(
        "03.2",
        "Rodrigues' formula (eq 10.3)",
        "derive-and-implement",
        checks.check_rodrigues,
        lbs.batch_rodrigues,
        solve_rodrigues,
        (
            "θ = |ω| (guard it with clamp_min(1e-8)), k = ω/θ.",
            "K = [[0, −kz, ky], [kz, 0, −kx], [−ky, kx, 0]] built with torch.stack(...).reshape(-1, 3, 3).",
            "R = I + sin θ · K + (1 − cos θ) · K @ K, with θ shaped (N, 1, 1) to broadcast.",
        ),
    ),
    Exercise(
        "03.3",
        "linear blend skinning (eq 10.6)",
        "derive-and-implement",
        checks.check_skinning,
        lbs.linear_blend_skinning,
        solve_skinning,
        (
            "Per vertex, blend the J 4×4 transforms with its weights: Σ_j W_ij A_j (shape (B, V, 4, 4)).",
            "Apply the blended matrix to the homogeneous vertex [v; 1] and keep the first three coordinates.",
            "blended = torch.einsum('vj,bjkl->bvkl', weights, transforms); v' = "
            "blended[..., :3, :3] @ v + blended[..., :3, 3]",
        ),
    ),
    Exercise(
        "03.4",
        "break Rodrigues at zero, and explain the fix",
        "break-it-and-explain",
        checks.check_naive_rodrigues,
        solve_naive_rodrigues,
        solve_naive_rodrigues,
        (
            "Write Rodrigues exactly as printed, k = ω/θ, with no clamp: it must still pass the usual check for θ > 0.",
            "At ω = 0, θ = 0 and ω/θ = 0/0. What does floating point return for 0/0?",
            "NaN — and one NaN poisons R. The library writes sin θ/θ and (1 − cos θ)/θ² with Taylor series near 0 "
            "instead.",
        ),
    ),
    Exercise(
        "04.1",
        "fusing identity and audio (eq 4)",
        "derive-and-implement",
        checks.check_fusion,
        fuse_identity,
        solve_fusion,
        (
            "Eq 4 adds E_id(p) to every frame's audio feature.",
            "identity_features is (B, D); give it a time axis of length 1 so it broadcasts over T.",
            "audio_features + identity_features[:, None, :]",
        ),
    ),
    Exercise(
        "04.2",
        "the smoothness loss (eq 6)",
        "derive-and-implement",
        checks.check_smoothness_loss,
        smoothness_loss,
        solve_smoothness_loss,
        (
            "Velocities: y[:, 1:] − y[:, :-1] (T − 1 of them), for the prediction and the ground truth.",
            "Square the difference of the two velocities and average over batch, time steps and parameters.",
            "lambda_sth * (((y[:, 1:] - y[:, :-1]) - (y_hat[:, 1:] - y_hat[:, :-1])) ** 2).mean()",
        ),
    ),
    Exercise(
        "04.3",
        "the latent consistency loss (eq 7)",
        "derive-and-implement",
        checks.check_latent_consistency_loss,
        latent_consistency_loss,
        solve_latent_consistency_loss,
        (
            "Both feature sequences are (B, T, D); eq 7 is a mean squared error between them.",
            "1/(D T) ‖·‖² is the mean over time and features; average over the batch too.",
            "lambda_lat * ((asr_features - lip_features) ** 2).mean()",
        ),
    ),
    Exercise(
        "04.4",
        "fool the smoothness loss",
        "break-it-and-explain",
        checks.check_fools_smoothness,
        solve_fool_smoothness,
        solve_fool_smoothness,
        (
            "Eq 6 compares velocities y_t − y_{t−1}, never the values themselves.",
            "What can you add to every frame without changing any difference between neighbouring frames?",
            "return params_true + 1.0 — a constant offset: L_sth = 0, but the parameter term of eq 5 is 1.",
        ),
    ),
    Exercise(
        "05.1",
        "the frame of a triangle (eqs 11–14)",
        "derive-and-implement",
        checks.check_triangle_frame,
        checks.library_triangle_frame,
        solve_triangle_frame,
        (
            "P is the barycentric combination of the corners with η; S is the mean of the three edge lengths.",
            "n0 = e01/|e01|, n1 = normalised e01 × e02 (torch.linalg.cross), n2 = n0 × n1.",
            "R = torch.stack([n0, n1, n2], dim=-1) — the vectors are the COLUMNS of R.",
        ),
    ),
    Exercise(
        "05.2",
        "from local to world (eq 15)",
        "derive-and-implement",
        checks.check_bind_to_world,
        checks.library_bind_to_world,
        solve_bind_to_world,
        (
            "Three lines: position, rotation, scale.",
            "R is (F, 3, 3) and ū is (F, 3): a batched matrix–vector product needs ū[..., None] (or an einsum).",
            "u = (R @ ū[..., None])[..., 0] + P; r = R @ r̄; s = S[:, None] * s̄",
        ),
    ),
    Exercise(
        "05.3",
        "predict the frame after a rigid motion",
        "predict-then-run",
        checks.check_moved_frame,
        checks.library_moved_frame,
        solve_moved_frame,
        (
            "Move the corners: v ↦ Q v + t. What happens to the edges, their lengths, their cross product?",
            "Edges lose t and rotate with Q; lengths stay; Q a × Q b = Q (a × b) for a rotation Q.",
            "P, R, S = frame before the motion; return P @ Q.T + t, Q @ R, S",
        ),
    ),
    Exercise(
        "06.1",
        "the conic: the inverse dilated 2D covariance",
        "derive-and-implement",
        checks.check_conic,
        conic_from_covariance_2d,
        solve_conic,
        (
            "Add eps2d to both diagonal entries of Σ' before inverting (the low-pass dilation).",
            "The inverse of [[p, q], [q, r]] is [[r, −q], [−q, p]] / (p r − q²).",
            "return torch.stack([r / det, -q / det, p / det], dim=-1)",
        ),
    ),
    Exercise(
        "06.2",
        "the backward pass of alpha compositing for one pixel",
        "derive-and-implement",
        checks.check_composite_backward,
        checks.library_composite_backward,
        solve_composite_backward,
        (
            "Run the forward pass first and keep, for every splat that counts, "
            "its α_i and the transmittance T_i in front of it.",
            "Walk back to front with S = 0: ∂C/∂c_i = α_i T_i, ∂C/∂α_i = T_i (c_i − S), "
            "then S ← α_i c_i + (1 − α_i) S. "
            "Multiply by grad_color (dot product over the channels).",
            "Through α = o·e^{−σ}: ∂α/∂o = e^{−σ}, ∂α/∂σ = −α (zero where α was clamped to 0.999); "
            "∂σ/∂(a, b, c) = (dx²/2, dx·dy, dy²/2); ∂σ/∂μ = −(a dx + b dy, b dx + c dy) since d = pixel − μ.",
        ),
    ),
    Exercise(
        "06.3",
        "real spherical harmonics, degrees 0–3",
        "derive-and-implement",
        checks.check_sh_basis,
        checks.library_sh_basis,
        solve_sh_basis,
        (
            "Order: index l² + l + m with m = −l … l; degree 0 is the constant 1/(2√π).",
            "Y_l^m = √2 K_l^m P_l^|m|(z) cos(mφ) for m > 0, sin(|m|φ) for m < 0; "
            "K_l^m = sqrt((2l+1)/(4π) (l−|m|)!/(l+|m|)!).",
            "On the unit sphere (1 − z²)^{m/2} (cos mφ + i sin mφ) = (x + iy)^m, "
            "and P_l^m(z) = (−1)^m (1 − z²)^{m/2} dᵐP_l/dzᵐ: "
            "e.g. degree 1 is (−c y, c z, −c x) with c = sqrt(3/(4π)).",
        ),
    ),
    Exercise(
        "07.1",
        "the attribute hinge (eq 21)",
        "derive-and-implement",
        checks.check_attribute_loss,
        attribute_loss,
        solve_attribute_loss,
        (
            "A hinge max(0, x − ε) is free inside ε and grows outside; eq 21 squares it.",
            "Positions: |ū'| per axis against ε_p; scales: exp(log s̄) per axis against ε_s.",
            "(relu(m.abs() - eps_p) ** 2).sum(-1) + (relu(log_s.exp() - eps_s) ** 2).sum(-1), then .mean()",
        ),
    ),
    Exercise(
        "07.2",
        "the semantic loss (eq 23)",
        "derive-and-implement",
        checks.check_semantic_loss,
        semantic_loss,
        solve_semantic_loss,
        (
            "The label map holds ids; turn it into colours with th.semantics.LABEL_COLORS (one RGB row per label).",
            "Indexing a (L, 3) colour table with an (H, W) long tensor gives (H, W, 3).",
            "((semantic_render - torch.as_tensor(LABEL_COLORS)[labels.long()]) ** 2).mean()",
        ),
    ),
    Exercise(
        "07.3",
        "PSNR, inside a mask",
        "derive-and-implement",
        checks.check_psnr,
        _library_psnr,
        solve_psnr,
        (
            "PSNR = 10·log10(max² / MSE) with max = 1 for images in [0, 1].",
            "With a mask, average the squared error only over the masked pixels (all three channels of each).",
            "w = mask[..., None].expand_as(err); mse = (err * w).sum() / w.sum()",
        ),
    ),
    Exercise(
        "08.1",
        "a stereo 44.1 kHz recording made ready for the encoder",
        "derive-and-implement",
        checks.check_mono_16k,
        checks.library_mono_16k,
        solve_mono_16k,
        (
            "Two steps, in this order (the cheaper one first): mix the channels down to one, then change the rate.",
            "Mix down by averaging the channels (axis 1). Resample by the exact ratio 16000 / rate, reduced by the "
            "greatest common divisor (44100 Hz: up 160, down 441).",
            "g = math.gcd(16000, rate); "
            "return scipy.signal.resample_poly(samples.mean(axis=1), 16000 // g, rate // g).astype(np.float32)",
        ),
    ),
    Exercise(
        "08.2",
        "predict the frame rate of the whole pipeline from its stages",
        "predict-then-run",
        checks.check_overall_fps,
        checks.library_overall_fps,
        solve_overall_fps,
        (
            "Every frame goes through every stage, one after the other. Is the result the mean of the FPS, "
            "the slowest stage's FPS, or something else?",
            "A stage at f frames/s spends 1/f s on each frame; the seconds per frame of the stages add up.",
            "1 / sum(1 / fps for fps in stage_fps.values()) — below the slowest stage's FPS, and dominated by it.",
        ),
    ),
    Exercise(
        "08.3",
        "the audio of each video frame",
        "derive-and-implement",
        checks.check_video_frame_chunks,
        video_frame_chunks,
        solve_video_frame_chunks,
        (
            "16 kHz audio and 25 fps video: one frame lasts 16000 / 25 = 640 samples, "
            "and frame t covers samples 640 t … 640 t + 639.",
            "A recording rarely ends on a frame boundary: T = ceil(L / 640) frames, the last one padded with zeros.",
            "T = -(-L // 640); padded = waveform.new_zeros(T * 640); padded[:L] = waveform; "
            "return padded.reshape(T, 640)",
        ),
    ),
    Exercise(
        "08.4",
        "loop the head-pose track without a jump",
        "derive-and-implement",
        checks.check_ping_pong,
        ping_pong,
        solve_ping_pong,
        (
            "Write the rows shown for n = 4: 0 1 2 3 2 1 0 1 2 3 2 1 … — which period does the pattern have?",
            "The period is 2(n − 1). With k = t mod 2(n − 1): the row is k on the way out (k < n) and "
            "2(n − 1) − k on the way back. n = 1 has no period: always row 0.",
            "return 0 if n == 1 else (n - 1) - abs((n - 1) - t % (2 * (n - 1)))",
        ),
    ),
    Exercise(
        "09.1",
        "LSE-D and LSE-C of one clip by hand",
        "derive-and-implement",
        checks.check_lse_scores,
        _library_lse_scores,
        solve_lse_scores,
        (
            "Start from the offset curve D(k), k = −15 … 15 (your my_offset_distances).",
            "LSE-D = min_k D(k); LSE-C = median_k D(k) − min_k D(k); the offset is the k of the minimum.",
            "curve.argmin() is an index into k = −15 … 15: offset = int(curve.argmin()) - 15",
        ),
    ),
    Exercise(
        "09.2",
        "the landmark distance (LMD)",
        "derive-and-implement",
        checks.check_lmd,
        _library_lmd,
        solve_lmd,
        (
            "Predicted and reference landmarks are (T, K, 2): one 2D point per frame and landmark.",
            "The distance of one landmark is the Euclidean norm over the last axis — not squared, not summed.",
            "float(torch.sqrt(((predicted - truth) ** 2).sum(-1)).mean())",
        ),
    ),
    Exercise(
        "09.3",
        "the Fréchet distance of two Gaussians",
        "derive-and-implement",
        checks.check_frechet_distance,
        frechet_distance,
        solve_frechet_distance,
        (
            "Two terms: the squared distance of the means, and a trace term of the covariances.",
            "tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½): scipy.linalg.sqrtm(S1 @ S2) gives the matrix square root; "
            "keep its real part (round-off leaves tiny imaginary parts).",
            "((m1 - m2) ** 2).sum() + trace(S1) + trace(S2) - 2 * trace(sqrtm(S1 @ S2).real)",
        ),
    ),
]
EXERCISES: dict[str, Exercise] = {exercise.id: exercise for exercise in _EXERCISES}


def get(exercise_id: str) -> Exercise:
    """The exercise with this id; a clear error naming the known ids otherwise."""
    try:
        return EXERCISES[exercise_id]
    except KeyError:
        raise KeyError(f"no exercise {exercise_id!r}; known: {', '.join(EXERCISES)}") from None


def exercises_of(notebook: str) -> list[Exercise]:
    """The exercises of notebook ``"06"`` in order."""
    return [exercise for exercise in _EXERCISES if exercise.id.split(".")[0] == notebook]


def check(exercise_id: str, user_fn: Callable, solved: bool = False) -> Callable:
    """Grade an exercise; return the function the notebook goes on with. Never raises.

    Args:
        exercise_id: e.g. ``"06.2"``.
        user_fn: the learner's function (a stub raising ``NotImplementedError`` until written).
        solved: grade the package's solution instead of ``user_fn`` (the notebooks' ``SOLVE_EXERCISES``).

    Returns:
        ``user_fn`` (or the solution) when it passes, the library's version otherwise.
    """
    exercise = get(exercise_id)
    candidate = exercise.solution if solved else user_fn
    return exercise_or_library(
        f"Exercise {exercise.id} · {exercise.title}",
        candidate,
        exercise.library,
        exercise.check,
        help_note=f"  hints: th.teach.hint({exercise.id!r}, 1 … {len(exercise.hints)}); "
        f"answer: th.teach.solution({exercise.id!r})",
    )


def hint(exercise_id: str, level: int = 1) -> str:
    """Print and return hints 1 … ``level`` of an exercise (the last one nearly gives the answer away)."""
    exercise = get(exercise_id)
    if not 1 <= level <= len(exercise.hints):
        raise ValueError(f"exercise {exercise_id} has hints 1 … {len(exercise.hints)}, got level {level}")
    text = "\n".join(f"hint {i + 1}: {h}" for i, h in enumerate(exercise.hints[:level]))
    print(f"Exercise {exercise.id} · {exercise.title}\n{text}")
    return text


def solution_fn(exercise_id: str) -> Callable:
    """The solution function of an exercise (what ``solved=True`` grades)."""
    return get(exercise_id).solution


def solution(exercise_id: str) -> str:
    """Print and return the source code of an exercise's solution."""
    source = inspect.getsource(get(exercise_id).solution)
    print(source)
    return source
