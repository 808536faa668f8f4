"""The FLAME stage (paper eq 10): a FLAME-compatible head model in PyTorch.

* :mod:`.lbs` — the deformation, one function per step (blendshapes, joint regression,
  Rodrigues, pose correctives, kinematic chain, linear blend skinning);
* :mod:`.model` — :class:`FlameModel` (an ``nn.Module``) and :func:`load_head_model`
  for the bundled procedural head;
* :mod:`.params` — :class:`FlameParams`, the motion container every stage passes around;
* :mod:`.official` — :func:`load_official_flame` for the official ``generic_model.pkl``
  through a restricted unpickler (no chumpy, no arbitrary code).

Example::

    from talkinghead_edu.flame import load_head_model
    head = load_head_model(device="cpu")
    out = head(expression=head.expression_from_articulation(head.articulation_weights({"smile": 1.0})))
    out.vertices.shape   # (1, V, 3)
"""

from ..conventions import JOINT_NAMES
from .model import FlameModel, FlameModelError, FlameOutput, load_head_model
from .official import FlameFileError, load_landmark_embedding, load_official_flame
from .params import FlameParams, motion_vector_size

__all__ = [
    "FlameModel",
    "FlameModelError",
    "FlameOutput",
    "FlameFileError",
    "FlameParams",
    "JOINT_NAMES",
    "load_head_model",
    "load_official_flame",
    "load_landmark_embedding",
    "motion_vector_size",
]
