"""App Home, tab "home": publish the view (how to ask, indexed docs; numbers for FAQBOT_ADMINS) off the ack path."""

import logging

from slack_sdk.errors import SlackApiError

from ..home import home_for

log = logging.getLogger(__name__)


def register(app, bot) -> None:
    @app.event("app_home_opened", matchers=[lambda event: event.get("tab") == "home"])
    def on_home_opened(event):
        if event.get("user"):
            bot.later(publish, bot, event["user"])


def publish(bot, user: str) -> None:
    view = home_for(bot.store, user, bot.settings.admin_ids, bot_user_id=bot.bot_user_id)
    try:
        bot.client.views_publish(user_id=user, view=view)
    except SlackApiError as exc:
        log.warning("could not publish the App Home of %s: %s", user, exc.response.get("error"))
