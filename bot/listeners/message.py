"""Plain messages: DMs are always answered; support channels get confident auto-answers."""

import re

from ..reply import clean_question

_QUESTION = re.compile(
    r"\?\s*$|^(how|what|why|when|where|which|who|can|could|does|do|did|is|are|should|would|will|"
    r"any|anyone|has|have|help|is there|error|issue)\b", re.I)


def looks_like_question(text: str) -> bool:
    text = text.strip()
    return len(text.split()) >= 3 and bool(_QUESTION.search(text))


def register(app, bot) -> None:
    @app.event("message")
    def on_message(body, event):
        if event.get("subtype") not in (None, "file_share") or event.get("bot_id") or event.get("edited"):
            return  # edits, joins, deletions, bot posts
        user = event.get("user", "")
        if not user or user == bot.bot_user_id:
            return
        channel, ts, text = event.get("channel", ""), event.get("ts", ""), event.get("text", "")
        keys = [f"ev:{body.get('event_id') or ts}", f"msg:{channel}:{ts}"]
        if event.get("channel_type") == "im":
            question = clean_question(text, bot.bot_user_id)
            thread_ts = event.get("thread_ts") or ts
            if not question:
                bot.usage_once(keys, channel=channel, thread_ts=thread_ts)
                return
            bot.intake.submit(keys, kind="dm", channel=channel, user=user, question=question, ts=ts,
                              thread_ts=thread_ts, team=event.get("team"))
            return
        if bot.bot_user_id and f"<@{bot.bot_user_id}" in text:
            return  # the app_mention event answers it
        if channel in bot.settings.support_channel_ids and not event.get("thread_ts") \
                and looks_like_question(clean_question(text)):
            bot.intake.submit(keys, kind="support", channel=channel, user=user, question=clean_question(text),
                              ts=ts, thread_ts=ts, team=event.get("team"))
