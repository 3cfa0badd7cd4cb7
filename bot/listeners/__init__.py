"""One module per kind of Slack listener; each is thin: validate, then hand a job to the intake."""

from . import actions, assistant, command, mention, message


def register_all(app, bot) -> None:
    for module in (mention, command, message, assistant, actions):
        module.register(app, bot)
