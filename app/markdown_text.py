"""Model text (or any text a user typed) as Streamlit markdown that shows it exactly as written:
never markup, links, math or HTML. Used by every page that shows such text (no Streamlit here)."""

from __future__ import annotations

import functools
import re

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>$~&:=\"'^@%])")
# GFM turns bare URLs and e-mail addresses into links after escapes are resolved (remark-gfm finds
# them in the text, where an escape no longer shows), when the character before is a space,
# punctuation or the start. Such a word goes in an inline code span instead: code is never linked,
# and it copies as typed (an invisible word joiner before it, as before, was copied with it).
_AUTOLINK = re.compile(r"(?i)(?<![^\W_])(?:(?:https?://|www\.)\S*|[-.\w+]+@[-\w]+(?:\.[-\w]+)+\S*)")
_BACKTICKS = re.compile(r"`+")


@functools.lru_cache(maxsize=512)  # every repaint re-renders finished streams: escape each text once
def literal_markdown(text: str | None) -> str:
    """Markdown that shows `text` exactly as written: every markdown and HTML character escaped
    (so model output can never become markup, links, math or HTML) and line breaks kept."""
    if not text:
        return ""
    lines = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):  # a lone CR ends a line too
        body = line.lstrip(" \t")
        # Leading blanks would make an indented code block, which shows the escapes themselves.
        indent = line[: len(line) - len(body)].replace("\t", "    ")
        lines.append("\u00a0" * len(indent) + _escaped_line(body))
    return "  \n".join(lines)


def _escaped_line(line: str) -> str:
    """One line with every markdown character escaped, and URL-like words as inline code."""
    out, start = [], 0
    for match in _AUTOLINK.finditer(line):
        out.append(_MARKDOWN_SPECIAL.sub(r"\\\1", line[start : match.start()]))
        out.append(_code_span(match.group()))
        start = match.end()
    out.append(_MARKDOWN_SPECIAL.sub(r"\\\1", line[start:]))
    return "".join(out)


def _code_span(word: str) -> str:
    """`word` as a CommonMark code span: a fence longer than any run of backticks inside, and a
    space each side (which the renderer drops) when the word starts or ends with a backtick."""
    fence = "`" * (max((len(run) for run in _BACKTICKS.findall(word)), default=0) + 1)
    pad = " " if word.startswith("`") or word.endswith("`") else ""
    return f"{fence}{pad}{word}{pad}{fence}"
