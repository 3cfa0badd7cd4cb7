"""`make run`: ingest the docs if the collection is empty, then serve Slack — or,
without Slack credentials, explain what is missing and open `faqbot chat`."""

from __future__ import annotations

import sys

from faqbot import main as faqbot


def missing_slack_vars(settings) -> list[str]:
    missing = []
    if not settings.slack_bot_token:
        missing.append("SLACK_BOT_TOKEN")
    if not settings.slack_app_token and not settings.slack_signing_secret:
        missing.append("SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode)")
    return missing


def main() -> int:
    from dotenv import load_dotenv

    from rag_core.config import ConfigError, load
    from rag_core.errors import EXPECTED, describe
    from rag_core.pipeline import Pipeline

    from .settings import load_bot_settings

    load_dotenv(".env", override=False)
    try:
        settings = load_bot_settings()
        pipe = Pipeline(load())
        if pipe.store.count() == 0:
            print("The docs collection is empty: ingesting the docs first…", file=sys.stderr)
            print(pipe.ingest(progress=sys.stderr.isatty()).summary())
        pipe.store.close()
    except (ConfigError, *EXPECTED) as exc:
        print(f"error: {describe(exc)}", file=sys.stderr)
        return 1
    missing = missing_slack_vars(settings)
    if not missing:
        return faqbot(["serve"])
    message = ("Slack is not configured: set " + " and ".join(missing) +
               " (see README: 'Create the Slack app').")
    if sys.stdin.isatty():
        print(message + "\nMeanwhile, here is the same pipeline in your terminal:", file=sys.stderr)
        return faqbot(["chat"])
    print(f"error: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
