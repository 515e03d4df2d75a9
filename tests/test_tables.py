"""The one table helper: the same data as Markdown and as HTML."""

import pytest

from prognos.edge_runtime.tables import Table

pytestmark = pytest.mark.edge  # runs in the prognos-edge venvs too (tests/conftest.py)


def test_markdown_and_html_of_one_table():
    t = Table(["format", "p50 µs"], "lr", before=["Measured by `make bench`."], after=["**note** a|b"])
    t.add("tflite_int8", 12)
    t.add("a|b <x>", "3")
    md = t.markdown()
    assert md.splitlines()[:2] == ["Measured by `make bench`.", ""]
    assert "| format | p50 µs |" in md and "| --- | ---: |" in md and "| tflite_int8 | 12 |" in md
    assert "| a/b <x> | 3 |" in md  # a pipe inside a cell cannot break the row
    h = t.html()
    assert "<code>make bench</code>" in h and "<b>note</b>" in h and "a|b &lt;x&gt;" in h
    assert h.count("<tr>") == 3 and '<td class="r">12</td>' in h


def test_rows_must_fit_the_columns():
    with pytest.raises(ValueError, match="2 letters for 3 columns"):
        Table(["a", "b", "c"], "lr")
    with pytest.raises(ValueError, match="row of 1 cells for 2 columns"):
        Table(["a", "b"], "lr").add("x")
