"""The FLAME stage (paper eq 10): a FLAME-compatible head model in PyTorch.

* :mod:`.lbs` — the deformation, one function per step (blendshapes, joint regression,
  Rodrigues, pose correctives, kinematic chain, linear blend skinning);
* :mod:`.model` — :class:`FlameModel` (an ``nn.Module``) and :func:`load_head_model`
  for the bundled procedural head;
* :mod:`.official` — :func:`load_official_flame` for the official ``generic_model.pkl``
  through a restricted unpickler (no chumpy, no arbitrary code).

Example::

    from talkinghead_edu.flame import load_head_model
    head = load_head_model(device="cpu")
    out = head(expression=head.expression_from_articulation(head.articulation_weights({"smile": 1.0})))
    out.vertices.shape   # (1, V, 3)
"""
from .model import FlameModel, FlameModelError, FlameOutput, JOINT_NAMES, load_head_model
from .official import FlameFileError, load_landmark_embedding, load_official_flame

__all__ = [
    "FlameModel",
    "FlameModelError",
    "FlameOutput",
    "FlameFileError",
    "JOINT_NAMES",
    "load_head_model",
    "load_official_flame",
    "load_landmark_embedding",
]
