"""👍 / 👎 feedback (Slack's feedback_buttons; the older feedback_up/down buttons still count) and
"Still need help" (tags FAQBOT_ESCALATION in the thread)."""

import re

from ..blocks import FEEDBACK_ACTION, feedback_value


def register(app, bot) -> None:
    @app.action(re.compile(rf"^(feedback_(up|down)|{FEEDBACK_ACTION})$"))
    def on_feedback(ack, body, action):
        ack()
        if action["action_id"] == FEEDBACK_ACTION:
            vote = feedback_value(action.get("value", ""))
            if vote is None:
                return  # not one of our values
            value, answer_id = vote
        else:  # answers posted before the native buttons
            value, answer_id = ("up" if action["action_id"] == "feedback_up" else "down"), action.get("value", "")
        bot.store.add_feedback(answer_id, body["user"]["id"], value)  # one vote per user: a new click changes it
        bot.later(bot.ephemeral, body, "Thanks for the feedback!" if value == "up"
                  else "Thanks — noted. Use *Still need help* if you need a human.")

    @app.action("escalate")
    def on_escalate(ack, body, action):
        ack()
        if not bot.store.remember(f"esc:{action.get('value')}:{body['user']['id']}"):
            return  # double click
        bot.later(bot.escalate, body)
