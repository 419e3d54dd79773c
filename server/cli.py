"""The `esquadra` command: serve, chat, check, graph."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

DEFAULT_CONFIG = "agents.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
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
    serve.set_defaults(run=_serve)

    chat = commands.add_parser("chat", help="talk to the squad in this terminal")
    chat.add_argument("--config")
    chat.add_argument("--thread", help="continue this thread id")
    chat.add_argument("--user", help="user id")
    chat.set_defaults(run=_chat)

    check = commands.add_parser("check", help="validate a squad YAML file")
    check.add_argument("file", nargs="?")
    check.set_defaults(run=_check)

    graph = commands.add_parser("graph", help="print the compiled squad graph as mermaid")
    graph.add_argument("--config")
    graph.set_defaults(run=_graph)
    return parser


def _config_path(explicit: str | None) -> Path:
    return Path(explicit or os.environ.get("ESQUADRA_CONFIG") or DEFAULT_CONFIG)


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

    spec = load_spec(path).spec
    active = [a.id for a in spec.active_agents()]
    inactive = [a.id for a in spec.agents if not a.active]
    print(
        f"{path}: ok — {len(active)} active agent(s): {', '.join(active)}"
        + (f"; inactive: {', '.join(inactive)}" if inactive else "")
        + f"; fallback: {spec.defaults.fallback_agent}"
    )
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    path = _config_path(args.config)
    if not _report_issues(path):
        return 1
    # Workers are separate processes: they read the config path from the environment.
    os.environ["ESQUADRA_CONFIG"] = str(path.resolve())
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        "server.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
    )
    return 0


def _graph(args: argparse.Namespace) -> int:
    from graphs.compiler import build_squad
    from graphs.loader import load_spec

    path = _config_path(args.config)
    if not _report_issues(path):
        return 1
    squad = build_squad(load_spec(path), {}, offline=True)
    print(squad.builder.compile().get_graph().draw_mermaid())
    return 0


def _chat(args: argparse.Namespace) -> int:
    path = _config_path(args.config)
    if not _report_issues(path):
        return 1
    from server.terminal import run_terminal_chat

    return asyncio.run(run_terminal_chat(path, thread_id=args.thread, user_id=args.user))


if __name__ == "__main__":
    sys.exit(main())
