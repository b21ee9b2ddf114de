"""Read back what a report page shows: driftcar's section, its tables, and the page's visible text."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from sidecar.reports.section import SECTION_ID

_INVISIBLE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)


class _Tables(HTMLParser):
    """Collects every table as rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.tables and self.tables[-1]:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def split_section(page: str) -> tuple[str, str]:
    """(driftcar's section, the page without it)."""
    match = re.search(rf'<section id="{SECTION_ID}".*?</section>', page, re.DOTALL)
    assert match is not None, "driftcar's section is missing"
    return match.group(0), page[: match.start()] + page[match.end() :]


def tables(fragment: str) -> list[list[list[str]]]:
    """Every table in an HTML fragment, as rows of cell texts."""
    parser = _Tables()
    parser.feed(fragment)
    return parser.tables


def row(table: list[list[str]], first_cell: str) -> list[str]:
    """The row whose first cell is `first_cell`."""
    return next(r for r in table if r and r[0] == first_cell)


def visible_text(page: str) -> str:
    """The text a reader sees: scripts and styles removed, tags stripped."""
    parser = _Text()
    parser.feed(_INVISIBLE.sub("", page))
    return " ".join(" ".join(parser.parts).split())
