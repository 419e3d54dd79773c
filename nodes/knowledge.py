"""An agent's knowledge files, split into sections and ranked with BM25.

Offline mode answers from the best section; online mode gives the best sections to the model as
grounding. Each `## ` section of a markdown file is one retrievable passage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rank_bm25 import BM25Plus

from core.text import content_tokens

_HEADING = re.compile(r"^##\s+(.+?)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Passage:
    """One section of a knowledge file; `source` says where a fact shown to the user came from."""

    source: str
    title: str
    text: str


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float


def split_sections(source: str, markdown: str) -> list[Passage]:
    """Cut markdown at its `## ` headings; text before the first one is a passage too."""
    passages: list[Passage] = []
    matches = list(_HEADING.finditer(markdown))
    preamble = markdown[: matches[0].start()] if matches else markdown
    preamble_text = "\n".join(
        line for line in preamble.strip().splitlines() if not line.startswith("# ")
    ).strip()
    if preamble_text:
        passages.append(Passage(source, Path(source).stem.replace("_", " "), preamble_text))
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(markdown)
        body = markdown[match.end() : end].strip()
        if body:
            passages.append(Passage(source, match.group(1), body))
    return passages


class KnowledgeIndex:
    """BM25+ over an agent's passages; titles count twice because they name the topic.

    BM25+ rather than Okapi because Okapi's IDF goes negative in the tiny corpora agents have
    (a term in every passage of a one-file agent would score below zero).
    """

    def __init__(self, passages: list[Passage]) -> None:
        self.passages = passages
        corpus = [content_tokens(f"{p.title} {p.title} {p.text}") for p in passages]
        self._terms = [frozenset(doc) for doc in corpus]
        self._bm25 = BM25Plus(corpus) if passages and any(corpus) else None

    @classmethod
    def from_files(cls, files: dict[str, str]) -> KnowledgeIndex:
        """Build from `{source name: markdown text}`."""
        passages = [p for source, text in files.items() for p in split_sections(source, text)]
        return cls(passages)

    def search(self, query: str, k: int = 2) -> list[Hit]:
        """The k best passages with a positive score, best first."""
        terms = content_tokens(query)
        if self._bm25 is None or not terms:
            return []
        scores = self._bm25.get_scores(terms)
        ranked = sorted(range(len(scores)), key=lambda i: scores[i], reverse=True)
        # BM25+ gives every passage a floor score; only passages sharing a term are hits.
        matching = [i for i in ranked if self._terms[i].intersection(terms)]
        return [Hit(self.passages[i], float(scores[i])) for i in matching[:k]]
