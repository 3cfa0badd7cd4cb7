"""👍 / 👎 feedback and "Still need help" (tags FAQBOT_ESCALATION in the thread)."""

import re


def register(app, bot) -> None:
    @app.action(re.compile(r"^feedback_(up|down)$"))
    def on_feedback(ack, body, action):
        ack()
        value = "up" if action["action_id"] == "feedback_up" else "down"
        user = body["user"]["id"]
        bot.store.add_feedback(action.get("value", ""), user, value)
        bot.later(bot.ephemeral, body, "Thanks for the feedback!" if value == "up"
                  else "Thanks — noted. Use *Still need help* if you need a human.")

    @app.action("escalate")
    def on_escalate(ack, body, action):
        ack()
        if not bot.store.remember(f"esc:{action.get('value')}:{body['user']['id']}"):
            return  # double click
        bot.later(bot.escalate, body)
