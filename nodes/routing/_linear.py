"""The semantic head's fitted models, evaluated for one message without sklearn's per-call cost.

sklearn is built for batches: for a single message, input validation, sparse-matrix assembly
and `hstack` cost about ten times the arithmetic (≈2.5 ms of event-loop time per message under
load). Here the fitted TF-IDF vocabularies and logistic-regression weights are copied once into
dicts and arrays; a message's features are a handful of (column, weight) pairs and its logits a
few row sums. Same numbers as `predict_proba` (tests/test_routing.py checks it on the dev set).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

SparseRow = tuple[np.ndarray, np.ndarray]  # (column indices, values) of one message


class TfidfRow:
    """One fitted `TfidfVectorizer` (L2 norm), evaluated for one text."""

    def __init__(self, vectorizer: TfidfVectorizer, offset: int) -> None:
        if vectorizer.norm != "l2":
            raise ValueError("only L2-normalised TF-IDF is supported")
        self._analyze = vectorizer.build_analyzer()
        idf = vectorizer.idf_
        # term → (global column, idf): one dict lookup per n-gram.
        self._terms = {
            term: (offset + column, float(idf[column]))
            for term, column in vectorizer.vocabulary_.items()
        }
        self._sublinear = bool(vectorizer.sublinear_tf)
        self.width = len(vectorizer.vocabulary_)

    def row(self, text: str) -> tuple[list[int], list[float]]:
        counts = Counter(term for term in self._analyze(text) if term in self._terms)
        columns: list[int] = []
        values: list[float] = []
        for term, count in counts.items():
            column, idf = self._terms[term]
            tf = 1.0 + math.log(count) if self._sublinear else float(count)
            columns.append(column)
            values.append(tf * idf)
        norm = math.sqrt(sum(v * v for v in values))
        if norm > 0:
            values = [v / norm for v in values]
        return columns, values


class LexicalFeatures:
    """Several vectorizers side by side, as `hstack` would place their columns."""

    def __init__(self, vectorizers: Sequence[TfidfVectorizer]) -> None:
        self._rows: list[TfidfRow] = []
        offset = 0
        for vectorizer in vectorizers:
            self._rows.append(TfidfRow(vectorizer, offset))
            offset += self._rows[-1].width
        self.width = offset

    def __call__(self, text: str) -> SparseRow:
        columns: list[int] = []
        values: list[float] = []
        for tfidf in self._rows:
            c, v = tfidf.row(text)
            columns += c
            values += v
        return np.asarray(columns, dtype=np.intp), np.asarray(values, dtype=np.float64)


class LinearProbabilities:
    """P(class) of a fitted multinomial `LogisticRegression` over [dense | sparse] inputs."""

    def __init__(self, model: LogisticRegression, dense_width: int = 0) -> None:
        coef = np.asarray(model.coef_, dtype=np.float64)
        if coef.shape[0] == 1:  # two classes: sklearn keeps one row, P(1) = sigmoid
            coef = np.vstack([-coef / 2, coef / 2])
            intercept = np.array([-model.intercept_[0] / 2, model.intercept_[0] / 2])
        else:
            intercept = np.asarray(model.intercept_, dtype=np.float64)
        self._dense = coef[:, :dense_width]
        # Column-major rows of the sparse part: one message touches few columns.
        self._sparse = np.ascontiguousarray(coef[:, dense_width:].T)
        self._intercept = intercept
        self.classes = [str(c) for c in model.classes_]

    def __call__(self, sparse: SparseRow, dense: np.ndarray | None = None) -> np.ndarray:
        columns, values = sparse
        logits = self._intercept + values @ self._sparse[columns]
        if dense is not None:
            logits = logits + self._dense @ dense
        logits = logits - logits.max()
        exp = np.exp(logits)
        return exp / exp.sum()
