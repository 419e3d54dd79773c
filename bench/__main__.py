"""`python -m bench …`: the same as `esquadra bench …`."""

from __future__ import annotations

import argparse
import sys

from bench.cli import USAGE_EXAMPLE, configure_parser, run_bench


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Esquadra load benchmark. Examples:\n" + USAGE_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    configure_parser(parser)
    return run_bench(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
