"""The student's path: every notebook run once, in order, as a student runs them.

    python -m pytest tests/test_student_path.py --student -s     # or NUMPYVIT_STUDENT_PATH=1

Off by default: it costs minutes (notebook 6 trains the quick recipe, three epochs on the
full training set). It copies notebooks/ to a throwaway folder with no runs/ beside it, so
notebook 7 cannot find a full-recipe run and analyses the checkpoint notebook 6 wrote there,
and executes every committed notebook top to bottom with neither NUMPYVIT_FAST (the test
suite's smoke run) nor NUMPYVIT_STRICT (the build, where a finding that does not hold is an
error) set. It passes when no cell raises. A finding that does not hold on this model is no
failure, since a student's model is not the one the notebook was written on; the test prints
each one, with the notebook it came from, and every notebook's run time.

Without the switch the test is skipped; the tests after it, always on, check the switch, the
parsing of the findings, and the runner on a planted failing notebook (a few seconds).
"""
import os
import re
import shutil
import time
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
SWITCH_ENV = "NUMPYVIT_STUDENT_PATH"
HELD = re.compile(r"^holds: .*$", flags=re.MULTILINE)
UNHELD = re.compile(r"^does not hold for this model: .*$", flags=re.MULTILINE)


def student_path_enabled(option, environ):
    """True when the student path is asked for: the --student option, or NUMPYVIT_STUDENT_PATH
    set to anything but '' or '0'."""
    return bool(option) or environ.get(SWITCH_ENV, "") not in ("", "0")


def printed_lines(nb, pattern=UNHELD):
    """Every line matching `pattern` that the notebook's code cells printed (by default the
    'does not hold for this model: ...' lines of numpyvit.insight.findings)."""
    lines = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                lines += pattern.findall(out.get("text", ""))
    return lines


@pytest.fixture
def student_copy(tmp_path):
    """notebooks/ copied to tmp_path/notebooks without what a run left behind (the saved model,
    checkpoints) and with no runs/ folder beside it."""
    work = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOK_DIR, work, ignore=shutil.ignore_patterns(
        "artifacts", ".ipynb_checkpoints", "__pycache__", "fresh-*"))
    assert not (tmp_path / "runs").exists()
    return work


def run_in_order(folder):
    """Execute every NN_*.ipynb in `folder`, in name order, with `folder` as the working
    directory, each one even if an earlier one failed. Returns (report lines, failures)."""
    import nbclient
    import nbformat

    report, failed = [], []
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):      # in reading order: 07 reads 06's model
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        try:
            nbclient.NotebookClient(nb, timeout=1800, kernel_name="python3",
                                    resources={"metadata": {"path": str(folder)}}).execute()
            status = "ran"
        except nbclient.exceptions.CellExecutionError as error:
            status = "FAILED"
            failed.append(f"{path.name}: {str(error).strip().splitlines()[-1]}")
        unheld = printed_lines(nb)
        report.append(f"{path.name}: {status} in {time.perf_counter() - start:.0f} s; findings: "
                      f"{len(printed_lines(nb, HELD))} held, {len(unheld)} did not")
        report += [f"    {line}" for line in unheld]
        nbformat.write(nb, folder / f"fresh-{path.name}")             # kept for a look afterwards
    return report, failed


@pytest.mark.student_path
def test_every_notebook_runs_in_order_as_a_student_runs_it(request, student_copy, monkeypatch, capsys):
    if not student_path_enabled(request.config.getoption("--student"), os.environ):
        pytest.skip(f"the student path takes minutes: run it with --student or {SWITCH_ENV}=1")
    pytest.importorskip("nbclient", reason="executing the notebooks needs nbclient and ipykernel")
    monkeypatch.delenv("NUMPYVIT_FAST", raising=False)
    monkeypatch.delenv("NUMPYVIT_STRICT", raising=False)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", os.environ.get("OPENBLAS_NUM_THREADS", "1"))
    report, failed = run_in_order(student_copy)
    with capsys.disabled():
        print(f"\nthe student path (normal mode, no runs/default), executed copies in {student_copy}:\n"
              + "\n".join(report))
    assert not failed, "notebooks that stopped on the student path:\n" + "\n".join(failed)


# --- always on: the switch and the parsing ------------------------------------------------
def test_the_student_path_is_off_unless_asked_for():
    assert not student_path_enabled(False, {})
    assert not student_path_enabled(False, {SWITCH_ENV: "0"})
    assert not student_path_enabled(False, {SWITCH_ENV: ""})
    assert student_path_enabled(True, {})
    assert student_path_enabled(False, {SWITCH_ENV: "1"})


def test_unheld_findings_are_found_and_held_ones_are_not():
    nbformat = pytest.importorskip("nbformat")
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    printed = ("holds: rows are alike (row 0.2)\n"
               "does not hold for this model: columns are not alike (column 0.3)\n")
    nb = new_notebook(cells=[
        new_markdown_cell("does not hold for this model: said in a text cell, not printed"),
        new_code_cell("finding(...)", outputs=[new_output("stream", name="stdout", text=printed)]),
        new_code_cell("x = 1"),
    ])
    assert printed_lines(nb) == ["does not hold for this model: columns are not alike (column 0.3)"]
    assert printed_lines(nb, HELD) == ["holds: rows are alike (row 0.2)"]
    nb.cells[1].outputs[0]["text"] = "holds: rows are alike (row 0.2)\n"
    assert printed_lines(nb) == []


@pytest.mark.notebooks
def test_the_runner_reports_a_failing_notebook_and_runs_the_ones_after_it(tmp_path, monkeypatch):
    # a planted bug: notebook 01 raises; 02 must still run, and find what 01 wrote before it
    pytest.importorskip("nbclient", reason="executing the notebooks needs nbclient and ipykernel")
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    monkeypatch.delenv("NUMPYVIT_STRICT", raising=False)
    first = ["open('made_by_01.txt', 'w').write('x')",
             "from numpyvit.insight.findings import finding\nfinding(False, 'a planted finding', 'n 1')",
             "raise ValueError('planted')"]
    second = ["assert open('made_by_01.txt').read() == 'x'", "print('holds: second ran')"]
    for name, sources in (("01_first.ipynb", first), ("02_second.ipynb", second)):
        nbformat.write(new_notebook(cells=[new_code_cell(s) for s in sources]), tmp_path / name)
    report, failed = run_in_order(tmp_path)
    assert len(failed) == 1 and failed[0].startswith("01_first.ipynb") and "planted" in failed[0], failed
    assert report[0].startswith("01_first.ipynb: FAILED") and "0 held, 1 did not" in report[0], report
    assert report[1] == "    does not hold for this model: a planted finding (n 1)", report
    assert report[2].startswith("02_second.ipynb: ran") and "1 held, 0 did not" in report[2], report
