"""tools/handout.py: the handout holds no solution or answer, the notebooks it was made from
still do, and a notebook that does not mark its answers is refused."""
import nbformat
import pytest

from tools.build_notebooks import FOLDED, NOTEBOOK_DIR, NOTEBOOKS, build
from tools.handout import DROP, main, write_handout


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory):
    """Every notebook as the build writes it (its cells, unexecuted), beside the answer key and
    the sources, in a folder laid out like notebooks/."""
    folder = tmp_path_factory.mktemp("nb") / "notebooks"
    folder.mkdir()
    for name in NOTEBOOKS:
        nbformat.write(build(name), folder / f"{name}.ipynb")
    (folder / "solutions").mkdir()
    (folder / "solutions" / "your_turn.py").write_text((NOTEBOOK_DIR / "solutions" / "your_turn.py").read_text())
    (folder / "src").mkdir()
    (folder / "README.md").write_text("# The notebooks\n")
    return folder


def folded(path, kinds):
    return [c for c in nbformat.read(path, as_version=4).cells if c.metadata.get(FOLDED) in kinds]


def test_handout_holds_no_solution_or_answer_and_the_notebooks_still_do(notebooks, tmp_path):
    out = tmp_path / "handout"
    counts = write_handout(out, notebooks)
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{n}.ipynb" for n in NOTEBOOKS] + ["README.md"])
    for name in NOTEBOOKS:
        answers = folded(notebooks / f"{name}.ipynb", DROP)     # the notebooks keep theirs
        kept = nbformat.read(out / f"{name}.ipynb", as_version=4).cells
        assert counts[f"{name}.ipynb"] == len(answers)
        assert folded(out / f"{name}.ipynb", DROP) == []
        # by content too, not only by the mark: no solution's text is left anywhere
        assert not {c.source for c in answers} & {c.source for c in kept}, name
    # something to leave out: notebooks 1-4 each end with folded solutions
    assert all(counts[f"{name}.ipynb"] for name in NOTEBOOKS[:4]), counts


def test_handout_keeps_notebook_5s_stubs_checks_and_hints(notebooks, tmp_path):
    write_handout(tmp_path / "handout", notebooks)
    cells = nbformat.read(tmp_path / "handout" / "05_your_turn.ipynb", as_version=4).cells
    stubs = [c for c in cells if "exercise" in c.metadata]
    hints = [c for c in cells if c.metadata.get(FOLDED) == "hint"]
    assert len(stubs) == 12 and len(hints) == 2 * len(stubs)
    assert all("raise NotImplementedError" in c.source for c in stubs)


def test_a_notebook_that_does_not_mark_its_answers_is_refused(notebooks, tmp_path):
    stale = tmp_path / "notebooks"
    stale.mkdir()
    nb = nbformat.read(notebooks / "04_backprop_by_hand.ipynb", as_version=4)
    for cell in nb.cells:
        cell.metadata.pop(FOLDED, None)        # as a notebook built before the marks existed
    nbformat.write(nb, stale / "04_backprop_by_hand.ipynb")
    with pytest.raises(ValueError, match=r"04_backprop_by_hand.ipynb marks 0 solution/answer cells, its "
                                         r"source notebooks/src/04_backprop_by_hand.py folds \d+: rebuild"):
        write_handout(tmp_path / "out", stale)
    assert not (tmp_path / "out").exists()      # nothing written


def test_the_command_refuses_a_folder_inside_the_notebooks(notebooks, capsys):
    assert main([str(NOTEBOOK_DIR / "handout")]) == 1
    assert "is inside" in capsys.readouterr().err


def test_a_folder_that_holds_files_is_not_overwritten_unless_forced(notebooks, tmp_path, capsys):
    out = tmp_path / "handout"
    out.mkdir()
    (out / "05_your_turn.ipynb").write_text("my notes")          # a handout someone edited
    assert main([str(out)]) == 1
    assert "is not empty" in capsys.readouterr().err
    assert (out / "05_your_turn.ipynb").read_text() == "my notes"
    write_handout(out, notebooks, force=True)
    assert nbformat.read(out / "05_your_turn.ipynb", as_version=4).cells
