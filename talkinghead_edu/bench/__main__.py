import sys

from ..utils.args import run_main
from . import main

sys.exit(run_main(main, sys.argv[1:], prog="python -m talkinghead_edu.bench"))
