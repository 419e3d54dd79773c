"""`esquadra fit-routing`: fit the semantic thresholds and the follow-up model on the train split.

Everything is fitted on cross-validated predictions of the training set, never on the data the
router is evaluated on: each training text's probabilities come from a head that did not see it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize
from sklearn.model_selection import StratifiedKFold

from core.embeddings import save_atomically, shared_embedder
from graphs.loader import LoadedSpec
from graphs.routing import (
    fitted_path,
    head_training_set,
    previous_agent,
    read_routing_data,
    shipped_embeddings,
    training_digest,
)
from graphs.schema import SemanticLayer as SemanticSpec
from nodes.routing import (
    PAIR_FEATURES,
    Context,
    ContextModel,
    FollowupLayer,
    SemanticHead,
    pair_features,
)

FOLDS = 5
# The lexical stage may cost at most 0.5% of training messages (out-of-fold) by skipping the
# embedding: see `_lexical_threshold`. It was 0.3% on 1,044 lines; on 2,040 that picked 0.75
# (22% embedded out-of-fold, 27% of dev) where 0.65 embeds 14% (20% of dev) for a better
# out-of-fold cascade (93.9% against 93.7%) and equal or better dev and held-out accuracy,
# and the embedding is the p95 and the largest item of CPU per reply (docs/routing.md).
LEXICAL_MAX_LOSS = 0.005
THRESHOLD_GRID = [round(x, 2) for x in np.arange(0.30, 0.96, 0.05)]


@dataclass(frozen=True)
class CrossValidated:
    """The head's training set and its out-of-fold (lexical, full) P(agent), agents sorted."""

    embedder: Any
    texts: list[str]
    labels: list[str]
    embeddings: np.ndarray
    lexical: np.ndarray
    full: np.ndarray

    @property
    def agents(self) -> list[str]:
        return sorted(set(self.labels))


def fit_routing(loaded: LoadedSpec, cache_dir: Path) -> dict[str, Any]:
    """Compute the fitted values; `write_fitted` stores them next to the YAML."""
    data = cross_validate(loaded, cache_dir)
    _ship(shipped_embeddings(loaded), data.embedder, data.texts, data.embeddings)
    return fit_from(loaded, data, cache_dir)


def cross_validate(loaded: LoadedSpec, cache_dir: Path) -> CrossValidated:
    """Embed the head's training set (cached) and compute its out-of-fold probabilities."""
    layer = next((x for x in loaded.spec.classifier.layers if isinstance(x, SemanticSpec)), None)
    embedder = shared_embedder(layer.variant if layer else "enpt")
    texts, labels = head_training_set(loaded)
    embeddings = embedder.embed_cached(texts, cache_dir)
    lexical_cv, full_cv = _cross_validated(embedder, texts, labels, embeddings)
    return CrossValidated(embedder, texts, labels, embeddings, lexical_cv, full_cv)


def fit_from(
    loaded: LoadedSpec,
    data: CrossValidated,
    cache_dir: Path,
    lexical_threshold: float | None = None,
) -> dict[str, Any]:
    """Everything fitted on `data`; `lexical_threshold` overrides the fitted gate (sweeps)."""
    spec = loaded.spec
    texts, labels, agents = data.texts, data.labels, data.agents
    lexical_cv, full_cv = data.lexical, data.full
    y = np.array(labels)
    if lexical_threshold is None:
        lexical_threshold = _lexical_threshold(lexical_cv, full_cv, y, agents)
    cv = _cascade(lexical_cv, full_cv, lexical_threshold)
    skipped = lexical_cv.max(axis=1) >= lexical_threshold
    lexical_right = np.array(agents)[lexical_cv.argmax(axis=1)] == y
    full_right = np.array(agents)[full_cv.argmax(axis=1)] == y
    fallback = spec.defaults.fallback_agent
    thresholds = {a: _best_threshold(a, cv, labels, agents, fallback) for a in agents}
    followup = _fit_followup(
        loaded,
        data.embedder,
        (texts, labels, data.embeddings),
        cv,
        agents,
        cache_dir,
        (thresholds, fallback, lexical_threshold),
    )
    return {
        "fitted_on": list(spec.classifier.training_data),
        "training_digest": training_digest(texts, labels),
        "head": {
            "examples": len(texts),
            "folds": FOLDS,
            "cv_accuracy_lexical": round(_accuracy(lexical_cv, y, agents), 4),
            "cv_accuracy_full": round(_accuracy(full_cv, y, agents), 4),
            "cv_accuracy": round(_accuracy(cv, y, agents), 4),
            "embedding_skipped": round(float(skipped.mean()), 4),
            "lexical_lost": round(float((skipped & full_right & ~lexical_right).mean()), 4),
        },
        "semantic": {"thresholds": thresholds, "lexical_threshold": lexical_threshold},
        "followup": followup,
    }


def _accuracy(probabilities: np.ndarray, y: np.ndarray, agents: list[str]) -> float:
    return float((np.array(agents)[probabilities.argmax(axis=1)] == y).mean())


def _cascade(lexical: np.ndarray, full: np.ndarray, threshold: float) -> np.ndarray:
    sure = lexical.max(axis=1) >= threshold
    return np.where(sure[:, None], lexical, full)


def _lexical_threshold(
    lexical: np.ndarray, full: np.ndarray, y: np.ndarray, agents: list[str]
) -> float:
    """The lowest confidence at which the lexical stage, deciding alone, gets wrong at most
    `LEXICAL_MAX_LOSS` of the training messages that the full head gets right (out-of-fold).

    Only that one-sided loss counts: where the lexical stage is right and the full head wrong,
    the gain comes from knowing the training phrasing and did not carry over to unseen writing
    styles. Matching the cascade's net accuracy to the full head's skipped 91% of embeddings
    but lost 2 points there; asking the kept messages to be 99.5% right embedded 44% of dev
    messages for no measurable gain (`python -m bench.routing_gate`, docs/routing.md)."""
    names = np.array(agents)
    lexical_right = names[lexical.argmax(axis=1)] == y
    full_right = names[full.argmax(axis=1)] == y
    confidence = lexical.max(axis=1)
    for threshold in [*THRESHOLD_GRID, 1.0]:
        kept = confidence >= threshold
        if (kept & full_right & ~lexical_right).mean() <= LEXICAL_MAX_LOSS:
            return float(threshold)
    return 1.0


def _cross_validated(
    embedder: Any, texts: list[str], labels: list[str], embeddings: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold (lexical, full) P(agent) for every training text, sorted agent columns."""
    agents = sorted(set(labels))
    lexical_out = np.zeros((len(texts), len(agents)))
    full_out = np.zeros((len(texts), len(agents)))
    y = np.array(labels)
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=7)
    for train, test in folds.split(np.zeros(len(y)), y):
        head = SemanticHead(
            embedder, [texts[i] for i in train], [labels[i] for i in train], embeddings[train]
        )
        lexical, full = head.probabilities_for(embeddings[test], [texts[i] for i in test])
        for column, agent in enumerate(head.agents):
            lexical_out[test, agents.index(agent)] = lexical[:, column]
            full_out[test, agents.index(agent)] = full[:, column]
    return lexical_out, full_out


def _best_threshold(
    agent: str, cv: np.ndarray, labels: list[str], agents: list[str], fallback: str
) -> float:
    """The lowest threshold that maximises accuracy when unsure messages go to the fallback."""
    if agent == fallback:
        return 0.0  # below the threshold the fallback answers anyway
    column = agents.index(agent)
    top = cv.argmax(axis=1) == column
    best, best_correct = THRESHOLD_GRID[0], -1
    for threshold in THRESHOLD_GRID:
        kept = top & (cv[:, column] >= threshold)
        dropped = top & ~kept
        correct = sum(labels[i] == agent for i in np.flatnonzero(kept)) + sum(
            labels[i] == fallback for i in np.flatnonzero(dropped)
        )
        if correct > best_correct:
            best, best_correct = threshold, correct
    return float(best)


def _fit_followup(
    loaded: LoadedSpec,
    embedder: Any,
    training: tuple[list[str], list[str], np.ndarray],
    cv: np.ndarray,
    agents: list[str],
    cache_dir: Path,
    semantic: tuple[dict[str, float], str, float],
) -> dict[str, Any]:
    """The conversation model (conditional logit over agents, shared weights) and the
    probability at which the follow-up layer decides, on the training conversations."""
    rows = [
        row
        for relative in loaded.spec.classifier.training_data
        for row in read_routing_data(loaded.resolve(relative))
        if previous_agent(row.history) in agents and row.agent in agents
    ]
    if len({row.agent == previous_agent(row.history) for row in rows}) < 2:
        return {"context_weights": None, "threshold": 0.5, "examples": len(rows)}
    # Texts in the head's training set get their out-of-fold probabilities; the rest (pure
    # follow-ups, which the head never trains on) come from the head trained on everything.
    texts, labels, embeddings = training
    thresholds, fallback, lexical_threshold = semantic
    cv_by_text = {text: cv[i] for i, text in enumerate(texts)}
    head = SemanticHead(embedder, texts, labels, embeddings)
    others = [row.text for row in rows if row.text not in cv_by_text]
    if others:
        lexical, full = head.probabilities_for(embedder.embed_cached(others, cache_dir), others)
        cascade = _cascade(lexical, full, lexical_threshold)
        for text, p in zip(others, cascade, strict=True):
            cv_by_text[text] = np.array([p[head.agents.index(a)] for a in agents])
    # History texts are read by the lexical stage only, as when routing.
    layer = FollowupLayer(ContextModel({}), 0.5, head, set(agents))
    features, targets = [], []
    for row in rows:
        probabilities = dict(zip(agents, cv_by_text[row.text], strict=True))
        context: Context = layer.context(row.history, previous_agent(row.history))
        features.append(pair_features(row.text, probabilities, context, agents))
        targets.append(agents.index(row.agent))
    weights = _conditional_logit(np.stack(features), np.array(targets))
    model = ContextModel(weights)
    q = np.stack([model.probabilities(f) for f in features])
    threshold, accuracy = _best_followup_threshold(rows, q, agents, thresholds, fallback)
    return {
        "context_weights": {k: round(v, 4) for k, v in weights.items()},
        "threshold": threshold,
        "examples": len(rows),
        "train_accuracy": round(float((q.argmax(axis=1) == np.array(targets)).mean()), 4),
        "routing_accuracy_on_these": round(accuracy, 4),
    }


def _conditional_logit(
    features: np.ndarray, targets: np.ndarray, l2: float = 1.0
) -> dict[str, float]:
    """Weights w maximising Σ log softmax_agents(features_i · w)[target_i] − l2·|w|²/2.

    `features` is (conversations, agents, PAIR_FEATURES). One weight per feature, shared by all
    agents: that is what lets a new agent use the model without a re-fit."""
    n = len(targets)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        scores = features @ w
        scores = scores - scores.max(axis=1, keepdims=True)
        p = np.exp(scores)
        p /= p.sum(axis=1, keepdims=True)
        chosen = features[np.arange(n), targets]
        value = -np.log(p[np.arange(n), targets] + 1e-12).sum() + l2 * w @ w / 2
        gradient = -(chosen - np.einsum("na,naf->nf", p, features)).sum(axis=0) + l2 * w
        return float(value), gradient

    start = np.zeros(features.shape[2])
    result = minimize(loss, start, jac=True, method="L-BFGS-B")
    return {name: float(w) for name, w in zip(PAIR_FEATURES, result.x, strict=True)}


def _best_followup_threshold(
    rows: list[Any],
    q: np.ndarray,
    agents: list[str],
    thresholds: dict[str, float],
    fallback: str,
) -> tuple[float, float]:
    """The follow-up layer's threshold, by routing accuracy on the training conversations
    (follow-up layer, then the semantic layer on the same probabilities, then the fallback)."""
    best, best_accuracy = 0.5, -1.0
    for threshold in THRESHOLD_GRID:
        correct = 0
        for row, probs in zip(rows, q, strict=True):
            previous = previous_agent(row.history)
            top = agents[int(np.argmax(probs))]
            if top == previous and probs.max() >= threshold:
                predicted = previous
            elif probs.max() >= thresholds.get(top, 0.0):
                predicted = top
            else:
                predicted = fallback
            correct += predicted == row.agent
        accuracy = correct / len(rows)
        if accuracy > best_accuracy:
            best, best_accuracy = float(threshold), accuracy
    return best, best_accuracy


def write_fitted(loaded: LoadedSpec, fitted: dict[str, Any]) -> Path:
    """Store the fitted values in the file named by `classifier.fitted`."""
    path = fitted_path(loaded)
    if path is None:
        raise ValueError("classifier.fitted is not set in the YAML: name the file to write")
    path.write_text(json.dumps(fitted, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _ship(folder: Path, embedder: Any, texts: list[str], embeddings: np.ndarray) -> None:
    """Keep exactly one shipped embeddings file: the one for the current examples."""
    for old in folder.glob("embeddings-*.npy"):
        old.unlink()
    save_atomically(embedder.cache_path(texts, folder), embeddings)
