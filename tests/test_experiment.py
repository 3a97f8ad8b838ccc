"""A tiny version of the data-scale experiment: it runs, writes its table and plot, resumes."""
import csv

import pytest

from numpyvit.experiments.data_scale import data_scale, run_config
from numpyvit.models.resnet import ResNetConfig
from numpyvit.models.vit import ViTConfig
from numpyvit.training.data import synthetic_digits

TINY = {"vit": ViTConfig(dim=16, depth=1, heads=2, mlp_dim=32).to_dict(),
        "resnet": ResNetConfig(widths=(4, 8), blocks_per_stage=(1, 1)).to_dict()}


def test_run_config_gives_every_size_the_same_number_of_steps():
    for size in (1000, 3000, 60000):
        cfg = run_config(size, 3000, 128, 0, {})
        assert cfg.epochs * (size // 128) >= 3000 and cfg.max_steps == 3000
        assert cfg.train_subset == size


def test_tiny_data_scale_experiment_writes_results_and_resumes(tmp_path):
    x, y = synthetic_digits(700, seed=0)
    data = x[:600], y[:600], x[600:], y[600:]
    kwargs = dict(sizes=(100, 300), models=("vit", "resnet"), seeds=(0,), steps=6, batch_size=50,
                  model_configs=TINY, progress=False, log=lambda s: None)
    rows = data_scale(data, tmp_path, **kwargs)
    assert [(r["model"], r["train_size"]) for r in rows] == [("vit", 100), ("resnet", 100), ("vit", 300), ("resnet", 300)]
    with open(tmp_path / "results.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 4 and all(0 <= float(r["test_acc"]) <= 1 for r in table)
    assert not (tmp_path / "data_scale.png").exists()        # experiments draw nothing; the CLI does
    # a second call finds every run finished and only re-reads the results
    log = []
    again = data_scale(data, tmp_path, **{**kwargs, "log": log.append})
    assert [r["test_acc"] for r in again] == [r["test_acc"] for r in rows]
    assert sum("(done)" in line for line in log) == 4


def test_sizes_outside_the_training_set_are_refused(tmp_path):
    x, y = synthetic_digits(200, seed=0)
    with pytest.raises(ValueError, match="between 10 and the 150 training images"):
        data_scale((x[:150], y[:150], x[150:], y[150:]), tmp_path, sizes=(1000,), progress=False)
