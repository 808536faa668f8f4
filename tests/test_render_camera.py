"""Camera conventions (OpenCV axes, pixel centres at +0.5) — closed-form checks."""

import math

import pytest
import torch

from talkinghead_edu.render import Camera, intrinsics_from_fov, look_at_viewmat


def project(camera: Camera, point) -> torch.Tensor:
    x_cam = camera.viewmat[:3, :3] @ torch.as_tensor(point, dtype=torch.float32) + camera.viewmat[:3, 3]
    uvw = camera.K @ x_cam
    return torch.cat([uvw[:2] / uvw[2], x_cam[2:]])


def test_look_at_axes_are_opencv():
    cam = Camera.look_at((0, 0, 2), (0, 0, 0), up=(0, 1, 0), fov_y_deg=60, width=100, height=80)
    rotation = cam.viewmat[:3, :3]
    torch.testing.assert_close(rotation @ rotation.T, torch.eye(3), atol=1e-6, rtol=0)  # orthonormal
    assert torch.det(rotation) == pytest.approx(1.0, abs=1e-6)
    # the target lands at the image centre, 2 m in front
    torch.testing.assert_close(project(cam, (0, 0, 0)), torch.tensor([50.0, 40.0, 2.0]), atol=1e-5, rtol=0)
    # world +x (right as seen from +z) goes right in the image, world +y (up) goes up = smaller v
    u, v, _ = project(cam, (0.1, 0.2, 0))
    assert u > 50 and v < 40
    torch.testing.assert_close(cam.center, torch.tensor([0.0, 0.0, 2.0]), atol=1e-6, rtol=0)


def test_fov_gives_the_focal_length():
    K = intrinsics_from_fov(90.0, 64, 48)
    assert K[1, 1].item() == pytest.approx(24.0)  # tan(45°) = 1 → f = H / 2
    assert (K[0, 2].item(), K[1, 2].item()) == (32.0, 24.0)  # pixel centres at +0.5: centre of a 64-wide image is 32


def test_orbit_azimuth_and_elevation():
    front = Camera.orbit(0, 0, radius=1.5, fov_y_deg=30)
    torch.testing.assert_close(front.center, torch.tensor([0.0, 0.0, 1.5]), atol=1e-6, rtol=0)
    side = Camera.orbit(90, 0, radius=1.0, fov_y_deg=30)
    torch.testing.assert_close(side.center, torch.tensor([1.0, 0.0, 0.0]), atol=1e-6, rtol=0)
    above = Camera.orbit(0, 30, radius=2.0, fov_y_deg=30)
    torch.testing.assert_close(above.center, torch.tensor([0.0, 1.0, math.sqrt(3)]), atol=1e-6, rtol=0)
    torch.testing.assert_close(project(above, (0, 0, 0))[:2], torch.tensor([128.0, 128.0]), atol=1e-4, rtol=0)


def test_bad_cameras_are_rejected():
    with pytest.raises(ValueError, match="K must have shape"):
        Camera(torch.eye(2), torch.eye(4), 10, 10)
    with pytest.raises(ValueError, match="viewmat"):
        Camera(torch.eye(3), torch.eye(3), 10, 10)
    with pytest.raises(ValueError, match="near < far"):
        Camera(torch.eye(3), torch.eye(4), 10, 10, near=1.0, far=0.5)
    with pytest.raises(ValueError, match="parallel"):
        look_at_viewmat((0, 0, 1), (0, 0, 0), up=(0, 0, 1))
    with pytest.raises(ValueError, match="exactly one"):
        Camera.look_at((0, 0, 1), (0, 0, 0))
