"""The one table helper: every results table is built as data once, then written as Markdown
(README / docs / report/*.md) or HTML (the report), never parsed back from Markdown."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field


@dataclass
class Table:
    columns: list[str]
    align: str  # one letter per column: "l" left, "r" right, "c" centre
    rows: list[list[str]] = field(default_factory=list)
    before: list[str] = field(default_factory=list)  # paragraphs above the table (Markdown inline code allowed)
    after: list[str] = field(default_factory=list)  # paragraphs below it

    def __post_init__(self):
        if len(self.align) != len(self.columns):
            raise ValueError(f"align {self.align!r} has {len(self.align)} letters for {len(self.columns)} columns")

    def add(self, *cells) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"row of {len(cells)} cells for {len(self.columns)} columns: {cells}")
        self.rows.append([str(c) for c in cells])

    def markdown(self) -> str:
        rule = {"l": "---", "r": "---:", "c": ":---:"}
        lines = [*_paragraphs(self.before), _md_row(self.columns), _md_row(rule[a] for a in self.align)]
        lines += [_md_row(r) for r in self.rows]
        return "\n".join(lines + ([""] + _paragraphs(self.after)[:-1] if self.after else [])) + "\n"

    def html(self) -> str:
        cls = {"l": "", "r": ' class="r"', "c": ' class="c"'}  # the report's stylesheet aligns .r and .c
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td{cls[a]}>{_inline(c)}</td>" for a, c in zip(self.align, r)) + "</tr>"
            for r in self.rows
        )
        paras = lambda ps: "".join(f"<p>{_inline(p)}</p>" for p in ps)  # noqa: E731
        return f"{paras(self.before)}<table><tr>{head}</tr>{body}</table>{paras(self.after)}"


def _md_row(cells) -> str:
    return "| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |"


def _paragraphs(texts) -> list[str]:
    out = []
    for t in texts:
        out += [t, ""]
    return out


def _inline(text: str) -> str:
    """Escaped text with Markdown `code` and **bold** as HTML."""
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(str(text)))
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)
