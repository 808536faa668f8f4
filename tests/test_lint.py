"""The code passes the project's linter and formatter (ruff, settings in pyproject.toml: line length 120)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _ruff(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", *arguments], cwd=ROOT, capture_output=True, text=True)


def test_ruff_check_is_clean():
    result = _ruff("check", "talkinghead_edu", "tests", "notebooks")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_ruff_format_is_applied():
    result = _ruff("format", "--check", "talkinghead_edu", "tests")
    assert result.returncode == 0, "run `ruff format talkinghead_edu tests`:\n" + result.stdout[-4000:]
