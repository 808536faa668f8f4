"""Pinhole cameras: intrinsics ``K`` (3, 3) and a world-to-camera ``viewmat`` (4, 4).

One convention, used by every backend (it is gsplat's and OpenCV's):

* camera axes: x to the right, y down, z forward (into the scene); a point is in
  front of the camera when its camera-space ``z > 0``;
* ``x_cam = R @ x_world + t`` with ``viewmat = [[R, t], [0, 0, 0, 1]]``;
* a camera-space point projects to the pixel position ``(u, v) = (K @ x_cam)[:2] / z``;
* pixel ``(i, j)`` (column i, row j) covers ``[i, i+1) x [j, j+1)``; its centre, where
  the image is sampled, is at ``(i + 0.5, j + 0.5)``. A centred camera therefore has
  ``cx = W / 2, cy = H / 2``.

World axes of the bundled head: +y up, +z out of the face, so ``Camera.orbit`` with
azimuth 0 and elevation 0 looks at the face from the front.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import InputError


def _as_vector3(value, name: str, dtype, device) -> torch.Tensor:
    vector = torch.as_tensor(value, dtype=dtype, device=device)
    if vector.shape != (3,):
        raise ValueError(f"Camera: {name} must have shape (3,), got {tuple(vector.shape)}")
    return vector


def intrinsics_from_fov(fov_y_deg: float, width: int, height: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """``K`` (3, 3) for a centred camera with square pixels and vertical field of view ``fov_y_deg``."""
    if not 0.0 < fov_y_deg < 180.0:
        raise ValueError(f"fov_y_deg must be in (0, 180) degrees, got {fov_y_deg}")
    focal = 0.5 * height / math.tan(math.radians(fov_y_deg) / 2.0)
    return intrinsics_from_focal(focal, width, height, dtype=dtype, device=device)


def intrinsics_from_focal(focal: float, width: int, height: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """``K`` (3, 3) with ``fx = fy = focal`` (pixels) and the principal point at the image centre."""
    return torch.tensor(
        [[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]], dtype=dtype, device=device
    )


def look_at_viewmat(eye, target, up=(0.0, 1.0, 0.0), dtype=torch.float32, device=None) -> torch.Tensor:
    """World-to-camera ``viewmat`` (4, 4) of a camera at ``eye`` looking at ``target``.

    The rows of ``R`` are the camera axes in world coordinates: right = forward × up,
    down = forward × right, forward = normalise(target − eye); ``t = −R @ eye``.
    """
    eye = _as_vector3(eye, "eye", dtype, device)
    target = _as_vector3(target, "target", dtype, device)
    up = _as_vector3(up, "up", dtype, device)
    forward = target - eye
    if torch.linalg.vector_norm(forward) < 1e-12:
        raise ValueError("Camera.look_at: eye and target are the same point")
    forward = forward / torch.linalg.vector_norm(forward)
    right = torch.linalg.cross(forward, up)
    if torch.linalg.vector_norm(right) < 1e-9:
        raise ValueError("Camera.look_at: `up` is parallel to the viewing direction; pick another up vector")
    right = right / torch.linalg.vector_norm(right)
    down = torch.linalg.cross(forward, right)
    rotation = torch.stack([right, down, forward])  # (3, 3) world -> camera
    viewmat = torch.eye(4, dtype=dtype, device=device)
    viewmat[:3, :3] = rotation
    viewmat[:3, 3] = -rotation @ eye
    return viewmat


@dataclass
class Camera:
    """A pinhole camera (see the module docstring for the axes and pixel convention).

    Attributes:
        K: (3, 3) intrinsics ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` in pixels.
        viewmat: (4, 4) world-to-camera transform.
        width, height: image size W, H in pixels.
        near, far: depth range (camera-space z) outside which Gaussians are culled.
    """

    K: torch.Tensor
    viewmat: torch.Tensor
    width: int
    height: int
    near: float = 0.01
    far: float = 100.0

    def __post_init__(self):
        self.K = torch.as_tensor(self.K)
        if not self.K.is_floating_point():  # integer intrinsics are common in hand-written K
            self.K = self.K.to(torch.float32)
        self.viewmat = torch.as_tensor(self.viewmat, dtype=self.K.dtype, device=self.K.device)
        if self.K.shape != (3, 3):
            raise InputError(f"Camera: K must have shape (3, 3), got {tuple(self.K.shape)}")
        if self.viewmat.shape != (4, 4):
            raise InputError(
                f"Camera: viewmat must have shape (4, 4) (world -> camera), got {tuple(self.viewmat.shape)}"
            )
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise InputError(f"Camera: width and height must be positive, got {self.width} x {self.height}")
        if not 0.0 < self.near < self.far < math.inf:
            raise InputError(f"Camera: need 0 < near < far < inf, got near={self.near}, far={self.far}")
        if not (torch.isfinite(self.K).all() and torch.isfinite(self.viewmat).all()):
            raise InputError("Camera: K and viewmat must be finite")
        fx, fy = float(self.K[0, 0]), float(self.K[1, 1])
        if not (fx > 0 and fy > 0):
            raise InputError(
                f"Camera: focal lengths must be positive pixels, got fx={fx:g}, fy={fy:g} (K[0, 0], K[1, 1])"
            )
        self.width, self.height = int(self.width), int(self.height)

    @classmethod
    def look_at(
        cls,
        eye,
        target,
        up=(0.0, 1.0, 0.0),
        fov_y_deg: float | None = None,
        focal: float | None = None,
        width: int = 256,
        height: int = 256,
        near: float = 0.01,
        far: float = 100.0,
        dtype=torch.float32,
        device=None,
    ) -> "Camera":
        """A camera at ``eye`` (3,) looking at ``target`` (3,); give ``fov_y_deg`` or ``focal`` (pixels)."""
        if (fov_y_deg is None) == (focal is None):
            raise ValueError("Camera.look_at: give exactly one of fov_y_deg or focal")
        K = (
            intrinsics_from_fov(fov_y_deg, width, height, dtype, device)
            if focal is None
            else intrinsics_from_focal(focal, width, height, dtype, device)
        )
        return cls(K, look_at_viewmat(eye, target, up, dtype, device), width, height, near, far)

    @classmethod
    def orbit(
        cls,
        azimuth_deg: float = 0.0,
        elevation_deg: float = 0.0,
        radius: float = 1.0,
        target=(0.0, 0.0, 0.0),
        fov_y_deg: float | None = None,
        focal: float | None = None,
        width: int = 256,
        height: int = 256,
        near: float = 0.01,
        far: float = 100.0,
        dtype=torch.float32,
        device=None,
    ) -> "Camera":
        """A camera on a sphere of ``radius`` around ``target``, looking at it, +y up.

        Azimuth 0 / elevation 0 is on the +z axis (in front of the face); positive azimuth
        turns toward +x, positive elevation moves up.
        """
        azimuth, elevation = math.radians(azimuth_deg), math.radians(elevation_deg)
        if abs(math.cos(elevation)) < 1e-6:
            raise ValueError("Camera.orbit: elevation of ±90° looks straight along `up`; use less than 90°")
        target = _as_vector3(target, "target", dtype, device)
        offset = torch.tensor(
            [math.cos(elevation) * math.sin(azimuth), math.sin(elevation), math.cos(elevation) * math.cos(azimuth)],
            dtype=dtype,
            device=device,
        )
        return cls.look_at(
            target + radius * offset, target, (0.0, 1.0, 0.0), fov_y_deg, focal, width, height, near, far, dtype, device
        )

    @property
    def center(self) -> torch.Tensor:
        """Camera position in world coordinates (3,): ``−Rᵀ t``."""
        rotation, translation = self.viewmat[:3, :3], self.viewmat[:3, 3]
        return -rotation.T @ translation

    def to(self, device=None, dtype=None) -> "Camera":
        """A copy with ``K`` and ``viewmat`` moved/cast."""
        return Camera(
            self.K.to(device=device, dtype=dtype),
            self.viewmat.to(device=device, dtype=dtype),
            self.width,
            self.height,
            self.near,
            self.far,
        )


def project_points(points: torch.Tensor, K: torch.Tensor, viewmat: torch.Tensor) -> torch.Tensor:
    """Pinhole projection of world points to pixels, the package's one camera model.

    ``x_cam = R x + t`` with ``viewmat = [[R, t], [0, 1]]`` (OpenCV axes), then
    ``(u, v) = (K x_cam)[:2] / z`` (pixel centres at +0.5, :mod:`talkinghead_edu.conventions`).

    Args:
        points: ``(..., P, 3)`` world points.
        K: ``(3, 3)`` intrinsics.
        viewmat: ``(4, 4)`` world-to-camera matrix.

    Returns:
        ``(..., P, 2)`` pixel coordinates ``(u, v)``.
    """
    cam = points @ viewmat[:3, :3].T + viewmat[:3, 3]
    pixels = cam @ K.T
    return pixels[..., :2] / pixels[..., 2:3].clamp_min(1e-9)
