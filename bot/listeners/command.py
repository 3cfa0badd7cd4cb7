"""/milvus question -> ack at once; question and threaded answer in the channel."""

from .. import blocks
from ..reply import clean_question

HELP = {"", "help", "?", "-h", "--help"}


def register(app, bot) -> None:
    @app.command("/milvus")
    def on_command(ack, body, command):
        question = clean_question(command.get("text", ""))
        if question.lower() in HELP:
            ack(response_type="ephemeral", text="How to ask me about Milvus", blocks=blocks.usage_blocks())
            return
        ack(response_type="ephemeral", text=":mag: Looking that up in the Milvus docs…")
        bot.intake.submit([f"cmd:{command.get('trigger_id') or body.get('trigger_id')}"], kind="command",
                          channel=command["channel_id"], user=command["user_id"], question=question,
                          response_url=command.get("response_url"), team=command.get("team_id"))
