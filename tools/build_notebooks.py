"""Write the teaching notebooks from the cell texts in notebooks/src/, then run them.

    python tools/build_notebooks.py              # write all of them and execute them in place
    python tools/build_notebooks.py 02 05        # only the notebooks whose names start so
    python tools/build_notebooks.py --no-execute # write the cells, keep them unexecuted

The notebooks are generated so that they are easy to change and regenerate: edit a file
in notebooks/src/ (one per notebook), run this script, commit the .ipynb it writes. Each
source file is plain Python that defines CELLS, a list built with md(), code() and
solution() below. Execution runs top to bottom in a fresh kernel whose working directory is
notebooks/, as a reader's would be, and prints each notebook's run time.
"""
import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path
from textwrap import dedent

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"   # the notebooks, run from here
SRC = NOTEBOOK_DIR / "src"

# The name of every notebook, in reading order, and its source file in notebooks/src/.
NOTEBOOKS = [
    "01_images_as_sequences",
    "02_attention_step_by_step",
    "03_the_transformer_block",
    "04_backprop_by_hand",
    "05_your_turn",          # exercises on what 01-04 taught, ending in a ViT on your own code
    "06_training_a_vit_on_mnist",
    "07_what_did_the_vit_learn",
    "08_testing_the_papers_claims",
    "09_the_papers_missing_pieces",
]

# The first code cell of every notebook: inline PNG figures at a moderate resolution (the
# committed notebooks must stay small), short printouts, one seed.
SETUP = """\
%matplotlib inline
%config InlineBackend.figure_format = 'png'
import numpy as np
import matplotlib.pyplot as plt

plt.rcParams.update({"figure.dpi": 80, "font.size": 9})
np.set_printoptions(precision=3, suppress=True, linewidth=100)
rng = np.random.default_rng(0)   # every random draw below comes from this seed"""


def md(text):
    return new_markdown_cell(dedent(text).strip("\n"))


def code(text):
    return new_code_cell(dedent(text).strip("\n"))


# The cell metadata key that marks a folded cell, with what it holds: "solution" (both cells
# of solution()), "answer" (answer()) or "hint" (an answer() a notebook relabels). The handout
# (tools/handout.py) drops every "solution" and "answer" cell and keeps the hints.
FOLDED = "folded"


def solution(text, title="Solution (click to expand)"):
    """A markdown heading and a code cell whose source and output start collapsed
    (JupyterLab and Notebook 7 honour the metadata; a code host shows both)."""
    heading, cell = md(f"#### {title}"), code(text)
    cell.metadata["jupyter"] = {"source_hidden": True, "outputs_hidden": True}
    heading.metadata[FOLDED] = cell.metadata[FOLDED] = "solution"
    return [heading, cell]


def answer(text, title="Answer (click to expand)"):
    """A worded answer, folded with an HTML <details> element (works on code hosts too)."""
    body = dedent(text).strip("\n")
    cell = md(f"<details>\n<summary><b>{title}</b></summary>\n\n{body}\n\n</details>")
    cell.metadata[FOLDED] = "answer"
    return cell


def flatten(cells):
    out = []
    for c in cells:
        out.extend(c if isinstance(c, list) else [c])
    return out


def load_cells(name):
    spec = importlib.util.spec_from_file_location(f"nbsrc_{name}", SRC / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    module.md, module.code, module.solution, module.answer = md, code, solution, answer
    module.SETUP = SETUP
    spec.loader.exec_module(module)
    return flatten(module.CELLS)


def build(name):
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = load_cells(name)
    for i, cell in enumerate(nb.cells):      # fixed ids (nbformat draws random ones): a rebuild
        cell.id = f"{name[:2]}-{i:03d}"        # then changes only what the cells show
    return nb


def execute(nb, env):
    from nbclient import NotebookClient
    old = dict(os.environ)
    os.environ.update(env)
    try:
        NotebookClient(nb, timeout=1800, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": str(NOTEBOOK_DIR)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(old)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="build only notebooks whose names start with these")
    parser.add_argument("--no-execute", action="store_true", help="write the cells without running them")
    parser.add_argument("--fast", action="store_true",
                        help="run with NUMPYVIT_FAST=1 (the CI setting); for trying things out, not for committing")
    args = parser.parse_args(argv)
    names = [n for n in NOTEBOOKS if not args.only or any(n.startswith(p) for p in args.only)]
    if not names:
        parser.error(f"no notebook matches {args.only}; known: {NOTEBOOKS}")
    # one BLAS thread, as the README's run times are measured: the notebooks' small matrices gain
    # nothing from more, and threads spinning against other jobs can slow them many times over
    env = {"OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1")}
    # the committed notebooks are built on the models they describe: there, a stated finding
    # that does not hold stops the build (numpyvit.insight.findings); a reader's run, or a
    # fast one whose smoke-sized models describe nothing, reports it and goes on
    if args.fast:
        env["NUMPYVIT_FAST"] = "1"
    else:
        env["NUMPYVIT_STRICT"] = "1"
    for name in names:
        nb = build(name)
        path = NOTEBOOK_DIR / f"{name}.ipynb"
        if not args.no_execute:
            t0 = time.perf_counter()
            execute(nb, env)
            print(f"{name}: ran in {time.perf_counter() - t0:.0f} s", flush=True)
        nbformat.validate(nb)
        nbformat.write(nb, path)
        print(f"wrote {path.relative_to(NOTEBOOK_DIR.parent)} ({path.stat().st_size / 1e3:.0f} kB)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
