"""Execute every notebook end to end with papermill, at its smoke parameters.

Each notebook stores its smoke parameters and time limit in its own metadata::

    "metadata": {"talkinghead_edu": {"smoke_parameters": {"TRAIN_STEPS": 20}, "timeout": 300}}

The test injects those values into the cell tagged ``parameters`` (papermill's
convention) and writes the executed copy to a temporary folder. A notebook without a
``parameters`` cell, without smoke parameters, or with committed outputs fails.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
DEFAULT_TIMEOUT_S = 300


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks found in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean(path: Path):
    notebook = _load(path)
    code_cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    with_outputs = [i for i, c in enumerate(code_cells) if c.get("outputs") or c.get("execution_count")]
    assert not with_outputs, f"{path.name}: code cells {with_outputs} have committed outputs; strip them"
    tagged = [c for c in code_cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged 'parameters', found {len(tagged)}"
    smoke = notebook["metadata"].get("talkinghead_edu", {}).get("smoke_parameters")
    assert isinstance(smoke, dict), f"{path.name}: metadata.talkinghead_edu.smoke_parameters is missing"
    for name in smoke:
        assert f"{name} =" in "".join(tagged[0]["source"]), f"{path.name}: smoke parameter {name} is not set in the parameters cell"


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path: Path, tmp_path: Path):
    import papermill

    settings = _load(path)["metadata"].get("talkinghead_edu", {})
    papermill.execute_notebook(
        str(path),
        str(tmp_path / path.name),
        parameters=settings.get("smoke_parameters", {}),
        cwd=str(NOTEBOOK_DIR),
        kernel_name="python3",
        execution_timeout=settings.get("timeout", DEFAULT_TIMEOUT_S),
        progress_bar=False,
    )
