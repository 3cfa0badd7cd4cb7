"""One module per kind of Slack listener; each is thin: validate, then hand a job to the intake."""

from . import actions, command, home, mention, message, messages_tab


def register_all(app, bot) -> None:
    for module in (mention, command, message, home, messages_tab, actions):
        module.register(app, bot)
