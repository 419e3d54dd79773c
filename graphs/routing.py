"""Build the squad's router from the YAML: layers in declared order, fitted values if present."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from core.embeddings import shared_embedder
from graphs.loader import LoadedSpec
from graphs.schema import Agent
from graphs.schema import ExamplesLayer as ExamplesSpec
from graphs.schema import FollowupLayer as FollowupSpec
from graphs.schema import LlmLayer as LlmSpec
from graphs.schema import RulesLayer as RulesSpec
from graphs.schema import SemanticLayer as SemanticSpec
from nodes.routing import (
    DEFAULT_WEIGHTS,
    ContextModel,
    ExamplesLayer,
    FollowupLayer,
    HeadModels,
    HistoryTurn,
    Layer,
    LlmLayer,
    Router,
    RulesLayer,
    SemanticHead,
    SemanticLayer,
    fit_head_models,
    previous_agent,
)


@dataclass(frozen=True)
class LabelledMessage:
    """One line of a routing data set: a message, its conversation so far, who should answer,
    and optional `tags` ("hard", ...) that evaluation reports separately."""

    text: str
    history: list[HistoryTurn]
    agent: str
    tags: tuple[str, ...] = ()


def read_routing_data(path: Path) -> list[LabelledMessage]:
    """Read `{text, history, agent}` JSON lines (`expected` is read as `agent`; history turns
    may leave out `agent`); a bad line names its number."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            rows.append(
                LabelledMessage(
                    text=str(item["text"]),
                    history=[
                        HistoryTurn(role=t["role"], content=t["content"], agent=t.get("agent"))
                        for t in item.get("history") or []
                    ],
                    agent=str(item["agent"] if "agent" in item else item["expected"]),
                    tags=tuple(str(tag) for tag in item.get("tags") or ()),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a routing example ({exc})") from None
    return rows


def head_training_set(loaded: LoadedSpec) -> tuple[list[str], list[str]]:
    """Texts that name their own topic: YAML examples and keywords, plus data-set lines that
    are not follow-ups (a follow-up's text alone does not say who should answer)."""
    # Every agent, switched off or not: switching one on again must not need retraining.
    known = {agent.id for agent in loaded.spec.agents}
    texts: list[str] = []
    labels: list[str] = []
    for agent in loaded.spec.agents:
        for text in [*agent.routing.examples, *agent.routing.keywords]:
            texts.append(text)
            labels.append(agent.id)
    for relative in loaded.spec.classifier.training_data:
        for row in read_routing_data(loaded.resolve(relative)):
            if row.agent in known and previous_agent(row.history) != row.agent:
                texts.append(row.text)
                labels.append(row.agent)
    return texts, labels


def fitted_path(loaded: LoadedSpec) -> Path | None:
    relative = loaded.spec.classifier.fitted
    return loaded.resolve(relative) if relative else None


def read_fitted(loaded: LoadedSpec) -> dict[str, Any]:
    """Values written by `esquadra fit-routing`, or {} before it has run."""
    path = fitted_path(loaded)
    if path is None or not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def training_digest(texts: Sequence[str], labels: Sequence[str]) -> str:
    """What `fit-routing` records as `training_digest`: the head's training set, in order."""
    return hashlib.sha256(json.dumps([list(texts), list(labels)]).encode("utf-8")).hexdigest()[:16]


FitStatus = Literal["fresh", "stale", "not_fitted"]
FIT_COMMAND = "esquadra fit-routing"


@dataclass(frozen=True)
class FitState:
    """Whether `classifier.fitted` was fitted on the examples the head trains on now.

    Stale means the thresholds and the follow-up model were fitted on other examples: routing
    still works (the head itself always trains on the current examples), less well tuned."""

    status: FitStatus
    path: Path | None  # the fitted file (None: `classifier.fitted` is not set)
    fitted_digest: str | None  # as written by fit-routing (None: no file, or an older one)
    current_digest: str


def fit_state(loaded: LoadedSpec, current_digest: str | None = None) -> FitState:
    """Compare the fitted file's `training_digest` with `current_digest` (default: the YAML's
    examples and training data, computed the way fit-routing does)."""
    if current_digest is None:
        current_digest = training_digest(*head_training_set(loaded))
    path = fitted_path(loaded)
    if path is None or not path.is_file():
        return FitState("not_fitted", path, None, current_digest)
    fitted = read_fitted(loaded).get("training_digest")
    status: FitStatus = "fresh" if fitted == current_digest else "stale"
    return FitState(status, path, fitted, current_digest)


def compare_fit(fitted: FitState, current_digest: str) -> FitState:
    """`fitted` (read earlier) judged against another training set's digest (a live head's)."""
    if fitted.status == "not_fitted":
        return dataclasses.replace(fitted, current_digest=current_digest)
    status: FitStatus = "fresh" if fitted.fitted_digest == current_digest else "stale"
    return FitState(status, fitted.path, fitted.fitted_digest, current_digest)


def with_agents(loaded: LoadedSpec, agents: Sequence[Agent]) -> LoadedSpec:
    """The same squad with these agent definitions (the live registry's), for the head's
    training set; files still resolve next to the YAML."""
    return dataclasses.replace(loaded, spec=loaded.spec.model_copy(update={"agents": list(agents)}))


# Examples embedded per call to the embedding thread during a refit: messages waiting to be
# routed queue behind one batch at most (~0.2 s), not behind all the new examples.
REFIT_EMBED_BATCH = 16


FitModels = Callable[[Sequence[str], Sequence[str], np.ndarray], HeadModels]


def refit_head(
    old: SemanticHead,
    texts: Sequence[str],
    labels: Sequence[str],
    fit: FitModels = fit_head_models,
) -> SemanticHead:
    """A head trained on `texts`, with `old`'s embedder and settings, embedding only the texts
    `old` was not trained on (on the embedding thread) and fitting with `fit`. Blocks for
    seconds: call it off the event loop."""
    digest = training_digest(texts, labels)
    key = (digest, old.embedder.variant, old.lexical_threshold, old.max_embedding_queue)
    built = _HEADS.get(key)  # built at start-up for these examples (a rollback to the YAML's)
    if built is not None:
        return built
    known = dict(zip(old.texts, old.embeddings, strict=True))
    missing = [text for text in dict.fromkeys(texts) if text not in known]
    for start in range(0, len(missing), REFIT_EMBED_BATCH):
        batch = missing[start : start + REFIT_EMBED_BATCH]
        known.update(zip(batch, old.embedder.embed(batch), strict=True))
    matrix = np.vstack([known[text] for text in texts]) if texts else old.embeddings[:0]
    models = fit(list(texts), list(labels), matrix)
    return SemanticHead(
        old.embedder, texts, labels, matrix, old.lexical_threshold, old.max_embedding_queue, models
    )


# Before `fit-routing`: skip the embedding only when the lexical stage is this sure (out-of-fold
# on the shipped data, 99.6% of such messages were right).
DEFAULT_LEXICAL_THRESHOLD = 0.9


def shipped_embeddings(loaded: LoadedSpec) -> Path:
    """Where `fit-routing` leaves the embeddings of the squad's own examples, next to the fit."""
    return loaded.base_dir / "prompts" / "routing-embeddings"


def build_head(
    loaded: LoadedSpec, cache_dir: Path, variant: str = "enpt", max_embedding_queue: int = 0
) -> SemanticHead:
    """Train the semantic head on the squad's examples (embeddings cached by content hash)."""
    texts, labels = head_training_set(loaded)
    embedder = shared_embedder(variant)
    lexical_threshold = (
        read_fitted(loaded).get("semantic", {}).get("lexical_threshold", DEFAULT_LEXICAL_THRESHOLD)
    )
    key = (training_digest(texts, labels), variant, lexical_threshold, max_embedding_queue)
    if key not in _HEADS:
        embeddings = embedder.embed_cached(texts, cache_dir, seed_dir=shipped_embeddings(loaded))
        _HEADS[key] = SemanticHead(
            embedder, texts, labels, embeddings, lexical_threshold, max_embedding_queue
        )
    return _HEADS[key]


# A trained head is immutable and fully determined by its examples: squads built again in the
# same process (Studio reloads, test clients, workers' reloads) reuse it instead of retraining.
_HEADS: dict[tuple[str, str, float, int], SemanticHead] = {}


def build_router(
    loaded: LoadedSpec,
    *,
    cache_dir: Path,
    llm_models: Mapping[str, Any] | None = None,
    include_llm: bool = True,
    only: set[str] | None = None,
) -> Router:
    """Layers in YAML order (or just the types in `only`, for baselines). `llm_models` maps
    profile → chat model; an offline profile has none, and then the llm layer is left out (the
    fallback agent answers what nobody was sure of)."""
    spec = loaded.spec
    agents = spec.agents  # every agent: the active set filters at routing time (Router.route)
    fitted = read_fitted(loaded)
    declared = [x for x in spec.classifier.layers if only is None or x.type in only]
    semantic_spec = next((x for x in declared if isinstance(x, SemanticSpec)), None)
    head = (
        build_head(loaded, cache_dir, semantic_spec.variant, semantic_spec.max_embedding_queue)
        if semantic_spec
        else None
    )
    layers: list[Layer] = []
    for layer in declared:
        if isinstance(layer, RulesSpec):
            layers.append(RulesLayer(agents, layer.threshold, layer.keywords_decide))
        elif isinstance(layer, ExamplesSpec):
            layers.append(ExamplesLayer(agents, layer.threshold))
        elif isinstance(layer, SemanticSpec) and head is not None:
            thresholds = fitted.get("semantic", {}).get("thresholds", {})
            layers.append(SemanticLayer(head, thresholds, _unfitted_threshold(thresholds, layer)))
        elif isinstance(layer, FollowupSpec):
            weights = fitted.get("followup", {}).get("context_weights") or DEFAULT_WEIGHTS
            threshold = fitted.get("followup", {}).get("threshold", layer.threshold)
            agent_ids = {a.id for a in agents}
            layers.append(FollowupLayer(ContextModel(weights), threshold, head, agent_ids))
        elif isinstance(layer, LlmSpec) and include_llm:
            model = (llm_models or {}).get(layer.model)
            if model is not None:
                about = {a.id: f"{a.name} — {a.description}" for a in agents}
                layers.append(
                    LlmLayer(model, about, layer.threshold, layer.history_turns, layer.model)
                )
    return Router(
        layers,
        [a.id for a in agents],
        spec.defaults.fallback_agent,
        [a.id for a in spec.active_agents()],
    )


def _unfitted_threshold(fitted: Mapping[str, float], layer: SemanticSpec) -> float:
    """The threshold of an agent the fit has not seen (added since): the fitted agents' mean,
    leaving out the fallback's 0 (its unsure messages go to itself anyway); the YAML's value
    before any fit. A new agent with the YAML's 0.55 lost half of its messages to the fallback
    while the fitted ones decide from 0.3–0.4."""
    values = [value for value in fitted.values() if value > 0]
    return sum(values) / len(values) if values else layer.threshold
