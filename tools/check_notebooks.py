"""Check that the committed teaching notebooks carry their outputs, clean and small.

    python tools/check_notebooks.py [PATH ...]

PATH is a notebook or a folder of them; the default is notebooks/*.ipynb, looked for in the
current directory and then in the source checkout this module belongs to. A notebook passes
when
- it is a readable notebook (JSON with a list of cells),
- every non-empty code cell has an execution count, and the counts increase from top to
  bottom (it was run in one go, in order),
- it has at least one output, and no output is an error,
- the file is at most 2 MB (MAX_BYTES), so that it opens quickly on a code host.
One line per notebook; the exit status is 1 if any notebook fails (2 if none is found).
Only the standard library is used: the check runs where Jupyter is not installed.
"""
import argparse
import json
import sys
from pathlib import Path

MAX_BYTES = 2_000_000


def check_notebook(path, max_bytes=MAX_BYTES):
    """Return (problems, summary): a list of what is wrong (empty if nothing) and one line
    of statistics for the report."""
    path = Path(path)
    size = path.stat().st_size
    problems = []
    if size > max_bytes:
        problems.append(f"{size / 1e6:.2f} MB is over the {max_bytes / 1e6:.1f} MB limit")
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        cells = nb["cells"]
        if not isinstance(cells, list):
            raise TypeError("'cells' is not a list")
    except (ValueError, KeyError, TypeError) as e:
        return problems + [f"not a readable notebook ({type(e).__name__}: {e})"], f"{size / 1e3:.0f} kB"

    code_cells, outputs, counts = 0, 0, []
    for i, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        if not source.strip():
            continue
        code_cells += 1
        count = cell.get("execution_count")
        if count is None:
            problems.append(f"code cell {i} was never executed (no execution_count)")
        else:
            counts.append((i, count))
        for out in cell.get("outputs", []):
            outputs += 1
            if out.get("output_type") == "error":
                problems.append(f"code cell {i} has an error output: {out.get('ename', '?')}: "
                                f"{str(out.get('evalue', ''))[:120]}")
    for (i, a), (j, b) in zip(counts, counts[1:]):
        if b <= a:
            problems.append(f"execution counts are out of order (cell {i}: [{a}], cell {j}: [{b}]); "
                            f"run the notebook top to bottom in a fresh kernel")
            break
    if code_cells and outputs == 0:
        problems.append("no outputs at all: commit the notebook executed")
    return problems, f"{size / 1e3:.0f} kB, {code_cells} code cells, {outputs} outputs"


def default_paths():
    """notebooks/*.ipynb under the current directory, else under the source checkout."""
    for root in (Path("."), Path(__file__).resolve().parents[1]):   # "." prints short paths
        found = sorted((root / "notebooks").glob("*.ipynb"))
        if found:
            return found
    return []


def expand(paths):
    out = []
    for p in map(Path, paths):
        out.extend(sorted(p.glob("*.ipynb")) if p.is_dir() else [p])
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python tools/check_notebooks.py",
                                     description="Check committed notebooks: executed, no errors, small.")
    parser.add_argument("paths", nargs="*", help="notebooks or folders (default: notebooks/*.ipynb)")
    parser.add_argument("--max-mb", type=float, default=MAX_BYTES / 1e6, help="size limit in MB (default 2)")
    args = parser.parse_args(argv)
    paths = expand(args.paths) if args.paths else default_paths()
    if not paths:
        print("no notebooks found (looked for notebooks/*.ipynb)", file=sys.stderr)
        return 2
    failed = 0
    for path in paths:
        if not path.is_file():
            print(f"FAIL  {path}: no such file")
            failed += 1
            continue
        problems, summary = check_notebook(path, max_bytes=int(args.max_mb * 1e6))
        if problems:
            failed += 1
            print(f"FAIL  {path} ({summary}): " + "; ".join(problems))
        else:
            print(f"ok    {path} ({summary})")
    print(f"{len(paths) - failed} of {len(paths)} notebooks pass")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
