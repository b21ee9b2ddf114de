"""docs/README.md indexes every document, and relative links in the docs and the example guides resolve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted([*DOCS.glob("*.md"), *ROOT.glob("examples/*/README.md")])
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_the_index_links_every_document() -> None:
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    linked = {m.split("#")[0] for m in LINK.findall(index)}
    documents = {p.name for p in DOCS.iterdir() if p.suffix in {".md", ".json"} and p.name != "README.md"}
    assert documents - linked == set(), "link these from docs/README.md"


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if target.startswith(("http://", "https://", "mailto:", "#")):
            continue
        path = target.split("#")[0]
        if not (page.parent / path).exists():
            broken.append(target)
    assert broken == []
