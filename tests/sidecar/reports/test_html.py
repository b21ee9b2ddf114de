"""The HTML splice and driftcar's section: found where it belongs, and everything from the data escaped."""

from __future__ import annotations

import dataclasses

import pytest

from sidecar.reports import ReportResult
from sidecar.reports.evidently_html import insert_section
from sidecar.reports.section import SECTION_ID, fmt, render_section
from tests.sidecar.reports.tables import split_section

SECTION = f'<section id="{SECTION_ID}">S</section>'


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("<html><head></head><body><p>x</p></body></html>", f"<html><head></head><body>{SECTION}<p>x</p>"),
        ('<HTML><HEAD></HEAD><BODY class="a">x</BODY>', f'<BODY class="a">{SECTION}x'),
        # A script in the head that mentions <body> is not the body.
        (
            '<html><head><script>var s = "<body>";</script></head>\n<body>x</body>',
            f"</head>\n<body>{SECTION}x",
        ),
        ("<html><head></head>x</html>", f"<html><head></head><body>{SECTION}x</html>"),
        ("<p>fragment</p>", f"{SECTION}<p>fragment</p>"),
    ],
)
def test_insert_section(document: str, expected: str) -> None:
    assert expected in insert_section(document, SECTION)


def test_fmt() -> None:
    assert (fmt(None), fmt(0.5), fmt(1 / 3)) == ("n/a", "0.5000", "0.3333")


def test_names_from_the_data_are_escaped(report: ReportResult) -> None:
    summary = report.summary
    assert summary.fairness is not None
    attribute = summary.fairness.attributes[0]
    evil = "<script>alert(1)</script>"
    group = dataclasses.replace(attribute.groups[0], label=evil)
    fairness = dataclasses.replace(
        summary.fairness, attributes=(dataclasses.replace(attribute, name=evil, groups=(group,)),)
    )
    html = render_section(dataclasses.replace(summary, monitor=evil, fairness=fairness))
    assert "<script>" not in html and html.count("&lt;script&gt;") >= 3


def test_no_default_reference_notice_for_an_uploaded_reference(report: ReportResult) -> None:
    summary = report.summary
    uploaded = dataclasses.replace(summary, reference=dataclasses.replace(summary.reference, source="upload"))
    assert "captured records" in split_section(render_section(summary))[0]
    assert "captured records" not in render_section(uploaded)
