"""@bot question -> an answer in the thread of that message."""

from ..reply import clean_question


def register(app, bot) -> None:
    @app.event("app_mention")
    def on_mention(body, event):
        if event.get("bot_id") or event.get("subtype") or event.get("edited"):
            return
        channel, ts = event["channel"], event["ts"]
        thread_ts = event.get("thread_ts") or ts
        keys = [f"ev:{body.get('event_id') or ts}", f"msg:{channel}:{ts}"]
        question = clean_question(event.get("text", ""), bot.bot_user_id)
        if not question:
            bot.usage_once(keys, channel=channel, thread_ts=thread_ts)
            return
        bot.intake.submit(keys, kind="mention", channel=channel, user=event.get("user", ""), question=question,
                          ts=ts, thread_ts=thread_ts, team=event.get("team"))
