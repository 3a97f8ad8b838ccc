"""Write the notebooks as a handout: every folded solution and answer removed, no answer key.

    python tools/handout.py OUT_DIR        # OUT_DIR/NN_*.ipynb and README.md, from notebooks/

The cells dropped are those whose metadata "folded" is "solution" or "answer", which
build_notebooks.py's solution() and answer() set; the hints ("folded": "hint") stay, and so do
notebook 5's stubs and checks. Left out as well: notebooks/solutions/ (notebook 5's answer
key) and notebooks/src/ (the cell sources, every solution among them).

A notebook committed before its cells were marked, or not rebuilt since its source gained a
solution, would hand its answers out unmarked; so each notebook's marks are counted against
its source's, and a notebook with fewer is refused with the command that rebuilds it.
"""
import argparse
import shutil
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_notebooks import FOLDED, NOTEBOOK_DIR, NOTEBOOKS, load_cells  # noqa: E402

DROP = ("solution", "answer")       # the folded kinds a handout leaves out; "hint" stays


def dropped(cell):
    return cell.get("metadata", {}).get(FOLDED) in DROP


def unmarked(path):
    """None, or why the notebook at `path` cannot be trusted to mark all its answers: its
    source in notebooks/src/ folds more cells away than the notebook marks."""
    name = path.stem
    if name not in NOTEBOOKS:
        return None                 # no source to compare with (a notebook of the reader's own)
    in_source = sum(dropped(c) for c in load_cells(name))
    marked = sum(dropped(c) for c in nbformat.read(path, as_version=4).cells)
    if marked < in_source:
        return (f"{path.name} marks {marked} solution/answer cells, its source "
                f"notebooks/src/{name}.py folds {in_source}: rebuild it with "
                f"`python tools/build_notebooks.py {name[:2]}` first")
    return None


def write_handout(out_dir, notebook_dir=NOTEBOOK_DIR, force=False):
    """Write every notebook of notebook_dir into out_dir without its solution and answer cells,
    and the README; return {notebook name: cells dropped}. Raises ValueError, naming each, if a
    notebook does not mark all its answers, or if out_dir already holds files and not force
    (a handout someone edited is not overwritten unasked); nothing is written then."""
    out_dir, notebook_dir = Path(out_dir), Path(notebook_dir)
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise ValueError(f"OUT_DIR={out_dir} is not empty: choose an empty or new folder, or "
                         f"pass --force to overwrite the notebooks in it")
    if out_dir.resolve() == notebook_dir.resolve() or notebook_dir.resolve() in out_dir.resolve().parents:
        raise ValueError(f"OUT_DIR={out_dir} is inside {notebook_dir}: write the handout somewhere else")
    paths = sorted(notebook_dir.glob("*.ipynb"))
    if not paths:
        raise ValueError(f"no notebooks (*.ipynb) in {notebook_dir}")
    problems = [p for p in map(unmarked, paths) if p]
    if problems:
        raise ValueError("not written, these notebooks would hand out answers:\n  " + "\n  ".join(problems))
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        kept = [c for c in nb.cells if not dropped(c)]
        counts[path.name], nb.cells = len(nb.cells) - len(kept), kept
        nbformat.write(nb, out_dir / path.name)
    if (notebook_dir / "README.md").exists():
        shutil.copy(notebook_dir / "README.md", out_dir / "README.md")
    return counts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", help="the folder to write the handout into (created if needed)")
    parser.add_argument("--force", action="store_true", help="overwrite the notebooks in a folder that is not empty")
    args = parser.parse_args(argv)
    try:
        counts = write_handout(args.out_dir, force=args.force)
    except ValueError as e:
        print(f"handout: {e}", file=sys.stderr)
        return 1
    for name, n in counts.items():
        print(f"wrote {Path(args.out_dir) / name} ({n} solution and answer cells left out)")
    print("left out: solutions/ (the answer key) and src/ (the cell sources)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
