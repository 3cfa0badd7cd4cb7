"""The Slack commands of `faqbot` (serve, worker), added to rag_core's parser by the `faqbot` entry point."""

from __future__ import annotations

from .report_cli import add_command as add_report_command


def cmd_serve(args) -> int:
    from .serve import serve

    return serve(http=args.http, port=args.port, worker=True if args.worker else None)


def cmd_worker(args) -> int:
    from .serve import work

    return work(port=args.port)


def add_commands(sub) -> None:
    s = sub.add_parser("serve", help="acknowledge Slack events (Socket Mode if SLACK_APP_TOKEN is set); "
                                     "on one machine it also answers them")
    s.add_argument("--http", action="store_true", help="force HTTP mode")
    s.add_argument("--port", type=int)
    s.add_argument("--worker", action="store_true",
                   help="with FAQBOT_STATE_URL: also start a worker (without it, serve only acknowledges)")
    s.set_defaults(func=cmd_serve)
    w = sub.add_parser("worker", help="answer the questions serve replicas accepted (needs the shared "
                                      "FAQBOT_STATE_URL to run beside them; /healthz and /metrics on PORT)")
    w.add_argument("--port", type=int)
    w.set_defaults(func=cmd_worker)
    add_report_command(sub)
