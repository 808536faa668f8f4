"""Frame-feature extractors: 25 fps frame counts, a tone lands in the right mel band, clear errors."""

import numpy as np
import pytest
import torch

from talkinghead_edu.motion.features import LogMelFrameFeatures, get_feature_extractor


def test_log_mel_frames_and_band():
    extractor = get_feature_extractor("log_mel")
    assert isinstance(extractor, LogMelFrameFeatures) and extractor.feature_dim == 160
    t = torch.arange(640 * 10) / 16000
    low, high = torch.sin(2 * np.pi * 300 * t), torch.sin(2 * np.pi * 3000 * t)
    features = extractor(torch.stack([low, high]))
    assert features.shape == (2, 10, 160)
    bands = features[:, 5].reshape(2, 4, 40).mean(1)  # frame 5, averaged over its 4 hops
    assert bands[0].argmax() < bands[1].argmax()  # the higher tone peaks in a higher mel band


def test_bad_inputs():
    extractor = LogMelFrameFeatures()
    with pytest.raises(ValueError, match="multiple of 640"):
        extractor(torch.zeros(1, 1000))
    with pytest.raises(ValueError, match=r"\(B, L\)"):
        extractor(torch.zeros(640))
    with pytest.raises(ValueError, match="unknown feature extractor"):
        get_feature_extractor("wav2vec_huge")
