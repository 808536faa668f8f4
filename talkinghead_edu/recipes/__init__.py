"""Training and build drivers behind the command line (``talkinghead-edu train-audio`` ...).

Each module chains the stages with the bundled data and writes a checkpoint; the stages
themselves never import a recipe.
"""
