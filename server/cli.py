"""The `esquadra` command: serve, chat, check, graph."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.settings import Settings
    from graphs.loader import LoadedSpec


# `esquadra eval-routing … | head` should end quietly, not with a BrokenPipeError: these
# commands only print, so they take SIGPIPE's default action (exit). `serve`, `worker` and
# `chat` never do: a client hanging up mid-stream would kill the server silently (exit -13).
_PRINTING_COMMANDS = frozenset({"check", "graph", "eval-routing", "fit-routing", "export", "tool"})


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command in _PRINTING_COMMANDS:
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    return int(args.run(args) or 0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="esquadra", description="FalaChefe's agent squad.")
    commands = parser.add_subparsers(dest="command")

    serve = commands.add_parser("serve", help="start the HTTP API (Litestar + uvicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--config", help="squad YAML (default: $ESQUADRA_CONFIG or agents.yaml)")
    serve.add_argument("--log-level", default="info")
    serve.add_argument(
        "--allow-open-api",
        action="store_true",
        help="serve /v1 without ESQUADRA_API_KEY on a non-loopback address (anyone who can "
        "reach it may read and act for every user)",
    )
    serve.set_defaults(run=_serve)
    serve.epilog = _variables_help()
    serve.formatter_class = argparse.RawDescriptionHelpFormatter

    migrate = commands.add_parser(
        "migrate", help="create or upgrade our tables (also done at every start)"
    )
    migrate.set_defaults(run=_migrate)

    sync = commands.add_parser(
        "sync", help="apply agents.yaml's changes to the agent registry as new versions"
    )
    sync.add_argument("--config")
    sync.add_argument(
        "--force", action="store_true", help="the YAML wins every field, live edits included"
    )
    sync.set_defaults(run=_sync)

    export = commands.add_parser(
        "export", help="write the registry's live squad as YAML (and its prompt files)"
    )
    export.add_argument("--config")
    export.add_argument(
        "--out",
        help="YAML file to write; prompt files are written next to it (default: YAML to stdout)",
    )
    export.set_defaults(run=_export)

    chat = commands.add_parser("chat", help="talk to the squad in this terminal")
    chat.add_argument("--config")
    chat.add_argument("--thread", help="continue this thread id")
    chat.add_argument(
        "--user",
        default="local",
        help="user id (default: local — the owner at this terminal; their cash book, profile "
        "and memory are kept under it)",
    )
    chat.set_defaults(run=_chat)

    check = commands.add_parser("check", help="validate a squad YAML file")
    check.add_argument("file", nargs="?")
    check.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 on warnings too (a routing fit stale or missing)",
    )
    check.set_defaults(run=_check)

    evaluate = commands.add_parser("eval-routing", help="measure routing on a labelled JSONL file")
    evaluate.add_argument("file")
    evaluate.add_argument("--config")
    evaluate.add_argument("--json", action="store_true", help="one JSON object on stdout")
    evaluate.add_argument("--no-llm", action="store_true", help="leave the llm layer out")
    evaluate.add_argument(
        "--llm-only", action="store_true", help="baseline: only the llm layer (needs a model)"
    )
    evaluate.set_defaults(run=_eval_routing)

    fit = commands.add_parser("fit-routing", help="fit routing thresholds on the training data")
    fit.add_argument("--config")
    fit.set_defaults(run=_fit_routing)

    _add_plugin_commands(commands)

    worker = commands.add_parser(
        "worker", help="learn business facts from the memory stream in Redis (REDIS_URL)"
    )
    worker.add_argument(
        "--reclaim-after",
        type=float,
        help="seconds before another worker's unacknowledged message is taken over (default 60)",
    )
    worker.add_argument("--log-level", default="info")
    worker.set_defaults(run=_worker)

    graph = commands.add_parser("graph", help="print the compiled squad graph as mermaid")
    graph.add_argument("--config")
    graph.set_defaults(run=_graph)

    from server.tool_cli import add_tool_parser

    add_tool_parser(commands)
    return parser


def _add_plugin_commands(commands: argparse._SubParsersAction) -> None:
    """Subcommands other installed packages declare (entry points `esquadra.commands`, e.g.
    `esquadra bench` from the bench extra): the product never imports them itself."""
    from importlib.metadata import entry_points

    for entry in entry_points(group="esquadra.commands"):
        try:
            add_parser = entry.load()
        except ImportError:  # its extra is not installed: the command is simply not offered
            continue
        add_parser(commands)


def _variables_help() -> str:
    from core.settings import describe_variables

    rows = describe_variables()
    width = max(len(name) for name, _, _ in rows)
    lines = [f"  {name:<{width}}  {text} (default: {default})" for name, default, text in rows]
    return "environment variables:\n" + "\n".join(lines)


def _settings(**overrides: object) -> Settings:
    """The settings from the environment, with what the command line said; exits on bad values."""
    from core.settings import Settings, SettingsError

    try:
        return Settings.from_env(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        print(f"esquadra: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _config_path(explicit: str | None) -> Path:
    return Path(explicit) if explicit else _settings().config_path


def _report_issues(path: Path) -> bool:
    """Print every problem in the YAML; True when there is none."""
    from graphs.loader import check_file

    issues = check_file(path)
    for issue in issues:
        print(issue.format(), file=sys.stderr)
    if issues:
        print(f"\n{len(issues)} problem(s) in {path}.", file=sys.stderr)
    return not issues


def _check(args: argparse.Namespace) -> int:
    path = _config_path(args.file)
    if not _report_issues(path):
        return 1
    from graphs.loader import load_spec

    loaded = load_spec(path)
    spec = loaded.spec
    active = [a.id for a in spec.active_agents()]
    inactive = [a.id for a in spec.agents if not a.active]
    print(
        f"{path}: ok — {len(active)} active agent(s): {', '.join(active)}"
        + (f"; inactive: {', '.join(inactive)}" if inactive else "")
        + f"; fallback: {spec.defaults.fallback_agent}"
    )
    warned = _warn_routing_fit(loaded, path)
    return 1 if warned and args.strict else 0


def _warn_routing_fit(loaded: LoadedSpec, path: Path) -> bool:
    """A warning when `classifier.fitted` was fitted on other examples (or is missing); True if
    one was printed. A warning, not an error: the squad still routes, less well tuned."""
    from graphs.routing import FIT_COMMAND, fit_state

    try:
        fit = fit_state(loaded)
    except ValueError as exc:  # a training_data line that is not a routing example
        print(f"warning: cannot tell whether the routing fit is fresh: {exc}", file=sys.stderr)
        return True
    if fit.status == "fresh" or fit.path is None:
        return False
    command = f"{FIT_COMMAND} --config {path}"
    if fit.status == "stale":
        print(
            f"warning: {fit.path} is stale: it was fitted on other routing examples "
            f"(training_digest {fit.fitted_digest}; the squad's examples and training data now "
            f"give {fit.current_digest}). Thresholds and the follow-up model no longer match "
            f"the head. fix: {command}",
            file=sys.stderr,
        )
    else:
        print(
            f"warning: {fit.path} not found: routing uses default thresholds. fix: {command}",
            file=sys.stderr,
        )
    return True


def _serve(args: argparse.Namespace) -> int:
    from functools import partial

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from server.app import create_app
    from server.metrics import multiprocess_settings

    path = _config_path(args.config)
    if not _report_issues(path):
        return 1
    settings = _settings(config_path=path.resolve())
    problem = _exposure_problem(settings, args.host, args.allow_open_api) or _serving_problem(
        settings, args.workers
    )
    if problem:
        print(f"esquadra serve: {problem}", file=sys.stderr)
        return 1
    # JSON lines (core/logs.py), here and in every worker: uvicorn applies `log_config` again in
    # each process it spawns, its own access and error loggers included.
    log_config = _json_logging(args.log_level)
    # The settings object itself goes to every worker (pickled by uvicorn's spawn): the CLI
    # never writes them into the environment.
    config = uvicorn.Config(
        # (but for the metrics' directory, which prometheus_client reads there: server/metrics.py)
        partial(create_app, multiprocess_settings(settings, args.workers)),
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=log_config,
        log_level=args.log_level,
        # uvicorn's supervisor kills a worker that misses its 5 s ping; a worker opening the
        # squad (embedding model, stores) on a busy two-core machine missed it, and every
        # replacement did too (`--workers 2` ran one worker, or none).
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
    )
    server = uvicorn.Server(config)
    if args.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        server.run()
    return 0 if server.started or args.workers > 1 else 1


WORKER_HEALTHCHECK_S = 60


def _json_logging(level: str) -> dict:
    """Install the JSON log configuration in this process and return it (for uvicorn)."""
    import logging.config

    from core.logs import logging_config

    config = logging_config(level)
    logging.config.dictConfig(config)
    return config


def _exposure_problem(settings: Settings, host: str, allow_open: bool) -> str | None:
    """Why serving on `host` would expose an open API (one line), or None."""
    import ipaddress

    if settings.api_key or allow_open:
        return None
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        loopback = False
    if loopback:
        return None
    return (
        f"--host {host} is reachable from other machines and ESQUADRA_API_KEY is not set: "
        "set it (integrations send 'Authorization: Bearer <key>'), or pass --allow-open-api "
        "if /v1 is meant to be open"
    )


def _serving_problem(settings: Settings, workers: int) -> str | None:
    """Why these settings cannot serve (one line), or None."""
    if workers > 1 and (settings.redis_url is None or settings.backend != "postgres"):
        return (
            f"--workers {workers} needs DATABASE_URL (PostgreSQL) and REDIS_URL: without them "
            "each worker would keep its own locks and sessions and lose concurrent turns; "
            "use --workers 1 for the embedded default"
        )
    if settings.backend == "postgres":
        from checkpointing.stores import StoreUnavailable, check_database

        try:
            asyncio.run(check_database(settings.database_url or ""))
        except StoreUnavailable as exc:
            return str(exc)
    return None


def _migrate(args: argparse.Namespace) -> int:
    from checkpointing import StoreUnavailable, open_stores
    from checkpointing.migrations import applied_versions

    settings = _settings()

    async def run() -> list[int]:
        async with open_stores(settings) as stores:
            return await applied_versions(stores.db)

    try:
        versions = asyncio.run(run())
    except StoreUnavailable as exc:
        print(f"esquadra migrate: {exc}", file=sys.stderr)
        return 1
    print(f"{settings.backend}: schema at version {max(versions, default=0)} ({versions})")
    return 0


def _sync(args: argparse.Namespace) -> int:
    from checkpointing import StoreUnavailable, open_stores
    from checkpointing.registry import AgentRegistry
    from graphs import registry
    from graphs.agent_edits import PatchError
    from graphs.loader import load_spec

    path = _config_path(args.config)
    if not _report_issues(path):
        return 1
    loaded = load_spec(path)
    settings = _settings(config_path=path)

    async def run() -> registry.SyncReport:
        async with open_stores(settings) as stores:
            return await registry.sync(
                AgentRegistry(stores.db), loaded, "cli:sync", force=args.force
            )

    try:
        report = asyncio.run(run())
    except (StoreUnavailable, PatchError) as exc:
        print(f"esquadra sync: {exc}", file=sys.stderr)
        return 1
    print(f"{path}: added {report.added or 'none'}; new versions {report.updated or 'none'}")
    for agent_id, fields in report.kept_live.items():
        print(f"  {agent_id}: live edit kept for {', '.join(fields)} (--force to take the YAML)")
    if report.not_in_yaml:
        print(f"  in the registry but not in the YAML: {', '.join(report.not_in_yaml)}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from checkpointing import StoreUnavailable, open_stores
    from checkpointing.registry import AgentRegistry
    from graphs import registry
    from graphs.loader import load_spec

    path = _config_path(args.config)
    if not _report_issues(path):
        return 1
    loaded = load_spec(path)
    settings = _settings(config_path=path)

    async def run() -> dict:
        async with open_stores(settings) as stores:
            store = AgentRegistry(stores.db)
            await registry.seed(store, loaded)  # a fresh database exports the YAML itself
            return {a: v.config for a, v in (await store.current()).items()}

    try:
        configs = asyncio.run(run())
    except StoreUnavailable as exc:
        print(f"esquadra export: {exc}", file=sys.stderr)
        return 1
    text, prompts = registry.export_squad(loaded, configs)
    if args.out is None:
        sys.stdout.write(text)
        return 0
    out = Path(args.out)
    out.write_text(text, encoding="utf-8")
    for relative, prompt in prompts.items():
        target = out.parent / relative
        if not target.is_file() or target.read_text(encoding="utf-8") != prompt:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(prompt, encoding="utf-8")
            print(f"wrote {target}", file=sys.stderr)
    print(f"wrote {out}", file=sys.stderr)
    return 0


def _graph(args: argparse.Namespace) -> int:
    from graphs.compiler import build_squad
    from graphs.loader import load_spec

    path = _config_path(args.config)
    if not _report_issues(path):
        return 1
    squad = build_squad(load_spec(path), {}, offline=True, cache_dir=_settings().embeddings_cache)
    print(squad.builder.compile().get_graph().draw_mermaid())
    return 0


def _eval_routing(args: argparse.Namespace) -> int:
    import json

    from graphs.compiler import build_squad_for
    from graphs.loader import load_spec
    from graphs.routing import build_router, read_routing_data
    from graphs.routing_eval import evaluate, format_report
    from nodes.routing import Router

    path = _config_path(args.config)
    if not _report_issues(path):
        return 1
    try:
        rows = read_routing_data(Path(args.file))
    except (OSError, ValueError) as exc:
        print(f"esquadra eval-routing: {exc}", file=sys.stderr)
        return 1
    loaded = load_spec(path)
    settings = _settings(config_path=path)
    if args.no_llm:
        router = build_router(loaded, cache_dir=settings.embeddings_cache, include_llm=False)
        report = asyncio.run(evaluate(router, rows))
    else:
        squad = build_squad_for(loaded, settings)
        router = squad.router
        if args.llm_only:
            router = Router(
                [layer for layer in router.layers if layer.name == "llm"],
                router.agents,
                router.fallback,
                router.active,
            )
            if not router.layers:
                print(
                    "esquadra eval-routing: --llm-only needs a model (set OPENAI_API_KEY)",
                    file=sys.stderr,
                )
                return 1

        async def run() -> dict:
            try:
                return await evaluate(router, rows)
            finally:
                await squad.aclose()

        report = asyncio.run(run())
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(format_report(report))
    return 0


def _fit_routing(args: argparse.Namespace) -> int:
    from core.embeddings import set_default_threads
    from graphs.loader import load_spec
    from graphs.routing_fit import fit_routing, write_fitted

    path = _config_path(args.config)
    if not _report_issues(path):
        return 1
    loaded = load_spec(path)
    settings = _settings()
    # A batch job with the machine to itself: two OpenMP threads halve the embedding time.
    set_default_threads(settings.embed_threads or min(2, os.cpu_count() or 1))
    try:
        fitted = fit_routing(loaded, settings.embeddings_cache)
        written = write_fitted(loaded, fitted)
    except ValueError as exc:
        print(f"esquadra fit-routing: {exc}", file=sys.stderr)
        return 1
    head = fitted["head"]
    print(
        f"fitted on {head['examples']} examples (cross-validated head accuracy "
        f"{head['cv_accuracy']:.1%}); thresholds {fitted['semantic']['thresholds']}; "
        f"follow-up model on {fitted['followup']['examples']} conversations → {written}"
    )
    return 0


def _worker(args: argparse.Namespace) -> int:
    from checkpointing import StoreUnavailable, open_stores
    from checkpointing.memory_pipeline import run_worker

    settings = _settings(memory_reclaim_s=args.reclaim_after)
    if settings.redis_url is None:
        print(
            "esquadra worker: REDIS_URL is not set; without Redis the server learns facts "
            "in-process (no worker needed)",
            file=sys.stderr,
        )
        return 2
    _json_logging(args.log_level)

    async def run() -> int:
        async with open_stores(settings) as stores:
            return await run_worker(stores)

    try:
        return asyncio.run(run())
    except StoreUnavailable as exc:
        print(f"esquadra worker: {exc}", file=sys.stderr)
        return 1


def _chat(args: argparse.Namespace) -> int:
    path = _config_path(args.config)
    if not _report_issues(path):
        return 1
    from server.terminal import run_terminal_chat

    settings = _settings(config_path=path)
    import logging

    # New routing examples are embedded before the first prompt (half a minute for a thousand):
    # show that progress, and only that, on stderr.
    progress = logging.StreamHandler(sys.stderr)
    progress.setFormatter(logging.Formatter("%(message)s"))
    embeddings_log = logging.getLogger("esquadra.embeddings")
    embeddings_log.addHandler(progress)
    embeddings_log.setLevel(logging.INFO)
    return asyncio.run(run_terminal_chat(settings, thread_id=args.thread, user_id=args.user))


if __name__ == "__main__":
    sys.exit(main())
