"""Offline answers: what an agent can say from its tools and knowledge with no language model."""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.text import content_tokens
from nodes.knowledge import Hit
from nodes.tools import ToolResult

_MAX_PASSAGE_CHARS = 700
_PIECES = re.compile(r"\s+|\S+\s*")


def offline_reply(
    notice: str,
    description: str,
    results: list[ToolResult],
    hits: list[Hit],
    facts: Sequence[str] = (),
    question: str = "",
) -> str:
    """Compose the reply: the honest notice, remembered facts on the question's topic, the tools'
    verified facts, then the best passage."""
    parts = [notice]
    relevant = relevant_facts(facts, question)
    if relevant:
        parts.append("📝 O que você já me contou: " + "; ".join(relevant) + ".")
    parts.extend(result.text for result in results)
    if hits:
        best = hits[0].passage
        parts.append(f"📚 *{best.title}* (fonte: {best.source})\n{_trim(best.text)}")
    elif not results:
        parts.append(
            f"Não encontrei isso na minha base de conhecimento. Posso ajudar com: {description}"
        )
    return "\n\n".join(parts)


def relevant_facts(facts: Sequence[str], question: str) -> list[str]:
    """Facts sharing a topic word with the question: "férias dos funcionários" brings up
    "Tem 5 funcionários"; a question about Instagram brings up nothing (no model to judge)."""
    asked = _topic_words(question)
    return [fact for fact in facts if asked & _topic_words(fact)]


def _topic_words(text: str) -> set[str]:
    # Numbers are not topics: "5 dúvidas" has nothing to do with "5 funcionários".
    return {word for word in content_tokens(text) if word.isalpha()}


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
