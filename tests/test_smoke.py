"""The one deliberate network test: fetch real MNIST through the real source chain into an
empty folder and train the quick preset end to end with the command line."""
import json
import os
import subprocess
import sys

import pytest


@pytest.mark.smoke
def test_quick_preset_trains_on_real_mnist_to_95_percent(tmp_path):
    env = dict(os.environ, NUMPYVIT_DATA=str(tmp_path / "mnist"))
    run = subprocess.run([sys.executable, "-m", "numpyvit", "train", "--preset", "quick", "--no-progress",
                          "--out", str(tmp_path / "run")], env=env, capture_output=True, text=True,
                         timeout=1200)
    assert run.returncode == 0, run.stderr[-2000:]
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    print(run.stdout)
    assert metrics[-1]["test_acc"] >= 0.95, metrics[-1]
    for name in ("curves.png", "dynamics.png", "dynamics.jsonl", "last.npz"):
        assert (tmp_path / "run" / name).exists(), name
