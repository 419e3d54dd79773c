"""A reply longer than WhatsApp's 4,096 characters per text message, cut into messages that
each end at a sentence (or, failing that, a line or a word)."""

from __future__ import annotations

import re

MAX_TEXT_CHARS = 4096

# Where a piece may end, best first: a paragraph, a sentence, a line, a word. Group 1 is the
# whitespace cut out between two pieces (a sentence keeps its closing quote or bracket).
_BREAKS = (
    re.compile(r"(\n\s*\n)"),
    re.compile(r"[.!?…][\"'”)\]]*(\s+)"),
    re.compile(r"(\n)"),
    re.compile(r"(\s+)"),
)


def split_text(text: str, limit: int = MAX_TEXT_CHARS) -> list[str]:
    """Pieces of at most `limit` characters, in order, with no text lost but the whitespace
    where they were cut. A single word longer than `limit` is cut where the limit falls."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        end, start = _cut(rest, limit)
        pieces.append(rest[:end])
        rest = rest[start:]
    if rest:
        pieces.append(rest)
    return pieces


def _cut(text: str, limit: int) -> tuple[int, int]:
    """(end of the first piece, start of the rest): the last break of the best kind that keeps
    the piece within the limit."""
    window = text[: limit + 1]  # whitespace right at the limit still ends a full piece
    for pattern in _BREAKS:
        cuts = [m.span(1) for m in pattern.finditer(window) if 0 < m.start(1) <= limit]
        if cuts:
            return cuts[-1]
    return limit, limit
