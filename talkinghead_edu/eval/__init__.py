"""Evaluation (paper §4.2): image metrics, perceptual metrics, landmark detector + LMD, sync expert + LSE.

* :mod:`.metrics` — PSNR, SSIM, LMD (landmark distance);
* :mod:`.perceptual` — Fréchet distance, FID and LPIPS on backbones read from local files;
* :mod:`.inception` — Inception-v3 pool3 features (the paper's FID network) in torchvision's layout;
* :mod:`.sync` and :mod:`.lse` — a SyncNet-style sync expert and LSE-D / LSE-C;
* :mod:`.landmarks` — a small 2D landmark detector (jaw + mouth) for LMD from pixels;
* :mod:`.crops` — the fixed per-head crop boxes both networks look through.
"""

from .crops import crop_square, downsample_frames, square_box
from .inception import InceptionV3Features, inception_v3_features, load_inception_v3
from .landmarks import DETECTED_LANDMARKS, LandmarkRegressor, load_landmark_regressor, lower_face_box
from .lse import SyncScores, lse, offset_distances, sync_scores
from .metrics import landmark_distance, psnr, ssim
from .perceptual import LPIPS, fid, frechet_distance, frechet_distance_of_features, load_backbone
from .sync import SyncExpert, load_sync_expert, mouth_box

__all__ = [
    "crop_square",
    "downsample_frames",
    "square_box",
    "InceptionV3Features",
    "inception_v3_features",
    "load_inception_v3",
    "DETECTED_LANDMARKS",
    "LandmarkRegressor",
    "load_landmark_regressor",
    "lower_face_box",
    "SyncScores",
    "lse",
    "offset_distances",
    "sync_scores",
    "landmark_distance",
    "psnr",
    "ssim",
    "LPIPS",
    "fid",
    "frechet_distance",
    "frechet_distance_of_features",
    "load_backbone",
    "SyncExpert",
    "load_sync_expert",
    "mouth_box",
]
