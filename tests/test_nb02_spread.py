"""tools/nb02_spread.py measured the seed spread notebook 2 reads: it must train the notebook's
recipe, line for line, or the spread belongs to another experiment."""
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def recipe_lines(text):
    """The training function's body from building the model to returning it, stripped."""
    match = re.search(r"^( *)model = VisionTransformer\(.*?^\1return model$", text, flags=re.M | re.S)
    assert match, "no 'model = VisionTransformer(...) ... return model' body found"
    return [line.strip() for line in match.group(0).splitlines() if line.strip()]


def test_the_spread_script_trains_notebook_2s_recipe():
    pytest.importorskip("numpyvit")
    import tools.nb02_spread as spread
    notebook = (ROOT / "notebooks" / "src" / "02_attention_step_by_step.py").read_text()
    assert recipe_lines(inspect.getsource(spread.train_small)) == recipe_lines(notebook)


def test_a_recipe_that_drifted_is_told_apart():
    ours = "def f():\n    model = VisionTransformer(c)\n    opt.step()\n    return model\n"
    assert recipe_lines(ours) != recipe_lines(ours.replace("opt.step()", "opt.step(); opt.step()"))
