"""Crop boxes and the landmark detector's coordinate maps: known answers on constructed images."""

import pytest
import torch

from talkinghead_edu.eval.crops import crop_square, downsample_frames, snap_box, square_box
from talkinghead_edu.eval.landmarks import (
    DETECTED_LANDMARKS,
    LandmarkRegressor,
    crop_units_to_pixels,
    lower_face_box,
    pixels_to_crop_units,
)
from talkinghead_edu.eval.sync import mouth_box


def test_square_box_of_points():
    box = square_box(torch.tensor([[10.0, 20.0], [30.0, 24.0]]), scale=1.5)
    torch.testing.assert_close(box, torch.tensor([20.0, 22.0, 30.0]))


def test_crop_without_resampling_cuts_the_exact_pixels():
    frames = torch.arange(2 * 8 * 8 * 3, dtype=torch.float32).view(2, 8, 8, 3) / 400
    patch = crop_square(frames, torch.tensor([4.0, 3.0, 4.0]))  # x 2..5, y 1..4
    torch.testing.assert_close(patch, frames[:, 1:5, 2:6].permute(0, 3, 1, 2))
    assert snap_box(torch.tensor([4.0, 3.0, 4.0])) == (2, 1, 4)


def test_crop_outside_repeats_the_border_and_resizing_averages():
    frames = torch.zeros(1, 4, 4, 3)
    frames[:, :, 0] = 1.0  # left column white
    patch = crop_square(frames, torch.tensor([0.0, 2.0, 4.0]))  # x -2..1: two padded columns copy column 0
    assert patch[0, 0, :, :3].eq(1.0).all() and patch[0, 0, :, 3].eq(0.0).all()
    half = crop_square(torch.ones(1, 8, 8, 3) * 0.25, torch.tensor([4.0, 4.0, 8.0]), size=4)
    torch.testing.assert_close(half, torch.full((1, 3, 4, 4), 0.25))


def test_256_and_128_versions_give_nearly_the_same_crop():
    g = torch.Generator().manual_seed(0)
    big = torch.nn.functional.interpolate(
        torch.rand(1, 3, 32, 32, generator=g), size=(256, 256), mode="bilinear"
    ).permute(0, 2, 3, 1)
    small = downsample_frames(big, 2)
    a = crop_square(big, torch.tensor([128.0, 140.0, 64.0]), 32)
    b = crop_square(small, torch.tensor([64.0, 70.0, 32.0]), 32)
    assert (a - b).abs().mean() < 0.01


def test_crop_unit_round_trip_and_detector_shapes():
    box = torch.tensor([50.3, 60.7, 40.2])
    pixels = torch.rand(5, 31, 2) * 100
    torch.testing.assert_close(crop_units_to_pixels(pixels_to_crop_units(pixels, box), box), pixels)
    detector = LandmarkRegressor(crop=32)
    found = detector.detect(torch.rand(3, 128, 128, 3), box)
    assert found.shape == (3, len(DETECTED_LANDMARKS), 2)
    with pytest.raises(ValueError, match="multiple of 16"):
        LandmarkRegressor(crop=40)


def test_boxes_need_68_landmarks():
    landmarks = torch.rand(68, 2) * 100
    assert mouth_box(landmarks).shape == (3,) and lower_face_box(landmarks).shape == (3,)
    with pytest.raises(ValueError, match=r"\(68, 2\)"):
        mouth_box(torch.rand(20, 2))
