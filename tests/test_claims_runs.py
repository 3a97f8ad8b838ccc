"""tools/claims_runs.py: the order of its runs and what --collect copies where."""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tools import claims_runs  # noqa: E402


def test_the_verdict_carrying_ends_run_first_and_the_costly_patch_4_vit_last_of_them():
    steps = [(n, seed, models) for n, seed, models in claims_runs.STEPS]
    assert steps[0] == (1000, 0, None)
    assert steps[1] == (60000, 0, "vit,resnet") and steps[2] == (60000, 0, "vit-p4")
    assert {n for n, _, _ in steps} == {1000, 4000, 15000, 60000}


def test_collect_copies_each_dataset_s_results_and_names_the_cpu(tmp_path, monkeypatch):
    monkeypatch.setattr(claims_runs, "RUNS", tmp_path / "runs")
    monkeypatch.setattr(claims_runs, "OUT", tmp_path / "out")
    monkeypatch.setattr(claims_runs, "ROOT", tmp_path)
    for step, names in claims_runs.COLLECTED.items():
        folder = claims_runs.folder("fashion-mnist", step)
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            (folder / name).write_text(f"{step}/{name}")
    for step, patch in (("rollout-p7", 7), ("rollout-p4", 4)):       # one model per folder, merged
        (claims_runs.folder("fashion-mnist", step) / "rollout.json").write_text(
            json.dumps({"images": 5000, "models": [{"patch": patch}]}))
    claims_runs.collect()
    out = tmp_path / "out" / "fashion-mnist"
    assert (out / "results_validation.csv").read_text() == "data-scale/results_validation.csv"
    assert (out / "cutmix_results_validation.csv").read_text() == "cutmix/results_validation.csv"   # not overwritten
    assert (out / "deletion_controls_p7.png").read_text() == "rollout-p7/deletion_controls.png"
    assert (out / "deletion_controls_p4.png").read_text() == "rollout-p4/deletion_controls.png"
    merged = json.loads((out / "rollout.json").read_text())
    assert merged["images"] == 5000 and [m["patch"] for m in merged["models"]] == [7, 4]
    assert not any((tmp_path / "out" / "mnist").iterdir())          # nothing made there: nothing copied
    assert json.loads((tmp_path / "out" / "machine.json").read_text())["cpu"]


def _table(path, keys):
    from numpyvit.experiments.data_scale_validation import FIELDS
    from numpyvit.files import write_csv
    write_csv(path, [{**dict.fromkeys(FIELDS, "0"), "model": m, "train_size": n, "seed": s} for m, n, s in keys],
              FIELDS)


def test_a_step_counts_as_finished_only_when_every_one_of_its_rows_is_in_the_table(tmp_path):
    table = tmp_path / "results_validation.csv"
    assert not claims_runs.finished(table, 1000, 0, None)                 # no table yet
    _table(table, [("vit", 1000, 0), ("vit-p4", 1000, 0), ("resnet", 60000, 0)])
    assert not claims_runs.finished(table, 1000, 0, None)                 # the ResNet at 1,000 is missing
    assert claims_runs.finished(table, 1000, 0, "vit,vit-p4")
    assert not claims_runs.finished(table, 1000, 1, "vit")                # another seed
    assert claims_runs.finished(table, 60000, 0, "resnet")


def test_restore_puts_the_committed_table_back_but_never_over_a_run_folder_s_own(tmp_path, monkeypatch):
    monkeypatch.setattr(claims_runs, "RUNS", tmp_path / "runs")
    monkeypatch.setattr(claims_runs, "OUT", tmp_path / "out")
    monkeypatch.setattr(claims_runs, "ROOT", tmp_path)
    (tmp_path / "out" / "mnist").mkdir(parents=True)
    _table(tmp_path / "out" / "mnist" / "results_validation.csv", [("vit", 1000, 0)])
    claims_runs.restore("mnist")
    restored = claims_runs.folder("mnist", "data-scale") / "results_validation.csv"
    assert claims_runs.finished(restored, 1000, 0, "vit")
    _table(restored, [("resnet", 4000, 0)])                              # the run folder has moved on
    claims_runs.restore("mnist")
    assert claims_runs.finished(restored, 4000, 0, "resnet") and not claims_runs.finished(restored, 1000, 0, "vit")
