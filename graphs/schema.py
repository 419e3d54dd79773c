"""The pydantic model tree of `agents.yaml`: the single source of truth for the squad's shape.

Structure is checked here (types, ranges, unknown keys); meaning that needs the file system or
the tool registry (prompt files exist, tools are known) is checked in `graphs.loader`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

AGENT_ID_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"


class Strict(BaseModel):
    """Base for every YAML section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Prices(Strict):
    """US dollars per one million tokens, as the provider bills them."""

    input: Decimal = Field(ge=0)
    output: Decimal = Field(ge=0)


class ModelProfile(Strict):
    """An OpenAI-compatible chat model; secrets and URLs are named by env var, never inlined."""

    model: str = Field(min_length=1, description="Model name sent to the endpoint.")
    model_env: str | None = Field(
        default=None, description="Env var that, when set, overrides `model`."
    )
    base_url_env: str = "OPENAI_BASE_URL"
    api_key_env: str = "OPENAI_API_KEY"
    price_per_1m_tokens: Prices = Prices(input=Decimal(0), output=Decimal(0))
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    max_retries: int = Field(default=1, ge=0, le=10)


class Routing(Strict):
    """What the classifier knows about an agent: words that name its topic and example messages."""

    keywords: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list, description="Regular expressions.")
    examples: list[str] = Field(default_factory=list)

    @field_validator("patterns")
    @classmethod
    def _patterns_compile(cls, patterns: list[str]) -> list[str]:
        import re

        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
        return patterns


class Agent(Strict):
    """One specialist of the squad."""

    id: str = Field(pattern=AGENT_ID_PATTERN, description="Lower-case id used in events and APIs.")
    name: str = Field(min_length=1, description="Display name shown to the user.")
    display_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=40,
        description="The chat page's badge, e.g. 'Leo · Finanças' (default: `name`).",
    )
    color: str | None = Field(
        default=None,
        pattern=r"^#[0-9a-fA-F]{6}$",
        description="The badge's colour on the chat page, as '#rrggbb'.",
    )
    description: str = Field(min_length=1)
    prompt: str = Field(description="Persona prompt file, relative to the YAML file.")
    model: str = "default"
    temperature: float = Field(default=0.5, ge=0, le=2)
    max_tokens: int = Field(default=800, ge=1, le=32_000)
    tools: list[str] = Field(default_factory=list)
    knowledge: list[str] = Field(default_factory=list, description="Files the agent answers from.")
    routing: Routing = Routing()
    active: bool = True
    budget_brl_per_day: Decimal | None = Field(
        default=None,
        gt=0,
        description="Reais this agent may spend on models per day (São Paulo), its routing "
        "included; the costs API and the alerts compare the day's spend with it. None: no budget.",
    )


class RulesLayer(Strict):
    """Explicit mentions ("@leo", "fala com a Lia"), then per-agent keywords and patterns."""

    type: Literal["rules"]
    threshold: float = Field(default=0.5, ge=0, le=1)
    keywords_decide: bool = Field(
        default=True, description="False: keywords only inform later layers; mentions still decide."
    )


class ExamplesLayer(Strict):
    """Lexical similarity between the message and each agent's routing examples."""

    type: Literal["examples"]
    threshold: float = Field(default=0.2, ge=0, le=1)


class FollowupLayer(Strict):
    """Short or anaphoric messages stay with the last agent, unless the topic clearly moved."""

    type: Literal["followup"]
    threshold: float = Field(default=0.5, ge=0, le=1, description="P(stay) needed to decide.")


class SemanticLayer(Strict):
    """A classifier head over e5 embeddings and character n-grams, trained on routing examples."""

    type: Literal["semantic"]
    threshold: float = Field(
        default=0.55, ge=0, le=1, description="Probability needed when no fitted threshold exists."
    )
    variant: Literal["enpt", "original"] = "enpt"
    max_embedding_queue: int = Field(
        default=4,
        ge=0,
        le=10_000,
        description="When this many messages already wait for the embedding thread, decide "
        "from the lexical stage alone instead of queueing (0: always wait).",
    )


class LlmLayer(Strict):
    """Asks a model (structured output) when every earlier layer is unsure; skipped offline."""

    type: Literal["llm"]
    model: str = "default"
    threshold: float = Field(default=0.5, ge=0, le=1)
    history_turns: int = Field(default=4, ge=0, le=20)


ClassifierLayer = Annotated[
    RulesLayer | ExamplesLayer | FollowupLayer | SemanticLayer | LlmLayer,
    Field(discriminator="type"),
]


class Classifier(Strict):
    """Layers run in order; the first one confident above its threshold decides."""

    layers: list[ClassifierLayer] = Field(
        default_factory=lambda: [RulesLayer(type="rules"), ExamplesLayer(type="examples")],
        min_length=1,
    )
    training_data: list[str] = Field(
        default_factory=list,
        description="JSONL files of labelled messages ({text, history, agent}) added to the "
        "agents' routing examples when the semantic head is trained.",
    )
    fitted: str | None = Field(
        default=None,
        description="JSON written by `esquadra fit-routing`: per-agent thresholds and the "
        "follow-up model. Missing file → the layers' default thresholds.",
    )


class Defaults(Strict):
    fallback_agent: str = "max"
    usd_brl: Decimal = Field(
        default=Decimal("5.40"), gt=0, description="Exchange rate used to show costs in reais."
    )
    offline_notice: str = (
        "Estou funcionando sem modelo de linguagem agora (modo offline): "
        "respondo com a minha base de conhecimento e ferramentas."
    )


ConcurrencyPolicy = Literal["enqueue", "reject", "interrupt"]
Channel = Literal["web", "whatsapp", "api", "cli"]


class ChannelGate(Strict):
    """How one channel treats messages that arrive while the thread is still answering."""

    policy: ConcurrencyPolicy = Field(
        default="enqueue",
        description="enqueue: answer in arrival order; reject: 409; interrupt: cancel the "
        "running reply (kept, marked interrupted) and answer the new message.",
    )
    debounce_ms: int = Field(
        default=0,
        ge=0,
        le=30_000,
        description="Messages within this window of each other are merged into one turn.",
    )


def _default_channels() -> dict[Channel, ChannelGate]:
    return {
        "web": ChannelGate(),
        "api": ChannelGate(),
        "cli": ChannelGate(),
        # Owners send bursts on WhatsApp ("oi" / "preciso de ajuda" / "com o caixa"): one turn.
        "whatsapp": ChannelGate(debounce_ms=1500),
    }


class Gate(Strict):
    """One turn per thread: each channel's policy for a message sent before the reply ends."""

    channels: dict[Channel, ChannelGate] = Field(default_factory=_default_channels)

    def channel(self, name: str) -> ChannelGate:
        """The settings of `name`; channels not listed use the defaults (enqueue, no debounce)."""
        return self.channels.get(name, ChannelGate())  # type: ignore[call-overload]


class Cache(Strict):
    """The hot session (Redis, or in-process): who a sender is and which thread they are in."""

    ttl_hours: float = Field(default=24, gt=0, le=24 * 90, description="Renewed on activity.")


class Locks(Strict):
    """The per-thread lock that keeps one turn at a time, across workers."""

    ttl_s: float = Field(
        default=30, gt=0, le=3600, description="A crashed worker's thread lock expires after this."
    )


class Retention(Strict):
    """How much checkpoint history each thread keeps."""

    keep_checkpoints: int = Field(
        default=20, ge=2, le=10_000, description="Checkpoints kept per thread; older are pruned."
    )


class Prompt(Strict):
    """How much of the thread the model and the router are shown."""

    history_messages: int = Field(
        default=20,
        ge=1,
        le=200,
        description="The agent's prompt holds the thread's last messages, up to this many.",
    )
    routing_messages: int = Field(
        default=8,
        ge=0,
        le=100,
        description="The router reads this many messages before the new one (follow-ups).",
    )


class Sessions(Strict):
    """A conversation's life around the graph, one section per concern."""

    durability: Literal["exit", "async"] = Field(
        default="exit",
        description="exit: one checkpoint per turn, written when the turn ends (also on errors "
        "and disconnects); async: one per graph step, written in the background as it runs.",
    )
    cache: Cache = Cache()
    locks: Locks = Locks()
    gate: Gate = Gate()
    retention: Retention = Retention()
    prompt: Prompt = Prompt()


# Keys that moved when `sessions:` was split into sections: old YAML path → new YAML path.
# `esquadra check` names the new place instead of only calling the old key unknown.
MOVED_KEYS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("sessions", "ttl_hours"): ("sessions", "cache", "ttl_hours"),
    ("sessions", "lock_ttl_s"): ("sessions", "locks", "ttl_s"),
    ("sessions", "channels"): ("sessions", "gate", "channels"),
    ("sessions", "keep_checkpoints"): ("sessions", "retention", "keep_checkpoints"),
    # It sized a Redis copy of the thread that nothing read; the agent's window is what it meant.
    ("sessions", "recent_messages"): ("sessions", "prompt", "history_messages"),
}


class Memory(Strict):
    """Long-term facts about the business, extracted from messages and recalled by agents."""

    enabled: bool = True
    max_facts_in_prompt: int = Field(default=8, ge=0, le=50)


class ReplyTemplate(Strict):
    """An approved WhatsApp message template, sent instead of free text when the 24-hour window
    is closed (Meta refuses free text then). Approve it in Meta's WhatsApp Manager first."""

    name: str = Field(min_length=1, max_length=512, description="The template's name at Meta.")
    language: str = Field(
        default="pt_BR", pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$", description="Its language code."
    )


class WhatsAppChannel(Strict):
    """The WhatsApp Cloud API adapter. Secrets and the Graph API URL live in the environment
    (`WHATSAPP_*`, `GRAPH_API_BASE_URL`); the phone number id comes with each webhook."""

    api_version: str = Field(
        default="v21.0", pattern=r"^v\d+\.\d+$", description="Graph API version in reply URLs."
    )
    reminder_template: ReplyTemplate | None = Field(
        default=None,
        description="Due-date reminders outside the 24-hour window: an approved template whose "
        "body takes two parameters, the obligation and its due date (30/11/2026); none: such "
        "reminders are recorded as `window_closed` and not sent.",
    )
    reply_template: ReplyTemplate | None = Field(
        default=None,
        description="Sent when the user's last message is older than 24 h; none: such replies "
        "are recorded as failed (`window_closed`) and not sent.",
    )
    rate_per_s: float = Field(
        default=20, gt=0, le=1000, description="Messages sent per second per phone number id."
    )
    max_body_bytes: int = Field(
        default=1_000_000,
        ge=1024,
        le=10_000_000,
        description="Larger webhook bodies are refused (413) before their signature is checked.",
    )
    send_attempts: int = Field(
        default=4, ge=1, le=10, description="Tries per Graph API call (429/5xx and network)."
    )
    lease_s: float = Field(
        default=300,
        gt=0,
        le=86_400,
        description="A message claimed by a worker that died is answered by another after this.",
    )
    sweep_s: float = Field(
        default=60, gt=0, le=3600, description="How often each worker looks for such messages."
    )
    max_attempts: int = Field(
        default=3,
        ge=1,
        le=20,
        description="A message whose processing failed this many times is left as failed.",
    )
    max_concurrent: int = Field(
        default=16,
        ge=1,
        le=1000,
        description="Messages answered at once per worker; the rest wait in the message log, "
        "so a burst of deliveries cannot slow the webhook's acknowledgements.",
    )
    shutdown_grace_s: float = Field(
        default=5,
        ge=0,
        le=60,
        description="On shutdown, replies still running after this are left for the next start.",
    )


class Reminders(Strict):
    """Leo's due-date reminders (DAS, FGTS, 13º…) for owners whose business profile asks for
    them, sent on WhatsApp once per obligation and period."""

    enabled: bool = True
    days_before: int = Field(default=3, ge=0, le=30, description="Days ahead of the due date.")
    interval_s: float = Field(
        default=3600, ge=1, le=86_400, description="How often the server looks for reminders due."
    )


class Channels(Strict):
    """Channel adapters beside `/v1/chat` (server/channels)."""

    whatsapp: WhatsAppChannel = WhatsAppChannel()


WorkflowStep = Literal["extract", "validate", "confirm", "execute", "reply"]
WORKFLOW_STEPS: tuple[str, ...] = ("extract", "validate", "confirm", "execute", "reply")


class Workflow(Strict):
    """A tool an agent runs in steps: its arguments from the message (or the model's call),
    checked, confirmed by the owner before anything is written, run, and answered.

    Templates name the tool's argument and result fields in braces (`{amount}`, `{date}`):
    money is shown as R$ 1.234,56, dates as 30/11/2026, kinds in Portuguese.
    """

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$", description="Node names derive from it.")
    agent: str = Field(description="The agent whose turn starts it (its tools list the tool).")
    tool: str = Field(description="The tool it runs at `execute`.")
    steps: list[WorkflowStep] = Field(
        default_factory=lambda: list(WORKFLOW_STEPS),
        description="In this order; `execute` is required, `confirm` before writing money.",
    )
    confirm: str | None = Field(
        default=None, description="The question that waits for sim/não (with `confirm` in steps)."
    )
    reply: str = Field(description="What the agent says after `execute`.")
    cancelled: str = "Tudo bem, não registrei nada."
    expires_after_min: int = Field(
        default=60, ge=1, le=10_080, description="A question unanswered this long is dropped."
    )

    @field_validator("steps")
    @classmethod
    def _ordered(cls, steps: list[str]) -> list[str]:
        if "execute" not in steps:
            raise ValueError("steps must include 'execute'")
        order = [WORKFLOW_STEPS.index(step) for step in steps]
        if order != sorted(set(order)):
            raise ValueError("steps go in this order, each once: " + " → ".join(WORKFLOW_STEPS))
        return steps

    @model_validator(mode="after")
    def _question(self) -> Workflow:
        if "confirm" in self.steps and not self.confirm:
            raise ValueError("a workflow with a 'confirm' step needs its 'confirm' question")
        return self


AlertKind = Literal["latency_p95", "error_rate", "daily_cost", "fallback_share", "trace_export"]
ALERT_KINDS: tuple[str, ...] = get_args(AlertKind)
# Kinds whose threshold is a share of the turns (0.02 = 2 %).
_FRACTION_KINDS = ("error_rate", "fallback_share")


class AlertRule(Strict):
    """One condition the server watches. `threshold`'s unit follows `kind`: seconds for
    latency_p95, a fraction of the turns for error_rate and fallback_share (0.02 = 2 %), reais
    per day for daily_cost (the budget), trace runs lost in the window for trace_export. The
    alert fires while the measured value is above the threshold."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,47}$", description="Names the alert everywhere.")
    kind: AlertKind
    threshold: Decimal = Field(ge=0)
    window_s: float = Field(
        default=300,
        gt=0,
        le=7 * 86_400,
        description="The turns of this many seconds back are measured (daily_cost: the day).",
    )
    min_turns: int = Field(
        default=1, ge=1, le=1_000_000, description="Fewer turns in the window: not judged."
    )
    agent: str | None = Field(
        default=None, description="Only this agent's turns (default: the whole squad)."
    )

    @field_validator("threshold")
    @classmethod
    def _threshold_fits_kind(cls, threshold: Decimal, info: ValidationInfo) -> Decimal:
        kind = info.data.get("kind")
        if kind in _FRACTION_KINDS and threshold > 1:
            raise ValueError(
                f"the threshold of {kind} is a fraction of the turns, from 0 to 1 "
                f"(0.02 = 2 %), got {threshold}"
            )
        return threshold

    @model_validator(mode="after")
    def _agent_fits_kind(self) -> AlertRule:
        if self.kind == "trace_export" and self.agent is not None:
            raise ValueError("trace_export counts the whole process's traces: remove 'agent'")
        return self


def _default_alert_rules() -> list[AlertRule]:
    return [
        AlertRule(id="latency_p95", kind="latency_p95", threshold=Decimal(3), min_turns=5),
        AlertRule(id="error_rate", kind="error_rate", threshold=Decimal("0.02"), min_turns=20),
        AlertRule(id="daily_cost", kind="daily_cost", threshold=Decimal(50)),
        AlertRule(
            id="fallback_share",
            kind="fallback_share",
            threshold=Decimal("0.3"),
            window_s=3600,
            min_turns=20,
        ),
        AlertRule(id="trace_export", kind="trace_export", threshold=Decimal(0)),
    ]


class Alerts(Strict):
    """Rules the server evaluates (one evaluator across workers) and where it says so."""

    enabled: bool = True
    interval_s: float = Field(default=30, gt=0, le=3600, description="Seconds between checks.")
    cooldown_s: float = Field(
        default=1800,
        ge=0,
        le=7 * 86_400,
        description="After a rule notified, it stays quiet this long even if it fires again.",
    )
    webhook_url_env: str = Field(
        default="ESQUADRA_ALERT_WEBHOOK_URL",
        pattern=r"^[A-Z_][A-Z0-9_]*$",
        description="Env var holding the webhook URL (Slack-compatible); unset: no notices.",
    )
    webhook_timeout_s: float = Field(default=5, gt=0, le=60)
    rules: list[AlertRule] = Field(default_factory=_default_alert_rules)


class SquadSpec(Strict):
    """The whole `agents.yaml`."""

    version: Literal[1] = 1
    models: dict[str, ModelProfile]
    agents: list[Agent] = Field(min_length=1)
    classifier: Classifier = Classifier()
    defaults: Defaults = Defaults()
    sessions: Sessions = Sessions()
    memory: Memory = Memory()
    channels: Channels = Channels()
    workflows: list[Workflow] = Field(default_factory=list)
    reminders: Reminders = Reminders()
    alerts: Alerts = Alerts()

    def active_agents(self) -> list[Agent]:
        """Agents that take traffic, in YAML order."""
        return [agent for agent in self.agents if agent.active]

    def agent(self, agent_id: str) -> Agent:
        """The agent with this id; KeyError when there is none."""
        for agent in self.agents:
            if agent.id == agent_id:
                return agent
        raise KeyError(agent_id)
