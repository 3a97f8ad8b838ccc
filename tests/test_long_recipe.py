"""tools/long_recipe.py: the long-recipe figures of docs/long-recipe.md come from the run folders' own files."""
import json

import pytest

from numpyvit.models.vit import ViTConfig, VisionTransformer
from numpyvit.data.synthetic import synthetic_digits
from numpyvit.training.trainer import TrainConfig, train
from tools.long_recipe import main

SMALL = ViTConfig(dim=16, depth=1, heads=2, mlp_dim=32).to_dict()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    x, y = synthetic_digits(640, seed=0)
    data = x[:512], y[:512], x[512:], y[512:]
    root = tmp_path_factory.mktemp("runs")
    for name, ema in (("averaged", 0.9), ("plain", 0.0)):
        train(VisionTransformer(ViTConfig(**SMALL)), TrainConfig(epochs=3, batch_size=64, ema=ema, dynamics_steps=0),
              data, root / name, progress=False, log=lambda s: None)
    return root


def test_the_summary_quotes_each_runs_final_epoch_and_recipe(runs, tmp_path, capsys):
    assert main([f"with average={runs / 'averaged'}", f"without={runs / 'plain'}", "--out", str(tmp_path),
                 "--at", "2"]) == 0
    result = json.loads((tmp_path / "long_recipe.json").read_text())
    assert (tmp_path / "long_recipe.png").stat().st_size > 0
    averaged, plain = result["runs"]
    metrics = [json.loads(line) for line in (runs / "averaged" / "metrics.jsonl").read_text().splitlines()]
    assert averaged["test_acc"] == metrics[-1]["test_acc"]
    assert averaged["unaveraged_test_acc"] == metrics[-1]["unaveraged_test_acc"]
    assert averaged["at_epoch"]["2"]["test_acc"] == metrics[1]["test_acc"]
    assert averaged["best_test_acc"] == max(m["test_acc"] for m in metrics)
    assert (averaged["ema"], plain["ema"], plain["unaveraged_test_acc"]) == (0.9, 0.0, None)
    assert averaged["label"] == "with average" and averaged["epochs"] == 3
    assert "with average:" in capsys.readouterr().out


def test_an_unfinished_run_is_refused_with_the_resume_command(runs, tmp_path):
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    config = json.loads((runs / "plain" / "config.json").read_text())
    (unfinished / "config.json").write_text(json.dumps(config))
    lines = (runs / "plain" / "metrics.jsonl").read_text().splitlines()
    (unfinished / "metrics.jsonl").write_text(lines[0] + "\n")
    with pytest.raises(SystemExit, match="stopped at epoch 1 of 3: finish it first"):
        main([f"x={unfinished}", "--out", str(tmp_path / "out")])


def test_an_argument_without_a_label_is_a_usage_error(runs, tmp_path):
    with pytest.raises(SystemExit):
        main([str(runs / "plain"), "--out", str(tmp_path)])
