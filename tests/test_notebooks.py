"""The teaching notebooks: committed executed, without errors and small, and still running.

The execution test runs every notebook headless in a copy of notebooks/ (so neither the
committed .ipynb files nor notebook 6's saved model are touched) with NUMPYVIT_FAST=1, which
shrinks the training in notebooks 2, 6 and 7 to a smoke run. It needs nbclient and a
`python3` Jupyter kernel (ipykernel).
"""
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from tools.check_notebooks import MAX_BYTES, check_notebook, main as check_main

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))


# --- the committed notebooks ---------------------------------------------------------------
def test_committed_notebooks_are_executed_without_errors_and_small(capsys):
    assert len(NOTEBOOKS) >= 6, f"expected the six teaching notebooks in {NOTEBOOK_DIR}"
    status = check_main([str(p) for p in NOTEBOOKS])
    assert status == 0, capsys.readouterr().out


# --- the checker can fail ------------------------------------------------------------------
def write_notebook(path, cells):
    nb = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))
    return path


def code_cell(source, count, outputs=()):
    return {"cell_type": "code", "execution_count": count, "metadata": {}, "source": source,
            "outputs": list(outputs)}


def stdout(text):
    return {"output_type": "stream", "name": "stdout", "text": text}


def test_checker_passes_an_executed_clean_notebook(tmp_path):
    path = write_notebook(tmp_path / "good.ipynb", [
        {"cell_type": "markdown", "metadata": {}, "source": "# Title"},
        code_cell("print(1)", 1, [stdout("1\n")]),
        code_cell("", None),                                   # empty cells need not run
        code_cell("x = 2", 2),
    ])
    problems, _ = check_notebook(path)
    assert problems == []


def test_checker_flags_an_error_output(tmp_path):
    error = {"output_type": "error", "ename": "ZeroDivisionError", "evalue": "division by zero",
             "traceback": []}
    path = write_notebook(tmp_path / "error.ipynb", [code_cell("1 / 0", 1, [error])])
    problems, _ = check_notebook(path)
    assert any("ZeroDivisionError" in p for p in problems), problems


def test_checker_flags_a_notebook_committed_without_outputs(tmp_path):
    path = write_notebook(tmp_path / "cleared.ipynb", [code_cell("print(1)", None), code_cell("x = 2", None)])
    problems, _ = check_notebook(path)
    assert any("never executed" in p for p in problems), problems
    assert any("no outputs" in p for p in problems), problems


def test_checker_flags_a_notebook_over_the_size_limit(tmp_path):
    path = write_notebook(tmp_path / "huge.ipynb", [code_cell("print(s)", 1, [stdout("x" * (MAX_BYTES + 1000))])])
    problems, _ = check_notebook(path)
    assert any("over the" in p for p in problems), problems


def test_checker_flags_cells_run_out_of_order(tmp_path):
    path = write_notebook(tmp_path / "shuffled.ipynb", [code_cell("a = 1", 2, [stdout("")]), code_cell("b = a", 1)])
    problems, _ = check_notebook(path)
    assert any("out of order" in p for p in problems), problems


def test_checker_command_exits_nonzero_and_names_the_failing_notebook(tmp_path, capsys):
    good = write_notebook(tmp_path / "good.ipynb", [code_cell("print(1)", 1, [stdout("1\n")])])
    bad = write_notebook(tmp_path / "bad.ipynb", [code_cell("print(1)", None)])
    assert check_main([str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert "ok    " + str(good) in out and "FAIL  " + str(bad) in out


# --- every notebook still runs -------------------------------------------------------------
@pytest.fixture(scope="module")
def notebook_copy(tmp_path_factory):
    """A throwaway copy of notebooks/, where the notebooks run and write their artifacts."""
    work = tmp_path_factory.mktemp("nb") / "notebooks"
    shutil.copytree(NOTEBOOK_DIR, work, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return work


@pytest.mark.notebooks
@pytest.mark.parametrize("name", [p.name for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom_in_fast_mode(name, notebook_copy, monkeypatch):
    # in file order, so notebook 7 finds the model notebook 6 saved in the same copy
    nbclient = pytest.importorskip("nbclient", reason="executing the notebooks needs nbclient "
                                                      "(pip install nbclient nbformat ipykernel)")
    import nbformat

    monkeypatch.setenv("NUMPYVIT_FAST", "1")
    # One BLAS thread: on a busy 2-core CI machine, OpenBLAS threads spinning against other
    # processes can make this small model's matmuls many times slower.
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", os.environ.get("OPENBLAS_NUM_THREADS", "1"))
    nb = nbformat.read(notebook_copy / name, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(notebook_copy)}})
    client.execute()      # raises CellExecutionError, with the cell and traceback, on any error
    # what this run made must pass the checker the committed notebooks pass: every cell run in
    # order, outputs present, and small enough to commit
    nbformat.write(nb, notebook_copy / f"fresh-{name}")
    problems, _ = check_notebook(notebook_copy / f"fresh-{name}")
    assert problems == [], problems


@pytest.mark.notebooks
def test_your_turn_notebook_passes_every_check_with_the_answer_key(notebook_copy, monkeypatch):
    # Notebook 5 is committed with stubs that FAIL. Here each stub cell (marked with the
    # metadata "exercise") becomes an import from the answer key, notebooks/solutions/
    # your_turn.py: every check the notebook runs must then print PASS, and the capstone must
    # run to its end (its gradient check and loss-curve asserts raise if they fail)
    nbclient = pytest.importorskip("nbclient", reason="executing the notebooks needs nbclient")
    import nbformat
    from numpyvit.exercises import NAMES

    monkeypatch.setenv("NUMPYVIT_FAST", "1")                          # the capstone's short run
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", os.environ.get("OPENBLAS_NUM_THREADS", "1"))
    nb = nbformat.read(notebook_copy / "05_your_turn.ipynb", as_version=4)
    stubs = [c for c in nb.cells if "exercise" in c.metadata]
    assert [c.metadata["exercise"] for c in stubs] == list(NAMES)      # every exercise, in order
    for cell in stubs:
        cell.source = f"from solutions.your_turn import {cell.metadata['exercise']}"
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(notebook_copy)}}).execute()
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    verdicts = re.findall(r"^(PASS|FAIL) (\w+):", printed, flags=re.MULTILINE)
    assert sorted(verdicts) == sorted(("PASS", name) for name in NAMES), printed
    assert "functions the capstone needs pass their checks" in printed, printed
    assert "skipped" not in printed and "max |yours - package|" in printed, printed
