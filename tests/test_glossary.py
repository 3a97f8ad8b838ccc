"""docs/glossary.md cannot drift from the notebooks: every notebook it links exists, and every
term it says a notebook teaches appears in that notebook's source (notebooks/src/NN_name.py).

The matching rule: the term, one of the names its English cell gives ("Vision Transformer
(ViT)" gives three, "float32 / float64" two), or one of the spellings listed in SPELLINGS,
occurs in the source text, ignoring case and line breaks. SPELLINGS holds the words a notebook
uses for a term when it is not the glossary's headword (warmup for warm-up).
"""
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = ROOT / "docs" / "glossary.md"

SPELLINGS = {   # the glossary's term: how a notebook may write it instead
    "sine-cosine position embedding": ["sincos"],
    "scaled dot-product attention": [r"\sqrt{d_k}"],
    "permutation equivariance": ["permute"],
    "activation function": ["activation"],
    "backpropagation": ["backprop"],
    "broadcasting": ["broadcast"],
    "central difference": ["finite difference"],
    "warm-up": ["warmup"],
    "cosine schedule": ["cosine decay"],
    "data augmentation": ["augmentation"],
    "overfitting": ["overfit"],
    "principal components": ["principal component"],
    "pre-training": ["pre-train"],
    "equivariance": ["equivariant"],
    "fine-tuning": ["fine-tune"],
    "interpolation of position embeddings": ["interpolat"],
}
# a notebook link: the built notebook, or its source while it is being written
NOTEBOOK_LINK = re.compile(r"\]\(\.\./notebooks/(?:src/)?(\d\d_[a-z0-9_]+)\.(?:ipynb|py)\)")


@dataclass
class Entry:
    term: str           # the English cell, as written
    chinese: str
    meaning: str
    notebook: str       # "" or the link cell's text


def entries(text):
    """The glossary's table rows (English, 中文, meaning, notebook), header rows left out."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if cells[:2] == ["English", "中文"]:
            continue
        if len(cells) != 4:
            raise ValueError(f"glossary row with {len(cells)} cells, expected 4: {line}")
        rows.append(Entry(*cells))
    return rows


def names(term):
    """Every name an English cell gives: the whole cell, and its parts split at ' / ' and
    parentheses, plus the SPELLINGS listed for it."""
    parts = [p.strip() for p in re.split(r"\s+/\s+|[()]", term) if p.strip()]
    return list(dict.fromkeys([term, *parts, *SPELLINGS.get(term, [])]))       # in order, once each


def flat(text):
    return re.sub(r"\s+", " ", text).lower()


def problems(rows, root=ROOT):
    """What is wrong with the glossary's rows against the notebooks under root: one line each."""
    found, seen = [], set()
    for e in rows:
        if e.term.lower() in seen:
            found.append(f"{e.term}: listed twice")
        seen.add(e.term.lower())
        if not re.search(r"[\u4e00-\u9fff]", e.chinese):
            found.append(f"{e.term}: no Chinese term ({e.chinese!r})")
        if not e.meaning:
            found.append(f"{e.term}: no meaning")
        if not e.notebook:
            continue
        m = NOTEBOOK_LINK.search(e.notebook)
        if not m:
            found.append(f"{e.term}: the notebook cell {e.notebook!r} is not a link to ../notebooks/NN_name.ipynb")
            continue
        stem = m.group(1)
        built, source = root / "notebooks" / f"{stem}.ipynb", root / "notebooks" / "src" / f"{stem}.py"
        if not source.exists():
            if not built.exists():
                # a notebook still to be written (its source is missing too): nothing to check yet
                continue
            found.append(f"{e.term}: notebooks/{stem}.ipynb has no source notebooks/src/{stem}.py")
            continue
        if ".ipynb" in e.notebook and not built.exists():
            found.append(f"{e.term}: links notebooks/{stem}.ipynb, which is not built (link its source until it is)")
        text = flat(source.read_text())
        if not any(flat(n) in text for n in names(e.term)):
            found.append(f"{e.term}: not in notebooks/src/{stem}.py (looked for {names(e.term)})")
    return found


@pytest.fixture(scope="module")
def rows():
    return entries(GLOSSARY.read_text())


def test_the_glossary_is_a_table_of_terms(rows):
    assert len(rows) >= 60
    assert all(e.notebook for e in rows)                 # every term says where it is taught


def test_every_term_is_in_the_notebook_it_points_to(rows):
    found = problems(rows)
    assert not found, "\n".join(found)


def test_the_spellings_belong_to_terms_in_the_glossary(rows):
    terms = {e.term for e in rows}
    assert not set(SPELLINGS) - terms, f"spellings for terms the glossary lacks: {set(SPELLINGS) - terms}"


# --- the check can fail -----------------------------------------------------------------------
def planted(rows, **change):
    """The glossary with one more, wrong, row: a copy of the 'patch' row with `change`."""
    patch = next(e for e in rows if e.term == "patch")
    return [*rows, Entry(**{**patch.__dict__, **change})]


def test_a_term_in_the_wrong_notebook_is_caught(rows):
    wrong = planted(rows, term="CutMix augmentation")              # CutMix is taught in 08, not 01
    assert problems(wrong) == ["CutMix augmentation: not in notebooks/src/01_images_as_sequences.py "
                               "(looked for ['CutMix augmentation'])"]


def test_a_link_to_a_missing_or_unbuilt_notebook_is_caught(rows, tmp_path):
    for stem in ("01_images_as_sequences", "02_attention_step_by_step"):
        (tmp_path / "notebooks" / "src").mkdir(parents=True, exist_ok=True)
        (tmp_path / "notebooks" / "src" / f"{stem}.py").write_text("patch token\n")
    (tmp_path / "notebooks" / "01_images_as_sequences.ipynb").write_text("{}")
    patch = Entry("patch", "图像块", "A square of the image.", "[01](../notebooks/01_images_as_sequences.ipynb)")
    assert problems([patch], tmp_path) == []
    unbuilt = Entry("token", "词元", "A vector.", "[02](../notebooks/02_attention_step_by_step.ipynb)")
    assert problems([unbuilt], tmp_path) == [
        "token: links notebooks/02_attention_step_by_step.ipynb, which is not built (link its source until it is)"]
    source = Entry("token", "词元", "A vector.", "[02](../notebooks/src/02_attention_step_by_step.py)")
    assert problems([source], tmp_path) == []
    # a notebook still to be written, with no source either, is not checked; one built without
    # a source is an error
    later = Entry("fine-tuning", "微调", "Training more.", "[09](../notebooks/09_later.ipynb)")
    assert problems([later], tmp_path) == []
    (tmp_path / "notebooks" / "09_later.ipynb").write_text("{}")
    assert problems([later], tmp_path) == ["fine-tuning: notebooks/09_later.ipynb has no source notebooks/src/09_later.py"]


def test_a_row_without_chinese_a_meaning_or_a_link_is_caught(rows):
    assert problems(planted(rows, term="patches", chinese="patches")) == \
        ["patches: no Chinese term ('patches')"]
    assert problems(planted(rows, term="patch", meaning="")) == ["patch: listed twice", "patch: no meaning"]
    assert problems(planted(rows, term="patches", notebook="notebook 1")) == \
        ["patches: the notebook cell 'notebook 1' is not a link to ../notebooks/NN_name.ipynb"]


def test_names_split_an_english_cell_and_add_its_spellings():
    assert names("Vision Transformer (ViT)") == ["Vision Transformer (ViT)", "Vision Transformer", "ViT"]
    assert names("float32 / float64") == ["float32 / float64", "float32", "float64"]
    assert names("warm-up") == ["warm-up", "warmup"]
