"""The synthetic world that makes ``datasets_small/``: the procedural FLAME-compatible head,
espeak-ng speech with phone timings, visemes and speech motion, skin textures, a mesh
renderer and the target-speaker video generator. Nothing in the paper's stages imports it;
``talkinghead-edu build-head`` and ``talkinghead-edu make-dataset`` drive it.
"""
