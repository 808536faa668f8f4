"""Lip-sync error, distance and confidence (LSE-D, LSE-C), as SyncNet/Wav2Lip define them.

A sync expert (:class:`talkinghead_edu.eval.sync.SyncExpert`) gives one video embedding
``v_t`` and one audio embedding ``a_t`` per frame ``t`` of a clip of ``T`` frames. For every
audio offset ``k`` in ``-K … K`` (``K = 15`` frames = ±0.6 s) the clip's mean distance is

    D(k) = mean_{t : 0 <= t+k < T} || v_t - a_{t+k} ||_2

and per clip

    LSE-D = min_k D(k)                       (lower is better)
    LSE-C = median_k D(k) - min_k D(k)       (higher is better: a clear dip at the best offset)
    offset = argmin_k D(k)                   (0 for a clip in sync; +s when the audio lags by s frames)

The table values are the means of LSE-D and LSE-C over clips. Difference from the reference
code (syncnet_python ``calc_pdist``): there the audio features are zero-padded by K at both
ends, so edge frames are compared with zero vectors; here only real pairs are averaged.

Because LSE-D takes the minimum over offsets, it does not see a constant audio delay
within ±K frames: delaying the audio moves the dip, not its depth. The offset-0 variants
:func:`distance_at_offset` and ``median - D(0)`` are what a fixed delay changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["offset_distances", "SyncScores", "sync_scores", "lse", "MAX_OFFSET"]

MAX_OFFSET = 15


def offset_distances(video: torch.Tensor, audio: torch.Tensor, max_offset: int = MAX_OFFSET) -> torch.Tensor:
    """``D(k)`` for ``k = -max_offset … max_offset`` (module docstring).

    Args:
        video, audio: ``(T, D)`` per-frame embeddings of one clip.
        max_offset: ``K``; needs ``T > K`` so every offset has at least one pair.

    Returns:
        ``(2K+1,)`` mean distances, index ``k + K``.
    """
    if video.dim() != 2 or video.shape != audio.shape:
        raise ValueError(
            f"offset_distances: video {tuple(video.shape)} and audio {tuple(audio.shape)} must both be (T, D)"
        )
    T = video.shape[0]
    if T <= max_offset:
        raise ValueError(
            f"offset_distances: a clip of {T} frames is too short for offsets ±{max_offset}; "
            f"need more than {max_offset} frames"
        )
    all_pairs = torch.cdist(video.double(), audio.double())  # (T, T): all_pairs[t, s] = ||v_t - a_s||
    return torch.stack([torch.diagonal(all_pairs, offset=k).mean() for k in range(-max_offset, max_offset + 1)]).float()


@dataclass
class SyncScores:
    """One clip's LSE numbers: ``lse_d``, ``lse_c``, best ``offset`` (frames), the curve ``distances`` ``(2K+1,)``."""

    lse_d: float
    lse_c: float
    offset: int
    distances: torch.Tensor

    @property
    def max_offset(self) -> int:
        return (len(self.distances) - 1) // 2

    def distance_at(self, k: int) -> float:
        """``D(k)``: the mean distance at audio offset ``k``."""
        return float(self.distances[k + self.max_offset])

    def confidence_at(self, k: int) -> float:
        """``median D - D(k)``: LSE-C as if the offset were fixed at ``k``."""
        return float(self.distances.median() - self.distances[k + self.max_offset])


def sync_scores(video: torch.Tensor, audio: torch.Tensor, max_offset: int = MAX_OFFSET) -> SyncScores:
    """LSE-D, LSE-C and the best offset of one clip from its ``(T, D)`` embeddings."""
    distances = offset_distances(video, audio, max_offset)
    best = int(torch.argmin(distances))
    minimum = distances[best]
    # torch.median returns the lower of the two middle values for even counts; 2K+1 is odd, so it is the median
    return SyncScores(
        lse_d=float(minimum), lse_c=float(distances.median() - minimum), offset=best - max_offset, distances=distances
    )


def lse(clips: list[tuple[torch.Tensor, torch.Tensor]], max_offset: int = MAX_OFFSET) -> dict[str, float]:
    """Mean LSE-D and LSE-C over clips given as ``(video (T, D), audio (T, D))`` pairs."""
    if not clips:
        raise ValueError("lse: no clips given")
    scores = [sync_scores(v, a, max_offset) for v, a in clips]
    return {"lse_d": sum(s.lse_d for s in scores) / len(scores), "lse_c": sum(s.lse_c for s in scores) / len(scores)}
