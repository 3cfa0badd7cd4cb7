"""`faqbot`: the RAG commands of rag_core and the Slack commands of bot, in one CLI.

    python -m faqbot --help
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from bot.cli import add_commands
    from rag_core.cli import build_parser, main as run, subcommands

    parser = build_parser()
    add_commands(subcommands(parser))
    return run(argv, parser)


if __name__ == "__main__":
    sys.exit(main())
