"""The dataset through the commands: train records it, eval/predict/analyze/serve take it
from the checkpoint, a --dataset that does not match is refused, class names are shown.

No real data: a small synthetic set stands for both datasets (load_dataset is replaced).
"""
import json

import numpy as np
import pytest

import numpyvit.data.datasets as datasets
from numpyvit.cli import main
from numpyvit.data.synthetic import synthetic_digits
from numpyvit.models.vit import ViTConfig, VisionTransformer
from numpyvit.training.checkpoint import load_checkpoint, save_checkpoint, trained_on
from numpyvit.training.trainer import FASHION_PRESETS, TrainConfig

SMALL = ["--dim", "16", "--depth", "1", "--heads", "2", "--mlp-dim", "32"]


@pytest.fixture(scope="module")
def data():
    x, y = synthetic_digits(384, seed=1)
    return x[:256], y[:256], x[256:], y[256:]


@pytest.fixture
def asked(data, monkeypatch):
    """load_dataset replaced by the synthetic set; returns the names it was asked for."""
    names = []

    def load(name="mnist", data_dir=None, **kw):
        names.append(name)
        return data
    monkeypatch.setattr(datasets, "load_dataset", load)
    return names


def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def fashion_run(data, tmp_path_factory):
    """A run trained with --dataset fashion-mnist (one short epoch)."""
    out = tmp_path_factory.mktemp("fashion") / "run"
    mp = pytest.MonkeyPatch()
    mp.setattr(datasets, "load_dataset", lambda name="mnist", data_dir=None, **kw: data)
    try:
        assert main(["train", "--dataset", "fashion-mnist", "--out", str(out), "--epochs", "1",
                     "--batch-size", "64", "--no-progress", "--workers", "1", *SMALL]) == 0
    finally:
        mp.undo()
    return out


def test_train_records_the_dataset_and_uses_its_recipe(fashion_run):
    stored = json.loads((fashion_run / "config.json").read_text())["train_config"]
    recipe = FASHION_PRESETS["default"][1]
    assert stored["dataset"] == "fashion-mnist" == trained_on(fashion_run)
    assert stored["flip"] == recipe["flip"] > 0 and stored["rotate"] == recipe["rotate"] == 0
    assert stored["epochs"] == 1                                       # a flag still overrides the preset


def test_train_asks_for_the_dataset_it_was_given(asked, tmp_path, capsys):
    code, _, err = run(["train", "--out", str(tmp_path / "m"), "--epochs", "1", "--batch-size", "64",
                        "--no-progress", "--workers", "1", *SMALL], capsys)
    assert code == 0 and asked == ["mnist"] and "on MNIST" in err
    assert trained_on(tmp_path / "m") == "mnist"


def test_a_checkpoint_from_before_datasets_were_recorded_is_an_mnist_model(tmp_path):
    path = save_checkpoint(tmp_path / "old.npz", VisionTransformer(ViTConfig(dim=16, depth=1, heads=2, mlp_dim=32)),
                           train_state={"train_config": {"epochs": 3}})
    assert trained_on(path) == "mnist"
    assert TrainConfig.from_dict({"epochs": 3}).dataset == "mnist"


def test_eval_takes_the_dataset_from_the_checkpoint_and_names_the_classes(fashion_run, asked, capsys):
    code, out, _ = run(["eval", str(fashion_run), "--workers", "1"], capsys)
    assert code == 0 and asked == ["fashion-mnist"]
    assert "Ankle boot" in out and "T-shirt/top" in out           # the confusion matrix's rows


@pytest.mark.parametrize("command", ["eval", "analyze"])
def test_a_dataset_that_does_not_match_the_checkpoint_is_refused(command, fashion_run, asked, capsys):
    code, _, err = run([command, str(fashion_run), "--dataset", "mnist"], capsys)
    assert code == 2 and asked == []
    assert "holds a model trained on fashion-mnist; --dataset mnist does not match" in err
    assert len(err.strip().splitlines()) == 1


def test_serve_refuses_a_fashion_checkpoint_in_one_line(fashion_run, capsys):
    code, _, err = run(["serve", str(fashion_run), "--port", "0"], capsys)
    assert code == 2 and "the page is for drawing digits" in err and "predict" in err
    assert len(err.strip().splitlines()) == 1


def test_eval_plots_name_the_classes(fashion_run, asked, tmp_path, capsys):
    code, _, _ = run(["eval", str(fashion_run), "--plot", "--out", str(tmp_path), "--workers", "1"], capsys)
    assert code == 0 and (tmp_path / "confusion.png").exists() and (tmp_path / "mistakes.png").exists()


def test_a_stored_unknown_dataset_is_a_config_error():
    from numpyvit.errors import ConfigError
    with pytest.raises(ConfigError, match="dataset='svhn' must be one of mnist, fashion-mnist"):
        TrainConfig(dataset="svhn")


def test_the_trainer_normalises_by_the_runs_dataset(data, tmp_path):
    # the same weights and data give different losses when the statistics differ: the
    # dataset reaches the normalisation
    from numpyvit.training.trainer import train
    losses = {}
    for name in ("mnist", "fashion-mnist"):
        model = VisionTransformer(ViTConfig(dim=16, depth=1, heads=2, mlp_dim=32), seed=0)
        cfg = TrainConfig(epochs=1, batch_size=64, max_steps=1, dataset=name, shift=0, rotate=0, scale=0)
        losses[name] = train(model, cfg, data, tmp_path / name, progress=False, log=lambda s: None).metrics[-1]["test_loss"]
    assert losses["mnist"] != losses["fashion-mnist"]
    assert load_checkpoint(tmp_path / "fashion-mnist")["train"]["train_config"]["dataset"] == "fashion-mnist"


def test_predict_prepares_a_photo_as_fashion_mnist_did_and_names_the_class(fashion_run, tmp_path, capsys,
                                                                           monkeypatch):
    import sys
    from pathlib import Path
    from PIL import Image
    import numpyvit.app.preprocess as preprocess
    sys.path.insert(0, str(Path(__file__).parent))
    from garments import garment_photo
    photo = tmp_path / "shirt.png"
    Image.fromarray(garment_photo("tshirt", np.random.default_rng(0))).save(photo)
    used = []
    for name in ("preprocess_garment", "preprocess_digit"):
        real = getattr(preprocess, name)
        monkeypatch.setattr(preprocess, name, lambda image, size, real=real, name=name: used.append(name) or real(image, size))
    code, out, _ = run(["predict", str(fashion_run), str(photo), "--show", str(tmp_path / "seen")], capsys)
    assert code == 0 and used == ["preprocess_garment"]
    first = out.splitlines()[0]
    assert first.startswith(f"{photo}: ") and any(name in first for name in datasets.DATASETS["fashion-mnist"].classes)
    assert len(list((tmp_path / "seen").glob("*_seen.png"))) == 1


def test_a_preset_the_dataset_does_not_have_is_refused_in_one_line(asked, tmp_path, capsys):
    code, _, err = run(["train", "--dataset", "fashion-mnist", "--preset", "long", "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and asked == [] and not (tmp_path / "r").exists()
    assert "--preset long is not a recipe for fashion-mnist yet; its presets are default, quick" in err
    assert len(err.strip().splitlines()) == 1
