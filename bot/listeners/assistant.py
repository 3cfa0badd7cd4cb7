"""The assistant pane (Bolt's Assistant): suggested prompts, status while working, answers."""

from slack_bolt import Assistant
from slack_bolt.request.payload_utils import is_assistant_event, is_other_message_sub_event_in_assistant_thread

from ..reply import clean_question

SUGGESTED = [
    {"title": "Where is data stored?", "message": "Where does Milvus store data?"},
    {"title": "Windows install", "message": "Can I install Milvus on Windows?"},
    {"title": "Fewer results than limit", "message": "Why do I get fewer results than the limit I set?"},
]


class _Assistant(Assistant):
    """Bolt's Assistant runs each of its listeners' matchers (with kwargs injection) on every
    request; most requests are mentions and commands, so look at the event type first."""

    def process(self, *, req, resp, next):
        body = req.body
        if is_assistant_event(body) or is_other_message_sub_event_in_assistant_thread(body):
            return super().process(req=req, resp=resp, next=next)
        return next()


def register(app, bot) -> None:
    assistant = _Assistant()

    @assistant.thread_started
    def started(say, set_suggested_prompts):
        say("Hi! Ask me anything about Milvus — I answer from the official docs and link my sources.")
        set_suggested_prompts(prompts=SUGGESTED, title="Try asking:")

    @assistant.user_message
    def user_message(payload, body):
        channel, ts = payload["channel"], payload["ts"]
        keys = [f"ev:{body.get('event_id') or ts}", f"msg:{channel}:{ts}"]
        question = clean_question(payload.get("text", ""), bot.bot_user_id)
        thread_ts = payload.get("thread_ts") or ts
        if not question:
            bot.usage_once(keys, channel=channel, thread_ts=thread_ts)
            return
        bot.intake.submit(keys, kind="assistant", channel=channel, user=payload.get("user", ""),
                          question=question, ts=ts, thread_ts=thread_ts, team=payload.get("team"))

    app.assistant(assistant)
