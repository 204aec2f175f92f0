"""Markdown for ``benchmarks/README.md``: tables, and a script's generated block in its section.

Each benchmark script owns one section of the README (``## ...``) and, inside it, the block
between its two markers, which it rewrites on every full run; the analysis written by hand
around the block is kept.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path


def table(header: Sequence[str], rows: Sequence[Sequence[str]], right: int = 1) -> str:
    """A Markdown table; columns from ``right`` on are right-aligned."""
    align = ["---" if i < right else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def markers(script: str) -> tuple[str, str]:
    """The begin and end markers of ``script``'s generated block."""
    return (
        f"<!-- {script} results: begin (generated; rerun the benchmark to refresh) -->",
        f"<!-- {script} results: end -->",
    )


def write_readme(readme: Path, block: str, *, script: str, section: str, intro: str) -> None:
    """Put ``block`` between ``script``'s markers in ``section``; create the section if missing.

    Text of the section outside the markers (the written analysis) is kept as it is.
    """
    begin, end = markers(script)
    text = readme.read_text()
    generated = f"{begin}\n\n{block.strip()}\n\n{end}"
    if begin in text and end in text:
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
        text = pattern.sub(lambda _: generated, text)
    elif section in text:
        text = text.replace(section, f"{section}\n\n{generated}", 1)
    else:
        text = f"{text.rstrip()}\n\n{section}\n\n{intro.strip()}\n\n{generated}\n"
    readme.write_text(text)
