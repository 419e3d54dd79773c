"""Offline answers: what an agent can say from its tools and knowledge with no language model."""

from __future__ import annotations

import re

from nodes.knowledge import Hit
from nodes.tools import ToolResult

_MAX_PASSAGE_CHARS = 700
_PIECES = re.compile(r"\s+|\S+\s*")


def offline_reply(notice: str, description: str, results: list[ToolResult], hits: list[Hit]) -> str:
    """Compose the reply: the honest notice, the tools' verified facts, then the best passage."""
    parts = [notice]
    parts.extend(result.text for result in results)
    if hits:
        best = hits[0].passage
        parts.append(f"📚 *{best.title}* (fonte: {best.source})\n{_trim(best.text)}")
    elif not results:
        parts.append(
            f"Não encontrei isso na minha base de conhecimento. Posso ajudar com: {description}"
        )
    return "\n\n".join(parts)


def stream_pieces(text: str) -> list[str]:
    """Word-sized pieces whose concatenation is exactly `text`, to stream like model tokens."""
    return _PIECES.findall(text)


def _trim(text: str) -> str:
    """Whole paragraphs up to a WhatsApp-friendly length."""
    kept: list[str] = []
    size = 0
    for paragraph in text.split("\n\n"):
        if kept and size + len(paragraph) > _MAX_PASSAGE_CHARS:
            break
        kept.append(paragraph)
        size += len(paragraph)
    return "\n\n".join(kept)
