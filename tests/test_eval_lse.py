"""LSE-D / LSE-C on constructed embeddings whose best offset is known, and the sync expert's windows."""

import math

import pytest
import torch

from talkinghead_edu.eval.lse import lse, offset_distances, sync_scores
from talkinghead_edu.eval.sync import SyncExpert, audio_windows, video_windows


def _unit(x):
    return torch.nn.functional.normalize(x, dim=-1)


def _brute_force_distances(video, audio, K):
    """D(k) with explicit loops over frames (the docstring's formula)."""
    T = len(video)
    out = []
    for k in range(-K, K + 1):
        pairs = [float((video[t] - audio[t + k]).norm()) for t in range(T) if 0 <= t + k < T]
        out.append(sum(pairs) / len(pairs))
    return torch.tensor(out)


@pytest.mark.parametrize("shift", [-7, -2, 0, 3, 15])
def test_best_offset_is_the_constructed_shift(shift):
    g = torch.Generator().manual_seed(1)
    T, D = 60, 32
    audio = _unit(torch.randn(T + 40, D, generator=g))
    # video frame t matches audio frame t + shift (the audio lags the video by `shift` frames)
    video = _unit(audio[20 + shift : 20 + shift + T] + 0.05 * torch.randn(T, D, generator=g))
    audio = audio[20 : 20 + T]
    scores = sync_scores(video, audio)
    assert scores.offset == shift
    # in 32-d, unrelated unit vectors are ~sqrt(2) apart; matched ones ~0.05 sqrt(32) apart
    assert scores.lse_d < 0.4
    assert scores.lse_c == pytest.approx(float(scores.distances.median()) - scores.lse_d)
    assert scores.lse_c > 1.0
    assert scores.distance_at(shift) == pytest.approx(scores.lse_d)


def test_distances_match_the_loop_definition():
    g = torch.Generator().manual_seed(2)
    video, audio = torch.randn(23, 5, generator=g), torch.randn(23, 5, generator=g)
    torch.testing.assert_close(
        offset_distances(video, audio, 6), _brute_force_distances(video, audio, 6), atol=1e-5, rtol=1e-5
    )


def test_hand_computed_clip():
    # 1-d embeddings: video = [0, 1, 0, 1, ...], audio the same -> D(0) = 0, D(±1) = 1, D(±2) = 0 ...
    video = torch.tensor([[float(t % 2)] for t in range(20)])
    scores = sync_scores(video, video.clone(), max_offset=3)
    torch.testing.assert_close(scores.distances, torch.tensor([1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0]))
    assert scores.lse_d == 0.0 and scores.lse_c == 1.0
    assert scores.offset == -2  # the first minimum: periodic content is ambiguous, as for real speech


def test_lse_averages_over_clips():
    g = torch.Generator().manual_seed(3)
    clips = [(torch.randn(30, 8, generator=g), torch.randn(30, 8, generator=g)) for _ in range(3)]
    each = [sync_scores(v, a) for v, a in clips]
    result = lse(clips)
    assert result["lse_d"] == pytest.approx(sum(s.lse_d for s in each) / 3)
    assert result["lse_c"] == pytest.approx(sum(s.lse_c for s in each) / 3)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="too short"):
        offset_distances(torch.zeros(10, 4), torch.zeros(10, 4))
    with pytest.raises(ValueError, match=r"\(T, D\)"):
        offset_distances(torch.zeros(30, 4), torch.zeros(30, 5))
    with pytest.raises(ValueError, match="no clips"):
        lse([])


def test_windows_line_up_with_frames():
    T = 9
    crops = torch.arange(T, dtype=torch.float32).view(T, 1, 1, 1).expand(T, 3, 2, 2)
    windows = video_windows(crops, 5)  # (T, 15, 2, 2): frames t-2..t+2, edges repeated
    assert windows.shape == (T, 15, 2, 2)
    assert windows[4, ::3, 0, 0].tolist() == [2, 3, 4, 5, 6]
    assert windows[0, ::3, 0, 0].tolist() == [0, 0, 0, 1, 2]
    mel = torch.arange(4 * T + 1, dtype=torch.float32)[:, None].expand(-1, 3)
    a = audio_windows(mel, T)  # mel frames 4(t-2) .. 4(t+3)-1
    assert a.shape == (T, 20, 3)
    assert a[4, :, 0].tolist() == list(range(8, 28))
    assert a[0, :8, 0].tolist() == [0.0] * 8 and a[0, 8:, 0].tolist() == list(range(0, 12))
    with pytest.raises(ValueError, match="cannot cover"):
        audio_windows(mel[:10], T)


def test_expert_embeddings_are_unit_vectors_and_shapes_are_checked():
    expert = SyncExpert(n_mels=16, crop=16, dim=8)
    v, a = expert.embed_clip(torch.rand(12, 3, 16, 16), torch.randn(49, 16))
    assert v.shape == a.shape == (12, 8)
    torch.testing.assert_close(v.norm(dim=-1), torch.ones(12))
    with pytest.raises(ValueError, match="embed_video"):
        expert.embed_video(torch.rand(2, 3, 16, 16))
    assert math.isclose(float(a.norm(dim=-1).mean()), 1.0, rel_tol=1e-5)
