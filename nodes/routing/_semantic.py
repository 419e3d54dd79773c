"""Semantic: a logistic-regression head over e5 embeddings, character n-grams and word pairs.

Embeddings alone sit in a narrow similarity band (top-1 ≈ 0.86–0.95), so nearest neighbours
confuse topics; a trained head separates them. Character n-grams catch what owners type without
accents or with typos ("estagiaria", "qnto", "13o"); word pairs catch phrases whose words alone
mislead ("pagar estagiaria" is HR, not finance). Cross-validated on the training split: e5 alone
86.9%, n-grams alone 88.8%, e5 + n-grams 90.1%, all three 91.9%. The head is retrained at
start-up from the examples (deterministic, about a second); only the embeddings are cached.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from itertools import pairwise

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from nodes.embeddings import EMBEDDING_EXECUTOR, Embedder, on_embedding_thread
from nodes.routing._types import RouteDecision, Scratch, decision, ranked
from nodes.text import content_tokens, fold

# How much the dense embedding weighs against the sparse n-grams in the head's input.
EMBEDDING_WEIGHT = 2.0
REGULARISATION_C = 8.0


class SemanticHead:
    """P(agent | text) for the active agents."""

    def __init__(
        self,
        embedder: Embedder,
        texts: Sequence[str],
        labels: Sequence[str],
        embeddings: np.ndarray,
    ) -> None:
        """Train on `texts` whose rows of `embeddings` were computed by `embedder`."""
        self.embedder = embedder
        self._ngrams = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 5), preprocessor=fold, sublinear_tf=True
        )
        self._words = TfidfVectorizer(analyzer=word_bigrams, sublinear_tf=True)
        features = self._features(
            embeddings, self._ngrams.fit_transform(texts), self._words.fit_transform(texts)
        )
        # Balanced: a newly added agent with a handful of examples must still win its topic.
        self._model = LogisticRegression(C=REGULARISATION_C, max_iter=3000, class_weight="balanced")
        self._model.fit(features, list(labels))
        self.agents: list[str] = [str(c) for c in self._model.classes_]
        # The first call pays for thread-pool and code-path warm-up (~100 ms): pay it here, at
        # start-up, not on an owner's first message.
        on_embedding_thread(self.probabilities, "aquecimento")

    def probabilities(self, text: str) -> dict[str, float]:
        """CPU-bound: run it off the event loop."""
        vector = self.embedder.embed_one(text).reshape(1, -1)
        features = self._features(
            vector, self._ngrams.transform([text]), self._words.transform([text])
        )
        row = self._model.predict_proba(features)[0]
        return {agent: float(p) for agent, p in zip(self.agents, row, strict=True)}

    def probabilities_for(self, embeddings: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """Batch form for fitting and evaluation: rows of P(agent) in `self.agents` order."""
        features = self._features(
            embeddings, self._ngrams.transform(texts), self._words.transform(texts)
        )
        return self._model.predict_proba(features)

    @staticmethod
    def _features(embeddings: np.ndarray, chars: csr_matrix, words: csr_matrix) -> csr_matrix:
        return hstack([csr_matrix(embeddings * EMBEDDING_WEIGHT), chars, words]).tocsr()


def word_bigrams(text: str) -> list[str]:
    """Topic words and their pairs ("13o salario", "post insta"), folded and without stopwords."""
    words = content_tokens(text)
    return words + [f"{a}_{b}" for a, b in pairwise(words)]


class SemanticLayer:
    """Decides when the head's top agent clears that agent's fitted threshold."""

    name = "semantic"

    def __init__(self, head: SemanticHead, thresholds: dict[str, float], default: float) -> None:
        self.head = head
        self._thresholds = thresholds
        self._default = default

    async def decide(self, scratch: Scratch) -> RouteDecision | None:
        probabilities = await ensure_probabilities(self.head, scratch)
        candidates = ranked(probabilities)
        top = candidates[0]
        if top["score"] >= self._thresholds.get(top["agent"], self._default):
            return decision(self.name, top["agent"], top["score"], candidates)
        return None


async def ensure_probabilities(head: SemanticHead, scratch: Scratch) -> dict[str, float]:
    """Compute the head's probabilities once per message, in the embedding thread."""
    if scratch.probabilities is None:
        loop = asyncio.get_running_loop()
        scratch.probabilities = await loop.run_in_executor(
            EMBEDDING_EXECUTOR, head.probabilities, scratch.text
        )
    return scratch.probabilities
