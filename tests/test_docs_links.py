"""Every relative link and #anchor in README.md and docs/*.md resolves.

The README is one screen and sends its reader to docs/ for everything else, so a page that is
renamed, or a heading that is reworded, must not leave a link pointing nowhere. Anchors follow
GitHub's rule for headings: the rendered text lowercased, every character that is not a letter,
digit, space, hyphen or underscore dropped, each space a hyphen, and a repeated heading's
anchor suffixed -1, -2, ...
"""
import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.S | re.M)
# [text](target) and ![alt](target), the text allowed one level of brackets (an image in a link)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)
HTML_ID = re.compile(r"<[^>]+\b(?:id|name)=\"([^\"]+)\"")


def documents(root=ROOT):
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def _prose(text):
    """The text without fenced code blocks and inline code, where nothing is a link."""
    text = FENCE.sub("", text)
    return re.sub(r"`[^`\n]*`", "", text)


def slug(heading):
    """GitHub's anchor for a heading's Markdown text."""
    text = re.sub(r"!?\[((?:[^\[\]]|\[[^\]]*\])*)\]\([^)]*\)", r"\1", heading)   # links: their text
    text = re.sub(r"<[^>]+>", "", text)                                            # inline HTML
    text = text.replace("`", "").replace("*", "")
    keep = "".join(c for c in text.lower()
                   if c in " -_" or unicodedata.category(c)[0] in "LNM")
    return keep.replace(" ", "-")


def anchors(path):
    """Every anchor a Markdown file defines: its headings' (with GitHub's -1, -2 for repeats)
    and explicit HTML ids."""
    text = path.read_text()
    found, seen = set(HTML_ID.findall(text)), {}
    for m in HEADING.finditer(FENCE.sub("", text)):
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return found


def broken_links(path, root=ROOT):
    """The links of one Markdown file that point nowhere, each with the reason."""
    problems = []
    for target in LINK.findall(_prose(path.read_text())):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):           # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / unquote(file_part)).resolve() if file_part else path
        where = f"{path.relative_to(root)}: {target}"
        if root.resolve() not in (dest, *dest.parents):
            problems.append(f"{where}: outside the repository")
        elif not dest.exists():
            problems.append(f"{where}: no such file")
        elif anchor:
            if dest.suffix != ".md":
                problems.append(f"{where}: an anchor into a file that is not Markdown")
            elif unquote(anchor) not in anchors(dest):
                problems.append(f"{where}: no heading with that anchor")
    return problems


@pytest.mark.parametrize("path", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_resolves(path):
    problems = broken_links(path)
    assert not problems, "\n".join(problems)


def test_the_readme_links_every_docs_page():
    readme = ROOT / "README.md"
    linked = {(readme.parent / t.partition("#")[0]).resolve()
              for t in LINK.findall(_prose(readme.read_text()))}
    missing = [p.name for p in documents()[1:] if p.resolve() not in linked]
    assert not missing, f"docs pages the README does not link: {missing}"


# --- the check can fail -----------------------------------------------------------------------
def test_githubs_anchor_rule():
    assert slug("Speed: `python benchmarks/bench.py`") == "speed-python-benchmarksbenchpy"
    assert slug("A long recipe to 99.5%: `python -m numpyvit train --preset long`") == \
        "a-long-recipe-to-995-python--m-numpyvit-train---preset-long"
    assert slug("Design (`numpyvit/training/workers.py`)") == "design-numpyvittrainingworkerspy"
    assert slug("Testing the paper's claims") == "testing-the-papers-claims"
    assert slug("Attention distance across grids of 16, 49 and 196 patches") == \
        "attention-distance-across-grids-of-16-49-and-196-patches"
    assert slug("[Links](x.md) and **bold** é") == "links-and-bold-é"


def test_a_broken_link_or_anchor_is_caught(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "figures").mkdir()
    (tmp_path / "docs" / "figures" / "a.png").write_bytes(b"")
    (tmp_path / "docs" / "page.md").write_text(
        "# Page\n\n## Notes\n\n## Notes\n\n## Speed: `bench.py`\n\n"
        "[ok](../README.md#top) [ok](#notes-1) [ok](#speed-benchpy) ![ok](figures/a.png)\n"
        "[good site](https://example.com/#nothing) `[not a link](nowhere.md)`\n"
        "```\n[not a link either](nowhere.md)\n```\n"
        "![planted](docs/figures/a.png) [planted](#notes-2) [planted](../README.md#bottom)\n"
        "[planted](../docs/missing.md) [planted](figures/a.png#x) [planted](../../outside.md)\n")
    (tmp_path / "README.md").write_text(
        "# Top\n\n[ok](docs/page.md#notes) [![ok](docs/figures/a.png)](docs/page.md)\n"
        "[planted](docs/page.md#speedbenchpy)\n")
    problems = broken_links(tmp_path / "docs" / "page.md", root=tmp_path)
    assert [p.split(": ", 1)[1] for p in problems] == [
        "docs/figures/a.png: no such file",
        "#notes-2: no heading with that anchor",
        "../README.md#bottom: no heading with that anchor",
        "../docs/missing.md: no such file",
        "figures/a.png#x: an anchor into a file that is not Markdown",
        "../../outside.md: outside the repository",
    ]
    assert broken_links(tmp_path / "README.md", root=tmp_path) == [
        "README.md: docs/page.md#speedbenchpy: no heading with that anchor"]
