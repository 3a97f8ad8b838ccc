"""The package's layers and the import rules that keep them layers.

Every module of numpyvit/ is read (not imported) and each of its imports, at the top or inside
a function, is resolved to the part it reaches: a folder of the package (layers, models, data,
parallel, training, insight, experiments, app, exercises), one of its top-level modules
(gradcheck, errors, files, images, blas, cli, the package's __init__), the standard library, or
an outside distribution (numpy, matplotlib, ...).

    layers/       numpy only
    models/       layers, errors, images, numpy
    data/         errors, files, images, numpy, tqdm
    parallel/     layers, models, blas, numpy, threadpoolctl: never the training code
    training/     never parallel, insight, experiments, app or the command line (it receives
                  the net it runs and draws nothing)
    insight/      layers, models, data, errors, files, images, numpy, matplotlib: never training
    experiments/  never app or the command line
    app/          never experiments or the command line
    gradcheck.py  numpy only
    exercises/    layers, gradcheck, numpy, and models: the capstone builds the package's ViT
                  with the learner's functions inside (exercises/capstone.py)
    errors.py, files.py   the standard library only; images.py numpy
    blas.py       threadpoolctl
    everywhere    the standard library; never torch, never anything outside the package but its
                  declared dependencies (benchmarks and tests import the package, not the reverse)
Only cli.py (and the package's __init__, which re-exports names) ties the parts together.
"""
import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "numpyvit"
PACKAGE = "numpyvit"
FOLDERS = ("layers", "models", "data", "parallel", "training", "insight", "experiments", "app")
DEPENDENCIES = {"numpy", "matplotlib", "PIL", "tqdm", "threadpoolctl"}   # pyproject.toml's, by import name

# part -> the parts and outside packages it may import (itself and the standard library always)
ALLOWED = {
    "layers": {"numpy"},
    "models": {"layers", "errors", "images", "numpy"},
    "data": {"errors", "files", "images", "numpy", "tqdm"},
    "parallel": {"layers", "models", "blas", "numpy", "threadpoolctl"},
    "insight": {"layers", "models", "data", "errors", "files", "images", "numpy", "matplotlib"},
    "gradcheck": {"numpy"},
    "exercises": {"layers", "models", "gradcheck", "numpy"},   # models: the capstone's ViT
    "errors": set(),
    "files": set(),
    "images": {"numpy"},
    "blas": {"threadpoolctl"},
}
FORBIDDEN = {
    "training": {"parallel", "insight", "experiments", "app", "cli"},
    "experiments": {"app", "cli"},
    "app": {"experiments", "cli"},
}


def part_of_file(path, package_dir):
    """'layers' for numpyvit/layers/attention.py, 'cli' for numpyvit/cli.py, '__init__' for the
    package's own __init__.py."""
    rel = path.relative_to(package_dir)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def module_name(path, package_dir, package=PACKAGE):
    rel = path.relative_to(package_dir).with_suffix("")
    parts = [package, *rel.parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path, package_dir, package=PACKAGE):
    """Every module a file imports, as absolute dotted names, with its line number."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = module_name(path, package_dir, package)
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:       # relative: climb from this module's package
                base = here.split(".")
                base = base[:len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            if node.module is None:    # `from . import analysis`: the names are modules
                found += [(f"{target}.{alias.name}", node.lineno) for alias in node.names]
            else:
                found.append((target, node.lineno))
    return found


def part_of_module(name, package=PACKAGE):
    """The part an imported module belongs to: a folder or top-level module of the package
    ('__init__' for the package itself), or the outside distribution's top-level name."""
    parts = name.split(".")
    if parts[0] != package:
        return parts[0]
    return parts[1] if len(parts) > 1 else "__init__"


def is_stdlib(name):
    return name in sys.stdlib_module_names or name == "__future__"


def check_architecture(package_dir, package=PACKAGE):
    """The broken rules, one line each ('file:line: part imports what'); empty when all hold."""
    broken = []
    for path in sorted(package_dir.rglob("*.py")):
        part = part_of_file(path, package_dir)
        for name, line in imported_modules(path, package_dir, package):
            target = part_of_module(name, package)
            inside = name.split(".")[0] == package
            where = f"{path.relative_to(package_dir.parent)}:{line}"
            if not inside and is_stdlib(target):
                continue
            if not inside and target not in DEPENDENCIES:
                broken.append(f"{where}: imports {name}, which is neither the package, the standard "
                              f"library nor a declared dependency ({', '.join(sorted(DEPENDENCIES))})")
            elif target == part:
                continue
            elif part in ALLOWED and target not in ALLOWED[part]:
                broken.append(f"{where}: {part} imports {name}; {part} may import only "
                              f"{', '.join(sorted(ALLOWED[part])) or 'the standard library'}")
            elif target in FORBIDDEN.get(part, ()):
                broken.append(f"{where}: {part} imports {name}; {part} never imports "
                              f"{', '.join(sorted(FORBIDDEN[part]))}")
    return broken


def import_graph(package_dir, package=PACKAGE):
    """{part: the other parts of the package it imports}."""
    graph = {}
    for path in sorted(package_dir.rglob("*.py")):
        part = part_of_file(path, package_dir)
        targets = graph.setdefault(part, set())
        for name, _ in imported_modules(path, package_dir, package):
            if name.split(".")[0] == package and part_of_module(name, package) != part:
                targets.add(part_of_module(name, package))
    return graph


# --- the real package ----------------------------------------------------------------------
def test_the_package_keeps_its_import_rules():
    broken = check_architecture(PACKAGE_DIR)
    assert broken == [], "\n".join(broken)


def test_every_module_lives_in_a_known_part():
    parts = {part_of_file(p, PACKAGE_DIR) for p in PACKAGE_DIR.rglob("*.py")}
    known = set(FOLDERS) | {"__init__", "__main__", "cli", "errors", "files", "images", "blas", "gradcheck",
                              "exercises"}
    assert parts <= known, parts - known


def test_the_layers_sit_below_everything_else():
    graph = import_graph(PACKAGE_DIR)
    assert graph["layers"] == set()
    assert graph["models"] <= {"layers", "errors", "images"}
    assert graph["data"] <= {"errors", "files", "images"}
    assert "parallel" not in graph["training"] and "training" not in graph["parallel"]
    assert "training" not in graph["insight"]
    for part, targets in graph.items():      # nothing below the command line reaches up to it
        if part != "__main__":
            assert "cli" not in targets, part


def test_import_numpyvit_needs_numpy_alone():
    # a fresh interpreter in which matplotlib, tqdm, Pillow, threadpoolctl and torch cannot load
    code = textwrap.dedent("""
        import sys
        class Refuse:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {"matplotlib", "tqdm", "PIL", "threadpoolctl", "torch"}:
                    raise ImportError(f"{name} refused by the test")
        sys.meta_path.insert(0, Refuse())
        import numpyvit
        from numpyvit import Attention, TrainConfig, VisionTransformer, gradcheck, train
        print(sorted(m for m in sys.modules if m.split(".")[0] in {"matplotlib", "tqdm", "PIL", "torch"}))
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=PACKAGE_DIR.parent, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "[]"


# --- the checker can fail --------------------------------------------------------------------
def write(root, rel, text):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


@pytest.fixture
def fake_package(tmp_path):
    """A small package laid out like numpyvit, whose imports all keep the rules."""
    root = tmp_path / PACKAGE
    for folder in ("layers", "models", "data", "training", "insight"):
        write(root, f"{folder}/__init__.py", "")
    write(root, "__init__.py", "from .layers.linear import Linear\n")
    write(root, "errors.py", "class UsageError(Exception):\n    pass\n")
    write(root, "layers/linear.py", "import math\nimport numpy as np\nfrom .module import Module\n")
    write(root, "layers/module.py", "import numpy as np\n")
    write(root, "models/vit.py", "from ..layers.linear import Linear\nfrom ..errors import UsageError\n")
    write(root, "training/trainer.py", "from ..models.vit import Linear\n\ndef f():\n    from tqdm import tqdm\n")
    write(root, "insight/plots.py", "import matplotlib\nfrom . import analysis\nfrom ..models import vit\n")
    write(root, "insight/analysis.py", "import numpy as np\n")
    write(root, "data/mnist.py", "import numpy as np\nfrom ..errors import UsageError\n")
    return root


def test_checker_passes_a_package_that_keeps_the_rules(fake_package):
    assert check_architecture(fake_package) == []


@pytest.mark.parametrize("rel, source, expected", [
    ("layers/attention.py", "from ..training.trainer import f\n", "layers imports numpyvit.training.trainer"),
    ("layers/attention.py", "from .. import errors\n", "layers imports numpyvit.errors"),
    ("models/vit.py", "from ..training import trainer\n", "models imports numpyvit.training"),
    ("insight/plots.py", "from ..training.trainer import train\n", "insight imports numpyvit.training.trainer"),
    ("training/trainer.py", "from ..parallel.data_parallel import DataParallel\n",
     "training imports numpyvit.parallel.data_parallel"),
    ("data/mnist.py", "from ..training import trainer\n", "data imports numpyvit.training"),
    ("training/trainer.py", "def f():\n    from ..insight.plots import plot\n", "training imports numpyvit.insight.plots"),
    ("training/trainer.py", "from ..cli import main\n", "training imports numpyvit.cli"),
    ("layers/linear.py", "import torch\n", "imports torch, which is neither"),
    ("training/trainer.py", "from benchmarks.bench import x\n", "imports benchmarks.bench, which is neither"),
])
def test_checker_catches_a_planted_broken_rule(fake_package, rel, source, expected):
    path = fake_package / rel
    path.write_text(path.read_text() + source if path.exists() else source)
    broken = check_architecture(fake_package)
    assert len(broken) == 1 and expected in broken[0], broken
