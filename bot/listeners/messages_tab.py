"""The Messages tab (Slack's agent messaging): greet each person once, offer suggested prompts.
Questions typed there arrive as DMs (message.im) and are answered by listeners/message.py."""

import logging

from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

GREETING = ("Hi! Ask me anything about Milvus — I answer from the official docs, name the docs version, "
            "and link my sources. You can also mention me in a channel or use /milvus.")
PROMPTS = [
    {"title": "Where is data stored?", "message": "Where does Milvus store data?"},
    {"title": "Milvus on ARM", "message": "Can Milvus run on ARM?"},
    {"title": "Full-text search", "message": "How do I use full-text search with BM25 in Milvus?"},
    {"title": "Fewer results than limit", "message": "Why do I get fewer results than the limit I set?"},
]


def register(app, bot) -> None:
    @app.event("app_home_opened", matchers=[lambda event: event.get("tab") == "messages"])
    def on_messages_opened(event):
        user, channel = event.get("user"), event.get("channel")
        if user and channel:
            bot.later(welcome, bot, user, channel)


def welcome(bot, user: str, channel: str) -> None:
    """Off the ack path: prompts on every open, the greeting the first time (a store write)."""
    first_time = bot.store.remember(f"greet:{user}")
    try:
        bot.client.assistant_threads_setSuggestedPrompts(channel_id=channel, title="Try asking:", prompts=PROMPTS)
    except SlackApiError as exc:  # the manifest's static prompts still show
        log.info("suggested prompts for %s not set: %s", user, exc.response.get("error"))
    if first_time:
        bot.client.chat_postMessage(channel=channel, text=GREETING)
