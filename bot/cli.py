"""The Slack commands of `faqbot` (serve), added to rag_core's parser by the `faqbot` entry point."""

from __future__ import annotations

from .report_cli import add_command as add_report_command


def cmd_serve(args) -> int:
    from .serve import serve

    return serve(http=args.http, port=args.port)


def add_commands(sub) -> None:
    s = sub.add_parser("serve", help="run the Slack bot (Socket Mode if SLACK_APP_TOKEN is set)")
    s.add_argument("--http", action="store_true", help="force HTTP mode")
    s.add_argument("--port", type=int)
    s.set_defaults(func=cmd_serve)
    add_report_command(sub)
