"""The docs pages of the long recipe, the analysis and the paper's claims (once the README's
sections of those names), and the README itself, quote numbers only from the result files the
experiments write (docs/figures/*.json, *.csv), and quote them right.

A quoted number carries its source as an HTML comment right after it, invisible on a code
host: `99.37%<!-- an.test_acc -->` is analysis.json's test_acc as a percentage, to the
decimals shown (" min" shows seconds as minutes, " s" seconds as they are). Keys are the files' fields as dotted paths (see result_values). A number in
those pages without a tag must be one of the few structural facts in STRUCTURAL (a
citation, a configuration), so a sentence cannot slip a number past the check. The README
may quote a result tagged (checked like the pages'), or untagged in a paragraph of its pitch
that links to the docs page that has it.
"""
import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "figures"
README = ROOT / "README.md"
# the pages whose numbers come from the result files, whole, each with its title
PAGES = {"docs/long-recipe.md": "# A long recipe to 99.5%",
         "docs/analysis.md": "# What did the ViT learn?",
         "docs/claims.md": "# Testing the paper's claims",
         "docs/fashion-mnist.md": "# Fashion-MNIST"}

TAG = re.compile(r"(?P<text>[-−+]?\d+(?:,\d{3})*(?:\.\d+)?|[A-Za-z]+)(?P<unit>%|x|×| px| min| s)?<!-- (?P<key>[\w.\-]+) -->")
SCALE = {"%": 100, " min": 1 / 60}   # a fraction shown as a percentage; seconds shown as minutes
NUMBER = re.compile(r"(?<![\w.])\d+(?:,\d{3})*(?:\.\d+)?")

# Untagged numbers allowed in those sections: the paper's sections, figures and year; the
# configurations (image and patch sizes, grids and their patch counts, the models' layers,
# heads, widths, parameters and MFLOP, training sizes); the experiments' stated rules; the
# Figure numbers and list bullets of the text itself.
STRUCTURAL = {
    "2020", "4.3", "4.5", "3", "4", "6", "7", "11", "D.8",                 # the paper: sections, figures
    "50", "9", "90", "2026", "0.6", "1.4", "2605.16390", "2021", "2023",   # ResNet-50, 9M and 90M images,
    # the CutMix study (2026, its arXiv number), the works cited (2021, 2023); the trend rule
    "2", "14", "16", "28", "49", "196", "1", "5", "8", "10", "12",         # sizes, grids, depths, counts
    "64", "32", "13", "224", "300", "0.02", "0.1", "0.5", "0.9", "100", "90", "200", "40",  # ... the validation rule
    "1,000", "4,000", "15,000", "60,000", "10,000", "500", "5,000", "128",
    "205,962", "174,970", "7.2", "19", "47", "103", "0", "3x3",
    "30", "15", "512", "25", "17",     # the long recipe's: default epochs, stronger augmentation, the CPU's name
    "2017", "92.3", "93.5", "92.5", "95.4", "96.7", "91.0", "55,000", "26",   # Fashion-MNIST: the paper,
    # the published figures it is measured against, the target, the search's split, the CPU family
}


def _flatten(prefix, obj, out):
    if isinstance(obj, dict):
        for k, v in obj.items():
            _flatten(f"{prefix}.{k}", v, out)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _flatten(f"{prefix}.{i}", v, out)
    else:
        out[prefix] = obj


def result_values(figures=FIGURES):
    """Every quotable value in the result files, by key:
    an.*  analysis.json (the default run, `python -m numpyvit analyze`)
    ro.p<patch>.*  rollout.json's model with that patch size
    ad.p<patch>.<augmentation>.*, ad.resnet.*, ad.longer.<i>.*  attention_distance.json
    ds.<model>.<size>.<column>  data_scale_results.csv, the mean over seeds (.s<seed>: one
        seed), and ds.<model>.<size>.error_ratio: that model's mean test error over the ResNet's
    lr.<run folder>.*  long_recipe.json's run from that folder (tools/long_recipe.py)
    fm.search.<name>.*, fm.<label>.*  fashion_mnist.json's recipe search and runs
        (tools/fashion_results.py); fm.photos.*  garment_photos.json (benchmarks/predict_garments.py)
    cl.<dataset>.*  the claims' results per dataset (claims_values)
    """
    values = claims_values(figures)
    long_recipe = json.loads((figures / "long_recipe.json").read_text())
    values["lr.target"] = long_recipe["target"]
    for r in long_recipe["runs"]:
        _flatten(f"lr.{r['run']}", r, values)
    _flatten("an", json.loads((figures / "analysis.json").read_text()), values)
    fashion = json.loads((figures / "fashion_mnist.json").read_text())
    for r in fashion["search"]:
        _flatten(f"fm.search.{r['name']}", r, values)
    for r in fashion["runs"]:
        _flatten(f"fm.{r['label']}", r, values)
    _flatten("fm.photos", json.loads((figures / "garment_photos.json").read_text()), values)
    for m in json.loads((figures / "rollout.json").read_text())["models"]:
        _flatten(f"ro.p{m['patch']}", m, values)
    ad = json.loads((figures / "attention_distance.json").read_text())
    for r in ad["runs"]:
        _flatten(f"ad.p{r['patch']}.{r['augmentation']}", r, values)
    _flatten("ad.resnet", ad["resnet"], values)
    _flatten("ad.longer", ad["longer_runs"], values)
    _flatten("ad.images", ad["images"], values)
    with open(figures / "data_scale_results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    _data_scale_values("ds", rows, "plateaued", values)
    values["ds.runs"] = len(rows)
    values["ds.plateaued"] = sum(r["plateaued"] == "True" for r in rows)
    values["ds.wall_h"] = sum(float(r["wall_s"]) for r in rows) / 3600
    return values


def _data_scale_values(prefix, rows, flag, values):
    """A data-scale table's values: <prefix>.<model>.<size>.<column> the mean over seeds (.min,
    .max, .s<seed>), <prefix>.<model>.<size>.<flag> how many seeds have it True, and
    <prefix>.<model>.<size>.error_ratio that model's mean test error over the ResNet's, and .gap_pts
    the ResNet's mean test accuracy minus that model's, in points."""
    numeric = [k for k in rows[0] if _is_number(rows[0][k])]
    groups = {}
    for r in rows:
        groups.setdefault((r["model"], r["train_size"]), []).append(r)
    for (model, size), rs in groups.items():
        for col in numeric:
            vals = [float(r[col]) for r in rs]
            values[f"{prefix}.{model}.{size}.{col}"] = float(np.mean(vals))
            values[f"{prefix}.{model}.{size}.{col}.min"] = min(vals)
            values[f"{prefix}.{model}.{size}.{col}.max"] = max(vals)
            for r in rs:
                values[f"{prefix}.{model}.{size}.{col}.s{r['seed']}"] = float(r[col])
        values[f"{prefix}.{model}.{size}.{flag}"] = sum(r[flag] == "True" for r in rs)
    for (model, size) in groups:
        if model != "resnet" and ("resnet", size) in groups:
            values[f"{prefix}.{model}.{size}.error_ratio"] = (values[f"{prefix}.{model}.{size}.test_error"]
                                                              / values[f"{prefix}.resnet.{size}.test_error"])
            values[f"{prefix}.{model}.{size}.gap_pts"] = 100 * (values[f"{prefix}.resnet.{size}.test_acc"]
                                                                - values[f"{prefix}.{model}.{size}.test_acc"])


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def claims_values(figures=FIGURES):
    """The claims' results per dataset (tools/claims_runs.py --collect), by key:
    cl.<dataset>.ds.<model>.<size>.<column>  results_validation.csv as in _data_scale_values
        (converged: how many seeds converged); cl.<dataset>.ds.runs, .converged
    cl.<dataset>.ad.<augmentation>.*, cl.<dataset>.ad.longer.<i>.*  attention_distance.json
    cl.<dataset>.ro.p<patch>.*  rollout.json's model with that patch size"""
    values = {}
    for folder in sorted((figures / "claims").glob("*/")):
        prefix = f"cl.{folder.name}"
        if (folder / "results_validation.csv").exists():
            with open(folder / "results_validation.csv", newline="") as f:
                rows = list(csv.DictReader(f))
            _data_scale_values(f"{prefix}.ds", rows, "converged", values)
            values[f"{prefix}.ds.runs"] = len(rows)
            values[f"{prefix}.ds.converged"] = sum(r["converged"] == "True" for r in rows)
        if (folder / "attention_distance.json").exists():
            ad = json.loads((folder / "attention_distance.json").read_text())
            for r in ad["runs"]:
                _flatten(f"{prefix}.ad.{r['augmentation']}", r, values)
            _flatten(f"{prefix}.ad.longer", ad["longer_runs"], values)
            values[f"{prefix}.ad.images"] = ad["images"]
        if (folder / "rollout.json").exists():
            for m in json.loads((folder / "rollout.json").read_text())["models"]:
                _flatten(f"{prefix}.ro.p{m['patch']}", m, values)
    return values


def pages(root=ROOT):
    """The checked pages' text, one string."""
    return "\n".join((root / page).read_text() for page in PAGES)


def pitch_paragraphs(text):
    """The README's paragraphs before its first section."""
    return [p for p in text[:text.index("\n## ")].split("\n\n") if p.strip()]


def unsourced_pitch_numbers(text):
    """Untagged numbers of the README's pitch in a paragraph that links to no docs page."""
    return [n for p in pitch_paragraphs(text) if "](docs/" not in p for n in untagged_numbers(p)]


def check_tags(text, values):
    """(checked, problems): every tagged number against its value."""
    problems, checked = [], 0
    for m in TAG.finditer(text):
        key, shown, unit = m["key"], m["text"], m["unit"]
        if key not in values:
            problems.append(f"{key}: no such value in the result files")
            continue
        value = values[key]
        checked += 1
        if isinstance(value, str) or not shown[0].isdigit() and shown[0] not in "-−+":
            if str(value) != shown:
                problems.append(f"{key}: README says {shown!r}, the file {value!r}")
            continue
        number = float(shown.replace(",", "").replace("−", "-"))
        scale = SCALE.get(unit, 1)
        decimals = len(shown.split(".")[1]) if "." in shown else 0
        if abs(number - float(value) * scale) > 0.5 * 10 ** -decimals + 1e-9:
            problems.append(f"{key}: README says {shown}{unit or ''}, the file {float(value) * scale:.6g}")
    return checked, problems


def untagged_numbers(text):
    """Numbers that are neither tagged nor structural, after code, links and comments go."""
    text = re.sub(r"```.*?```", " ", text, flags=re.S)           # code blocks
    text = re.sub(r"`[^`]*`", " ", text)                          # inline code
    text = TAG.sub(" ", text)                                     # tagged numbers
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.S)
    text = re.sub(r"\]\([^)]*\)", "]", text)                      # link and image targets
    text = re.sub(r"^#+ .*$", " ", text, flags=re.M)              # headings
    return [n for n in NUMBER.findall(text) if n not in STRUCTURAL]


def test_every_number_the_pages_quote_equals_its_result_file():
    values = result_values()
    checked, problems = check_tags(pages(), values)
    assert not problems, "\n".join(problems)
    assert checked >= 40, f"only {checked} tagged numbers: the pages should quote their results"


@pytest.mark.parametrize("page", PAGES)
def test_each_page_quotes_tagged_numbers(page):
    checked, _ = check_tags((ROOT / page).read_text(), result_values())
    assert checked >= 5, f"{page}: only {checked} tagged numbers"


def test_no_number_in_those_pages_goes_untagged():
    untagged = untagged_numbers(pages())
    assert not untagged, f"numbers without a source tag: {untagged}"


def test_every_number_the_readme_tags_equals_its_result_file():
    checked, problems = check_tags(README.read_text(), result_values())
    assert not problems, "\n".join(problems)
    assert checked >= 3, "the README's pitch quotes the long recipe's results, tagged"


def test_the_readme_pitch_quotes_no_number_without_a_source():
    unsourced = unsourced_pitch_numbers(README.read_text())
    assert not unsourced, f"numbers in the README's pitch, neither tagged nor linked to a docs page: {unsourced}"


# --- the checks can fail --------------------------------------------------------------------
def test_a_wrong_or_unknown_tagged_number_is_caught():
    values = {"a.acc": 0.9937, "a.n": 12, "a.trend": "flat", "a.px": 13.104, "a.s": 1526.0}
    good = "99.37%<!-- a.acc --> and 12<!-- a.n --> heads, flat<!-- a.trend -->, 13.1 px<!-- a.px -->, 25.4 min<!-- a.s -->"
    assert check_tags(good, values) == (5, [])
    for bad, what in (("99.38%<!-- a.acc -->", "a.acc"), ("99.4<!-- a.acc -->", "a.acc"),
                      ("13<!-- a.n -->", "a.n"), ("grows<!-- a.trend -->", "a.trend"),
                      ("1526 min<!-- a.s -->", "a.s"), ("1<!-- a.missing -->", "no such value")):
        _, problems = check_tags(bad, values)
        assert problems and what in problems[0], (bad, problems)


def test_an_untagged_number_is_caught_but_code_and_links_are_not():
    text = ("Accuracy was 99.37% [see](docs/figures/run_2.png) with `--epochs 30`, "
            "12<!-- a.n --> heads on a 4x4 grid.\n```\npython -m numpyvit train --epochs 30\n```")
    assert untagged_numbers(text) == ["99.37"]


def test_an_unsourced_number_in_the_pitch_is_caught():
    readme = ("# x\n\nTrains to 99.2% in minutes ([runs](docs/training.md#results)).\n\n"
              "It reached 99.5%<!-- a.t --> and 99.54% in 33 min.\n\n## Set up\n\n99.9% here is not the pitch\n")
    assert unsourced_pitch_numbers(readme) == ["99.54", "33"]


@pytest.mark.parametrize("page, title", PAGES.items())
def test_the_checked_pages_exist(page, title):
    assert (ROOT / page).read_text().startswith(title)
