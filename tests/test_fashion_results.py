"""tools/fashion_results.py: docs/fashion-mnist.md's figures come from the run folders' own files."""
import json

import pytest

from numpyvit.data.synthetic import synthetic_digits
from numpyvit.files import write_jsonl
from numpyvit.models.vit import ViTConfig, VisionTransformer
from numpyvit.training.trainer import TrainConfig, train
from tools.fashion_results import cpu_name, main

SMALL = ViTConfig(dim=16, depth=1, heads=2, mlp_dim=32)
LSCPU = "Architecture: x86_64\nCPU family:    26\nModel name:    AMD EPYC\n"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    x, y = synthetic_digits(640, seed=0)
    data = x[:512], y[:512], x[512:], y[512:]
    root = tmp_path_factory.mktemp("runs")
    for name, epochs in (("cand-a", 2), ("cand-b", 3), ("real", 2)):
        cfg = TrainConfig(epochs=epochs, batch_size=64, dynamics_steps=0, dataset="fashion-mnist", flip=0.5)
        metrics = train(VisionTransformer(SMALL), cfg, data, root / name, progress=False, log=lambda s: None).metrics
        if name.startswith("cand"):
            last = metrics[-1]
            rows = [] if name == "cand-a" else json.loads((root / "rows.json").read_text())
            rows.append({"name": name, "model": "vit", "model_config": SMALL.to_dict(), "train_config": cfg.to_dict(),
                         "val_acc": last["test_acc"], "val_loss": last["test_loss"],
                         "train_loss": last["train_loss"], "val_images": 128})
            (root / "rows.json").write_text(json.dumps(rows))
    write_jsonl(root / "results.jsonl", json.loads((root / "rows.json").read_text()))
    (root / "real" / "wall_s.txt").write_text("12.5\n")
    (root / "real" / "cpu.txt").write_text(LSCPU)
    return root


def test_the_summary_quotes_the_search_and_the_runs(runs, tmp_path):
    out = tmp_path / "fashion.json"
    assert main(["--search", str(runs / "results.jsonl"), "--cost", "cand-b:cand-a", f"real={runs / 'real'}",
                 "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    a, b = result["search"]
    metrics_b = [json.loads(line) for line in (runs / "cand-b" / "metrics.jsonl").read_text().splitlines()]
    assert b["val_acc"] == metrics_b[-1]["test_acc"] and b["epochs"] == 3 and b["flip"] == 0.5
    assert b["val_losses"] == [m["test_loss"] for m in metrics_b]
    assert b["val_standard_error"] == pytest.approx((b["val_acc"] * (1 - b["val_acc"]) / 128) ** 0.5)
    assert b["epoch_cost_vs_beside"] == pytest.approx(b["epoch_s"] / a["epoch_s"]) and b["ran_beside"] == "cand-a"
    (real,) = result["runs"]
    metrics = [json.loads(line) for line in (runs / "real" / "metrics.jsonl").read_text().splitlines()]
    assert real["test_acc"] == metrics[-1]["test_acc"] and real["dataset"] == "fashion-mnist"
    assert real["wall_s"] == 12.5 and real["cpu"] == "AMD EPYC (family 26)" and real["command"] is None


def test_a_run_that_did_not_finish_is_refused(runs, tmp_path):
    cfg = json.loads((runs / "real" / "config.json").read_text())
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "config.json").write_text(json.dumps({**cfg, "train_config": {**cfg["train_config"], "epochs": 9}}))
    (unfinished / "metrics.jsonl").write_text((runs / "real" / "metrics.jsonl").read_text())
    with pytest.raises(SystemExit, match="stopped at epoch 2 of 9"):
        main(["--search", str(runs / "results.jsonl"), f"x={unfinished}", "--out", str(tmp_path / "o.json")])


def test_the_cpu_name_reads_lscpu():
    assert cpu_name(LSCPU) == "AMD EPYC (family 26)"
    assert cpu_name("nothing useful") == "unknown CPU"
