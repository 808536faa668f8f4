"""Execute every notebook end to end with papermill, at its smoke parameters — twice: with every
exercise unsolved (the stubs raise ``NotImplementedError``) and with every exercise solved
(``SOLVE_EXERCISES = True`` makes each check grade the package's solution).

Each notebook stores its smoke parameters and time limit in its own metadata::

    "metadata": {"talkinghead_edu": {"smoke_parameters": {"TRAIN_STEPS": 20}, "timeout": 300}}

The test injects those values into the cell tagged ``parameters`` (papermill's
convention) and writes the executed copy to a temporary folder. A notebook without a
``parameters`` cell, without smoke parameters, or with committed outputs fails; so does
markdown with raw LaTeX escapes, an executed cell that printed a warning, and an exercise
that was not graded as expected (every stub "not attempted" in the unsolved run, every
check ✓ in the solved run). ``-m "notebook and not solved"`` runs the unsolved variant only.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_browser import EXPECTED_WIDGETS, browser_unavailable

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
DEFAULT_TIMEOUT_S = 300
SOLVE_PARAMETER = "SOLVE_EXERCISES"
# "\\cdot" in a markdown source renders as a line break followed by the letters "cdot":
# a backslash escaped twice (typically written through a Python string) before a command name.
RAW_LATEX_ESCAPE = re.compile(r"\\\\[A-Za-z]")
WARNING_LINE = re.compile(r"\b\w*Warning\b")
EXERCISE_STUB = re.compile(r"NotImplementedError\(\s*[\"']Exercise (\d\d\.\d+)")


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _parameters_source(notebook: dict) -> str:
    tagged = [c for c in notebook["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    return _source(tagged[0]) if tagged else ""


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
        assert f"{name} =" in _source(tagged[0]), (
            f"{path.name}: smoke parameter {name} is not set in the parameters cell"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_papermill_reads_every_parameter(path: Path):
    """``papermill --help-notebook`` and parameter injection see every assignment of the parameters cell
    (papermill skips, with a warning, a line whose comment it cannot parse, e.g. one containing ``=``)."""
    import ast

    import nbformat
    from papermill.translators import PythonTranslator

    source = _parameters_source(_load(path))
    assigned = [t.id for node in ast.parse(source).body if isinstance(node, ast.Assign) for t in node.targets]
    seen = [p.name for p in PythonTranslator.inspect(nbformat.v4.new_code_cell(source))]
    assert seen == assigned, f"{path.name}: papermill reads {seen} of the parameters {assigned}; reword their comments"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_markdown_has_no_raw_latex_escapes(path: Path):
    bad = []
    for index, cell in enumerate(_load(path)["cells"]):
        if cell["cell_type"] == "markdown":
            bad += [
                f"cell {index}: ...{_source(cell)[max(0, m.start() - 30) : m.end() + 10]!r}..."
                for m in RAW_LATEX_ESCAPE.finditer(_source(cell))
            ]
    assert not bad, f"{path.name}: doubled backslashes before LaTeX commands (they render as text):\n" + "\n".join(bad)


def test_the_latex_check_catches_a_doubled_escape():
    assert RAW_LATEX_ESCAPE.search(r"$a \\cdot b$") and not RAW_LATEX_ESCAPE.search(r"$a \cdot b \\ c$")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_exercises_follow_the_convention(path: Path):
    """Every exercise stub has a registered id, is graded by ``th.teach.check`` and the notebook has the
    ``SOLVE_EXERCISES`` parameter; the study time is stated at the top."""
    from talkinghead_edu.teach.exercises import EXERCISES

    notebook = _load(path)
    code = "\n".join(_source(c) for c in notebook["cells"] if c["cell_type"] == "code")
    ids = EXERCISE_STUB.findall(code)
    if not ids:
        pytest.skip(f"{path.name} has no exercises of this registry")
    assert f"{SOLVE_PARAMETER} =" in _parameters_source(notebook), (
        f"{path.name}: parameters cell lacks {SOLVE_PARAMETER}"
    )
    for exercise_id in ids:
        assert exercise_id in EXERCISES, f"{path.name}: exercise {exercise_id} is not registered in teach/exercises.py"
        assert f'th.teach.check("{exercise_id}"' in code, f"{path.name}: exercise {exercise_id} is never checked"
    assert "Study time: ~" in _source(notebook["cells"][0]), f"{path.name}: state the study time in the first cell"


def _stream_text(notebook: dict, name: str) -> list[tuple[int, str]]:
    return [
        (index, "".join(output.get("text", "")))
        for index, cell in enumerate(notebook["cells"])
        if cell["cell_type"] == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream" and output.get("name") == name
    ]


@pytest.mark.notebook
@pytest.mark.parametrize("variant", ["unsolved", pytest.param("solved", marks=pytest.mark.solved)])
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path: Path, variant: str, tmp_path: Path):
    import papermill

    notebook = _load(path)
    settings = notebook["metadata"].get("talkinghead_edu", {})
    parameters = dict(settings.get("smoke_parameters", {}))
    has_exercises = f"{SOLVE_PARAMETER} =" in _parameters_source(notebook)
    if variant == "solved":
        if not has_exercises:
            pytest.skip(f"{path.name} has no {SOLVE_PARAMETER} parameter")
        parameters[SOLVE_PARAMETER] = True
    elif path.name in EXPECTED_WIDGETS and browser_unavailable() is None:
        # One unattended run per variant is enough: tests/test_browser.py runs this notebook unsolved, at the
        # same smoke parameters and per-cell timeout, in a real JupyterLab, and fails on any error output.
        pytest.skip(f"{path.name}: the unsolved run is tests/test_browser.py's (a real JupyterLab)")
    papermill.execute_notebook(
        str(path),
        str(tmp_path / path.name),
        parameters=parameters,
        cwd=str(NOTEBOOK_DIR),
        kernel_name="python3",
        execution_timeout=settings.get("timeout", DEFAULT_TIMEOUT_S),
        progress_bar=False,
    )
    executed = _load(tmp_path / path.name)
    warnings = [
        f"cell {i}: {text.strip()[:300]}" for i, text in _stream_text(executed, "stderr") if WARNING_LINE.search(text)
    ]
    assert not warnings, f"{path.name} ({variant}): warnings printed while running:\n" + "\n".join(warnings)
    stdout = "\n".join(text for _, text in _stream_text(executed, "stdout"))
    ids = EXERCISE_STUB.findall("\n".join(_source(c) for c in notebook["cells"] if c["cell_type"] == "code"))
    for exercise_id in ids:
        if variant == "solved":
            assert f"Exercise {exercise_id} ·" not in stdout, (
                f"{path.name}: the solution of exercise {exercise_id} did not pass its check in the notebook"
            )
        else:
            assert f"… Exercise {exercise_id} ·" in stdout, (
                f"{path.name}: exercise {exercise_id}'s stub was not reported as unsolved"
            )
